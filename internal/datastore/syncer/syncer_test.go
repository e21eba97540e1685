package syncer

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
)

var initialStatuses = []Status{StatusWaitingForDatastore, StatusResyncInProgress, StatusInSync}

func TestInitialSync(t *testing.T) {
	tests := []struct {
		name       string
		prefixes   []string
		data       []op // written in one transaction at revision 2
		batchSize  int
		want       []Update // in key order
		maxBatch   int
		wantInvalA float64
	}{
		{
			name:     "empty datastore",
			prefixes: []string{"/a/"},
			maxBatch: DefaultBatchSize,
		},
		{
			name:      "batches of two",
			prefixes:  []string{"/a/"},
			data:      []op{put("/a/1", "v1"), put("/a/2", "v2"), put("/a/3", "v3"), put("/a/4", "v4"), put("/a/5", "v5")},
			batchSize: 2,
			maxBatch:  2,
			want: []Update{
				{Type: UpdateNew, Key: "/a/1", Value: "v1", Revision: 2},
				{Type: UpdateNew, Key: "/a/2", Value: "v2", Revision: 2},
				{Type: UpdateNew, Key: "/a/3", Value: "v3", Revision: 2},
				{Type: UpdateNew, Key: "/a/4", Value: "v4", Revision: 2},
				{Type: UpdateNew, Key: "/a/5", Value: "v5", Revision: 2},
			},
		},
		{
			name:     "two prefixes, other keys ignored",
			prefixes: []string{"/a/", "/b/"},
			data:     []op{put("/b/1", "b1"), put("/a/1", "a1"), put("/c/1", "c1"), put("/a", "no")},
			maxBatch: DefaultBatchSize,
			want: []Update{
				{Type: UpdateNew, Key: "/a/1", Value: "a1", Revision: 2},
				{Type: UpdateNew, Key: "/b/1", Value: "b1", Revision: 2},
			},
		},
		{
			name:       "invalid values skipped and counted",
			prefixes:   []string{"/a/"},
			data:       []op{put("/a/1", "bad1"), put("/a/2", "v2"), put("/a/3", "bad3")},
			maxBatch:   DefaultBatchSize,
			want:       []Update{{Type: UpdateNew, Key: "/a/2", Value: "v2", Revision: 2}},
			wantInvalA: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeBackend()
			if len(tt.data) > 0 {
				f.txn(tt.data...)
			}
			r, m := startSyncer(t, f, Config{Prefixes: tt.prefixes, BatchSize: tt.batchSize})
			recs := r.waitInSync(t, 1)

			if diff := cmp.Diff(initialStatuses, statuses(recs)); diff != "" {
				t.Errorf("statuses (-want +got):\n%s", diff)
			}
			for _, p := range tt.prefixes {
				if diff := cmp.Diff(updatesUnder(recsFromUpdates(tt.want), p), updatesUnder(recs, p)); diff != "" {
					t.Errorf("updates under %s (-want +got):\n%s", p, diff)
				}
			}
			// Everything after the list must be quiet: settle and check
			// that nothing more arrived.
			if extra := r.settle(t, f, tt.prefixes[0], len(recs)); len(extra) > 0 {
				t.Errorf("records after in-sync:\n%s", dump(extra))
			}
			r.mu.Lock()
			batches := slices.Clone(r.batches)
			r.mu.Unlock()
			for _, b := range batches {
				if b > tt.maxBatch {
					t.Errorf("batch of %d updates, want at most %d (batches %v)", b, tt.maxBatch, batches)
				}
			}
			got := readMetrics(t, m)
			want := metricValues{InvalidA: tt.wantInvalA, ResyncStart: float64(len(tt.prefixes)), InSync: 1}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("metrics (-want +got):\n%s", diff)
			}
		})
	}
}

func recsFromUpdates(us []Update) []rec {
	var out []rec
	for _, u := range us {
		out = append(out, updRec(u))
	}
	return out
}

