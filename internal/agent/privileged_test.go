package agent

import (
	"context"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/agent/internal/nstest"
	"github.com/gocalico/calico/internal/agent/status"
	"github.com/gocalico/calico/internal/datastore/etcdtest"
	"github.com/gocalico/calico/internal/resources"
)

// startAgent runs Run in the background; the returned func stops it and
// waits for it to return.
func startAgent(t *testing.T, cfg Config) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	t.Cleanup(stop)
	return stop
}

func TestPrivilegedRunEndToEnd(t *testing.T) {
	nstest.RequireRoot(t)
	nstest.GuardRoot(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*nstest.Deadline)
	defer cancel()

	_, be := etcdtest.Embedded(t)
	c := resources.New(be)
	host := nstest.New(t, "host")
	host.Uplink(t, "10.99.0.1/24", "fd00:99::1/64")
	mac := func(s string) net.HardwareAddr { m, _ := net.ParseMAC(s); return m }
	a := nstest.NewWorkload(t, "wa", "cali1", mac("ee:ee:ee:00:00:0a"), "10.65.0.1", "fd00:65::1")
	b := nstest.NewWorkload(t, "wb", "cali2", mac("ee:ee:ee:00:00:0b"), "10.65.0.2", "fd00:65::2")
	// Not the agent's: a static route, and a route of the agent's
	// protocol on an interface outside its prefixes.
	host.AddRoute(t, "10.98.0.0/24", "uplink0", unix.RTPROT_STATIC)
	host.AddRoute(t, "10.98.1.1/32", "uplink0", 80)
	staticBefore := host.Routes(t, unix.RTPROT_STATIC)

	// A short refresh interval, so that a hand-deleted route comes back
	// quickly.
	fc := v3.NewFelixConfiguration()
	fc.Metadata.Name = "node." + nodeName
	fc.Spec.RouteRefreshInterval = v3.NewDuration(time.Second)
	// Workloads may reach their host (upstream's default is Drop).
	fc.Spec.DefaultEndpointToHostAction = "Accept"
	if _, err := c.Create(ctx, fc); err != nil {
		t.Fatal(err)
	}
	// The endpoints' profile allows everything, as the namespace
	// profile upstream's controllers write does; without it they would
	// be default-deny.
	if _, err := c.Create(ctx, allowProfile("kns.default")); err != nil {
		t.Fatal(err)
	}
	wepA := newWEP(t, nodeName, "pa", a.Iface, a.MAC.String(), a.V4+"/32", a.V6+"/128")
	wepB := newWEP(t, nodeName, "pb", b.Iface, b.MAC.String(), b.V4+"/32", b.V6+"/128")
	for _, w := range []*v3.WorkloadEndpoint{wepA, wepB} {
		if _, err := c.Create(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	keyA, keyB := "default/"+wepA.Metadata.Name, "default/"+wepB.Metadata.Name

	w := newWatcher()
	reg0 := prometheus.NewRegistry()
	cfg := Config{NodeName: nodeName, Backend: be, NetNS: host.Path, Registry: reg0}
	w.hook(&cfg)
	stop := startAgent(t, cfg)

	ours := []string{"10.65.0.1/32 dev cali1", "10.65.0.2/32 dev cali2", "10.98.1.1/32 dev uplink0", "fd00:65::1/128 dev cali1", "fd00:65::2/128 dev cali2"}
	pings := func(t *testing.T) {
		t.Helper()
		for _, p := range []struct {
			from *nstest.NS
			to   string
		}{
			{a.NS, b.V4}, {a.NS, b.V6}, {b.NS, a.V4}, {b.NS, a.V6},
			{a.NS, "10.99.0.1"}, {b.NS, "fd00:99::1"}, {host, a.V4}, {host, b.V6},
		} {
			if err := nstest.Ping(ctx, p.from, p.to); err != nil {
				t.Error(err)
			}
		}
	}

	t.Run("endpoints written before their interfaces exist", func(t *testing.T) {
		w.waitFor(t, "endpoints down", wantStatuses(map[string]string{keyA: StatusDown, keyB: StatusDown}))
		if got := host.Routes(t, 80); !cmp.Equal(got, []string{"10.98.1.1/32 dev uplink0"}) {
			t.Fatalf("routes without interfaces: %v", got)
		}
	})

	t.Run("interfaces appear; workloads reach each other and the host", func(t *testing.T) {
		a.Attach(t, host)
		b.Attach(t, host)
		w.waitFor(t, "endpoints up", wantStatuses(map[string]string{keyA: StatusUp, keyB: StatusUp}))
		if diff := cmp.Diff(ours, host.Routes(t, 80)); diff != "" {
			t.Fatalf("routes (-want +got):\n%s", diff)
		}
		pings(t)
		// The profile's allow rules counted the pings, read from the
		// kernel's rule counters at scrape time.
		for _, dir := range []string{"ingress", "egress"} {
			want := map[string]string{"kind": "Profile", "name": "kns.default", "direction": dir, "rule": "0"}
			if n := labelledCounter(t, reg0, "calico_agent_policy_rule_packets_total", want); n == 0 {
				t.Errorf("no packets counted for %v", want)
			}
		}
	})

	t.Run("a hand-deleted route is restored by the periodic resync", func(t *testing.T) {
		events := host.RouteEvents(t)
		host.DelRoute(t, "10.65.0.2/32", "cali2")
		for {
			select {
			case u := <-events:
				if u.Type == unix.RTM_NEWROUTE && u.Dst != nil && u.Dst.String() == "10.65.0.2/32" {
					if err := nstest.Ping(ctx, a.NS, b.V4); err != nil {
						t.Fatal(err)
					}
					return
				}
			case <-ctx.Done():
				t.Fatal("route never restored")
			}
		}
	})

	t.Run("foreign routes are untouched", func(t *testing.T) {
		if diff := cmp.Diff(staticBefore, host.Routes(t, unix.RTPROT_STATIC)); diff != "" {
			t.Fatalf("(-before +after):\n%s", diff)
		}
		if !slices.Contains(host.Routes(t, 80), "10.98.1.1/32 dev uplink0") {
			t.Fatal("route of the agent's protocol on an unmanaged interface removed")
		}
	})

	var w2 *watcher // the restarted agent's
	outer := t
	t.Run("stop and restart under traffic: no loss, no kernel writes", func(t *testing.T) {
		// About five seconds of pings from a to b across the restart.
		type result struct {
			out string
			err error
		}
		flood := make(chan result, 1)
		go func() {
			out, err := a.NS.Run(ctx, "ping", "-q", "-i", "0.005", "-c", "1000", "-W", "1", b.V4)
			flood <- result{out, err}
		}()
		stop()
		if diff := cmp.Diff(ours, host.Routes(t, 80)); diff != "" {
			t.Fatalf("routes after stop (-want +got):\n%s", diff)
		}

		events := host.RouteEvents(t)
		reg := prometheus.NewRegistry()
		w2 = newWatcher()
		cfg2 := Config{NodeName: nodeName, Backend: be, NetNS: host.Path, Registry: reg}
		w2.hook(&cfg2)
		startAgent(outer, cfg2) // runs on for the next subtest
		w2.waitFor(t, "endpoints up", wantStatuses(map[string]string{keyA: StatusUp, keyB: StatusUp}))
		if n := counter(t, reg, "calico_agent_kernel_writes_total"); n != 0 {
			t.Errorf("restart made %v kernel writes", n)
		}
		// Barrier: a marker route; a route event before its own was
		// made by the restarted agent.
		host.AddRoute(t, "10.97.0.1/32", "uplink0", unix.RTPROT_STATIC)
		for done := false; !done; {
			select {
			case u := <-events:
				if u.Dst != nil && u.Dst.String() == "10.97.0.1/32" {
					done = true
					continue
				}
				t.Errorf("route changed during the restart: %+v", u.Route)
			case <-ctx.Done():
				t.Fatal("marker route event never arrived")
			}
		}
		r := <-flood
		if r.err != nil || !strings.Contains(r.out, " 0% packet loss") {
			t.Errorf("pings across the restart: %v\n%s", r.err, r.out)
		}

	})

	t.Run("deleting an endpoint cuts it off and cleans the kernel", func(t *testing.T) {
		if w2 == nil {
			t.Fatal("the restarted agent did not start (see the subtest before)")
		}
		if _, err := c.Delete(ctx, v3.KindWorkloadEndpoint, "default", wepB.Metadata.Name, ""); err != nil {
			t.Fatal(err)
		}
		w2.waitFor(t, "endpoint b gone", wantStatuses(map[string]string{keyA: StatusUp}))
		want := []string{"10.65.0.1/32 dev cali1", "10.98.1.1/32 dev uplink0", "fd00:65::1/128 dev cali1"}
		if diff := cmp.Diff(want, host.Routes(t, 80)); diff != "" {
			t.Fatalf("routes (-want +got):\n%s", diff)
		}
		if err := nstest.NoPing(ctx, a.NS, b.V4); err != nil {
			t.Fatal(err)
		}
	})
}

// TestPrivilegedForeignRouteFailsOneEndpoint: a route the agent does not
// own, in the way of one endpoint's address, fails that endpoint alone.
// The agent stays ready, degraded naming it; its status key says error;
// the other endpoints are programmed and reach each other. Once the
// route is deleted, the endpoint's own retry programs it, without any
// full re-read of the kernel, and health is ok again.
func TestPrivilegedForeignRouteFailsOneEndpoint(t *testing.T) {
	nstest.RequireRoot(t)
	nstest.GuardRoot(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*nstest.Deadline)
	defer cancel()

	_, be := etcdtest.Embedded(t)
	c := resources.New(be)
	host := nstest.New(t, "host")
	host.Uplink(t, "10.99.0.1/24", "fd00:99::1/64")
	mac := func(s string) net.HardwareAddr { m, _ := net.ParseMAC(s); return m }
	a := nstest.NewWorkload(t, "wa", "cali1", mac("ee:ee:ee:00:00:0a"), "10.65.0.1", "fd00:65::1")
	b := nstest.NewWorkload(t, "wb", "cali2", mac("ee:ee:ee:00:00:0b"), "10.65.0.2", "fd00:65::2")
	x := nstest.NewWorkload(t, "wx", "cali5", mac("ee:ee:ee:00:00:05"), "10.65.0.5", "fd00:65::5")
	for _, w := range []*nstest.Workload{a, b, x} {
		w.Attach(t, host)
	}
	// An operator's route, proto boot as `ip route add` makes it, in
	// the way of x's IPv4 address.
	host.AddRoute(t, x.V4+"/32", "uplink0", unix.RTPROT_BOOT)

	// No periodic resync: only x's own retry may program it.
	fc := v3.NewFelixConfiguration()
	fc.Metadata.Name = "node." + nodeName
	fc.Spec.RouteRefreshInterval = v3.NewDuration(0)
	if _, err := c.Create(ctx, fc); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(ctx, allowProfile("kns.default")); err != nil {
		t.Fatal(err)
	}
	keys := map[*nstest.Workload]string{}
	for pod, w := range map[string]*nstest.Workload{"pa": a, "pb": b, "px": x} {
		wep := newWEP(t, nodeName, pod, w.Iface, w.MAC.String(), w.V4+"/32", w.V6+"/128")
		if _, err := c.Create(ctx, wep); err != nil {
			t.Fatal(err)
		}
		keys[w] = "default/" + wep.Metadata.Name
	}

	// The endpoint status keys, written as calico-node writes them.
	rep := status.New(status.Config{Backend: be, Host: nodeName, EndpointReporting: true})
	repDone := make(chan error, 1)
	repCtx, repCancel := context.WithCancel(ctx)
	go func() { repDone <- rep.Run(repCtx) }()
	t.Cleanup(func() {
		repCancel()
		if err := <-repDone; err != nil {
			t.Errorf("status reporter: %v", err)
		}
	})
	statusKey := status.EndpointKey("", nodeName, v3.OrchestratorKubernetes, "default/px", "eth0")
	waitStatusKey := func(t *testing.T, want string) {
		t.Helper()
		wantValue := `{"status":"` + want + `"}`
		for {
			kv, err := be.Get(ctx, statusKey)
			if err == nil && string(kv.Value) == wantValue {
				return
			}
			select {
			case <-ctx.Done():
				t.Fatalf("status key %s never %s (last: %v, %v)", statusKey, wantValue, kv, err)
			case <-time.After(50 * time.Millisecond): // poll the datastore again
			}
		}
	}

	w := newWatcher()
	reg := prometheus.NewRegistry()
	cfg := Config{NodeName: nodeName, Backend: be, NetNS: host.Path, Registry: reg}
	w.hook(&cfg)
	onStatus := cfg.OnEndpointStatus
	cfg.OnEndpointStatus = func(st []EndpointStatus) {
		onStatus(st)
		out := make([]status.EndpointStatus, len(st))
		for i, s := range st {
			out[i] = status.EndpointStatus(s)
		}
		rep.SetEndpoints(out)
	}
	startAgent(t, cfg)

	obstacle := "another route to " + x.V4 + "/32 exists that the agent does not own"
	var resyncs float64
	t.Run("x fails alone; the agent stays ready, degraded naming it", func(t *testing.T) {
		w.waitFor(t, "x in error, the others up, degraded", func(st map[string]string, h Health) bool {
			return cmp.Equal(st, map[string]string{keys[a]: StatusUp, keys[b]: StatusUp, keys[x]: StatusError}) &&
				h.Live && h.Ready && h.Degraded && strings.Contains(h.Detail, "endpoint "+keys[x]+" (") && strings.Contains(h.Detail, obstacle)
		})
		waitStatusKey(t, "error")
		w.mu.Lock()
		for _, h := range w.healths[1:] { // the first is "waiting for the datastore"
			if !h.Ready {
				t.Errorf("not ready: %+v", h)
			}
		}
		w.mu.Unlock()
		for _, p := range []struct {
			from *nstest.NS
			to   string
		}{{a.NS, b.V4}, {b.NS, a.V4}, {a.NS, b.V6}, {a.NS, x.V6}} { // x's IPv6 route is in
			if err := nstest.Ping(ctx, p.from, p.to); err != nil {
				t.Error(err)
			}
		}
		if err := nstest.NoPing(ctx, a.NS, x.V4); err != nil {
			t.Error(err)
		}
		if n := labelledCounter(t, reg, "calico_agent_failed_objects", map[string]string{"kind": "endpoint"}); n != 1 {
			t.Errorf("failed endpoints = %v, want 1", n)
		}
		resyncs = counter(t, reg, "calico_agent_dataplane_resyncs_total")
	})

	t.Run("the route goes; x's own retry programs it", func(t *testing.T) {
		host.DelRoute(t, x.V4+"/32", "uplink0")
		w.waitFor(t, "all up, health ok", func(st map[string]string, h Health) bool {
			return cmp.Equal(st, map[string]string{keys[a]: StatusUp, keys[b]: StatusUp, keys[x]: StatusUp}) &&
				h == Health{Live: true, Ready: true}
		})
		waitStatusKey(t, "up")
		if err := nstest.Ping(ctx, a.NS, x.V4); err != nil {
			t.Error(err)
		}
		if !slices.Contains(host.Routes(t, 80), x.V4+"/32 dev "+x.Iface) {
			t.Errorf("x's route missing: %v", host.Routes(t, 80))
		}
		if n := counter(t, reg, "calico_agent_dataplane_resyncs_total"); n != resyncs {
			t.Errorf("resyncs went from %v to %v: the retry re-read the kernel", resyncs, n)
		}
		if n := labelledCounter(t, reg, "calico_agent_object_retries_total", map[string]string{"kind": "endpoint"}); n < 1 {
			t.Errorf("endpoint retries = %v, want at least 1", n)
		}
		if n := counter(t, reg, "calico_agent_failed_objects"); n != 0 {
			t.Errorf("failed objects = %v, want 0", n)
		}
	})
}
