package labelindex

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gocalico/calico/internal/selector"
)

// ep is an item with addresses and named ports ("http/6/80").
func ep(id, labels, addrs string, ports ...string) op {
	o := upd(id, labels)
	for a := range strings.FieldsSeq(addrs) {
		o.addrs = append(o.addrs, netip.MustParsePrefix(a))
	}
	for _, p := range ports {
		var np NamedPort
		name, rest, _ := strings.Cut(p, "/")
		proto, port, _ := strings.Cut(rest, "/")
		np.Name = name
		np.Proto = uint8(atoi(proto))
		np.Port = uint16(atoi(port))
		o.ports = append(o.ports, np)
	}
	return o
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

func addSet(id, src, namedPort string, proto uint8) op {
	return op{kind: opAddSet, id: id, sel: src, namedPort: namedPort, proto: proto}
}
func rmSet(id string) op { return op{kind: opRemoveSet, id: id} }

func TestIPSets(t *testing.T) {
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"plain set with IPv4 and IPv6", []step{
			{ops(addSet("web", "app == 'web'", "", 0)), nil},
			{ops(ep("e1", "app=web", "fd00::1/128 10.0.0.1/32")), events("web +10.0.0.1/32", "web +fd00::1/128")},
			{ops(ep("e2", "app=db", "10.0.0.2/32")), nil},
			{ops(ep("e2", "app=web", "10.0.0.2/32")), events("web +10.0.0.2/32")},
			{ops(ep("e2", "app=db", "10.0.0.2/32")), events("web -10.0.0.2/32")},
		}},
		{"shared addresses are counted", []step{
			{ops(addSet("web", "app == 'web'", "", 0), ep("e1", "app=web", "10.0.0.1/32 fd00::1/128")),
				events("web +10.0.0.1/32", "web +fd00::1/128")},
			{ops(ep("e2", "app=web", "10.0.0.1/32")), nil},
			{ops(delItem("e1")), events("web -fd00::1/128")},
			{ops(delItem("e2")), events("web -10.0.0.1/32")},
		}},
		{"an address moving between endpoints never leaves the set", []step{
			{ops(addSet("web", "app == 'web'", "", 0), ep("e1", "app=web", "10.0.0.5/32")), events("web +10.0.0.5/32")},
			{ops(ep("e2", "app=web", "10.0.0.5/32")), nil},
			{ops(ep("e1", "app=web", "10.0.0.6/32")), events("web +10.0.0.6/32")},
			{ops(ep("e1", "app=web", "10.0.0.5/32"), ep("e2", "app=web", "10.0.0.7/32")), events("web +10.0.0.7/32", "web -10.0.0.6/32")},
			{ops(ep("e1", "app=db", "10.0.0.6/32")), events("web -10.0.0.5/32")},
			{ops(ep("e1", "app=web", "10.0.0.7/32")), nil},
			{ops(ep("e1", "app=db", "10.0.0.8/32")), nil},
			{ops(ep("e1", "app=web", "10.0.0.9/32")), events("web +10.0.0.9/32")},
		}},
		{"network set CIDRs, host bits cleared", []step{
			{ops(addSet("db", "role == 'db'", "", 0)), nil},
			{ops(ep("n1", "role=db", "10.1.0.0/16 2001:db8::/32")), events("db +10.1.0.0/16", "db +2001:db8::/32")},
			{ops(ep("n2", "role=db", "10.1.2.3/16")), nil},
			{ops(delItem("n1")), events("db -2001:db8::/32")},
		}},
		{"named ports with and without protocol", []step{
			{ops(addSet("http", "app == 'web'", "http", 0), addSet("httptcp", "app == 'web'", "http", 6), addSet("dns", "app == 'web'", "dns", 17)), nil},
			{ops(ep("e1", "app=web", "10.0.0.1/32 fd00::1/128", "http/6/80", "http/17/8080", "dns/17/53", "dns/6/53")), events(
				"dns +10.0.0.1/32 proto 17 port 53", "dns +fd00::1/128 proto 17 port 53",
				"http +10.0.0.1/32 proto 17 port 8080", "http +10.0.0.1/32 proto 6 port 80",
				"http +fd00::1/128 proto 17 port 8080", "http +fd00::1/128 proto 6 port 80",
				"httptcp +10.0.0.1/32 proto 6 port 80", "httptcp +fd00::1/128 proto 6 port 80",
			)},
			{ops(ep("e1", "app=web", "10.0.0.1/32", "http/6/81")), events(
				"dns -10.0.0.1/32 proto 17 port 53", "dns -fd00::1/128 proto 17 port 53",
				"http +10.0.0.1/32 proto 6 port 81", "http -10.0.0.1/32 proto 17 port 8080", "http -10.0.0.1/32 proto 6 port 80",
				"http -fd00::1/128 proto 17 port 8080", "http -fd00::1/128 proto 6 port 80",
				"httptcp +10.0.0.1/32 proto 6 port 81", "httptcp -10.0.0.1/32 proto 6 port 80", "httptcp -fd00::1/128 proto 6 port 80",
			)},
			{ops(ep("e2", "app=web", "10.0.0.2/32")), nil},
		}},
		{"sets redefined", []step{
			{ops(ep("e1", "app=web", "10.0.0.1/32", "http/6/80"), ep("e2", "app=db", "10.0.0.2/32", "http/6/80")), nil},
			{ops(addSet("s", "app == 'web'", "", 6)), events("s +10.0.0.1/32")},
			{ops(addSet("s", `app == "web"`, "", 0)), nil},
			{ops(addSet("s", "has(app)", "", 0)), events("s +10.0.0.2/32")},
			{ops(addSet("s", "app == 'db'", "", 0)), events("s -10.0.0.1/32")},
			{ops(addSet("s", "app == 'db'", "http", 0)), events("s +10.0.0.2/32 proto 6 port 80", "s -10.0.0.2/32")},
			{ops(addSet("s", "app == 'db'", "http", 17)), events("s -10.0.0.2/32 proto 6 port 80")},
			{ops(rmSet("s"), rmSet("s")), nil},
		}},
		{"labels from parents", []step{
			{ops(addSet("blue", "pcns.team == 'blue'", "", 0), prof("kns.a", "pcns.team=blue")), nil},
			{ops(op{kind: opUpdateItem, id: "e1", parents: []string{"kns.a"}, addrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")}}),
				events("blue +10.0.0.1/32")},
			{ops(prof("kns.a", "pcns.team=red")), events("blue -10.0.0.1/32")},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { runSteps(t, tc.steps) })
	}
}

// TestIPSetsShareSelectors checks that sets with equivalent selectors
// share one evaluation, which outlives any one of them.
func TestIPSetsShareSelectors(t *testing.T) {
	s := NewIPSets(nil)
	s.UpdateItem("e1", map[string]string{"app": "web"}, nil, []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")}, []NamedPort{{"http", 6, 80}})
	s.AddSet("a", mustParse(t, "app == 'web'"), "", 0)
	s.AddSet("b", mustParse(t, `app=="web"`), "http", 6)
	if n := len(s.ix.sels); n != 1 {
		t.Fatalf("%d selectors evaluated for two sets with one selector, want 1", n)
	}
	s.RemoveSet("a")
	s.UpdateItem("e2", map[string]string{"app": "web"}, nil, []netip.Prefix{netip.MustParsePrefix("10.0.0.2/32")}, []NamedPort{{"http", 6, 80}})
	want := []Member{
		{Prefix: netip.MustParsePrefix("10.0.0.1/32"), Proto: 6, Port: 80},
		{Prefix: netip.MustParsePrefix("10.0.0.2/32"), Proto: 6, Port: 80},
	}
	if diff := cmp.Diff(want, s.Members("b"), cmpPrefix); diff != "" {
		t.Errorf("Members(b) (-want +got):\n%s", diff)
	}
	if got := s.Members("a"); got != nil {
		t.Errorf("Members of a removed set: %v", got)
	}
	s.RemoveSet("b")
	if len(s.ix.sels)+len(s.sels) != 0 {
		t.Errorf("selector kept after its last set went")
	}
}

// TestMembersOrder checks that Members sorts IPv4 before IPv6, so callers
// can split a set by family with one scan.
func TestMembersOrder(t *testing.T) {
	s := NewIPSets(nil)
	s.AddSet("all", mustParse(t, "all()"), "", 0)
	s.UpdateItem("e", nil, nil, []netip.Prefix{
		netip.MustParsePrefix("fd00::1/128"), netip.MustParsePrefix("10.0.0.2/32"),
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("10.0.0.1/32"), {},
	}, nil)
	var got []string
	for _, m := range s.Members("all") {
		got = append(got, m.String())
		if m.Is4() != m.Prefix.Addr().Is4() {
			t.Errorf("%v: Is4 wrong", m)
		}
	}
	want := []string{"10.0.0.0/8", "10.0.0.1/32", "10.0.0.2/32", "fd00::1/128"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Members (-want +got):\n%s", diff)
	}
}

func mustParse(t testing.TB, src string) selector.Selector {
	t.Helper()
	sel, err := selector.Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	return sel
}
