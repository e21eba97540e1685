package dataplane

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"syscall"

	"github.com/gocalico/calico/internal/agent/calc"
	"github.com/gocalico/calico/internal/agent/config"
)

// Set implements Dataplane: it replaces the desired state and walks
// every endpoint, applying additions before deletions; it carries on
// past the failure of one object and records it (see Failures).
func (d *Linux) Set(ctx context.Context, hs *calc.HostState) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	cfg := hs.Config
	d.cfg = &cfg
	d.blackholes = slices.Clone(hs.Blackholes)
	clear(d.desired)
	clear(d.onIface)
	for i := range hs.Endpoints {
		e := hs.Endpoints[i]
		d.setDesired(e.Key, &e)
	}
	d.needFull = true
	return d.sync(ctx, nil)
}

// Update implements Dataplane.
func (d *Linux) Update(ctx context.Context, changes []calc.EndpointChange) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d.cfg == nil {
		return errors.New("dataplane update before the first Set")
	}
	keys := make(map[string]bool, len(changes))
	for _, ch := range changes {
		d.setDesired(ch.Key, ch.Endpoint)
		keys[ch.Key] = true
	}
	return d.sync(ctx, keys)
}

// setDesired replaces (e nil: removes) one endpoint's desired state.
func (d *Linux) setDesired(key string, e *calc.Endpoint) {
	if old, ok := d.desired[key]; ok {
		if m := d.onIface[old.InterfaceName]; m != nil {
			delete(m, key)
			if len(m) == 0 {
				delete(d.onIface, old.InterfaceName)
			}
		}
		delete(d.desired, key)
	}
	if e == nil {
		return
	}
	d.desired[key] = e
	if d.onIface[e.InterfaceName] == nil {
		d.onIface[e.InterfaceName] = map[string]bool{}
	}
	d.onIface[e.InterfaceName][key] = true
}

// sync follows the link events, then applies either everything or the
// endpoints in keys, those on interfaces the events touched and the
// failed objects whose retry is due.
func (d *Linux) sync(ctx context.Context, keys map[string]bool) error {
	return d.syncOnce(ctx, keys, false)
}

func (d *Linux) syncOnce(ctx context.Context, keys map[string]bool, retried bool) error {
	cfg := d.cfg
	if keys == nil {
		keys = map[string]bool{}
	}
	evs := d.takeEvents()
	for _, ev := range evs {
		if ev.Lost {
			d.fullSync = true
		}
	}
	if d.fullSync || d.links == nil {
		// A listing supersedes the events taken before it.
		if err := d.refreshLinks(); err != nil {
			d.fullSync = true
			return err
		}
	} else {
		for _, ev := range evs {
			d.linkEvent(ev, func(name string) {
				for k := range d.onIface[name] {
					keys[k] = true
				}
			})
		}
	}
	if d.fullSync {
		if err := d.readKernel(cfg); err != nil {
			return err
		}
		d.fullSync, d.needFull = false, true
		d.metrics.incResync()
	}

	a := applier{d: d, cfg: cfg, out: map[objKey]outcome{}}
	var err error
	if d.needFull {
		err = a.applyAll(ctx)
	} else {
		err = a.applySome(ctx, keys, d.due())
	}
	if err != nil {
		// Cut short: what was applied is in the record; the next apply
		// walks everything.
		d.needFull = true
		return err
	}
	if !retried && a.failedWith(syscall.ENODEV) {
		// The link table named an interface index that is gone: link
		// events describing it are still on their way. List the
		// interfaces and the kernel's state again and apply once more
		// now, rather than reporting an error for a stale view.
		d.fullSync = true
		return d.syncOnce(ctx, keys, true)
	}
	if err := brokenAccessError(a.out); err != nil {
		// Not the object's fault: nothing can be programmed. Read
		// everything again next time.
		d.fullSync = true
		return err
	}
	// A failed object leaves the record as it was (it changes only on
	// success), so its retry needs no re-reading of the kernel.
	d.settle(a.out, d.needFull)
	d.needFull = false
	return nil
}

