package dataplane

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/gocalico/calico/internal/agent/internal/nstest"
)

// blackholes lists the blackhole routes in ns as "dst proto N", sorted.
func blackholes(t *testing.T, ns *nstest.NS) []string {
	t.Helper()
	var out []string
	for _, fam := range []string{"-4", "-6"} {
		for _, l := range strings.Split(ns.MustRun(t, "ip", fam, "route", "show", "type", "blackhole"), "\n") {
			// IPv6 ones read "blackhole fd00::/122 dev lo proto 80 ...".
			f := strings.Fields(l)
			if len(f) < 2 || f[0] != "blackhole" {
				continue
			}
			if i := slices.Index(f, "proto"); i > 0 && i+1 < len(f) {
				out = append(out, f[1]+" proto "+f[i+1])
			}
		}
	}
	return out
}

// TestPrivilegedBlackholes: the local IPAM blocks get blackhole routes in
// a scratch host namespace; a workload's own route inside a block still
// wins, an unallocated address of the block is dropped instead of going
// out of the uplink, a restarted dataplane takes the blackholes over
// without writing, and another protocol's blackhole is never touched.
func TestPrivilegedBlackholes(t *testing.T) {
	nstest.RequireRoot(t)
	nstest.GuardRoot(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*nstest.Deadline)
	defer cancel()

	host := nstest.New(t, "host")
	host.Uplink(t, "10.99.0.1/24", "fd00:99::1/64")
	a := nstest.NewWorkload(t, "wa", "cali1", mustMAC("ee:ee:ee:00:00:0a"), "10.65.0.1", "fd00:65::1")
	a.Attach(t, host)
	if err := host.Handle.RouteAdd(&netlink.Route{Dst: mustCIDR("10.98.0.0/26"), Type: unix.RTN_BLACKHOLE, Protocol: unix.RTPROT_STATIC}); err != nil {
		t.Fatal(err)
	}
	foreign := "10.98.0.0/26 proto static"

	d, err := New(Config{NetNS: host.Path})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	hs := withBlackholes(hostState(nil, workloadEndpoint("a", a)), "10.65.0.0/26", "fd00:65::/122")
	waitFor(t, d, hs, func() bool { return statusOf(d, "ns/a") == StatusUp })

	want := []string{"10.65.0.0/26 proto 80", foreign, "fd00:65::/122 proto 80"}
	if diff := cmp.Diff(want, blackholes(t, host)); diff != "" {
		t.Fatalf("blackholes (-want +got):\n%s", diff)
	}
	// A route lookup that ends in a blackhole fails with EINVAL.
	const dropped = "Invalid argument"
	for dst, via := range map[string]string{
		"10.65.0.1": "dev cali1", "fd00:65::1": "dev cali1", // the workload's route is more specific
		"10.65.0.9": dropped, "fd00:65::9": dropped, // unallocated: dropped here
		"10.65.1.9": "dev uplink0", "fd00:65::1:9": "dev uplink0", // another host's block: out to the network
	} {
		if got, _ := host.Run(ctx, "ip", "route", "get", dst); !strings.Contains(got, via) {
			t.Errorf("ip route get %s: %q, want %q", dst, got, via)
		}
	}
	for _, dst := range []string{a.V4, a.V6} {
		if err := nstest.Ping(ctx, host, dst); err != nil {
			t.Error(err)
		}
	}

	t.Run("restart takes the blackholes over without writing", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		d2, err := New(Config{NetNS: host.Path, Metrics: NewMetrics(reg)})
		if err != nil {
			t.Fatal(err)
		}
		defer d2.Close()
		waitFor(t, d2, hs, func() bool { return statusOf(d2, "ns/a") == StatusUp })
		if err := d2.Set(ctx, hs); err != nil {
			t.Errorf("Set after restart: %v", err)
		}
		if n := counterSum(t, reg, "calico_agent_kernel_writes_total"); n != 0 {
			t.Errorf("restart made %v kernel writes", n)
		}
	})

	t.Run("a block given up loses its blackhole; a deleted one comes back", func(t *testing.T) {
		if err := host.Handle.RouteDel(&netlink.Route{Dst: mustCIDR("fd00:65::/122"), Type: unix.RTN_BLACKHOLE, Protocol: 80}); err != nil {
			t.Fatal(err)
		}
		hs2 := withBlackholes(hostState(nil, workloadEndpoint("a", a)), "10.65.1.0/26", "fd00:65::/122")
		d.Resync()
		if err := d.Set(ctx, hs2); err != nil {
			t.Fatal(err)
		}
		want := []string{"10.65.1.0/26 proto 80", foreign, "fd00:65::/122 proto 80"}
		if diff := cmp.Diff(want, blackholes(t, host)); diff != "" {
			t.Errorf("blackholes (-want +got):\n%s", diff)
		}
		if got, _ := host.Run(ctx, "ip", "route", "get", "10.65.0.9"); !strings.Contains(got, "dev uplink0") {
			t.Errorf("ip route get 10.65.0.9 after the block went: %q", got)
		}
		if err := d.Set(ctx, hostState(nil, workloadEndpoint("a", a))); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{foreign}, blackholes(t, host)); diff != "" {
			t.Errorf("blackholes after all blocks went (-want +got):\n%s", diff)
		}
	})
}
