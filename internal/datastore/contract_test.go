package datastore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gocalico/calico/internal/datastore"
	"github.com/gocalico/calico/internal/datastore/etcdtest"
)

// testTimeout bounds every wait in these tests so a hang fails instead of
// blocking the run.
const testTimeout = 20 * time.Second

// contract lists the behaviours every Backend must show.
var contract = []struct {
	name string
	run  func(t *testing.T, be datastore.Backend, prefix string)
}{
	{"CRUD", testCRUD},
	{"GetMany", testGetMany},
	{"ConcurrentUpdates", testConcurrentUpdates},
	{"ListPaging", testListPaging},
	{"Watch", testWatch},
	{"Leases", testLeases},
	{"LeaseExpiry", testLeaseExpiry},
	// Compaction last: it drops history the others might still read.
	{"WatchCompacted", testWatchCompacted},
}

// TestBackendContract runs the contract against an embedded etcd and a
// 3-member etcd-server cluster.
func TestBackendContract(t *testing.T) {
	servers := []struct {
		name  string
		start func(t *testing.T) datastore.Backend
	}{
		{"embedded", func(t *testing.T) datastore.Backend {
			_, be := etcdtest.Embedded(t)
			return be
		}},
		{"cluster3", func(t *testing.T) datastore.Backend {
			return etcdtest.StartCluster(t, 3).Backend(t)
		}},
	}
	for _, s := range servers {
		t.Run(s.name, func(t *testing.T) {
			be := s.start(t)
			for _, c := range contract {
				t.Run(c.name, func(t *testing.T) {
					c.run(t, be, "/test/"+c.name+"/")
				})
			}
		})
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// testGetMany: the keys that exist, with their revisions, and none of
// the missing ones, beyond one transaction's worth of keys.
func testGetMany(t *testing.T, be datastore.Backend, prefix string) {
	ctx := ctxT(t)
	var keys []string
	want := map[string]*datastore.KV{}
	for i := range 300 {
		k := fmt.Sprintf("%sk%03d", prefix, i)
		keys = append(keys, k)
		if i%3 == 0 {
			continue // missing
		}
		rev, err := be.Create(ctx, k, []byte(k), 0)
		if err != nil {
			t.Fatal(err)
		}
		want[k] = &datastore.KV{Key: k, Value: []byte(k), ModRevision: rev}
	}
	got, err := be.GetMany(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GetMany (-want +got):\n%s", diff)
	}
	if got, err := be.GetMany(ctx, nil); err != nil || len(got) != 0 {
		t.Errorf("GetMany of no keys: %v, %v", got, err)
	}
}

func testCRUD(t *testing.T, be datastore.Backend, prefix string) {
	ctx := ctxT(t)
	key := prefix + "k"
	rev1, err := be.Create(ctx, key, []byte("v1"), 0)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	got, err := be.Get(ctx, key)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if diff := cmp.Diff(&datastore.KV{Key: key, Value: []byte("v1"), ModRevision: rev1}, got); diff != "" {
		t.Errorf("Get after Create (-want +got):\n%s", diff)
	}
	rev2, err := be.Update(ctx, key, []byte("v2"), rev1, 0)
	if err != nil || rev2 <= rev1 {
		t.Fatalf("Update = %d, %v; want a revision above %d", rev2, err, rev1)
	}

	steps := []struct {
		name    string
		op      func() error
		wantErr error
		wantMsg string
	}{
		{"create existing", func() error { _, err := be.Create(ctx, key, []byte("x"), 0); return err },
			datastore.ErrExists, "etcd create " + key},
		{"update stale revision", func() error { _, err := be.Update(ctx, key, []byte("x"), rev1, 0); return err },
			datastore.ErrConflict, "etcd update " + key},
		{"update missing key", func() error { _, err := be.Update(ctx, prefix+"missing", []byte("x"), rev1, 0); return err },
			datastore.ErrNotFound, "etcd update " + prefix + "missing"},
		{"delete stale revision", func() error { _, err := be.Delete(ctx, key, rev1); return err },
			datastore.ErrConflict, "etcd delete " + key},
		{"delete missing key", func() error { _, err := be.Delete(ctx, prefix+"missing", 0); return err },
			datastore.ErrNotFound, "etcd delete " + prefix + "missing"},
		{"delete missing key with revision", func() error { _, err := be.Delete(ctx, prefix+"missing", rev1); return err },
			datastore.ErrNotFound, "etcd delete " + prefix + "missing"},
		{"get missing key", func() error { _, err := be.Get(ctx, prefix+"missing"); return err },
			datastore.ErrNotFound, "etcd get " + prefix + "missing"},
	}
	for _, s := range steps {
		err := s.op()
		if !errors.Is(err, s.wantErr) {
			t.Errorf("%s: error %v, want %v", s.name, err, s.wantErr)
		} else if !strings.Contains(err.Error(), s.wantMsg) {
			t.Errorf("%s: error %q does not name the operation and key (%q)", s.name, err, s.wantMsg)
		}
	}

	// The value is still v2 after all the refused writes.
	if got, err := be.Get(ctx, key); err != nil || string(got.Value) != "v2" || got.ModRevision != rev2 {
		t.Fatalf("Get after refused writes = %+v, %v; want v2 at %d", got, err, rev2)
	}
	// Unconditional update creates a key.
	if _, err := be.Update(ctx, prefix+"u", []byte("u"), 0, 0); err != nil {
		t.Fatalf("unconditional Update of a new key: %v", err)
	}
	del, err := be.Delete(ctx, key, rev2)
	if err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if diff := cmp.Diff(&datastore.KV{Key: key, Value: []byte("v2"), ModRevision: rev2}, del); diff != "" {
		t.Errorf("Delete returned (-want +got):\n%s", diff)
	}
	if _, err := be.Get(ctx, key); !errors.Is(err, datastore.ErrNotFound) {
		t.Errorf("Get after Delete: %v, want ErrNotFound", err)
	}
	if _, err := be.Delete(ctx, prefix+"u", 0); err != nil {
		t.Errorf("unconditional Delete: %v", err)
	}
	for i := range 3 {
		if _, err := be.Create(ctx, fmt.Sprintf("%sp/%d", prefix, i), nil, 0); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := be.DeletePrefix(ctx, prefix+"p/"); err != nil || n != 3 {
		t.Errorf("DeletePrefix = %d, %v; want 3", n, err)
	}
	if _, err := be.DeletePrefix(ctx, ""); err == nil {
		t.Errorf("DeletePrefix(\"\") succeeded; want it refused")
	}
}

// testConcurrentUpdates has two writers update one key from the same
// revision at once, again and again: exactly one must win each round.
func testConcurrentUpdates(t *testing.T, be datastore.Backend, prefix string) {
	ctx := ctxT(t)
	key := prefix + "k"
	rev, err := be.Create(ctx, key, []byte("0"), 0)
	if err != nil {
		t.Fatal(err)
	}
	for round := range 20 {
		var (
			wg    sync.WaitGroup
			start = make(chan struct{})
			errs  [2]error
			revs  [2]int64
		)
		for w := range 2 {
			wg.Go(func() {
				<-start
				revs[w], errs[w] = be.Update(ctx, key, fmt.Appendf(nil, "round %d writer %d", round, w), rev, 0)
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for w, err := range errs {
			switch {
			case err == nil && winner == -1:
				winner = w
			case err == nil:
				t.Fatalf("round %d: both writers won", round)
			case !errors.Is(err, datastore.ErrConflict):
				t.Fatalf("round %d: writer %d: %v, want ErrConflict", round, w, err)
			}
		}
		if winner == -1 {
			t.Fatalf("round %d: no writer won: %v", round, errs)
		}
		got, err := be.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("round %d writer %d", round, winner); string(got.Value) != want || got.ModRevision != revs[winner] {
			t.Fatalf("round %d: stored %q at %d, want %q at %d", round, got.Value, got.ModRevision, want, revs[winner])
		}
		rev = revs[winner]
	}
}

// testListPaging lists in pages of 7 keys and writes between pages: the
// result must be the snapshot at the first page's revision.
func testListPaging(t *testing.T, be datastore.Backend, prefix string) {
	ctx := ctxT(t)
	var want []*datastore.KV
	for i := range 25 {
		key := fmt.Sprintf("%s%03d", prefix, i)
		rev, err := be.Create(ctx, key, []byte(key), 0)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, &datastore.KV{Key: key, Value: []byte(key), ModRevision: rev})
	}
	if _, err := be.Create(ctx, prefix[:len(prefix)-1]+"-outside", nil, 0); err != nil {
		t.Fatal(err)
	}
	pages := 0
	datastore.SetListPaging(be, 7, func() {
		pages++
		if pages > 1 {
			return
		}
		// Between pages 1 and 2: change a key on a later page, add
		// one at the end, delete one on a later page.
		if _, err := be.Update(ctx, want[20].Key, []byte("changed"), 0, 0); err != nil {
			t.Error(err)
		}
		if _, err := be.Create(ctx, prefix+"999", nil, 0); err != nil {
			t.Error(err)
		}
		if _, err := be.Delete(ctx, want[10].Key, 0); err != nil {
			t.Error(err)
		}
	})
	defer datastore.SetListPaging(be, 1000, nil)
	got, rev, err := be.List(ctx, prefix)
	if err != nil {
		t.Fatal(err)
	}
	if pages != 3 {
		t.Errorf("List read %d pages after the first, want 3 (25 keys in pages of 7)", pages)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	if last := want[len(want)-1].ModRevision; rev < last {
		t.Errorf("List revision %d is below the last create %d", rev, last)
	}
	datastore.SetListPaging(be, 1000, nil)
	got, rev2, err := be.List(ctx, prefix)
	if err != nil {
		t.Fatal(err)
	}
	if rev2 <= rev || len(got) != 25 || string(got[19].Value) != "changed" {
		t.Errorf("second List at %d (first at %d): %d keys, key 20 %q; want the later writes", rev2, rev, len(got), got[19].Value)
	}
}

// collect reads responses until n events arrived or the channel closed.
func collect(t *testing.T, ch <-chan datastore.WatchResponse, n int) []datastore.Event {
	t.Helper()
	var evs []datastore.Event
	for len(evs) < n {
		resp, ok := <-ch
		if !ok {
			t.Fatalf("watch closed after %d of %d events", len(evs), n)
		}
		if resp.Err != nil {
			t.Fatalf("watch error after %d of %d events: %v", len(evs), n, resp.Err)
		}
		evs = append(evs, resp.Events...)
	}
	return evs
}

func testWatch(t *testing.T, be datastore.Backend, prefix string) {
	ctx := ctxT(t)
	a, b := prefix+"a", prefix+"b"
	r1, err := be.Create(ctx, a, []byte("a1"), 0)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := be.Update(ctx, a, []byte("a2"), r1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := be.Delete(ctx, a, r2); err != nil {
		t.Fatal(err)
	}
	r3, err := be.Create(ctx, b, []byte("b1"), 0)
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := be.Watch(wctx, prefix, r1)
	got := collect(t, ch, 4)
	want := []datastore.Event{
		{Type: datastore.EventPut, KV: datastore.KV{Key: a, Value: []byte("a1"), ModRevision: r1}},
		{Type: datastore.EventPut, KV: datastore.KV{Key: a, Value: []byte("a2"), ModRevision: r2}},
		{Type: datastore.EventDelete, KV: datastore.KV{Key: a, Value: []byte("a2"), ModRevision: r3 - 1}},
		{Type: datastore.EventPut, KV: datastore.KV{Key: b, Value: []byte("b1"), ModRevision: r3}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events from revision %d (-want +got):\n%s", r1, diff)
	}
	// Live events keep coming on the same watch.
	r4, err := be.Update(ctx, b, []byte("b2"), r3, 0)
	if err != nil {
		t.Fatal(err)
	}
	got = collect(t, ch, 1)
	want = []datastore.Event{{Type: datastore.EventPut, KV: datastore.KV{Key: b, Value: []byte("b2"), ModRevision: r4}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("live event (-want +got):\n%s", diff)
	}
	cancel()
	for range ch {
	}
}

func testWatchCompacted(t *testing.T, be datastore.Backend, prefix string) {
	ctx := ctxT(t)
	key := prefix + "k"
	r1, err := be.Create(ctx, key, []byte("1"), 0)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := be.Update(ctx, key, []byte("2"), r1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := be.Compact(ctx, r2); err != nil {
		t.Fatalf("Compact: %v", err)
	}
	if err := be.Compact(ctx, r1); err != nil {
		t.Errorf("Compact of an already compacted revision: %v, want nil", err)
	}
	ch := be.Watch(ctx, prefix, r1)
	resp, ok := <-ch
	if !ok || !errors.Is(resp.Err, datastore.ErrCompacted) {
		t.Fatalf("watch from compacted revision %d: %+v (open %v), want ErrCompacted", r1, resp, ok)
	}
	if _, ok := <-ch; ok {
		t.Errorf("watch channel still open after its error")
	}
	// The current state is still readable.
	kvs, _, err := be.List(ctx, prefix)
	if err != nil || len(kvs) != 1 || string(kvs[0].Value) != "2" {
		t.Errorf("List after compaction = %v, %v; want the key at value 2", kvs, err)
	}
}

func testLeases(t *testing.T, be datastore.Backend, prefix string) {
	ctx := ctxT(t)
	lease, err := be.GrantLease(ctx, time.Minute)
	if err != nil {
		t.Fatalf("GrantLease: %v", err)
	}
	key := prefix + "status"
	if _, err := be.PutWithLease(ctx, key, []byte("up"), lease); err != nil {
		t.Fatalf("PutWithLease: %v", err)
	}
	got, err := be.Get(ctx, key)
	if err != nil || got.Lease != lease {
		t.Fatalf("Get = %+v, %v; want lease %x", got, err, lease)
	}
	if err := be.KeepAliveOnce(ctx, lease); err != nil {
		t.Errorf("KeepAliveOnce: %v", err)
	}
	if err := be.RevokeLease(ctx, lease); err != nil {
		t.Fatalf("RevokeLease: %v", err)
	}
	if _, err := be.Get(ctx, key); !errors.Is(err, datastore.ErrNotFound) {
		t.Errorf("Get after RevokeLease: %v, want ErrNotFound", err)
	}
	if err := be.KeepAliveOnce(ctx, lease); !errors.Is(err, datastore.ErrNotFound) {
		t.Errorf("KeepAliveOnce of a revoked lease: %v, want ErrNotFound", err)
	}
	if _, err := be.PutWithLease(ctx, key, nil, lease); !errors.Is(err, datastore.ErrNotFound) {
		t.Errorf("PutWithLease on a revoked lease: %v, want ErrNotFound", err)
	}
	if err := be.RevokeLease(ctx, lease); err != nil {
		t.Errorf("second RevokeLease: %v, want nil", err)
	}
}

// testLeaseExpiry writes a key with a TTL and waits for etcd to delete it.
func testLeaseExpiry(t *testing.T, be datastore.Backend, prefix string) {
	ctx := ctxT(t)
	key := prefix + "ttl"
	rev, err := be.Create(ctx, key, []byte("v"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := be.Get(ctx, key)
	if err != nil || kv.Lease == 0 {
		t.Fatalf("Get = %+v, %v; want a key with a lease", kv, err)
	}
	ch := be.Watch(ctx, prefix, rev+1)
	got := collect(t, ch, 1)
	want := []datastore.Event{{Type: datastore.EventDelete, KV: datastore.KV{Key: key, Value: []byte("v"), Lease: kv.Lease}}}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(datastore.KV{}, "ModRevision")); diff != "" {
		t.Errorf("event after TTL (-want +got):\n%s", diff)
	}
	if _, err := be.Get(ctx, key); !errors.Is(err, datastore.ErrNotFound) {
		t.Errorf("Get after expiry: %v, want ErrNotFound", err)
	}
}
