package calc

import (
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gocalico/calico/internal/datastore/syncer"
)

// fold applies what Take returned to a consumer's copy of the state.
func fold(t *testing.T, hs *HostState, full *HostState, changes []EndpointChange) *HostState {
	t.Helper()
	if full != nil {
		return full
	}
	if hs == nil {
		t.Fatal("changes before any full state")
	}
	byKey := map[string]Endpoint{}
	for _, e := range hs.Endpoints {
		byKey[e.Key] = e
	}
	for _, ch := range changes {
		if ch.Endpoint == nil {
			if _, ok := byKey[ch.Key]; !ok {
				t.Fatalf("removal of %s, which the consumer does not have", ch.Key)
			}
			delete(byKey, ch.Key)
			continue
		}
		if ch.Endpoint.Key != ch.Key {
			t.Fatalf("change %s carries endpoint %s", ch.Key, ch.Endpoint.Key)
		}
		byKey[ch.Key] = *ch.Endpoint
	}
	out := &HostState{Config: hs.Config, ConfigProblems: hs.ConfigProblems, Blackholes: hs.Blackholes}
	for _, k := range slices.Sorted(maps.Keys(byKey)) {
		out.Endpoints = append(out.Endpoints, byKey[k])
	}
	return out
}

var cmpAddrs = []cmp.Option{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
}

// Incremental results, folded batch by batch, equal a full recompute
// from scratch after every batch, in any order of the updates.
func TestIncrementalEqualsFullRecompute(t *testing.T) {
	for seed := range uint64(60) {
		rng := rand.New(rand.NewPCG(seed, 3))
		seqs := scenario(rng)
		for order := range 5 {
			batches := interleave(rng, seqs)
			c := New(node)
			var held *HostState
			var seen [][]syncer.Update
			for i, b := range batches {
				c.OnUpdates(b)
				seen = append(seen, b)
				if rng.IntN(3) == 0 && i != len(batches)-1 {
					continue // let changes accumulate over batches
				}
				full, changes := c.Take()
				held = fold(t, held, full, changes)
				want := run(seen...)
				if diff := cmp.Diff(want, held, cmpAddrs...); diff != "" {
					t.Fatalf("seed %d order %d batch %d: (-full recompute +incremental):\n%s", seed, order, i, diff)
				}
			}
			// Nothing left over.
			if full, changes := c.Take(); full != nil || len(changes) != 0 {
				t.Fatalf("seed %d: second Take returned %v %v", seed, full, changes)
			}
		}
	}
}

// A change to one endpoint recomputes only the endpoints sharing a claim
// with it: the others are not reported.
func TestTakeReportsOnlyWhatChanged(t *testing.T) {
	c := New(node)
	c.OnUpdates([]syncer.Update{
		put(wep("ns", "a", "cali1", 0, "10.0.0.1/32")),
		put(wep("ns", "b", "cali2", 1, "10.0.0.2/32")),
		put(wep("ns", "c", "cali3", 2, "10.0.0.3/32")),
	})
	if full, _ := c.Take(); full == nil || len(full.Endpoints) != 3 {
		t.Fatalf("first Take: %+v", full)
	}
	// b claims a's address: a keeps it (older), b reports a problem.
	c.OnUpdates([]syncer.Update{put(wep("ns", "b", "cali2", 1, "10.0.0.2/32", "10.0.0.1/32"))})
	full, changes := c.Take()
	if full != nil || len(changes) != 1 || changes[0].Key != "ns/b" || len(changes[0].Endpoint.Problems) != 1 {
		t.Fatalf("changes %+v", changes)
	}
	// a goes: b gets the address; c is untouched.
	c.OnUpdates([]syncer.Update{del(wepKey("ns", "a"))})
	_, changes = c.Take()
	if len(changes) != 2 || changes[0].Key != "ns/a" || changes[0].Endpoint != nil ||
		changes[1].Key != "ns/b" || len(changes[1].Endpoint.Addrs) != 2 {
		t.Fatalf("changes %+v", changes)
	}
	// A configuration change hands over the whole state.
	c.OnUpdates([]syncer.Update{put(felix("default", `{"interfacePrefix":"tap"}`))})
	if full, _ := c.Take(); full == nil || full.Endpoints[0].Program {
		t.Fatalf("after config: %+v", full)
	}
}
