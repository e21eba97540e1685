package syncer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gocalico/calico/internal/datastore"
	"github.com/gocalico/calico/internal/datastore/etcdtest"
	"github.com/gocalico/calico/internal/datastore/syncer"
)

// The integration scenario follows two prefixes of a real etcd: a large
// one and a small one, as an agent follows endpoints and pools.
const (
	prefixBig   = "/calico/test/syncer/big/"
	prefixSmall = "/calico/test/syncer/small/"
	seedKeys    = 10_000
	writers     = 8
)

// value is what the test decoder produces; comparable, so views compare
// cheaply with ==.
type value struct {
	ID  int `json:"id"`
	Gen int `json:"gen"`
}

func decodeValue(key string, raw []byte, _ int64) (any, error) {
	var v value
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("decode %s: %w", key, err)
	}
	return v, nil
}

// TestEtcdEmbedded runs the scenario against an in-process etcd: initial
// list of 10k keys, live changes, then a watch cut off while changes are
// made and the history compacted.
func TestEtcdEmbedded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 10k keys to etcd; skipped with -short")
	}
	_, be := etcdtest.Embedded(t)
	sc := newScenario(t, be, be)
	sc.seed()
	sc.start()
	sc.changes(500)
	sc.compactWhileCut(500)
	sc.finish(2)
}

// TestEtcdCluster runs the scenario against three etcd-server processes
// and adds member loss: each member in turn is killed while changes are
// made, then restarted, so the member serving the syncer's watch is lost
// at least once.
func TestEtcdCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 10k keys to a 3-member etcd cluster; skipped with -short")
	}
	c := etcdtest.StartCluster(t, 3)
	sc := newScenario(t, c.Backend(t), c.Backend(t))
	sc.seed()
	sc.start()
	sc.changes(400)
	sc.compactWhileCut(300)
	for i := range 3 {
		c.Kill(i)
		sc.changes(100)
		c.Restart(i)
		c.WaitHealthy(t)
	}
	sc.finish(2)
}

// TestEtcdServerRestart takes the whole datastore away: the only etcd
// member is killed with SIGKILL mid-watch and started again on its data.
// Changes made after the restart must reach the syncer with nothing lost
// or duplicated and no second initial sync. (etcd's client re-establishes
// the watch stream itself and resumes after the last revision it
// delivered, so the syncer usually sees no error at all; its own re-watch
// path is covered by the cut-watch scenarios.)
func TestEtcdServerRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 10k keys to etcd; skipped with -short")
	}
	c := etcdtest.StartCluster(t, 1)
	sc := newScenario(t, c.Backend(t), c.Backend(t))
	sc.seed()
	sc.start()
	sc.changes(200)
	before := sc.watchRestarts()
	c.Kill(0)
	c.Restart(0)
	c.WaitHealthy(t)
	sc.changes(300)
	t.Logf("watch restarts by the syncer across the etcd restart: %v", sc.watchRestarts()-before)
	sc.finish(1)
}

// watchRestarts reads the syncer's watch-restart counter.
func (sc *scenario) watchRestarts() float64 {
	mfs, err := sc.reg.Gather()
	if err != nil {
		sc.t.Fatalf("gather metrics: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "calico_syncer_watch_restarts_total" {
			var sum float64
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
			return sum
		}
	}
	return 0
}

// scenario drives writes against etcd and checks a syncer.Cache against
// etcd's own content.
type scenario struct {
	t       *testing.T
	writer  datastore.Backend
	watched *cuttable
	cache   *syncer.Cache
	reg     *prometheus.Registry
	rng     *rand.Rand
	live    []string // keys the writer believes exist (may be stale)
	next    int      // next new key index
}

func newScenario(t *testing.T, writer, watched datastore.Backend) *scenario {
	return &scenario{
		t:       t,
		writer:  writer,
		watched: newCuttable(watched),
		cache:   syncer.NewCache(),
		reg:     prometheus.NewRegistry(),
		rng:     rand.New(rand.NewPCG(1, 2)),
	}
}

