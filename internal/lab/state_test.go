package lab

import (
	"encoding/json"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gocalico/calico/internal/resources"
)

func TestStateJSONRoundTrip(t *testing.T) {
	s := state{
		Version: stateVersion, Name: "lab", StateDir: "/run/calico-lab/lab", Bin: "/bin", IPv6: false,
		Socket: "/run/calico-lab/lab/etcd.sock",
		Fabric: Fabric{Namespace: "lab-fabric", Bridge: "br0", IPv4: fabricIPv4},
		Hosts:  []Host{{Name: "host1", Index: 1, Namespace: "lab-host1", IPv4: hostIPv4(1), Node: Process{PID: 7, StartTime: 9, Argv: []string{"calico-node"}}}},
		Workloads: []Workload{{Name: "host1-w1", Host: "host1", Index: 1, Namespace: "lab-host1-w1",
			Interface: "calia1c3640263d", IPv4: workloadIPv4(1, 1), MAC: "02:00:0a:41:01:01", Endpoint: "host1-k8s-host1--w1-eth0"}},
		Namespaces: []string{"lab-fabric", "lab-host1", "lab-host1-w1"},
	}
	b, err := json.Marshal(&s)
	if err != nil {
		t.Fatal(err)
	}
	var got state
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(s, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	// An IPv4-only lab writes no empty IPv6 fields.
	var raw map[string]any
	_ = json.Unmarshal(b, &raw)
	if _, ok := raw["fabric"].(map[string]any)["ipv6"]; ok {
		t.Errorf("IPv4-only fabric has an ipv6 field: %s", b)
	}
}

func TestPutWorkloadKeepsOrder(t *testing.T) {
	s := state{Hosts: []Host{{Name: "host1", Index: 1}, {Name: "host2", Index: 2}}}
	for _, w := range []Workload{{Name: "host2-w1", Host: "host2", Index: 1}, {Name: "host1-w10", Host: "host1", Index: 10},
		{Name: "host1-w2", Host: "host1", Index: 2}, {Name: "host1-w2", Host: "host1", Index: 2, MAC: "x"}} {
		s.putWorkload(w)
	}
	var got []string
	for _, w := range s.Workloads {
		got = append(got, w.Name+w.MAC)
	}
	if diff := cmp.Diff([]string{"host1-w2x", "host1-w10", "host2-w1"}, got); diff != "" {
		t.Errorf("workloads (-want +got):\n%s", diff)
	}
}

func TestWorkloadEndpointValid(t *testing.T) {
	l := newLab(&state{Name: "lab", IPv6: true, Hosts: []Host{{Name: "host1", Index: 1}}}, nil)
	w, err := l.NewWorkload("host1", 2)
	if err != nil {
		t.Fatal(err)
	}
	wep := WorkloadEndpoint(w)
	want := []string{"host1-k8s-host1--w2-eth0", "host1", "host1-w2", "eth0", "k8s", InterfaceName("default", "host1-w2"), "02:00:0a:41:01:02", "10.65.1.2/32", "fd00:65::1:2/128"}
	got := []string{wep.Metadata.Name, wep.Spec.Node, wep.Spec.Pod, wep.Spec.Endpoint, wep.Spec.Orchestrator, wep.Spec.InterfaceName, wep.Spec.MAC}
	got = append(got, wep.Spec.IPNetworks...)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("endpoint (-want +got):\n%s", diff)
	}
	if _, _, err := resources.Prepare(wep); err != nil {
		t.Errorf("the lab's endpoint does not validate: %v", err)
	}
	if _, err := l.NewWorkload("host9", 1); err == nil {
		t.Error("NewWorkload on a missing host: no error")
	}
}
