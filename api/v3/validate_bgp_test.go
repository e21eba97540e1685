package v3

import (
	"testing"
	"time"
)

func TestValidateBGPConfiguration(t *testing.T) {
	cfg := func(name string) *BGPConfiguration {
		c := NewBGPConfiguration()
		c.Metadata.Name = name
		return c
	}
	pw := &BGPPassword{SecretKeyRef: &SecretKeySelector{Name: "bgp", Key: "password"}}
	runValidation(t, []vcase{
		{"empty default", cfg("default"), nil},
		{"full", with(cfg("default"), func(c *BGPConfiguration) {
			c.Spec = BGPConfigurationSpec{
				LogSeverityScreen: "Debug", NodeToNodeMeshEnabled: ptr(true), ASNumber: ptr(ASNumber(64512)), ListenPort: 179,
				ServiceClusterIPs: []ServiceIPBlock{{CIDR: "10.96.0.0/12"}}, ServiceLoadBalancerIPs: []ServiceIPBlock{{CIDR: "fd00::/120"}},
				Communities:          []Community{{Name: "std", Value: "65000:100"}, {Name: "large", Value: "4294967295:1:2"}},
				PrefixAdvertisements: []PrefixAdvertisement{{CIDR: "172.16.0.0/16", Communities: []string{"std", "1:2"}}},
				NodeMeshPassword:     pw, NodeMeshMaxRestartTime: NewDuration(time.Minute), BindMode: ptr(BindModeNodeIP),
				IgnoredInterfaces: []string{"eth1", "tap*"}, LocalWorkloadPeeringIPV4: "169.254.0.179", LocalWorkloadPeeringIPV6: "fe80::179",
				ServiceLoadBalancerAggregation: ptr(AggregationDisabled), ProgramClusterRoutes: ptr("Enabled"), IPv4NormalRoutePriority: ptr(1024),
			}
		}), nil},
		{"log level", with(cfg("default"), func(c *BGPConfiguration) { c.Spec.LogSeverityScreen = "Verbose" }), []string{"spec.logSeverityScreen"}},
		{"service cidr unmasked", with(cfg("default"), func(c *BGPConfiguration) { c.Spec.ServiceExternalIPs = []ServiceIPBlock{{CIDR: "1.2.3.4/24"}} }), []string{"spec.serviceExternalIPs[0].cidr"}},
		{"communities", with(cfg("default"), func(c *BGPConfiguration) {
			c.Spec.Communities = []Community{{Name: "a", Value: "70000:1"}, {Name: "b", Value: "1:2:3:4"}, {Value: "1:2"}, {Name: "d"}}
		}), []string{"spec.communities[0].value", "spec.communities[1].value", "spec.communities[2].name", "spec.communities[3].value"}},
		{"prefix advertisement", with(cfg("default"), func(c *BGPConfiguration) {
			c.Spec.PrefixAdvertisements = []PrefixAdvertisement{{Communities: []string{"nope"}}}
		}), []string{"spec.prefixAdvertisements[0].cidr", "spec.prefixAdvertisements[0].communities[0]"}},
		{"mesh password with mesh off", with(cfg("default"), func(c *BGPConfiguration) {
			c.Spec.NodeToNodeMeshEnabled, c.Spec.NodeMeshPassword, c.Spec.NodeMeshMaxRestartTime = ptr(false), pw, NewDuration(time.Second)
		}), []string{"spec.nodeMeshPassword", "spec.nodeMeshMaxRestartTime"}},
		{"mesh password on node config", with(cfg("node.a"), func(c *BGPConfiguration) { c.Spec.NodeMeshPassword = pw }), []string{"spec.nodeMeshPassword"}},
		{"password without key", with(cfg("default"), func(c *BGPConfiguration) {
			c.Spec.NodeMeshPassword = &BGPPassword{SecretKeyRef: &SecretKeySelector{Name: "s"}}
		}), []string{"spec.nodeMeshPassword.secretKeyRef.key"}},
		{"enums", with(cfg("default"), func(c *BGPConfiguration) {
			c.Spec.BindMode, c.Spec.ServiceLoadBalancerAggregation, c.Spec.ProgramClusterRoutes = ptr(BindMode("All")), ptr(ServiceLoadBalancerAggregation("On")), ptr("Yes")
		}), []string{"spec.bindMode", "spec.serviceLoadBalancerAggregation", "spec.programClusterRoutes"}},
		{"peering ips", with(cfg("default"), func(c *BGPConfiguration) {
			c.Spec.LocalWorkloadPeeringIPV4, c.Spec.LocalWorkloadPeeringIPV6 = "fe80::1", "x"
		}), []string{"spec.localWorkloadPeeringIPV4", "spec.localWorkloadPeeringIPV6"}},
		{"route priority", with(cfg("default"), func(c *BGPConfiguration) { c.Spec.IPv6NormalRoutePriority = ptr(0) }), []string{"spec.ipv6NormalRoutePriority"}},
		{"ignored interface", with(cfg("default"), func(c *BGPConfiguration) { c.Spec.IgnoredInterfaces = []string{"a very long interface"} }), []string{"spec.ignoredInterfaces[0]"}},
	})
}

