package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/lab"
)

// outage is how long the datastore stays away.
const outage = 60 * time.Second

// pingInterval: 20 echo requests a second per flow.
const pingInterval = 50 * time.Millisecond

// The datastore stopped for a minute under a running lab, then started
// again. Traffic between workloads on different hosts flows throughout
// and not one packet is lost; nothing in the dataplane changes, neither
// while the datastore is away nor when it returns (the agents' and
// BIRD's routes, the policy table, not one nftables transaction, not
// one kernel write of the agents, not one route notification); every
// agent's health says the datastore is unreachable while it is, and
// stops saying so after; and changes written after its return (a new
// workload, a policy) are programmed on every host.
func TestPrivilegedDatastoreOutageSurvived(t *testing.T) {
	l := newLab(t, lab.Config{Hosts: 2, WorkloadsPerHost: 2})
	hosts := []string{"host1", "host2"}

	// Up returned a ready lab: every pair reaches at once.
	pairs, err := l.Matrix(l.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pairs {
		if !p.Reached {
			t.Fatalf("right after up, %s does not reach %s: %v", p.From, p.To, p.Families)
		}
	}

	monitors := map[string]*routeMonitor{}
	for _, h := range hosts {
		monitors[h] = l.monitorRoutes(h)
	}
	w11, w21 := l.workload("host1-w1"), l.workload("host2-w1")
	pingers := []*pinger{
		l.startPinger(w11.Name, w21.IPv4, pingInterval),
		l.startPinger(w21.Name, w11.IPv6, pingInterval),
	}
	for _, p := range pingers {
		l.eventually(converge, fmt.Sprintf("ping %s -> %s answered", p.from, p.dst), func() (bool, string) {
			_, answered := p.counts()
			return answered > 0, "no answer yet"
		})
	}
	base := map[string]hostState{}
	for _, h := range hosts {
		base[h] = l.hostState(h)
	}
	unchanged := func(when string) {
		t.Helper()
		for _, h := range hosts {
			if diff := cmp.Diff(base[h], l.hostState(h)); diff != "" {
				t.Errorf("%s: %s: the dataplane changed (-before +now):\n%s", h, when, diff)
			}
			if seen, err := monitors[h].changes(); len(seen) > 0 || err != nil {
				t.Errorf("%s: %s: routes changed (%v):\n%s", h, when, err, strings.Join(seen, "\n"))
			}
		}
	}

	stopped := time.Now()
	if err := l.StopDatastore(l.ctx, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	t.Logf("datastore stopped for %v", outage)
	for _, h := range hosts {
		var why string
		l.eventually(outage, h+": health reports the datastore unreachable", func() (bool, string) {
			var unreachable bool
			unreachable, _, why = l.datastoreHealth(h, stopped)
			return unreachable, why
		})
		t.Logf("%s: health %v into the outage: %s", h, time.Since(stopped).Round(time.Second), why)
	}
	for {
		unchanged(fmt.Sprintf("%v into the outage", time.Since(stopped).Round(time.Second)))
		left := outage - time.Since(stopped)
		if left <= 0 {
			break
		}
		time.Sleep(min(left, 15*time.Second))
	}

	if err := l.StartDatastore(l.ctx); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	for _, h := range hosts {
		// A report after the ones that said unreachable.
		l.eventually(converge, h+": health no longer reports the datastore unreachable", func() (bool, string) {
			_, reachable, why := l.datastoreHealth(h, stopped)
			return reachable, why
		})
		t.Logf("%s: datastore healthy again %v after its return", h, time.Since(back).Round(time.Millisecond))
	}

	// Proof that each agent follows the datastore again before looking
	// at what it did on the way: a configuration change that touches no
	// kernel state (endpoint status reporting on) makes each agent write
	// its endpoints' status keys.
	c, err := l.Client(l.ctx)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Get(l.ctx, v3.KindFelixConfiguration, "", "default")
	if err != nil {
		t.Fatal(err)
	}
	fc := res.(*v3.FelixConfiguration)
	on := true
	fc.Spec.EndpointReportingEnabled = &on
	if _, err := c.Update(l.ctx, fc); err != nil {
		t.Fatal(err)
	}
	be, err := l.Backend(l.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range l.Workloads() {
		key := endpointStatusKey(w)
		l.eventually(converge, key+" = up", func() (bool, string) {
			kv, err := be.Get(l.ctx, key)
			if err != nil {
				return false, err.Error()
			}
			return string(kv.Value) == `{"status":"up"}`, string(kv.Value)
		})
		t.Logf("%s: endpoint status reported %v after the datastore's return", w.Name, time.Since(back).Round(time.Millisecond))
	}
	unchanged("after the datastore's return")

	// Changes written now are programmed everywhere: a workload on
	// host1 (its route, and host2's route to it learned by BGP) and a
	// policy denying host1-w2 everywhere (both hosts' tables).
	w13, err := l.NewWorkload("host1", 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.AddWorkload(l.ctx, w13); err != nil {
		t.Fatal(err)
	}
	const policy = "deny-from-host1-w2"
	w12 := l.workload("host1-w2")
	doc := fmt.Sprintf(`apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: %s
spec:
  selector: all()
  types: [Ingress]
  ingress:
  - action: Deny
    source:
      nets: [%s/32]
  - action: Deny
    source:
      nets: [%s/128]
  - action: Allow
`, policy, w12.IPv4, w12.IPv6)
	file := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(file, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	l.exec("host1", "calicoctl", "apply", "-f", file)
	written := time.Now()
	for _, a := range w13.Addrs() {
		l.eventually(converge, "host1 routes "+a.String()+" to "+w13.Name, func() (bool, string) {
			_, ok := l.workloadRoute(w13, a)
			return ok, "no route through " + w13.Interface
		})
		l.eventually(converge, "host2 learned "+a.String()+" by BGP", func() (bool, string) {
			_, ok := l.bgpRoute("host2", a)
			return ok, "no BIRD route"
		})
	}
	for _, h := range hosts {
		l.eventually(converge, h+": policy "+policy+" programmed", func() (bool, string) {
			out := l.exec(h, "nft", "list", "table", "inet", "calico")
			return strings.Contains(out, policy), "not in the table"
		})
	}
	t.Logf("changes written after the return programmed on every host after %v", time.Since(written).Round(time.Millisecond))
	l.waitReach(w21.Name, w13.Addrs()...)
	// Programmed on host2 (the barrier above): host1-w2 is cut off.
	if l.ping(w12.Name, w21.IPv4) {
		t.Errorf("%s reaches %s although %s denies it", w12.Name, w21.Name, policy)
	}

	for _, p := range pingers {
		r := p.stop(2 * time.Second)
		t.Logf("ping %s -> %s: %s", p.from, p.dst, r)
		if r.sent == 0 || len(r.lost) > 0 || r.err != nil {
			t.Errorf("ping %s -> %s across the datastore outage: %s: want no loss", p.from, p.dst, r)
		}
	}
}

// endpointStatusKey is the key of w's endpoint status the agent of its
// host writes.
func endpointStatusKey(w lab.Workload) string {
	return "/calico/felix/v2/no-region/host/" + w.Host + "/workload/k8s/" + lab.WorkloadNamespace + "%2f" + w.Name + "/endpoint/eth0"
}
