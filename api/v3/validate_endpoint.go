package v3

import (
	"encoding/base64"
	"regexp"
	"slices"
)

var (
	containerIDRE   = regexp.MustCompile(`^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$`)
	interfaceNameRE = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,15}$`)
)

// node checks a Node.
func (v *validator) node(n *Node) {
	s := &n.Spec
	if b := s.BGP; b != nil {
		if b.IPv4Address == "" && b.IPv6Address == "" {
			v.add("spec.bgp", nil, "must set ipv4Address or ipv6Address (or omit bgp)")
		}
		if b.IPv4Address != "" {
			v.familyNet("spec.bgp.ipv4Address", b.IPv4Address, 4)
		}
		if b.IPv6Address != "" {
			v.familyNet("spec.bgp.ipv6Address", b.IPv6Address, 6)
		}
		if b.IPv4IPIPTunnelAddr != "" {
			v.ip("spec.bgp.ipv4IPIPTunnelAddr", b.IPv4IPIPTunnelAddr, 4)
		}
		if b.RouteReflectorClusterID != "" {
			v.ip("spec.bgp.routeReflectorClusterID", b.RouteReflectorClusterID, 4)
		}
	}
	if s.IPv4VXLANTunnelAddr != "" {
		v.ip("spec.ipv4VXLANTunnelAddr", s.IPv4VXLANTunnelAddr, 4)
	}
	if s.IPv6VXLANTunnelAddr != "" {
		v.ip("spec.ipv6VXLANTunnelAddr", s.IPv6VXLANTunnelAddr, 6)
	}
	if s.VXLANTunnelMACAddr != "" {
		v.mac("spec.vxlanTunnelMACAddr", s.VXLANTunnelMACAddr)
	}
	if s.VXLANTunnelMACAddrV6 != "" {
		v.mac("spec.vxlanTunnelMACAddrV6", s.VXLANTunnelMACAddrV6)
	}
	for i, o := range s.OrchRefs {
		if o.Orchestrator == "" {
			v.add(idx("spec.orchRefs", i)+".orchestrator", nil, "is required")
		}
	}
	if w := s.Wireguard; w != nil {
		if w.InterfaceIPv4Address != "" {
			v.ip("spec.wireguard.interfaceIPv4Address", w.InterfaceIPv4Address, 4)
		}
		if w.InterfaceIPv6Address != "" {
			v.ip("spec.wireguard.interfaceIPv6Address", w.InterfaceIPv6Address, 6)
		}
	}
	for i, a := range s.Addresses {
		p := idx("spec.addresses", i)
		v.cidr(p+".address", a.Address, false)
		v.oneOf(p+".type", a.Type, NodeAddressCalicoNodeIP, NodeAddressInternalIP, NodeAddressExternalIP)
	}
	for i, in := range s.Interfaces {
		p := idx("spec.interfaces", i)
		if in.Name != "" && !interfaceNameRE.MatchString(in.Name) {
			v.add(p+".name", in.Name, "not a valid interface name")
		}
		for j, a := range in.Addresses {
			v.cidr(idx(p+".addresses", j), a, false)
		}
	}
	v.wireguardKey("status.wireguardPublicKey", n.Status.WireguardPublicKey)
	v.wireguardKey("status.wireguardPublicKeyV6", n.Status.WireguardPublicKeyV6)
	for i, c := range n.Status.PodCIDRs {
		v.cidr(idx("status.podCIDRs", i), c, false)
	}
}

// familyNet checks a CIDR (host bits allowed) or IP of one family.
func (v *validator) familyNet(path, s string, family int) {
	if p, ok := v.cidr(path, s, false); ok && familyOf(p.Addr()) != family {
		v.add(path, s, "must be an IPv%d address", family)
	}
}

func (v *validator) wireguardKey(path, k string) {
	if k == "" {
		return
	}
	if b, err := base64.StdEncoding.DecodeString(k); err != nil || len(b) != 32 {
		v.add(path, k, "not a valid WireGuard public key (32 bytes, base64)")
	}
}

// workloadEndpoint checks a WorkloadEndpoint, including that its name is
// the one computed from its spec.
func (v *validator) workloadEndpoint(w *WorkloadEndpoint) {
	s := &w.Spec
	v.requiredName("spec.node", s.Node)
	v.requiredName("spec.orchestrator", s.Orchestrator)
	v.requiredName("spec.endpoint", s.Endpoint)
	wl, wlPath := wepWorkloadSegment(s)
	if wlPath == "spec.containerID" {
		if wl == "" {
			v.add(wlPath, nil, "is required")
		}
	} else {
		v.requiredName(wlPath, wl)
	}
	if s.Orchestrator != OrchestratorKubernetes && s.Pod != "" && !isSubdomain(s.Pod) {
		v.add("spec.pod", s.Pod, "not a valid name")
	}
	if wlPath != "spec.workload" && s.Workload != "" && !isSubdomain(s.Workload) {
		v.add("spec.workload", s.Workload, "not a valid name")
	}
	if s.ContainerID != "" && !containerIDRE.MatchString(s.ContainerID) {
		v.add("spec.containerID", s.ContainerID, "must be letters, digits and '-', starting and ending with a letter or digit")
	}
	if s.ServiceAccountName != "" && !isSubdomain(s.ServiceAccountName) {
		v.add("spec.serviceAccountName", s.ServiceAccountName, "not a valid name")
	}
	if w.Metadata.Name != "" {
		if want, err := computedWEPName(w); err == nil && want != w.Metadata.Name {
			v.add("metadata.name", w.Metadata.Name, "must be %q, computed from node, orchestrator, workload and endpoint", want)
		}
	}
	if s.InterfaceName == "" {
		v.add("spec.interfaceName", nil, "is required")
	} else if !interfaceNameRE.MatchString(s.InterfaceName) {
		v.add("spec.interfaceName", s.InterfaceName, "must be 1-15 letters, digits, '_', '.' or '-'")
	}
	if s.MAC != "" {
		v.mac("spec.mac", s.MAC)
	}
	v.wepAddresses(s)
	for i, name := range s.Profiles {
		if !isSubdomain(name) {
			v.add(idx("spec.profiles", i), name, "not a valid profile name")
		}
	}
	for i, pt := range s.Ports {
		v.wepPort(idx("spec.ports", i), &pt)
	}
	for i, c := range s.AllowSpoofedSourcePrefixes {
		v.cidr(idx("spec.allowSpoofedSourcePrefixes", i), c, false)
	}
	if s.QoSControls != nil {
		v.qos("spec.qosControls", s.QoSControls)
	}
}

func (v *validator) requiredName(path, s string) {
	switch {
	case s == "":
		v.add(path, nil, "is required")
	case !isSubdomain(s):
		v.add(path, s, "not a valid name: lowercase letters, digits, '-' and '.'")
	}
}

// wepAddresses checks ipNetworks, ipNATs and gateways.
func (v *validator) wepAddresses(s *WorkloadEndpointSpec) {
	var mine []string
	for i, n := range s.IPNetworks {
		p := idx("spec.ipNetworks", i)
		pfx, ok := v.cidr(p, n, false)
		if !ok {
			continue
		}
		if pfx.Bits() != pfx.Addr().BitLen() {
			v.add(p, n, "must be a single address (/32 or /128)")
		}
		mine = append(mine, pfx.Addr().String())
	}
	for i, nat := range s.IPNATs {
		p := idx("spec.ipNATs", i)
		fi := v.ip(p+".internalIP", nat.InternalIP, 0)
		fe := v.ip(p+".externalIP", nat.ExternalIP, 0)
		if fi != 0 && fe != 0 && fi != fe {
			v.add(p, nil, "internalIP and externalIP must be the same IP version")
		}
		if a, ok := parseIP(nat.InternalIP); ok && !slices.Contains(mine, a.String()) {
			v.add(p+".internalIP", nat.InternalIP, "must be one of the endpoint's ipNetworks")
		}
	}
	if s.IPv4Gateway != "" {
		v.ip("spec.ipv4Gateway", s.IPv4Gateway, 4)
	}
	if s.IPv6Gateway != "" {
		v.ip("spec.ipv6Gateway", s.IPv6Gateway, 6)
	}
}

// wepPort checks a workload endpoint's named or host port.
func (v *validator) wepPort(path string, pt *WorkloadEndpointPort) {
	if pt.Name == "" {
		if pt.HostPort == 0 {
			v.add(path+".name", nil, "is required unless hostPort is set")
		}
	} else if why := portNameProblem(pt.Name); why != "" {
		v.add(path+".name", pt.Name, "%s", why)
	}
	v.portProtocol(path+".protocol", pt.Protocol)
	if pt.Port == 0 {
		v.add(path+".port", 0, "must be 1-65535")
	}
	if pt.HostIP != "" {
		v.ip(path+".hostIP", pt.HostIP, 0)
	}
}

// portProtocol checks the protocol of a named port: TCP, UDP or SCTP.
func (v *validator) portProtocol(path string, p Protocol) {
	if !p.SupportsPorts() {
		v.add(path, p.String(), "must be TCP, UDP or SCTP")
	}
}

// qos checks QoS control ranges.
func (v *validator) qos(path string, q *QoSControls) {
	rng := func(field string, n, lo, hi int64, zeroOK bool) {
		if (n == 0 && zeroOK) || (n >= lo && n <= hi) {
			return
		}
		v.add(path+"."+field, n, "must be between %d and %d", lo, hi)
	}
	rng("ingressBandwidth", q.IngressBandwidth, 1000, 1e15, true)
	rng("egressBandwidth", q.EgressBandwidth, 1000, 1e15, true)
	rng("ingressBurst", q.IngressBurst, 1000, 34359738360, true)
	rng("egressBurst", q.EgressBurst, 1000, 34359738360, true)
	rng("ingressPeakrate", q.IngressPeakrate, 1010, 1.01e15, true)
	rng("egressPeakrate", q.EgressPeakrate, 1010, 1.01e15, true)
	rng("ingressMinburst", q.IngressMinburst, 1000, 1e8, true)
	rng("egressMinburst", q.EgressMinburst, 1000, 1e8, true)
	rng("ingressPacketRate", q.IngressPacketRate, 1, 1e4, true)
	rng("egressPacketRate", q.EgressPacketRate, 1, 1e4, true)
	rng("ingressPacketBurst", q.IngressPacketBurst, 1, 1e4, true)
	rng("egressPacketBurst", q.EgressPacketBurst, 1, 1e4, true)
	rng("ingressMaxConnections", q.IngressMaxConnections, 1, 4294967295, true)
	rng("egressMaxConnections", q.EgressMaxConnections, 1, 4294967295, true)
	if q.DSCP != nil {
		if _, ok := q.DSCP.Value(); !ok {
			v.add(path+".dscp", q.DSCP.String(), "must be 0-63 or a DSCP name such as EF or AF11")
		}
	}
}

// hostEndpoint checks a HostEndpoint spec.
func (v *validator) hostEndpoint(s *HostEndpointSpec) {
	v.requiredName("spec.node", s.Node)
	if s.InterfaceName == "" && len(s.ExpectedIPs) == 0 {
		v.add("spec", nil, "must set interfaceName or expectedIPs")
	}
	if s.InterfaceName != "" && s.InterfaceName != "*" && !interfaceNameRE.MatchString(s.InterfaceName) {
		v.add("spec.interfaceName", s.InterfaceName, "must be \"*\" or 1-15 letters, digits, '_', '.' or '-'")
	}
	for i, ip := range s.ExpectedIPs {
		v.ip(idx("spec.expectedIPs", i), ip, 0)
	}
	for i, name := range s.Profiles {
		if !isSubdomain(name) {
			v.add(idx("spec.profiles", i), name, "not a valid profile name")
		}
	}
	for i, pt := range s.Ports {
		p := idx("spec.ports", i)
		if why := portNameProblem(pt.Name); why != "" {
			v.add(p+".name", pt.Name, "%s", why)
		}
		v.portProtocol(p+".protocol", pt.Protocol)
		if pt.Port == 0 {
			v.add(p+".port", 0, "must be 1-65535")
		}
	}
}
