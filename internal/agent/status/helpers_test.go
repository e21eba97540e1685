package status

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gocalico/calico/internal/datastore"
	"github.com/gocalico/calico/internal/datastore/etcdtest"
)

// op is one mutating request seen by a spyBackend.
type op struct {
	Method string
	Key    string
}

// spyBackend wraps a real backend. It records every mutating request and
// can hold endpoint writes at a gate until the test opens it.
type spyBackend struct {
	datastore.Backend
	mu   sync.Mutex
	ops  []op
	gate chan struct{} // non-nil: Update of an endpoint key waits for it to close
	// held is signalled each time a write reaches the closed gate.
	held chan string
	// beforePut, when set, runs before each PutWithLease.
	beforePut func(lease int64)
}

func newSpy(be datastore.Backend) *spyBackend {
	return &spyBackend{Backend: be, held: make(chan string, 1000)}
}

func (s *spyBackend) record(method, key string) {
	s.mu.Lock()
	s.ops = append(s.ops, op{method, key})
	s.mu.Unlock()
}

// closeGate makes endpoint writes wait until openGate.
func (s *spyBackend) closeGate() {
	s.mu.Lock()
	s.gate = make(chan struct{})
	s.mu.Unlock()
}

func (s *spyBackend) openGate() {
	s.mu.Lock()
	if s.gate != nil {
		close(s.gate)
		s.gate = nil
	}
	s.mu.Unlock()
}

// count returns how many requests of method hit a key starting with prefix.
func (s *spyBackend) count(method, prefix string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, o := range s.ops {
		if o.Method == method && strings.HasPrefix(o.Key, prefix) {
			n++
		}
	}
	return n
}

// outside returns the mutated keys that do not start with prefix.
func (s *spyBackend) outside(prefix string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, o := range s.ops {
		if o.Key != "" && !strings.HasPrefix(o.Key, prefix) {
			out = append(out, o.Method+" "+o.Key)
		}
	}
	return out
}

func (s *spyBackend) Create(ctx context.Context, key string, value []byte, ttl time.Duration) (int64, error) {
	s.record("Create", key)
	return s.Backend.Create(ctx, key, value, ttl)
}

func (s *spyBackend) Update(ctx context.Context, key string, value []byte, rev int64, ttl time.Duration) (int64, error) {
	s.record("Update", key)
	if strings.Contains(key, "/workload/") {
		s.mu.Lock()
		gate := s.gate
		s.mu.Unlock()
		if gate != nil {
			s.held <- key
			select {
			case <-gate:
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}
	}
	return s.Backend.Update(ctx, key, value, rev, ttl)
}

func (s *spyBackend) Delete(ctx context.Context, key string, rev int64) (*datastore.KV, error) {
	s.record("Delete", key)
	return s.Backend.Delete(ctx, key, rev)
}

func (s *spyBackend) DeletePrefix(ctx context.Context, prefix string) (int64, error) {
	s.record("DeletePrefix", prefix)
	return s.Backend.DeletePrefix(ctx, prefix)
}

func (s *spyBackend) PutWithLease(ctx context.Context, key string, value []byte, lease int64) (int64, error) {
	s.record("PutWithLease", key)
	s.mu.Lock()
	hook := s.beforePut
	s.mu.Unlock()
	if hook != nil {
		hook(lease)
	}
	return s.Backend.PutWithLease(ctx, key, value, lease)
}

// fakeClock is a settable clock for status report times.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("CET", 3600))}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testLog logs to t.Log until the test ends.
func testLog(t *testing.T) *slog.Logger {
	w := &tlogWriter{t: t}
	t.Cleanup(func() { w.mu.Lock(); w.done = true; w.mu.Unlock() })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tlogWriter struct {
	t    *testing.T
	mu   sync.Mutex
	done bool
}

func (w *tlogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// env is one test's etcd, spy and reporter config.
type env struct {
	t     *testing.T
	eps   []string          // etcd client endpoints
	raw   datastore.Backend // unwrapped, for the test's own reads and writes
	spy   *spyBackend
	clock *fakeClock
}

func newEnv(t *testing.T) *env {
	t.Helper()
	srv, be := etcdtest.Embedded(t)
	return &env{t: t, eps: srv.Endpoints(), raw: be, spy: newSpy(be), clock: newFakeClock()}
}

// leaseTTL asks etcd for the TTL a lease was granted with (the Backend
// interface does not expose it).
func (e *env) leaseTTL(lease int64) int64 {
	e.t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: e.eps, DialTimeout: 10 * time.Second})
	if err != nil {
		e.t.Fatal(err)
	}
	defer cli.Close()
	resp, err := cli.TimeToLive(context.Background(), clientv3.LeaseID(lease))
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.GrantedTTL
}

// config is a reporter config for host node1 with short intervals.
func (e *env) config() Config {
	return Config{
		Backend:            e.spy,
		Host:               "node1",
		ReportingInterval:  20 * time.Millisecond,
		ReportingTTL:       30 * time.Second,
		EndpointReporting:  true,
		MaxWritesPerSecond: 1000,
		Log:                testLog(e.t),
		Clock:              e.clock.Now,
	}
}

// start runs r until the returned stop is called (or the test ends);
// stop returns Run's error.
func (e *env) start(r *Reporter) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			err = <-done
		})
		return err
	}
	e.t.Cleanup(func() { stop() })
	return stop
}

// put writes a key directly (test set-up).
func (e *env) put(key, value string) int64 {
	e.t.Helper()
	rev, err := e.raw.Update(context.Background(), key, []byte(value), 0, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	return rev
}

// get reads a key directly; nil when absent.
func (e *env) get(key string) *datastore.KV {
	e.t.Helper()
	kv, err := e.raw.Get(context.Background(), key)
	if errors.Is(err, datastore.ErrNotFound) {
		return nil
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return kv
}

// list returns key -> raw value under prefix.
func (e *env) list(prefix string) map[string]string {
	e.t.Helper()
	kvs, _, err := e.raw.List(context.Background(), prefix)
	if err != nil {
		e.t.Fatal(err)
	}
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		m[kv.Key] = string(kv.Value)
	}
	return m
}

// waitFor polls cond until it returns nil. The deadline is only a safety
// net for a hung test, not a performance bound.
func waitFor(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s: %v", what, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// listIs is a waitFor condition: the listing under prefix equals want.
func (e *env) listIs(prefix string, want map[string]string) func() error {
	return func() error {
		got := e.list(prefix)
		if len(got) != len(want) {
			return fmt.Errorf("have %d keys %v, want %d", len(got), sortedKeys(got), len(want))
		}
		for k, v := range want {
			if got[k] != v {
				return fmt.Errorf("%s = %q, want %q", k, got[k], v)
			}
		}
		return nil
	}
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