func (sc *scenario) key(i int) string {
	if i%10 == 0 {
		return fmt.Sprintf("%sk%06d", prefixSmall, i)
	}
	return fmt.Sprintf("%sk%06d", prefixBig, i)
}

// seed writes seedKeys keys, a few of them invalid, and one key outside
// both prefixes.
func (sc *scenario) seed() {
	ops := make([]writeOp, 0, seedKeys+1)
	for range seedKeys {
		k := sc.key(sc.next)
		v := fmt.Sprintf(`{"id":%d,"gen":0}`, sc.next)
		if sc.next%1000 == 7 {
			v = `{"id": not json`
		}
		ops = append(ops, writeOp{key: k, value: v})
		sc.live = append(sc.live, k)
		sc.next++
	}
	ops = append(ops, writeOp{key: "/calico/test/syncer/other", value: `{"id":-1}`})
	sc.apply(ops)
}

// start runs the syncer until the test ends and checks the initial view.
func (sc *scenario) start() {
	t := sc.t
	s := syncer.New(syncer.Config{
		Backend:  sc.watched,
		Prefixes: []string{prefixBig, prefixSmall},
		Decode:   decodeValue,
		Log:      slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo})),
		Metrics:  syncer.NewMetrics(sc.reg),
	}, sc.cache)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
	})
	sc.converge("initial list")
	if got := sc.cache.InSyncCount(); got != 1 {
		t.Errorf("in-sync reported %d times after the initial list, want 1", got)
	}
}

// changes makes n random changes: creates, updates, deletes and invalid
// values, and waits for the view to match etcd.
func (sc *scenario) changes(n int) {
	sc.apply(sc.randomOps(n))
	sc.converge(fmt.Sprintf("%d changes", n))
}

// compactWhileCut cuts the syncer's watches, makes n changes, compacts
// etcd's history past the syncer's revision and lets the syncer back in:
// it must find its revision compacted, re-list and converge.
func (sc *scenario) compactWhileCut(n int) {
	t := sc.t
	before := sc.resyncs()
	sc.watched.cut()
	sc.apply(sc.randomOps(n))
	_, rev, err := sc.writer.List(t.Context(), "/calico/test/syncer/none/")
	if err != nil {
		t.Fatalf("read revision: %v", err)
	}
	if err := sc.writer.Compact(t.Context(), rev); err != nil {
		t.Fatalf("compact at %d: %v", rev, err)
	}
	sc.watched.restore()
	sc.converge(fmt.Sprintf("%d changes and compaction while the watch was cut", n))
	if got := sc.resyncs() - before; got < 1 {
		t.Errorf("re-lists after the compaction = %v, want at least 1", got)
	}
}

// finish checks the end state: the view matches etcd, the stream was
// coherent and in-sync was reported at least minInSync times.
func (sc *scenario) finish(minInSync int) {
	t := sc.t
	sc.converge("final state")
	if v := sc.cache.Violations(); len(v) > 0 {
		t.Errorf("incoherent update stream (%d violations), first: %q", len(v), v[:min(len(v), 5)])
	}
	if got := sc.cache.InSyncCount(); got < minInSync {
		t.Errorf("in-sync reported %d times, want at least %d", got, minInSync)
	}
	t.Logf("keys %d, updates %d, in-sync %d, re-lists (start, compacted, error) %v",
		sc.cache.Len(), sc.cache.UpdateCount(), sc.cache.InSyncCount(), sc.resyncCounts())
}

