package v3

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestWorkloadEndpointName(t *testing.T) {
	tests := []struct {
		node, orch, workload, endpoint string
		want                           string
		wantErr                        bool
	}{
		{"node-1", "k8s", "web-0", "eth0", "node--1-k8s-web--0-eth0", false},
		{"node1", "cni", "abc123", "eth0", "node1-cni-abc123-eth0", false},
		{"host", "libnetwork", "ignored", "ep-1", "host-libnetwork-libnetwork-ep--1", false},
		{"compute-1", "openstack", "a-b", "c-d", "compute--1-openstack-a--b-c--d", false},
		{"n.example.com", "k8s", "p", "e", "n.example.com-k8s-p-e", false},
		{"", "k8s", "p", "e", "", true},
		{"n", "", "p", "e", "", true},
		{"n", "k8s", "", "e", "", true},
		{"n", "k8s", "p", "", "", true},
		{"-n", "k8s", "p", "e", "", true},
		{"n", "k8s", "p-", "e", "", true},
	}
	for _, tt := range tests {
		got, err := WorkloadEndpointName(tt.node, tt.orch, tt.workload, tt.endpoint)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("WorkloadEndpointName(%q, %q, %q, %q) = %q, %v; want %q, error %v",
				tt.node, tt.orch, tt.workload, tt.endpoint, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestCompleteWorkloadEndpoint(t *testing.T) {
	w := NewWorkloadEndpoint()
	w.Metadata.Namespace = "default"
	w.Metadata.Labels = map[string]string{"app": "web"}
	w.Spec = WorkloadEndpointSpec{Node: "node-1", Orchestrator: "k8s", Pod: "web-0", Endpoint: "eth0"}
	if err := CompleteWorkloadEndpoint(w); err != nil {
		t.Fatal(err)
	}
	want := ObjectMeta{Name: "node--1-k8s-web--0-eth0", Namespace: "default", Labels: map[string]string{
		"app": "web", LabelNamespace: "default", LabelOrchestrator: "k8s"}}
	if diff := cmp.Diff(want, w.Metadata); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	// A supplied name is kept (Validate checks it).
	w2 := &WorkloadEndpoint{Metadata: ObjectMeta{Name: "given", Namespace: "ns"}, Spec: WorkloadEndpointSpec{Orchestrator: "cni"}}
	if err := CompleteWorkloadEndpoint(w2); err != nil || w2.Metadata.Name != "given" {
		t.Errorf("got name %q, error %v", w2.Metadata.Name, err)
	}
	// No name and not enough spec to compute one.
	if err := CompleteWorkloadEndpoint(&WorkloadEndpoint{}); err == nil {
		t.Error("want an error for an empty endpoint")
	}
}
