package node

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gocalico/calico/internal/agent"
	"github.com/gocalico/calico/internal/agent/status"
)

func TestToStatusKeepsWorkloadID(t *testing.T) {
	in := []agent.EndpointStatus{{Key: "default/host1-k8s-web--0-eth0", Orchestrator: "k8s", Workload: "default/web-0", Endpoint: "eth0", Status: "up"}}
	want := []status.EndpointStatus{{Key: "default/host1-k8s-web--0-eth0", Orchestrator: "k8s", Workload: "default/web-0", Endpoint: "eth0", Status: "up"}}
	if diff := cmp.Diff(want, toStatus(in)); diff != "" {
		t.Errorf("toStatus (-want +got):\n%s", diff)
	}
}
