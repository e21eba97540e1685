package calc

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/agent/config"
	"github.com/gocalico/calico/internal/datastore/syncer"
	"github.com/gocalico/calico/internal/resources"
)

const node = "node1"

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// wep builds a WorkloadEndpoint on node1 created at t0+age seconds.
func wep(ns, name, iface string, age int, ips ...string) *v3.WorkloadEndpoint {
	w := v3.NewWorkloadEndpoint()
	w.Metadata.Namespace, w.Metadata.Name = ns, name
	w.Metadata.CreationTimestamp = v3.NewTime(t0.Add(time.Duration(age) * time.Second))
	w.Spec = v3.WorkloadEndpointSpec{
		Orchestrator: "k8s", Pod: name, Endpoint: "eth0", Node: node,
		InterfaceName: iface, IPNetworks: ips,
	}
	return w
}

func wepKey(ns, name string) string {
	return resources.Prefix + "workloadendpoints/" + ns + "/" + name
}

func put(r v3.Resource) syncer.Update {
	key, err := resources.KeyOf(r)
	if err != nil {
		panic(err)
	}
	return syncer.Update{Type: syncer.UpdateNew, Key: key, Value: r}
}

func del(key string) syncer.Update { return syncer.Update{Type: syncer.UpdateDeleted, Key: key} }

func felix(name, js string) *v3.FelixConfiguration {
	fc := v3.NewFelixConfiguration()
	fc.Metadata.Name = name
	if err := jsonUnmarshal(js, &fc.Spec); err != nil {
		panic(err)
	}
	return fc
}

func pool(name, cidr string) *v3.IPPool {
	p := v3.NewIPPool()
	p.Metadata.Name = name
	p.Spec.CIDR = cidr
	return p
}

func pfx(s ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, x := range s {
		out = append(out, netip.MustParsePrefix(x))
	}
	return out
}

// ep is the Endpoint expected for wep(ns, name, iface, ...) with defaults.
func ep(ns, name, iface string, addrs ...string) Endpoint {
	return Endpoint{
		Key: ns + "/" + name, Namespace: ns, Name: name,
		Orchestrator: "k8s", Workload: name, EndpointID: "eth0",
		InterfaceName: iface, Addrs: pfx(addrs...), Program: true,
	}
}

func run(updates ...[]syncer.Update) *HostState {
	c := New(node)
	for _, b := range updates {
		c.OnUpdates(b)
	}
	return c.HostState()
}

