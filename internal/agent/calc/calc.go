// Package calc turns the datastore's update stream into the desired state
// of this host. It is pure: no OS access, and the same updates in any
// order give the same HostState.
package calc

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/gocalico/calico/internal/ipam"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/agent/config"
	"github.com/gocalico/calico/internal/datastore/syncer"
	"github.com/gocalico/calico/internal/resources"
)

// Calc keeps the part of the datastore that concerns this node and
// computes its HostState incrementally: each endpoint's validated
// candidate is cached, and an update recomputes only the endpoints that
// share an interface name or an address with what changed (conflict
// resolution among them gives the same result as over all endpoints).
// It is not safe for concurrent use.
type Calc struct {
	node string
	// weps are this node's workload endpoints by "<namespace>/<name>".
	weps map[string]*v3.WorkloadEndpoint
	// globalCfg and nodeCfg are FelixConfigurations "default" and
	// "node.<node>".
	globalCfg, nodeCfg *v3.FelixConfigurationSpec
	// pools are the IP pools' CIDRs by pool name.
	pools map[string]netip.Prefix
	// blocks are the blocks of this node's confirmed IPAM affinities;
	// holes are the blackholes last handed out (Take, HostState).
	blocks map[netip.Prefix]bool
	holes  []netip.Prefix

	// cfg and cfgProblems are the effective configuration.
	cfg         config.Config
	cfgProblems []string
	// cands are the validated endpoints before conflict resolution, by
	// key; byIface and byAddr index them by what they claim.
	cands   map[string]*candidate
	byIface map[string]map[string]bool
	byAddr  map[netip.Prefix]map[string]bool
	// final are the resolved endpoints by key.
	final map[string]*Endpoint
	// dirty are keys to re-resolve (with everything sharing a claim
	// with them) before the state is next read.
	dirty map[string]bool
	// allDirty: re-validate and re-resolve everything (configuration or
	// pools changed).
	allDirty bool
	// changed are keys whose final Endpoint changed since the last
	// Take or HostState; cfgChanged says the configuration did.
	changed    map[string]bool
	cfgChanged bool
}

// New returns an empty Calc for the node named nodeName.
func New(nodeName string) *Calc {
	c := &Calc{
		node:       nodeName,
		weps:       map[string]*v3.WorkloadEndpoint{},
		pools:      map[string]netip.Prefix{},
		blocks:     map[netip.Prefix]bool{},
		cands:      map[string]*candidate{},
		byIface:    map[string]map[string]bool{},
		byAddr:     map[netip.Prefix]map[string]bool{},
		final:      map[string]*Endpoint{},
		dirty:      map[string]bool{},
		changed:    map[string]bool{},
		cfgChanged: true,
	}
	c.cfg, c.cfgProblems = config.Effective(nil, nil)
	return c
}

// Result says what a batch of updates changed.
type Result struct {
	// Changed is true when the HostState may differ from before.
	Changed bool
	// Endpoints are the keys of local endpoints added, changed or
	// removed by the batch (an endpoint that moved to another node
	// counts as removed), in order of first appearance.
	Endpoints []string
}

