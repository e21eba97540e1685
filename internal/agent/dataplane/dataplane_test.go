package dataplane

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gocalico/calico/internal/agent/calc"
	"github.com/gocalico/calico/internal/agent/config"
)

// endpoint is a programmable endpoint with key ns/<name>.
func endpoint(name, iface, mac string, addrs ...string) calc.Endpoint {
	e := calc.Endpoint{
		Key: "ns/" + name, Namespace: "ns", Name: name,
		Orchestrator: "k8s", Workload: name, EndpointID: "eth0",
		InterfaceName: iface, MAC: mac, Program: true,
	}
	for _, a := range addrs {
		e.Addrs = append(e.Addrs, netip.MustParsePrefix(a))
	}
	return e
}

func hostState(cfg func(*config.Config), eps ...calc.Endpoint) *calc.HostState {
	hs := &calc.HostState{Config: config.Default(), Endpoints: eps}
	if cfg != nil {
		cfg(&hs.Config)
	}
	return hs
}

// withBlackholes sets the local blocks of hs.
func withBlackholes(hs *calc.HostState, blocks ...string) *calc.HostState {
	for _, b := range blocks {
		hs.Blackholes = append(hs.Blackholes, netip.MustParsePrefix(b))
	}
	return hs
}

// configured are the sysctl lines of an interface the agent set up.
func configured(name string, v6 bool) []string {
	l := []string{
		"sysctl net/ipv4/conf/" + name + "/forwarding 1",
		"sysctl net/ipv4/conf/" + name + "/proxy_arp 1",
		"sysctl net/ipv4/conf/" + name + "/rp_filter 1",
		"sysctl net/ipv4/neigh/" + name + "/proxy_delay 0",
	}
	if v6 {
		l = append(l,
			"sysctl net/ipv6/conf/"+name+"/accept_ra 0",
			"sysctl net/ipv6/conf/"+name+"/forwarding 1",
			"sysctl net/ipv6/conf/"+name+"/proxy_ndp 1")
	}
	return l
}

func spoofing(e calc.Endpoint) calc.Endpoint {
	e.SpoofsIPv4 = true
	return e
}

// looseRPF: the lines of configured with reverse-path filtering off.
func looseRPF(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = strings.Replace(l, "/rp_filter 1", "/rp_filter 0", 1)
	}
	return out
}

// expectDump renders the whole dump of a kernel holding lo and links
// (all up, sysctls at defaults) with the given lines added or replacing
// the line of the same object.
func expectDump(links []string, lines ...string) string {
	m := map[string]string{}
	set := func(line string) {
		f := strings.Fields(line)
		id := line
		switch f[0] {
		case "sysctl", "link":
			id = f[0] + " " + f[1]
		}
		m[id] = line
	}
	set("sysctl net/ipv4/ip_forward 0")
	set("sysctl net/ipv6/conf/all/forwarding 0")
	for _, l := range append([]string{"lo"}, links...) {
		set("link " + l + " up")
		for _, s := range fakeIfaceSysctls {
			set("sysctl " + fmt.Sprintf(s.path, l) + " " + s.value)
		}
	}
	for _, l := range lines {
		set(l)
	}
	out := slices.Sorted(maps.Values(m))
	return strings.Join(out, "\n") + "\n"
}

func flatten(groups ...[]string) []string { return slices.Concat(groups...) }

var hostFwd = []string{"sysctl net/ipv4/ip_forward 1", "sysctl net/ipv6/conf/all/forwarding 1"}

// foreign are objects the agent must never touch: a route of its own
// protocol on an unmanaged interface, a route of another protocol and a
// dynamic neighbour on a managed interface without endpoint, and a
// blackhole route of another protocol.
var foreign = []string{
	"route 192.0.2.1/32 dev eth0 proto 80 scope link",
	"route 10.98.0.0/26 blackhole proto 12",
	"route 10.9.9.9/32 dev cali9 proto 4 scope link",
	"neigh 10.9.9.9 dev cali9 lladdr 02:00:00:00:09:09 reachable",
	"neigh 192.0.2.1 dev eth0 lladdr 02:00:00:00:00:01 permanent",
}

const macA = "ee:ee:ee:00:00:0a"

// step is one target state: the interfaces present, tampering done
// behind the agent's back, the desired state, and the expected outcome.
type step struct {
	name     string
	links    []string // besides eth0 and cali9
	down     []string // links in links that are admin down before Set
	tamper   func(k *FakeKernel)
	desired  *calc.HostState
	want     []string          // lines besides the interfaces' defaults and foreign
	statuses map[string]string // key -> status
}

