package v3

import (
	"fmt"
	"testing"
)

// gnpWith returns a valid GlobalNetworkPolicy with the given rules.
func gnpWith(ingress, egress []Rule) *GlobalNetworkPolicy {
	p := NewGlobalNetworkPolicy()
	p.Metadata.Name = "p"
	p.Spec.Ingress = ingress
	p.Spec.Egress = egress
	return p
}

func in(r Rule) Resource  { return gnpWith([]Rule{r}, nil) }
func out(r Rule) Resource { return gnpWith(nil, []Rule{r}) }

func proto(s string) *Protocol {
	p := ProtocolFromString(s)
	return &p
}

func icmp(typ, code *int) *ICMPFields { return &ICMPFields{Type: typ, Code: code} }

func TestValidateRules(t *testing.T) {
	const r0 = "spec.ingress[0]"
	tcp := proto("TCP")
	many := func(n int, f func(i int) string) []string {
		var s []string
		for i := range n {
			s = append(s, f(i))
		}
		return s
	}
	manyPorts := func(n int) []Port {
		var p []Port
		for i := range n {
			p = append(p, SinglePort(uint16(i+1)))
		}
		return p
	}
	runValidation(t, []vcase{
		{"allow", in(Rule{Action: Allow}), nil},
		{"missing action", in(Rule{}), []string{r0 + ".action"}},
		{"bad action", in(Rule{Action: "Reject"}), []string{r0 + ".action"}},
		{"ip version", in(Rule{Action: Log, IPVersion: ptr(5)}), []string{r0 + ".ipVersion"}},
		{"protocol number", in(Rule{Action: Deny, Protocol: proto("17"), NotProtocol: proto("UDPLite")}), nil},
		{"protocol zero", in(Rule{Action: Deny, Protocol: proto("0")}), []string{r0 + ".protocol"}},
		{"protocol lowercase", in(Rule{Action: Deny, NotProtocol: proto("tcp")}), []string{r0 + ".notProtocol"}},
		{"protocol too big", in(Rule{Action: Deny, Protocol: proto("300")}), []string{r0 + ".protocol"}},

		{"icmp ok", in(Rule{Action: Allow, Protocol: proto("ICMP"), IPVersion: ptr(4), ICMP: icmp(ptr(8), ptr(0))}), nil},
		{"icmpv6 number ok", in(Rule{Action: Allow, Protocol: proto("58"), NotICMP: icmp(ptr(128), nil)}), nil},
		{"icmp without protocol", in(Rule{Action: Allow, ICMP: icmp(ptr(8), nil)}), []string{r0 + ".icmp"}},
		{"icmp with tcp", in(Rule{Action: Allow, Protocol: tcp, NotICMP: icmp(ptr(8), nil)}), []string{r0 + ".notICMP"}},
		{"icmp code without type", in(Rule{Action: Allow, Protocol: proto("ICMP"), ICMP: icmp(nil, ptr(1))}), []string{r0 + ".icmp.code"}},
		{"icmp type 255", in(Rule{Action: Allow, Protocol: proto("ICMP"), ICMP: icmp(ptr(255), ptr(256))}), []string{r0 + ".icmp.type", r0 + ".icmp.code"}},
		{"icmp with v6", in(Rule{Action: Allow, Protocol: proto("ICMP"), IPVersion: ptr(6), ICMP: icmp(ptr(8), nil)}), []string{r0 + ".icmp"}},
		{"icmpv6 with v4", in(Rule{Action: Allow, Protocol: proto("ICMPv6"), IPVersion: ptr(4), ICMP: icmp(ptr(8), nil)}), []string{r0 + ".icmp"}},

		{"nets", in(Rule{Action: Allow, Source: EntityRule{Nets: []string{"10.0.0.0/8", "192.168.1.1", "0.0.0.0/0"}, NotNets: []string{"10.1.0.0/16"}}}), nil},
		{"unmasked net", in(Rule{Action: Allow, Source: EntityRule{Nets: []string{"10.0.0.1/8"}}}), []string{r0 + ".source.nets[0]"}},
		{"bad net", in(Rule{Action: Allow, Destination: EntityRule{NotNets: []string{"10.0.0.0/8", "nope"}}}), []string{r0 + ".destination.notNets[1]"}},
		{"notNets all v6", in(Rule{Action: Allow, Source: EntityRule{NotNets: []string{"::/0"}}}), []string{r0 + ".source.notNets[0]"}},
		{"notNets all v4", in(Rule{Action: Allow, Source: EntityRule{NotNets: []string{"0.0.0.0/0"}}}), []string{r0 + ".source.notNets[0]"}},
		{"mixed families", in(Rule{Action: Allow, Source: EntityRule{Nets: []string{"10.0.0.0/8"}}, Destination: EntityRule{Nets: []string{"fd00::/8"}}}), []string{r0}},
		{"net vs ip version", in(Rule{Action: Allow, IPVersion: ptr(6), Source: EntityRule{Nets: []string{"10.0.0.0/8"}}}), []string{r0 + ".source.nets[0]"}},
		{"too many nets", in(Rule{Action: Allow, Source: EntityRule{Nets: many(257, func(i int) string { return fmt.Sprintf("10.0.%d.%d/32", i/256, i%256) })}}), []string{r0 + ".source.nets"}},

		{"ports", in(Rule{Action: Allow, Protocol: tcp, Destination: EntityRule{Ports: []Port{SinglePort(80), PortRange(8000, 8080), NamedPort("http-alt")}, NotPorts: []Port{SinglePort(22)}}}), nil},
		{"ports with protocol number", in(Rule{Action: Allow, Protocol: proto("132"), Destination: EntityRule{Ports: []Port{SinglePort(80)}}}), nil},
		{"named port without protocol", in(Rule{Action: Allow, Destination: EntityRule{Ports: []Port{NamedPort("http")}}}), nil},
		{"numeric port without protocol", in(Rule{Action: Allow, Destination: EntityRule{Ports: []Port{SinglePort(80)}}}), []string{r0 + ".destination.ports[0]"}},
		{"port with icmp", in(Rule{Action: Allow, Protocol: proto("ICMP"), Source: EntityRule{NotPorts: []Port{NamedPort("http")}}}), []string{r0 + ".source.notPorts[0]"}},
		{"port with udplite", in(Rule{Action: Allow, Protocol: proto("UDPLite"), Destination: EntityRule{Ports: []Port{SinglePort(80)}}}), []string{r0 + ".destination.ports[0]"}},
		{"port zero", in(Rule{Action: Allow, Protocol: tcp, Destination: EntityRule{Ports: []Port{SinglePort(0)}}}), []string{r0 + ".destination.ports[0]"}},
		{"reversed range", in(Rule{Action: Allow, Protocol: tcp, Destination: EntityRule{Ports: []Port{SinglePort(1), PortRange(90, 80)}}}), []string{r0 + ".destination.ports[1]"}},
		{"bad port name", in(Rule{Action: Allow, Protocol: tcp, Destination: EntityRule{Ports: []Port{NamedPort("HTTP"), NamedPort("123"), NamedPort("a--b"), NamedPort("abcdefghijklmnop")}}}),
			[]string{r0 + ".destination.ports[0]", r0 + ".destination.ports[1]", r0 + ".destination.ports[2]", r0 + ".destination.ports[3]"}},
		{"too many ports", in(Rule{Action: Allow, Protocol: tcp, Destination: EntityRule{Ports: manyPorts(51)}}), []string{r0 + ".destination.ports"}},

		{"selectors", in(Rule{Action: Allow, Source: EntityRule{Selector: "a == 'b'", NotSelector: "has(c)", NamespaceSelector: "global()"}}), nil},
		{"bad selector", in(Rule{Action: Allow, Source: EntityRule{Selector: "a =="}}), []string{r0 + ".source.selector"}},
		{"global in selector", in(Rule{Action: Allow, Destination: EntityRule{NotSelector: "global()"}}), []string{r0 + ".destination.notSelector"}},
		{"global not alone", in(Rule{Action: Allow, Destination: EntityRule{NamespaceSelector: "global() && a == 'b'"}}), []string{r0 + ".destination.namespaceSelector"}},
		{"service accounts", in(Rule{Action: Allow, Source: EntityRule{ServiceAccounts: &ServiceAccountMatch{Names: []string{"api", "Bad_Name"}, Selector: "x =="}}}),
			[]string{r0 + ".source.serviceAccounts.names[1]", r0 + ".source.serviceAccounts.selector"}},

		{"http ok", in(Rule{Action: Allow, Protocol: tcp, HTTP: &HTTPMatch{Methods: []string{"GET"}, Paths: []HTTPPath{{Exact: "/"}, {Prefix: "/api"}}}}), nil},
		{"http on deny", in(Rule{Action: Deny, HTTP: &HTTPMatch{}}), []string{r0 + ".http"}},
		{"http on egress", out(Rule{Action: Allow, HTTP: &HTTPMatch{}}), []string{"spec.egress[0].http"}},
		{"http with udp", in(Rule{Action: Allow, Protocol: proto("UDP"), HTTP: &HTTPMatch{}}), []string{r0 + ".http"}},
		{"http path both", in(Rule{Action: Allow, HTTP: &HTTPMatch{Paths: []HTTPPath{{Exact: "/", Prefix: "/"}, {}}}}), []string{r0 + ".http.paths[0]", r0 + ".http.paths[1]"}},

		{"ingress service", in(Rule{Action: Allow, Source: EntityRule{Services: &ServiceMatch{Name: "web", Namespace: "prod"}, Ports: []Port{NamedPort("http")}}}), nil},
		{"egress service", out(Rule{Action: Allow, Destination: EntityRule{Services: &ServiceMatch{Name: "kubernetes", Namespace: "default"}}}), nil},
		{"ingress service in destination", in(Rule{Action: Allow, Destination: EntityRule{Services: &ServiceMatch{Name: "web", Namespace: "prod"}}}), []string{r0 + ".destination.services"}},
		{"egress service in source", out(Rule{Action: Allow, Source: EntityRule{Services: &ServiceMatch{Name: "web", Namespace: "prod"}}}), []string{"spec.egress[0].source.services"}},
		{"service without namespace in gnp", out(Rule{Action: Allow, Destination: EntityRule{Services: &ServiceMatch{Name: "web"}}}), []string{"spec.egress[0].destination.services.namespace"}},
		{"service without name", out(Rule{Action: Allow, Destination: EntityRule{Services: &ServiceMatch{Namespace: "prod"}}}), []string{"spec.egress[0].destination.services.name"}},
		{"service with selector", out(Rule{Action: Allow, Destination: EntityRule{Selector: "a == 'b'", Services: &ServiceMatch{Name: "web", Namespace: "p"}}}), []string{"spec.egress[0].destination.services"}},
		{"service with destination ports", out(Rule{Action: Allow, Protocol: tcp, Destination: EntityRule{Ports: []Port{SinglePort(80)}, Services: &ServiceMatch{Name: "web", Namespace: "p"}}}), []string{"spec.egress[0].destination.services"}},

		{"rule annotations", in(Rule{Action: Allow, Metadata: &RuleMetadata{Annotations: map[string]string{"ok": "x", "not ok": "y"}}}), []string{r0 + `.metadata.annotations["not ok"]`}},
		{"too many rules", gnpWith(make([]Rule, 1025), nil), append([]string{"spec.ingress"}, manyPaths(1025)...)},
	})
}

