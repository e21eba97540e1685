package policy

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/agent/nft"
)

// Ruleset brings the rendered chains up to date and returns the whole
// desired table, in maps of its own. Chains that did not change are the
// same pointers as in the previous result. Its work is proportional to
// what changed since the last call (and a copy of the table's maps), not
// to the size of the table.
func (c *Calc) Ruleset() *nft.Ruleset {
	if c.allDirty {
		for k := range c.locals {
			c.dirtyEPs[k] = true
		}
		for k := range c.epChains {
			c.dirtyEPs[k] = true
		}
		for id := range c.polChains {
			c.dirtyPols[id] = true
		}
		for id := range c.profChains {
			c.dirtyProfs[id] = true
		}
		c.ownersDirty, c.mapsDirty = true, true
		c.allDirty = false
	}
	if c.ownersDirty {
		c.updateOwners()
		c.ownersDirty = false
	}
	out := c.out

	// Endpoint chains: dropped when the endpoint is gone or owns no
	// interface (any more); rendered when it changed or has just come to
	// own its interface (the other claimant went away). The policies and
	// profiles they use are counted, so that only those are rendered.
	for k := range c.dirtyEPs {
		// The new chains go in before the old come out, so that a walk,
		// policy or profile both use stays (the same object).
		old := c.epChains[k]
		delete(c.epChains, k)
		if l, ok := c.locals[k]; ok && c.owner(l) == k {
			r := &rendered{pols: slices.Collect(maps.Keys(l.matches)), profs: slices.Clone(l.profiles)}
			if l.host {
				e := c.resolveHost(l)
				for _, iface := range c.hostIfaces[k] {
					e.Iface = iface
					var chains []*nft.Chain
					chains, r.stages = hostEndpointChains(e, c.cfg.FailsafeInbound, c.cfg.FailsafeOutbound)
					r.chains = append(r.chains, chains...)
				}
				if old == nil || old.stages != r.stages {
					c.mapsDirty = true // its elements of the stage maps
				}
			} else {
				from, to, wo, wi := endpointChains(c.resolve(l), c.walk)
				r.chains = []*nft.Chain{from, to, wo, wi}
			}
			for _, ch := range r.chains {
				c.addChain(ch)
			}
			c.use(c.polUse, c.dirtyPols, r.pols, 1)
			c.use(c.profUse, c.dirtyProfs, r.profs, 1)
			c.epChains[k] = r
		}
		if old != nil {
			for _, ch := range old.chains {
				c.dropChain(ch)
			}
			c.use(c.polUse, c.dirtyPols, old.pols, -1)
			c.use(c.profUse, c.dirtyProfs, old.profs, -1)
		}
	}
	clear(c.dirtyEPs)

	// Policies and profiles that changed or came into or out of use:
	// rendered again, or dropped when no endpoint uses them. The new
	// render goes in before the old comes out, so that a set both use
	// stays in the index, with its members, and is not built again.
	for id := range c.dirtyPols {
		old := c.polChains[id]
		delete(c.polChains, id)
		if p := c.policies[id]; p != nil && c.polUse[id] > 0 {
			r := c.renderPolicy(p)
			c.render(r)
			c.polChains[id] = r
		}
		if old != nil {
			c.unrender(old)
		}
	}
	clear(c.dirtyPols)
	for name := range c.dirtyProfs {
		old := c.profChains[name]
		delete(c.profChains, name)
		spec := c.profiles[name]
		if name == v3.DefaultAllowProfileName {
			spec = &v3.DefaultAllowProfile().Spec
		}
		if spec != nil && c.profUse[name] > 0 {
			r := c.renderProfile(name, spec)
			c.render(r)
			c.profChains[name] = r
		}
		if old != nil {
			c.unrender(old)
		}
	}
	clear(c.dirtyProfs)

	// Base chains, for the configuration and the kind of host endpoints.
	hd := c.hostDispatch()
	if c.bases == nil || c.basesStale || c.basesFor != hd {
		for _, ch := range c.bases {
			c.putChain(ch.Name, nil)
		}
		c.bases, c.basesFor, c.basesStale = baseChains(c.prefixes, c.toHost, hd), hd, false
		for _, ch := range c.bases {
			c.putChain(ch.Name, ch)
		}
	}
	// The input chain (and every fw- chain) jumps to it.
	if out.Chains[fromWLCommon.Name] != fromWLCommon {
		c.putChain(fromWLCommon.Name, fromWLCommon)
	}
	if c.mapsDirty {
		c.buildWorkloadMaps()
		c.buildHostMaps(hd)
		c.mapsDirty = false
	}

	// Sets whose members or definition changed.
	for name := range c.setsDirty {
		var set *nft.Set
		if d, ok := c.setDefs[name]; ok {
			set = c.buildSet(name, d)
		}
		c.putSet(name, set)
	}
	clear(c.setsDirty)
	chg := c.changes
	c.changes = newChanges(c.changes.Lineage, chg.Gen)
	return &nft.Ruleset{Table: out.Table, Chains: maps.Clone(out.Chains), Sets: maps.Clone(out.Sets), Maps: maps.Clone(out.Maps),
		Changes: chg}
}