func TestHostState(t *testing.T) {
	remote := wep("ns", "r", "cali9", 0, "10.0.0.9/32")
	remote.Spec.Node = "node2"
	withMAC := wep("ns", "m", "cali1", 0, "10.0.0.1/32", "fd00::1/128")
	withMAC.Spec.MAC = "EE:EE:EE:00:00:01"
	withMAC.Spec.IPv4Gateway = "169.254.1.1"
	withMAC.Spec.IPv6Gateway = "fe80::ecee:eeff:feee:eeee"
	badMAC := wep("ns", "bm", "cali2", 0, "10.0.0.2/32")
	badMAC.Spec.MAC = "ff:ff:ff:ff:ff:ff"
	badGW := wep("ns", "bg", "cali3", 0)
	badGW.Spec.IPv4Gateway = "fd00::1"
	moved := wep("ns", "mv", "cali4", 0, "10.0.0.4/32")
	movedAway := moved.DeepCopy()
	movedAway.Spec.Node = "node2"

	withProblems := func(e Endpoint, program bool, n int) Endpoint {
		e.Program = program
		e.Problems = make([]string, n)
		return e
	}
	tests := []struct {
		name    string
		updates []syncer.Update
		want    []Endpoint
		cfg     func(*config.Config)
	}{
		{name: "empty"},
		{
			name:    "local endpoints only, sorted by key",
			updates: []syncer.Update{put(wep("ns", "b", "cali2", 0, "10.0.0.2")), put(remote), put(wep("ns", "a", "cali1", 0, "fd00::1/128", "10.0.0.1/32", "10.0.0.1/32"))},
			want:    []Endpoint{ep("ns", "a", "cali1", "10.0.0.1/32", "fd00::1/128"), ep("ns", "b", "cali2", "10.0.0.2/32")},
		},
		{
			name:    "mac and gateways",
			updates: []syncer.Update{put(withMAC)},
			want: []Endpoint{func() Endpoint {
				e := ep("ns", "m", "cali1", "10.0.0.1/32", "fd00::1/128")
				e.MAC = "ee:ee:ee:00:00:01"
				e.IPv4Gateway = netip.MustParseAddr("169.254.1.1")
				e.IPv6Gateway = netip.MustParseAddr("fe80::ecee:eeff:feee:eeee")
				return e
			}()},
		},
		{
			name:    "bad mac: routes but no neighbours",
			updates: []syncer.Update{put(badMAC)},
			want:    []Endpoint{withProblems(ep("ns", "bm", "cali2", "10.0.0.2/32"), true, 1)},
		},
		{
			name:    "bad gateway reported",
			updates: []syncer.Update{put(badGW)},
			want:    []Endpoint{withProblems(ep("ns", "bg", "cali3"), true, 1)},
		},
		{
			name: "bad interface names are not programmed",
			updates: []syncer.Update{
				put(wep("ns", "a", "", 0, "10.0.0.1/32")),
				put(wep("ns", "b", "eth0", 0, "10.0.0.2/32")),
				put(wep("ns", "c", "cali/../x", 0, "10.0.0.3/32")),
				put(wep("ns", "d", "..", 0, "10.0.0.4/32")),
				put(wep("ns", "e", "cali0123456789012", 0, "10.0.0.5/32")),
			},
			want: []Endpoint{
				withProblems(ep("ns", "a", "", "10.0.0.1/32"), false, 1),
				withProblems(ep("ns", "b", "eth0", "10.0.0.2/32"), false, 1),
				withProblems(ep("ns", "c", "cali/../x", "10.0.0.3/32"), false, 1),
				withProblems(ep("ns", "d", "..", "10.0.0.4/32"), false, 1),
				withProblems(ep("ns", "e", "cali0123456789012", "10.0.0.5/32"), false, 1),
			},
		},
		{
			name: "bad addresses are reported and skipped",
			updates: []syncer.Update{put(wep("ns", "a", "cali1", 0,
				"10.0.0.0/24", "fd00::/64", "nonsense", "127.0.0.1/32", "0.0.0.0/32", "224.0.0.1/32",
				"169.254.1.1/32", "fe80::1/128", "::ffff:10.0.0.1/128", "255.255.255.255/32", "fe80::1%eth0", "10.0.0.7/32"))},
			want: []Endpoint{withProblems(ep("ns", "a", "cali1", "10.0.0.7/32"), true, 11)},
		},
		{
			name: "duplicate address: the older endpoint keeps it",
			updates: []syncer.Update{
				put(wep("ns", "new", "cali1", 10, "10.0.0.1/32", "10.0.0.2/32")),
				put(wep("ns", "old", "cali2", 5, "10.0.0.1/32")),
			},
			want: []Endpoint{
				withProblems(ep("ns", "new", "cali1", "10.0.0.2/32"), true, 1),
				ep("ns", "old", "cali2", "10.0.0.1/32"),
			},
		},
		{
			name: "duplicate address, same age: the smaller key keeps it",
			updates: []syncer.Update{
				put(wep("ns", "b", "cali2", 0, "fd00::1/128")),
				put(wep("ns", "a", "cali1", 0, "fd00::1")),
			},
			want: []Endpoint{
				ep("ns", "a", "cali1", "fd00::1/128"),
				withProblems(ep("ns", "b", "cali2"), true, 1),
			},
		},
		{
			name: "duplicate interface: the loser is not programmed and keeps no address",
			updates: []syncer.Update{
				put(wep("ns", "a", "cali1", 0, "10.0.0.1/32")),
				put(wep("ns", "b", "cali1", 1, "10.0.0.1/32", "10.0.0.2/32")),
				put(wep("ns", "c", "cali3", 2, "10.0.0.2/32")),
			},
			want: []Endpoint{
				ep("ns", "a", "cali1", "10.0.0.1/32"),
				withProblems(ep("ns", "b", "cali1", "10.0.0.1/32", "10.0.0.2/32"), false, 1),
				ep("ns", "c", "cali3", "10.0.0.2/32"),
			},
		},
		{
			name:    "endpoint moved to another node is dropped",
			updates: []syncer.Update{put(moved), put(movedAway)},
		},
		{
			name:    "deleted and invalid endpoints are dropped",
			updates: []syncer.Update{put(wep("ns", "a", "cali1", 0)), put(wep("ns", "b", "cali2", 0)), del(wepKey("ns", "a")), {Type: syncer.UpdateDeleted, Key: wepKey("ns", "b"), Invalid: true}},
		},
		{
			name: "node config wins; prefixes and IPv6 apply",
			updates: []syncer.Update{
				put(felix("default", `{"interfacePrefix":"cali","ipv6Support":false}`)),
				put(felix("node."+node, `{"interfacePrefix":"tap"}`)),
				put(felix("node.other", `{"interfacePrefix":"other"}`)),
				put(wep("ns", "a", "tap1", 0, "10.0.0.1/32", "fd00::1/128")),
				put(wep("ns", "b", "cali1", 0, "10.0.0.2/32")),
			},
			want: []Endpoint{ep("ns", "a", "tap1", "10.0.0.1/32"), withProblems(ep("ns", "b", "cali1", "10.0.0.2/32"), false, 1)},
			cfg: func(c *config.Config) {
				c.InterfacePrefixes = []string{"tap"}
				c.IPv6Support = false
			},
		},
		{
			name: "config deleted falls back to defaults",
			updates: []syncer.Update{
				put(felix("default", `{"interfacePrefix":"tap"}`)),
				del(resources.Prefix + "felixconfigurations/default"),
			},
		},
		{
			name: "addresses outside every pool of their family are reported",
			updates: []syncer.Update{
				put(pool("p4", "10.0.0.0/24")),
				put(pool("gone", "10.1.0.0/24")),
				del(resources.Prefix + "ippools/gone"),
				put(wep("ns", "a", "cali1", 0, "10.0.0.1/32", "10.1.0.1/32", "fd00::1/128")),
			},
			want: []Endpoint{withProblems(ep("ns", "a", "cali1", "10.0.0.1/32", "10.1.0.1/32", "fd00::1/128"), true, 1)},
		},
		{
			name:    "unknown keys and values are ignored",
			updates: []syncer.Update{{Type: syncer.UpdateNew, Key: "/calico/other"}, {Type: syncer.UpdateNew, Key: wepKey("ns", "x"), Value: "junk"}, put(func() *v3.Profile { p := v3.NewProfile(); p.Metadata.Name = "p"; return p }())},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := run(tt.updates)
			wantCfg := config.Default()
			if tt.cfg != nil {
				tt.cfg(&wantCfg)
			}
			if diff := cmp.Diff(wantCfg, got.Config, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
			// Problems are compared by count; their wording is
			// checked in TestProblemsSayWhatAndWhere.
			for i := range got.Endpoints {
				for j, p := range got.Endpoints[i].Problems {
					if p == "" {
						t.Errorf("empty problem")
					}
					got.Endpoints[i].Problems[j] = ""
				}
			}
			if diff := cmp.Diff(tt.want, got.Endpoints, cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
				cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
				t.Errorf("endpoints (-want +got):\n%s", diff)
			}
		})
	}
}

