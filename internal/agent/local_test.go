package agent

import (
	"testing"

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
