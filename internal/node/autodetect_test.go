package node

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// fakeHost is a host with a fixed address list and routing: sources maps
// a can-reach destination to the source address the kernel would pick.
type fakeHost struct {
	list    []hostAddr
	sources map[string]string
	dumps   int
}

var _ hostNet = (*fakeHost)(nil)

func (f *fakeHost) addrs(v4, v6 bool) ([]hostAddr, error) {
	f.dumps++
	var out []hostAddr
	for _, a := range f.list {
		if a.prefix.Addr().Is6() && v6 || a.prefix.Addr().Is4() && v4 {
			out = append(out, a)
		}
	}
	return out, nil
}

func (f *fakeHost) sourceFor(_ context.Context, dest string, want6 bool) (netip.Addr, error) {
	s, ok := f.sources[dest]
	if !ok {
		return netip.Addr{}, errors.New("network is unreachable")
	}
	return netip.MustParseAddr(s), nil
}

// testHost: interfaces in index order, as the kernel lists them.
func testHost() *fakeHost {
	p := netip.MustParsePrefix
	return &fakeHost{
		list: []hostAddr{
			{"lo", p("127.0.0.1/8")},
			{"lo", p("::1/128")},
			{"eth1", p("10.1.0.5/24")},
			{"cali1234567890a", p("10.65.0.1/32")},
			{"docker0", p("172.17.0.1/16")},
			{"eth0", p("fe80::1/64")},
			{"eth0", p("10.0.0.5/24")},
			{"eth0", p("10.0.0.6/24")},
			{"bond0", p("192.168.7.2/23")},
			{"eth1", p("2001:db8::5/64")},
		},
		sources: map[string]string{
			"10.0.0.1":      "10.0.0.6",
			"gateway.local": "192.168.7.2",
			"2001:db8::1":   "2001:db8::5",
			"10.9.9.9":      "10.99.99.99", // on no interface
		},
	}
}

func TestAutodetectMethods(t *testing.T) {
	for _, tt := range []struct {
		method string
		six    bool
		want   string // "" = none found
		iface  string
	}{
		{"", false, "10.1.0.5/24", "eth1"},
		{"first-found", false, "10.1.0.5/24", "eth1"},
		{"first-found", true, "2001:db8::5/64", "eth1"},
		// interface=: name order, first address on the first match.
		{"interface=eth.*", false, "10.0.0.5/24", "eth0"},
		{"interface=eth1", false, "10.1.0.5/24", "eth1"},
		{"interface=bond0, eth1", false, "192.168.7.2/23", "bond0"},
		{"interface=^eth0$", true, "", ""}, // only link-local
		{"interface=docker0", false, "172.17.0.1/16", "docker0"},
		{"interface=wlan.*", false, "", ""},
		// skip-interface=: the default exclusions still apply.
		{"skip-interface=eth1", false, "10.0.0.5/24", "eth0"},
		{"skip-interface=eth.*,bond.*", false, "", ""},
		{"skip-interface=eth0", true, "2001:db8::5/64", "eth1"},
		// cidr=: first address (interface order) inside any.
		{"cidr=10.0.0.0/24", false, "10.0.0.5/24", "eth0"},
		{"cidr=192.168.0.0/16,10.0.0.0/8", false, "10.1.0.5/24", "eth1"},
		{"cidr=10.0.0.6/32", false, "10.0.0.6/24", "eth0"},
		{"cidr=172.16.0.0/12", false, "172.17.0.1/16", "docker0"},
		{"cidr=2001:db8::/32", true, "2001:db8::5/64", "eth1"},
		{"cidr=2001:db8::/32", false, "", ""},
		// can-reach=: the kernel's source address, with its prefix length.
		{"can-reach=10.0.0.1", false, "10.0.0.6/24", "eth0"},
		{"can-reach=gateway.local", false, "192.168.7.2/23", "bond0"},
		{"can-reach=2001:db8::1", true, "2001:db8::5/64", "eth1"},
	} {
		m, err := parseAutodetectMethod(tt.method)
		if err != nil {
			t.Errorf("%q: %v", tt.method, err)
			continue
		}
		h := testHost()
		addrs, _ := h.addrs(true, true)
		got, ok, err := autodetect(context.Background(), h, addrs, m, tt.six)
		if err != nil {
			t.Errorf("%q v6=%v: %v", tt.method, tt.six, err)
			continue
		}
		gotStr := ""
		if ok {
			gotStr = got.prefix.String()
		}
		if gotStr != tt.want || ok && got.iface != tt.iface {
			t.Errorf("%q v6=%v = %s on %q, want %q on %q", tt.method, tt.six, gotStr, got.iface, tt.want, tt.iface)
		}
	}
}

