package policy

import (
	"cmp"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"math"
	"net"
	"net/netip"
	"slices"
	"strings"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/agent/nft"
	"github.com/gocalico/calico/internal/agent/policy/labelindex"
	"github.com/gocalico/calico/internal/datastore/syncer"
	"github.com/gocalico/calico/internal/resources"
	"github.com/gocalico/calico/internal/selector"
)

// Calc turns the datastore's policy resources and endpoints into the
// agent's nftables ruleset for this node. It is pure (no OS access) and
// incremental: a policy edit re-renders that policy's chains and
// re-checks which local endpoints it selects; an endpoint change
// re-checks that endpoint against the policies; IP set contents follow
// the SetIndex. Only policies and profiles that some local endpoint uses
// are rendered. Not safe for concurrent use.
type Calc struct {
	node     string
	prefixes []string
	toHost   EndpointToHost

	tiers    map[string]*v3.TierSpec
	policies map[string]*policy // by ID
	profiles map[string]*v3.ProfileSpec
	locals   map[string]*local // by "<namespace>/<name>"
	sets     SetIndex

	// Rendered: chains of active policies and profiles, with the sets
	// each uses; endpoint chains by endpoint key.
	polChains  map[string]*rendered
	profChains map[string]*rendered
	epChains   map[string]*rendered
	setRefs    map[string]int
	setDefs    map[string]setDef
	dirtyEPs   map[string]bool
	dirtyPols  map[string]bool
	dirtyProfs map[string]bool
	allDirty   bool
	bases      []*nft.Chain // the base chains, for the current configuration
	// builtSets are the nftables sets as last built; a set whose
	// members change is dropped from here and built again.
	builtSets map[string]*nft.Set

	// Problems are the render errors by resource, for logs and status.
	Problems map[string]string
}

type setDef struct {
	key    SetKey
	family int
}

type rendered struct {
	chains []*nft.Chain
	sets   []string
}

// policy is a GlobalNetworkPolicy or NetworkPolicy, decoded.
type policy struct {
	id, kind, namespace, name string
	tier                      string
	order                     *float64
	sel                       selector.Selector // nil: could not parse (fails closed)
	selErr                    error
	ingress, egress           []v3.Rule
	doIngress, doEgress       bool
	sortKey                   string
}

// local is one of this node's workload endpoints.
type local struct {
	key      string
	iface    string
	labels   map[string]string
	profiles []string
	addrs    []netip.Prefix
	spoofed  []netip.Prefix
	mac      net.HardwareAddr
	matches  map[string]bool // policy IDs whose selector matches
}

// NewCalc returns an empty Calc for a node. IP set contents come from
// the incremental label index; newSets, when not nil, makes another
// SetIndex instead (tests use the scanning one as a reference), given the
// function to call when a set's members change.
func NewCalc(node string, newSets func(changed func(setID string)) SetIndex) *Calc {
	c := &Calc{
		node: node, prefixes: []string{"cali"}, toHost: ToHostDrop,
		tiers: map[string]*v3.TierSpec{}, policies: map[string]*policy{}, profiles: map[string]*v3.ProfileSpec{},
		locals:    map[string]*local{},
		polChains: map[string]*rendered{}, profChains: map[string]*rendered{}, epChains: map[string]*rendered{},
		setRefs: map[string]int{}, setDefs: map[string]setDef{},
		dirtyEPs: map[string]bool{}, dirtyPols: map[string]bool{}, dirtyProfs: map[string]bool{},
		Problems:  map[string]string{},
		builtSets: map[string]*nft.Set{},
	}
	changed := func(id string) { delete(c.builtSets, id) }
	if newSets == nil {
		c.sets = labelindex.NewIPSets(func(id string, _ labelindex.Member, _ bool) { changed(id) })
	} else {
		c.sets = newSets(changed)
	}
	return c
}

// SetConfig sets the workload interface prefixes and what happens to
// workload-to-host traffic.
func (c *Calc) SetConfig(prefixes []string, toHost EndpointToHost) {
	if !slices.Equal(prefixes, c.prefixes) || toHost != c.toHost {
		c.prefixes, c.toHost = slices.Clone(prefixes), toHost
		c.allDirty = true
		c.bases = nil
	}
}

