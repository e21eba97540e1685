package dataplane

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/gocalico/calico/internal/agent/calc"
	"github.com/gocalico/calico/internal/agent/config"
)

// Set implements Dataplane: it applies additions before deletions, carries
// on past failures and joins their errors. After a failure the next Set
// re-reads the kernel first.
func (d *Linux) Set(ctx context.Context, hs *calc.HostState) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	cfg := &hs.Config
	for _, ev := range d.takeEvents() {
		d.linksStale = true
		switch {
		case ev.Lost:
			d.fullSync = true
		case ev.Deleted || !ev.AdminUp:
			// The kernel flushed the interface's routes and
			// neighbours. The interface may be back already (or the
			// event is older than the record): re-read them.
			d.reloadNeeded = true
		}
	}
	if d.fullSync || d.linksStale || d.links == nil {
		if err := d.refreshLinks(); err != nil {
			d.fullSync = true
			return err
		}
	}
	switch {
	case d.fullSync:
		if err := d.readKernel(cfg, hs); err != nil {
			return err
		}
		d.fullSync, d.reloadNeeded = false, false
		d.metrics.incResync()
	case d.reloadNeeded:
		if err := d.reloadRoutesAndNeighs(cfg); err != nil {
			d.fullSync = true
			return err
		}
		d.reloadNeeded = false
	}

	a := applier{d: d, cfg: cfg}
	a.apply(ctx, hs)
	d.updateStatus(hs)
	if len(a.errs) > 0 {
		// Whatever failed may have left the kernel in a state the
		// record does not describe: look again before retrying.
		d.fullSync = true
	}
	return errors.Join(a.errs...)
}

// applier carries one Set's work.
type applier struct {
	d          *Linux
	cfg        *config.Config
	errs       []error
	wantRoutes map[routeKey]bool
	wantDsts   map[netip.Prefix]bool
	wantNeighs map[neighKey]bool
	// reloaded is set once the agent's routes were re-read in this Set.
	reloaded bool
}

func (a *applier) apply(ctx context.Context, hs *calc.HostState) {
	d := a.d
	a.wantRoutes = map[routeKey]bool{}
	a.wantDsts = map[netip.Prefix]bool{}
	a.wantNeighs = map[neighKey]bool{}
	clear(d.epErrs)
	managed := d.managedIndexes(a.cfg)

	for _, s := range hostSysctls(a.cfg) {
		if err := a.sysctl(sysctlKey{0, s.path}, s.value); err != nil {
			a.errs = append(a.errs, err)
		}
	}
	ifaceOwner := map[string]string{}
	for i := range hs.Endpoints {
		if err := ctx.Err(); err != nil {
			a.errs = append(a.errs, err)
			return
		}
		e := &hs.Endpoints[i]
		l, ok := d.links[e.InterfaceName]
		if !e.Program || !ok {
			continue
		}
		if !managed[l.Index] {
			// calc never does this; the interface is not ours.
			d.epErrs[e.Key] = fmt.Errorf("interface %s does not match the interface prefixes; not programmed", e.InterfaceName)
			continue
		}
		if other, dup := ifaceOwner[e.InterfaceName]; dup {
			// calc never does this; refuse rather than mix endpoints.
			d.epErrs[e.Key] = fmt.Errorf("interface %s is already used by endpoint %s", e.InterfaceName, other)
			continue
		}
		ifaceOwner[e.InterfaceName] = e.Key
		if err := a.endpoint(e, l); err != nil {
			d.epErrs[e.Key] = err
			a.errs = append(a.errs, fmt.Errorf("endpoint %s: %w", e.Key, err))
		}
	}
	a.prune()
	d.rec.proto = a.cfg.RouteProtocol
}

// endpoint programs one endpoint whose interface exists.
func (a *applier) endpoint(e *calc.Endpoint, l link) error {
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
	for _, s := range interfaceSysctls(a.cfg, l.Name) {
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
		if a.wantDsts[dst] {
			// calc never does this; refuse to steal the route.
			errs = append(errs, fmt.Errorf("route %s: already wanted for another endpoint", dst))
			continue
		}
		a.wantDsts[dst] = true
		a.wantRoutes[r.key()] = true
		if err := a.route(r, l.Name); err != nil {
			errs = append(errs, err)
		}
		if e.MAC == "" {
			continue
		}
		n := neigh{IP: dst.Addr(), Index: l.Index, MAC: e.MAC, Permanent: true}
		a.wantNeighs[n.key()] = true
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

// route adds r, or replaces the agent's own route to the same
// destination. A route to the destination that the agent does not own is
// never replaced.
func (a *applier) route(r route, ifName string) error {
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
			return fmt.Errorf("route %s dev %s: %w", r.Dst, ifName, rerr)
		}
		return a.route(r, ifName)
	}
	if err != nil {
		d.metrics.failed(op)
		if errors.Is(err, errRouteExists) {
			return fmt.Errorf("route %s dev %s: another route to %s exists that the agent does not own; not replacing it", r.Dst, ifName, r.Dst)
		}
		return fmt.Errorf("route %s dev %s: %w", r.Dst, ifName, err)
	}
	if ours && old.key() != r.key() {
		delete(d.rec.routes, old.key()) // replaced in place
	}
	d.rec.routes[r.key()] = r
	d.log.Debug("route programmed", "dst", r.Dst, "interface", ifName, "op", op)
	return nil
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

// prune deletes what the record holds but nobody wants, in a stable
// order.
func (a *applier) prune() {
	d := a.d
	var routes []route
	for k, r := range d.rec.routes {
		if !a.wantRoutes[k] {
			routes = append(routes, r)
		}
	}
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
	var neighs []neigh
	for k, n := range d.rec.neighs {
		if !a.wantNeighs[k] {
			neighs = append(neighs, n)
		}
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
