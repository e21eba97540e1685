package v3

import (
	"strings"
	"testing"
)

func TestLookupKind(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"IPPool", "IPPool"}, {"ippool", "IPPool"}, {"ippools", "IPPool"}, {"pool", "IPPool"}, {"IPPOOLS", "IPPool"},
		{"gnp", "GlobalNetworkPolicy"}, {"globalnetworkpolicies", "GlobalNetworkPolicy"},
		{"netpol", "NetworkPolicy"}, {"networkpolicy", "NetworkPolicy"}, {"policy", "NetworkPolicy"},
		{"hep", "HostEndpoint"}, {"wep", "WorkloadEndpoint"}, {"weps", "WorkloadEndpoint"},
		{"felixconfig", "FelixConfiguration"}, {"bgpconfig", "BGPConfiguration"}, {"bgppeer", "BGPPeer"},
		{"tier", "Tier"}, {"node", "Node"}, {"kubecontrollersconfigurations", "KubeControllersConfiguration"},
		{"sgnp", "StagedGlobalNetworkPolicy"}, {"clusterinfo", "ClusterInformation"}, {"bgpfilters", "BGPFilter"},
	}
	for _, tt := range tests {
		k, ok := LookupKind(tt.in)
		if !ok || k.Kind != tt.want {
			t.Errorf("LookupKind(%q) = %v, %v; want %s", tt.in, k, ok, tt.want)
		}
	}
	for _, bad := range []string{"", "pools2", "v3", "ipamblocks"} {
		if k, ok := LookupKind(bad); ok {
			t.Errorf("LookupKind(%q) = %s, want not found", bad, k.Kind)
		}
	}
}

func TestKindsRegistry(t *testing.T) {
	namespaced := map[string]bool{"networkpolicies": true, "stagednetworkpolicies": true, "networksets": true, "workloadendpoints": true}
	names := map[string]string{}
	if len(Kinds()) != 19 {
		t.Errorf("%d kinds, want 19", len(Kinds()))
	}
	for _, k := range Kinds() {
		r := k.New()
		if tm := r.GetTypeMeta(); tm.Kind != k.Kind || tm.APIVersion != APIVersion {
			t.Errorf("%s: New() type meta = %+v", k.Kind, *tm)
		}
		if k.Namespaced != namespaced[k.Plural] {
			t.Errorf("%s: Namespaced = %v", k.Kind, k.Namespaced)
		}
		if k.Plural != strings.ToLower(k.Plural) || !strings.HasSuffix(k.Plural, "s") {
			t.Errorf("%s: odd plural %q", k.Kind, k.Plural)
		}
		if p, ok := KindByPlural(k.Plural); !ok || p != k {
			t.Errorf("KindByPlural(%q) = %v, %v", k.Plural, p, ok)
		}
		for _, n := range append([]string{strings.ToLower(k.Kind), k.Plural}, k.ShortNames...) {
			if other, dup := names[n]; dup {
				t.Errorf("name %q used by %s and %s", n, other, k.Kind)
			}
			names[n] = k.Kind
		}
		if got, ok := kindOf(r); !ok || got != k {
			t.Errorf("kindOf(New %s) = %v", k.Kind, got)
		}
	}
	if _, ok := KindByPlural("IPPools"); ok {
		t.Error("KindByPlural must be exact")
	}
}