var steps = []step{
	{
		name:    "no endpoints",
		desired: hostState(nil),
		want:    hostFwd,
	},
	{
		name:    "one endpoint, IPv4 and IPv6, with MAC",
		links:   []string{"cali1"},
		desired: hostState(nil, endpoint("a", "cali1", macA, "10.0.0.1/32", "fd00::1/128")),
		want: flatten(hostFwd, configured("cali1", true), []string{
			"route 10.0.0.1/32 dev cali1 proto 80 scope link",
			"route fd00::1/128 dev cali1 proto 80 scope global",
			"neigh 10.0.0.1 dev cali1 lladdr " + macA + " permanent",
			"neigh fd00::1 dev cali1 lladdr " + macA + " permanent",
		}),
		statuses: map[string]string{"ns/a": StatusUp},
	},
	{
		name:  "two endpoints",
		links: []string{"cali1", "cali2"},
		desired: hostState(nil,
			endpoint("a", "cali1", macA, "10.0.0.1/32", "fd00::1/128"),
			endpoint("b", "cali2", "", "10.0.0.2/32")),
		want: flatten(hostFwd, configured("cali1", true), configured("cali2", true), []string{
			"route 10.0.0.1/32 dev cali1 proto 80 scope link",
			"route fd00::1/128 dev cali1 proto 80 scope global",
			"neigh 10.0.0.1 dev cali1 lladdr " + macA + " permanent",
			"neigh fd00::1 dev cali1 lladdr " + macA + " permanent",
			"route 10.0.0.2/32 dev cali2 proto 80 scope link",
		}),
		statuses: map[string]string{"ns/a": StatusUp, "ns/b": StatusUp},
	},
	{
		name:  "an endpoint that may send from IPv4 prefixes not its own: no strict reverse-path filtering",
		links: []string{"cali1", "cali2"},
		desired: hostState(nil,
			endpoint("a", "cali1", macA, "10.0.0.1/32", "fd00::1/128"),
			spoofing(endpoint("b", "cali2", "", "10.0.0.2/32"))),
		want: flatten(hostFwd, configured("cali1", true), looseRPF(configured("cali2", true)), []string{
			"route 10.0.0.1/32 dev cali1 proto 80 scope link",
			"route fd00::1/128 dev cali1 proto 80 scope global",
			"neigh 10.0.0.1 dev cali1 lladdr " + macA + " permanent",
			"neigh fd00::1 dev cali1 lladdr " + macA + " permanent",
			"route 10.0.0.2/32 dev cali2 proto 80 scope link",
		}),
		statuses: map[string]string{"ns/a": StatusUp, "ns/b": StatusUp},
	},
	{
		name:  "endpoint whose interface does not exist yet",
		links: []string{"cali2"},
		desired: hostState(nil,
			endpoint("a", "cali1", macA, "10.0.0.1/32"),
			endpoint("b", "cali2", "", "10.0.0.2/32")),
		want: flatten(hostFwd, configured("cali2", true), []string{
			"route 10.0.0.2/32 dev cali2 proto 80 scope link",
		}),
		statuses: map[string]string{"ns/a": StatusDown, "ns/b": StatusUp},
	},
	{
		name:  "address moved to another endpoint",
		links: []string{"cali1", "cali2"},
		desired: hostState(nil,
			endpoint("a", "cali1", macA, "fd00::1/128"),
			endpoint("b", "cali2", "", "10.0.0.1/32", "10.0.0.2/32")),
		want: flatten(hostFwd, configured("cali1", true), configured("cali2", true), []string{
			"route fd00::1/128 dev cali1 proto 80 scope global",
			"neigh fd00::1 dev cali1 lladdr " + macA + " permanent",
			"route 10.0.0.1/32 dev cali2 proto 80 scope link",
			"route 10.0.0.2/32 dev cali2 proto 80 scope link",
		}),
		statuses: map[string]string{"ns/a": StatusUp, "ns/b": StatusUp},
	},
	{
		name:  "endpoints that may not be programmed",
		links: []string{"cali3"},
		desired: hostState(nil,
			func() calc.Endpoint {
				e := endpoint("c", "cali3", macA, "10.0.0.3/32")
				e.Program, e.Problems = false, []string{"claimed by another"}
				return e
			}(),
			endpoint("e", "eth0", "", "10.0.0.5/32")), // never from calc
		want:     hostFwd,
		statuses: map[string]string{"ns/c": StatusError, "ns/e": StatusError},
	},
	{
		name:  "tampering is repaired",
		links: []string{"cali1"},
		tamper: func(k *FakeKernel) {
			k.DelRoute("10.0.0.1/32")
			k.DelNeigh("fd00::1", "cali1")
			k.SetSysctl("net/ipv4/conf/cali1/proxy_arp", "0")
			k.SetSysctl("net/ipv4/ip_forward", "0")
			k.AddRoute("10.0.0.99/32", "cali1", 80) // stale, ours
			k.AddNeigh("10.0.0.99", "cali1", macA, true)
		},
		desired: hostState(nil, endpoint("a", "cali1", macA, "10.0.0.1/32", "fd00::1/128")),
		want: flatten(hostFwd, configured("cali1", true), []string{
			"route 10.0.0.1/32 dev cali1 proto 80 scope link",
			"route fd00::1/128 dev cali1 proto 80 scope global",
			"neigh 10.0.0.1 dev cali1 lladdr " + macA + " permanent",
			"neigh fd00::1 dev cali1 lladdr " + macA + " permanent",
		}),
		statuses: map[string]string{"ns/a": StatusUp},
	},
	{
		name:    "interface admin down is set up",
		links:   []string{"cali1"},
		down:    []string{"cali1"},
		desired: hostState(nil, endpoint("a", "cali1", "", "10.0.0.1/32")),
		want: flatten(hostFwd, configured("cali1", true), []string{
			"route 10.0.0.1/32 dev cali1 proto 80 scope link",
		}),
		statuses: map[string]string{"ns/a": StatusUp},
	},
	{
		name:  "other prefixes, IPv6 off",
		links: []string{"tap1", "cali1"},
		desired: hostState(func(c *config.Config) { c.InterfacePrefixes = []string{"tap"}; c.IPv6Support = false },
			endpoint("a", "tap1", macA, "10.0.0.1/32")),
		want: flatten([]string{"sysctl net/ipv4/ip_forward 1"}, configured("tap1", false), []string{
			"route 10.0.0.1/32 dev tap1 proto 80 scope link",
			"neigh 10.0.0.1 dev tap1 lladdr " + macA + " permanent",
		}),
		statuses: map[string]string{"ns/a": StatusUp},
	},
	{
		name:    "another route protocol",
		links:   []string{"cali1"},
		desired: hostState(func(c *config.Config) { c.RouteProtocol = 81 }, endpoint("a", "cali1", "", "10.0.0.1/32", "fd00::1/128")),
		want: flatten(hostFwd, configured("cali1", true), []string{
			"route 10.0.0.1/32 dev cali1 proto 81 scope link",
			"route fd00::1/128 dev cali1 proto 81 scope global",
		}),
		statuses: map[string]string{"ns/a": StatusUp},
	},
	{
		name:  "blackholes for the local blocks; the workload routes inside are more specific",
		links: []string{"cali1"},
		desired: withBlackholes(hostState(nil, endpoint("a", "cali1", "", "10.65.0.5/32", "fd00:65::5/128")),
			"10.65.0.0/26", "10.65.1.0/26", "fd00:65::/122"),
		want: flatten(hostFwd, configured("cali1", true), []string{
			"route 10.65.0.5/32 dev cali1 proto 80 scope link",
			"route fd00:65::5/128 dev cali1 proto 80 scope global",
			"route 10.65.0.0/26 blackhole proto 80",
			"route 10.65.1.0/26 blackhole proto 80",
			"route fd00:65::/122 blackhole proto 80",
		}),
		statuses: map[string]string{"ns/a": StatusUp},
	},
	{
		name:  "blackholes repaired, stale ones removed, another route protocol",
		links: []string{"cali1"},
		tamper: func(k *FakeKernel) {
			k.DelRoute("10.65.0.0/26")
			k.DelRoute("10.65.9.0/26")
			k.AddBlackhole("10.65.9.0/26", 81) // stale, ours (the protocol in use)
		},
		desired: withBlackholes(hostState(func(c *config.Config) { c.RouteProtocol = 81 }, endpoint("a", "cali1", "", "10.65.0.5/32")),
			"10.65.0.0/26"),
		want: flatten(hostFwd, configured("cali1", true), []string{
			"route 10.65.0.5/32 dev cali1 proto 81 scope link",
			"route 10.65.0.0/26 blackhole proto 81",
		}),
		statuses: map[string]string{"ns/a": StatusUp},
	},
	{
		name:  "a single-address block held by an endpoint: its route, no blackhole",
		links: []string{"cali1"},
		desired: withBlackholes(hostState(nil, endpoint("a", "cali1", "", "10.65.0.5/32")),
			"10.65.0.5/32", "10.65.0.6/32"),
		want: flatten(hostFwd, configured("cali1", true), []string{
			"route 10.65.0.5/32 dev cali1 proto 80 scope link",
			"route 10.65.0.6/32 blackhole proto 80",
		}),
		statuses: map[string]string{"ns/a": StatusUp},
	},
	{
		name:    "forwarding disabled by config",
		desired: hostState(func(c *config.Config) { c.IPForwarding = false }),
	},
}

