package policy

import (
	"cmp"
	"fmt"
	"math"
	"net"
	"net/netip"
	"slices"
	"strings"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/agent/config"
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
	cfg      Config
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
	walks      map[string]*nft.Chain // shared tier walks by name (see endpointChains)
	setRefs    map[string]int
	setDefs    map[string]setDef
	dirtyEPs   map[string]bool
	dirtyPols  map[string]bool
	dirtyProfs map[string]bool
	allDirty   bool
	bases      []*nft.Chain // the base chains, for the current configuration
	basesFor   hostDispatch // and host endpoints
	basesStale bool         // the configuration changed: make them anew
	// out is the table as last returned by Ruleset, kept up to date
	// piece by piece.
	out *nft.Ruleset
	// changes records what the next Ruleset changes since the last one
	// (see nft.Changes), for the applier.
	changes *nft.Changes
	// ifaceOwner and hostOwner: the key of the workload (host) endpoint
	// that polices each interface; ownersDirty: work them out again (an
	// endpoint came, went or changed interface).
	ifaceOwner, hostOwner map[string]string
	ownersDirty           bool
	// hostIfaces: the interfaces each host endpoint polices (several for
	// one matched by expectedIPs alone), from hostOwner.
	hostIfaces map[string][]string
	// hostAddrs: the host's interfaces' addresses (SetHostAddrs), which
	// host endpoints without interfaceName are matched to.
	hostAddrs map[string][]netip.Addr
	// mapsDirty: build the dispatch maps again (the owners changed).
	mapsDirty bool
	// polUse, profUse and walkUse count the rendered endpoints that use
	// each policy, profile and walk; only those in use are rendered.
	polUse, profUse, walkUse map[string]int
	// setsDirty are the sets to build again (members or definition
	// changed).
	setsDirty map[string]bool

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
	// pols and profs: the policies and profiles an endpoint's chains
	// use.
	pols, profs []string
	// stages: a host endpoint's chains of the stages before normal
	// policy.
	stages hostStages
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
	// applyOnForward (GlobalNetworkPolicy): the policy also applies to
	// traffic forwarded through the host endpoints it selects.
	applyOnForward bool
	// passIn and passOut: a rule of that direction has action Pass
	// (the walk then checks the pass bit after the policy).
	passIn, passOut bool
	// stage is where the policy applies: normal policy, or (host
	// endpoints only) before conntrack or before DNAT.
	stage stage
}

// stage is where in a packet's path a policy applies (see
// hostendpoints.go).
type stage uint8

const (
	stageNormal stage = iota
	// stageUntracked: doNotTrack GlobalNetworkPolicies, before
	// conntrack on the host endpoints they select.
	stageUntracked
	// stagePreDNAT: preDNAT GlobalNetworkPolicies, ingress only, before
	// DNAT on the host endpoints they select.
	stagePreDNAT
)

// problemKey names the policy in Problems.
func (p *policy) problemKey() string {
	return fmt.Sprintf("%s %s", p.kind, strings.TrimPrefix(p.namespace+"/"+p.name, "/"))
}

// local is one of this node's workload endpoints or host endpoints.
type local struct {
	key string // "<namespace>/<name>" for a workload, "/<name>" for a host endpoint
	// host: a host endpoint; iface is then an interface name, "*" for
	// all interfaces, or "" (expectedIPs only: not enforced).
	host     bool
	iface    string
	labels   map[string]string
	profiles []string
	addrs    []netip.Prefix
	spoofed  []netip.Prefix
	mac      net.HardwareAddr
	matches  map[string]bool // policy IDs whose selector matches
}

// problemKey names the endpoint in Problems.
func (l *local) problemKey() string {
	if l.host {
		return "HostEndpoint " + strings.TrimPrefix(l.key, "/")
	}
	return "WorkloadEndpoint " + l.key
}

