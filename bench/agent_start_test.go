package bench

import (
	"slices"
	"testing"
	"time"
)

// startRounds is how many restarts each start benchmark times; the
// median is reported (and the slowest, since one slow start is what an
// operator notices).
const startRounds = 5

// BenchmarkAgentStart: one host with 250 local workloads and 10k
// endpoints of other nodes in the datastore; calico-node on the host is
// stopped (SIGTERM) and started again, and timed from just before the
// start until the host is fully programmed:
//
//   - cold: the agent's routes and permanent neighbour entries are deleted
//     from the host while it is stopped (as after a reboot; interfaces and
//     their sysctls stay), so the start programs 250 routes. Timed until
//     the 250th route event.
//   - warm: everything is left in place, as when the agent is upgraded or
//     crashes. There is nothing to add; timed until /readiness answers
//     200 (the first apply succeeded), and no route may change.
//
// ready-s (until /readiness answers 200, polled every 5ms) is reported
// for both, so the two compare on the same signal; cpu-s is calico-node's
// CPU time (user + system, the whole process) at that moment, and
// peak-RSS-MB its VmHWM a second later.
func BenchmarkAgentStart(b *testing.B) {
	a := newAgentLab(b, 250)
	a.waitProgrammed(time.Minute)
	b.Run("cold", func(b *testing.B) {
		a.b = b
		for range b.N {
			a.measureStart(true)
		}
	})
	b.Run("warm", func(b *testing.B) {
		a.b = b
		for range b.N {
			a.measureStart(false)
		}
	})
}

func (a *agentLab) measureStart(cold bool) {
	b := a.b
	want := a.localAddrs()
	var programmed, ready, cpu, peak []float64
	for range startRounds {
		var added <-chan time.Time
		var adds0, dels0 int
		t0 := a.restartNode(func() {
			if cold {
				gone := a.routes.expect(false, want...)
				a.flushAgentState()
				if _, err := a.routes.wait(gone, 10*time.Second); err != nil {
					b.Fatalf("flushing: %v", err)
				}
				added = a.routes.expect(true, want...)
			}
			adds0, dels0 = a.routes.counts()
		})
		if cold {
			t1, err := a.routes.wait(added, time.Minute)
			if err != nil {
				b.Fatalf("cold start: %v", err)
			}
			programmed = append(programmed, t1.Sub(t0).Seconds())
		}
		t2 := a.waitReady(time.Minute)
		cpu = append(cpu, a.usage().CPU.Seconds())
		ready = append(ready, t2.Sub(t0).Seconds())
		// Let it run on a little: the peak of the start includes what
		// follows the first apply (status reports, GC).
		time.Sleep(time.Second)
		u := a.usage()
		peak = append(peak, u.PeakMB)
		adds, dels := a.routes.counts()
		if cold && (adds-adds0 != len(want) || dels != dels0) {
			b.Errorf("cold start: %d routes added, %d deleted; want %d added, none deleted", adds-adds0, dels-dels0, len(want))
		}
		if !cold && (adds != adds0 || dels != dels0) {
			b.Errorf("warm start changed routes: %d added, %d deleted; want none", adds-adds0, dels-dels0)
		}
		if cold {
			b.Logf("cold start: %d routes after %.3fs, ready after %.3fs, CPU %.2fs, RSS %.1f MB, peak %.1f MB", len(want),
				last(programmed), last(ready), last(cpu), u.RSSMB, u.PeakMB)
		} else {
			b.Logf("warm start: ready after %.3fs, CPU %.2fs, RSS %.1f MB, peak %.1f MB",
				last(ready), last(cpu), u.RSSMB, u.PeakMB)
		}
	}
	if cold {
		b.ReportMetric(median(programmed), "cold-start-s")
		b.ReportMetric(slices.Max(programmed), "cold-start-max-s")
	}
	b.ReportMetric(median(ready), "ready-s")
	b.ReportMetric(median(cpu), "cpu-s")
	b.ReportMetric(median(peak), "peak-RSS-MB")
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func last(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	return xs[len(xs)-1]
}