func TestProblemsSayWhatAndWhere(t *testing.T) {
	hs := run([]syncer.Update{
		put(wep("ns", "a", "cali1", 0, "10.0.0.1/32")),
		put(wep("ns", "b", "cali2", 1, "10.0.0.1/32", "10.0.0.0/24")),
		put(wep("ns", "c", "eth0", 0)),
	})
	want := map[string][]string{
		"ns/a": nil,
		"ns/b": {
			`spec.ipNetworks[1] "10.0.0.0/24": not a single address (/32 or /128); not routed`,
			`address 10.0.0.1 is also claimed by endpoint ns/a, which has precedence; not routed`,
		},
		"ns/c": {`spec.interfaceName "eth0" does not start with a configured interface prefix (cali); nothing programmed`},
	}
	got := map[string][]string{}
	for _, e := range hs.Endpoints {
		got[e.Key] = e.Problems
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

func TestResultNamesChangedLocalEndpoints(t *testing.T) {
	c := New(node)
	remote := wep("ns", "r", "cali9", 0)
	remote.Spec.Node = "node2"
	r := c.OnUpdates([]syncer.Update{put(wep("ns", "a", "cali1", 0)), put(remote), put(wep("ns", "a", "cali1", 0))})
	if !r.Changed || !cmp.Equal(r.Endpoints, []string{"ns/a"}) {
		t.Errorf("result %+v", r)
	}
	if r := c.OnUpdates([]syncer.Update{put(remote), del(wepKey("ns", "r"))}); r.Changed {
		t.Errorf("remote-only batch changed the host: %+v", r)
	}
	r = c.OnUpdates([]syncer.Update{del(wepKey("ns", "a"))})
	if !r.Changed || !cmp.Equal(r.Endpoints, []string{"ns/a"}) {
		t.Errorf("result %+v", r)
	}
}

// scenario returns per-key update sequences over a small set of keys, with
// conflicts, moves, deletes and config changes mixed in.
func scenario(rng *rand.Rand) [][]syncer.Update {
	var seqs [][]syncer.Update
	for i := range 12 {
		name := fmt.Sprintf("w%d", i)
		var seq []syncer.Update
		for range 1 + rng.IntN(3) {
			ips := []string{fmt.Sprintf("10.0.0.%d/32", rng.IntN(6)), fmt.Sprintf("fd00::%x/128", rng.IntN(6))}
			w := wep("ns", name, fmt.Sprintf("cali%d", rng.IntN(8)), rng.IntN(3), ips...)
			switch rng.IntN(6) {
			case 0:
				w.Spec.Node = "node2"
			case 1:
				w.Spec.InterfaceName = "tap" + w.Spec.InterfaceName
			case 2:
				w.Spec.MAC = fmt.Sprintf("ee:ee:ee:00:00:%02x", rng.IntN(256))
			}
			seq = append(seq, put(w))
		}
		if rng.IntN(4) == 0 {
			seq = append(seq, del(wepKey("ns", name)))
		}
		seqs = append(seqs, seq)
	}
	seqs = append(seqs, []syncer.Update{put(felix("default", `{"interfacePrefix":"cali,tap"}`))})
	seqs = append(seqs, []syncer.Update{put(pool("p", "10.0.0.0/29")), put(pool("p6", "fd00::/120"))})
	for _, b := range []struct{ node, cidr string }{{node, "10.0.0.0/30"}, {node, "10.0.0.4/30"}, {node, "10.9.0.0/26"}, {node, "fd00::/124"}, {"node2", "10.0.0.0/30"}} {
		states := []string{"pending", AffinityConfirmed, "pendingDeletion"}
		var seq []syncer.Update
		for range 1 + rng.IntN(3) {
			seq = append(seq, affinity(b.node, b.cidr, states[rng.IntN(len(states))]))
		}
		if rng.IntN(4) == 0 {
			seq = append(seq, del(affinityKey(b.node, b.cidr)))
		}
		seqs = append(seqs, seq)
	}
	return seqs
}

// interleave merges the sequences in a random order that keeps each
// sequence's own order, and cuts the result into random batches.
func interleave(rng *rand.Rand, seqs [][]syncer.Update) [][]syncer.Update {
	pos := make([]int, len(seqs))
	var flat []syncer.Update
	for {
		var live []int
		for i := range seqs {
			if pos[i] < len(seqs[i]) {
				live = append(live, i)
			}
		}
		if len(live) == 0 {
			break
		}
		i := live[rng.IntN(len(live))]
		flat = append(flat, seqs[i][pos[i]])
		pos[i]++
	}
	var batches [][]syncer.Update
	for len(flat) > 0 {
		n := 1 + rng.IntN(len(flat))
		batches = append(batches, flat[:n])
		flat = flat[n:]
	}
	return batches
}

func TestAnyOrderGivesTheSameHostState(t *testing.T) {
	for seed := range uint64(50) {
		rng := rand.New(rand.NewPCG(seed, 1))
		seqs := scenario(rng)
		want := run(interleave(rng, seqs)...)
		for i := range 20 {
			got := run(interleave(rng, seqs)...)
			if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
				cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
				t.Fatalf("seed %d order %d: (-first +this):\n%s", seed, i, diff)
			}
		}
		checkInvariants(t, want)
	}
}

// checkInvariants: no two programmed endpoints share an interface or an
// address, and everything programmed is well-formed.
func checkInvariants(t *testing.T, hs *HostState) {
	t.Helper()
	ifaces, addrs := map[string]string{}, map[netip.Prefix]string{}
	for _, e := range hs.Endpoints {
		if !e.Program {
			continue
		}
		if !hs.Config.MatchesInterface(e.InterfaceName) || !interfaceNameRE.MatchString(e.InterfaceName) {
			t.Errorf("%s: programmed interface %q", e.Key, e.InterfaceName)
		}
		if o, dup := ifaces[e.InterfaceName]; dup {
			t.Errorf("interface %s programmed for %s and %s", e.InterfaceName, o, e.Key)
		}
		ifaces[e.InterfaceName] = e.Key
		for _, a := range e.Addrs {
			if !a.IsSingleIP() {
				t.Errorf("%s: routed %s", e.Key, a)
			}
			if o, dup := addrs[a]; dup {
				t.Errorf("address %s programmed for %s and %s", a, o, e.Key)
			}
			addrs[a] = e.Key
		}
	}
}

func FuzzHostState(f *testing.F) {
	f.Add(`{"kind":"WorkloadEndpoint","apiVersion":"projectcalico.org/v3","metadata":{"name":"a","namespace":"ns"},"spec":{"node":"node1","interfaceName":"cali1","ipNetworks":["10.0.0.1/32"],"mac":"ee:ee:ee:ee:ee:ee"}}`,
		`{"kind":"WorkloadEndpoint","apiVersion":"projectcalico.org/v3","metadata":{"name":"b","namespace":"ns"},"spec":{"node":"node1","interfaceName":"cali1","ipNetworks":["10.0.0.1"]}}`)
	f.Add(`{"kind":"WorkloadEndpoint","metadata":{},"spec":{"node":"node1","interfaceName":"..","ipNetworks":["::/0","fe80::1%x"]}}`, `{}`)
	f.Fuzz(func(t *testing.T, a, b string) {
		c := New(node)
		for i, js := range []string{a, b} {
			r, err := v3.Decode([]byte(js))
			if err != nil {
				continue
			}
			w, ok := r.(*v3.WorkloadEndpoint)
			if !ok {
				continue
			}
			c.OnUpdates([]syncer.Update{{Type: syncer.UpdateNew, Key: wepKey("ns", fmt.Sprintf("w%d", i)), Value: w}})
		}
		hs := c.HostState()
		checkInvariants(t, hs)
		for _, e := range hs.Endpoints {
			if e.MAC != "" && strings.ToLower(e.MAC) != e.MAC {
				t.Errorf("MAC %q not canonical", e.MAC)
			}
		}
	})
}

// TestSpoofsIPv4: an endpoint's interface loses strict reverse-path
// filtering only while workloadSourceSpoofing is Any and it lists an
// IPv4 prefix in allowSpoofedSourcePrefixes.
func TestSpoofsIPv4(t *testing.T) {
	for _, tc := range []struct {
		any      bool
		prefixes []string
		want     bool
	}{
		{true, []string{"10.77.0.0/24"}, true},
		{true, []string{"fd00:77::/64", "10.77.0.9"}, true},
		{true, []string{"fd00:77::/64"}, false},
		{true, []string{"not a prefix"}, false},
		{true, nil, false},
		{false, []string{"10.77.0.0/24"}, false},
	} {
		w := v3.NewWorkloadEndpoint()
		w.Metadata.Namespace, w.Metadata.Name = "ns", "host1-k8s-a-eth0"
		w.Spec = v3.WorkloadEndpointSpec{Node: "host1", InterfaceName: "cali1", IPNetworks: []string{"10.65.0.1/32"},
			AllowSpoofedSourcePrefixes: tc.prefixes}
		cfg := config.Default()
		cfg.WorkloadSourceSpoofing = tc.any
		if got := newCandidate("ns/host1-k8s-a-eth0", w, &cfg).SpoofsIPv4; got != tc.want {
			t.Errorf("workloadSourceSpoofing Any %v, prefixes %q: SpoofsIPv4 %v, want %v", tc.any, tc.prefixes, got, tc.want)
		}
	}
}
