package dataplane

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"syscall"

	"github.com/gocalico/calico/internal/agent/calc"
	"github.com/gocalico/calico/internal/agent/config"
)

// Set implements Dataplane: it replaces the desired state and walks
// every endpoint, applying additions before deletions; it carries on
// past failures and joins their errors. After a failure the next apply
// re-reads the kernel first.
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
// endpoints in keys and those on interfaces the events touched.
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

	a := applier{d: d, cfg: cfg}
	if d.needFull {
		a.applyAll(ctx)
	} else {
		a.applySome(ctx, keys)
	}
	if len(a.errs) > 0 && !retried && slices.ContainsFunc(a.errs, func(err error) bool { return errors.Is(err, syscall.ENODEV) }) {
		// The link table named an interface index that is gone: link
		// events describing it are still on their way. List the
		// interfaces and the kernel's state again and apply once more
		// now, rather than reporting an error for a stale view.
		d.fullSync = true
		return d.syncOnce(ctx, keys, true)
	}
	if len(a.errs) > 0 {
		// Whatever failed may have left the kernel in a state the
		// record does not describe: look again before retrying.
		d.fullSync = true
	} else {
		d.needFull = false
	}
	return errors.Join(a.errs...)
}

// appliedEndpoint is what one endpoint wanted at its last apply.
type appliedEndpoint struct {
	iface  string // "" when it claimed no interface
	routes []routeKey
	neighs []neighKey
}

// applier carries one apply's work.
type applier struct {
	d          *Linux
	cfg        *config.Config
	errs       []error
	wantRoutes map[routeKey]bool
	wantNeighs map[neighKey]bool
	// reloaded is set once the agent's routes were re-read in this apply.
	reloaded bool
}

// applyAll walks every desired endpoint and prunes everything of the
// agent's that none of them wants.
func (a *applier) applyAll(ctx context.Context) {
	d := a.d
	a.wantRoutes = map[routeKey]bool{}
	a.wantNeighs = map[neighKey]bool{}
	clear(d.epErrs)
	clear(d.applied)
	clear(d.dstOwner)
	clear(d.ifaceOwner)

	for _, s := range hostSysctls(a.cfg) {
		if err := a.sysctl(sysctlKey{0, s.path}, s.value); err != nil {
			a.errs = append(a.errs, err)
		}
	}
	keys := slices.Sorted(maps.Keys(d.desired))
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			a.errs = append(a.errs, err)
			return
		}
		a.apply(k, d.desired[k])
	}
	a.blackholes()
	a.prune()
	d.rec.proto = a.cfg.RouteProtocol
	d.resetStatuses(keys)
}

// applySome applies the endpoints in keys (present or gone) and prunes
// what they wanted before and no longer want.
func (a *applier) applySome(ctx context.Context, keys map[string]bool) {
	d := a.d
	a.wantRoutes = map[routeKey]bool{}
	a.wantNeighs = map[neighKey]bool{}
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
			a.errs = append(a.errs, err)
			return
		}
		if e, ok := d.desired[k]; ok {
			a.apply(k, e)
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
	d.updateStatuses(sorted)
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
// records what it wanted.
func (a *applier) apply(key string, e *calc.Endpoint) {
	d := a.d
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
		a.errs = append(a.errs, fmt.Errorf("endpoint %s: %w", key, err))
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
		if _, taken := d.dstOwner[dst]; taken {
			continue
		}
		r := route{Dst: dst, Proto: a.cfg.RouteProtocol, Scope: scopeUniverse, Blackhole: true}
		a.wantRoutes[r.key()] = true
		if err := a.route(r, "blackhole"); err != nil {
			a.errs = append(a.errs, err)
		}
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
	if errors.Is(err, errRouteExists) && !a.reloaded {
		// The record may be behind the kernel (an interface event
		// that arrived late): look at the agent's routes again, then
		// retry once if the route in the way turns out to be ours.
		a.reloaded = true
		if rerr := d.reloadRoutes(a.cfg); rerr != nil {
			d.metrics.failed(op)
			return fmt.Errorf("route %s %s: %w", r.Dst, via, rerr)
		}
		return a.route(r, via)
	}
	if errors.Is(err, errRouteExists) && !r.Blackhole && a.adoptable(r) {
		// The route in the way goes through the endpoint's own
		// interface (a CNI plugin added it so that the container is
		// reachable at once): the agent takes it over, as it owns its
		// workload interfaces.
		op, do, ours = "route_replace", d.k.replaceRoute, true
		d.metrics.op(op)
		err = do(r)
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

// adoptable reports whether every route in the way of r goes out r's
// own device: a route to the endpoint through its own interface, added
// by whoever created the interface, which the agent may take over.
func (a *applier) adoptable(r route) bool {
	rs, err := a.d.k.routesTo(r.Dst)
	if err != nil || len(rs) == 0 {
		return false
	}
	for _, x := range rs {
		if x.Blackhole || x.Index != r.Index {
			return false
		}
	}
	return true
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

// delete deletes routes and neighbours of the record, in a stable order.
func (a *applier) delete(routes []route, neighs []neigh) {
	d := a.d
	slices.SortFunc(routes, func(x, y route) int {
		return cmp.Or(x.Dst.Addr().Compare(y.Dst.Addr()), cmp.Compare(x.Index, y.Index))
	})
	for _, r := range routes {
		d.metrics.op("route_delete")
		if err := d.k.delRoute(r); err != nil {
			d.metrics.failed("route_delete")
			a.errs = append(a.errs, fmt.Errorf("delete route %s: %w", r, err))
			continue
		}
		delete(d.rec.routes, r.key())
		d.log.Info("route removed", "dst", r.Dst, "ifindex", r.Index)
	}
	slices.SortFunc(neighs, func(x, y neigh) int {
		return cmp.Or(x.IP.Compare(y.IP), cmp.Compare(x.Index, y.Index))
	})
	for _, n := range neighs {
		d.metrics.op("neigh_delete")
		if err := d.k.delNeigh(n); err != nil {
			d.metrics.failed("neigh_delete")
			a.errs = append(a.errs, fmt.Errorf("delete neighbour %s: %w", n, err))
			continue
		}
		delete(d.rec.neighs, n.key())
	}
}
