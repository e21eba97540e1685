package policy

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/agent/nft"
)

// Ruleset brings the rendered chains up to date and returns the whole
// desired table. Chains that did not change are the same pointers as in
// the previous result.
func (c *Calc) Ruleset() *nft.Ruleset {
	if c.allDirty {
		for k := range c.locals {
			c.dirtyEPs[k] = true
		}
		for id := range c.polChains {
			c.dirtyPols[id] = true
		}
		for id := range c.profChains {
			c.dirtyProfs[id] = true
		}
		c.allDirty = false
	}
	// Which policies and profiles local endpoints use; owners of an
	// interface name (the first key wins a clash, as it must be one).
	usedPols, usedProfs := map[string]bool{}, map[string]bool{}
	ifaceOwner := map[string]string{}
	keys := make([]string, 0, len(c.locals))
	for k := range c.locals {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		l := c.locals[k]
		if l.host || l.iface == "" || !c.managed(l.iface) {
			continue
		}
		if _, taken := ifaceOwner[l.iface]; taken {
			c.Problems[l.problemKey()] = fmt.Sprintf("interface %s is claimed by %s too; its policy applies", l.iface, ifaceOwner[l.iface])
			continue
		}
		delete(c.Problems, l.problemKey())
		ifaceOwner[l.iface] = k
	}
	hostOwner := c.hostOwners(keys)
	for _, owners := range []map[string]string{ifaceOwner, hostOwner} {
		for _, k := range owners {
			l := c.locals[k]
			for id := range l.matches {
				usedPols[id] = true
			}
			for _, p := range l.profiles {
				usedProfs[p] = true
			}
		}
	}
	// Policies and profiles: render the new and changed, drop the unused.
	for id, r := range c.polChains {
		if !usedPols[id] || c.dirtyPols[id] {
			c.unref(r.sets)
			delete(c.polChains, id)
		}
	}
	for id := range usedPols {
		if _, ok := c.polChains[id]; !ok {
			r := c.renderPolicy(c.policies[id])
			c.ref(r.sets)
			c.polChains[id] = r
		}
	}
	clear(c.dirtyPols)
	for name, r := range c.profChains {
		if !usedProfs[name] || c.dirtyProfs[name] {
			c.unref(r.sets)
			delete(c.profChains, name)
		}
	}
	for name := range usedProfs {
		if _, ok := c.profChains[name]; ok {
			continue
		}
		spec := c.profiles[name]
		if name == v3.DefaultAllowProfileName {
			spec = &v3.DefaultAllowProfile().Spec
		}
		if spec == nil {
			continue
		}
		r := c.renderProfile(name, spec)
		c.ref(r.sets)
		c.profChains[name] = r
	}
	clear(c.dirtyProfs)
	// Endpoint chains: dropped when the endpoint is gone or owns no
	// interface (any more); rendered when it changed or has just come to
	// own its interface (the other claimant went away).
	owner := func(l *local) string {
		if l.host {
			return hostOwner[l.iface]
		}
		return ifaceOwner[l.iface]
	}
	for k := range c.epChains {
		if l, ok := c.locals[k]; !ok || owner(l) != k {
			delete(c.epChains, k)
		}
	}
	for _, owners := range []map[string]string{ifaceOwner, hostOwner} {
		for _, k := range owners {
			if _, ok := c.epChains[k]; ok && !c.dirtyEPs[k] {
				continue
			}
			l := c.locals[k]
			if l.host {
				c.epChains[k] = &rendered{chains: hostEndpointChains(c.resolveHost(l), c.cfg.FailsafeInbound, c.cfg.FailsafeOutbound)}
			} else {
				from, to, wo, wi := endpointChains(c.resolve(l), c.walk)
				c.epChains[k] = &rendered{chains: []*nft.Chain{from, to, wo, wi}}
			}
		}
	}
	clear(c.dirtyEPs)

	rs := &nft.Ruleset{Table: TableName, Chains: map[string]*nft.Chain{}, Sets: map[string]*nft.Set{}, Maps: map[string]*nft.Map{}}
	hd := hostDispatch{any: len(hostOwner) > 0, all: hostOwner[ifaceAll] != ""}
	if c.bases == nil || c.basesFor != hd {
		c.bases, c.basesFor = baseChains(c.prefixes, c.toHost, hd), hd
	}
	for _, ch := range c.bases {
		rs.Chains[ch.Name] = ch
	}
	// The input chain (and every fw- chain) jumps to it.
	rs.Chains[fromWLCommon.Name] = fromWLCommon
	// The dispatch maps are kept while the set of interfaces is the same:
	// the applier skips objects it was given before.
	from, to := c.wlMaps[0], c.wlMaps[1]
	same := from != nil && len(from.Elements) == len(ifaceOwner)
	for iface := range ifaceOwner {
		if !same {
			break
		}
		_, same = from.Elements[iface]
	}
	if !same {
		from = &nft.Map{Name: mapFromWL, Type: nft.TypeIfname, Elements: make(map[string]nft.Verdict, len(ifaceOwner))}
		to = &nft.Map{Name: mapToWL, Type: nft.TypeIfname, Elements: make(map[string]nft.Verdict, len(ifaceOwner))}
		for iface := range ifaceOwner {
			from.Elements[iface] = nft.Verdict{Kind: nft.VerdictJump, Chain: fromWLPrefix + iface}
			to.Elements[iface] = nft.Verdict{Kind: nft.VerdictJump, Chain: toWLPrefix + iface}
		}
		c.wlMaps = [2]*nft.Map{from, to}
	}
	rs.Maps[from.Name], rs.Maps[to.Name] = from, to
	for _, k := range ifaceOwner {
		for _, ch := range c.epChains[k].chains {
			rs.Chains[ch.Name] = ch
		}
	}
	for name, ch := range c.walks {
		if rs.Chains[name] != ch {
			delete(c.walks, name) // no endpoint walks it any more
		}
	}
	if hd.any {
		c.addHostEndpoints(rs, hostOwner)
	}
	for _, rr := range []map[string]*rendered{c.polChains, c.profChains} {
		for _, r := range rr {
			for _, ch := range r.chains {
				rs.Chains[ch.Name] = ch
			}
		}
	}
	for name, d := range c.setDefs {
		s, ok := c.builtSets[name]
		if !ok {
			s = c.buildSet(name, d)
			c.builtSets[name] = s
		}
		rs.Sets[name] = s
	}
	for name := range c.builtSets {
		if _, ok := c.setDefs[name]; !ok {
			delete(c.builtSets, name)
		}
	}
	return rs
}

