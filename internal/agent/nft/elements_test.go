package nft

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/nftables"
)

func TestIntervalSetElements(t *testing.T) {
	for _, tc := range []struct {
		name string
		typ  SetType
		in   []Element
		want string
	}{
		{"contained", TypeIPv4Addr, addrElems("10.0.0.0/8", "10.1.0.0/16"), "10.0.0.0/8"},
		{"adjacent halves", TypeIPv4Addr, addrElems("10.0.0.128/25", "10.0.0.0/25"), "10.0.0.0/24"},
		{"range", TypeIPv4Addr, addrElems("10.0.0.1", "10.0.0.2", "10.0.0.3"), "10.0.0.1-10.0.0.3"},
		{"disjoint", TypeIPv4Addr, addrElems("192.168.0.0/16", "10.0.0.0/8"), "10.0.0.0/8, 192.168.0.0/16"},
		{"everything", TypeIPv4Addr, addrElems("0.0.0.0/0", "10.0.0.0/8"), "0.0.0.0/0"},
		{"host bits", TypeIPv4Addr, addrElems("10.1.2.3/8"), "10.0.0.0/8"},
		{"v6", TypeIPv6Addr, addrElems("fd00::/8", "fd00::1", "2001:db8::/32"), "2001:db8::/32, fd00::/8"},
		{"ports", TypeInetService, []Element{{Ports: PortRange{80, 80}}, {Ports: PortRange{81, 90}}, {Ports: PortRange{65535, 65535}}}, "80-90, 65535"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			elems, err := setElems(&Set{Name: "s", Type: tc.typ, Interval: true, Elements: tc.in})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range elems {
				got = append(got, elemText(tc.typ, e))
			}
			if diff := cmp.Diff(tc.want, strings.Join(got, ", ")); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestSetElementErrors(t *testing.T) {
	for _, tc := range []struct {
		set  Set
		want string
	}{
		{Set{Type: TypeIPv4Addr, Elements: addrElems("10.0.0.0/8")}, "not a single address"},
		{Set{Type: TypeIPv4Addr, Elements: addrElems("fd00::1")}, "not an IPv4 address"},
		{Set{Type: TypeIPv6Addr, Interval: true, Elements: addrElems("10.0.0.0/8")}, "not an IPv6 prefix"},
		{Set{Type: TypeInetService, Elements: []Element{{Ports: PortRange{1, 2}}}}, "needs an interval set"},
		{Set{Type: TypeInetService, Elements: []Element{{Ports: PortRange{2, 1}}}}, "is empty"},
		{Set{Type: TypeIfname, Elements: []Element{{Name: "cali*"}}}, "wildcards"},
		{Set{Type: TypeIfname, Elements: []Element{{Name: "a-very-long-interface"}}}, "longer than 15"},
		{Set{Type: TypeEtherAddr, Elements: []Element{{MAC: []byte{1, 2}}}}, "not 6 bytes"},
		{Set{Type: TypeIPv4AddrProtoPort, Elements: []Element{{Prefix: pfx("10.0.0.1"), Proto: 6, Ports: PortRange{1, 5}}}}, "single ports"},
		{Set{Type: TypeIPv4Addr, Elements: []Element{{}}}, "address missing"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			tc.set.Name = "s"
			_, err := setElems(&tc.set)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestSpanPrefix(t *testing.T) {
	for _, s := range []string{"0.0.0.0/0", "10.0.0.0/8", "10.1.16.0/20", "1.2.3.4/32", "fd00::/65", "::/0"} {
		p := pfx(s)
		got, ok := spanPrefix(prefixSpan(p))
		if !ok || got != p.Bits() {
			t.Errorf("spanPrefix(%s) = %d, %v", s, got, ok)
		}
	}
	k := func(s string) key { return addrKey(pfx(s).Addr()) }
	for _, sp := range []span{
		{k("10.0.0.1"), k("10.0.0.2")},
		{k("10.0.0.0"), k("10.0.1.254")},
		{k("10.0.0.128"), k("10.0.1.127")},
	} {
		if _, ok := spanPrefix(sp); ok {
			t.Errorf("spanPrefix(%s) says prefix", addrSpanText(sp))
		}
	}
}

func TestElementOrder(t *testing.T) {
	in := []string{`"eth0"`, `"cali1"`, "10.0.0.10", "10.0.0.9", "9.0.0.0/8", "fd00::1", "443", "80",
		"1000-2000", "10.0.0.1 . tcp . 80", "10.0.0.1 . ipv6-icmp . 8", "tcp", "ipv6-icmp", `"cali1" : jump x`}
	slices.SortFunc(in, compareElementText)
	want := []string{"9.0.0.0/8", "10.0.0.1 . ipv6-icmp . 8", "10.0.0.1 . tcp . 80", "10.0.0.9", "10.0.0.10", "fd00::1",
		"80", "443", "1000-2000", `"cali1"`, `"cali1" : jump x`, `"eth0"`, "ipv6-icmp", "tcp"}
	if diff := cmp.Diff(want, in); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
}

// TestKernelElems: interval sets read back as the spans that were
// written, whatever order the kernel dumps them in.
func TestKernelElems(t *testing.T) {
	set := &nftables.Set{Interval: true}
	k := func(s string) []byte { return addrKey(pfx(s).Addr()).bytes() }
	for _, tc := range []struct {
		name  string
		els   []nftables.SetElement
		want  string
		dirty bool
	}{
		{"written by us, dumped in reverse", []nftables.SetElement{
			{Key: k("10.0.1.0"), IntervalEnd: true}, {Key: k("10.0.0.0")},
			{Key: k("9.0.0.4"), IntervalEnd: true}, {Key: k("9.0.0.1")},
		}, "9.0.0.1-9.0.0.3, 10.0.0.0/24", false},
		{"nft's end marker at zero", []nftables.SetElement{
			{Key: k("0.0.0.0"), IntervalEnd: true}, {Key: k("10.0.0.0")}, {Key: k("11.0.0.0"), IntervalEnd: true},
		}, "10.0.0.0/8", false},
		{"open to the top", []nftables.SetElement{{Key: k("128.0.0.0")}}, "128.0.0.0/1", false},
		{"adjacent spans", []nftables.SetElement{
			{Key: k("10.0.0.0")}, {Key: k("10.0.0.128"), IntervalEnd: true},
			{Key: k("10.0.0.128")}, {Key: k("10.0.1.0"), IntervalEnd: true},
		}, "10.0.0.0/25, 10.0.0.128/25", false},
		{"two starts", []nftables.SetElement{{Key: k("10.0.0.0")}, {Key: k("10.0.0.5")}, {Key: k("10.0.1.0"), IntervalEnd: true}}, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			elems, dirty := kernelElems(set, tc.els)
			var got []string
			for _, e := range elems {
				got = append(got, addrSpanText(e.span))
			}
			if dirty != tc.dirty || strings.Join(got, ", ") != tc.want {
				t.Errorf("got %q dirty %v, want %q dirty %v", strings.Join(got, ", "), dirty, tc.want, tc.dirty)
			}
		})
	}
}

// TestSpanElementsRoundTrip: what spanElements writes, kernelElems reads.
func TestSpanElementsRoundTrip(t *testing.T) {
	want, err := setElems(representative().Sets["nets-v4"])
	if err != nil {
		t.Fatal(err)
	}
	var els []nftables.SetElement
	for _, e := range want {
		els = append(els, spanElements(e.span, true)...)
	}
	slices.Reverse(els)
	got, dirty := kernelElems(&nftables.Set{Interval: true}, els)
	if dirty {
		t.Fatal("dirty")
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(elem{}, span{}, key{})); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
