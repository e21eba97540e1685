package status

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func ep(key, wl, st string) EndpointStatus {
	return EndpointStatus{Key: key, Orchestrator: "k8s", Workload: wl, Endpoint: "eth0", Status: st}
}

func TestEndpointStatuses(t *testing.T) {
	e := newEnv(t)
	r := New(e.config())
	stop := e.start(r)

	r.SetEndpoints([]EndpointStatus{
		ep("default/node1-k8s-web--0-eth0", "default/web-0", StatusUp),
		ep("default/node1-k8s-db-eth0", "default/db", StatusDown),
		{Key: "openstack/x", Orchestrator: "openstack", Workload: "openstack/vm1", Endpoint: "port-1", Status: StatusError},
	})
	waitFor(t, "three endpoint statuses", e.listIs(node1EPs, map[string]string{
		node1EPs + "k8s/default%2fweb-0/endpoint/eth0":         `{"status":"up"}`,
		node1EPs + "k8s/default%2fdb/endpoint/eth0":            `{"status":"down"}`,
		node1EPs + "openstack/openstack%2fvm1/endpoint/port-1": `{"status":"error"}`,
	}))
	kvs, _, _ := e.raw.List(context.Background(), node1EPs)
	for _, kv := range kvs {
		if kv.Lease != 0 {
			t.Errorf("%s has a lease; endpoint statuses have none", kv.Key)
		}
	}

	// db comes up, the VM goes away, a new pod appears.
	r.SetEndpoints([]EndpointStatus{
		ep("default/node1-k8s-web--0-eth0", "default/web-0", StatusUp),
		ep("default/node1-k8s-db-eth0", "default/db", StatusUp),
		ep("kube-system/node1-k8s-dns-eth0", "kube-system/dns", StatusUp),
	})
	waitFor(t, "updated endpoint statuses", e.listIs(node1EPs, map[string]string{
		node1EPs + "k8s/default%2fweb-0/endpoint/eth0":   `{"status":"up"}`,
		node1EPs + "k8s/default%2fdb/endpoint/eth0":      `{"status":"up"}`,
		node1EPs + "k8s/kube-system%2fdns/endpoint/eth0": `{"status":"up"}`,
	}))
	// web-0 was unchanged: written exactly once.
	if n := e.spy.count("Update", node1EPs+"k8s/default%2fweb-0/"); n != 1 {
		t.Errorf("web-0 written %d times, want 1", n)
	}

	// Everything goes.
	r.SetEndpoints(nil)
	waitFor(t, "no endpoint statuses", e.listIs(node1EPs, map[string]string{}))

	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if out := e.spy.outside(node1Prefix); len(out) != 0 {
		t.Errorf("touched keys of others: %v", out)
	}
}

// otherKeys are keys of other hosts (one whose name has ours as a
// prefix) and of our host in another region: never to be touched.
var otherKeys = map[string]string{
	"/calico/felix/v2/no-region/host/node10/workload/k8s/ns%2fa/endpoint/eth0":       `{"status":"up"}`,
	"/calico/felix/v2/no-region/host/node10/status":                                  `{"time":"2025-01-01T00:00:00Z","uptime":1,"first_update":false}`,
	"/calico/felix/v2/no-region/host/node2/workload/k8s/ns%2fstale/endpoint/eth0":    `{"status":"down"}`,
	"/calico/felix/v2/region-RegionOne/host/node1/workload/k8s/ns%2fa/endpoint/eth0": `{"status":"up"}`,
	"/calico/felix/v2/region-RegionOne/host/node1/last_reported_status":              `{"time":"2025-01-01T00:00:00Z","uptime":1,"first_update":false}`,
	"/calico/felix/v1/host/node1/endpoint/hep1":                                      `{"status":"up"}`,
}

// putOthers writes otherKeys and returns their revisions.
func (e *env) putOthers() map[string]int64 {
	revs := map[string]int64{}
	for k, v := range otherKeys {
		revs[k] = e.put(k, v)
	}
	return revs
}

// checkOthers fails if any of otherKeys changed.
func (e *env) checkOthers(revs map[string]int64) {
	e.t.Helper()
	for k, rev := range revs {
		kv := e.get(k)
		if kv == nil {
			e.t.Errorf("%s was deleted", k)
			continue
		}
		if kv.ModRevision != rev || string(kv.Value) != otherKeys[k] {
			e.t.Errorf("%s was rewritten", k)
		}
	}
	if out := e.spy.outside(node1Prefix); len(out) != 0 {
		e.t.Errorf("requests outside %s: %v", node1Prefix, out)
	}
}

