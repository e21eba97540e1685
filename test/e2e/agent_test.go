package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gocalico/calico/internal/datastore"
	"github.com/gocalico/calico/internal/lab"
)

// (a) Two workloads on one host reach each other and their host, over
// IPv4 and IPv6.
func TestPrivilegedSameHostWorkloadsReachEachOtherAndHost(t *testing.T) {
	l := newLab(t, lab.Config{Hosts: 1, WorkloadsPerHost: 2})
	w1, w2 := l.workload("host1-w1"), l.workload("host1-w2")
	l.waitReach(w1.Name, w2.Addrs()...)
	l.waitReach(w2.Name, w1.Addrs()...)
	l.waitReach(w1.Name, l.hostAddrs("host1")...)
	l.waitReach(w2.Name, l.hostAddrs("host1")...)

	pairs, err := l.Matrix(l.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pairs) != 2 || !lab.AllReached(pairs) {
		t.Errorf("matrix = %+v, want both pairs reached over both families", pairs)
	}
	for _, w := range []lab.Workload{w1, w2} {
		for _, a := range w.Addrs() {
			if _, ok := l.workloadRoute(w, a); !ok {
				t.Errorf("host1 has no route %s dev %s", a, w.Interface)
			}
		}
	}
}

// (b) An endpoint written before its interface exists (the VM or pod
// starts later) works once the interface appears.
func TestPrivilegedEndpointBeforeInterface(t *testing.T) {
	l := newLab(t, lab.Config{Hosts: 1, WorkloadsPerHost: 1})
	w1 := l.workload("host1-w1")
	// The agent is up and programming: w1's route is in place.
	l.eventually(converge, "route to host1-w1", func() (bool, string) {
		_, ok := l.workloadRoute(w1, w1.IPv4)
		return ok, "no route"
	})

	w2, err := l.NewWorkload("host1", 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.CreateEndpoint(l.ctx, w2); err != nil {
		t.Fatal(err)
	}
	// The agent has handled the endpoint while its interface is missing:
	// applied it, run a full route refresh with it (the resync counter
	// moved twice since: one refresh began after the apply and ended),
	// and reported its status since. Whatever it did, it must not crash.
	l.waitApplied(l.putRevision(l.resourceKey("WorkloadEndpoint", lab.WorkloadNamespace, w2.Endpoint)))
	resyncs := l.metricNow("host1", "calico_agent_dataplane_resyncs_total")
	l.waitMetric("host1", "calico_agent_dataplane_resyncs_total", resyncs+2)
	l.waitStatusReport("host1")
	if !l.NodeRunning("host1") {
		t.Fatal("calico-node on host1 exited after an endpoint without an interface")
	}
	if err := l.Plug(l.ctx, w2); err != nil {
		t.Fatal(err)
	}
	l.waitReach(w1.Name, w2.Addrs()...)
	l.waitReach(w2.Name, w1.Addrs()...)
	for _, a := range w2.Addrs() {
		if _, ok := l.workloadRoute(w2, a); !ok {
			t.Errorf("host1 has no route %s dev %s", a, w2.Interface)
		}
	}
}

// (c) Deleting an endpoint cuts the workload off and removes its routes
// and neighbour entries from the host; other endpoints are untouched.
func TestPrivilegedDeletedEndpointIsCutOff(t *testing.T) {
	l := newLab(t, lab.Config{Hosts: 1, WorkloadsPerHost: 2})
	w1, w2 := l.workload("host1-w1"), l.workload("host1-w2")
	l.waitReach(w1.Name, w2.Addrs()...)

	// Through calicoctl, as an operator would.
	l.exec("host1", "calicoctl", "delete", "workloadendpoint", "--namespace", "default", w2.Endpoint)

	for _, a := range w2.Addrs() {
		l.eventually(converge, fmt.Sprintf("route to %s gone from host1", a), func() (bool, string) {
			rs := l.routesTo("host1", a)
			return len(rs) == 0, fmt.Sprintf("still there: %v", rs)
		})
	}
	l.eventually(converge, "permanent neighbours of "+w2.Interface+" gone", func() (bool, string) {
		ns := l.permanentNeighbours(w2)
		return len(ns) == 0, fmt.Sprintf("still there: %v", ns)
	})
	for _, a := range w2.Addrs() {
		if l.ping(w1.Name, a) {
			t.Errorf("%s still reaches deleted endpoint %s at %s", w1.Name, w2.Name, a)
		}
	}
	// The other endpoint keeps its routes and its reachability to the host.
	for _, a := range w1.Addrs() {
		if _, ok := l.workloadRoute(w1, a); !ok {
			t.Errorf("route to %s (not deleted) is gone", a)
		}
	}
	l.waitReach(w1.Name, l.hostAddrs("host1")...)
}

// (d) A route deleted by hand is put back by the periodic resync
// (routeRefreshInterval 2s in the lab's FelixConfiguration).
func TestPrivilegedHandDeletedRouteRestored(t *testing.T) {
	l := newLab(t, lab.Config{Hosts: 1, WorkloadsPerHost: 2})
	w1 := l.workload("host1-w1")
	l.waitReach(w1.Name, l.hostAddrs("host1")...)

	for _, a := range w1.Addrs() {
		orig, ok := l.workloadRoute(w1, a)
		if !ok {
			t.Fatalf("no route %s dev %s to delete", a, w1.Interface)
		}
		fam := "-4"
		if a.Is6() {
			fam = "-6"
		}
		l.exec("host1", "ip", fam, "route", "del", a.String(), "dev", w1.Interface)
		if _, ok := l.workloadRoute(w1, a); ok {
			t.Fatalf("route %s still present after ip route del", a)
		}
		// Bounded generously; the refresh interval is logged, not asserted.
		d := l.eventually(10*routeRefresh+converge, fmt.Sprintf("route %s dev %s restored", a, w1.Interface), func() (bool, string) {
			_, ok := l.workloadRoute(w1, a)
			return ok, "not restored"
		})
		t.Logf("route %s restored after %v (routeRefreshInterval %v)", a, d.Round(time.Millisecond), routeRefresh)
		if got, _ := l.workloadRoute(w1, a); got.Protocol != orig.Protocol {
			t.Errorf("restored route has protocol %v, the agent's routes have %v", got.Protocol, orig.Protocol)
		}
	}
	l.waitReach(w1.Name, l.hostAddrs("host1")...)
}

// (e) The agent killed with SIGKILL and restarted while a ping flood runs
// between two workloads loses no packet: the kernel keeps forwarding
// while the agent is gone, and the new agent applies only differences.
func TestPrivilegedAgentRestartLosesNoPackets(t *testing.T) {
	l := newLab(t, lab.Config{Hosts: 1, WorkloadsPerHost: 2})
	w1, w2 := l.workload("host1-w1"), l.workload("host1-w2")
	l.waitReach(w1.Name, w2.Addrs()...)
	l.waitReach(w2.Name, w1.Addrs()...)
	before := l.statusLease("host1")

	// Floods at 200 packets/s over each family, counted: -c makes ping
	// wait for every reply, so transmitted and received compare exactly.
	const count, interval = 4000, "0.005"
	type result struct {
		addr string
		out  string
		err  error
	}
	results := make(chan result, 2)
	floodCtx, stopFlood := context.WithTimeout(l.ctx, 2*time.Minute)
	defer stopFlood()
	for _, a := range w2.Addrs() {
		cmd, err := l.Command(floodCtx, w1.Name, "ping", "-q", "-n", "-i", interval, "-c", strconv.Itoa(count), "-W", "2", a.String())
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() {
			err := cmd.Wait()
			results <- result{a.String(), out.String(), err}
		}()
	}
	// The flood runs: packets cross w1's interface.
	l.waitPackets(w1, 100)

	if err := l.StopNode(l.ctx, "host1", syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	t.Log("calico-node on host1 killed (SIGKILL)")
	// Traffic flows with no agent at all.
	l.waitPackets(w1, 100)
	if err := l.StartNode(l.ctx, "host1"); err != nil {
		t.Fatal(err)
	}
	// The new agent is up once it reports liveness under a new lease;
	// then it runs two full route resyncs while the flood goes on: its
	// resync counter (the start-up sync is the first) reaches 4 when the
	// third resync begins, so the second has ended.
	l.eventually(converge, "restarted agent reports status", func() (bool, string) {
		lease := l.statusLease("host1")
		return lease != 0 && lease != before, fmt.Sprintf("status lease %d (before restart %d)", lease, before)
	})
	t.Log("restarted calico-node reports status")
	l.waitMetric("host1", "calico_agent_dataplane_resyncs_total", 4)
	if len(results) > 0 {
		t.Fatalf("a flood ended before the restarted agent had run two resyncs: make the flood longer")
	}

	re := regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`)
	for range 2 {
		r := <-results
		m := re.FindStringSubmatch(r.out)
		if m == nil {
			t.Errorf("ping %s: no statistics (%v):\n%s", r.addr, r.err, r.out)
			continue
		}
		tx, _ := strconv.Atoi(m[1])
		rx, _ := strconv.Atoi(m[2])
		t.Logf("flood to %s: %d transmitted, %d received", r.addr, tx, rx)
		if tx != count || rx != tx {
			t.Errorf("flood to %s across the agent restart: %d transmitted, %d received: want %d and no loss", r.addr, tx, rx, count)
		}
	}
}

// waitStatusReport waits until host's agent writes its status key again.
func (l *testLab) waitStatusReport(host string) {
	l.t.Helper()
	kv, err := l.statusKV(host)
	if err != nil || kv == nil {
		l.t.Fatalf("%s: no status key (%v)", host, err)
	}
	l.eventually(converge, statusKey(host)+" written again", func() (bool, string) {
		now, err := l.statusKV(host)
		return now != nil && now.ModRevision > kv.ModRevision, fmt.Sprintf("revision still %d (%v)", kv.ModRevision, err)
	})
}

// waitPackets waits until n more packets have arrived at the host from
// workload w (its interface's receive counter in the host namespace).
func (l *testLab) waitPackets(w lab.Workload, n uint64) {
	l.t.Helper()
	rx := func() uint64 {
		h, err := l.Handle(w.Host)
		if err != nil {
			l.t.Fatal(err)
		}
		defer h.Close()
		link, err := h.LinkByName(w.Interface)
		if err != nil {
			l.t.Fatalf("%s: %s: %v", w.Host, w.Interface, err)
		}
		return link.Attrs().Statistics.RxPackets
	}
	start := rx()
	l.eventually(converge, fmt.Sprintf("%d packets from %s", n, w.Name), func() (bool, string) {
		got := rx() - start
		return got >= n, fmt.Sprintf("%d packets", got)
	})
}

// statusKey is the agent liveness key of host.
func statusKey(host string) string {
	return "/calico/felix/v2/no-region/host/" + host + "/status"
}

// statusLease returns the lease of host's status key, 0 if there is none.
func (l *testLab) statusLease(host string) int64 {
	l.t.Helper()
	kv, err := l.statusKV(host)
	if err != nil || kv == nil {
		return 0
	}
	return kv.Lease
}

func (l *testLab) statusKV(host string) (*datastore.KV, error) {
	be, err := l.Backend(l.ctx)
	if err != nil {
		l.t.Fatal(err)
	}
	kv, err := be.Get(l.ctx, statusKey(host))
	if errors.Is(err, datastore.ErrNotFound) {
		return nil, nil
	}
	return kv, err
}

// (f) The agent's status key appears in etcd with a lease, is refreshed
// while the agent runs, and goes when the agent stops.
func TestPrivilegedStatusKeysAppearAndGo(t *testing.T) {
	l := newLab(t, lab.Config{Hosts: 1, WorkloadsPerHost: 1})
	var first *datastore.KV
	l.eventually(converge, statusKey("host1")+" written", func() (bool, string) {
		kv, err := l.statusKV("host1")
		first = kv
		return kv != nil, fmt.Sprintf("get: %v", err)
	})
	var report struct {
		Time        string  `json:"time"`
		Uptime      float64 `json:"uptime"`
		FirstUpdate *bool   `json:"first_update"`
	}
	if err := json.Unmarshal(first.Value, &report); err != nil || report.Time == "" || report.FirstUpdate == nil {
		t.Errorf("status value %s: want {\"time\":..,\"uptime\":..,\"first_update\":..} (%v)", first.Value, err)
	}
	if first.Lease == 0 {
		t.Errorf("status key has no lease")
	}
	l.eventually(converge, "status key refreshed (reportingInterval 1s)", func() (bool, string) {
		kv, err := l.statusKV("host1")
		return kv != nil && kv.ModRevision > first.ModRevision, fmt.Sprintf("revision still %d (%v)", first.ModRevision, err)
	})

	if err := l.StopNode(l.ctx, "host1", syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Gone at once if the agent revokes its lease on the way out; at the
	// latest when the lease (reportingTTL) runs out.
	d := l.eventually(3*reportingTTL, statusKey("host1")+" gone after SIGTERM", func() (bool, string) {
		kv, err := l.statusKV("host1")
		return kv == nil && err == nil, fmt.Sprintf("still there (%v)", err)
	})
	t.Logf("status key gone %v after the agent stopped (reportingTTL %v)", d.Round(time.Millisecond), reportingTTL)
}

// With endpointReportingEnabled, the agent publishes each local endpoint's
// state under upstream's key layout: the workload ID "<namespace>/<pod>"
// with "/" written as %2f, and "up" once the interface is there. The key
// stays when the agent stops (as upstream's Felix leaves it), and goes
// when the endpoint is deleted.
func TestPrivilegedEndpointStatusReported(t *testing.T) {
	on := true
	felix := e2eFelix()
	felix.EndpointReportingEnabled = &on
	l := newLab(t, lab.Config{Hosts: 1, WorkloadsPerHost: 1, FelixConfiguration: felix})
	be, err := l.Backend(l.ctx)
	if err != nil {
		t.Fatal(err)
	}
	key := "/calico/felix/v2/no-region/host/host1/workload/k8s/default%2fhost1-w1/endpoint/eth0"
	l.eventually(converge, key+" = up", func() (bool, string) {
		kv, err := be.Get(l.ctx, key)
		if err != nil {
			return false, err.Error()
		}
		return string(kv.Value) == `{"status":"up"}`, string(kv.Value)
	})

	w := l.Workloads()[0]
	if err := l.DeleteEndpoint(l.ctx, w); err != nil {
		t.Fatal(err)
	}
	l.eventually(converge, key+" deleted with its endpoint", func() (bool, string) {
		_, err := be.Get(l.ctx, key)
		return errors.Is(err, datastore.ErrNotFound), fmt.Sprintf("get: %v", err)
	})
}

// The agent serves /liveness, /readiness and /metrics on loopback in its
// host's namespace by default (127.0.0.1:9099), and is ready once in sync.
func TestPrivilegedHealthAndMetricsOnLoopback(t *testing.T) {
	l := newLab(t, lab.Config{Hosts: 1, WorkloadsPerHost: 1})
	get := func(path string) (string, error) {
		// bash's /dev/tcp: no HTTP client is needed inside the namespace.
		script := `exec 3<>/dev/tcp/127.0.0.1/9099 && printf 'GET ` + path + ` HTTP/1.0\r\nHost: x\r\n\r\n' >&3 && cat <&3`
		cmd, err := l.Command(l.ctx, "host1", "bash", "-c", script)
		if err != nil {
			return "", err
		}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	l.eventually(converge, "/readiness answers 200", func() (bool, string) {
		out, err := get("/readiness")
		return err == nil && strings.HasPrefix(out, "HTTP/1.0 200"), fmt.Sprintf("%v: %.200s", err, out)
	})
	if out, err := get("/liveness"); err != nil || !strings.HasPrefix(out, "HTTP/1.0 200") {
		t.Errorf("/liveness: %v: %.300s", err, out)
	}
	out, err := get("/metrics")
	if err != nil || !strings.Contains(out, "calico_agent_endpoints_programmed 1") {
		t.Errorf("/metrics does not show one programmed endpoint: %v: %.2000s", err, out)
	}
}
