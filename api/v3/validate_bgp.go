package v3

import (
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

var (
	logLevels        = []string{"Debug", "Info", "Warning", "Error", "Fatal"}
	ifaceFilterRE    = regexp.MustCompile(`^[a-zA-Z0-9:._+*-]{1,15}$`)
	bgpFilterIfaceRE = regexp.MustCompile(`^[a-zA-Z0-9_.*+-]{1,15}$`)
)

// bgpConfiguration checks a BGPConfiguration spec.
func (v *validator) bgpConfiguration(name string, s *BGPConfigurationSpec) {
	v.oneOf("spec.logSeverityScreen", s.LogSeverityScreen, logLevels...)
	for _, f := range []struct {
		name   string
		blocks []ServiceIPBlock
	}{
		{"serviceLoadBalancerIPs", s.ServiceLoadBalancerIPs},
		{"serviceExternalIPs", s.ServiceExternalIPs},
		{"serviceClusterIPs", s.ServiceClusterIPs},
	} {
		for i, b := range f.blocks {
			v.cidr(idx("spec."+f.name, i)+".cidr", b.CIDR, true)
		}
	}
	names := map[string]bool{}
	for i, c := range s.Communities {
		p := idx("spec.communities", i)
		v.requiredName(p+".name", c.Name)
		names[c.Name] = true
		if c.Value == "" {
			v.add(p+".value", nil, "is required")
		} else if !isCommunity(c.Value) {
			v.add(p+".value", c.Value, "must be aa:nn (16-bit parts) or aa:nn:mm (32-bit parts)")
		}
	}
	for i, pa := range s.PrefixAdvertisements {
		p := idx("spec.prefixAdvertisements", i)
		if pa.CIDR == "" {
			v.add(p+".cidr", nil, "is required")
		} else {
			v.cidr(p+".cidr", pa.CIDR, true)
		}
		for j, c := range pa.Communities {
			if !names[c] && !isCommunity(c) {
				v.add(idx(p+".communities", j), c, "must name a community in spec.communities or be aa:nn or aa:nn:mm")
			}
		}
	}
	meshOff := s.NodeToNodeMeshEnabled != nil && !*s.NodeToNodeMeshEnabled
	if s.NodeMeshPassword != nil {
		if meshOff {
			v.add("spec.nodeMeshPassword", nil, "requires nodeToNodeMeshEnabled")
		}
		if name != "default" {
			v.add("spec.nodeMeshPassword", nil, "may only be set in the \"default\" BGPConfiguration")
		}
		v.password("spec.nodeMeshPassword", s.NodeMeshPassword)
	}
	if s.NodeMeshMaxRestartTime != nil {
		if meshOff {
			v.add("spec.nodeMeshMaxRestartTime", s.NodeMeshMaxRestartTime.String(), "requires nodeToNodeMeshEnabled")
		}
		if name != "default" {
			v.add("spec.nodeMeshMaxRestartTime", s.NodeMeshMaxRestartTime.String(), "may only be set in the \"default\" BGPConfiguration")
		}
		v.duration("spec.nodeMeshMaxRestartTime", s.NodeMeshMaxRestartTime)
	}
	if s.BindMode != nil {
		v.oneOf("spec.bindMode", string(*s.BindMode), "None", "NodeIP")
	}
	for i, in := range s.IgnoredInterfaces {
		if !ifaceFilterRE.MatchString(in) {
			v.add(idx("spec.ignoredInterfaces", i), in, "not a valid interface name or pattern")
		}
	}
	if s.LocalWorkloadPeeringIPV4 != "" {
		v.ip("spec.localWorkloadPeeringIPV4", s.LocalWorkloadPeeringIPV4, 4)
	}
	if s.LocalWorkloadPeeringIPV6 != "" {
		v.ip("spec.localWorkloadPeeringIPV6", s.LocalWorkloadPeeringIPV6, 6)
	}
	if s.ServiceLoadBalancerAggregation != nil {
		v.oneOf("spec.serviceLoadBalancerAggregation", string(*s.ServiceLoadBalancerAggregation), "Enabled", "Disabled")
	}
	if s.ProgramClusterRoutes != nil {
		v.oneOf("spec.programClusterRoutes", *s.ProgramClusterRoutes, "Enabled", "Disabled")
	}
	v.intRange("spec.ipv4NormalRoutePriority", s.IPv4NormalRoutePriority, 1, 2147483646)
	v.intRange("spec.ipv6NormalRoutePriority", s.IPv6NormalRoutePriority, 1, 2147483646)
}

// isCommunity reports whether s is a standard (aa:nn, 16-bit parts) or
// large (aa:nn:mm, 32-bit parts) community value.
func isCommunity(s string) bool {
	parts := strings.Split(s, ":")
	bits := 16
	switch len(parts) {
	case 2:
	case 3:
		bits = 32
	default:
		return false
	}
	for _, p := range parts {
		if !isDigits(p) {
			return false
		}
		if _, err := strconv.ParseUint(p, 10, bits); err != nil {
			return false
		}
	}
	return true
}

func (v *validator) password(path string, p *BGPPassword) {
	if p.SecretKeyRef == nil {
		v.add(path+".secretKeyRef", nil, "is required")
		return
	}
	if p.SecretKeyRef.Name == "" {
		v.add(path+".secretKeyRef.name", nil, "is required")
	}
	if p.SecretKeyRef.Key == "" {
		v.add(path+".secretKeyRef.key", nil, "is required")
	}
}

// bgpPeer checks a BGPPeer spec.
func (v *validator) bgpPeer(s *BGPPeerSpec) {
	if s.Node != "" && !isSubdomain(s.Node) {
		v.add("spec.node", s.Node, "not a valid node name")
	}
	if s.Node != "" && s.NodeSelector != "" {
		v.add("spec.nodeSelector", s.NodeSelector, "cannot be set together with node")
	}
	v.selector("spec.nodeSelector", s.NodeSelector, false)
	v.selector("spec.peerSelector", s.PeerSelector, false)
	v.selector("spec.localWorkloadSelector", s.LocalWorkloadSelector, false)
	peerFamily := 0
	if s.PeerIP != "" {
		peerFamily = v.peerIP("spec.peerIP", s.PeerIP)
		if s.PeerSelector != "" {
			v.add("spec.peerSelector", s.PeerSelector, "cannot be set together with peerIP")
		}
	}
	if s.PeerSelector != "" && s.ASNumber != 0 {
		v.add("spec.asNumber", s.ASNumber.String(), "must be empty with peerSelector (the peers' own AS numbers are used)")
	}
	if s.KeepOriginalNextHop && s.NextHopMode != nil {
		v.add("spec.nextHopMode", string(*s.NextHopMode), "cannot be set together with the deprecated keepOriginalNextHop")
	}
	if s.NextHopMode != nil {
		v.oneOf("spec.nextHopMode", string(*s.NextHopMode), "Auto", "Self", "Keep")
	}
	if s.Password != nil {
		v.password("spec.password", s.Password)
	}
	v.oneOf("spec.sourceAddress", string(s.SourceAddress), "UseNodeIP", "None")
	v.duration("spec.maxRestartTime", s.MaxRestartTime)
	v.duration("spec.keepaliveTime", s.KeepaliveTime)
	if n := s.NumAllowedLocalASNumbers; n != nil && *n < 0 {
		v.add("spec.numAllowedLocalASNumbers", *n, "must not be negative")
	}
	if s.ReachableBy != "" {
		if f := v.ip("spec.reachableBy", s.ReachableBy, 0); f != 0 && peerFamily != 0 && f != peerFamily {
			v.add("spec.reachableBy", s.ReachableBy, "must be the same IP version as peerIP")
		}
	}
	for i, f := range s.Filters {
		if !isSubdomain(f) {
			v.add(idx("spec.filters", i), f, "not a valid BGPFilter name")
		}
	}
	if s.ReversePeering != nil {
		v.oneOf("spec.reversePeering", string(*s.ReversePeering), "Auto", "Manual")
	}
}

// peerIP checks "IP", "IPv4:port" or "[IPv6]:port" and returns the family.
func (v *validator) peerIP(path, s string) int {
	if a, ok := parseIP(s); ok {
		return familyOf(a)
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil || ap.Addr().Zone() != "" {
		v.add(path, s, "must be an IP, IPv4:port or [IPv6]:port")
		return 0
	}
	if ap.Port() == 0 {
		v.add(path, s, "port must be 1-65535")
	}
	return familyOf(ap.Addr().Unmap())
}

// bgpFilter checks a BGPFilter spec.
func (v *validator) bgpFilter(s *BGPFilterSpec) {
	for _, l := range []struct {
		path   string
		rules  []BGPFilterRule
		family int
	}{
		{"spec.exportV4", s.ExportV4, 4}, {"spec.importV4", s.ImportV4, 4},
		{"spec.exportV6", s.ExportV6, 6}, {"spec.importV6", s.ImportV6, 6},
	} {
		for i := range l.rules {
			v.bgpFilterRule(idx(l.path, i), &l.rules[i], l.family)
		}
	}
}

func (v *validator) bgpFilterRule(path string, r *BGPFilterRule, family int) {
	maxLen := int32(32)
	if family == 6 {
		maxLen = 128
	}
	if r.CIDR != "" {
		if p, ok := v.cidr(path+".cidr", r.CIDR, true); ok && familyOf(p.Addr()) != family {
			v.add(path+".cidr", r.CIDR, "must be an IPv%d CIDR in this list", family)
		}
	}
	if (r.CIDR == "") != (r.MatchOperator == "") {
		v.add(path, nil, "cidr and matchOperator must both be set or both be empty")
	}
	v.oneOf(path+".matchOperator", string(r.MatchOperator), "Equal", "NotEqual", "In", "NotIn")
	if pl := r.PrefixLength; pl != nil {
		if r.CIDR == "" {
			v.add(path+".prefixLength", nil, "requires cidr")
		}
		for _, b := range []struct {
			name string
			n    *int32
		}{{"min", pl.Min}, {"max", pl.Max}} {
			if b.n != nil && (*b.n < 0 || *b.n > maxLen) {
				v.add(path+".prefixLength."+b.name, *b.n, "must be 0-%d", maxLen)
			}
		}
		if pl.Min != nil && pl.Max != nil && *pl.Min > *pl.Max {
			v.add(path+".prefixLength", nil, "min must not exceed max")
		}
	}
	v.oneOf(path+".source", r.Source, "RemotePeers")
	if r.Interface != "" && !bgpFilterIfaceRE.MatchString(r.Interface) {
		v.add(path+".interface", r.Interface, "not a valid interface name or pattern")
	}
	v.oneOf(path+".peerType", r.PeerType, "eBGP", "iBGP")
	if c := r.Communities; c != nil {
		if len(c.Values) != 1 {
			v.add(path+".communities.values", nil, "must hold exactly one value")
		}
		for i, val := range c.Values {
			if !isCommunity(val) {
				v.add(idx(path+".communities.values", i), val, "must be aa:nn or aa:nn:mm")
			}
		}
	}
	v.intRange(path+".priority", r.Priority, 1, 2147483646)
	switch r.Action {
	case BGPFilterAccept, BGPFilterReject:
	case "":
		v.add(path+".action", nil, "is required (Accept or Reject)")
	default:
		v.add(path+".action", string(r.Action), "must be Accept or Reject")
	}
	if len(r.Operations) > 0 && r.Action != BGPFilterAccept {
		v.add(path+".operations", nil, "may only be used with action Accept")
	}
	if len(r.Operations) > 10 {
		v.add(path+".operations", nil, "at most 10 operations are allowed")
	}
	for i, op := range r.Operations {
		v.bgpFilterOperation(idx(path+".operations", i), &op)
	}
}

func (v *validator) bgpFilterOperation(path string, op *BGPFilterOperation) {
	n := 0
	if op.AddCommunity != nil {
		n++
		if !isCommunity(op.AddCommunity.Value) {
			v.add(path+".addCommunity.value", op.AddCommunity.Value, "must be aa:nn or aa:nn:mm")
		}
	}
	if op.PrependASPath != nil {
		n++
		if l := len(op.PrependASPath.Prefix); l < 1 || l > 10 {
			v.add(path+".prependASPath.prefix", nil, "must hold 1-10 AS numbers")
		}
	}
	if op.SetPriority != nil {
		n++
		if p := op.SetPriority.Value; p < 1 || p > 2147483646 {
			v.add(path+".setPriority.value", p, "must be between 1 and 2147483646")
		}
	}
	if n != 1 {
		v.add(path, nil, "exactly one of addCommunity, prependASPath and setPriority must be set")
	}
}