// OnUpdates folds syncer updates in; it reports whether the ruleset may
// have changed.
func (c *Calc) OnUpdates(updates []syncer.Update) bool {
	changed := false
	for _, u := range updates {
		info, ns, name, ok := resources.ParseKey(u.Key)
		if !ok {
			continue
		}
		del := u.Type == syncer.UpdateDeleted
		switch info.Kind {
		case v3.KindTier:
			t, ok := u.Value.(*v3.Tier)
			if del || !ok {
				delete(c.tiers, name)
			} else {
				c.tiers[name] = &t.Spec
			}
			c.allDirty = true
		case v3.KindGlobalNetworkPolicy:
			p, ok := u.Value.(*v3.GlobalNetworkPolicy)
			id := "g-" + name
			if del || !ok {
				c.deletePolicy(id)
			} else {
				s := &p.Spec
				c.setPolicy(newPolicy(id, info.Kind, "", name, s.Tier, s.Order, s.Selector, s.NamespaceSelector, s.ServiceAccountSelector, s.Types, s.Ingress, s.Egress))
			}
		case v3.KindNetworkPolicy:
			p, ok := u.Value.(*v3.NetworkPolicy)
			id := "n-" + ns + "." + name
			if del || !ok {
				c.deletePolicy(id)
			} else {
				s := &p.Spec
				c.setPolicy(newPolicy(id, info.Kind, ns, name, s.Tier, s.Order, s.Selector, "", s.ServiceAccountSelector, s.Types, s.Ingress, s.Egress))
			}
		case v3.KindProfile:
			p, ok := u.Value.(*v3.Profile)
			if del || !ok {
				delete(c.profiles, name)
				c.sets.DeleteParent(name)
			} else {
				c.profiles[name] = &p.Spec
				c.sets.UpdateParent(name, p.Spec.LabelsToApply)
			}
			c.dirtyProfs[name] = true
			for k, l := range c.locals {
				if slices.Contains(l.profiles, name) {
					c.matchLocal(l)
					c.dirtyEPs[k] = true
				}
			}
		case v3.KindWorkloadEndpoint:
			id := "wep:" + ns + "/" + name
			w, ok := u.Value.(*v3.WorkloadEndpoint)
			if del || !ok {
				c.sets.DeleteItem(id)
				c.deleteLocal(ns + "/" + name)
			} else {
				addrs := parsePrefixes(w.Spec.IPNetworks)
				var ports []NamedPort
				for _, p := range w.Spec.Ports {
					if n, ok := p.Protocol.Number(); ok && p.Name != "" {
						ports = append(ports, NamedPort{Name: p.Name, Proto: n, Port: p.Port})
					}
				}
				labels := endpointLabels(ns, w)
				c.sets.UpdateItem(id, labels, w.Spec.Profiles, addrs, ports)
				if w.Spec.Node == c.node {
					c.setLocal(ns+"/"+name, w, labels, addrs)
				} else {
					c.deleteLocal(ns + "/" + name)
				}
			}
		case v3.KindNetworkSet, v3.KindGlobalNetworkSet:
			id := "ns:" + ns + "/" + name
			var labels map[string]string
			var nets []string
			var parents []string
			switch s := u.Value.(type) {
			case *v3.NetworkSet:
				labels, nets = withLabel(s.Metadata.Labels, LabelNamespace, ns), s.Spec.Nets
				parents = []string{"kns." + ns}
			case *v3.GlobalNetworkSet:
				labels, nets = s.Metadata.Labels, s.Spec.Nets
			}
			if del || nets == nil && labels == nil {
				c.sets.DeleteItem(id)
			} else {
				c.sets.UpdateItem(id, labels, parents, parsePrefixes(nets), nil)
			}
		default:
			continue
		}
		changed = true
	}
	return changed
}

func withLabel(l map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(l)+1)
	for a, b := range l {
		out[a] = b
	}
	out[k] = v
	return out
}

// endpointLabels are a workload endpoint's labels as selectors see them:
// its own, with the namespace, orchestrator and service account labels
// Calico adds, and without pcns./pcsa. labels (which only profiles may
// give, or an endpoint could claim a namespace's labels).
func endpointLabels(ns string, w *v3.WorkloadEndpoint) map[string]string {
	out := make(map[string]string, len(w.Metadata.Labels)+3)
	for k, v := range w.Metadata.Labels {
		if strings.HasPrefix(k, nsLabelPrefix) || strings.HasPrefix(k, saLabelPrefix) {
			continue
		}
		out[k] = v
	}
	out[LabelNamespace] = ns
	if w.Spec.Orchestrator != "" {
		out["projectcalico.org/orchestrator"] = w.Spec.Orchestrator
	}
	if w.Spec.ServiceAccountName != "" {
		out[LabelServiceAccount] = w.Spec.ServiceAccountName
	}
	return out
}

func parsePrefixes(ss []string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
		} else if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	return out
}

