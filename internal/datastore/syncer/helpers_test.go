package syncer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// rec is one callback seen by a recorder: a status change when Status is
// set, otherwise an update.
type rec struct {
	Status Status
	Update Update
}

func statusRec(s Status) rec { return rec{Status: s} }
func updRec(u Update) rec    { return rec{Update: u} }

// recorder is a Callbacks that records everything in order and checks that
// it is never called concurrently.
type recorder struct {
	mu      sync.Mutex
	busy    atomic.Bool
	recs    []rec
	batches []int
	overlap bool
	changed chan struct{}
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{})} }

func (r *recorder) enter() {
	if !r.busy.CompareAndSwap(false, true) {
		r.mu.Lock()
		r.overlap = true
		r.mu.Unlock()
	}
}

func (r *recorder) OnStatusUpdated(s Status) {
	r.enter()
	defer r.busy.Store(false)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, statusRec(s))
	r.notifyLocked()
}

func (r *recorder) OnUpdates(us []Update) {
	r.enter()
	defer r.busy.Store(false)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, u := range us {
		r.recs = append(r.recs, updRec(u))
	}
	r.batches = append(r.batches, len(us))
	r.notifyLocked()
}

func (r *recorder) notifyLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// waitFor blocks until cond holds for the records so far and returns them.
func (r *recorder) waitFor(t *testing.T, what string, cond func([]rec) bool) []rec {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for {
		r.mu.Lock()
		recs, changed := append([]rec(nil), r.recs...), r.changed
		r.mu.Unlock()
		if cond(recs) {
			return recs
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v; records so far:\n%s", what, ctx.Err(), dump(recs))
		case <-changed:
		}
	}
}

// waitInSync waits for the n-th StatusInSync and returns the records up to
// and including it.
func (r *recorder) waitInSync(t *testing.T, n int) []rec {
	t.Helper()
	recs := r.waitFor(t, fmt.Sprintf("in-sync #%d", n), func(recs []rec) bool {
		return countStatus(recs, StatusInSync) >= n
	})
	seen := 0
	for i, x := range recs {
		if x.Status == StatusInSync {
			seen++
			if seen == n {
				return recs[:i+1]
			}
		}
	}
	return recs
}

var sentinelSeq atomic.Int64

// settle writes a fresh sentinel key under prefix, waits for its update
// and returns the records from index from up to (not including) the
// sentinel's update. Since updates under one prefix are delivered in
// revision order, everything written before the sentinel has arrived.
func (r *recorder) settle(t *testing.T, f *fakeBackend, prefix string, from int) []rec {
	t.Helper()
	key := fmt.Sprintf("%s~sentinel-%d", prefix, sentinelSeq.Add(1))
	f.txn(put(key, "s"))
	recs := r.waitFor(t, "sentinel "+key, func(recs []rec) bool {
		for _, x := range recs[from:] {
			if x.Update.Key == key {
				return true
			}
		}
		return false
	})
	var out []rec
	for _, x := range recs[from:] {
		if x.Update.Key == key {
			break
		}
		if strings.Contains(x.Update.Key, "~sentinel-") {
			continue
		}
		out = append(out, x)
	}
	return out
}

func (r *recorder) overlapped() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.overlap
}

func countStatus(recs []rec, s Status) int {
	n := 0
	for _, x := range recs {
		if x.Status == s {
			n++
		}
	}
	return n
}

func statuses(recs []rec) []Status {
	var out []Status
	for _, x := range recs {
		if x.Status != 0 {
			out = append(out, x.Status)
		}
	}
	return out
}

// updatesUnder returns the updates for keys under prefix, in order,
// leaving out sentinels.
func updatesUnder(recs []rec, prefix string) []Update {
	var out []Update
	for _, x := range recs {
		if x.Status == 0 && strings.HasPrefix(x.Update.Key, prefix) && !strings.Contains(x.Update.Key, "~sentinel-") {
			out = append(out, x.Update)
		}
	}
	return out
}

func dump(recs []rec) string {
	var b strings.Builder
	for _, x := range recs {
		if x.Status != 0 {
			fmt.Fprintf(&b, "  status %s\n", x.Status)
			continue
		}
		u := x.Update
		fmt.Fprintf(&b, "  %s %s rev=%d value=%v invalid=%v\n", u.Type, u.Key, u.Revision, u.Value, u.Invalid)
	}
	return b.String()
}

// errBadValue is returned by decodeString for values starting with "bad".
var errBadValue = errors.New("bad value")

// decodeString decodes values to strings; values starting with "bad" are
// invalid, values starting with "skip" are skipped (ErrSkip) and values
// starting with "panic" make it panic.
func decodeString(key string, value []byte, _ int64) (any, error) {
	if strings.HasPrefix(string(value), "panic") {
		panic("decoder bug")
	}
	if strings.HasPrefix(string(value), "skip") {
		return nil, ErrSkip
	}
	if strings.HasPrefix(string(value), "bad") {
		return nil, fmt.Errorf("decode %s: %w", key, errBadValue)
	}
	return string(value), nil
}

// countingDecode wraps decodeString and counts calls.
func countingDecode(n *atomic.Int64) DecodeFunc {
	return func(key string, value []byte, rev int64) (any, error) {
		n.Add(1)
		return decodeString(key, value, rev)
	}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// startSyncer runs a Syncer on f with cfg (Backend, Log, Decode and
// Metrics filled in when unset) until the test ends, and checks that Run
// returns nil and the fake's watches are all gone.
func startSyncer(t *testing.T, f *fakeBackend, cfg Config) (*recorder, *Metrics) {
	t.Helper()
	cfg.Backend = f
	if cfg.Log == nil {
		cfg.Log = testLogger(t)
	}
	if cfg.Decode == nil {
		cfg.Decode = decodeString
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	r := newRecorder()
	s := New(cfg, r)
	s.backoffMin, s.backoffMax = time.Millisecond, 5*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v, want nil", err)
		}
		f.Close()
		if r.overlapped() {
			t.Error("callbacks were called concurrently")
		}
	})
	return r, cfg.Metrics
}

func counterValue(t *testing.T, c prometheus.Metric) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatalf("read metric: %v", err)
	}
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	return m.Gauge.GetValue()
}

type metricValues struct {
	InvalidA, ResyncStart, ResyncCompacted, ResyncError, WatchRestarts, InSync float64
}

func readMetrics(t *testing.T, m *Metrics) metricValues {
	t.Helper()
	return metricValues{
		InvalidA:        counterValue(t, m.invalid.WithLabelValues("/a/")),
		ResyncStart:     counterValue(t, m.resyncs.WithLabelValues(ReasonStart)),
		ResyncCompacted: counterValue(t, m.resyncs.WithLabelValues(ReasonCompacted)),
		ResyncError:     counterValue(t, m.resyncs.WithLabelValues(ReasonError)),
		WatchRestarts:   counterValue(t, m.watchRestarts),
		InSync:          counterValue(t, m.inSync),
	}
}
