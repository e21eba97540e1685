package v3

import "testing"

func TestValidateIPPool(t *testing.T) {
	pool := func(cidr string) *IPPool {
		p := NewIPPool()
		p.Metadata.Name = "p"
		p.Spec.CIDR = cidr
		return p
	}
	lb := []IPPoolAllowedUse{AllowedUseLoadBalancer}
	runValidation(t, []vcase{
		{"v4", pool("10.0.0.0/16"), nil},
		{"v4 defaulted", with(pool("10.0.0.0/16"), func(p *IPPool) { SetDefaults(p) }), nil},
		{"v6 defaulted", with(pool("fd00::/48"), func(p *IPPool) { SetDefaults(p) }), nil},
		{"missing cidr", pool(""), []string{"spec.cidr"}},
		{"bad prefix", pool("10.0.0.0/33"), []string{"spec.cidr"}},
		{"bare ip", pool("10.0.0.0"), []string{"spec.cidr"}},
		{"unmasked", pool("10.0.0.1/16"), []string{"spec.cidr"}},
		{"link local inside", pool("169.254.1.0/24"), []string{"spec.cidr"}},
		{"link local around", pool("169.0.0.0/8"), []string{"spec.cidr"}},
		{"v6 link local", pool("fe80::/64"), []string{"spec.cidr"}},
		{"block size too small", with(pool("10.0.0.0/16"), func(p *IPPool) { p.Spec.BlockSize = 19 }), []string{"spec.blockSize"}},
		{"block size too big", with(pool("10.0.0.0/16"), func(p *IPPool) { p.Spec.BlockSize = 33 }), []string{"spec.blockSize"}},
		{"v6 block size", with(pool("fd00::/48"), func(p *IPPool) { p.Spec.BlockSize = 115 }), []string{"spec.blockSize"}},
		{"v6 block size v4 range", with(pool("fd00::/48"), func(p *IPPool) { p.Spec.BlockSize = 26 }), []string{"spec.blockSize"}},
		{"block larger than pool", with(pool("10.0.0.0/28"), func(p *IPPool) { p.Spec.BlockSize = 26 }), []string{"spec.blockSize"}},
		{"block larger than disabled pool", with(pool("10.0.0.0/28"), func(p *IPPool) { p.Spec.BlockSize, p.Spec.Disabled = 26, true }), nil},
		{"block equals pool", with(pool("10.0.0.0/26"), func(p *IPPool) { p.Spec.BlockSize = 26 }), nil},
		{"bad ipip mode", with(pool("10.0.0.0/16"), func(p *IPPool) { p.Spec.IPIPMode = "sometimes" }), []string{"spec.ipipMode"}},
		{"ipip and vxlan", with(pool("10.0.0.0/16"), func(p *IPPool) { p.Spec.IPIPMode, p.Spec.VXLANMode = EncapAlways, EncapCrossSubnet }), []string{"spec.vxlanMode"}},
		{"ipip never vxlan always", with(pool("10.0.0.0/16"), func(p *IPPool) { p.Spec.IPIPMode, p.Spec.VXLANMode = EncapNever, EncapAlways }), nil},
		{"ipip on v6", with(pool("fd00::/48"), func(p *IPPool) { p.Spec.IPIPMode = EncapCrossSubnet }), []string{"spec.ipipMode"}},
		{"vxlan on v6", with(pool("fd00::/48"), func(p *IPPool) { p.Spec.VXLANMode = EncapAlways }), nil},
		{"v1 fields", with(pool("10.0.0.0/16"), func(p *IPPool) { p.Spec.IPIP, p.Spec.NATOutgoingV1 = &IPIPConfiguration{Enabled: true}, true }), []string{"spec.ipip", "spec.nat-outgoing"}},
		{"selectors", with(pool("10.0.0.0/16"), func(p *IPPool) { p.Spec.NodeSelector, p.Spec.NamespaceSelector = "global()", "a ==" }), []string{"spec.nodeSelector", "spec.namespaceSelector"}},
		{"unknown use", with(pool("10.0.0.0/16"), func(p *IPPool) { p.Spec.AllowedUses = []IPPoolAllowedUse{"Workload", "Pods", "Workload"} }), []string{"spec.allowedUses[1]", "spec.allowedUses[2]"}},
		{"load balancer", with(pool("10.0.0.0/16"), func(p *IPPool) { p.Spec.AllowedUses = lb; SetDefaults(p) }), nil},
		{"load balancer with workload", with(pool("10.0.0.0/16"), func(p *IPPool) { p.Spec.AllowedUses = append(lb, AllowedUseWorkload) }), []string{"spec.allowedUses"}},
		{"load balancer with vxlan", with(pool("10.0.0.0/16"), func(p *IPPool) { p.Spec.AllowedUses, p.Spec.VXLANMode = lb, EncapAlways }), []string{"spec.allowedUses"}},
		{"load balancer node selector", with(pool("10.0.0.0/16"), func(p *IPPool) { p.Spec.AllowedUses, p.Spec.NodeSelector = lb, "a == 'b'" }), []string{"spec.nodeSelector"}},
		{"assignment mode", with(pool("10.0.0.0/16"), func(p *IPPool) { p.Spec.AssignmentMode = ptr(AssignmentMode("Auto")) }), []string{"spec.assignmentMode"}},
		{"empty assignment mode", with(pool("10.0.0.0/16"), func(p *IPPool) { p.Spec.AssignmentMode = ptr(AssignmentMode("")) }), []string{"spec.assignmentMode"}},
		{"reservation", with(NewIPReservation(), func(r *IPReservation) {
			r.Metadata.Name = "r"
			r.Spec.ReservedCIDRs = []string{"10.0.0.1", "10.0.0.1/24", "fd00::1/64", "bogus"}
		}), []string{"spec.reservedCIDRs[3]"}},
	})
}
