package policy

import (
	"fmt"
	"maps"
	"slices"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/datastore/syncer"
	"github.com/gocalico/calico/internal/resources"
)

// PolicyResources are the resources that decide which policies select an
// endpoint, and in what order: every Tier, GlobalNetworkPolicy and
// Profile, and the NetworkPolicies (those of other namespaces may be
// included; they never select the endpoint). Nil entries are skipped.
type PolicyResources struct {
	Tiers                 []*v3.Tier
	GlobalNetworkPolicies []*v3.GlobalNetworkPolicy
	NetworkPolicies       []*v3.NetworkPolicy
	Profiles              []*v3.Profile
}

// SelectingPolicy is one policy that selects an endpoint.
type SelectingPolicy struct {
	Tier string
	// Kind is v3.KindGlobalNetworkPolicy or v3.KindNetworkPolicy;
	// Namespace is set for a NetworkPolicy only.
	Kind, Namespace, Name string
	// Ingress and Egress are the directions the policy applies to, from
	// its types (defaulted as the agent does when it has none).
	Ingress, Egress bool
	// Invalid, when not empty, says why the policy's selector could not
	// be parsed. Such a policy applies to every endpoint in its scope
	// (its namespace, or all for a GlobalNetworkPolicy), in both
	// directions, and drops everything: it fails closed.
	Invalid string
	// Stage is "doNotTrack" or "preDNAT" for a GlobalNetworkPolicy of
	// that kind (host endpoints only), run before conntrack or before
	// DNAT; "" for normal policy.
	Stage string
}

// Matcher finds the policies that select endpoints. It feeds the
// resources to a Calc, so that policies are decoded, matched and ordered
// by the agent's own code: what it reports is what the agent enforces.
// It is pure and, once built, safe for concurrent use.
type Matcher struct {
	calc  *Calc
	pols  []*policy         // in evaluation order
	shown map[string]string // the names policies are shown by, by ID
}

// NewMatcher prepares res for matching: selectors are parsed and
// policies sorted once, however many endpoints are matched. Resources
// that have no datastore key (no name) are skipped.
func NewMatcher(res PolicyResources) *Matcher {
	var rs []v3.Resource
	for _, t := range res.Tiers {
		if t != nil {
			rs = append(rs, t)
		}
	}
	for _, p := range res.Profiles {
		if p != nil {
			rs = append(rs, p)
		}
	}
	for _, p := range res.GlobalNetworkPolicies {
		if p != nil {
			rs = append(rs, p)
		}
	}
	for _, p := range res.NetworkPolicies {
		if p != nil {
			rs = append(rs, p)
		}
	}
	// The agent sees policies by their etcd key, which holds the name a
	// policy is stored under ("default.allow-web" for "allow-web"):
	// that name breaks ties in the order, and is remembered here to be
	// shown as the user wrote it.
	type keyName struct{ kind, ns, name string }
	written := map[keyName]string{}
	ups := make([]syncer.Update, 0, len(rs))
	for _, r := range rs {
		key, err := resources.KeyOf(r)
		if err != nil {
			continue
		}
		info, ns, name, ok := resources.ParseKey(key)
		if !ok {
			continue
		}
		written[keyName{info.Kind, ns, name}] = r.GetObjectMeta().Name
		ups = append(ups, syncer.Update{Type: syncer.UpdateNew, Key: key, Value: r})
	}
	c := NewCalc("", nil)
	c.OnUpdates(ups)
	m := &Matcher{calc: c, shown: map[string]string{}}
	for id, p := range c.policies {
		m.pols = append(m.pols, p)
		m.shown[id] = written[keyName{p.kind, p.namespace, p.name}]
	}
	// As Calc.resolve: tier order, then policy order, then stored name.
	slices.SortFunc(m.pols, func(a, b *policy) int {
		if a.tier != b.tier {
			return c.tierLess(a.tier, b.tier)
		}
		return policyLess(a, b)
	})
	return m
}

// Selecting returns the policies that select ep, a *v3.WorkloadEndpoint
// or *v3.HostEndpoint, in evaluation order: by tier, then by order
// within the tier (unset last), then by the name the policy is stored
// under (v3.StoragePolicyName). An endpoint's labels are its own, those
// Calico adds to a workload (namespace, orchestrator, service account),
// then those its profiles apply. A NetworkPolicy only ever selects
// workloads of its own namespace, so never a host endpoint. doNotTrack
// and preDNAT policies select host endpoints only (doNotTrack ones not
// the "*" endpoint), and preDNAT ones ingress only.
func (m *Matcher) Selecting(ep v3.Resource) ([]SelectingPolicy, error) {
	var l *local
	switch e := ep.(type) {
	case *v3.WorkloadEndpoint:
		ns := e.Metadata.Namespace
		l = &local{key: ns + "/" + e.Metadata.Name, labels: endpointLabels(ns, e), profiles: e.Spec.Profiles}
	case *v3.HostEndpoint:
		// Host endpoints have no namespace: the key's empty namespace
		// keeps every NetworkPolicy out of scope.
		l = &local{key: "/" + e.Metadata.Name, host: true, iface: e.Spec.InterfaceName, labels: maps.Clone(e.Metadata.Labels), profiles: e.Spec.Profiles}
	default:
		return nil, fmt.Errorf("selecting policies: %T is not a workload or host endpoint", ep)
	}
	var out []SelectingPolicy
	for _, p := range m.pols {
		if !m.calc.applies(p, l) {
			continue
		}
		s := SelectingPolicy{Tier: p.tier, Kind: p.kind, Namespace: p.namespace, Name: m.shown[p.id],
			Ingress: p.doIngress, Egress: p.doEgress}
		if s.Name == "" {
			s.Name = p.name
		}
		switch p.stage {
		case stageUntracked:
			s.Stage = "doNotTrack"
		case stagePreDNAT:
			s.Stage, s.Egress = "preDNAT", false
		}
		if p.sel == nil {
			// As Calc.resolve: an invalid policy sits in both directions.
			s.Invalid = "selector could not be parsed"
			if p.selErr != nil {
				s.Invalid = p.selErr.Error()
			}
			s.Ingress, s.Egress = true, true
		}
		out = append(out, s)
	}
	return out, nil
}

// Selecting returns the policies of res that select ep, in evaluation
// order; see Matcher.Selecting. Use a Matcher for many endpoints.
func Selecting(ep v3.Resource, res PolicyResources) ([]SelectingPolicy, error) {
	return NewMatcher(res).Selecting(ep)
}