func TestAutodetectCanReachFailures(t *testing.T) {
	h := testHost()
	addrs, _ := h.addrs(true, true)
	for dest, want := range map[string]string{
		"10.200.0.1": "unreachable",
		"10.9.9.9":   "10.99.99.99 to reach 10.9.9.9 is on no interface",
	} {
		m, _ := parseAutodetectMethod("can-reach=" + dest)
		_, ok, err := autodetect(context.Background(), h, addrs, m, false)
		if ok || err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("can-reach=%s: ok=%v err=%v, want error containing %q", dest, ok, err, want)
		}
	}
}

func TestParseAutodetectMethodErrors(t *testing.T) {
	for in, want := range map[string]string{
		"firstfound":                 "unknown method",
		"nic=eth0":                   `unknown method "nic"`,
		"interface=":                 "interface= needs a value",
		"interface=eth(":             `bad interface regex "eth("`,
		"cidr=10.0.0.0/33":           `"10.0.0.0/33" is not a CIDR`,
		"cidr=10.0.0.1":              "is not a CIDR",
		"can-reach=10.0.0.1,8.8.8.8": "takes one address",
	} {
		if _, err := parseAutodetectMethod(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseAutodetectMethod(%q) = %v, want an error containing %q", in, err, want)
		}
	}
	for _, in := range []string{"", "first-found", " interface=eth0 ", "skip-interface=a,b", "cidr=10.0.0.0/8, fd00::/8", "can-reach=www.example.com"} {
		if _, err := parseAutodetectMethod(in); err != nil {
			t.Errorf("parseAutodetectMethod(%q): %v", in, err)
		}
	}
}

// TestAddressesValidate: a bad method names the flag and the variable.
func TestAddressesValidate(t *testing.T) {
	err := Addresses{IPv4Method: "interface=eth(", IPv6Method: "first-found"}.Validate()
	if err == nil || !strings.Contains(err.Error(), `--ip-autodetection-method (env IP_AUTODETECTION_METHOD) "interface=eth("`) {
		t.Errorf("IPv4 method error: %v", err)
	}
	err = Addresses{IPv6Method: "bogus"}.Validate()
	if err == nil || !strings.Contains(err.Error(), `--ip6-autodetection-method (env IP6_AUTODETECTION_METHOD) "bogus"`) {
		t.Errorf("IPv6 method error: %v", err)
	}
	if err := (Addresses{}).Validate(); err != nil {
		t.Errorf("zero Addresses: %v", err)
	}
}

// TestHostAddresses: both families from one dump; explicit settings do
// not list addresses at all; a failed detection records no address.
func TestHostAddresses(t *testing.T) {
	ctx := context.Background()
	h := testHost()
	v4, v6, err := hostAddresses(ctx, Addresses{IPv4: "autodetect", IPv6: "autodetect", IPv4Method: "can-reach=10.0.0.1", IPv6Method: "interface=eth1"}, h, quiet())
	if err != nil || v4 != "10.0.0.6/24" || v6 != "2001:db8::5/64" || h.dumps != 1 {
		t.Errorf("autodetect both = %q, %q, %v with %d dumps; want 10.0.0.6/24, 2001:db8::5/64, one dump", v4, v6, err, h.dumps)
	}
	h = testHost()
	v4, v6, err = hostAddresses(ctx, Addresses{IPv4: "10.3.0.1/24", IPv6: "none", IPv4Method: "cidr=10.0.0.0/8"}, h, quiet())
	if err != nil || v4 != "10.3.0.1/24" || v6 != "" || h.dumps != 0 {
		t.Errorf("explicit = %q, %q, %v with %d dumps; want 10.3.0.1/24, none, no dump", v4, v6, err, h.dumps)
	}
	v4, _, err = hostAddresses(ctx, Addresses{IPv4: "autodetect", IPv4Method: "can-reach=10.200.0.1"}, testHost(), quiet())
	if err != nil || v4 != "" {
		t.Errorf("unreachable can-reach = %q, %v; want none, no error", v4, err)
	}
	if _, _, err := hostAddresses(ctx, Addresses{IPv4: "autodetect", IPv4Method: "bogus"}, testHost(), quiet()); err == nil {
		t.Error("bad method: no error")
	}
}