// appliedEndpoint is what one endpoint wanted at its last apply.
type appliedEndpoint struct {
	iface  string // "" when it claimed no interface
	routes []routeKey
	neighs []neighKey
}

// applier carries one apply's work.
type applier struct {
	d   *Linux
	cfg *config.Config
	// out is the outcome of every object attempted.
	out        map[objKey]outcome
	wantRoutes map[routeKey]bool
	wantNeighs map[neighKey]bool
}

// failedWith reports whether an object failed with target.
func (a *applier) failedWith(target error) bool {
	for _, o := range a.out {
		if errors.Is(o.err, target) {
			return true
		}
	}
	return false
}

// hostSysctls sets the namespace-wide sysctls (only path when not "").
func (a *applier) hostSysctls(path string) {
	for _, s := range hostSysctls(a.cfg) {
		if path == "" || s.path == path {
			a.out[objKey{KindSysctl, s.path}] = outcome{err: a.sysctl(sysctlKey{0, s.path}, s.value)}
		}
	}
}

// applyAll walks every desired endpoint and prunes everything of the
// agent's that none of them wants. It fails only when ctx ends.
func (a *applier) applyAll(ctx context.Context) error {
	d := a.d
	a.wantRoutes = map[routeKey]bool{}
	a.wantNeighs = map[neighKey]bool{}
	clear(d.epErrs)
	clear(d.applied)
	clear(d.dstOwner)
	clear(d.ifaceOwner)

	a.hostSysctls("")
	keys := slices.Sorted(maps.Keys(d.desired))
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			return err
		}
		a.apply(k, d.desired[k])
	}
	a.blackholes()
	a.prune()
	d.rec.proto = a.cfg.RouteProtocol
	d.resetStatuses(keys)
	return nil
}

// applySome applies the endpoints in keys (present or gone), prunes
// what they wanted before and no longer want, and retries the failed
// objects in due. It fails only when ctx ends.
func (a *applier) applySome(ctx context.Context, keys map[string]bool, due []*failure) error {
	d := a.d
	a.wantRoutes = map[routeKey]bool{}
	a.wantNeighs = map[neighKey]bool{}
	for _, f := range due {
		d.metrics.Retried(f.Kind)
		if f.Kind == KindEndpoint {
			keys[f.Name] = true
		}
	}
	sorted := slices.Sorted(maps.Keys(keys))
	// Release the old claims first, so that an address or interface
	// passed between two of these endpoints is not refused.
	old := make([]appliedEndpoint, len(sorted))
	for i, k := range sorted {
		old[i] = d.applied[k]
		d.release(k, old[i])
		delete(d.applied, k)
		delete(d.epErrs, k)
	}
	for _, k := range sorted {
		if err := ctx.Err(); err != nil {
			return err
		}
		if e, ok := d.desired[k]; ok {
			a.apply(k, e)
		} else {
			a.out[objKey{KindEndpoint, k}] = outcome{} // gone: nothing to retry
		}
	}
	var routes []route
	var neighs []neigh
	for _, o := range old {
		for _, rk := range o.routes {
			if r, ok := d.rec.routes[rk]; ok && !a.wantRoutes[rk] {
				routes = append(routes, r)
			}
		}
		for _, nk := range o.neighs {
			if n, ok := d.rec.neighs[nk]; ok && !a.wantNeighs[nk] {
				neighs = append(neighs, n)
			}
		}
	}
	a.delete(routes, neighs)
	a.retry(due)
	d.updateStatuses(sorted)
	return nil
}

