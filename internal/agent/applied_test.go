package agent

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/agent/dataplane"
	"github.com/gocalico/calico/internal/agent/nft"
	"github.com/gocalico/calico/internal/datastore/etcdtest"
	"github.com/gocalico/calico/internal/datastore/syncer"
	"github.com/gocalico/calico/internal/resources"
)

// Prefix label values of calico_agent_applied_revision.
var (
	wepPrefix     = resources.Prefix + "workloadendpoints/"
	profilePrefix = resources.Prefix + "profiles/"
	gnpPrefix     = resources.Prefix + "globalnetworkpolicies/"
)

// appliedRevision is calico_agent_applied_revision by prefix.
func appliedRevision(t testing.TB, reg *prometheus.Registry) map[string]int64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, mf := range mfs {
		if mf.GetName() != "calico_agent_applied_revision" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "prefix" {
					out[lp.GetValue()] = int64(m.GetGauge().GetValue())
				}
			}
		}
	}
	return out
}

// waitRevisions waits until calico_agent_applied_revision is want. The
// deadline only keeps a broken test from hanging.
func waitRevisions(t testing.TB, reg *prometheus.Registry, want map[string]int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := appliedRevision(t, reg)
		if cmp.Equal(want, got) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("calico_agent_applied_revision (-want +got):\n%s", cmp.Diff(want, got))
		}
		time.Sleep(time.Millisecond)
	}
}

// update is one resource delivered at a revision.
func update(t testing.TB, typ syncer.UpdateType, r v3.Resource, rev int64) syncer.Update {
	t.Helper()
	key, err := resources.KeyOf(r)
	if err != nil {
		t.Fatal(err)
	}
	return syncer.Update{Type: typ, Key: key, Value: r, Revision: rev}
}

func TestAppliedRevisionsNote(t *testing.T) {
	for _, tc := range []struct {
		name    string
		updates []syncer.Update
		want    map[string]int64
		adv     bool
	}{{
		name: "each prefix its own highest revision",
		updates: []syncer.Update{
			{Key: wepPrefix + "default/a", Revision: 7},
			{Key: wepPrefix + "default/b", Revision: 9},
			{Key: profilePrefix + "p", Revision: 8},
			{Key: wepPrefix + "default/c", Type: syncer.UpdateDeleted, Revision: 11},
		},
		want: map[string]int64{wepPrefix: 11, profilePrefix: 8},
		adv:  true,
	}, {
		name:    "never backwards",
		updates: []syncer.Update{{Key: wepPrefix + "default/a", Revision: 9}, {Key: wepPrefix + "default/b", Revision: 3}},
		want:    map[string]int64{wepPrefix: 9},
		adv:     true,
	}, {
		name:    "a key under no prefix followed",
		updates: []syncer.Update{{Key: resources.Prefix + "bgppeers/x", Revision: 9}},
		want:    map[string]int64{},
	}, {
		name:    "the node's block affinities",
		updates: []syncer.Update{{Key: "/calico/ipam/v2/host/" + nodeName + "/ipv4/block/10.65.0.0-26", Revision: 4}},
		want:    map[string]int64{"/calico/ipam/v2/host/" + nodeName + "/": 4},
		adv:     true,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			r := newAppliedRevisions(prefixes(nodeName), nil)
			if adv := r.note(tc.updates); adv != tc.adv {
				t.Errorf("advanced = %v, want %v", adv, tc.adv)
			}
			if diff := cmp.Diff(tc.want, r.seen); diff != "" {
				t.Errorf("revisions (-want +got):\n%s", diff)
			}
			// Delivered again: nothing advances.
			if r.note(tc.updates) {
				t.Errorf("the same updates again advanced the revisions")
			}
		})
	}
}

// gatedPlane is a policyPlane whose every Apply waits for the test to
// answer it, so that the test can look at the agent mid-apply.
type gatedPlane struct {
	calls   chan *nft.Ruleset
	answers chan error
}

func newGatedPlane() *gatedPlane {
	return &gatedPlane{calls: make(chan *nft.Ruleset), answers: make(chan error)}
}