// converge waits until the syncer is in sync and its view equals what a
// fresh List of etcd decodes to.
func (sc *scenario) converge(what string) {
	t := sc.t
	t.Helper()
	want := map[string]any{}
	for _, p := range []string{prefixBig, prefixSmall} {
		kvs, _, err := sc.writer.List(t.Context(), p)
		if err != nil {
			t.Fatalf("%s: list %s: %v", what, p, err)
		}
		for _, kv := range kvs {
			if v, err := decodeValue(kv.Key, kv.Value, kv.ModRevision); err == nil {
				want[kv.Key] = v
			}
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	err := sc.cache.WaitFor(ctx, func(st syncer.Status, got map[string]any) bool {
		return st == syncer.StatusInSync && sameView(want, got)
	})
	if err != nil {
		got := sc.cache.Snapshot()
		t.Fatalf("%s: view never matched etcd (%v): status %v, %d keys, want %d; %s",
			what, err, sc.cache.Status(), len(got), len(want), firstDiff(want, got))
	}
}

func sameView(want, got map[string]any) bool {
	if len(want) != len(got) {
		return false
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			return false
		}
	}
	return true
}

func firstDiff(want, got map[string]any) string {
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			return fmt.Sprintf("key %s: want %v, got %v (present %v)", k, v, g, ok)
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			return fmt.Sprintf("key %s: not in etcd, got %v", k, g)
		}
	}
	return "no difference"
}

func (sc *scenario) resyncCounts() map[string]float64 {
	out := map[string]float64{}
	mfs, err := sc.reg.Gather()
	if err != nil {
		sc.t.Fatalf("gather metrics: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "calico_syncer_resyncs_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" {
					out[l.GetValue()] = m.GetCounter().GetValue()
				}
			}
		}
	}
	return out
}

// resyncs counts re-lists after the first list of each prefix.
func (sc *scenario) resyncs() float64 {
	c := sc.resyncCounts()
	return c[syncer.ReasonCompacted] + c[syncer.ReasonError]
}

// randomOps picks n changes: 30% creates, 40% updates, 25% deletes, 5%
// invalid values.
func (sc *scenario) randomOps(n int) []writeOp {
	ops := make([]writeOp, 0, n)
	for range n {
		r := sc.rng.IntN(100)
		switch {
		case r < 30 || len(sc.live) == 0:
			k := sc.key(sc.next)
			ops = append(ops, writeOp{key: k, value: fmt.Sprintf(`{"id":%d,"gen":0}`, sc.next)})
			sc.live = append(sc.live, k)
			sc.next++
		case r < 70:
			k := sc.live[sc.rng.IntN(len(sc.live))]
			ops = append(ops, writeOp{key: k, value: fmt.Sprintf(`{"id":%d,"gen":%d}`, sc.rng.IntN(1000), 1+sc.rng.IntN(1000))})
		case r < 95:
			i := sc.rng.IntN(len(sc.live))
			ops = append(ops, writeOp{key: sc.live[i], del: true})
			sc.live[i] = sc.live[len(sc.live)-1]
			sc.live = sc.live[:len(sc.live)-1]
		default:
			k := sc.live[sc.rng.IntN(len(sc.live))]
			ops = append(ops, writeOp{key: k, value: `["not an object"]`})
		}
	}
	return ops
}

type writeOp struct {
	key, value string
	del        bool
}

// apply runs ops with bounded concurrency. Each op is retried while etcd
// is unavailable (a member was just killed); a delete of a key already
// gone counts as done.
func (sc *scenario) apply(ops []writeOp) {
	t := sc.t
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	work := make(chan writeOp)
	errs := make(chan error, writers)
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for op := range work {
				if err := sc.write(ctx, op); err != nil {
					errs <- err
					cancel()
					return
				}
			}
		})
	}
feed:
	for _, op := range ops {
		select {
		case work <- op:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func (sc *scenario) write(ctx context.Context, op writeOp) error {
	var err error
	for attempt := 0; ; attempt++ {
		if op.del {
			_, err = sc.writer.Delete(ctx, op.key, 0)
			if errors.Is(err, datastore.ErrNotFound) {
				err = nil
			}
		} else {
			_, err = sc.writer.Update(ctx, op.key, []byte(op.value), 0, 0)
		}
		if err == nil || ctx.Err() != nil || attempt == 50 {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	if err != nil {
		return fmt.Errorf("write %s (delete %v): %w", op.key, op.del, err)
	}
	return nil
}