// retry attempts the failed objects in due that are not endpoints (those
// are applied with the others).
func (a *applier) retry(due []*failure) {
	d := a.d
	blackholes := false
	for _, f := range due {
		k := objKey{f.Kind, f.Name}
		switch f.Kind {
		case KindSysctl:
			a.out[k] = outcome{} // no longer wanted, unless set below
			a.hostSysctls(f.Name)
		case KindBlackhole:
			blackholes = true
		case KindRoute:
			a.out[k] = outcome{}
			if r, ok := d.rec.routes[f.route.key()]; ok && !d.routeWanted(r.key()) {
				a.delete([]route{r}, nil)
			}
		case KindNeighbour:
			a.out[k] = outcome{}
			if n, ok := d.rec.neighs[f.neigh.key()]; ok && !d.neighWanted(n.key()) {
				a.delete(nil, []neigh{n})
			}
		}
	}
	if blackholes {
		a.blackholes()
	}
}

// routeWanted reports whether an endpoint's last apply or a local block
// wants the route k.
func (d *Linux) routeWanted(k routeKey) bool {
	if owner, ok := d.dstOwner[k.Dst]; ok {
		return slices.Contains(d.applied[owner].routes, k)
	}
	return k.Index == 0 && slices.Contains(d.blackholes, k.Dst)
}

// neighWanted reports whether an endpoint's last apply wants the
// neighbour entry k.
func (d *Linux) neighWanted(k neighKey) bool {
	owner, ok := d.dstOwner[netip.PrefixFrom(k.IP, k.IP.BitLen())]
	return ok && slices.Contains(d.applied[owner].neighs, k)
}

// release drops the claims an endpoint made at its last apply.
func (d *Linux) release(key string, o appliedEndpoint) {
	if o.iface != "" && d.ifaceOwner[o.iface] == key {
		delete(d.ifaceOwner, o.iface)
	}
	for _, rk := range o.routes {
		if d.dstOwner[rk.Dst] == key {
			delete(d.dstOwner, rk.Dst)
		}
	}
}

// apply programs one desired endpoint if its interface exists, and
// records what it wanted and the outcome.
func (a *applier) apply(key string, e *calc.Endpoint) {
	d := a.d
	a.out[objKey{KindEndpoint, key}] = outcome{}
	l, ok := d.links[e.InterfaceName]
	if !e.Program || !ok {
		return
	}
	if !a.cfg.MatchesInterface(e.InterfaceName) {
		// calc never does this; the interface is not ours.
		d.epErrs[key] = fmt.Errorf("interface %s does not match the interface prefixes; not programmed", e.InterfaceName)
		return
	}
	if other, dup := d.ifaceOwner[e.InterfaceName]; dup && other != key {
		// calc never does this; refuse rather than mix endpoints.
		d.epErrs[key] = fmt.Errorf("interface %s is already used by endpoint %s", e.InterfaceName, other)
		return
	}
	d.ifaceOwner[e.InterfaceName] = key
	ae := appliedEndpoint{iface: e.InterfaceName}
	err := a.endpoint(key, e, l, &ae)
	d.applied[key] = ae
	if err != nil {
		d.epErrs[key] = err
		a.out[objKey{KindEndpoint, key}] = outcome{err: err}
	}
}

