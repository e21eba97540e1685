package dataplane

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/agent/calc"
	"github.com/gocalico/calico/internal/datastore/syncer"
	"github.com/gocalico/calico/internal/resources"
)

// delivered waits until the dataplane has queued every link event the
// kernel emitted so far, without applying anything.
func delivered(t *testing.T, d *Linux, k *FakeKernel) {
	t.Helper()
	deadline := time.Now().Add(time.Minute) // only keeps a broken test from hanging
	for {
		k.mu.Lock()
		emitted := k.emitted
		k.mu.Unlock()
		d.mu.Lock()
		queued := d.queued
		d.mu.Unlock()
		if queued >= emitted { // tests may enqueue events of their own
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("events emitted %d, queued %d", emitted, queued)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// settle applies until every link event the kernel emitted (including
// those the dataplane's own writes cause) has been taken.
func settle(t *testing.T, d *Linux, k *FakeKernel) {
	t.Helper()
	for {
		delivered(t, d, k)
		d.mu.Lock()
		idle := len(d.pending) == 0
		d.mu.Unlock()
		if idle {
			return
		}
		if err := d.Update(t.Context(), nil); err != nil {
			t.Logf("update after events: %v", err) // retried below
		}
	}
}

func wepUpdate(name, iface, mac string, age int, ips ...string) syncer.Update {
	w := v3.NewWorkloadEndpoint()
	w.Metadata.Namespace, w.Metadata.Name = "ns", name
	w.Metadata.CreationTimestamp = v3.NewTime(time.Date(2026, 1, 1, 0, 0, age, 0, time.UTC))
	w.Spec = v3.WorkloadEndpointSpec{Orchestrator: "k8s", Pod: name, Endpoint: "eth0", Node: "n1",
		InterfaceName: iface, IPNetworks: ips, MAC: mac}
	key, err := resources.KeyOf(w)
	if err != nil {
		panic(err)
	}
	return syncer.Update{Type: syncer.UpdateNew, Key: key, Value: w}
}

func poolUpdate(name, cidr string) syncer.Update {
	p := v3.NewIPPool()
	p.Metadata.Name = name
	p.Spec.CIDR = cidr
	key, err := resources.KeyOf(p)
	if err != nil {
		panic(err)
	}
	return syncer.Update{Type: syncer.UpdateNew, Key: key, Value: p}
}

func affinityUpdate(node, block, state string) syncer.Update {
	p := netip.MustParsePrefix(block)
	fam := "ipv4"
	if p.Addr().Is6() {
		fam = "ipv6"
	}
	key := calc.AffinityPrefix(node) + fam + "/block/" + strings.Replace(block, "/", "-", 1)
	a, err := calc.DecodeAffinity(key, []byte(`{"state":"`+state+`"}`))
	if err != nil {
		panic(err)
	}
	return syncer.Update{Type: syncer.UpdateNew, Key: key, Value: a}
}

// TestIncrementalEqualsFullSet replays random endpoint changes (through
// calc, conflicts included), block affinity changes (blackholes) and
// interface changes (added, deleted,
// recreated with a new index, down, without carrier) in random order.
// After each step the dataplane applies only what changed; then a fresh
// dataplane given the whole state over the same kernel must find nothing
// to write and report the same statuses.
func TestIncrementalEqualsFullSet(t *testing.T) {
	ifaces := []string{"cali1", "cali2", "cali3", "cali4", "tap1"}
	blackholes := 0 // steps that ended with a blackhole route
	defer func() {
		if blackholes == 0 {
			t.Error("no step ended with a blackhole route: affinities not exercised")
		}
	}()
	for seed := range uint64(40) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 11))
			d, k := NewFake(nil, nil)
			defer d.Close()
			inc, full := calc.New("n1"), calc.New("n1")
			for _, name := range ifaces[:2] {
				k.AddLink(name, true)
			}
			k.AddRoute("10.9.9.9/32", "cali1", 4) // foreign
			pools := []syncer.Update{poolUpdate("p4", "10.0.0.0/24"), poolUpdate("p6", "fd00::/64")}
			inc.OnUpdates(pools)
			full.OnUpdates(pools)
			hs, _ := inc.Take()
			if err := d.Set(t.Context(), hs); err != nil {
				t.Fatal(err)
			}
			for step := range 60 {
				var what string
				apply := func() {
					hs, changes := inc.Take()
					var err error
					if hs != nil {
						err = d.Set(t.Context(), hs)
					} else {
						err = d.Update(t.Context(), changes)
					}
					if err != nil {
						t.Logf("step %d %s: %v", step, what, err)
					}
				}
				switch r := rng.IntN(11); {
				case r == 10:
					block := []string{"10.0.0.0/30", "10.0.0.4/30", "fd00::/126"}[rng.IntN(3)]
					state := []string{"pending", calc.AffinityConfirmed, "pendingDeletion"}[rng.IntN(3)]
					u := affinityUpdate("n1", block, state)
					if rng.IntN(4) == 0 {
						u = syncer.Update{Type: syncer.UpdateDeleted, Key: u.Key}
					}
					inc.OnUpdates([]syncer.Update{u})
					full.OnUpdates([]syncer.Update{u})
					what = fmt.Sprintf("affinity %s %s %s", u.Type, block, state)
					apply()
				case r < 5:
					name := fmt.Sprintf("w%d", rng.IntN(6))
					u := wepUpdate(name, ifaces[rng.IntN(len(ifaces))], "", rng.IntN(3),
						fmt.Sprintf("10.0.0.%d/32", rng.IntN(5)), fmt.Sprintf("fd00::%d/128", rng.IntN(5)))
					if rng.IntN(2) == 0 {
						u.Value.(*v3.WorkloadEndpoint).Spec.MAC = fmt.Sprintf("ee:ee:ee:00:00:%02x", rng.IntN(3))
					}
					if rng.IntN(4) == 0 {
						u = syncer.Update{Type: syncer.UpdateDeleted, Key: u.Key}
					}
					inc.OnUpdates([]syncer.Update{u})
					full.OnUpdates([]syncer.Update{u})
					what = fmt.Sprintf("%s %s", u.Type, name)
					apply()
				default:
					name := ifaces[rng.IntN(len(ifaces))]
					present := k.HasLink(name)
					switch op := rng.IntN(4); {
					case !present:
						k.AddLink(name, rng.IntN(2) == 0)
						what = "add " + name
					case op == 0:
						k.DelLink(name)
						what = "delete " + name
					case op == 1:
						k.DelLink(name)
						k.AddLink(name, rng.IntN(2) == 0)
						what = "recreate " + name
					case op == 2:
						k.SetLinkDown(name)
						what = "down " + name
					default:
						k.SetCarrier(name, rng.IntN(2) == 0)
						what = "carrier " + name
					}
				}
				settle(t, d, k)
				if err := d.Update(t.Context(), nil); err != nil {
					t.Fatalf("step %d %s: %v", step, what, err)
				}
				settle(t, d, k)
				check(t, fmt.Sprintf("step %d %s", step, what), d, k, full.HostState())
				if strings.Contains(k.Dump(), "blackhole") {
					blackholes++
				}
			}
		})
	}
}

