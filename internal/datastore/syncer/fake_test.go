package syncer

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gocalico/calico/internal/datastore"
)

// fakeBackend is an in-memory datastore.Backend that models etcd's
// revisions: every write bumps the store revision, history is kept until
// compacted, and a watch replays history from its start revision. A watch
// that falls behind a compaction fails with ErrCompacted, as an unsynced
// etcd watcher does. Tests can hold watch delivery (a slow watcher), break
// watches with an error and make lists fail.
type fakeBackend struct {
	mu        sync.Mutex
	rev       int64
	kvs       map[string]datastore.KV
	history   []datastore.Event // events after compacted, in revision order
	compacted int64
	held      map[string]bool // watch prefixes whose delivery is held
	watches   map[*fakeWatch]struct{}
	listErrs  []error
	lists     int
	watchFrom []int64 // start revision of every Watch call
	changed   chan struct{}
	wg        sync.WaitGroup
}

type fakeWatch struct {
	prefix   string
	broken   chan error
	progress chan chan struct{} // closed once the notification is sent
}

var _ datastore.Backend = (*fakeBackend)(nil)

func newFakeBackend() *fakeBackend {
	return &fakeBackend{
		rev:     1, // etcd starts at 1; the first write is revision 2
		kvs:     make(map[string]datastore.KV),
		watches: make(map[*fakeWatch]struct{}),
		held:    make(map[string]bool),
		changed: make(chan struct{}),
	}
}

// op is one write in a fake transaction: a put, or a delete when del.
type op struct {
	key, value string
	del        bool
}

func put(key, value string) op { return op{key: key, value: value} }
func del(key string) op        { return op{key: key, del: true} }

// txn applies ops atomically at one new revision and returns it.
func (f *fakeBackend) txn(ops ...op) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rev++
	for _, o := range ops {
		if o.del {
			old, ok := f.kvs[o.key]
			if !ok {
				continue
			}
			delete(f.kvs, o.key)
			old.ModRevision = f.rev
			f.history = append(f.history, datastore.Event{Type: datastore.EventDelete, KV: old})
			continue
		}
		kv := datastore.KV{Key: o.key, Value: []byte(o.value), ModRevision: f.rev}
		f.kvs[o.key] = kv
		f.history = append(f.history, datastore.Event{Type: datastore.EventPut, KV: kv})
	}
	f.notifyLocked()
	return f.rev
}

func (f *fakeBackend) notifyLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// hold stops delivery to watches of prefix until release, like a watcher
// that fell behind. A compaction still ends such a watch.
func (f *fakeBackend) hold(prefix string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.held[prefix] = true
}

func (f *fakeBackend) release(prefix string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.held, prefix)
	f.notifyLocked()
}

// waitWatching blocks until a watch of prefix is open. The syncer reports
// in-sync once a list is delivered, before it opens the watch that
// follows: a test that acts on that watch (breaks it, asks it for
// progress) must wait for it first.
func (f *fakeBackend) waitWatching(t *testing.T, prefix string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for {
		f.mu.Lock()
		open, changed := f.watchingLocked(prefix), f.changed
		f.mu.Unlock()
		if open {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for a watch of %s: %v", prefix, ctx.Err())
		case <-changed:
		}
	}
}

func (f *fakeBackend) watchingLocked(prefix string) bool {
	for w := range f.watches {
		if w.prefix == prefix {
			return true
		}
	}
	return false
}

// breakWatches ends every active watch with err. It fails the test if
// there is none: breaking nothing would test nothing.
func (f *fakeBackend) breakWatches(t *testing.T, err error) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.watches) == 0 {
		t.Fatal("fake backend: no open watch to break (waitWatching first)")
	}
	for w := range f.watches {
		w.broken <- err
		delete(f.watches, w)
	}
}

// progressNotify makes every watch send a progress notification (a
// response without events at the current revision) once it has delivered
// all events, as etcd does with WithProgressNotify, and waits until the
// watchers have received them. It fails the test if no watch is open.
func (f *fakeBackend) progressNotify(t *testing.T) {
	t.Helper()
	f.mu.Lock()
	if len(f.watches) == 0 {
		f.mu.Unlock()
		t.Fatal("fake backend: no open watch to notify (waitWatching first)")
	}
	var sent []chan struct{}
	for w := range f.watches {
		c := make(chan struct{})
		select {
		case w.progress <- c:
			sent = append(sent, c)
		default:
		}
	}
	f.notifyLocked()
	f.mu.Unlock()
	for _, c := range sent {
		<-c
	}
}

// failLists makes the next List calls fail with errs, one each.
func (f *fakeBackend) failLists(errs ...error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.listErrs = append(f.listErrs, errs...)
}

func (f *fakeBackend) revision() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rev
}