// NewCalc returns an empty Calc for a node. IP set contents come from
// the incremental label index; newSets, when not nil, makes another
// SetIndex instead (tests use the scanning one as a reference), given the
// function to call when a set's members change.
func NewCalc(node string, newSets func(changed func(setID string)) SetIndex) *Calc {
	c := &Calc{
		node: node, prefixes: []string{"cali"}, toHost: ToHostDrop,
		cfg: Config{InterfacePrefixes: []string{"cali"}, EndpointToHost: ToHostDrop,
			FailsafeInbound:  slices.Clone(config.DefaultFailsafeInbound),
			FailsafeOutbound: slices.Clone(config.DefaultFailsafeOutbound)},
		tiers: map[string]*v3.TierSpec{}, policies: map[string]*policy{}, profiles: map[string]*v3.ProfileSpec{},
		locals:    map[string]*local{},
		polChains: map[string]*rendered{}, profChains: map[string]*rendered{}, epChains: map[string]*rendered{},
		walks:   map[string]*nft.Chain{},
		setRefs: map[string]int{}, setDefs: map[string]setDef{},
		dirtyEPs: map[string]bool{}, dirtyPols: map[string]bool{}, dirtyProfs: map[string]bool{},
		Problems:   map[string]string{},
		out:        &nft.Ruleset{Table: TableName, Chains: map[string]*nft.Chain{}, Sets: map[string]*nft.Set{}, Maps: map[string]*nft.Map{}},
		ifaceOwner: map[string]string{}, hostOwner: map[string]string{}, hostIfaces: map[string][]string{},
		ownersDirty: true, mapsDirty: true,
		polUse: map[string]int{}, profUse: map[string]int{}, walkUse: map[string]int{},
		setsDirty: map[string]bool{},
		changes:   newChanges(nft.NewLineage(), 0),
	}
	changed := func(id string) { c.setsDirty[id] = true }
	if newSets == nil {
		c.sets = labelindex.NewIPSets(func(id string, _ labelindex.Member, _ bool) { changed(id) })
	} else {
		c.sets = newSets(changed)
	}
	return c
}

// Config is the part of the agent's configuration that shapes the
// ruleset.
type Config struct {
	// InterfacePrefixes name the workload interfaces.
	InterfacePrefixes []string
	// EndpointToHost: defaultEndpointToHostAction.
	EndpointToHost EndpointToHost
	// FailsafeInbound and FailsafeOutbound are the host ports that host
	// endpoint policy never blocks: traffic to these destination ports
	// arriving on (leaving by) a host endpoint is accepted before its
	// policy, from (to) Net when it is set. NewCalc starts with
	// upstream's defaults (config.DefaultFailsafeInbound/Outbound).
	FailsafeInbound, FailsafeOutbound []config.ProtoPort
	// AllowSpoofing: workloadSourceSpoofing is Any, so a workload may
	// also send from its endpoint's allowSpoofedSourcePrefixes (ignored
	// otherwise, as upstream).
	AllowSpoofing bool
}

func (a *Config) equal(b *Config) bool {
	return slices.Equal(a.InterfacePrefixes, b.InterfacePrefixes) && a.EndpointToHost == b.EndpointToHost &&
		a.AllowSpoofing == b.AllowSpoofing &&
		slices.Equal(a.FailsafeInbound, b.FailsafeInbound) && slices.Equal(a.FailsafeOutbound, b.FailsafeOutbound)
}

// ConfigFrom picks the policy configuration out of the agent's.
func ConfigFrom(c *config.Config) Config {
	return Config{
		InterfacePrefixes: slices.Clone(c.InterfacePrefixes),
		EndpointToHost:    EndpointToHost(c.DefaultEndpointToHostAction),
		FailsafeInbound:   slices.Clone(c.FailsafeInbound),
		FailsafeOutbound:  slices.Clone(c.FailsafeOutbound),
		AllowSpoofing:     c.WorkloadSourceSpoofing,
	}
}

