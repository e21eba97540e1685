package v3

import (
	"net/netip"
	"slices"
)

var linkLocal = []netip.Prefix{
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("fe80::/10"),
}

// ipPool checks an IPPool spec. Overlap with other pools is checked by the
// datastore client, not here.
func (v *validator) ipPool(s *IPPoolSpec) {
	family := 0
	var pfx netip.Prefix
	switch {
	case s.CIDR == "":
		v.add("spec.cidr", nil, "is required")
	default:
		p, err := netip.ParsePrefix(s.CIDR)
		switch {
		case err != nil || p.Addr().Zone() != "" || p.Addr().Is4In6():
			v.add("spec.cidr", s.CIDR, "not a valid CIDR")
		case p != p.Masked():
			v.add("spec.cidr", s.CIDR, "host bits must be zero (did you mean %s?)", p.Masked())
		default:
			pfx, family = p, familyOf(p.Addr())
			for _, ll := range linkLocal {
				if p.Overlaps(ll) {
					v.add("spec.cidr", s.CIDR, "overlaps with the link-local range %s", ll)
				}
			}
		}
	}
	if s.BlockSize != 0 && family != 0 {
		lo, hi := 20, 32
		if family == 6 {
			lo, hi = 116, 128
		}
		switch {
		case s.BlockSize < lo || s.BlockSize > hi:
			v.add("spec.blockSize", s.BlockSize, "must be %d-%d for an IPv%d pool", lo, hi, family)
		case s.BlockSize < pfx.Bits() && !s.Disabled:
			v.add("spec.blockSize", s.BlockSize, "must be at least the pool's prefix length %d (blocks cannot be larger than the pool)", pfx.Bits())
		}
	}
	v.oneOf("spec.ipipMode", string(s.IPIPMode), "Never", "Always", "CrossSubnet")
	v.oneOf("spec.vxlanMode", string(s.VXLANMode), "Never", "Always", "CrossSubnet")
	ipip := s.IPIPMode != "" && s.IPIPMode != EncapNever
	vxlan := s.VXLANMode != "" && s.VXLANMode != EncapNever
	if ipip && vxlan {
		v.add("spec.vxlanMode", string(s.VXLANMode), "cannot be enabled together with ipipMode %s", s.IPIPMode)
	}
	if ipip && family == 6 {
		v.add("spec.ipipMode", string(s.IPIPMode), "IPIP is not supported on IPv6 pools")
	}
	if s.IPIP != nil {
		v.add("spec.ipip", nil, "is an API v1 field and must not be set: use ipipMode")
	}
	if s.NATOutgoingV1 {
		v.add("spec.nat-outgoing", true, "is an API v1 field and must not be set: use natOutgoing")
	}
	v.selector("spec.nodeSelector", s.NodeSelector, false)
	v.selector("spec.namespaceSelector", s.NamespaceSelector, false)
	v.allowedUses(s, ipip || vxlan)
	if s.AssignmentMode != nil {
		v.oneOf("spec.assignmentMode", string(*s.AssignmentMode), "Automatic", "Manual")
		if *s.AssignmentMode == "" {
			v.add("spec.assignmentMode", "", "must be Automatic or Manual")
		}
	}
}

// allowedUses checks allowedUses and the LoadBalancer restrictions.
func (v *validator) allowedUses(s *IPPoolSpec, encap bool) {
	for i, u := range s.AllowedUses {
		p := idx("spec.allowedUses", i)
		switch u {
		case AllowedUseWorkload, AllowedUseTunnel, AllowedUseLoadBalancer:
		default:
			v.add(p, string(u), "must be Workload, Tunnel or LoadBalancer")
		}
		if slices.Index(s.AllowedUses, u) < i {
			v.add(p, string(u), "is listed twice")
		}
	}
	if !slices.Contains(s.AllowedUses, AllowedUseLoadBalancer) {
		return
	}
	if slices.Contains(s.AllowedUses, AllowedUseWorkload) || slices.Contains(s.AllowedUses, AllowedUseTunnel) {
		v.add("spec.allowedUses", nil, "LoadBalancer cannot be combined with Workload or Tunnel")
	}
	if encap {
		v.add("spec.allowedUses", nil, "LoadBalancer pools cannot use IPIP or VXLAN")
	}
	if s.NodeSelector != "" && s.NodeSelector != DefaultNodeSelector {
		v.add("spec.nodeSelector", s.NodeSelector, "must be all() for a LoadBalancer pool")
	}
}

// ipReservation checks an IPReservation spec.
func (v *validator) ipReservation(s *IPReservationSpec) {
	for i, c := range s.ReservedCIDRs {
		v.cidr(idx("spec.reservedCIDRs", i), c, false)
	}
}
