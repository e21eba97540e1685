package bench

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/gocalico/calico/internal/datastore"
	"github.com/gocalico/calico/internal/datastore/etcdtest"
	"github.com/gocalico/calico/internal/datastore/syncer"
	"github.com/gocalico/calico/internal/resources"
)

func decoder() syncer.DecodeFunc {
	c := resources.New(nil)
	return func(key string, value []byte, rev int64) (any, error) { return c.DecodeKV(key, value, rev) }
}

// BenchmarkSyncerInitialSync100k: 100k WorkloadEndpoints in a real etcd
// (a separate etcd-server process, so this process's memory is the
// syncer's and its consumer's), then the time from starting a syncer to
// in-sync with every value decoded into a typed cache, and the peak memory
// of doing so.
func BenchmarkSyncerInitialSync100k(b *testing.B) {
	const n = 100_000
	cl := etcdtest.StartCluster(b, 1)
	be := cl.Backend(b)
	start := time.Now()
	load(b, be, n)
	b.Logf("loaded %d WEPs in %v", n, time.Since(start).Round(time.Millisecond))

	for _, bc := range []struct {
		name    string
		workers int
	}{{"decode-serial", 1}, {"decode-parallel", 0}} {
		b.Run(bc.name, func(b *testing.B) { initialSync(b, be, n, bc.workers) })
	}
}

func initialSync(b *testing.B, be datastore.Backend, n, workers int) {
	for range b.N {
		t0 := time.Now()
		kvs, _, err := be.List(context.Background(), resources.Prefix)
		if err != nil || len(kvs) != n {
			b.Fatalf("list: %d keys, %v", len(kvs), err)
		}
		b.ReportMetric(time.Since(t0).Seconds(), "list-only-s")
		kvs = nil
		runtime.GC()
		resetPeakRSS()
		heap := sampleHeap()
		cache := syncer.NewCache()
		s := syncer.New(syncer.Config{Backend: be, Prefixes: []string{resources.Prefix}, Decode: decoder(), DecodeWorkers: workers}, cache)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		t0 = time.Now()
		go func() { done <- s.Run(ctx) }()
		if err := cache.WaitInSync(ctx); err != nil {
			b.Fatal(err)
		}
		elapsed := time.Since(t0)
		peakHeap := heap.peakMB()
		peakRSS := peakRSSMB()
		if got := cache.Len(); got != n {
			b.Fatalf("cache holds %d values, want %d", got, n)
		}
		cancel()
		<-done
		b.ReportMetric(elapsed.Seconds(), "sync-s")
		b.ReportMetric(float64(n)/elapsed.Seconds(), "keys/s")
		b.ReportMetric(peakHeap, "peak-heap-MB")
		b.ReportMetric(peakRSS, "peak-RSS-MB")
	}
}

// latencyProbe reports when the probe key's updates arrive.
type latencyProbe struct {
	key     string
	arrived chan time.Time
	inSync  chan struct{}
}

func (p *latencyProbe) OnStatusUpdated(s syncer.Status) {
	if s == syncer.StatusInSync {
		select {
		case p.inSync <- struct{}{}:
		default:
		}
	}
}

func (p *latencyProbe) OnUpdates(us []syncer.Update) {
	for _, u := range us {
		if u.Key == p.key && u.Type != syncer.UpdateDeleted {
			p.arrived <- time.Now()
		}
	}
}

// BenchmarkWatchLatency: with 10k other resources in the datastore, the
// time from starting a write to the syncer delivering the decoded update,
// over 1000 sequential writes; the write alone is reported alongside.
func BenchmarkWatchLatency(b *testing.B) {
	_, be := etcdtest.Embedded(b)
	load(b, be, 10_000)
	for range b.N {
		measureWatchLatency(b, be, 1000)
	}
}

func measureWatchLatency(b *testing.B, be datastore.Backend, samples int) {
	key, _ := wepJSON(99_999_999)
	p := &latencyProbe{key: key, arrived: make(chan time.Time, 1), inSync: make(chan struct{}, 1)}
	s := syncer.New(syncer.Config{Backend: be, Prefixes: []string{resources.Prefix}, Decode: decoder()}, p)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = s.Run(ctx) }()
	<-p.inSync
	var total, write []time.Duration
	for i := range samples {
		_, v := wepJSON(99_999_999)
		v = append(v[:len(v)-1], []byte(fmt.Sprintf(`,"seq":%d}`, i))...)
		t0 := time.Now()
		if _, err := be.Update(ctx, key, v, 0, 0); err != nil {
			b.Fatal(err)
		}
		write = append(write, time.Since(t0))
		select {
		case t1 := <-p.arrived:
			total = append(total, t1.Sub(t0))
		case <-time.After(10 * time.Second):
			b.Fatalf("update %d not delivered", i)
		}
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(percentile(total, 0.50)), "p50-ms")
	b.ReportMetric(ms(percentile(total, 0.99)), "p99-ms")
	b.ReportMetric(ms(percentile(write, 0.50)), "write-p50-ms")
	b.ReportMetric(ms(percentile(write, 0.99)), "write-p99-ms")
}