func (p *gatedPlane) Apply(ctx context.Context, rs *nft.Ruleset) error {
	select {
	case p.calls <- rs:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-p.answers:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
func (p *gatedPlane) Resync() {}
func (p *gatedPlane) Counters(context.Context) (map[string]nft.Counter, error) {
	return nil, nil
}
func (p *gatedPlane) Close() error { return nil }

// called waits for the agent's next Apply, which stays blocked until
// answer.
func (p *gatedPlane) called(t testing.TB) {
	t.Helper()
	select {
	case <-p.calls:
	case <-time.After(30 * time.Second):
		t.Fatal("no policy apply")
	}
}

func (p *gatedPlane) answer(err error) { p.answers <- err }

// TestAppliedRevisionFollowsPolicyApplies: the revision of a policy
// update is published once the table holding it is in the kernel, not
// while the apply runs and not after it failed; the retry that succeeds
// publishes it.
func TestAppliedRevisionFollowsPolicyApplies(t *testing.T) {
	dp, k := dataplane.NewFake(nil, nil)
	defer dp.Close()
	k.AddLink("cali1", true)
	pol := newGatedPlane()
	reg := prometheus.NewRegistry()
	a := newAgent(Config{NodeName: nodeName}, dp, pol, newMetrics(reg))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); a.loop(ctx) }()
	defer func() { cancel(); <-done }()

	a.OnUpdates([]syncer.Update{
		update(t, syncer.UpdateNew, allowProfile("kns.default"), 5),
		update(t, syncer.UpdateNew, newWEP(t, nodeName, "p1", "cali1", "", "10.0.0.1/32"), 7),
	})
	a.OnStatusUpdated(syncer.StatusInSync)
	pol.called(t)
	// The routes are in, the table is being written: nothing yet.
	if !strings.Contains(k.Dump(), "route 10.0.0.1/32 dev cali1") {
		t.Fatalf("the routes were not applied before the policy table:\n%s", k.Dump())
	}
	if got := appliedRevision(t, reg); len(got) != 0 {
		t.Fatalf("revisions published while the first apply runs: %v", got)
	}
	pol.answer(nil)
	first := map[string]int64{profilePrefix: 5, wepPrefix: 7}
	waitRevisions(t, reg, first)

	gnp := v3.NewGlobalNetworkPolicy()
	gnp.Metadata.Name = "default.web"
	gnp.Spec.Selector = "all()"
	gnp.Spec.Ingress = []v3.Rule{{Action: v3.Deny}}
	a.OnUpdates([]syncer.Update{update(t, syncer.UpdateNew, gnp, 10)})
	pol.called(t)
	if diff := cmp.Diff(first, appliedRevision(t, reg)); diff != "" {
		t.Fatalf("published while the policy apply runs (-want +got):\n%s", diff)
	}
	pol.answer(errors.New("injected nftables failure"))
	// The retry: the failed pass is over and published nothing.
	pol.called(t)
	if diff := cmp.Diff(first, appliedRevision(t, reg)); diff != "" {
		t.Fatalf("published after a failed policy apply (-want +got):\n%s", diff)
	}
	pol.answer(nil)
	waitRevisions(t, reg, map[string]int64{profilePrefix: 5, wepPrefix: 7, gnpPrefix: 10})
}