// manyPaths lists the action errors of n empty ingress rules.
func manyPaths(n int) []string {
	var p []string
	for i := range n {
		p = append(p, fmt.Sprintf("spec.ingress[%d].action", i))
	}
	return p
}

func TestValidatePolicies(t *testing.T) {
	allow := []Rule{{Action: Allow}}
	np := func() *NetworkPolicy {
		p := NewNetworkPolicy()
		p.Metadata = ObjectMeta{Name: "p", Namespace: "prod"}
		p.Spec = NetworkPolicySpec{Tier: "default", Order: ptr(100.0), Selector: "app == 'web'", Ingress: allow, Types: []PolicyType{PolicyTypeIngress}}
		return p
	}
	sgnp := func() *StagedGlobalNetworkPolicy {
		p := NewStagedGlobalNetworkPolicy()
		p.Metadata.Name = "p"
		return p
	}
	runValidation(t, []vcase{
		{"valid", np(), nil},
		{"service without namespace in np", with(np(), func(p *NetworkPolicy) {
			p.Spec.Egress = []Rule{{Action: Allow, Destination: EntityRule{Services: &ServiceMatch{Name: "web"}}}}
		}), nil},
		{"duplicate type", with(np(), func(p *NetworkPolicy) { p.Spec.Types = []PolicyType{"Ingress", "Ingress"} }), []string{"spec.types[1]"}},
		{"bad type", with(np(), func(p *NetworkPolicy) { p.Spec.Types = []PolicyType{"Both"} }), []string{"spec.types[0]"}},
		{"bad tier", with(np(), func(p *NetworkPolicy) { p.Spec.Tier = "Bad" }), []string{"metadata.name", "spec.tier"}},
		{"bad selector", with(np(), func(p *NetworkPolicy) { p.Spec.Selector = "app ==" }), []string{"spec.selector"}},
		{"global in selector", with(np(), func(p *NetworkPolicy) { p.Spec.ServiceAccountSelector = "global()" }), []string{"spec.serviceAccountSelector"}},
		{"hints", with(np(), func(p *NetworkPolicy) {
			p.Spec.PerformanceHints = []PolicyPerformanceHint{"AssumeNeededOnEveryNode", "Fast"}
		}), []string{"spec.performanceHints[1]"}},
		{"staged ok", with(sgnp(), func(p *StagedGlobalNetworkPolicy) { p.Spec.StagedAction = StagedActionDelete }), nil},
		{"staged action", with(sgnp(), func(p *StagedGlobalNetworkPolicy) { p.Spec.StagedAction = "Maybe" }), []string{"spec.stagedAction"}},
		{"staged np rules checked", with(NewStagedNetworkPolicy(), func(p *StagedNetworkPolicy) {
			p.Metadata = ObjectMeta{Name: "s", Namespace: "n"}
			p.Spec.Ingress = []Rule{{Action: "Nope"}}
		}), []string{"spec.ingress[0].action"}},
		{"gnp namespace selector", with(gnpWith(nil, nil), func(p *GlobalNetworkPolicy) { p.Spec.NamespaceSelector = "global()" }), []string{"spec.namespaceSelector"}},
		{"pre-dnat ok", with(gnpWith(allow, nil), func(p *GlobalNetworkPolicy) { p.Spec.PreDNAT, p.Spec.ApplyOnForward = true, true }), nil},
		{"pre-dnat egress", with(gnpWith(nil, allow), func(p *GlobalNetworkPolicy) {
			p.Spec.PreDNAT, p.Spec.ApplyOnForward, p.Spec.Types = true, true, []PolicyType{"Egress"}
		}), []string{"spec.egress", "spec.types"}},
		{"pre-dnat and do-not-track", with(gnpWith(allow, nil), func(p *GlobalNetworkPolicy) {
			p.Spec.PreDNAT, p.Spec.DoNotTrack, p.Spec.ApplyOnForward = true, true, true
		}), []string{"spec.preDNAT"}},
		{"do-not-track needs apply on forward", with(gnpWith(allow, nil), func(p *GlobalNetworkPolicy) { p.Spec.DoNotTrack = true }), []string{"spec.applyOnForward"}},
	})
}