// arrange makes the fake kernel hold exactly the step's interfaces (an
// interface no endpoint uses is created fresh, so the expected state
// does not depend on history), resets host-wide sysctls, adds the
// foreign objects and applies the step's tampering.
func arrange(k *FakeKernel, s step) {
	used := map[string]bool{}
	for _, e := range s.desired.Endpoints {
		if e.Program {
			used[e.InterfaceName] = true
		}
	}
	want := append([]string{"eth0", "cali9"}, s.links...)
	for _, name := range []string{"eth0", "cali9", "cali1", "cali2", "cali3", "tap1"} {
		present, wanted := k.HasLink(name), slices.Contains(want, name)
		if present && (!wanted || !used[name]) {
			k.DelLink(name)
			present = false
		}
		if wanted && !present {
			k.AddLink(name, !slices.Contains(s.down, name))
		}
	}
	for _, name := range s.down {
		if k.HasLink(name) && used[name] {
			k.SetLinkDown(name)
		}
	}
	k.SetSysctl("net/ipv4/ip_forward", "0")
	k.SetSysctl("net/ipv6/conf/all/forwarding", "0")
	k.DelRoute("192.0.2.1/32")
	k.AddRoute("192.0.2.1/32", "eth0", 80)
	k.DelRoute("10.9.9.9/32")
	k.AddRoute("10.9.9.9/32", "cali9", 4)
	k.DelRoute("10.98.0.0/26")
	k.AddBlackhole("10.98.0.0/26", 12)
	k.AddNeigh("10.9.9.9", "cali9", "02:00:00:00:09:09", false)
	k.AddNeigh("192.0.2.1", "eth0", "02:00:00:00:00:01", true)
	if s.tamper != nil {
		s.tamper(k)
	}
}