func (f *fakeBackend) counts() (lists int, watchFrom []int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lists, slices.Clone(f.watchFrom)
}

func (f *fakeBackend) List(ctx context.Context, prefix string) ([]*datastore.KV, int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lists++
	if len(f.listErrs) > 0 {
		err := f.listErrs[0]
		f.listErrs = f.listErrs[1:]
		return nil, 0, err
	}
	var out []*datastore.KV
	for k, kv := range f.kvs {
		if strings.HasPrefix(k, prefix) {
			kv.Value = slices.Clone(kv.Value)
			out = append(out, &kv)
		}
	}
	slices.SortFunc(out, compareKV)
	return out, f.rev, ctx.Err()
}

func (f *fakeBackend) Watch(ctx context.Context, prefix string, fromRev int64) <-chan datastore.WatchResponse {
	ch := make(chan datastore.WatchResponse)
	w := &fakeWatch{prefix: prefix, broken: make(chan error, 1), progress: make(chan chan struct{}, 1)}
	f.mu.Lock()
	f.watchFrom = append(f.watchFrom, fromRev)
	f.watches[w] = struct{}{}
	f.notifyLocked() // for waitWatching
	f.mu.Unlock()
	f.wg.Go(func() {
		defer close(ch)
		defer func() {
			f.mu.Lock()
			delete(f.watches, w)
			f.mu.Unlock()
		}()
		send := func(r datastore.WatchResponse) bool {
			select {
			case ch <- r:
				return true
			case <-ctx.Done():
				return false
			}
		}
		next := fromRev
		for {
			f.mu.Lock()
			// breakWatches sends under f.mu: a break seen here comes
			// before any event not yet delivered.
			select {
			case err := <-w.broken:
				f.mu.Unlock()
				send(datastore.WatchResponse{Err: err})
				return
			default:
			}
			if next <= f.compacted {
				f.mu.Unlock()
				send(datastore.WatchResponse{Revision: f.rev, Err: datastore.ErrCompacted})
				return
			}
			var resp datastore.WatchResponse
			if !f.held[prefix] {
				for _, ev := range f.history {
					if ev.KV.ModRevision >= next && strings.HasPrefix(ev.KV.Key, prefix) {
						resp.Events = append(resp.Events, ev)
					}
				}
				resp.Revision = f.rev
				next = f.rev + 1
			}
			var progressSent chan struct{}
			if !f.held[prefix] {
				select {
				case progressSent = <-w.progress:
				default:
				}
			}
			wake := f.changed
			f.mu.Unlock()
			if len(resp.Events) > 0 && !send(resp) {
				return
			}
			if progressSent != nil {
				if !send(datastore.WatchResponse{Revision: resp.Revision}) {
					return
				}
				close(progressSent)
			}
			select {
			case <-ctx.Done():
				return
			case err := <-w.broken:
				send(datastore.WatchResponse{Err: err})
				return
			case <-wake:
			}
		}
	})
	return ch
}

func (f *fakeBackend) Compact(_ context.Context, rev int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if rev > f.rev {
		return errors.New("fake compact: revision in the future")
	}
	f.compacted = max(f.compacted, rev)
	f.history = slices.DeleteFunc(f.history, func(ev datastore.Event) bool { return ev.KV.ModRevision <= rev })
	f.notifyLocked()
	return nil
}

// Close waits for every watch goroutine to end.
func (f *fakeBackend) Close() error {
	f.wg.Wait()
	return nil
}

var errNotModelled = errors.New("not modelled by the fake backend")

func (f *fakeBackend) Get(context.Context, string) (*datastore.KV, error) {
	return nil, errNotModelled
}

func (f *fakeBackend) Create(context.Context, string, []byte, time.Duration) (int64, error) {
	return 0, errNotModelled
}

func (f *fakeBackend) Update(context.Context, string, []byte, int64, time.Duration) (int64, error) {
	return 0, errNotModelled
}

func (f *fakeBackend) Delete(context.Context, string, int64) (*datastore.KV, error) {
	return nil, errNotModelled
}

func (f *fakeBackend) DeletePrefix(context.Context, string) (int64, error) {
	return 0, errNotModelled
}

func (f *fakeBackend) GrantLease(context.Context, time.Duration) (int64, error) {
	return 0, errNotModelled
}

func (f *fakeBackend) KeepAliveOnce(context.Context, int64) error { return errNotModelled }

func (f *fakeBackend) GetMany(context.Context, []string) (map[string]*datastore.KV, error) {
	return nil, errNotModelled
}

func (f *fakeBackend) PutWithLease(context.Context, string, []byte, int64) (int64, error) {
	return 0, errNotModelled
}

func (f *fakeBackend) RevokeLease(context.Context, int64) error { return errNotModelled }
