package status

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gocalico/calico/internal/datastore"
)

func TestDesiredStatuses(t *testing.T) {
	eps := []EndpointStatus{
		{Key: "ns/b", Orchestrator: "k8s", Workload: "ns/pod-b", Endpoint: "eth0", Status: StatusDown},
		{Key: "ns/a", Orchestrator: "k8s", Workload: "ns/pod-a", Endpoint: "eth0", Status: StatusUp},
		{Key: "ns/dup", Orchestrator: "k8s", Workload: "ns/pod-a", Endpoint: "eth0", Status: StatusError},
		{Key: "ns/bad", Orchestrator: "k8s", Workload: "ns/pod-c", Endpoint: "eth0", Status: "sideways"},
		{Key: "ns/noorch", Workload: "ns/pod-d", Endpoint: "eth0", Status: StatusUp},
		{Key: "ns/nowl", Orchestrator: "k8s", Endpoint: "eth0", Status: StatusUp},
		{Key: "ns/noep", Orchestrator: "k8s", Workload: "ns/pod-e", Status: StatusUp},
	}
	got, errs := desiredStatuses("", "h", eps)
	want := map[string]string{
		"/calico/felix/v2/no-region/host/h/workload/k8s/ns%2fpod-a/endpoint/eth0": StatusUp,
		"/calico/felix/v2/no-region/host/h/workload/k8s/ns%2fpod-b/endpoint/eth0": StatusDown,
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("desired (-want +got):\n%s", d)
	}
	var msgs []string
	for _, err := range errs {
		msgs = append(msgs, err.Error())
	}
	wantMsgs := []string{
		`endpoint "ns/bad": status "sideways" is not up, down or error`,
		`endpoint "ns/dup": same status key as endpoint "ns/a", ignored`,
		`endpoint "ns/noep": empty endpoint ID`,
		`endpoint "ns/noorch": empty orchestrator`,
		`endpoint "ns/nowl": empty workload`,
	}
	if d := cmp.Diff(wantMsgs, msgs); d != "" {
		t.Errorf("errors (-want +got):\n%s", d)
	}
}

// write is one request the endpointSet asks for: status "" = delete.
type write struct{ Key, Status string }

// drain performs every write the set asks for against store.
func drain(s *endpointSet, store map[string]string) []write {
	var ws []write
	for {
		k, st, ok := s.next()
		if !ok {
			return ws
		}
		ws = append(ws, write{k, st})
		if st == "" {
			delete(store, k)
		} else {
			store[k] = st
		}
		s.done(k, st)
	}
}

func kvs(m map[string]string) []*datastore.KV {
	var out []*datastore.KV
	for k, v := range m {
		out = append(out, &datastore.KV{Key: k, Value: []byte(v)})
	}
	return out
}