func runStep(t *testing.T, d *Linux, k *FakeKernel, s step) {
	t.Helper()
	arrange(k, s)
	// The events of the rearrangement are all in before the listing, so
	// none of them is older than what Set reads. (One still in flight
	// would only cost redundant writes; that race is covered in
	// incremental_test.go.)
	delivered(t, d, k)
	d.Resync()
	if err := d.Set(context.Background(), s.desired); err != nil {
		t.Fatalf("step %q: Set: %v", s.name, err)
	}
	want := expectDump(append([]string{"eth0", "cali9"}, s.links...), append(slices.Clone(s.want), foreign...)...)
	if diff := cmp.Diff(want, k.Dump()); diff != "" {
		t.Fatalf("step %q: kernel (-want +got):\n%s", s.name, diff)
	}
	if s.statuses == nil {
		s.statuses = map[string]string{}
	}
	statuses := func() map[string]string {
		got := map[string]string{}
		for _, st := range d.EndpointStatuses() {
			got[st.Key] = st.Status
		}
		return got
	}
	// An interface the agent set up reports "up" once the kernel says
	// so, in a link event.
	waitFor(t, d, s.desired, func() bool { return cmp.Equal(s.statuses, statuses()) })
	// Level-triggered: once the events of the agent's own writes are
	// followed, applying the same state again changes nothing.
	settle(t, d, k)
	before := k.Writes()
	if err := d.Set(context.Background(), s.desired); err != nil {
		t.Fatalf("step %q: second Set: %v", s.name, err)
	}
	if diff := cmp.Diff(before, k.Writes()); diff != "" {
		t.Fatalf("step %q: second Set wrote (-before +after):\n%s", s.name, diff)
	}
}

func TestStateTransitions(t *testing.T) {
	t.Run("in order", func(t *testing.T) {
		d, k := NewFake(nil, nil)
		defer d.Close()
		for _, s := range steps {
			runStep(t, d, k, s)
		}
	})
	for seed := range uint64(30) {
		t.Run(fmt.Sprintf("random order %d", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			d, k := NewFake(nil, nil)
			defer d.Close()
			// Every step from every other step, in random order.
			for range 3 {
				for _, i := range rng.Perm(len(steps)) {
					runStep(t, d, k, steps[i])
				}
			}
		})
	}
}