func TestValidateBGPPeer(t *testing.T) {
	peer := func() *BGPPeer {
		p := NewBGPPeer()
		p.Metadata.Name = "rack1-tor"
		p.Spec = BGPPeerSpec{Node: "rack1-host1", PeerIP: "192.168.1.1", ASNumber: 64513}
		return p
	}
	runValidation(t, []vcase{
		{"valid", peer(), nil},
		{"ipv4 with port", with(peer(), func(p *BGPPeer) { p.Spec.PeerIP = "192.168.1.1:1179" }), nil},
		{"ipv6 with port", with(peer(), func(p *BGPPeer) { p.Spec.PeerIP = "[fd00::1]:179" }), nil},
		{"ipv6", with(peer(), func(p *BGPPeer) { p.Spec.PeerIP = "fd00::1" }), nil},
		{"port zero", with(peer(), func(p *BGPPeer) { p.Spec.PeerIP = "192.168.1.1:0" }), []string{"spec.peerIP"}},
		{"hostname", with(peer(), func(p *BGPPeer) { p.Spec.PeerIP = "tor1:179" }), []string{"spec.peerIP"}},
		{"node and node selector", with(peer(), func(p *BGPPeer) { p.Spec.NodeSelector = "all()" }), []string{"spec.nodeSelector"}},
		{"peer selector", with(peer(), func(p *BGPPeer) { p.Spec.PeerIP, p.Spec.ASNumber, p.Spec.PeerSelector = "", 0, "rr == 'true'" }), nil},
		{"peer ip and selector", with(peer(), func(p *BGPPeer) { p.Spec.ASNumber, p.Spec.PeerSelector = 0, "rr == 'true'" }), []string{"spec.peerSelector"}},
		{"as number with selector", with(peer(), func(p *BGPPeer) { p.Spec.PeerIP, p.Spec.PeerSelector = "", "rr == 'true'" }), []string{"spec.asNumber"}},
		{"bad selectors", with(peer(), func(p *BGPPeer) {
			p.Spec.Node, p.Spec.NodeSelector, p.Spec.LocalWorkloadSelector = "", "a ==", "global()"
		}),
			[]string{"spec.nodeSelector", "spec.localWorkloadSelector"}},
		{"keep next hop and mode", with(peer(), func(p *BGPPeer) { p.Spec.KeepOriginalNextHop, p.Spec.NextHopMode = true, ptr(NextHopKeep) }), []string{"spec.nextHopMode"}},
		{"next hop mode", with(peer(), func(p *BGPPeer) { p.Spec.NextHopMode = ptr(NextHopMode("Other")) }), []string{"spec.nextHopMode"}},
		{"source address", with(peer(), func(p *BGPPeer) { p.Spec.SourceAddress = "Node" }), []string{"spec.sourceAddress"}},
		{"reachable by other family", with(peer(), func(p *BGPPeer) { p.Spec.ReachableBy = "fd00::1" }), []string{"spec.reachableBy"}},
		{"reachable by", with(peer(), func(p *BGPPeer) { p.Spec.ReachableBy = "10.0.0.1" }), nil},
		{"filters", with(peer(), func(p *BGPPeer) { p.Spec.Filters = []string{"ok", "Not OK"} }), []string{"spec.filters[1]"}},
		{"durations", with(peer(), func(p *BGPPeer) {
			p.Spec.MaxRestartTime, p.Spec.KeepaliveTime = NewDuration(-time.Second), NewDuration(time.Second)
		}), []string{"spec.maxRestartTime"}},
		{"reverse peering", with(peer(), func(p *BGPPeer) { p.Spec.ReversePeering = ptr(ReversePeering("Both")) }), []string{"spec.reversePeering"}},
		{"bad node", with(peer(), func(p *BGPPeer) { p.Spec.Node = "Node_1" }), []string{"spec.node"}},
		{"allowed local as", with(peer(), func(p *BGPPeer) { p.Spec.NumAllowedLocalASNumbers = ptr(int32(-1)) }), []string{"spec.numAllowedLocalASNumbers"}},
		{"password", with(peer(), func(p *BGPPeer) { p.Spec.Password = &BGPPassword{} }), []string{"spec.password.secretKeyRef"}},
	})
}