func TestValidateProfileTierSets(t *testing.T) {
	profile := func() *Profile {
		p := NewProfile()
		p.Metadata.Name = "kns.default"
		p.Spec.Ingress = []Rule{{Action: Allow}}
		p.Spec.LabelsToApply = map[string]string{"pcns.projectcalico.org/name": "default"}
		return p
	}
	tier := func() *Tier {
		t := NewTier()
		t.Metadata.Name = "security"
		t.Spec.Order = ptr(100.0)
		return t
	}
	nset := func() *NetworkSet {
		s := NewNetworkSet()
		s.Metadata = ObjectMeta{Name: "s", Namespace: "n"}
		s.Spec.Nets = []string{"10.0.0.1/24", "192.168.0.1", "fd00::/8"}
		return s
	}
	gset := func() *GlobalNetworkSet {
		s := NewGlobalNetworkSet()
		s.Metadata.Name = "s"
		return s
	}
	runValidation(t, []vcase{
		{"profile", profile(), nil},
		{"profile labels", with(profile(), func(p *Profile) { p.Spec.LabelsToApply = map[string]string{"a": "b c"} }), []string{`spec.labelsToApply["a"]`}},
		{"profile rules", with(profile(), func(p *Profile) { p.Spec.Egress = []Rule{{}} }), []string{"spec.egress[0].action"}},
		{"tier", tier(), nil},
		{"tier pass", with(tier(), func(t *Tier) { t.Spec.DefaultAction = ptr(Pass) }), nil},
		{"tier allow", with(tier(), func(t *Tier) { t.Spec.DefaultAction = ptr(Allow) }), []string{"spec.defaultAction"}},
		{"networkset", nset(), nil},
		{"networkset bad net", with(nset(), func(s *NetworkSet) { s.Spec.Nets = []string{"10.0.0.0/33"} }), []string{"spec.nets[0]"}},
		{"networkset namespace label", with(nset(), func(s *NetworkSet) { s.Metadata.Labels = map[string]string{LabelNamespace: "x"} }), []string{`metadata.labels["projectcalico.org/namespace"]`}},
		{"globalnetworkset namespace label", with(gset(), func(s *GlobalNetworkSet) { s.Metadata.Labels = map[string]string{LabelNamespace: "x"} }), []string{`metadata.labels["projectcalico.org/namespace"]`}},
	})
}
