package bench

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/gocalico/calico/internal/lab"
)

// BenchmarkCNI: the calico CNI plugin with calico-ipam, run through
// libcni by the lab as a container runtime runs it, on one host (its
// calico-node running), IPv4: 200 containers added one after another,
// then deleted one after another. The time is the plugins' run (the
// CNI ADD or DEL call), not the creation of the container's namespace.
// The host claims its blocks during the ADDs (200 addresses: four /26
// blocks), so a few ADDs include a claim.
func BenchmarkCNI(b *testing.B) {
	const containers = 200
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	var add, del []time.Duration
	for range b.N {
		l := upLab(b, ctx, lab.Config{Hosts: 1, WorkloadsPerHost: 0, CNI: true})
		var ws []lab.Workload
		for i := 1; i <= containers; i++ {
			w, err := l.NewWorkload(lab.HostName(1), i)
			if err != nil {
				b.Fatal(err)
			}
			w, took, err := l.TimedAddWorkloadCNI(ctx, w)
			if err != nil {
				b.Fatal(err)
			}
			add = append(add, took)
			ws = append(ws, w)
		}
		for _, w := range ws {
			took, err := l.TimedRemoveWorkloadCNI(ctx, w)
			if err != nil {
				b.Fatal(err)
			}
			del = append(del, took)
		}
	}
	for _, m := range []struct {
		name string
		d    []time.Duration
	}{{"add", add}, {"del", del}} {
		slices.Sort(m.d)
		b.ReportMetric(ms(percentile(m.d, 0.50)), m.name+"-p50-ms")
		b.ReportMetric(ms(percentile(m.d, 0.99)), m.name+"-p99-ms")
	}
	b.Logf("CNI ADD p50 %.1f p99 %.1f max %.1f ms; DEL p50 %.1f p99 %.1f ms (%d containers)",
		ms(percentile(add, 0.5)), ms(percentile(add, 0.99)), ms(percentile(add, 1)),
		ms(percentile(del, 0.5)), ms(percentile(del, 0.99)), containers)
}
