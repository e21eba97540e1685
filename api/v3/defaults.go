package v3

import (
	"net/netip"
	"time"
)

// Default values that upstream stores on write.
const (
	DefaultIPv4BlockSize = 26
	DefaultIPv6BlockSize = 122
	DefaultNodeSelector  = "all()"
	DefaultNFTablesMode  = "Auto"

	DefaultKubeControllersMetricsPort = 9094
)

// SetDefaults fills in the defaults that upstream Calico stores with a
// resource (CRD defaults plus libcalico's write-time defaulting). It is
// idempotent and touches nothing the user set.
func SetDefaults(r Resource) {
	if isNil(r) {
		return
	}
	switch o := r.(type) {
	case *IPPool:
		defaultIPPool(&o.Spec)
	case *Tier:
		if o.Spec.DefaultAction == nil {
			a := Deny
			o.Spec.DefaultAction = &a
		}
	case *NetworkPolicy:
		defaultPolicy(&o.Metadata, &o.Spec.Tier, &o.Spec.Types, o.Spec.Ingress, o.Spec.Egress)
	case *GlobalNetworkPolicy:
		defaultPolicy(&o.Metadata, &o.Spec.Tier, &o.Spec.Types, o.Spec.Ingress, o.Spec.Egress)
	case *StagedNetworkPolicy:
		defaultPolicy(&o.Metadata, &o.Spec.Tier, &o.Spec.Types, o.Spec.Ingress, o.Spec.Egress)
	case *StagedGlobalNetworkPolicy:
		defaultPolicy(&o.Metadata, &o.Spec.Tier, &o.Spec.Types, o.Spec.Ingress, o.Spec.Egress)
	case *FelixConfiguration:
		if o.Spec.NFTablesMode == nil {
			m := DefaultNFTablesMode
			o.Spec.NFTablesMode = &m
		}
	case *KubeControllersConfiguration:
		defaultKubeControllers(&o.Spec)
		if o.Spec.PrometheusMetricsPort == nil {
			port := DefaultKubeControllersMetricsPort
			o.Spec.PrometheusMetricsPort = &port
		}
		if o.Status.RunningConfig != nil {
			defaultKubeControllers(o.Status.RunningConfig)
		}
	}
}

// defaultKubeControllers applies the defaults upstream's writer stores
// (the metrics port is set on the spec only, by the caller): health
// checks on, and within configured
// controllers, a 15 minute IPAM leak grace period for the node controller,
// LoadBalancer IPs for all services and the policy name migrator on.
func defaultKubeControllers(s *KubeControllersConfigurationSpec) {
	if s.HealthChecks == "" {
		s.HealthChecks = "Enabled"
	}
	if n := s.Controllers.Node; n != nil && n.LeakGracePeriod == nil {
		n.LeakGracePeriod = NewDuration(15 * time.Minute)
	}
	if lb := s.Controllers.LoadBalancer; lb != nil && lb.AssignIPs == "" {
		lb.AssignIPs = "AllServices"
	}
	if m := s.Controllers.Migration; m != nil && m.PolicyNameMigrator == "" {
		m.PolicyNameMigrator = "Enabled"
	}
}

func defaultIPPool(s *IPPoolSpec) {
	p, err := netip.ParsePrefix(s.CIDR)
	if err == nil && p == p.Masked() {
		s.CIDR = p.String() // normalised form, e.g. "fd00::/48"
	}
	if s.BlockSize == 0 && err == nil {
		if p.Addr().Is4() {
			s.BlockSize = DefaultIPv4BlockSize
		} else {
			s.BlockSize = DefaultIPv6BlockSize
		}
	}
	if s.IPIPMode == "" {
		s.IPIPMode = EncapNever
	}
	if s.VXLANMode == "" {
		s.VXLANMode = EncapNever
	}
	if s.NodeSelector == "" {
		s.NodeSelector = DefaultNodeSelector
	}
	if len(s.AllowedUses) == 0 {
		s.AllowedUses = []IPPoolAllowedUse{AllowedUseWorkload, AllowedUseTunnel}
	}
	if s.AssignmentMode == nil {
		m := AssignmentAutomatic
		s.AssignmentMode = &m
	}
}

// defaultPolicy sets the tier, its label and the policy types. Types are
// derived from the rules: egress rules alone give [Egress], ingress and
// egress rules give both, anything else [Ingress].
func defaultPolicy(m *ObjectMeta, tier *string, types *[]PolicyType, ingress, egress []Rule) {
	if *tier == "" {
		*tier = DefaultTierName
	}
	if m.Labels == nil {
		m.Labels = map[string]string{}
	}
	m.Labels[LabelTier] = *tier
	if len(*types) > 0 {
		return
	}
	switch {
	case len(ingress) > 0 && len(egress) > 0:
		*types = []PolicyType{PolicyTypeIngress, PolicyTypeEgress}
	case len(egress) > 0:
		*types = []PolicyType{PolicyTypeEgress}
	default:
		*types = []PolicyType{PolicyTypeIngress}
	}
}