func newPolicy(id, kind, ns, name, tier string, order *float64, sel, nsSel, saSel string, types []v3.PolicyType, in, out []v3.Rule) *policy {
	p := &policy{id: id, kind: kind, namespace: ns, name: name, tier: tier, order: order, ingress: in, egress: out}
	if p.tier == "" {
		p.tier = v3.DefaultTierName
	}
	p.sel, p.selErr = PolicySelector(ns, sel, nsSel, saSel)
	if len(types) == 0 {
		// As upstream's defaulting: ingress, plus egress when it has
		// egress rules.
		p.doIngress = true
		p.doEgress = len(out) > 0
	}
	for _, t := range types {
		switch t {
		case v3.PolicyTypeIngress:
			p.doIngress = true
		case v3.PolicyTypeEgress:
			p.doEgress = true
		}
	}
	p.sortKey = name + "/" + ns + "/" + kind
	return p
}

func (c *Calc) setPolicy(p *policy) {
	old := c.policies[p.id]
	c.policies[p.id] = p
	c.dirtyPols[p.id] = true
	// Endpoint chains name policies by ID in tier and order: they change
	// only when one of those, the directions or the matches change.
	placed := old != nil && old.tier == p.tier && sameOrder(old.order, p.order) &&
		old.doIngress == p.doIngress && old.doEgress == p.doEgress && (old.sel == nil) == (p.sel == nil)
	for k, l := range c.locals {
		was := l.matches[p.id]
		now := c.applies(p, l)
		if now {
			l.matches[p.id] = true
		} else {
			delete(l.matches, p.id)
		}
		if was != now || (now && !placed) {
			c.dirtyEPs[k] = true
		}
	}
}

func sameOrder(a, b *float64) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}

func (c *Calc) deletePolicy(id string) {
	if _, ok := c.policies[id]; !ok {
		return
	}
	delete(c.policies, id)
	c.dirtyPols[id] = true
	for k, l := range c.locals {
		if l.matches[id] {
			delete(l.matches, id)
			c.dirtyEPs[k] = true
		}
	}
}

// applies: the policy's selector matches the endpoint's labels (own,
// then its profiles'). A policy whose selector cannot be parsed applies
// to every endpoint in its scope, and its chains drop: it fails closed.
func (c *Calc) applies(p *policy, l *local) bool {
	if p.sel == nil {
		return p.namespace == "" || strings.HasPrefix(l.key, p.namespace+"/")
	}
	return p.sel.EvaluateLabels(c.effective(l))
}

func (c *Calc) effective(l *local) selector.Labels {
	return profileLabels{own: l.labels, profiles: l.profiles, c: c}
}

type profileLabels struct {
	own      map[string]string
	profiles []string
	c        *Calc
}

func (l profileLabels) Get(k string) (string, bool) {
	if v, ok := l.own[k]; ok {
		return v, true
	}
	for _, p := range l.profiles {
		if s := l.c.profiles[p]; s != nil {
			if v, ok := s.LabelsToApply[k]; ok {
				return v, true
			}
		}
	}
	return "", false
}

func (c *Calc) setLocal(key string, w *v3.WorkloadEndpoint, labels map[string]string, addrs []netip.Prefix) {
	l := &local{key: key, iface: w.Spec.InterfaceName, labels: labels, profiles: slices.Clone(w.Spec.Profiles),
		addrs: addrs, spoofed: parsePrefixes(w.Spec.AllowSpoofedSourcePrefixes), matches: map[string]bool{}}
	if mac, err := net.ParseMAC(w.Spec.MAC); err == nil && w.Spec.MAC != "" {
		l.mac = mac
	}
	c.locals[key] = l
	c.matchLocal(l)
	c.dirtyEPs[key] = true
}

func (c *Calc) matchLocal(l *local) {
	clear(l.matches)
	for id, p := range c.policies {
		if c.applies(p, l) {
			l.matches[id] = true
		}
	}
}

func (c *Calc) deleteLocal(key string) {
	if _, ok := c.locals[key]; ok {
		delete(c.locals, key)
		c.dirtyEPs[key] = true
	}
}

// setNamer hands out set names while one chain is rendered and collects
// which it used.
type setNamer struct {
	c    *Calc
	used []string
}

