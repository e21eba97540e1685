package v3

import "testing"

func TestValidateWorkloadEndpoint(t *testing.T) {
	wep := func() *WorkloadEndpoint {
		w := NewWorkloadEndpoint()
		w.Metadata = ObjectMeta{Name: "node--1-k8s-web--0-eth0", Namespace: "prod"}
		w.Spec = WorkloadEndpointSpec{
			Node: "node-1", Orchestrator: "k8s", Pod: "web-0", Endpoint: "eth0", ContainerID: "abc123",
			InterfaceName: "cali0ef24ba", MAC: "ca:fe:1d:52:bb:e9",
			IPNetworks:  []string{"10.65.0.3/32", "fd00::3/128", "10.65.0.4"},
			IPNATs:      []IPNAT{{InternalIP: "10.65.0.3", ExternalIP: "172.16.0.3"}},
			IPv4Gateway: "169.254.1.1", IPv6Gateway: "fe80::1",
			Profiles: []string{"kns.prod", "ksa.prod.default"},
			Ports:    []WorkloadEndpointPort{{Name: "http", Protocol: ProtocolFromString("TCP"), Port: 80}, {Protocol: ProtocolFromString("UDP"), Port: 53, HostPort: 5353, HostIP: "10.0.0.1"}},
		}
		return w
	}
	runValidation(t, []vcase{
		{"valid", wep(), nil},
		{"openstack", with(NewWorkloadEndpoint(), func(w *WorkloadEndpoint) {
			w.Metadata = ObjectMeta{Name: "compute--1-openstack-f2b4e4d1-tap1234", Namespace: "openstack"}
			w.Spec = WorkloadEndpointSpec{Node: "compute-1", Orchestrator: "openstack", Workload: "f2b4e4d1", Endpoint: "tap1234", InterfaceName: "tap1234"}
		}), nil},
		{"name mismatch", with(wep(), func(w *WorkloadEndpoint) { w.Metadata.Name = "node-1-k8s-web-0-eth0" }), []string{"metadata.name"}},
		{"missing fields", with(NewWorkloadEndpoint(), func(w *WorkloadEndpoint) { w.Metadata = ObjectMeta{Name: "x", Namespace: "n"} }),
			[]string{"spec.node", "spec.orchestrator", "spec.endpoint", "spec.workload", "spec.interfaceName"}},
		{"cni needs container id", with(wep(), func(w *WorkloadEndpoint) {
			w.Spec.Orchestrator, w.Spec.ContainerID, w.Metadata.Name = "cni", "", "node--1-cni-x-eth0"
		}), []string{"spec.containerID"}},
		{"bad container id", with(wep(), func(w *WorkloadEndpoint) { w.Spec.ContainerID = "-abc" }), []string{"spec.containerID"}},
		{"interface name", with(wep(), func(w *WorkloadEndpoint) { w.Spec.InterfaceName = "cali0123456789abc" }), []string{"spec.interfaceName"}},
		{"mac", with(wep(), func(w *WorkloadEndpoint) { w.Spec.MAC = "ca:fe" }), []string{"spec.mac"}},
		{"ip network not single", with(wep(), func(w *WorkloadEndpoint) { w.Spec.IPNetworks = []string{"10.65.0.0/24", "x"} }),
			[]string{"spec.ipNetworks[0]", "spec.ipNetworks[1]", "spec.ipNATs[0].internalIP"}},
		{"nat not mine", with(wep(), func(w *WorkloadEndpoint) {
			w.Spec.IPNATs = []IPNAT{{InternalIP: "10.65.0.9", ExternalIP: "172.16.0.3"}}
		}),
			[]string{"spec.ipNATs[0].internalIP"}},
		{"nat family", with(wep(), func(w *WorkloadEndpoint) { w.Spec.IPNATs = []IPNAT{{InternalIP: "fd00::3", ExternalIP: "172.16.0.3"}} }),
			[]string{"spec.ipNATs[0]"}},
		{"gateways", with(wep(), func(w *WorkloadEndpoint) { w.Spec.IPv4Gateway, w.Spec.IPv6Gateway = "fe80::1", "169.254.1.1" }),
			[]string{"spec.ipv4Gateway", "spec.ipv6Gateway"}},
		{"ports", with(wep(), func(w *WorkloadEndpoint) {
			w.Spec.Ports = []WorkloadEndpointPort{{Protocol: ProtocolFromString("TCP"), Port: 80}, {Name: "Web", Protocol: ProtocolFromString("ICMP")}}
		}), []string{"spec.ports[0].name", "spec.ports[1].name", "spec.ports[1].protocol", "spec.ports[1].port"}},
		{"profiles", with(wep(), func(w *WorkloadEndpoint) { w.Spec.Profiles = []string{"Bad Profile"} }), []string{"spec.profiles[0]"}},
		{"qos", with(wep(), func(w *WorkloadEndpoint) {
			w.Spec.QoSControls = &QoSControls{IngressBandwidth: 10, EgressBandwidth: 1e6, EgressPacketRate: 1e5, DSCP: &DSCP{Name: "XX"}}
		}), []string{"spec.qosControls.ingressBandwidth", "spec.qosControls.egressPacketRate", "spec.qosControls.dscp"}},
		{"spoofed prefixes", with(wep(), func(w *WorkloadEndpoint) { w.Spec.AllowSpoofedSourcePrefixes = []string{"10.0.0.0/8", "bad"} }),
			[]string{"spec.allowSpoofedSourcePrefixes[1]"}},
	})
}

