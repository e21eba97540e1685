package v3

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func ptr[T any](v T) *T { return &v }

func TestSetDefaults(t *testing.T) {
	allow := []Rule{{Action: Allow}}
	tests := []struct {
		name string
		in   Resource
		want Resource
	}{
		{
			name: "ipv4 pool",
			in:   &IPPool{Spec: IPPoolSpec{CIDR: "10.0.0.0/16"}},
			want: &IPPool{Spec: IPPoolSpec{CIDR: "10.0.0.0/16", BlockSize: 26, IPIPMode: EncapNever, VXLANMode: EncapNever,
				NodeSelector: "all()", AllowedUses: []IPPoolAllowedUse{AllowedUseWorkload, AllowedUseTunnel},
				AssignmentMode: ptr(AssignmentAutomatic)}},
		},
		{
			name: "ipv6 pool is normalised",
			in:   &IPPool{Spec: IPPoolSpec{CIDR: "fd00:0:0::/48"}},
			want: &IPPool{Spec: IPPoolSpec{CIDR: "fd00::/48", BlockSize: 122, IPIPMode: EncapNever, VXLANMode: EncapNever,
				NodeSelector: "all()", AllowedUses: []IPPoolAllowedUse{AllowedUseWorkload, AllowedUseTunnel},
				AssignmentMode: ptr(AssignmentAutomatic)}},
		},
		{
			name: "pool settings are kept",
			in: &IPPool{Spec: IPPoolSpec{CIDR: "10.0.0.0/16", BlockSize: 28, VXLANMode: EncapAlways, NodeSelector: "zone == 'a'",
				AllowedUses: []IPPoolAllowedUse{AllowedUseLoadBalancer}, AssignmentMode: ptr(AssignmentManual)}},
			want: &IPPool{Spec: IPPoolSpec{CIDR: "10.0.0.0/16", BlockSize: 28, IPIPMode: EncapNever, VXLANMode: EncapAlways,
				NodeSelector: "zone == 'a'", AllowedUses: []IPPoolAllowedUse{AllowedUseLoadBalancer}, AssignmentMode: ptr(AssignmentManual)}},
		},
		{
			name: "unparseable pool cidr gets no block size",
			in:   &IPPool{Spec: IPPoolSpec{CIDR: "nonsense"}},
			want: &IPPool{Spec: IPPoolSpec{CIDR: "nonsense", IPIPMode: EncapNever, VXLANMode: EncapNever, NodeSelector: "all()",
				AllowedUses: []IPPoolAllowedUse{AllowedUseWorkload, AllowedUseTunnel}, AssignmentMode: ptr(AssignmentAutomatic)}},
		},
		{
			name: "tier",
			in:   &Tier{},
			want: &Tier{Spec: TierSpec{DefaultAction: ptr(Deny)}},
		},
		{
			name: "tier pass kept",
			in:   &Tier{Spec: TierSpec{DefaultAction: ptr(Pass)}},
			want: &Tier{Spec: TierSpec{DefaultAction: ptr(Pass)}},
		},
		{
			name: "policy without rules is ingress",
			in:   &NetworkPolicy{},
			want: &NetworkPolicy{Metadata: ObjectMeta{Labels: map[string]string{LabelTier: "default"}},
				Spec: NetworkPolicySpec{Tier: "default", Types: []PolicyType{PolicyTypeIngress}}},
		},
		{
			name: "egress rules only",
			in:   &GlobalNetworkPolicy{Spec: GlobalNetworkPolicySpec{Egress: allow}},
			want: &GlobalNetworkPolicy{Metadata: ObjectMeta{Labels: map[string]string{LabelTier: "default"}},
				Spec: GlobalNetworkPolicySpec{Tier: "default", Egress: allow, Types: []PolicyType{PolicyTypeEgress}}},
		},
		{
			name: "both directions",
			in:   &StagedNetworkPolicy{Spec: StagedNetworkPolicySpec{Tier: "sec", Ingress: allow, Egress: allow}},
			want: &StagedNetworkPolicy{Metadata: ObjectMeta{Labels: map[string]string{LabelTier: "sec"}},
				Spec: StagedNetworkPolicySpec{Tier: "sec", Ingress: allow, Egress: allow, Types: []PolicyType{PolicyTypeIngress, PolicyTypeEgress}}},
		},
		{
			name: "explicit types kept",
			in:   &StagedGlobalNetworkPolicy{Spec: StagedGlobalNetworkPolicySpec{Ingress: allow, Types: []PolicyType{PolicyTypeEgress}}},
			want: &StagedGlobalNetworkPolicy{Metadata: ObjectMeta{Labels: map[string]string{LabelTier: "default"}},
				Spec: StagedGlobalNetworkPolicySpec{Tier: "default", Ingress: allow, Types: []PolicyType{PolicyTypeEgress}}},
		},
		{
			name: "felix nftables mode",
			in:   &FelixConfiguration{},
			want: &FelixConfiguration{Spec: FelixConfigurationSpec{NFTablesMode: ptr("Auto")}},
		},
		{
			name: "bgp configuration has no stored defaults",
			in:   &BGPConfiguration{},
			want: &BGPConfiguration{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			SetDefaults(tt.in)
			if diff := cmp.Diff(tt.want, tt.in); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestSetDefaultsIdempotent applies defaults twice to every upstream
// fixture and to every kind with all fields set.
func TestSetDefaultsIdempotent(t *testing.T) {
	for _, k := range Kinds() {
		for name, r := range map[string]Resource{"empty": k.New(), "filled": filled(k)} {
			SetDefaults(r)
			once, _ := json.Marshal(r)
			SetDefaults(r)
			twice, _ := json.Marshal(r)
			if string(once) != string(twice) {
				t.Errorf("%s %s: second SetDefaults changed %s to %s", k.Kind, name, once, twice)
			}
		}
	}
}

func TestSetDefaultsKubeControllers(t *testing.T) {
	k := NewKubeControllersConfiguration()
	k.Spec.Controllers.LoadBalancer = &LoadBalancerControllerConfig{}
	k.Spec.Controllers.Migration = &MigrationControllerConfig{}
	k.Spec.Controllers.Node = &NodeControllerConfig{}
	k.Status.RunningConfig = &KubeControllersConfigurationSpec{HealthChecks: "Disabled"}
	SetDefaults(k)
	want := NewKubeControllersConfiguration()
	port := 9094
	want.Spec = KubeControllersConfigurationSpec{HealthChecks: "Enabled", PrometheusMetricsPort: &port, Controllers: ControllersConfig{
		LoadBalancer: &LoadBalancerControllerConfig{AssignIPs: "AllServices"},
		Migration:    &MigrationControllerConfig{PolicyNameMigrator: "Enabled"},
		Node:         &NodeControllerConfig{LeakGracePeriod: NewDuration(15 * time.Minute)},
	}}
	want.Status.RunningConfig = &KubeControllersConfigurationSpec{HealthChecks: "Disabled"}
	if diff := cmp.Diff(want, k); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