func (n *setNamer) SetName(k SetKey, sel selector.Selector, family int) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%s\x00%d", k.Selector, k.NamedPort, k.Proto)))
	kind := "s"
	if k.NamedPort != "" {
		kind = "np"
	}
	name := fmt.Sprintf("%s%d-%s", kind, family, strings.ToLower(base32.StdEncoding.EncodeToString(sum[:10])))
	if _, ok := n.c.setDefs[name]; !ok {
		n.c.setDefs[name] = setDef{key: k, family: family}
		n.c.sets.AddSet(name, sel, k.NamedPort, k.Proto)
	}
	if !slices.Contains(n.used, name) {
		n.used = append(n.used, name)
	}
	return name
}

// ref and unref count the rendered chains using each set; a set no chain
// uses is dropped from the index.
func (c *Calc) ref(names []string) {
	for _, n := range names {
		c.setRefs[n]++
	}
}

func (c *Calc) unref(names []string) {
	for _, n := range names {
		if c.setRefs[n]--; c.setRefs[n] <= 0 {
			delete(c.setRefs, n)
			delete(c.setDefs, n)
			delete(c.builtSets, n)
			c.sets.RemoveSet(n)
		}
	}
}

// renderPolicy renders a policy's two chains. A rule that cannot be
// enforced as written makes the whole policy drop everything (and is
// reported): it never allows more than it says.
func (c *Calc) renderPolicy(p *policy) *rendered {
	n := &setNamer{c: c}
	in := &nft.Chain{Name: polInPrefix + p.id}
	out := &nft.Chain{Name: polOutPrefix + p.id}
	err := p.selErr
	if err == nil {
		for _, d := range []struct {
			chain *nft.Chain
			rules []v3.Rule
			dir   string
		}{{in, p.ingress, "ingress"}, {out, p.egress, "egress"}} {
			ctx := &ruleCtx{sets: n, namespace: p.namespace, comment: fmt.Sprintf("%s/%s:%s:", strings.ToLower(p.kind[:1]), p.id, d.dir[:2])}
			for i := range d.rules {
				rs, rerr := renderRule(ctx, fmt.Sprintf("spec.%s[%d]", d.dir, i), &d.rules[i], i)
				if rerr != nil {
					err = rerr
					break
				}
				d.chain.Rules = append(d.chain.Rules, rs...)
			}
		}
	}
	key := fmt.Sprintf("%s %s", p.kind, strings.TrimPrefix(p.namespace+"/"+p.name, "/"))
	if err != nil {
		c.Problems[key] = err.Error()
		deny := nft.Rule{Counter: true, Verdict: nft.Verdict{Kind: nft.VerdictDrop}, Comment: "invalid-policy"}
		in.Rules, out.Rules = []nft.Rule{deny}, []nft.Rule{deny}
		c.unrefLater(n.used)
		n.used = nil
	} else {
		delete(c.Problems, key)
	}
	return &rendered{chains: []*nft.Chain{in, out}, sets: n.used}
}

// unrefLater drops sets registered by a render that was abandoned.
func (c *Calc) unrefLater(names []string) {
	for _, s := range names {
		if c.setRefs[s] == 0 {
			delete(c.setDefs, s)
			delete(c.builtSets, s)
			c.sets.RemoveSet(s)
		}
	}
}

func (c *Calc) renderProfile(name string, s *v3.ProfileSpec) *rendered {
	n := &setNamer{c: c}
	in := &nft.Chain{Name: profInPrefix + name}
	out := &nft.Chain{Name: profOutPrefix + name}
	var err error
	for _, d := range []struct {
		chain *nft.Chain
		rules []v3.Rule
		dir   string
	}{{in, s.Ingress, "ingress"}, {out, s.Egress, "egress"}} {
		ctx := &ruleCtx{sets: n, profile: true, comment: fmt.Sprintf("pr/%s:%s:", name, d.dir[:2])}
		for i := range d.rules {
			rs, rerr := renderRule(ctx, fmt.Sprintf("spec.%s[%d]", d.dir, i), &d.rules[i], i)
			if rerr != nil {
				err = rerr
				break
			}
			d.chain.Rules = append(d.chain.Rules, rs...)
		}
	}
	if err != nil {
		c.Problems["Profile "+name] = err.Error()
		deny := nft.Rule{Counter: true, Verdict: nft.Verdict{Kind: nft.VerdictDrop}, Comment: "invalid-profile"}
		in.Rules, out.Rules = []nft.Rule{deny}, []nft.Rule{deny}
		c.unrefLater(n.used)
		n.used = nil
	} else {
		delete(c.Problems, "Profile "+name)
	}
	return &rendered{chains: []*nft.Chain{in, out}, sets: n.used}
}

