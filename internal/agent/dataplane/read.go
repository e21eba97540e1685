package dataplane

import (
	"fmt"

	"github.com/gocalico/calico/internal/agent/config"
)

// refreshLinks re-lists the interfaces and forgets what the record says
// about interfaces that are gone or down.
func (d *Linux) refreshLinks() error {
	ls, err := d.k.listLinks()
	if err != nil {
		return fmt.Errorf("list links: %w", err)
	}
	d.links = make(map[string]link, len(ls))
	d.linkName = make(map[int]string, len(ls))
	exists := make(map[int]bool, len(ls))
	up := make(map[int]bool, len(ls))
	for _, l := range ls {
		d.links[l.Name] = l
		d.linkName[l.Index] = l.Name
		exists[l.Index] = true
		up[l.Index] = l.AdminUp
	}
	for _, idx := range d.rec.indexes() {
		switch {
		case idx == 0:
		case !exists[idx]:
			d.rec.dropIndex(idx)
		case !up[idx]:
			// A down interface has no routes or neighbours; its
			// sysctls stay.
			d.rec.dropFlushed(idx)
		}
	}
	return nil
}

// managedIndexes are the indexes of the interfaces the agent may touch.
func (d *Linux) managedIndexes(cfg *config.Config) map[int]bool {
	m := map[int]bool{}
	for name, l := range d.links {
		if cfg.MatchesInterface(name) {
			m[l.Index] = true
		}
	}
	return m
}

// readKernel rebuilds the record from the kernel: the agent's routes and
// permanent neighbour entries on managed interfaces, and the current
// values of the sysctls it wants (read in one batch).
func (d *Linux) readKernel(cfg *config.Config) error {
	managed := d.managedIndexes(cfg)
	rec := newRecord()
	rec.proto = d.rec.proto
	routes, err := d.ownRoutes(cfg, managed)
	if err != nil {
		return err
	}
	rec.routes = routes
	if rec.neighs, err = d.ownNeighs(managed); err != nil {
		return err
	}
	var keys []sysctlKey
	for _, s := range hostSysctls(cfg) {
		keys = append(keys, sysctlKey{0, s.path})
	}
	for _, e := range d.desired {
		l, ok := d.links[e.InterfaceName]
		if !e.Program || !ok || !managed[l.Index] {
			continue
		}
		for _, s := range interfaceSysctls(cfg, e.InterfaceName, e.SpoofsIPv4) {
			keys = append(keys, sysctlKey{l.Index, s.path})
		}
	}
	paths := make([]string, len(keys))
	for i, k := range keys {
		paths[i] = k.Path
	}
	vals, errs := d.k.readSysctls(paths)
	for i, k := range keys {
		if errs[i] == nil {
			rec.sysctls[k] = vals[i]
		}
	}
	d.rec = rec
	return nil
}

// ownRoutes lists the agent's routes: those of its protocol, and of the
// protocol it used before if that changed, on managed interfaces, and
// its blackhole routes.
func (d *Linux) ownRoutes(cfg *config.Config, managed map[int]bool) (map[routeKey]route, error) {
	protos := []int{cfg.RouteProtocol}
	if p := d.rec.proto; p != 0 && p != cfg.RouteProtocol {
		protos = append(protos, p)
	}
	out := map[routeKey]route{}
	for _, p := range protos {
		rs, err := d.k.listRoutes(p)
		if err != nil {
			return nil, fmt.Errorf("list routes: %w", err)
		}
		for _, r := range rs {
			if managed[r.Index] || r.Blackhole {
				out[r.key()] = r
			}
		}
	}
	return out, nil
}

// ownNeighs lists the permanent neighbour entries on managed interfaces.
func (d *Linux) ownNeighs(managed map[int]bool) (map[neighKey]neigh, error) {
	ns, err := d.k.listNeighs()
	if err != nil {
		return nil, fmt.Errorf("list neighbours: %w", err)
	}
	out := map[neighKey]neigh{}
	for _, n := range ns {
		if n.Permanent && managed[n.Index] {
			out[n.key()] = n
		}
	}
	return out, nil
}