// TestStaleCleanup: keys left by an earlier run are reconciled once the
// agent is in sync; unchanged keys are not rewritten; other hosts' keys
// are never touched.
func TestStaleCleanup(t *testing.T) {
	e := newEnv(t)
	revs := e.putOthers()
	keep := node1EPs + "k8s/ns%2fkeep/endpoint/eth0"
	change := node1EPs + "k8s/ns%2fchange/endpoint/eth0"
	stale := node1EPs + "k8s/ns%2fgone/endpoint/eth0"
	junk := node1EPs + "k8s/ns%2fjunk/endpoint/eth0"
	keepRev := e.put(keep, `{"status":"up"}`)
	e.put(change, `{"status":"down"}`)
	e.put(stale, `{"status":"up"}`)
	e.put(junk, `not json`)

	r := New(e.config())
	e.start(r)
	// Before the agent is in sync nothing is cleaned up, even though the
	// reporter is running and reporting status.
	waitFor(t, "two status reports", func() error {
		if n := e.spy.count("PutWithLease", node1Status); n < 2 {
			return fmt.Errorf("%d reports", n)
		}
		return nil
	})
	if got := len(e.list(node1EPs)); got != 4 {
		t.Fatalf("%d endpoint keys before sync, want the 4 left from before", got)
	}

	r.SetEndpoints([]EndpointStatus{
		ep("ns/keep", "ns/keep", StatusUp),
		ep("ns/change", "ns/change", StatusUp),
		ep("ns/new", "ns/new", StatusError),
	})
	waitFor(t, "reconciled endpoint statuses", e.listIs(node1EPs, map[string]string{
		keep:                                    `{"status":"up"}`,
		change:                                  `{"status":"up"}`,
		node1EPs + "k8s/ns%2fnew/endpoint/eth0": `{"status":"error"}`,
	}))
	if kv := e.get(keep); kv.ModRevision != keepRev {
		t.Errorf("unchanged key %s was rewritten", keep)
	}
	e.checkOthers(revs)
}

func TestStopRemovesOwnKeysOnly(t *testing.T) {
	e := newEnv(t)
	revs := e.putOthers()
	r := New(e.config())
	stop := e.start(r)
	r.SetEndpoints([]EndpointStatus{ep("ns/a", "ns/a", StatusUp), ep("ns/b", "ns/b", StatusDown)})
	waitFor(t, "status and endpoint keys", func() error {
		if n := len(e.list(node1Prefix)); n != 4 {
			return fmt.Errorf("%d keys", n)
		}
		return nil
	})
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	got := sortedKeys(e.list(node1Prefix))
	if d := cmp.Diff([]string{node1Last}, got); d != "" {
		t.Errorf("keys after stop (-want +got):\n%s", d)
	}
	e.checkOthers(revs)
}

func TestStopKeepEndpoints(t *testing.T) {
	e := newEnv(t)
	cfg := e.config()
	cfg.KeepEndpointsOnStop = true
	r := New(cfg)
	stop := e.start(r)
	r.SetEndpoints([]EndpointStatus{ep("ns/a", "ns/a", StatusUp)})
	a := node1EPs + "k8s/ns%2fa/endpoint/eth0"
	waitFor(t, "endpoint status", e.listIs(node1EPs, map[string]string{a: `{"status":"up"}`}))
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	got := sortedKeys(e.list(node1Prefix))
	if d := cmp.Diff([]string{node1Last, a}, got); d != "" {
		t.Errorf("keys after stop (-want +got):\n%s", d)
	}
}

// TestEndpointResync: a key changed or deleted behind the reporter's back
// is repaired by the periodic listing.
func TestEndpointResync(t *testing.T) {
	e := newEnv(t)
	cfg := e.config()
	cfg.EndpointResyncInterval = 20 * time.Millisecond
	r := New(cfg)
	e.start(r)
	a := node1EPs + "k8s/ns%2fa/endpoint/eth0"
	b := node1EPs + "k8s/ns%2fb/endpoint/eth0"
	want := map[string]string{a: `{"status":"up"}`, b: `{"status":"down"}`}
	r.SetEndpoints([]EndpointStatus{ep("ns/a", "ns/a", StatusUp), ep("ns/b", "ns/b", StatusDown)})
	waitFor(t, "endpoint statuses", e.listIs(node1EPs, want))
	if _, err := e.raw.Delete(context.Background(), a, 0); err != nil {
		t.Fatal(err)
	}
	e.put(b, `{"status":"up"}`)
	e.put(node1EPs+"k8s/ns%2fintruder/endpoint/eth0", `{"status":"up"}`)
	waitFor(t, "repaired endpoint statuses", e.listIs(node1EPs, want))
}

