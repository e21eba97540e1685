package calc

import (
	"net/netip"
	"slices"
	"strings"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/agent/config"
	"github.com/gocalico/calico/internal/datastore/syncer"
	"github.com/gocalico/calico/internal/resources"
)

// Calc keeps the part of the datastore that concerns this node and
// computes its HostState. It is not safe for concurrent use.
type Calc struct {
	node string
	// weps are this node's workload endpoints by "<namespace>/<name>".
	weps map[string]*v3.WorkloadEndpoint
	// globalCfg and nodeCfg are FelixConfigurations "default" and
	// "node.<node>".
	globalCfg, nodeCfg *v3.FelixConfigurationSpec
	// pools are the IP pools' CIDRs by pool name.
	pools map[string]netip.Prefix
}

// New returns an empty Calc for the node named nodeName.
func New(nodeName string) *Calc {
	return &Calc{
		node:  nodeName,
		weps:  map[string]*v3.WorkloadEndpoint{},
		pools: map[string]netip.Prefix{},
	}
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
// resources (v3.Resource); updates of other kinds and values of an
// unexpected type are ignored.
func (c *Calc) OnUpdates(updates []syncer.Update) Result {
	var res Result
	note := func(key string) {
		res.Changed = true
		if !slices.Contains(res.Endpoints, key) {
			res.Endpoints = append(res.Endpoints, key)
		}
	}
	for _, u := range updates {
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
				res.Changed = true
			case "node." + c.node:
				c.nodeCfg = spec
				res.Changed = true
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
			res.Changed = true
		}
	}
	return res
}

// HostState computes the desired state from what has been folded in so
// far. The result is new on every call and shares nothing with c.
func (c *Calc) HostState() *HostState {
	cfg, problems := config.Effective(c.globalCfg, c.nodeCfg)
	hs := &HostState{Config: cfg, ConfigProblems: problems}

	keys := make([]string, 0, len(c.weps))
	for k := range c.weps {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	cands := make([]candidate, 0, len(keys))
	for _, k := range keys {
		cands = append(cands, newCandidate(k, c.weps[k], &cfg))
	}
	resolveConflicts(cands)
	c.checkPools(cands)
	for i := range cands {
		e := cands[i].Endpoint
		if len(e.Addrs) == 0 {
			e.Addrs = nil // one form for "none", whatever the path
		}
		hs.Endpoints = append(hs.Endpoints, e)
	}
	return hs
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
