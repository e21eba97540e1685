package syncer

import (
	"errors"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestCompactionResync makes /a/'s watch fall behind a compaction while
// /b/ keeps streaming, and checks that the re-list of /a/ emits exactly
// the differences, decodes only changed keys and reports in-sync once.
func TestCompactionResync(t *testing.T) {
	f := newFakeBackend()
	f.txn(put("/a/1", "v1"), put("/a/2", "v2"), put("/a/3", "v3"), put("/a/4", "v4"),
		put("/a/5", "v5"), put("/a/6", "bad6"), put("/b/1", "b1"))
	var decodes atomic.Int64
	r, m := startSyncer(t, f, Config{Prefixes: []string{"/a/", "/b/"}, Decode: countingDecode(&decodes)})
	start := len(r.waitInSync(t, 1))
	f.waitWatching(t, "/a/")

	f.hold("/a/")
	r1 := f.txn(put("/a/1", "v1'"))
	f.txn(del("/a/2"))
	r7 := f.txn(put("/a/7", "v7"))
	r3 := f.txn(put("/a/3", "bad3"))
	r6 := f.txn(put("/a/6", "v6"))
	f.txn(del("/a/4"))
	r4 := f.txn(put("/a/4", "v4'"))
	f.txn(put("/a/8", "v8"))
	f.txn(del("/a/8"))
	rb := f.txn(put("/b/2", "b2"))
	r.settle(t, f, "/b/", start) // /b/ is not held: /b/2 is delivered now
	listRev := f.revision()
	decodes.Store(0)
	// The held /a/ watch is behind the compaction and fails with
	// ErrCompacted, as an unsynced etcd watcher does.
	if err := f.Compact(t.Context(), listRev); err != nil {
		t.Fatal(err)
	}
	f.release("/a/")

	recs := r.waitInSync(t, 2)[start:]
	wantA := []Update{
		{Type: UpdateDeleted, Key: "/a/2", Revision: listRev},
		{Type: UpdateChanged, Key: "/a/1", Value: "v1'", Revision: r1},
		{Type: UpdateDeleted, Key: "/a/3", Revision: r3, Invalid: true},
		{Type: UpdateChanged, Key: "/a/4", Value: "v4'", Revision: r4},
		{Type: UpdateNew, Key: "/a/6", Value: "v6", Revision: r6},
		{Type: UpdateNew, Key: "/a/7", Value: "v7", Revision: r7},
	}
	if diff := cmp.Diff(wantA, updatesUnder(recs, "/a/")); diff != "" {
		t.Errorf("/a/ resync updates (-want +got):\n%s", diff)
	}
	wantB := []Update{{Type: UpdateNew, Key: "/b/2", Value: "b2", Revision: rb}}
	if diff := cmp.Diff(wantB, updatesUnder(recs, "/b/")); diff != "" {
		t.Errorf("/b/ updates (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]Status{StatusResyncInProgress, StatusInSync}, statuses(recs)); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	// Only the five keys whose revision changed are decoded again.
	if got := decodes.Load(); got != 5 {
		t.Errorf("decodes during resync = %d, want 5", got)
	}

	// The watch resumes after the list.
	after := r.settle(t, f, "/a/", start+len(recs))
	if len(after) > 0 {
		t.Errorf("records after the resync:\n%s", dump(after))
	}
	r9 := f.txn(put("/a/9", "v9"))
	got := updatesUnder(r.settle(t, f, "/a/", start+len(recs)), "/a/")
	if diff := cmp.Diff([]Update{{Type: UpdateNew, Key: "/a/9", Value: "v9", Revision: r9}}, got); diff != "" {
		t.Errorf("updates after the resync (-want +got):\n%s", diff)
	}
	want := metricValues{InvalidA: 2, ResyncStart: 2, ResyncCompacted: 1, InSync: 1}
	if diff := cmp.Diff(want, readMetrics(t, m)); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
}

// TestWatchErrorResumes breaks a watch that has fallen behind and checks
// that the syncer re-watches from the last revision it saw, with no loss,
// no duplicate and no status change.
func TestWatchErrorResumes(t *testing.T) {
	f := newFakeBackend()
	listRev := f.txn(put("/a/1", "v1"), put("/a/2", "v2"))
	r, m := startSyncer(t, f, Config{Prefixes: []string{"/a/"}})
	start := len(r.waitInSync(t, 1))
	r0 := f.txn(put("/a/0", "v0"))
	seen := r.settle(t, f, "/a/", start)
	if diff := cmp.Diff(recsFromUpdates([]Update{{Type: UpdateNew, Key: "/a/0", Value: "v0", Revision: r0}}), seen); diff != "" {
		t.Errorf("records before the break (-want +got):\n%s", diff)
	}
	start += len(seen) + 1 // the sentinel

	f.hold("/a/")
	ra := f.txn(put("/a/4", "v4"))
	rb := f.txn(put("/a/1", "v1'"))
	rc := f.txn(del("/a/2"))
	f.breakWatches(t, errors.New("rpc error: connection reset"))
	f.release("/a/")

	got := r.settle(t, f, "/a/", start)
	want := recsFromUpdates([]Update{
		{Type: UpdateNew, Key: "/a/4", Value: "v4", Revision: ra},
		{Type: UpdateChanged, Key: "/a/1", Value: "v1'", Revision: rb},
		{Type: UpdateDeleted, Key: "/a/2", Revision: rc},
	})
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("records after the broken watch (-want +got):\n%s", diff)
	}
	_, watchFrom := f.counts()
	// Initial watch, then the re-watch from the sentinel's revision + 1
	// (the newest event delivered before the break).
	if len(watchFrom) != 2 || watchFrom[0] != listRev+1 || watchFrom[1] != r0+2 {
		t.Errorf("watch start revisions = %v, want [%d %d]", watchFrom, listRev+1, r0+2)
	}
	want2 := metricValues{ResyncStart: 1, WatchRestarts: 1, InSync: 1}
	if diff := cmp.Diff(want2, readMetrics(t, m)); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
}

// TestWatchErrorThenCompacted breaks a watch, compacts past its revision
// and fails the first re-list: the syncer must re-list (reason error),
// retry the list and emit only the differences.
func TestWatchErrorThenCompacted(t *testing.T) {
	f := newFakeBackend()
	f.txn(put("/a/1", "v1"), put("/a/2", "v2"))
	r, m := startSyncer(t, f, Config{Prefixes: []string{"/a/"}})
	start := len(r.waitInSync(t, 1))
	f.waitWatching(t, "/a/")

	f.hold("/a/")
	r1 := f.txn(put("/a/1", "v1'"))
	f.txn(del("/a/2"))
	r3 := f.txn(put("/a/3", "v3"))
	listRev := f.revision()
	f.failLists(errors.New("etcdserver: leader changed"))
	f.breakWatches(t, errors.New("rpc error: member removed"))
	if err := f.Compact(t.Context(), listRev); err != nil {
		t.Fatal(err)
	}
	f.release("/a/")

	recs := r.waitInSync(t, 2)[start:]
	want := []rec{
		statusRec(StatusResyncInProgress),
		updRec(Update{Type: UpdateDeleted, Key: "/a/2", Revision: listRev}),
		updRec(Update{Type: UpdateChanged, Key: "/a/1", Value: "v1'", Revision: r1}),
		updRec(Update{Type: UpdateNew, Key: "/a/3", Value: "v3", Revision: r3}),
		statusRec(StatusInSync),
	}
	if diff := cmp.Diff(want, recs); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	if lists, _ := f.counts(); lists != 3 {
		t.Errorf("List called %d times, want 3 (initial, failed, retried)", lists)
	}
	got := readMetrics(t, m)
	if got.ResyncError != 1 || got.ResyncCompacted != 0 || got.InSync != 1 {
		t.Errorf("metrics = %+v, want one resync for reason error and in-sync 1", got)
	}
}

// TestProgressNotifyAdvancesRevision checks that a quiet prefix re-watches
// from the revision of the last progress notification, not from its last
// event, so a compaction in between does not force a re-list.
func TestProgressNotifyAdvancesRevision(t *testing.T) {
	f := newFakeBackend()
	listRev := f.txn(put("/a/1", "v1"))
	r, m := startSyncer(t, f, Config{Prefixes: []string{"/a/"}})
	start := len(r.waitInSync(t, 1))
	// In-sync comes once the list is delivered, before the watch that
	// follows it is open: the notification below is for that watch.
	f.waitWatching(t, "/a/")
	f.txn(put("/b/1", "other"))
	progressRev := f.txn(put("/b/2", "other"))
	// The syncer receives the notification before the break below, on
	// the same watch channel.
	f.progressNotify(t)
	if err := f.Compact(t.Context(), progressRev); err != nil {
		t.Fatal(err)
	}
	f.breakWatches(t, errors.New("rpc error: connection reset"))
	if got := r.settle(t, f, "/a/", start); len(got) > 0 {
		t.Errorf("records after the broken watch:\n%s", dump(got))
	}
	_, watchFrom := f.counts()
	if diff := cmp.Diff([]int64{listRev + 1, progressRev + 1}, watchFrom); diff != "" {
		t.Errorf("watch start revisions (-want +got):\n%s", diff)
	}
	if got := readMetrics(t, m); got.ResyncError != 0 || got.ResyncCompacted != 0 {
		t.Errorf("metrics = %+v, want no re-list", got)
	}
}