func TestValidateBGPFilter(t *testing.T) {
	filter := func(r BGPFilterRule, v6 bool) *BGPFilter {
		f := NewBGPFilter()
		f.Metadata.Name = "f"
		if v6 {
			f.Spec.ImportV6 = []BGPFilterRule{r}
		} else {
			f.Spec.ExportV4 = []BGPFilterRule{r}
		}
		return f
	}
	const e0, i0 = "spec.exportV4[0]", "spec.importV6[0]"
	runValidation(t, []vcase{
		{"accept", filter(BGPFilterRule{Action: BGPFilterAccept, CIDR: "10.0.0.0/8", MatchOperator: MatchIn, PrefixLength: &BGPFilterPrefixLength{Min: ptr(int32(16)), Max: ptr(int32(24))}}, false), nil},
		{"v6", filter(BGPFilterRule{Action: BGPFilterReject, CIDR: "fd00::/8", MatchOperator: MatchNotIn}, true), nil},
		{"missing action", filter(BGPFilterRule{}, false), []string{e0 + ".action"}},
		{"bad action", filter(BGPFilterRule{Action: "Drop"}, false), []string{e0 + ".action"}},
		{"wrong family", filter(BGPFilterRule{Action: BGPFilterAccept, CIDR: "fd00::/8", MatchOperator: MatchEqual}, false), []string{e0 + ".cidr"}},
		{"cidr without operator", filter(BGPFilterRule{Action: BGPFilterAccept, CIDR: "fd00::/8"}, true), []string{i0}},
		{"operator without cidr", filter(BGPFilterRule{Action: BGPFilterAccept, MatchOperator: "Like"}, true), []string{i0, i0 + ".matchOperator"}},
		{"prefix length", filter(BGPFilterRule{Action: BGPFilterAccept, PrefixLength: &BGPFilterPrefixLength{Min: ptr(int32(30)), Max: ptr(int32(33))}}, false),
			[]string{e0 + ".prefixLength", e0 + ".prefixLength.max"}},
		{"prefix length order", filter(BGPFilterRule{Action: BGPFilterAccept, CIDR: "fd00::/8", MatchOperator: MatchIn, PrefixLength: &BGPFilterPrefixLength{Min: ptr(int32(64)), Max: ptr(int32(48))}}, true),
			[]string{i0 + ".prefixLength"}},
		{"match fields", filter(BGPFilterRule{Action: BGPFilterAccept, Source: "Local", PeerType: "eBGP", Interface: "eth*", Priority: ptr(0),
			Communities: &BGPFilterCommunityMatch{Values: []string{"1:2", "x"}}}, false),
			[]string{e0 + ".source", e0 + ".priority", e0 + ".communities.values", e0 + ".communities.values[1]"}},
		{"operations", filter(BGPFilterRule{Action: BGPFilterAccept, Operations: []BGPFilterOperation{
			{AddCommunity: &BGPFilterAddCommunity{Value: "65000:1"}},
			{PrependASPath: &BGPFilterPrependASPath{Prefix: []ASNumber{65000}}},
			{SetPriority: &BGPFilterSetPriority{Value: 100}},
		}}, false), nil},
		{"operations with reject", filter(BGPFilterRule{Action: BGPFilterReject, Operations: []BGPFilterOperation{{SetPriority: &BGPFilterSetPriority{Value: 1}}}}, false),
			[]string{e0 + ".operations"}},
		{"bad operations", filter(BGPFilterRule{Action: BGPFilterAccept, Operations: []BGPFilterOperation{
			{},
			{AddCommunity: &BGPFilterAddCommunity{Value: "x"}, SetPriority: &BGPFilterSetPriority{Value: 0}},
			{PrependASPath: &BGPFilterPrependASPath{}},
		}}, false), []string{e0 + ".operations[0]", e0 + ".operations[1]", e0 + ".operations[1].addCommunity.value",
			e0 + ".operations[1].setPriority.value", e0 + ".operations[2].prependASPath.prefix"}},
	})
}
