package lab

import (
	"net"
	"net/netip"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	v3 "github.com/gocalico/calico/api/v3"
)

func TestHealthURL(t *testing.T) {
	off, host, port := false, "127.0.0.2", 9199
	for _, tc := range []struct {
		name string
		fc   *v3.FelixConfigurationSpec
		want string
	}{
		{"no configuration", nil, "http://127.0.0.1:9099/readiness"},
		{"defaults", &v3.FelixConfigurationSpec{}, "http://127.0.0.1:9099/readiness"},
		{"moved", &v3.FelixConfigurationSpec{HealthHost: &host, HealthPort: &port}, "http://127.0.0.2:9199/readiness"},
		{"off", &v3.FelixConfigurationSpec{HealthEnabled: &off}, ""},
	} {
		if got := healthURL(tc.fc); got != tc.want {
			t.Errorf("%s: healthURL = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// Which routes count as the way to a workload: its own host's route to
// exactly its address through its interface; another host's unicast
// route learned by BIRD covering it (a /32, or its block).
func TestRouteTableCoversWorkloads(t *testing.T) {
	cidr := func(s string) *net.IPNet {
		_, n, err := net.ParseCIDR(s)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	rt := routeTable{
		links: map[int]string{2: "eth0", 3: "cali1", 4: "cali2"},
		routes: []netlink.Route{
			{Dst: cidr("10.65.1.1/32"), LinkIndex: 3, Protocol: 80, Type: unix.RTN_UNICAST},
			{Dst: cidr("10.65.1.2/32"), LinkIndex: 3, Protocol: 80, Type: unix.RTN_UNICAST}, // the wrong interface
			{Dst: cidr("10.65.2.0/26"), LinkIndex: 2, Protocol: rtprotBIRD, Type: unix.RTN_UNICAST},
			{Dst: cidr("10.65.3.1/32"), LinkIndex: 2, Protocol: 80, Type: unix.RTN_UNICAST}, // not BIRD's
			{Dst: cidr("10.65.4.0/26"), Protocol: rtprotBIRD, Type: unix.RTN_BLACKHOLE},
			{Dst: cidr("fd00:65::2:1/128"), LinkIndex: 2, Protocol: rtprotBIRD, Type: unix.RTN_UNICAST},
		},
	}
	for _, tc := range []struct {
		addr   string
		iface  string
		local  bool
		remote bool
	}{
		{"10.65.1.1", "cali1", true, false},
		{"10.65.1.2", "cali2", false, false},
		{"10.65.2.7", "", false, true},
		{"10.65.3.1", "", false, false},
		{"10.65.4.1", "", false, false},
		{"fd00:65::2:1", "", false, true},
		{"fd00:65::2:2", "", false, false},
	} {
		a := netip.MustParseAddr(tc.addr)
		if got := rt.localTo(a, tc.iface); got != tc.local {
			t.Errorf("localTo(%s, %q) = %v, want %v", a, tc.iface, got, tc.local)
		}
		if got := rt.learned(a); got != tc.remote {
			t.Errorf("learned(%s) = %v, want %v", a, got, tc.remote)
		}
	}
}

// How far a host got, as Up says it when it gives up.
func TestHostReadinessString(t *testing.T) {
	for _, tc := range []struct {
		r    hostReadiness
		want string
	}{
		{hostReadiness{host: "host1", local: 2, remote: 4}, "host1: ready"},
		{hostReadiness{host: "host2", local: 2, remote: 4, remoteMissing: []string{"10.65.3.1 (host3-w1)"}},
			"host2: 3 of 4 remote workload routes; missing 10.65.3.1 (host3-w1)"},
		{hostReadiness{host: "host3", agent: "503 Service Unavailable", local: 2, localMissing: []string{"10.65.3.1 (host3-w1)", "fd00:65::3:1 (host3-w1)"}},
			"host3: agent not ready: 503 Service Unavailable; 0 of 2 local workload routes; missing 10.65.3.1 (host3-w1), fd00:65::3:1 (host3-w1)"},
	} {
		if got := tc.r.String(); got != tc.want {
			t.Errorf("%+v:\n got %q\nwant %q", tc.r, got, tc.want)
		}
	}
}