// walk returns the shared walk chain with these rules (see
// endpointChains), the same pointer for as long as an endpoint uses it.
func (c *Calc) walk(prefix string, rules []nft.Rule) *nft.Chain {
	name := walkName(prefix, rules)
	if ch, ok := c.walks[name]; ok {
		return ch
	}
	ch := &nft.Chain{Name: name, Rules: rules}
	c.walks[name] = ch
	return ch
}

func (c *Calc) managed(iface string) bool {
	for _, p := range c.prefixes {
		if strings.HasPrefix(iface, p) {
			return true
		}
	}
	return false
}

// buildSet turns a set's members into nftables elements of one family.
// Address sets are interval sets (network sets hold CIDRs), and an
// interval set may not hold overlapping elements: a prefix inside
// another member is left out.
func (c *Calc) buildSet(name string, d setDef) *nft.Set {
	s := &nft.Set{Name: name}
	named := d.key.NamedPort != ""
	switch {
	case named && d.family == 4:
		s.Type = nft.TypeIPv4AddrProtoPort
	case named:
		s.Type = nft.TypeIPv6AddrProtoPort
	case d.family == 4:
		s.Type, s.Interval = nft.TypeIPv4Addr, true
	default:
		s.Type, s.Interval = nft.TypeIPv6Addr, true
	}
	var prefixes []netip.Prefix
	for _, m := range c.sets.Members(name) {
		if (d.family == 4) != m.Prefix.Addr().Is4() {
			continue
		}
		if named {
			if m.Prefix.IsSingleIP() {
				s.Elements = append(s.Elements, nft.Element{Prefix: m.Prefix, Proto: m.Proto, Ports: nft.PortRange{Lo: m.Port, Hi: m.Port}})
			}
			continue
		}
		prefixes = append(prefixes, m.Prefix)
	}
	for _, p := range disjoint(prefixes) {
		s.Elements = append(s.Elements, nft.Element{Prefix: p})
	}
	return s
}

// disjoint drops the prefixes contained in another one (prefixes either
// nest or do not overlap).
func disjoint(ps []netip.Prefix) []netip.Prefix {
	slices.SortFunc(ps, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	out := ps[:0]
	for _, p := range ps {
		if n := len(out); n > 0 && out[n-1].Bits() <= p.Bits() && out[n-1].Contains(p.Addr()) {
			continue
		}
		out = append(out, p)
	}
	return out
}
