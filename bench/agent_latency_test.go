package bench

import (
	"fmt"
	"testing"
	"time"

	"github.com/gocalico/calico/internal/lab"
)

// Endpoint programming latency settings.
const (
	latencySamples = 200
	// settle lets the agent finish the previous change (a delete, a new
	// interface) before the next timed write, so that each sample is one
	// endpoint written to an otherwise idle agent.
	settle = 20 * time.Millisecond
	// plugSettle is the same after a workload's interface was re-made.
	plugSettle = 50 * time.Millisecond
	eventWait  = 10 * time.Second
)

// BenchmarkAgentRouteLatency: one host running calico-node with N local
// workloads (N = 1, 100, 250) and 10k endpoints of other nodes in the
// datastore. Each sample writes one local WorkloadEndpoint to etcd and
// times it until the agent's route to its address appears in the host
// namespace (a netlink route event, read in this process):
//
//   - recreate: the endpoint of a running workload is deleted (its route
//     goes) and written again; the interface and its sysctls stay;
//   - newif: as a pod starts: the workload's veth is deleted and made
//     anew (a new interface), then its endpoint is written, so the agent
//     also sets the new interface's sysctls.
//
// The etcd write alone (the writer's view of one create) is reported
// alongside, and so is what comes after it (route present minus write
// alone, per sample), the delete -> route gone time and the agent's CPU
// time over each kind of sample. calico-node is restarted once the 10k
// remote endpoints are loaded, so that its start is a normal one:
// peak-RSS-MB is its VmHWM over its life (start and samples), RSS-MB its
// RSS after the samples.
func BenchmarkAgentRouteLatency(b *testing.B) {
	for _, n := range []int{1, 100, 250} {
		b.Run(fmt.Sprintf("local-%d", n), func(b *testing.B) {
			a := newAgentLab(b, n)
			a.restartNode(nil)
			a.waitProgrammed(time.Minute)
			for range b.N {
				a.measureLatency()
			}
		})
	}
}

func (a *agentLab) measureLatency() {
	b := a.b
	var ws []lab.Workload
	for _, w := range a.Workloads() {
		if w.Host == a.host {
			ws = append(ws, w)
		}
	}
	before := a.usage()
	countBefore, sumBefore := a.agentLatencyMetric()

	var total, write, afterWrite, del []time.Duration
	for i := range latencySamples {
		w := ws[i%len(ws)]
		d, t, wr := a.sample(w, false)
		del, total, write, afterWrite = append(del, d), append(total, t), append(write, wr), append(afterWrite, t-wr)
	}
	mid := a.usage()
	var newIf, newIfWrite []time.Duration
	for i := range latencySamples {
		w := ws[i%len(ws)]
		_, t, wr := a.sample(w, true)
		newIf, newIfWrite = append(newIf, t), append(newIfWrite, wr)
	}
	after := a.usage()
	countAfter, sumAfter := a.agentLatencyMetric()
	var agentMean time.Duration
	if n := countAfter - countBefore; n > 0 {
		agentMean = time.Duration(float64(sumAfter-sumBefore) / n)
	}

	b.ReportMetric(ms(percentile(total, 0.50)), "p50-ms")
	b.ReportMetric(ms(percentile(total, 0.99)), "p99-ms")
	b.ReportMetric(ms(percentile(write, 0.50)), "write-p50-ms")
	b.ReportMetric(ms(percentile(write, 0.99)), "write-p99-ms")
	b.ReportMetric(ms(percentile(afterWrite, 0.50)), "after-write-p50-ms")
	b.ReportMetric(ms(percentile(afterWrite, 0.99)), "after-write-p99-ms")
	b.ReportMetric(ms(percentile(newIf, 0.50)), "newif-p50-ms")
	b.ReportMetric(ms(percentile(newIf, 0.99)), "newif-p99-ms")
	b.ReportMetric(ms(percentile(del, 0.50)), "del-p50-ms")
	b.ReportMetric(ms(percentile(del, 0.99)), "del-p99-ms")
	b.ReportMetric((mid.CPU - before.CPU).Seconds(), "cpu-recreate-s")
	b.ReportMetric((after.CPU - mid.CPU).Seconds(), "cpu-newif-s")
	b.ReportMetric(after.PeakMB, "peak-RSS-MB")
	b.ReportMetric(after.RSSMB, "RSS-MB")
	b.Logf("recreate: p50 %.2f p90 %.2f p99 %.2f max %.2f ms; write p50 %.2f p99 %.2f ms",
		ms(percentile(total, 0.5)), ms(percentile(total, 0.9)), ms(percentile(total, 0.99)), ms(percentile(total, 1)),
		ms(percentile(write, 0.5)), ms(percentile(write, 0.99)))
	b.Logf("newif: p50 %.2f p90 %.2f p99 %.2f max %.2f ms; write p50 %.2f p99 %.2f ms",
		ms(percentile(newIf, 0.5)), ms(percentile(newIf, 0.9)), ms(percentile(newIf, 0.99)), ms(percentile(newIf, 1)),
		ms(percentile(newIfWrite, 0.5)), ms(percentile(newIfWrite, 0.99)))
	b.Logf("agent: %v CPU for %d recreate cycles, %v for %d newif cycles; RSS %.1f MB, peak %.1f MB; "+
		"own latency histogram (update arrival -> applied, adds and deletes): %.0f observations, mean %v",
		mid.CPU-before.CPU, latencySamples, after.CPU-mid.CPU, latencySamples, after.RSSMB, after.PeakMB,
		countAfter-countBefore, agentMean)
}

// sample deletes w's endpoint and waits for its route to go, optionally
// re-makes its interface, then writes the endpoint and times the route's
// return. It returns delete -> route gone, write -> route present, and
// the write alone.
func (a *agentLab) sample(w lab.Workload, newInterface bool) (del, total, write time.Duration) {
	b := a.b
	key, val := storedEndpoint(b, w)
	ip := w.IPv4

	gone := a.routes.expect(false, ip)
	t0 := time.Now()
	if _, err := a.be.Delete(a.ctx, key, 0); err != nil {
		b.Fatalf("delete %s: %v", w.Name, err)
	}
	t1, err := a.routes.wait(gone, eventWait)
	if err != nil {
		b.Fatalf("%s: route %s not deleted: %v", w.Name, ip, err)
	}
	del = t1.Sub(t0)
	if newInterface {
		if err := a.Unplug(a.ctx, w); err != nil {
			b.Fatal(err)
		}
		if err := a.Plug(a.ctx, w); err != nil {
			b.Fatal(err)
		}
		time.Sleep(plugSettle)
	} else {
		time.Sleep(settle)
	}

	added := a.routes.expect(true, ip)
	t0 = time.Now()
	if _, err := a.be.Create(a.ctx, key, val, 0); err != nil {
		b.Fatalf("create %s: %v", w.Name, err)
	}
	write = time.Since(t0)
	t1, err = a.routes.wait(added, eventWait)
	if err != nil {
		b.Fatalf("%s: route %s not programmed: %v", w.Name, ip, err)
	}
	time.Sleep(settle) // the agent finishes (neighbour, status) before the next delete
	return del, t1.Sub(t0), write
}
