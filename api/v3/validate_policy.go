package v3

import (
	"math"
	"slices"
	"strings"
)

// networkPolicy checks a (staged) NetworkPolicy spec.
func (v *validator) networkPolicy(s *NetworkPolicySpec) {
	v.policyCommon(s.Tier, s.Order, s.Selector, s.ServiceAccountSelector, s.Types, s.PerformanceHints)
	v.rules("spec.ingress", s.Ingress, ruleContext{ingress: true})
	v.rules("spec.egress", s.Egress, ruleContext{})
}

// globalNetworkPolicy checks a (staged) GlobalNetworkPolicy spec.
func (v *validator) globalNetworkPolicy(s *GlobalNetworkPolicySpec) {
	v.policyCommon(s.Tier, s.Order, s.Selector, s.ServiceAccountSelector, s.Types, s.PerformanceHints)
	v.selector("spec.namespaceSelector", s.NamespaceSelector, false)
	v.rules("spec.ingress", s.Ingress, ruleContext{ingress: true, global: true})
	v.rules("spec.egress", s.Egress, ruleContext{global: true})
	if s.DoNotTrack && s.PreDNAT {
		v.add("spec.preDNAT", true, "cannot be combined with doNotTrack")
	}
	if (s.DoNotTrack || s.PreDNAT) && !s.ApplyOnForward {
		v.add("spec.applyOnForward", false, "must be true when doNotTrack or preDNAT is set")
	}
	if s.PreDNAT {
		if len(s.Egress) > 0 {
			v.add("spec.egress", nil, "preDNAT policies cannot have egress rules")
		}
		if slices.Contains(s.Types, PolicyTypeEgress) {
			v.add("spec.types", "Egress", "preDNAT policies cannot apply to egress")
		}
	}
}

// policyNameInTier checks that a policy's name fits its tier as upstream
// requires: a name with a '.' must start with "<tier>." (policies converted
// from Kubernetes or OpenStack excepted), and a plain name is only allowed
// in the default tier, so that every policy has one stored name
// (StoragePolicyName) and policies of different tiers cannot collide.
func (v *validator) policyNameInTier(name, tier string) {
	if name == "" || policyNameIsFormatted(name) {
		return
	}
	if tier == "" {
		tier = DefaultTierName
	}
	prefix, _, dotted := strings.Cut(name, ".")
	switch {
	case dotted && prefix != tier:
		v.add("metadata.name", name, "must start with %q: a policy's name prefix is its tier (spec.tier %q)", tier+".", tier)
	case !dotted && tier != DefaultTierName:
		v.add("metadata.name", name, "must be %q: policies outside the default tier are named <tier>.<name>", tier+"."+name)
	}
}

// policyCommon checks the fields every policy kind shares.
func (v *validator) policyCommon(tier string, order *float64, sel, saSel string, types []PolicyType, hints []PolicyPerformanceHint) {
	if tier != "" && !isDNSLabel(tier, maxLabelLen) {
		v.add("spec.tier", tier, "not a valid tier name")
	}
	if order != nil && (math.IsNaN(*order) || math.IsInf(*order, 0)) {
		v.add("spec.order", *order, "must be a finite number")
	}
	v.selector("spec.selector", sel, false)
	v.selector("spec.serviceAccountSelector", saSel, false)
	seen := map[PolicyType]bool{}
	for i, t := range types {
		p := idx("spec.types", i)
		if t != PolicyTypeIngress && t != PolicyTypeEgress {
			v.add(p, string(t), "must be Ingress or Egress")
		} else if seen[t] {
			v.add(p, string(t), "is listed twice")
		}
		seen[t] = true
	}
	for i, h := range hints {
		if h != PerfHintAssumeNeededOnEveryNode {
			v.add(idx("spec.performanceHints", i), string(h), "must be AssumeNeededOnEveryNode")
		}
	}
}

func (v *validator) stagedAction(a StagedAction) {
	v.oneOf("spec.stagedAction", string(a), "Set", "Delete", "Learn", "Ignore")
}

// profile checks a Profile spec.
func (v *validator) profile(s *ProfileSpec) {
	v.rules("spec.ingress", s.Ingress, ruleContext{ingress: true})
	v.rules("spec.egress", s.Egress, ruleContext{})
	v.labels("spec.labelsToApply", s.LabelsToApply)
}

// tier checks a Tier spec.
func (v *validator) tier(s *TierSpec) {
	if s.Order != nil && (math.IsNaN(*s.Order) || math.IsInf(*s.Order, 0)) {
		v.add("spec.order", *s.Order, "must be a finite number")
	}
	if s.DefaultAction != nil {
		v.oneOf("spec.defaultAction", string(*s.DefaultAction), "Deny", "Pass")
	}
}

// networkSet checks a NetworkSet or GlobalNetworkSet.
func (v *validator) networkSet(m *ObjectMeta, nets []string) {
	if _, ok := m.Labels[LabelNamespace]; ok {
		v.add("metadata.labels["+quote(LabelNamespace)+"]", nil, "is reserved for Calico")
	}
	for i, n := range nets {
		v.cidr(idx("spec.nets", i), n, false)
	}
}