// SetConfig sets the configuration; a change re-renders the ruleset,
// and SetConfig reports it.
func (c *Calc) SetConfig(cfg Config) bool {
	if cfg.equal(&c.cfg) {
		return false
	}
	c.cfg = cfg
	c.prefixes, c.toHost = slices.Clone(cfg.InterfacePrefixes), cfg.EndpointToHost
	c.allDirty, c.basesStale = true, true
	return true
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
		unreadable := "unreadable " + u.Key
		if u.Invalid {
			// A value that does not decode: deleting what it replaced
			// could open traffic (a deny policy or a network set in a
			// deny rule gone), so the last readable version stays in
			// force. Only a local endpoint goes: its interface is then
			// unknown and dropped, which fails closed.
			if _, isLocal := c.locals[ns+"/"+name]; !(info.Kind == v3.KindWorkloadEndpoint && isLocal) {
				c.Problems[unreadable] = "the value in the datastore cannot be read; the last readable version stays in force"
				continue
			}
		}
		delete(c.Problems, unreadable)
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
				pol := newPolicy(id, info.Kind, "", name, s.Tier, s.Order, s.Selector, s.NamespaceSelector, s.ServiceAccountSelector, s.Types, s.Ingress, s.Egress)
				pol.applyOnForward = s.ApplyOnForward
				switch {
				case s.DoNotTrack:
					pol.stage = stageUntracked
				case s.PreDNAT:
					// Ingress only: validation rejects egress rules, and
					// what slips into etcd is never used (resolveHost).
					pol.stage = stagePreDNAT
				}
				c.setPolicy(pol)
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
		case v3.KindHostEndpoint:
			h, ok := u.Value.(*v3.HostEndpoint)
			c.onHostEndpoint(name, h, del || !ok)
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

// parsePrefixes reads an endpoint's or network set's addresses, leaving
// out what is not a CIDR or address (written around validation): an
// address left out is matched by nothing.
func parsePrefixes(ss []string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		if p, err := parsePrefix(strings.TrimSpace(s)); err == nil {
			out = append(out, p)
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
	p.passIn, p.passOut = hasPass(in), hasPass(out)
	return p
}

func (c *Calc) setPolicy(p *policy) {
	old := c.policies[p.id]
	c.policies[p.id] = p
	c.dirtyPols[p.id] = true
	// Endpoint chains name policies by ID in tier and order: they change
	// only when one of those, the directions or the matches change.
	placed := old != nil && old.tier == p.tier && sameOrder(old.order, p.order) &&
		old.doIngress == p.doIngress && old.doEgress == p.doEgress && (old.sel == nil) == (p.sel == nil) &&
		old.applyOnForward == p.applyOnForward && old.passIn == p.passIn && old.passOut == p.passOut && old.stage == p.stage
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

func hasPass(rules []v3.Rule) bool {
	return slices.ContainsFunc(rules, func(r v3.Rule) bool { return r.Action == v3.Pass })
}

func sameOrder(a, b *float64) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}

func (c *Calc) deletePolicy(id string) {
	p, ok := c.policies[id]
	if !ok {
		return
	}
	delete(c.Problems, p.problemKey())
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
// doNotTrack and preDNAT policies apply to host endpoints only, as
// upstream; the "*" endpoint ignores doNotTrack ones.
func (c *Calc) applies(p *policy, l *local) bool {
	if p.stage != stageNormal && (!l.host || p.stage == stageUntracked && l.iface == ifaceAll) {
		return false
	}
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
	c.putLocal(l)
	c.matchLocal(l)
	c.dirtyEPs[key] = true
}

// putLocal adds or replaces a local endpoint; the interface owners are
// worked out again if it is new, its interface changed, or it is a host
// endpoint matched by address whose addresses changed.
func (c *Calc) putLocal(l *local) {
	if old, ok := c.locals[l.key]; !ok || old.iface != l.iface || old.host != l.host ||
		l.host && l.iface == "" && !slices.Equal(old.addrs, l.addrs) {
		c.ownersDirty = true
	}
	c.locals[l.key] = l
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
	if l, ok := c.locals[key]; ok {
		delete(c.Problems, l.problemKey())
		delete(c.locals, key)
		c.dirtyEPs[key] = true
		c.ownersDirty = true
	}
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
	e := &Endpoint{Iface: l.iface, Addrs: l.addrs, MAC: l.mac}
	if c.cfg.AllowSpoofing {
		e.AllowSpoofed = l.spoofed
	}
	e.Ingress, e.Egress = c.tiersOf(l, normal)
	e.Profiles = c.profilesOf(l)
	return e
}

// normal keeps the policies of the normal stage.
func normal(p *policy) bool { return p.stage == stageNormal }

// tiersOf sorts the policies that apply to l (those keep accepts, when
// keep is not nil) into tiers, per direction. A policy whose selector
// could not be parsed sits in both directions.
func (c *Calc) tiersOf(l *local, keep func(*policy) bool) (ingress, egress []TierRef) {
	var pols []*policy
	for id := range l.matches {
		if p := c.policies[id]; keep == nil || keep(p) {
			pols = append(pols, p)
		}
	}
	slices.SortFunc(pols, func(a, b *policy) int {
		if a.tier != b.tier {
			return c.tierLess(a.tier, b.tier)
		}
		return policyLess(a, b)
	})
	add := func(tiers []TierRef, p *policy, pass bool) []TierRef {
		if n := len(tiers); n == 0 || tiers[n-1].Name != p.tier {
			t := TierRef{Name: p.tier}
			if s, ok := c.tiers[p.tier]; ok && s.DefaultAction != nil && *s.DefaultAction == v3.Pass {
				t.Pass = true
			}
			tiers = append(tiers, t)
		}
		t := &tiers[len(tiers)-1]
		if pass {
			t.Passes = append(t.Passes, make([]bool, len(t.Policies)-len(t.Passes))...)
			t.Passes = append(t.Passes, true)
		}
		t.Policies = append(t.Policies, p.id)
		return tiers
	}
	for _, p := range pols {
		if p.doIngress || p.sel == nil {
			ingress = add(ingress, p, p.passIn)
		}
		if p.doEgress || p.sel == nil {
			egress = add(egress, p, p.passOut)
		}
	}
	return ingress, egress
}

// profilesOf: the endpoint's profiles that exist, in order.
func (c *Calc) profilesOf(l *local) []string {
	var out []string
	for _, p := range l.profiles {
		if _, ok := c.profiles[p]; ok || p == v3.DefaultAllowProfileName {
			out = append(out, p)
		}
	}
	return out
}