// TestAppliedRevisionNoChangeAndResync: an update that changes nothing
// counts as applied at once; updates delivered while the syncer re-lists
// are applied but count only once it is in sync again (a re-list
// delivers in key order, not revision order).
func TestAppliedRevisionNoChangeAndResync(t *testing.T) {
	dp, k := dataplane.NewFake(nil, nil)
	defer dp.Close()
	k.AddLink("cali1", true)
	reg := prometheus.NewRegistry()
	a := newAgent(Config{NodeName: nodeName}, dp, nil, newMetrics(reg))
	// The revisions at the end of the first pass that applied the
	// change made during the re-list below.
	atEnd := make(chan map[string]int64, 1)
	a.onIteration = func(bool) {
		if strings.Contains(k.Dump(), "route 10.0.0.2/32 dev cali1") {
			select {
			case atEnd <- appliedRevision(t, reg):
			default:
			}
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); a.loop(ctx) }()
	defer func() { cancel(); <-done }()

	wep := newWEP(t, nodeName, "p1", "cali1", "", "10.0.0.1/32")
	a.OnUpdates([]syncer.Update{update(t, syncer.UpdateNew, wep, 3)})
	a.OnStatusUpdated(syncer.StatusInSync)
	waitRevisions(t, reg, map[string]int64{wepPrefix: 3})
	writes := k.Writes()

	// Another node's endpoint: nothing changes here (and nothing else
	// wakes the loop).
	a.OnUpdates([]syncer.Update{update(t, syncer.UpdateNew, newWEP(t, "node2", "p9", "cali9", "", "10.0.9.1/32"), 9)})
	waitRevisions(t, reg, map[string]int64{wepPrefix: 9})
	if diff := cmp.Diff(writes, k.Writes()); diff != "" {
		t.Errorf("another node's endpoint wrote to the kernel (-before +after):\n%s", diff)
	}

	// A re-list starts; an endpoint changes meanwhile. At the end of
	// the pass that applied the change its revision must not count yet.
	a.OnStatusUpdated(syncer.StatusResyncInProgress)
	wep2 := newWEP(t, nodeName, "p1", "cali1", "", "10.0.0.2/32")
	a.OnUpdates([]syncer.Update{update(t, syncer.UpdateChanged, wep2, 11)})
	select {
	case got := <-atEnd:
		if diff := cmp.Diff(map[string]int64{wepPrefix: 9}, got); diff != "" {
			t.Fatalf("published during a re-list (-want +got):\n%s", diff)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the change made during the re-list was not applied:\n%s", k.Dump())
	}
	a.OnStatusUpdated(syncer.StatusInSync)
	waitRevisions(t, reg, map[string]int64{wepPrefix: 11})
}

// TestAppliedRevisionAgainstEtcd: the barrier a test uses. A resource
// written to etcd has a resourceVersion (its mod revision); once the
// agent's revision for the resource's prefix reaches it, the kernel
// holds the change. Writes under other prefixes do not stand in for it.
func TestAppliedRevisionAgainstEtcd(t *testing.T) {
	_, be := etcdtest.Embedded(t)
	c := resources.New(be)
	dp, k := dataplane.NewFake(nil, nil)
	defer dp.Close()
	k.AddLink("cali1", true)
	reg := prometheus.NewRegistry()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- run(ctx, Config{NodeName: nodeName, Backend: be}, dp, nil, newMetrics(reg)) }()
	defer func() { cancel(); <-done }()

	// barrier waits for prefix's revision to reach r's resourceVersion
	// and returns the kernel as it was then.
	barrier := func(prefix string, r v3.Resource) string {
		t.Helper()
		rev, err := strconv.ParseInt(r.GetObjectMeta().ResourceVersion, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for appliedRevision(t, reg)[prefix] < rev {
			if time.Now().After(deadline) {
				t.Fatalf("%s: applied revision %d, want >= %d", prefix, appliedRevision(t, reg)[prefix], rev)
			}
			time.Sleep(time.Millisecond)
		}
		return k.Dump()
	}
	for i, ip := range []string{"10.0.0.1/32", "10.0.0.2/32", "10.0.0.3/32"} {
		out, err := c.Apply(t.Context(), newWEP(t, nodeName, "p1", "cali1", "", ip))
		if err != nil {
			t.Fatal(err)
		}
		// Other prefixes move on meanwhile.
		p := allowProfile(fmt.Sprintf("p%d", i))
		if _, err := c.Create(t.Context(), p); err != nil {
			t.Fatal(err)
		}
		route := "route " + ip + " dev cali1"
		if dump := barrier(wepPrefix, out); !strings.Contains(dump, route) {
			t.Fatalf("applied revision reached %s with no %q in the kernel:\n%s", out.GetObjectMeta().ResourceVersion, route, dump)
		}
	}
}