// endpoint programs one endpoint whose interface exists.
func (a *applier) endpoint(key string, e *calc.Endpoint, l link, ae *appliedEndpoint) error {
	d := a.d
	if !l.AdminUp {
		d.metrics.op("link_up")
		if err := d.k.setLinkUp(l); err != nil {
			d.metrics.failed("link_up")
			// Routes cannot go on a down interface; nothing more to do.
			return fmt.Errorf("set %s up: %w", l.Name, err)
		}
		d.log.Info("interface set up", "interface", l.Name, "endpoint", e.Key)
		l.AdminUp = true
		d.links[l.Name] = l
	}
	var errs []error
	for _, s := range interfaceSysctls(a.cfg, l.Name, e.SpoofsIPv4) {
		if err := a.sysctl(sysctlKey{l.Index, s.path}, s.value); err != nil {
			errs = append(errs, err)
		}
	}
	for _, dst := range e.Addrs {
		scope := scopeLink
		if dst.Addr().Is6() {
			scope = scopeUniverse
		}
		r := route{Dst: dst, Index: l.Index, Proto: a.cfg.RouteProtocol, Scope: scope}
		if other, ok := d.dstOwner[dst]; ok && other != key {
			// calc never does this; refuse to steal the route.
			errs = append(errs, fmt.Errorf("route %s: already wanted for endpoint %s", dst, other))
			continue
		}
		d.dstOwner[dst] = key
		a.wantRoutes[r.key()] = true
		ae.routes = append(ae.routes, r.key())
		if err := a.route(r, "dev "+l.Name); err != nil {
			errs = append(errs, err)
		}
		if e.MAC == "" {
			continue
		}
		n := neigh{IP: dst.Addr(), Index: l.Index, MAC: e.MAC, Permanent: true}
		a.wantNeighs[n.key()] = true
		ae.neighs = append(ae.neighs, n.key())
		if err := a.neigh(n, l.Name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (a *applier) sysctl(k sysctlKey, value string) error {
	d := a.d
	if cur, ok := d.rec.sysctls[k]; ok && cur == value {
		return nil
	}
	d.metrics.op("sysctl_write")
	if err := d.k.writeSysctl(k.Path, value); err != nil {
		d.metrics.failed("sysctl_write")
		return fmt.Errorf("sysctl %s=%s: %w", k.Path, value, err)
	}
	d.rec.sysctls[k] = value
	return nil
}

// blackholes programs a blackhole route for each local IPAM block, after
// the endpoints (an endpoint's route to the same destination, from a
// single-address block, wins). The workload routes inside a block are
// more specific, so they are unaffected.
func (a *applier) blackholes() {
	d := a.d
	for _, dst := range d.blackholes {
		k := objKey{KindBlackhole, dst.String()}
		a.out[k] = outcome{}
		if _, taken := d.dstOwner[dst]; taken {
			continue
		}
		r := route{Dst: dst, Proto: a.cfg.RouteProtocol, Scope: scopeUniverse, Blackhole: true}
		a.wantRoutes[r.key()] = true
		a.out[k] = outcome{err: a.route(r, "blackhole")}
	}
}

// route adds r, or replaces the agent's own route to the same
// destination. A route to the destination that the agent does not own is
// never replaced. via says where r goes, for messages ("dev cali1",
// "blackhole").
func (a *applier) route(r route, via string) error {
	d := a.d
	if cur, ok := d.rec.routes[r.key()]; ok && cur == r {
		return nil
	}
	old, ours := d.rec.routeTo(r.key())
	op, do := "route_add", d.k.addRoute
	if ours {
		op, do = "route_replace", d.k.replaceRoute
	}
	d.metrics.op(op)
	err := do(r)
	if errors.Is(err, errRouteExists) {
		// The record does not know the route in the way. It is taken
		// over when it is the agent's own (the record is behind the
		// kernel: an interface event that arrived late) or goes out
		// through r's own interface (a CNI plugin added it so that the
		// container is reachable at once). Only the routes to r.Dst are
		// looked at: a failure costs no re-reading of the kernel.
		var inWay []route
		if inWay, err = a.takeover(r); err == nil {
			op, ours = "route_replace", true
			d.metrics.op(op)
			if err = d.k.replaceRoute(r); err == nil {
				for _, x := range inWay {
					delete(d.rec.routes, x.key())
				}
			}
		}
	}
	if err != nil {
		d.metrics.failed(op)
		if errors.Is(err, errRouteExists) {
			return fmt.Errorf("route %s %s: another route to %s exists that the agent does not own; not replacing it", r.Dst, via, r.Dst)
		}
		return fmt.Errorf("route %s %s: %w", r.Dst, via, err)
	}
	if ours && old.key() != r.key() {
		delete(d.rec.routes, old.key()) // replaced in place
	}
	d.rec.routes[r.key()] = r
	d.log.Debug("route programmed", "dst", r.Dst, "via", via, "op", op)
	return nil
}

// takeover returns the routes in the way of r if the agent may replace
// them all, and errRouteExists if not.
func (a *applier) takeover(r route) ([]route, error) {
	rs, err := a.d.k.routesTo(r.Dst)
	if err != nil {
		return nil, fmt.Errorf("list the routes to %s: %w", r.Dst, err)
	}
	for _, x := range rs {
		if !a.mayReplace(r, x) {
			return nil, errRouteExists
		}
	}
	return rs, nil
}

// mayReplace reports whether x, a route in the way of r, is the agent's
// own (its protocol, or the one it used before, on a managed interface
// or a blackhole) or a route to the endpoint through r's own interface,
// which the agent takes over as it owns its workload interfaces.
func (a *applier) mayReplace(r, x route) bool {
	d := a.d
	if x.Proto == a.cfg.RouteProtocol || x.Proto == d.rec.proto && x.Proto != 0 {
		if x.Blackhole {
			return true
		}
		if name, ok := d.linkName[x.Index]; ok && a.cfg.MatchesInterface(name) {
			return true
		}
	}
	return !r.Blackhole && !x.Blackhole && x.Index == r.Index
}

func (a *applier) neigh(n neigh, ifName string) error {
	d := a.d
	if cur, ok := d.rec.neighs[n.key()]; ok && cur == n {
		return nil
	}
	d.metrics.op("neigh_set")
	if err := d.k.setNeigh(n); err != nil {
		d.metrics.failed("neigh_set")
		return fmt.Errorf("neighbour %s lladdr %s dev %s: %w", n.IP, n.MAC, ifName, err)
	}
	d.rec.neighs[n.key()] = n
	return nil
}

// prune deletes what the record holds but nobody wants.
func (a *applier) prune() {
	d := a.d
	var routes []route
	for k, r := range d.rec.routes {
		if !a.wantRoutes[k] {
			routes = append(routes, r)
		}
	}
	var neighs []neigh
	for k, n := range d.rec.neighs {
		if !a.wantNeighs[k] {
			neighs = append(neighs, n)
		}
	}
	a.delete(routes, neighs)
}

// delete deletes routes and neighbours of the record, in a stable order,
// recording each outcome.
func (a *applier) delete(routes []route, neighs []neigh) {
	d := a.d
	slices.SortFunc(routes, func(x, y route) int {
		return cmp.Or(x.Dst.Addr().Compare(y.Dst.Addr()), cmp.Compare(x.Index, y.Index))
	})
	for _, r := range routes {
		k := objKey{KindRoute, d.routeName(r)}
		d.metrics.op("route_delete")
		if err := d.k.delRoute(r); err != nil {
			d.metrics.failed("route_delete")
			a.out[k] = outcome{err: fmt.Errorf("delete route %s: %w", k.name, err), route: &r}
			continue
		}
		a.out[k] = outcome{}
		delete(d.rec.routes, r.key())
		d.log.Info("route removed", "dst", r.Dst, "ifindex", r.Index)
	}
	slices.SortFunc(neighs, func(x, y neigh) int {
		return cmp.Or(x.IP.Compare(y.IP), cmp.Compare(x.Index, y.Index))
	})
	for _, n := range neighs {
		k := objKey{KindNeighbour, fmt.Sprintf("%s dev %s", n.IP, d.ifName(n.Index))}
		d.metrics.op("neigh_delete")
		if err := d.k.delNeigh(n); err != nil {
			d.metrics.failed("neigh_delete")
			a.out[k] = outcome{err: fmt.Errorf("delete neighbour %s: %w", k.name, err), neigh: &n}
			continue
		}
		a.out[k] = outcome{}
		delete(d.rec.neighs, n.key())
	}
}

// routeName names a route for a Failure: "10.0.0.1/32 dev cali1",
// "blackhole 10.65.0.0/26".
func (d *Linux) routeName(r route) string {
	if r.Blackhole {
		return "blackhole " + r.Dst.String()
	}
	return fmt.Sprintf("%s dev %s", r.Dst, d.ifName(r.Index))
}

// ifName is the name of the interface with index i, or "#i".
func (d *Linux) ifName(i int) string {
	if name, ok := d.linkName[i]; ok {
		return name
	}
	return fmt.Sprintf("#%d", i)
}