func TestValidateHostEndpoint(t *testing.T) {
	hep := func() *HostEndpoint {
		h := NewHostEndpoint()
		h.Metadata.Name = "host1-eth0"
		h.Spec = HostEndpointSpec{Node: "host1", InterfaceName: "eth0", ExpectedIPs: []string{"10.0.0.1", "fd00::1"},
			Ports: []EndpointPort{{Name: "ssh", Protocol: ProtocolFromString("TCP"), Port: 22}}}
		return h
	}
	runValidation(t, []vcase{
		{"valid", hep(), nil},
		{"all interfaces", with(hep(), func(h *HostEndpoint) { h.Spec.InterfaceName = "*" }), nil},
		{"expected ips only", with(hep(), func(h *HostEndpoint) { h.Spec.InterfaceName = "" }), nil},
		{"neither", with(hep(), func(h *HostEndpoint) { h.Spec.InterfaceName, h.Spec.ExpectedIPs = "", nil }), []string{"spec"}},
		{"no node", with(hep(), func(h *HostEndpoint) { h.Spec.Node = "" }), []string{"spec.node"}},
		{"bad values", with(hep(), func(h *HostEndpoint) {
			h.Spec.InterfaceName, h.Spec.ExpectedIPs = "eth 0", []string{"10.0.0.0/24"}
			h.Spec.Ports = []EndpointPort{{Name: "", Protocol: ProtocolFromString("ICMP"), Port: 0}}
		}), []string{"spec.interfaceName", "spec.expectedIPs[0]", "spec.ports[0].name", "spec.ports[0].protocol", "spec.ports[0].port"}},
	})
}

func TestValidateNode(t *testing.T) {
	node := func() *Node {
		n := NewNode()
		n.Metadata.Name = "node-1"
		n.Spec.BGP = &NodeBGPSpec{IPv4Address: "10.0.0.5/24", IPv6Address: "fd00::5/64", IPv4IPIPTunnelAddr: "10.65.0.1", RouteReflectorClusterID: "224.0.0.1"}
		n.Spec.IPv4VXLANTunnelAddr, n.Spec.VXLANTunnelMACAddr = "10.65.0.2", "66:cf:23:df:22:07"
		n.Spec.Addresses = []NodeAddress{{Address: "10.0.0.5/24", Type: NodeAddressCalicoNodeIP}, {Address: "192.0.2.1"}}
		n.Spec.OrchRefs = []OrchRef{{NodeName: "node-1", Orchestrator: "k8s"}}
		n.Status.WireguardPublicKey = "jlkVyQYooZYzI2wFfNhSZez5eWh44yfq1wKVjLvSXgY="
		return n
	}
	runValidation(t, []vcase{
		{"valid", node(), nil},
		{"bare address", with(node(), func(n *Node) { n.Spec.BGP.IPv4Address = "10.0.0.5" }), nil},
		{"empty bgp", with(node(), func(n *Node) { n.Spec.BGP = &NodeBGPSpec{} }), []string{"spec.bgp"}},
		{"wrong families", with(node(), func(n *Node) {
			n.Spec.BGP.IPv4Address, n.Spec.BGP.IPv6Address, n.Spec.BGP.RouteReflectorClusterID = "fd00::5/64", "10.0.0.5/24", "fd00::1"
			n.Spec.IPv6VXLANTunnelAddr = "10.0.0.1"
		}), []string{"spec.bgp.ipv4Address", "spec.bgp.ipv6Address", "spec.bgp.routeReflectorClusterID", "spec.ipv6VXLANTunnelAddr"}},
		{"bad values", with(node(), func(n *Node) {
			n.Spec.VXLANTunnelMACAddr = "zz"
			n.Spec.Addresses = []NodeAddress{{Address: "x", Type: "Public"}}
			n.Spec.OrchRefs = []OrchRef{{NodeName: "n"}}
			n.Status.WireguardPublicKey = "short"
		}), []string{"spec.vxlanTunnelMACAddr", "spec.addresses[0].address", "spec.addresses[0].type", "spec.orchRefs[0].orchestrator", "status.wireguardPublicKey"}},
	})
}
