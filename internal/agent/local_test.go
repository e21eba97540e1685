package agent

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/resources"
)

func TestMayBeLocal(t *testing.T) {
	wep := func(node, pod string) string {
		name, err := v3.WorkloadEndpointName(node, "k8s", pod, "eth0")
		if err != nil {
			t.Fatal(err)
		}
		return resources.Prefix + "workloadendpoints/default/" + name
	}
	tests := []struct {
		key, node string
		want      bool
	}{
		{wep("host1", "web-0"), "host1", true},
		{wep("host2", "web-0"), "host1", false},
		{wep("host1-x", "web-0"), "host1", false}, // "host1--x-..." is not host1's
		{wep("host1", "web-0"), "host1-x", false},
		{wep("host1-x", "web-0"), "host1-x", true},
		{wep("node-1", "a"), "node-1", true},
		{wep("host10", "a"), "host1", false},
		{resources.Prefix + "felixconfigurations/default", "host1", true},
		{resources.Prefix + "ippools/p1", "host1", true},
		{resources.Prefix + "workloadendpoints/broken", "host1", true},
	}
	for _, tt := range tests {
		if got := mayBeLocal(tt.key, tt.node); got != tt.want {
			t.Errorf("mayBeLocal(%q, %q) = %v, want %v", tt.key, tt.node, got, tt.want)
		}
	}
}

// The slim decode of another node's endpoint keeps exactly what policy
// uses, as the full decode has it.
func TestDecodeRemoteEndpoint(t *testing.T) {
	w := newWEP(t, "other", "pod1", "cali1", "02:00:00:00:00:01", "10.65.0.1/32", "fd00:65::1/128")
	w.Metadata.Labels = map[string]string{"app": "web", "tier": "frontend"}
	w.Spec.ServiceAccountName = "sa"
	w.Spec.Ports = []v3.WorkloadEndpointPort{{Name: "http", Protocol: v3.ProtocolFromString("TCP"), Port: 80}}
	key, err := resources.KeyOf(w)
	if err != nil {
		t.Fatal(err)
	}
	value, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	full, err := resources.New(nil).DecodeKV(key, value, 7)
	if err != nil {
		t.Fatal(err)
	}
	slim, err := decodeRemoteEndpoint(key, value)
	if err != nil {
		t.Fatal(err)
	}
	f := full.(*v3.WorkloadEndpoint)
	want := v3.NewWorkloadEndpoint()
	want.Metadata.Namespace, want.Metadata.Name, want.Metadata.Labels = f.Metadata.Namespace, f.Metadata.Name, f.Metadata.Labels
	want.Spec.Orchestrator, want.Spec.Node, want.Spec.ServiceAccountName = f.Spec.Orchestrator, f.Spec.Node, f.Spec.ServiceAccountName
	want.Spec.IPNetworks, want.Spec.Profiles, want.Spec.Ports = f.Spec.IPNetworks, f.Spec.Profiles, f.Spec.Ports
	if diff := cmp.Diff(want, slim); diff != "" {
		t.Errorf("slim decode (-want +got):\n%s", diff)
	}
	if _, err := decodeRemoteEndpoint(key, []byte(`{"kind":"Profile"}`)); err == nil {
		t.Error("a value of another kind was accepted")
	}
	if _, err := decodeRemoteEndpoint(key, []byte(`{"kind":`)); err == nil {
		t.Error("bad JSON was accepted")
	}
}