func TestWatchUpdates(t *testing.T) {
	// Every case starts from /a/1=v1 at revision 2, so the case's first
	// transaction is revision 3.
	tests := []struct {
		name        string
		txns        [][]op
		want        []Update
		wantInvalid float64
	}{
		{
			name: "create update delete",
			txns: [][]op{{put("/a/2", "x")}, {put("/a/2", "y")}, {del("/a/2")}, {put("/a/2", "z")}},
			want: []Update{
				{Type: UpdateNew, Key: "/a/2", Value: "x", Revision: 3},
				{Type: UpdateChanged, Key: "/a/2", Value: "y", Revision: 4},
				{Type: UpdateDeleted, Key: "/a/2", Revision: 5},
				{Type: UpdateNew, Key: "/a/2", Value: "z", Revision: 6},
			},
		},
		{
			name: "several keys in one revision",
			txns: [][]op{{put("/a/3", "c"), put("/a/2", "b"), del("/a/1"), put("/b/1", "other")}},
			want: []Update{
				{Type: UpdateNew, Key: "/a/3", Value: "c", Revision: 3},
				{Type: UpdateNew, Key: "/a/2", Value: "b", Revision: 3},
				{Type: UpdateDeleted, Key: "/a/1", Revision: 3},
			},
		},
		{
			name: "invalid value replaces a valid one",
			txns: [][]op{{put("/a/1", "bad")}, {put("/a/1", "bad again")}, {put("/a/1", "good")}},
			want: []Update{
				{Type: UpdateDeleted, Key: "/a/1", Revision: 3, Invalid: true},
				{Type: UpdateNew, Key: "/a/1", Value: "good", Revision: 5},
			},
			wantInvalid: 2,
		},
		{
			name: "panicking decoder counts as invalid",
			txns: [][]op{{put("/a/1", "panic")}, {put("/a/2", "panic")}, {put("/a/2", "ok")}},
			want: []Update{
				{Type: UpdateDeleted, Key: "/a/1", Revision: 3, Invalid: true},
				{Type: UpdateNew, Key: "/a/2", Value: "ok", Revision: 5},
			},
			wantInvalid: 2,
		},
		{
			name: "skipped values: never delivered or counted; a delete if one had been",
			txns: [][]op{{put("/a/2", "skip")}, {put("/a/2", "skip 2")}, {put("/a/1", "skip")}, {put("/a/2", "now wanted")}, {del("/a/1")}},
			want: []Update{
				{Type: UpdateDeleted, Key: "/a/1", Revision: 5},
				{Type: UpdateNew, Key: "/a/2", Value: "now wanted", Revision: 6},
			},
		},
		{
			name:        "invalid new key then deleted",
			txns:        [][]op{{put("/a/2", "bad")}, {del("/a/2")}},
			wantInvalid: 1,
		},
		{
			name: "invalid value then delete after a valid one",
			txns: [][]op{{put("/a/1", "bad")}, {del("/a/1")}, {put("/a/1", "back")}},
			want: []Update{
				{Type: UpdateDeleted, Key: "/a/1", Revision: 3, Invalid: true},
				{Type: UpdateNew, Key: "/a/1", Value: "back", Revision: 5},
			},
			wantInvalid: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeBackend()
			f.txn(put("/a/1", "v1"))
			r, m := startSyncer(t, f, Config{Prefixes: []string{"/a/"}})
			start := len(r.waitInSync(t, 1))
			for _, ops := range tt.txns {
				f.txn(ops...)
			}
			got := r.settle(t, f, "/a/", start)
			if diff := cmp.Diff(recsFromUpdates(tt.want), got); diff != "" {
				t.Errorf("records after in-sync (-want +got):\n%s", diff)
			}
			if got := readMetrics(t, m).InvalidA; got != tt.wantInvalid {
				t.Errorf("invalid values counted = %v, want %v", got, tt.wantInvalid)
			}
		})
	}
}

func TestListRetriedUntilDatastoreAnswers(t *testing.T) {
	f := newFakeBackend()
	f.txn(put("/a/1", "v1"))
	f.failLists(errors.New("connection refused"), errors.New("connection refused"))
	r, _ := startSyncer(t, f, Config{Prefixes: []string{"/a/"}})
	recs := r.waitInSync(t, 1)
	want := []rec{
		statusRec(StatusWaitingForDatastore),
		statusRec(StatusResyncInProgress),
		updRec(Update{Type: UpdateNew, Key: "/a/1", Value: "v1", Revision: 2}),
		statusRec(StatusInSync),
	}
	if diff := cmp.Diff(want, recs); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	if lists, _ := f.counts(); lists != 3 {
		t.Errorf("List called %d times, want 3", lists)
	}
}

func TestRunStopsWhenContextEnds(t *testing.T) {
	tests := []struct {
		name  string
		setup func(f *fakeBackend)
		wait  func(t *testing.T, r *recorder)
	}{
		{
			name:  "while watching",
			setup: func(f *fakeBackend) { f.txn(put("/a/1", "v1")) },
			wait:  func(t *testing.T, r *recorder) { r.waitInSync(t, 1) },
		},
		{
			name: "while lists fail",
			setup: func(f *fakeBackend) {
				errs := make([]error, 1000)
				for i := range errs {
					errs[i] = errors.New("connection refused")
				}
				f.failLists(errs...)
			},
			wait: func(t *testing.T, r *recorder) {
				r.waitFor(t, "waiting status", func(recs []rec) bool { return len(recs) > 0 })
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeBackend()
			tt.setup(f)
			r := newRecorder()
			s := New(Config{Backend: f, Prefixes: []string{"/a/", "/b/"}, Log: testLogger(t)}, r)
			s.backoffMin, s.backoffMax = time.Millisecond, 5*time.Millisecond
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- s.Run(ctx) }()
			tt.wait(t, r)
			if err := s.Run(ctx); err == nil {
				t.Error("second Run = nil, want an error")
			}
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run = %v, want nil", err)
			}
			// Close waits for the fake's watch goroutines: it returns
			// only if the syncer cancelled every watch it started.
			f.Close()
		})
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	f := newFakeBackend()
	tests := []struct {
		name string
		cfg  Config
		cb   Callbacks
	}{
		{name: "no backend", cfg: Config{Prefixes: []string{"/a/"}}, cb: newRecorder()},
		{name: "no callbacks", cfg: Config{Backend: f, Prefixes: []string{"/a/"}}},
		{name: "no prefixes", cfg: Config{Backend: f}, cb: newRecorder()},
		{name: "overlapping prefixes", cfg: Config{Backend: f, Prefixes: []string{"/a/b/", "/a/"}}, cb: newRecorder()},
		{name: "duplicate prefixes", cfg: Config{Backend: f, Prefixes: []string{"/a/", "/a/"}}, cb: newRecorder()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := New(tt.cfg, tt.cb).Run(t.Context()); err == nil {
				t.Error("Run = nil, want an error")
			}
		})
	}
}

func TestNewMetricsTwiceOnOneRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	m1 := NewMetrics(reg)
	m2 := NewMetrics(reg)
	m1.incResync(ReasonStart)
	m2.incResync(ReasonStart)
	if got := counterValue(t, m1.resyncs.WithLabelValues(ReasonStart)); got != 2 {
		t.Errorf("shared resync counter = %v, want 2", got)
	}
	var nilMetrics *Metrics
	nilMetrics.incInvalid("/a/") // must not panic
}