func TestEndpointSetTransitions(t *testing.T) {
	var s endpointSet

	// Nothing happens before the first full set and the listing.
	if _, _, ok := s.next(); ok {
		t.Fatal("work before anything was set")
	}
	s.setDesired(map[string]string{"a": StatusUp, "b": StatusUp, "c": StatusDown})
	if s.pending() != 0 {
		t.Fatal("work queued before the listing")
	}

	// The listing: a matches, b differs, c is missing, d and e are stale
	// (e unreadable).
	errs := s.load(kvs(map[string]string{
		"a": `{"status":"up"}`,
		"b": `{"status":"down"}`,
		"d": `{"status":"up"}`,
		"e": `garbage`,
	}))
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "e: ") {
		t.Errorf("load errors = %v, want one for e", errs)
	}
	store := map[string]string{"a": StatusUp, "b": StatusDown, "d": StatusUp, "e": ""}
	got := drain(&s, store)
	want := []write{{"b", StatusUp}, {"c", StatusDown}, {"d", ""}, {"e", ""}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("writes after listing (-want +got):\n%s", d)
	}

	// Flapping while queued coalesces: only the latest status is written.
	for i := range 100 {
		st := StatusUp
		if i%2 == 1 {
			st = StatusDown
		}
		s.setDesired(map[string]string{"a": st, "b": StatusUp, "c": StatusDown})
	}
	s.setDesired(map[string]string{"a": StatusError, "b": StatusUp, "c": StatusDown})
	got = drain(&s, store)
	if d := cmp.Diff([]write{{"a", StatusError}}, got); d != "" {
		t.Errorf("writes after flapping (-want +got):\n%s", d)
	}

	// A change that is undone before it is written is not written at all.
	s.setDesired(map[string]string{"a": StatusUp, "b": StatusUp, "c": StatusDown})
	s.setDesired(map[string]string{"a": StatusError, "b": StatusUp, "c": StatusDown})
	if got := drain(&s, store); len(got) != 0 {
		t.Errorf("writes for an undone change: %v", got)
	}

	// A failed write goes to the back of the queue.
	s.setDesired(map[string]string{"a": StatusUp, "b": StatusDown})
	k, _, _ := s.next()
	s.failed(k)
	k2, _, _ := s.next()
	if k != "a" || k2 != "b" {
		t.Errorf("after failing %q, next is %q; want a then b", k, k2)
	}
	got = drain(&s, store)
	if d := cmp.Diff([]write{{"b", StatusDown}, {"c", ""}, {"a", StatusUp}}, got); d != "" {
		t.Errorf("writes after a failure (-want +got):\n%s", d)
	}

	// A write whose outcome is unknown (it failed, but etcd may have
	// applied it) is followed by a delete when the endpoint goes away
	// before the retry, and by a write of the old status when the
	// endpoint returns to it.
	s.setDesired(map[string]string{"a": StatusDown, "b": StatusDown, "f": StatusUp})
	for {
		k, st, ok := s.next()
		if !ok {
			t.Fatal("the write of f was never offered")
		}
		if k == "f" {
			store[k] = st // landed, though the request failed
			s.failed(k)
			break
		}
		store[k] = st
		s.done(k, st)
	}
	s.setDesired(map[string]string{"a": StatusDown, "b": StatusDown})
	got = drain(&s, store)
	if d := cmp.Diff([]write{{"f", ""}}, got); d != "" {
		t.Errorf("writes after an unknown outcome and the endpoint's removal (-want +got):\n%s", d)
	}
	if _, ok := store["f"]; ok {
		t.Error("f's status key is left behind")
	}
	s.setDesired(map[string]string{"a": StatusError, "b": StatusDown})
	k, _, _ = s.next()
	s.failed(k) // a: unknown now
	s.setDesired(map[string]string{"a": StatusDown, "b": StatusDown})
	got = drain(&s, store)
	if d := cmp.Diff([]write{{"a", StatusDown}}, got); d != "" {
		t.Errorf("writes after an unknown outcome and a return to the old status (-want +got):\n%s", d)
	}

	// forget: everything must be listed again before any write.
	s.forget()
	s.setDesired(map[string]string{"z": StatusUp})
	if s.pending() != 0 {
		t.Error("work queued after forget, before a new listing")
	}
}

// TestEndpointSetRandomOrder replays the same desired sets in random
// orders, interleaved with random write progress and failures: the store
// always ends equal to the last set given.
func TestEndpointSetRandomOrder(t *testing.T) {
	keys := []string{"a", "b", "c", "d", "e"}
	statuses := []string{StatusUp, StatusDown, StatusError}
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	var steps []map[string]string
	for range 20 {
		m := map[string]string{}
		for _, k := range keys {
			if rng.IntN(3) > 0 {
				m[k] = statuses[rng.IntN(len(statuses))]
			}
		}
		steps = append(steps, m)
	}
	for round := range 200 {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			order := rng.Perm(len(steps))
			store := map[string]string{"b": StatusUp, "stale": StatusDown}
			var s endpointSet
			s.load(kvs(map[string]string{"b": `{"status":"up"}`, "stale": `{"status":"down"}`}))
			for _, i := range order {
				s.setDesired(steps[i])
				for range rng.IntN(3) {
					k, st, ok := s.next()
					if !ok {
						break
					}
					if rng.IntN(4) == 0 {
						s.failed(k)
						continue
					}
					if st == "" {
						delete(store, k)
					} else {
						store[k] = st
					}
					s.done(k, st)
				}
			}
			drain(&s, store)
			last := steps[order[len(order)-1]]
			if d := cmp.Diff(last, store); d != "" {
				t.Errorf("order %v: store (-want +got):\n%s", order, d)
			}
		})
	}
}