// check: a fresh dataplane that reads the kernel and walks the whole
// state writes nothing and reports the same statuses.
func check(t *testing.T, what string, d *Linux, k *FakeKernel, hs *calc.HostState) {
	t.Helper()
	before, dump := k.Writes(), k.Dump()
	fresh := newLinux(k, nil, nil)
	defer fresh.Close()
	if err := fresh.Set(context.Background(), hs); err != nil {
		t.Fatalf("%s: full Set: %v", what, err)
	}
	if diff := cmp.Diff(dump, k.Dump()); diff != "" {
		t.Fatalf("%s: incremental kernel state differs from a full Set's (-incremental +full):\n%s", what, diff)
	}
	if diff := cmp.Diff(before, k.Writes()); diff != "" {
		t.Fatalf("%s: full Set wrote (-before +after):\n%s", what, diff)
	}
	if diff := cmp.Diff(fresh.EndpointStatuses(), d.EndpointStatuses()); diff != "" {
		t.Fatalf("%s: statuses (-full +incremental):\n%s", what, diff)
	}
	if fresh.Programmed() != d.Programmed() {
		t.Fatalf("%s: programmed %d, full %d", what, d.Programmed(), fresh.Programmed())
	}
}

// TestEventsOlderThanListing: link events can still be on their way when
// a full sync lists the interfaces, and are then followed after the
// listing that already includes them. That may cost redundant writes but
// never leaves the kernel wrong.
func TestEventsOlderThanListing(t *testing.T) {
	d, k := NewFake(nil, nil)
	defer d.Close()
	k.AddLink("cali1", true)
	k.AddLink("cali2", true)
	hs := hostState(nil,
		endpoint("a", "cali1", macA, "10.0.0.1/32"),
		endpoint("b", "cali2", "", "10.0.0.2/32"))
	want := func() string {
		t.Helper()
		fresh, fk := NewFake(nil, nil)
		defer fresh.Close()
		fk.AddLink("cali1", true)
		fk.AddLink("cali2", true)
		if err := fresh.Set(t.Context(), hs); err != nil {
			t.Fatal(err)
		}
		return fk.Dump()
	}()
	// cali1 is re-created and cali2 goes down, all before the listing;
	// the events are still on their way when Set lists the interfaces.
	k.DelLink("cali1")
	k.AddLink("cali1", true)
	k.SetLinkDown("cali2")
	delivered(t, d, k)
	inFlight := d.takeEvents()
	if len(inFlight) < 3 {
		t.Fatalf("events %+v, want at least 3", inFlight)
	}
	if err := d.Set(t.Context(), hs); err != nil {
		t.Fatal(err)
	}
	// They arrive now, ahead of the events of the agent's own writes
	// (cali2 set up again), as the kernel orders them.
	delivered(t, d, k)
	d.mu.Lock()
	d.pending = append(inFlight, d.pending...)
	d.mu.Unlock()
	settle(t, d, k)
	if diff := cmp.Diff(want, k.Dump()); diff != "" {
		t.Fatalf("kernel after old events (-want +got):\n%s", diff)
	}
	check(t, "after old events", d, k, hs)
}
