package node

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	v3 "github.com/gocalico/calico/api/v3"
)

func TestDefaultIPv4CIDR(t *testing.T) {
	p := netip.MustParsePrefix
	tests := []struct {
		local []netip.Prefix
		want  string
	}{
		{nil, "192.168.0.0/16"},
		{[]netip.Prefix{p("10.0.0.0/8"), p("127.0.0.0/8")}, "192.168.0.0/16"},
		{[]netip.Prefix{p("192.168.1.0/24")}, "172.16.0.0/16"},
		{[]netip.Prefix{p("192.168.1.0/24"), p("172.16.0.0/12")}, "192.168.0.0/16"}, // nothing free: upstream default
		{[]netip.Prefix{p("192.168.1.0/24"), p("172.16.5.0/24"), p("172.17.0.0/16")}, "172.18.0.0/16"},
	}
	for _, tt := range tests {
		if got := defaultIPv4CIDR(tt.local); got != tt.want {
			t.Errorf("defaultIPv4CIDR(%v) = %s, want %s", tt.local, got, tt.want)
		}
	}
}

func TestDefaultsFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	got, err := DefaultsFromEnv(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := Defaults{
		ClusterType: "gocalico,bgp",
		IPv4Pool:    PoolDefaults{BlockSize: 26, IPIPMode: "Never", VXLANMode: "Never", NATOutgoing: true, NodeSelector: "all()"},
		IPv6Pool:    PoolDefaults{CIDR: "none", BlockSize: 122, IPIPMode: "Never", VXLANMode: "Never", NodeSelector: "all()"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}

	got, err = DefaultsFromEnv(env(map[string]string{
		"CALICO_IPV4POOL_CIDR": "10.10.0.0/16", "CALICO_IPV4POOL_BLOCK_SIZE": "28",
		"CALICO_IPV4POOL_IPIP": "Off", "CALICO_IPV4POOL_VXLAN": "CrossSubnet",
		"CALICO_IPV4POOL_NAT_OUTGOING": "false", "CALICO_IPV6POOL_CIDR": "fd00:10::/48",
		"NO_DEFAULT_POOLS": "true", "CLUSTER_TYPE": "openstack",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want = Defaults{
		ClusterType: "openstack", NoDefaultPools: true,
		IPv4Pool: PoolDefaults{CIDR: "10.10.0.0/16", BlockSize: 28, IPIPMode: v3.EncapMode("Never"), VXLANMode: "CrossSubnet", NodeSelector: "all()"},
		IPv6Pool: PoolDefaults{CIDR: "fd00:10::/48", BlockSize: 122, IPIPMode: "Never", VXLANMode: "Never", NodeSelector: "all()"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}

	for _, bad := range []map[string]string{
		{"CALICO_IPV4POOL_BLOCK_SIZE": "big"},
		{"NO_DEFAULT_POOLS": "maybe"},
		{"CALICO_IPV6POOL_NAT_OUTGOING": "yes please"},
	} {
		if _, err := DefaultsFromEnv(env(bad)); err == nil {
			t.Errorf("DefaultsFromEnv(%v): want an error", bad)
		}
	}
}