// OnUpdates folds a batch of syncer updates in. Values are the decoded
// resources (v3.Resource), and for keys under AffinityPrefix(node) the
// decoded *Affinity; updates of other kinds and values of an unexpected
// type are ignored.
func (c *Calc) OnUpdates(updates []syncer.Update) Result {
	var res Result
	note := func(key string) {
		res.Changed = true
		c.dirty[key] = true
		if !slices.Contains(res.Endpoints, key) {
			res.Endpoints = append(res.Endpoints, key)
		}
	}
	cfgTouched := false
	for _, u := range updates {
		if ipam.IsAffinityKey(u.Key) {
			if c.onAffinity(u) {
				res.Changed = true
			}
			continue
		}
		info, ns, name, ok := resources.ParseKey(u.Key)
		if !ok {
			continue
		}
		switch info.Kind {
		case v3.KindWorkloadEndpoint:
			key := ns + "/" + name
			w, _ := u.Value.(*v3.WorkloadEndpoint)
			if u.Type != syncer.UpdateDeleted && w != nil && w.Spec.Node == c.node {
				c.weps[key] = w
				note(key)
			} else if _, had := c.weps[key]; had {
				// Deleted, invalid, or moved to another node.
				delete(c.weps, key)
				note(key)
			}
		case v3.KindFelixConfiguration:
			var spec *v3.FelixConfigurationSpec
			if fc, ok := u.Value.(*v3.FelixConfiguration); ok && u.Type != syncer.UpdateDeleted {
				spec = &fc.Spec
			}
			switch name {
			case "default":
				c.globalCfg = spec
				cfgTouched = true
			case "node." + c.node:
				c.nodeCfg = spec
				cfgTouched = true
			}
		case v3.KindIPPool:
			p, ok := u.Value.(*v3.IPPool)
			var cidr netip.Prefix
			if ok && u.Type != syncer.UpdateDeleted {
				cidr, _ = netip.ParsePrefix(strings.TrimSpace(p.Spec.CIDR))
			}
			if cidr.IsValid() {
				c.pools[name] = cidr.Masked()
			} else {
				delete(c.pools, name)
			}
			c.allDirty = true
			res.Changed = true
		}
	}
	if cfgTouched {
		cfg, problems := config.Effective(c.globalCfg, c.nodeCfg)
		if !cfg.Equal(&c.cfg) {
			c.allDirty = true
		}
		if !cfg.Equal(&c.cfg) || !slices.Equal(problems, c.cfgProblems) {
			c.cfg, c.cfgProblems = cfg, problems
			c.cfgChanged = true
			res.Changed = true
		}
	}
	return res
}

// Config returns the effective configuration as folded in so far. The
// result shares its slices with c: do not modify them.
func (c *Calc) Config() config.Config { return c.cfg }

// EndpointChange is one endpoint's new desired state; Endpoint is nil
// when the endpoint is gone.
type EndpointChange struct {
	Key      string
	Endpoint *Endpoint
}

