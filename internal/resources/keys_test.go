package resources

import (
	"testing"

	v3 "github.com/gocalico/calico/api/v3"
)

func TestKeyLayout(t *testing.T) {
	pool, _ := v3.LookupKind("IPPool")
	np, _ := v3.LookupKind("NetworkPolicy")
	tests := []struct {
		info      *v3.KindInfo
		ns, name  string
		want      string
		wantError bool
	}{
		{info: pool, name: "p1", want: "/calico/resources/v3/projectcalico.org/ippools/p1"},
		{info: np, ns: "prod", name: "allow", want: "/calico/resources/v3/projectcalico.org/networkpolicies/prod/default.allow"},
		{info: np, ns: "prod", name: "default.allow", want: "/calico/resources/v3/projectcalico.org/networkpolicies/prod/default.allow"},
		{info: np, ns: "prod", name: "sec.allow", want: "/calico/resources/v3/projectcalico.org/networkpolicies/prod/sec.allow"},
		{info: pool, ns: "prod", name: "p1", wantError: true},
		{info: np, name: "allow", wantError: true},
		{info: pool, name: "", wantError: true},
		{info: pool, name: "a/b", wantError: true},
		{info: np, ns: "a/b", name: "x", wantError: true},
	}
	for _, tt := range tests {
		got, err := Key(tt.info, tt.ns, tt.name)
		if tt.wantError {
			if err == nil {
				t.Errorf("Key(%s, %q, %q) = %q, want an error", tt.info.Kind, tt.ns, tt.name, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Key(%s, %q, %q) = %q, %v; want %q", tt.info.Kind, tt.ns, tt.name, got, err, tt.want)
		}
	}
}

func TestParseKey(t *testing.T) {
	tests := []struct {
		key            string
		kind, ns, name string
		ok             bool
	}{
		{key: Prefix + "ippools/p1", kind: "IPPool", name: "p1", ok: true},
		{key: Prefix + "networkpolicies/prod/allow", kind: "NetworkPolicy", ns: "prod", name: "allow", ok: true},
		{key: Prefix + "workloadendpoints/openstack%2fr1/x%252f", kind: "WorkloadEndpoint", ns: "openstack/r1", name: "x%2f", ok: true},
		{key: Prefix + "ippools/a/b"},
		{key: Prefix + "networkpolicies/prod"},
		{key: Prefix + "nosuchkinds/x"},
		{key: "/calico/ipam/v2/config"},
		{key: Prefix + "ippools/"},
	}
	for _, tt := range tests {
		info, ns, name, ok := ParseKey(tt.key)
		if ok != tt.ok {
			t.Errorf("ParseKey(%q) ok = %v, want %v", tt.key, ok, tt.ok)
			continue
		}
		if !ok {
			continue
		}
		if info.Kind != tt.kind || ns != tt.ns || name != tt.name {
			t.Errorf("ParseKey(%q) = %s %q %q, want %s %q %q", tt.key, info.Kind, ns, name, tt.kind, tt.ns, tt.name)
		}
	}
}

// Every kind's key must parse back to the same kind, namespace and name.
func TestKeyRoundTripAllKinds(t *testing.T) {
	for _, info := range v3.Kinds() {
		ns := ""
		if info.Namespaced {
			ns = "ns1"
		}
		key, err := Key(info, ns, "name-1")
		if err != nil {
			t.Fatalf("%s: %v", info.Kind, err)
		}
		wantName := "name-1"
		if v3.IsPolicyKind(info.Kind) {
			wantName = "default.name-1" // stored tiered form
		}
		got, gotNS, gotName, ok := ParseKey(key)
		if !ok || got != info || gotNS != ns || gotName != wantName {
			t.Errorf("%s: ParseKey(%q) = %v %q %q %v", info.Kind, key, got, gotNS, gotName, ok)
		}
	}
}