// newChanges starts the record of what the Ruleset of generation
// since+1 changes.
func newChanges(lineage, since uint64) *nft.Changes {
	return &nft.Changes{Lineage: lineage, Gen: since + 1, Since: since,
		Chains: map[string]struct{}{}, Sets: map[string]struct{}{}, Maps: map[string]struct{}{}}
}

// putChain, putSet and putMap are the only writers of the table (nil
// takes the object out): each records the name in c.changes.
func (c *Calc) putChain(name string, ch *nft.Chain) {
	putObject(c.out.Chains, c.changes.Chains, name, ch)
}

func (c *Calc) putSet(name string, s *nft.Set) { putObject(c.out.Sets, c.changes.Sets, name, s) }

func (c *Calc) putMap(name string, m *nft.Map) { putObject(c.out.Maps, c.changes.Maps, name, m) }

func putObject[T any](objs map[string]*T, changed map[string]struct{}, name string, o *T) {
	changed[name] = struct{}{}
	if o == nil {
		delete(objs, name)
		return
	}
	objs[name] = o
}

// updateOwners works out which local endpoint polices each interface
// (the first key wins a clash, as there must be one), reports the
// clashes, and marks dirty the endpoints that came to own or stopped
// owning an interface.
func (c *Calc) updateOwners() {
	keys := make([]string, 0, len(c.locals))
	for k := range c.locals {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	ifaceOwner := map[string]string{}
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
	for _, pair := range [][2]map[string]string{{c.ifaceOwner, ifaceOwner}, {c.hostOwner, hostOwner}} {
		was, is := pair[0], pair[1]
		for iface, k := range was {
			if is[iface] != k {
				c.dirtyEPs[k] = true
				c.mapsDirty = true
			}
		}
		for iface, k := range is {
			if was[iface] != k {
				c.dirtyEPs[k] = true
				c.mapsDirty = true
			}
		}
	}
	c.ifaceOwner, c.hostOwner = ifaceOwner, hostOwner
	clear(c.hostIfaces)
	for iface, k := range hostOwner {
		c.hostIfaces[k] = append(c.hostIfaces[k], iface)
	}
	for _, ifaces := range c.hostIfaces {
		slices.Sort(ifaces)
	}
}

// owner is the key of the endpoint that polices l's interface.
func (c *Calc) owner(l *local) string {
	if l.host {
		if len(c.hostIfaces[l.key]) > 0 {
			return l.key
		}
		return ""
	}
	return c.ifaceOwner[l.iface]
}

// buildWorkloadMaps makes the workload dispatch maps anew.
func (c *Calc) buildWorkloadMaps() {
	from := &nft.Map{Name: mapFromWL, Type: nft.TypeIfname, Elements: make(map[string]nft.Verdict, len(c.ifaceOwner))}
	to := &nft.Map{Name: mapToWL, Type: nft.TypeIfname, Elements: make(map[string]nft.Verdict, len(c.ifaceOwner))}
	for iface := range c.ifaceOwner {
		from.Elements[iface] = nft.Verdict{Kind: nft.VerdictJump, Chain: fromWLPrefix + iface}
		to.Elements[iface] = nft.Verdict{Kind: nft.VerdictJump, Chain: toWLPrefix + iface}
	}
	c.putMap(from.Name, from)
	c.putMap(to.Name, to)
}

// hostDispatch is what the base chains need of the local host
// endpoints (a handful: worked out on every call).
func (c *Calc) hostDispatch() hostDispatch {
	hd := hostDispatch{any: len(c.hostOwner) > 0, all: c.hostOwner[ifaceAll] != ""}
	for iface, k := range c.hostOwner {
		st := c.hostStages(k)
		if iface == ifaceAll {
			hd.allPreDNAT = st.preDNAT
			continue
		}
		hd.untracked = hd.untracked || st.untrackedIn || st.untrackedOut
		hd.preDNAT = hd.preDNAT || st.preDNAT
	}
	return hd
}

func (c *Calc) hostStages(k string) hostStages {
	if r := c.epChains[k]; r != nil {
		return r.stages
	}
	return hostStages{}
}

// buildHostMaps makes the host endpoint dispatch maps anew, or drops
// them when there is no host endpoint (the "*" endpoint's chains are
// reached by a rule of the base chains, not by the maps). The maps of
// the stages before normal policy are there when some endpoint has
// such policy, with the endpoints that have it.
func (c *Calc) buildHostMaps(hd hostDispatch) {
	// The prednat map holds every named endpoint, so that the "*"
	// endpoint's catch-all rule after it is reached only by the others:
	// a goto, to its pfh- chain or the empty pfh-none, ends the stage.
	preDNAT := &nft.Map{Name: mapPreDNATFrom, Type: nft.TypeIfname, Elements: map[string]nft.Verdict{}}
	for iface, k := range c.hostOwner {
		if iface == ifaceAll {
			continue
		}
		v := nft.Verdict{Kind: nft.VerdictGoto, Chain: chainPreDNATNone}
		if c.hostStages(k).preDNAT {
			v.Chain = preDNATFromPrefix + iface
		}
		preDNAT.Elements[iface] = v
	}
	if !hd.preDNAT && !hd.allPreDNAT {
		preDNAT = nil
	}
	c.putMap(mapPreDNATFrom, preDNAT)
	dispatch := []struct {
		name, prefix string
		there        bool
		has          func(hostStages) bool
	}{
		{mapFromHost, fromHostPrefix, hd.any, nil},
		{mapToHost, toHostPrefix, hd.any, nil},
		{mapFwdFromHost, fwdFromHostPrefix, hd.any, nil},
		{mapFwdToHost, fwdToHostPrefix, hd.any, nil},
		{mapUntrackedFrom, untrackedFromPrefix, hd.untracked, func(s hostStages) bool { return s.untrackedIn }},
		{mapUntrackedTo, untrackedToPrefix, hd.untracked, func(s hostStages) bool { return s.untrackedOut }},
	}
	for _, d := range dispatch {
		if !d.there {
			if c.out.Maps[d.name] != nil {
				c.putMap(d.name, nil)
			}
			continue
		}
		m := &nft.Map{Name: d.name, Type: nft.TypeIfname, Elements: map[string]nft.Verdict{}}
		for iface, k := range c.hostOwner {
			if iface != ifaceAll && (d.has == nil || d.has(c.hostStages(k))) {
				m.Elements[iface] = nft.Verdict{Kind: nft.VerdictJump, Chain: d.prefix + iface}
			}
		}
		c.putMap(d.name, m)
	}
}

// use counts the users of policies or profiles (by ID) up or down by
// delta, and marks dirty those that came into or went out of use.
func (c *Calc) use(count map[string]int, dirty map[string]bool, ids []string, delta int) {
	for _, id := range ids {
		n := count[id] + delta
		if n <= 0 {
			delete(count, id)
			dirty[id] = true
			continue
		}
		if count[id] == 0 {
			dirty[id] = true
		}
		count[id] = n
	}
}

// render puts a policy's or profile's chains in the table and counts
// its sets; unrender takes them out.
func (c *Calc) render(r *rendered) {
	c.ref(r.sets)
	for _, ch := range r.chains {
		c.putChain(ch.Name, ch)
	}
}

func (c *Calc) unrender(r *rendered) {
	c.unref(r.sets)
	for _, ch := range r.chains {
		if c.out.Chains[ch.Name] == ch {
			c.putChain(ch.Name, nil)
		}
	}
}

// addChain puts an endpoint's chain in the table, counting the users of
// a shared walk; dropChain takes it out, the walk only with its last
// user.
func (c *Calc) addChain(ch *nft.Chain) {
	if _, shared := c.walks[ch.Name]; shared {
		c.walkUse[ch.Name]++
	}
	c.putChain(ch.Name, ch)
}

func (c *Calc) dropChain(ch *nft.Chain) {
	if _, shared := c.walks[ch.Name]; shared {
		if c.walkUse[ch.Name]--; c.walkUse[ch.Name] > 0 {
			return
		}
		delete(c.walkUse, ch.Name)
		delete(c.walks, ch.Name)
	}
	if c.out.Chains[ch.Name] == ch {
		c.putChain(ch.Name, nil)
	}
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
// An address set whose members are all single addresses (endpoints) is
// a hash set, looked up in constant time; one with a CIDR (a network
// set's) is an interval set, a tree the kernel searches in logarithmic
// time, and may not hold overlapping elements: a prefix inside another
// member is left out. A set that gains or loses its only CIDR changes
// kind, which the applier does by making it anew.
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
	if !named && !slices.ContainsFunc(prefixes, func(p netip.Prefix) bool { return !p.IsSingleIP() }) {
		s.Interval = false
		slices.SortFunc(prefixes, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
		prefixes = slices.Compact(prefixes)
	} else {
		prefixes = disjoint(prefixes)
	}
	for _, p := range prefixes {
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