// TestCoalescing: while a write is held up, an endpoint flaps hundreds of
// times; once the write completes, only the latest status is written.
func TestCoalescing(t *testing.T) {
	e := newEnv(t)
	cfg := e.config()
	cfg.ReportingInterval = 0
	r := New(cfg)
	e.start(r)
	e.spy.closeGate()
	r.SetEndpoints([]EndpointStatus{ep("ns/a", "ns/a", StatusUp)})
	<-e.spy.held // the write of a=up is in flight

	for i := range 500 {
		st := []string{StatusUp, StatusDown, StatusError}[i%3]
		r.SetEndpoints([]EndpointStatus{ep("ns/a", "ns/a", st), ep("ns/b", "ns/b", st)})
	}
	final := []EndpointStatus{ep("ns/a", "ns/a", StatusDown), ep("ns/b", "ns/b", StatusError)}
	r.SetEndpoints(final)
	e.spy.openGate()
	waitFor(t, "final statuses", e.listIs(node1EPs, map[string]string{
		node1EPs + "k8s/ns%2fa/endpoint/eth0": `{"status":"down"}`,
		node1EPs + "k8s/ns%2fb/endpoint/eth0": `{"status":"error"}`,
	}))
	// a: the held write plus the final one; b: the final one. (Requests
	// are counted as they start, so a gate-free write cannot hide.)
	if n := e.spy.count("Update", node1EPs+"k8s/ns%2fa/"); n != 2 {
		t.Errorf("a written %d times, want 2", n)
	}
	if n := e.spy.count("Update", node1EPs+"k8s/ns%2fb/"); n != 1 {
		t.Errorf("b written %d times, want 1", n)
	}
}

// TestRateLimit: writes never exceed the token bucket's bound, measured
// against the time the writes actually took.
func TestRateLimit(t *testing.T) {
	const rate, n = 50, 120
	e := newEnv(t)
	cfg := e.config()
	cfg.ReportingInterval = 0
	cfg.MaxWritesPerSecond = rate
	r := New(cfg)
	var eps []EndpointStatus
	want := map[string]string{}
	for i := range n {
		wl := fmt.Sprintf("ns/pod-%03d", i)
		eps = append(eps, ep(wl, wl, StatusUp))
		want[node1EPs+"k8s/"+escapeSegment(wl)+"/endpoint/eth0"] = `{"status":"up"}`
	}
	r.SetEndpoints(eps)
	start := time.Now()
	e.start(r)

	bound := func() float64 { return rate /*burst*/ + rate*time.Since(start).Seconds() + 1 }
	waitFor(t, "all endpoint statuses", func() error {
		if w := e.spy.count("Update", node1EPs); float64(w) > bound() {
			t.Fatalf("%d writes after %v: more than the bound %.1f", w, time.Since(start), bound())
		}
		return e.listIs(node1EPs, want)()
	})
	w := e.spy.count("Update", node1EPs)
	if float64(w) > bound() {
		t.Errorf("%d writes in %v, bound %.1f", w, time.Since(start), bound())
	}
	if w != n {
		t.Errorf("%d writes for %d endpoints, want one each", w, n)
	}
}

func TestEndpointReportingDisabled(t *testing.T) {
	e := newEnv(t)
	revs := e.putOthers()
	e.put(node1EPs+"k8s/ns%2fa/endpoint/eth0", `{"status":"up"}`)
	e.put(node1EPs+"k8s/ns%2fb/endpoint/eth0", `{"status":"down"}`)
	cfg := e.config()
	cfg.EndpointReporting = false
	r := New(cfg)
	e.start(r)
	r.SetEndpoints([]EndpointStatus{ep("ns/a", "ns/a", StatusUp)})
	waitFor(t, "old endpoint statuses deleted", e.listIs(node1EPs, map[string]string{}))
	// The set given is not written: wait for more status reports, which
	// proves the loop has moved on.
	n0 := e.spy.count("PutWithLease", node1Status)
	waitFor(t, "two more status reports", func() error {
		if n := e.spy.count("PutWithLease", node1Status); n < n0+2 {
			return fmt.Errorf("%d reports", n)
		}
		return nil
	})
	if n := e.spy.count("Update", node1EPs); n != 0 {
		t.Errorf("%d endpoint writes with endpoint reporting off", n)
	}
	e.checkOthers(revs)
}

func TestInvalidEndpointsSkipped(t *testing.T) {
	e := newEnv(t)
	r := New(e.config())
	e.start(r)
	r.SetEndpoints([]EndpointStatus{
		ep("ns/ok", "ns/ok", StatusUp),
		ep("ns/bad", "ns/bad", "UP"),
		{Key: "ns/noep", Orchestrator: "k8s", Workload: "ns/noep", Status: StatusUp},
	})
	waitFor(t, "the valid endpoint only", e.listIs(node1EPs, map[string]string{
		node1EPs + "k8s/ns%2fok/endpoint/eth0": `{"status":"up"}`,
	}))
}
