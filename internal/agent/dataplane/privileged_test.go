package dataplane

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/gocalico/calico/internal/agent/calc"
	"github.com/gocalico/calico/internal/agent/internal/nstest"
)

func kernelRoutes(t *testing.T, ns *nstest.NS, proto int) []string { return ns.Routes(t, proto) }

// permanentNeighs lists the permanent neighbour entries in ns as
// "ip dev name lladdr mac".
func permanentNeighs(t *testing.T, ns *nstest.NS) []string {
	t.Helper()
	nbs, err := ns.Handle.NeighList(0, netlink.FAMILY_ALL)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range nbs {
		if n.State&netlink.NUD_PERMANENT == 0 {
			continue
		}
		l, _ := ns.Handle.LinkByIndex(n.LinkIndex)
		out = append(out, fmt.Sprintf("%s dev %s lladdr %s", n.IP, l.Attrs().Name, n.HardwareAddr))
	}
	slices.Sort(out)
	return out
}

func sysctlIn(t *testing.T, ns *nstest.NS, path string) string {
	t.Helper()
	return strings.TrimSpace(ns.MustRun(t, "cat", "/proc/sys/"+path))
}

// counterSum adds up every series of a counter in reg.
func counterSum(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

func workloadEndpoint(name string, w *nstest.Workload) calc.Endpoint {
	return endpoint(name, w.Iface, w.MAC.String(), w.V4+"/32", w.V6+"/128")
}

func mustMAC(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

func TestPrivilegedDataplane(t *testing.T) {
	nstest.RequireRoot(t)
	nstest.GuardRoot(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*nstest.Deadline)
	defer cancel()

	host := nstest.New(t, "host")
	host.Uplink(t, "10.99.0.1/24", "fd00:99::1/64")
	a := nstest.NewWorkload(t, "wa", "cali1", mustMAC("ee:ee:ee:00:00:0a"), "10.65.0.1", "fd00:65::1")
	b := nstest.NewWorkload(t, "wb", "cali2", mustMAC("ee:ee:ee:00:00:0b"), "10.65.0.2", "fd00:65::2")
	// Objects the agent must leave alone: routes on an unmanaged
	// interface (one of them with the agent's own protocol).
	for _, r := range []struct {
		dst   string
		proto int
	}{{"10.98.0.0/24", unix.RTPROT_STATIC}, {"10.98.1.1/32", 80}} {
		up, _ := host.Handle.LinkByName("uplink0")
		if err := host.Handle.RouteAdd(&netlink.Route{LinkIndex: up.Attrs().Index, Dst: mustCIDR(r.dst), Protocol: netlink.RouteProtocol(r.proto)}); err != nil {
			t.Fatal(err)
		}
	}
	foreignRoutes := func() []string {
		return append(kernelRoutes(t, host, unix.RTPROT_STATIC), kernelRoutes(t, host, 80)...)
	}

	reg := prometheus.NewRegistry()
	d, err := New(Config{NetNS: host.Path, Metrics: NewMetrics(reg)})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	hs := hostState(nil, workloadEndpoint("a", a), workloadEndpoint("b", b))
	status := func(key string) func() bool {
		return func() bool { return statusOf(d, key) == StatusUp }
	}
	both := func() bool { return status("ns/a")() && status("ns/b")() }

	ours := []string{"10.65.0.1/32 dev cali1", "10.65.0.2/32 dev cali2", "fd00:65::1/128 dev cali1", "fd00:65::2/128 dev cali2"}
	pings := func(t *testing.T) {
		t.Helper()
		for _, p := range []struct {
			from *nstest.NS
			to   string
		}{
			{a.NS, b.V4}, {a.NS, b.V6}, {b.NS, a.V4}, {b.NS, a.V6},
			{a.NS, "10.99.0.1"}, {a.NS, "fd00:99::1"}, {host, a.V4}, {host, b.V6},
		} {
			if err := nstest.Ping(ctx, p.from, p.to); err != nil {
				t.Error(err)
			}
		}
	}

	t.Run("endpoints before their interfaces", func(t *testing.T) {
		if err := d.Set(ctx, hs); err != nil {
			t.Fatal(err)
		}
		if got := d.EndpointStatuses(); got[0].Status != StatusDown || got[1].Status != StatusDown {
			t.Fatalf("statuses %v", got)
		}
		if got := kernelRoutes(t, host, 80); !cmp.Equal(got, []string{"10.98.1.1/32 dev uplink0"}) {
			t.Fatalf("routes before interfaces: %v", got)
		}
	})

	t.Run("interfaces appear", func(t *testing.T) {
		a.Attach(t, host)
		b.Attach(t, host)
		waitFor(t, d, hs, both)
		want := append(slices.Clone(ours), "10.98.1.1/32 dev uplink0")
		slices.Sort(want)
		if diff := cmp.Diff(want, kernelRoutes(t, host, 80)); diff != "" {
			t.Errorf("routes (-want +got):\n%s", diff)
		}
		wantN := []string{
			"10.65.0.1 dev cali1 lladdr ee:ee:ee:00:00:0a", "10.65.0.2 dev cali2 lladdr ee:ee:ee:00:00:0b",
			"fd00:65::1 dev cali1 lladdr ee:ee:ee:00:00:0a", "fd00:65::2 dev cali2 lladdr ee:ee:ee:00:00:0b",
		}
		if diff := cmp.Diff(wantN, permanentNeighs(t, host)); diff != "" {
			t.Errorf("neighbours (-want +got):\n%s", diff)
		}
		for path, want := range map[string]string{
			"net/ipv4/ip_forward": "1", "net/ipv6/conf/all/forwarding": "1",
			"net/ipv4/conf/cali1/proxy_arp": "1", "net/ipv4/neigh/cali1/proxy_delay": "0",
			"net/ipv4/conf/cali1/rp_filter": "1", "net/ipv4/conf/cali1/forwarding": "1",
			"net/ipv6/conf/cali1/proxy_ndp": "1", "net/ipv6/conf/cali1/accept_ra": "0",
			"net/ipv6/conf/cali1/forwarding": "1", "net/ipv4/conf/uplink0/proxy_arp": "0",
		} {
			if got := sysctlIn(t, host, path); got != want {
				t.Errorf("%s = %s, want %s", path, got, want)
			}
		}
		pings(t)
	})

	t.Run("a hand-deleted route is restored by a resync", func(t *testing.T) {
		l, _ := host.Handle.LinkByName("cali2")
		if err := host.Handle.RouteDel(&netlink.Route{LinkIndex: l.Attrs().Index, Dst: mustCIDR("10.65.0.2/32"), Scope: netlink.SCOPE_LINK}); err != nil {
			t.Fatal(err)
		}
		if err := nstest.NoPing(ctx, a.NS, b.V4); err != nil {
			t.Fatal(err)
		}
		d.Resync()
		if err := d.Set(ctx, hs); err != nil {
			t.Fatal(err)
		}
		if err := nstest.Ping(ctx, a.NS, b.V4); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("foreign routes and interfaces are untouched", func(t *testing.T) {
		l, _ := host.Handle.LinkByName("cali1")
		if err := host.Handle.RouteAdd(&netlink.Route{LinkIndex: l.Attrs().Index, Dst: mustCIDR("10.98.2.2/32"), Protocol: unix.RTPROT_STATIC}); err != nil {
			t.Fatal(err)
		}
		before := foreignRoutes()
		d.Resync()
		if err := d.Set(ctx, hs); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(before, foreignRoutes()); diff != "" {
			t.Errorf("foreign routes (-before +after):\n%s", diff)
		}
		if !slices.Contains(kernelRoutes(t, host, unix.RTPROT_STATIC), "10.98.2.2/32 dev cali1") {
			t.Error("static route on a managed interface was removed")
		}
	})

	t.Run("interface deleted and recreated", func(t *testing.T) {
		b.Detach(t, host)
		waitFor(t, d, hs, func() bool { return statusOf(d, "ns/b") == StatusDown })
		if err := nstest.NoPing(ctx, a.NS, b.V4); err != nil {
			t.Fatal(err)
		}
		b.Attach(t, host)
		waitFor(t, d, hs, both)
		pings(t)
	})

	t.Run("restart changes nothing", func(t *testing.T) {
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(append(slices.Clone(ours), "10.98.1.1/32 dev uplink0"), kernelRoutes(t, host, 80), cmp.Transformer("sort", func(s []string) []string {
			return slices.Sorted(slices.Values(s))
		})); diff != "" {
			t.Fatalf("routes after close (-want +got):\n%s", diff)
		}
		events := make(chan netlink.RouteUpdate, 100)
		done := make(chan struct{})
		defer close(done)
		nsh := host.NsHandle()
		if err := netlink.RouteSubscribeWithOptions(events, done, netlink.RouteSubscribeOptions{Namespace: &nsh}); err != nil {
			t.Fatal(err)
		}
		reg2 := prometheus.NewRegistry()
		d2, err := New(Config{NetNS: host.Path, Metrics: NewMetrics(reg2)})
		if err != nil {
			t.Fatal(err)
		}
		defer d2.Close()
		waitFor(t, d2, hs, func() bool { return statusOf(d2, "ns/a") == StatusUp && statusOf(d2, "ns/b") == StatusUp })
		if n := counterSum(t, reg2, "calico_agent_kernel_writes_total"); n != 0 {
			t.Errorf("restart made %v kernel writes", n)
		}
		// Barrier: a marker route; any route event before its own was
		// made by the restarted dataplane.
		up, _ := host.Handle.LinkByName("uplink0")
		if err := host.Handle.RouteAdd(&netlink.Route{LinkIndex: up.Attrs().Index, Dst: mustCIDR("10.97.0.1/32")}); err != nil {
			t.Fatal(err)
		}
		for {
			select {
			case u := <-events:
				if u.Dst != nil && u.Dst.String() == "10.97.0.1/32" {
					return
				}
				t.Errorf("route changed during restart: %+v", u.Route)
			case <-ctx.Done():
				t.Fatal("marker route event never arrived")
			}
		}
	})

	t.Run("endpoint deleted", func(t *testing.T) {
		d3, err := New(Config{NetNS: host.Path})
		if err != nil {
			t.Fatal(err)
		}
		defer d3.Close()
		only := hostState(nil, workloadEndpoint("a", a))
		if err := d3.Set(ctx, only); err != nil {
			t.Fatal(err)
		}
		want := []string{"10.65.0.1/32 dev cali1", "10.98.1.1/32 dev uplink0", "fd00:65::1/128 dev cali1"}
		if diff := cmp.Diff(want, kernelRoutes(t, host, 80)); diff != "" {
			t.Errorf("routes (-want +got):\n%s", diff)
		}
		for _, n := range permanentNeighs(t, host) {
			if strings.Contains(n, "cali2") {
				t.Errorf("neighbour left: %s", n)
			}
		}
		if err := nstest.NoPing(ctx, a.NS, b.V4); err != nil {
			t.Error(err)
		}
		if err := nstest.Ping(ctx, a.NS, "10.99.0.1"); err != nil {
			t.Error(err)
		}
	})
}

func mustCIDR(s string) *net.IPNet {
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		panic(err)
	}
	return n
}