// tierOrder sorts tiers: existing tiers by order (unset last), then
// name; tiers only named by a policy after them all.
func (c *Calc) tierLess(a, b string) int {
	ta, oka := c.tiers[a]
	tb, okb := c.tiers[b]
	if oka != okb {
		if oka {
			return -1
		}
		return 1
	}
	oa, ob := math.Inf(1), math.Inf(1)
	if oka && ta.Order != nil {
		oa = *ta.Order
	}
	if okb && tb.Order != nil {
		ob = *tb.Order
	}
	if oa != ob {
		return cmp.Compare(oa, ob)
	}
	return strings.Compare(a, b)
}

func policyLess(a, b *policy) int {
	oa, ob := math.Inf(1), math.Inf(1)
	if a.order != nil {
		oa = *a.order
	}
	if b.order != nil {
		ob = *b.order
	}
	if oa != ob {
		return cmp.Compare(oa, ob)
	}
	return strings.Compare(a.sortKey, b.sortKey)
}

// resolve is one local endpoint's tiers per direction.
func (c *Calc) resolve(l *local) *Endpoint {
	e := &Endpoint{Iface: l.iface, Addrs: l.addrs, AllowSpoofed: l.spoofed, MAC: l.mac}
	var pols []*policy
	for id := range l.matches {
		pols = append(pols, c.policies[id])
	}
	slices.SortFunc(pols, func(a, b *policy) int {
		if a.tier != b.tier {
			return c.tierLess(a.tier, b.tier)
		}
		return policyLess(a, b)
	})
	add := func(tiers []TierRef, p *policy) []TierRef {
		if n := len(tiers); n == 0 || tiers[n-1].Name != p.tier {
			t := TierRef{Name: p.tier}
			if s, ok := c.tiers[p.tier]; ok && s.DefaultAction != nil && *s.DefaultAction == v3.Pass {
				t.Pass = true
			}
			tiers = append(tiers, t)
		}
		tiers[len(tiers)-1].Policies = append(tiers[len(tiers)-1].Policies, p.id)
		return tiers
	}
	for _, p := range pols {
		if p.doIngress || p.sel == nil {
			e.Ingress = add(e.Ingress, p)
		}
		if p.doEgress || p.sel == nil {
			e.Egress = add(e.Egress, p)
		}
	}
	for _, p := range l.profiles {
		if _, ok := c.profiles[p]; ok || p == v3.DefaultAllowProfileName {
			e.Profiles = append(e.Profiles, p)
		}
	}
	return e
}

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
		if l.iface == "" || !c.managed(l.iface) {
			continue
		}
		if _, taken := ifaceOwner[l.iface]; taken {
			c.Problems["WorkloadEndpoint "+k] = fmt.Sprintf("interface %s is claimed by %s too; its policy applies", l.iface, ifaceOwner[l.iface])
			continue
		}
		delete(c.Problems, "WorkloadEndpoint "+k)
		ifaceOwner[l.iface] = k
		for id := range l.matches {
			usedPols[id] = true
		}
		for _, p := range l.profiles {
			usedProfs[p] = true
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
	// Endpoint chains.
	for k := range c.epChains {
		if _, ok := c.locals[k]; !ok || ifaceOwner[c.locals[k].iface] != k {
			delete(c.epChains, k)
		}
	}
	for k := range c.dirtyEPs {
		if l, ok := c.locals[k]; ok && ifaceOwner[l.iface] == k {
			from, to := endpointChains(c.resolve(l))
			c.epChains[k] = &rendered{chains: []*nft.Chain{from, to}}
		}
	}
	clear(c.dirtyEPs)

	rs := &nft.Ruleset{Table: TableName, Chains: map[string]*nft.Chain{}, Sets: map[string]*nft.Set{}, Maps: map[string]*nft.Map{}}
	if c.bases == nil {
		c.bases = baseChains(c.prefixes, c.toHost)
	}
	for _, ch := range c.bases {
		rs.Chains[ch.Name] = ch
	}
	from := &nft.Map{Name: mapFromWL, Type: nft.TypeIfname, Elements: map[string]nft.Verdict{}}
	to := &nft.Map{Name: mapToWL, Type: nft.TypeIfname, Elements: map[string]nft.Verdict{}}
	rs.Maps[from.Name], rs.Maps[to.Name] = from, to
	for iface, k := range ifaceOwner {
		r := c.epChains[k]
		for _, ch := range r.chains {
			rs.Chains[ch.Name] = ch
		}
		from.Elements[iface] = nft.Verdict{Kind: nft.VerdictJump, Chain: fromWLPrefix + iface}
		to.Elements[iface] = nft.Verdict{Kind: nft.VerdictJump, Chain: toWLPrefix + iface}
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
