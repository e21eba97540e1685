package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gocalico/calico/internal/calicoctl"
	"github.com/gocalico/calico/internal/datastore/etcdtest"
	"github.com/gocalico/calico/internal/resources"
)

// applyBenchResources is how many resources BenchmarkCalicoctlApply10k
// applies per run.
const applyBenchResources = 10_000

// writeApplyBenchFile writes n resources, a third each of
// GlobalNetworkSets, NetworkPolicies and WorkloadEndpoints, to one
// multi-document YAML file.
func writeApplyBenchFile(tb testing.TB, n int) string {
	tb.Helper()
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString("---\n")
		}
		ns := fmt.Sprintf("ns-%d", i%20)
		switch i % 3 {
		case 0:
			fmt.Fprintf(&b, `apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata:
  name: set-%d
  labels: {role: blocked, shard: s%d}
spec:
  nets: [198.%d.%d.0/24, 2001:db8:%x::/48]
`, i, i%10, (i>>8)&255, i&255, i)
		case 1:
			fmt.Fprintf(&b, `apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: allow-%d
  namespace: %s
spec:
  order: %d
  selector: app == 'app-%d'
  ingress:
  - action: Allow
    protocol: TCP
    source: {selector: role == 'frontend'}
    destination: {ports: [80, 443, "8000:8080"]}
  egress:
  - action: Allow
`, i, ns, i%1000, i%100)
		default:
			fmt.Fprintf(&b, `apiVersion: projectcalico.org/v3
kind: WorkloadEndpoint
metadata:
  name: node--%d-k8s-pod--%d-eth0
  namespace: %s
  labels: {app: app-%d}
spec:
  orchestrator: k8s
  node: node-%d
  pod: pod-%d
  endpoint: eth0
  interfaceName: cali%011x
  ipNetworks: [10.%d.%d.%d/32]
  profiles: [kns.%s]
`, i%100, i, ns, i%100, i%100, i, i, (i>>16)&255, (i>>8)&255, i&255, ns)
		}
	}
	path := filepath.Join(tb.TempDir(), "resources.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}

// BenchmarkCalicoctlApply10k times `calicoctl apply -f` of a 10k-resource
// file into an empty embedded etcd (validation of every document, then the
// writes, 16 in flight).
func BenchmarkCalicoctlApply10k(b *testing.B) {
	_, be := etcdtest.Embedded(b)
	file := writeApplyBenchFile(b, applyBenchResources)
	ctx := context.Background()
	want := fmt.Sprintf("Successfully applied %d resource(s)\n", applyBenchResources)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		if _, err := be.DeletePrefix(ctx, resources.Prefix); err != nil {
			b.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		cmd := calicoctl.NewRootCommand(strings.NewReader(""), &stdout, &stderr, calicoctl.WithBackend(be))
		cmd.SetArgs([]string{"apply", "-f", file})
		b.StartTimer()
		if err := calicoctl.Execute(ctx, cmd); err != nil || stdout.String() != want {
			b.Fatalf("apply: %v\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(applyBenchResources*b.N)/b.Elapsed().Seconds(), "resources/s")
}