// Take returns what changed since the last Take or HostState: the whole
// HostState when the configuration or the blackholes changed (or on the
// first call), otherwise the endpoints whose desired state changed,
// sorted by key. The results share nothing with c.
func (c *Calc) Take() (full *HostState, changes []EndpointChange) {
	c.resolve()
	if c.cfgChanged || !slices.Equal(c.blackholes(), c.holes) {
		return c.HostState(), nil
	}
	keys := make([]string, 0, len(c.changed))
	for k := range c.changed {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	clear(c.changed)
	for _, k := range keys {
		ch := EndpointChange{Key: k}
		if e, ok := c.final[k]; ok {
			cp := e.clone()
			ch.Endpoint = &cp
		}
		changes = append(changes, ch)
	}
	return nil, changes
}

// HostState computes the desired state from what has been folded in so
// far. The result is new on every call and shares nothing with c.
func (c *Calc) HostState() *HostState {
	c.resolve()
	clear(c.changed)
	c.cfgChanged = false
	c.holes = c.blackholes()
	hs := &HostState{Config: c.cfg, ConfigProblems: slices.Clone(c.cfgProblems), Blackholes: slices.Clone(c.holes)}
	hs.Config.InterfacePrefixes = slices.Clone(c.cfg.InterfacePrefixes)
	keys := make([]string, 0, len(c.final))
	for k := range c.final {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	hs.Endpoints = make([]Endpoint, 0, len(keys))
	for _, k := range keys {
		hs.Endpoints = append(hs.Endpoints, c.final[k].clone())
	}
	if len(hs.Endpoints) == 0 {
		hs.Endpoints = nil
	}
	return hs
}

// resolve brings final up to date with the dirty keys.
func (c *Calc) resolve() {
	if c.allDirty {
		for k := range c.cands {
			c.unindex(k)
		}
		clear(c.cands)
		for k := range c.weps {
			c.dirty[k] = true
		}
		for k := range c.final {
			c.dirty[k] = true
		}
		c.allDirty = false
	}
	if len(c.dirty) == 0 {
		return
	}
	// Seeds: everything that shared a claim with the old candidates,
	// then the keys themselves with their new candidates.
	group := map[string]bool{}
	var queue []string
	add := func(k string) {
		if !group[k] {
			group[k] = true
			queue = append(queue, k)
		}
	}
	for k := range c.dirty {
		add(k)
		if old, ok := c.cands[k]; ok {
			c.neighbours(old, add)
			c.unindex(k)
			delete(c.cands, k)
		}
		if w, ok := c.weps[k]; ok {
			cand := newCandidate(k, w, &c.cfg)
			c.cands[k] = &cand
			c.index(k)
		}
	}
	clear(c.dirty)
	// Close over shared claims: conflicts are resolved exactly within
	// connected groups.
	for i := 0; i < len(queue); i++ {
		if cand, ok := c.cands[queue[i]]; ok {
			c.neighbours(cand, add)
		}
	}
	slices.Sort(queue)
	cands := make([]candidate, 0, len(queue))
	for _, k := range queue {
		if cand, ok := c.cands[k]; ok {
			cp := *cand
			cp.Endpoint = cand.Endpoint.clone()
			cands = append(cands, cp)
		} else if _, had := c.final[k]; had {
			delete(c.final, k)
			c.changed[k] = true
		}
	}
	resolveConflicts(cands)
	c.checkPools(cands)
	for i := range cands {
		e := cands[i].Endpoint
		if len(e.Addrs) == 0 {
			e.Addrs = nil // one form for "none", whatever the path
		}
		if old, ok := c.final[e.Key]; ok && old.equal(&e) {
			continue
		}
		c.final[e.Key] = &e
		c.changed[e.Key] = true
	}
}

// neighbours calls add for every key whose candidate claims the same
// interface or an address of cand.
func (c *Calc) neighbours(cand *candidate, add func(string)) {
	for k := range c.byIface[cand.InterfaceName] {
		add(k)
	}
	for _, a := range cand.Addrs {
		for k := range c.byAddr[a] {
			add(k)
		}
	}
}

func (c *Calc) index(k string) {
	cand := c.cands[k]
	if !cand.Program {
		return // claims nothing
	}
	if c.byIface[cand.InterfaceName] == nil {
		c.byIface[cand.InterfaceName] = map[string]bool{}
	}
	c.byIface[cand.InterfaceName][k] = true
	for _, a := range cand.Addrs {
		if c.byAddr[a] == nil {
			c.byAddr[a] = map[string]bool{}
		}
		c.byAddr[a][k] = true
	}
}

func (c *Calc) unindex(k string) {
	cand := c.cands[k]
	if !cand.Program {
		return
	}
	if m := c.byIface[cand.InterfaceName]; m != nil {
		delete(m, k)
		if len(m) == 0 {
			delete(c.byIface, cand.InterfaceName)
		}
	}
	for _, a := range cand.Addrs {
		if m := c.byAddr[a]; m != nil {
			delete(m, k)
			if len(m) == 0 {
				delete(c.byAddr, a)
			}
		}
	}
}

// checkPools reports addresses outside every pool of their family. Only
// families with at least one pool are checked. Such addresses are still
// routed on this host (as upstream does), but other hosts will not learn
// them, so the endpoint is reported as an error.
func (c *Calc) checkPools(cands []candidate) {
	var has4, has6 bool
	for _, p := range c.pools {
		if p.Addr().Is4() {
			has4 = true
		} else {
			has6 = true
		}
	}
	if !has4 && !has6 {
		return
	}
	for i := range cands {
		if !cands[i].Program {
			continue
		}
		for _, a := range cands[i].Addrs {
			if (a.Addr().Is4() && !has4) || (a.Addr().Is6() && !has6) {
				continue
			}
			in := false
			for _, p := range c.pools {
				if p.Contains(a.Addr()) {
					in = true
					break
				}
			}
			if !in {
				cands[i].problem("address %s is outside every IP pool; routed on this host only", a.Addr())
			}
		}
	}
}
