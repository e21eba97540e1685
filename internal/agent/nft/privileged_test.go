package nft

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netns"
)

// checkKernel compares nft's listing of the table with Render, checks
// that applying rs again writes nothing, and that reading the table back
// (a resync) finds nothing to repair: the record, the kernel and the
// ruleset all agree.
func checkKernel(t *testing.T, ns *testNS, a *Applier, rs *Ruleset) {
	t.Helper()
	if diff := cmp.Diff(Render(rs), ns.listing(t, rs.Table)); diff != "" {
		t.Errorf("nft listing differs from Render (-render +nft):\n%s", diff)
	}
	before := a.Stats()
	if err := a.Apply(context.Background(), rs); err != nil {
		t.Fatalf("apply again: %v", err)
	}
	a.Resync()
	if err := a.Apply(context.Background(), rs); err != nil {
		t.Fatalf("apply after resync: %v", err)
	}
	after := a.Stats()
	if after.Batches != before.Batches {
		t.Errorf("applying an unchanged ruleset wrote %d batches (%d ops)", after.Batches-before.Batches, after.Ops-before.Ops)
	}
	if after.Reads != before.Reads+1 {
		t.Errorf("resync read the table %d times, want 1", after.Reads-before.Reads)
	}
}

// TestPrivilegedApplyMatchesRender: what nft lists after Apply is what
// Render printed, and the applier can read it all back.
func TestPrivilegedApplyMatchesRender(t *testing.T) {
	requireRoot(t)
	ns := newNS(t)
	rs := representative()
	a := ns.applier(t, rs.Table)
	if err := a.Apply(context.Background(), rs); err != nil {
		t.Fatal(err)
	}
	if got := a.Stats(); got.Batches != 1 || got.Reads != 1 {
		t.Errorf("first apply: %+v, want one read and one batch", got)
	}
	checkKernel(t, ns, a, rs)
}

// transitionSteps are whole rulesets: the representative one, each of
// the plan test's changes to it, an empty table.
func transitionSteps() []struct {
	name string
	rs   *Ruleset
} {
	steps := []struct {
		name string
		rs   *Ruleset
	}{{"representative", representative()}}
	for _, c := range changes {
		steps = append(steps, struct {
			name string
			rs   *Ruleset
		}{c.name, changed(c.change)})
	}
	return append(steps, struct {
		name string
		rs   *Ruleset
	}{"empty", &Ruleset{Table: "calico"}})
}

// TestPrivilegedTransitions applies a sequence of rulesets, in order and
// then in a random order: after each the kernel holds exactly that
// ruleset, whatever came before. Last, in another random order, each
// step hands over again the objects equal to the previous step's (see
// Apply), so that only what changed is looked at.
func TestPrivilegedTransitions(t *testing.T) {
	requireRoot(t)
	steps := transitionSteps()
	t.Run("in order", func(t *testing.T) {
		ns := newNS(t)
		a := ns.applier(t, "calico")
		for _, s := range steps {
			if err := a.Apply(context.Background(), s.rs); err != nil {
				t.Fatalf("step %s: %v", s.name, err)
			}
			t.Run(s.name, func(t *testing.T) { checkKernel(t, ns, a, s.rs) })
		}
	})
	seed := uint64(time.Now().UnixNano())
	t.Run(fmt.Sprintf("random order seed %d", seed), func(t *testing.T) {
		ns := newNS(t)
		a := ns.applier(t, "calico")
		r := rand.New(rand.NewPCG(seed, seed))
		for _, i := range r.Perm(len(steps)) {
			s := steps[i]
			if err := a.Apply(context.Background(), s.rs); err != nil {
				t.Fatalf("step %s: %v", s.name, err)
			}
			t.Run(s.name, func(t *testing.T) { checkKernel(t, ns, a, s.rs) })
		}
	})
	seed++
	t.Run(fmt.Sprintf("shared objects, random order seed %d", seed), func(t *testing.T) {
		ns := newNS(t)
		a := ns.applier(t, "calico")
		r := rand.New(rand.NewPCG(seed, seed))
		prev := &Ruleset{}
		for _, i := range r.Perm(len(steps)) {
			s := steps[i]
			rs := share(prev, s.rs)
			if err := a.Apply(context.Background(), rs); err != nil {
				t.Fatalf("step %s: %v", s.name, err)
			}
			t.Run(s.name, func(t *testing.T) { checkKernel(t, ns, a, rs) })
			prev = rs
		}
	})
}

// foreignTables are another program's tables in the same namespace: an
// iptables-nft style ip table and another inet table.
var foreignTables = []string{
	"add table ip filter",
	"add chain ip filter INPUT { type filter hook input priority 0; policy accept; }",
	"add rule ip filter INPUT tcp dport 9999 counter accept",
	"add table inet other",
	"add set inet other s { type ipv4_addr; elements = { 1.2.3.4 } }",
	"add chain inet other c",
	`add rule inet other c ip saddr @s counter drop comment "theirs"`,
}

func foreignListing(t *testing.T, ns *testNS) string {
	t.Helper()
	return ns.run(t, "nft", "list", "table", "ip", "filter") + ns.run(t, "nft", "list", "table", "inet", "other")
}

var handleRE = regexp.MustCompile(`# handle (\d+)`)

// ruleHandle finds the handle of the rule with the given comment.
func ruleHandle(t *testing.T, ns *testNS, chain, comment string) string {
	t.Helper()
	for _, l := range strings.Split(ns.run(t, "nft", "-a", "list", "chain", "inet", "calico", chain), "\n") {
		if strings.Contains(l, `comment "`+comment+`"`) {
			if m := handleRE.FindStringSubmatch(l); m != nil {
				return m[1]
			}
		}
	}
	t.Fatalf("no rule with comment %q in chain %s", comment, chain)
	return ""
}

// TestPrivilegedResyncRepairs: changes made by hand are invisible to
// Apply until Resync, then repaired in one batch; other tables in the
// namespace are never touched.
func TestPrivilegedResyncRepairs(t *testing.T) {
	requireRoot(t)
	ns := newNS(t)
	for _, cmd := range foreignTables {
		ns.run(t, "nft", cmd)
	}
	foreign := foreignListing(t, ns)

	rs := representative()
	rs.Chains["spare"] = &Chain{Rules: []Rule{{Counter: true, Comment: "spare"}}}
	a := ns.applier(t, rs.Table)
	if err := a.Apply(context.Background(), rs); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T)
	}{
		{"rule deleted", func(t *testing.T) {
			ns.run(t, "nft", "delete", "rule", "inet", "calico", "forward", "handle", ruleHandle(t, ns, "forward", "ct-invalid"))
		}},
		{"rule added", func(t *testing.T) { ns.run(t, "nft", "add", "rule", "inet", "calico", "pol-allow-web", "accept") }},
		{"rule replaced keeping its comment", func(t *testing.T) {
			h := ruleHandle(t, ns, "to-wl-cali1234", "web")
			ns.run(t, "nft", "replace", "rule", "inet", "calico", "to-wl-cali1234", "handle", h, "accept", "comment", `"web"`)
		}},
		{"element added", func(t *testing.T) { ns.run(t, "nft", "add", "element", "inet", "calico", "all-ipv4", "{ 10.65.0.99 }") }},
		{"interval element added", func(t *testing.T) { ns.run(t, "nft", "add", "element", "inet", "calico", "nets-v4", "{ 11.0.0.0/16 }") }},
		{"interval element deleted", func(t *testing.T) {
			ns.run(t, "nft", "delete", "element", "inet", "calico", "nets-v4", "{ 10.0.0.0/8 }")
		}},
		{"map element deleted", func(t *testing.T) { ns.run(t, "nft", "delete", "element", "inet", "calico", "to-wl", `{ "cali1234" }`) }},
		{"set added", func(t *testing.T) { ns.run(t, "nft", "add", "set", "inet", "calico", "junk", "{ type ipv4_addr; }") }},
		{"chain deleted", func(t *testing.T) { ns.run(t, "nft", "delete", "chain", "inet", "calico", "spare") }},
		{"policy changed", func(t *testing.T) { ns.run(t, "nft", "chain", "inet", "calico", "forward", "{ policy accept; }") }},
		{"table deleted", func(t *testing.T) { ns.run(t, "nft", "delete", "table", "inet", "calico") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			render := Render(rs)
			tc.tamper(t)
			out, _ := ns.try("nft", "list", "table", "inet", rs.Table)
			if NormaliseListing(out) == render {
				t.Fatal("tampering changed nothing")
			}
			before := a.Stats()
			if err := a.Apply(context.Background(), rs); err != nil {
				t.Fatal(err)
			}
			if got := a.Stats(); got.Batches != before.Batches {
				t.Errorf("Apply without Resync wrote %d batches; it should trust its record", got.Batches-before.Batches)
			}
			a.Resync()
			if err := a.Apply(context.Background(), rs); err != nil {
				t.Fatal(err)
			}
			if got := a.Stats(); got.Batches != before.Batches+1 {
				t.Errorf("repair took %d batches, want 1", got.Batches-before.Batches)
			}
			checkKernel(t, ns, a, rs)
			if got := foreignListing(t, ns); got != foreign {
				t.Errorf("other tables changed:\n%s", cmp.Diff(foreign, got))
			}
		})
	}
	if err := a.Delete(context.Background()); err != nil {
		t.Fatal(err)
	}
	if out, err := ns.try("nft", "list", "table", "inet", "calico"); err == nil {
		t.Errorf("table still there after Delete:\n%s", out)
	}
	if got := foreignListing(t, ns); got != foreign {
		t.Errorf("other tables changed by Delete:\n%s", cmp.Diff(foreign, got))
	}
}

// TestPrivilegedFailedApply: a batch the kernel refuses changes nothing,
// the error names the operation and says it was rejected. The applier
// trusts what it knows of the table (no read for the refusal), so it is
// refused again until a Resync reads the table back: then the hand-made
// set is seen and replaced, and the Apply succeeds.
func TestPrivilegedFailedApply(t *testing.T) {
	requireRoot(t)
	ns := newNS(t)
	rs := representative()
	a := ns.applier(t, rs.Table)
	if err := a.Apply(context.Background(), rs); err != nil {
		t.Fatal(err)
	}
	// A set made by hand under a name the next ruleset uses, with
	// another type: adding it fails with EEXIST.
	ns.run(t, "nft", "add", "set", "inet", "calico", "newset", "{ type inet_service; }")
	listing := ns.listing(t, rs.Table)
	next := representative()
	next.Sets["newset"] = &Set{Type: TypeIPv4Addr, Elements: addrElems("10.1.1.1")}
	next.Sets["all-ipv4"].Elements = addrElems("10.65.0.7")
	err := a.Apply(context.Background(), next)
	if err == nil {
		t.Fatal("Apply succeeded over a conflicting set")
	}
	t.Logf("refused as expected: %v", err)
	if !strings.Contains(err.Error(), "add set newset") || !strings.Contains(err.Error(), "nothing applied") || !errors.Is(err, ErrRejected) {
		t.Errorf("error %q does not name the operation and outcome", err)
	}
	if got := ns.listing(t, rs.Table); got != listing {
		t.Errorf("a failed batch changed the table:\n%s", cmp.Diff(listing, got))
	}
	reads := a.Stats().Reads
	if err := a.Apply(context.Background(), next); !errors.Is(err, ErrRejected) {
		t.Fatalf("apply after a failure, without Resync: %v; want it rejected again", err)
	}
	if got := a.Stats().Reads; got != reads {
		t.Errorf("a rejected apply read the table %d times, want 0", got-reads)
	}
	a.Resync()
	if err := a.Apply(context.Background(), next); err != nil {
		t.Fatalf("apply after a Resync: %v", err)
	}
	if got := a.Stats().Reads; got != reads+1 {
		t.Errorf("apply after a Resync read the table %d times, want 1", got-reads)
	}
	checkKernel(t, ns, a, next)
}

// TestPrivilegedPackets: pings between two namespaces are dropped or let
// through as set membership changes, and counters count them.
func TestPrivilegedPackets(t *testing.T) {
	requireRoot(t)
	host, peer := newNS(t), newNS(t)
	host.run(t, "ip", "link", "add", "veth-h", "type", "veth", "peer", "name", "veth-p", "netns", peer.name)
	host.run(t, "ip", "addr", "add", "10.99.0.1/24", "dev", "veth-h")
	host.run(t, "ip", "link", "set", "veth-h", "up")
	peer.run(t, "ip", "addr", "add", "10.99.0.2/24", "dev", "veth-p")
	peer.run(t, "ip", "addr", "add", "10.99.0.3/24", "dev", "veth-p")
	peer.run(t, "ip", "link", "set", "veth-p", "up")
	host.waitLinkReady(t, "veth-h")
	peer.waitLinkReady(t, "veth-p")

	ruleset := func(blocked ...string) *Ruleset {
		return &Ruleset{
			Table: "calico",
			Sets:  map[string]*Set{"blocked": {Type: TypeIPv4Addr, Elements: addrElems(blocked...)}},
			Chains: map[string]*Chain{"input": {Base: &Hook{Hook: "input"}, Rules: []Rule{
				{Match: []Match{{Kind: MatchICMP, Family: 4, Num: 8}, {Kind: MatchSAddr, Set: "blocked"}},
					Counter: true, Verdict: Verdict{Kind: VerdictDrop}, Comment: "ping-blocked"},
				{Match: []Match{{Kind: MatchICMP, Family: 4, Num: 8}},
					Counter: true, Verdict: Verdict{Kind: VerdictAccept}, Comment: "ping-allowed"},
			}}},
		}
	}
	a := host.applier(t, "calico")
	ping := func(src string) bool {
		_, err := peer.try("ping", "-c", "1", "-W", "1", "-I", src, "10.99.0.1")
		return err == nil
	}
	var blocked, allowed uint64
	for _, step := range []struct {
		blocked []string
		ok2     bool
		ok3     bool
	}{
		{nil, true, true},
		{[]string{"10.99.0.2"}, false, true},
		{[]string{"10.99.0.3"}, true, false},
		{[]string{"10.99.0.2", "10.99.0.3"}, false, false},
		{nil, true, true},
	} {
		before := a.Stats()
		if err := a.Apply(context.Background(), ruleset(step.blocked...)); err != nil {
			t.Fatal(err)
		}
		if got := a.Stats(); before.Batches > 0 && got.Batches != before.Batches+1 {
			t.Errorf("blocked=%v: %d batches, want 1", step.blocked, got.Batches-before.Batches)
		}
		for src, want := range map[string]bool{"10.99.0.2": step.ok2, "10.99.0.3": step.ok3} {
			if got := ping(src); got != want {
				t.Errorf("blocked=%v: ping from %s got through: %v, want %v", step.blocked, src, got, want)
			}
			if want {
				allowed++
			} else {
				blocked++
			}
		}
		counters, err := a.Counters(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if got := counters["ping-blocked"].Packets; got != blocked {
			t.Errorf("blocked=%v: ping-blocked counted %d packets, want %d", step.blocked, got, blocked)
		}
		if got := counters["ping-allowed"]; got.Packets != allowed || got.Bytes != 84*allowed {
			t.Errorf("blocked=%v: ping-allowed counted %+v, want %d packets of 84 bytes", step.blocked, got, allowed)
		}
		// Read chain by chain (above: the applier knows the table) and
		// by a dump of the whole table (after Resync it does not): the
		// same counts.
		a.Resync()
		whole, err := a.Counters(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(counters, whole); diff != "" {
			t.Errorf("blocked=%v: counters read chain by chain and by a table dump differ (-chains +dump):\n%s", step.blocked, diff)
		}
		if err := a.Apply(context.Background(), ruleset(step.blocked...)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPrivilegedTransportKeepsSocket: the netlink socket outlives a
// batch, a batch that deletes things included (closing it would wait
// for the kernel to free them; see nlTransport), and a refused one;
// Close closes it.
func TestPrivilegedTransportKeepsSocket(t *testing.T) {
	requireRoot(t)
	ns := newNS(t)
	var tr *nlTransport
	// Runs after the applier's cleanup (Delete, Close).
	t.Cleanup(func() {
		if tr != nil && tr.conn != nil {
			t.Error("Close left the socket open")
		}
	})
	a := ns.applier(t, "calico")
	tr = a.tr.(*nlTransport)
	rs := representative()
	if err := a.Apply(context.Background(), rs); err != nil {
		t.Fatal(err)
	}
	conn := tr.conn
	if conn == nil {
		t.Fatal("no socket kept after a batch")
	}
	fewer := share(rs, changed(changes[2].change)) // an element deleted
	if err := a.Apply(context.Background(), fewer); err != nil {
		t.Fatal(err)
	}
	ns.run(t, "nft", "add", "set", "inet", "calico", "newset", "{ type inet_service; }")
	refused := share(fewer, changed(changes[2].change))
	refused.Sets["newset"] = &Set{Type: TypeIPv4Addr, Elements: addrElems("10.1.1.1")}
	if err := a.Apply(context.Background(), refused); err == nil {
		t.Fatal("Apply succeeded over a conflicting chain")
	}
	if tr.conn != conn {
		t.Error("the socket was not kept")
	}
	ns.run(t, "nft", "delete", "set", "inet", "calico", "newset")
	if err := a.Apply(context.Background(), refused); err != nil {
		t.Fatalf("apply after the conflict went: %v", err)
	}
	if tr.conn != conn {
		t.Error("the socket was not kept")
	}
	checkKernel(t, ns, a, refused)
}

// TestPrivilegedNamespaceFd: an fd that is no network namespace is
// refused, and the applier keeps working in its namespace after the
// caller closed the fd it was given (the number may be reused by then).
func TestPrivilegedNamespaceFd(t *testing.T) {
	requireRoot(t)
	for _, fd := range []int{999999, int(os.Stdout.Fd())} {
		if _, err := NewApplier("calico", nil, WithNetNSFd(fd)); err == nil {
			t.Errorf("fd %d taken as a network namespace", fd)
		}
	}
	ns := newNS(t)
	h, err := netns.GetFromName(ns.name)
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewApplier("calico", nil, WithNetNSFd(int(h)))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	h.Close()
	rs := representative()
	if err := a.Apply(context.Background(), rs); err != nil {
		t.Fatal(err)
	}
	checkKernel(t, ns, a, rs)
	if err := a.Delete(context.Background()); err != nil {
		t.Fatal(err)
	}
	a.Close()
	if err := a.Apply(context.Background(), rs); !errors.Is(err, errClosed) {
		t.Errorf("Apply after Close: %v", err)
	}
}

// TestPrivilegedLargeSets: sets, maps and anonymous sets too big for one
// netlink message go out in several and read back whole.
func TestPrivilegedLargeSets(t *testing.T) {
	requireRoot(t)
	ns := newNS(t)
	ruleset := func(shift int) *Ruleset {
		rs := &Ruleset{
			Table:  "calico",
			Sets:   map[string]*Set{},
			Maps:   map[string]*Map{"wl": {Type: TypeIfname, Elements: map[string]Verdict{}}},
			Chains: map[string]*Chain{},
		}
		v6 := &Set{Type: TypeIPv6Addr, Interval: true}
		np := &Set{Type: TypeIPv6AddrProtoPort}
		ports := &Set{Type: TypeInetService, Interval: true}
		var anon []netip.Prefix
		for i := range 5000 {
			a := netip.AddrFrom16([16]byte{0xfd, 14: byte((2*i + shift) >> 8), 15: byte(2*i + shift)})
			v6.Elements = append(v6.Elements, Element{Prefix: netip.PrefixFrom(a, 128)})
			np.Elements = append(np.Elements, Element{Prefix: netip.PrefixFrom(a, 128), Proto: 6, Ports: single(uint16(i))})
			anon = append(anon, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 7), byte(2 * (i % 128)), byte(shift)}), 32))
		}
		for i := range 3000 {
			ports.Elements = append(ports.Elements, Element{Ports: PortRange{uint16(3*i + shift), uint16(3*i + 1 + shift)}})
		}
		rs.Sets["many-v6"], rs.Sets["many-np"], rs.Sets["many-ports"] = v6, np, ports
		for i := range 2000 {
			name := fmt.Sprintf("wl-%d", i)
			rs.Chains[name] = &Chain{}
			rs.Maps["wl"].Elements[fmt.Sprintf("cali%d", i+shift)] = Verdict{Kind: VerdictJump, Chain: name}
		}
		rs.Chains["c"] = &Chain{Rules: []Rule{
			{Match: []Match{{Kind: MatchSAddr, Prefixes: anon}}, Verdict: Verdict{Kind: VerdictAccept}},
			{Match: []Match{{Kind: MatchDAddr, Set: "many-v6"}, tcp(), {Kind: MatchDPort, Set: "many-ports"}}, Verdict: Verdict{Kind: VerdictAccept}},
			{Match: []Match{{Kind: MatchDAddrPort, Set: "many-np"}}, Verdict: Verdict{Kind: VerdictAccept}},
			{Verdict: Verdict{Kind: VerdictMap, Map: "wl", Key: "iifname"}},
		}}
		return rs
	}
	a := ns.applier(t, "calico")
	for _, shift := range []int{0, 1, 0} {
		rs := ruleset(shift)
		if err := a.Apply(context.Background(), rs); err != nil {
			t.Fatal(err)
		}
		checkKernel(t, ns, a, rs)
	}
}

// TestPrivilegedIsolatorKernelRefusal: the Isolator over a real kernel.
// A policy chain that jumps to itself is refused by the kernel itself (it
// rejects loops in the jump graph, ELOOP), not by anything of ours: the
// rest of the ruleset is committed, the endpoint that needs the refused
// policy keeps its previous chains (fail closed), a new one that needs it
// is left out of the dispatch maps, and once the policy is fixed it goes
// in at once.
func TestPrivilegedIsolatorKernelRefusal(t *testing.T) {
	requireRoot(t)
	ns := newNS(t)
	ctx := context.Background()
	a := ns.applier(t, "calico")
	p := NewIsolator(a.Apply, nil)

	// selfJump makes pol-<name> jump to itself: a loop the kernel refuses.
	selfJump := func(rs *Ruleset, name string) *Ruleset {
		out := *rs
		out.Chains = maps.Clone(rs.Chains)
		c := *rs.Chains["pol-"+name]
		c.Rules = append(slices.Clone(c.Rules), Rule{Verdict: Verdict{Kind: VerdictJump, Chain: c.Name}})
		out.Chains[c.Name] = &c
		return &out
	}
	b := newShaper()
	have := b.build(shape{eps: map[string][]string{"cali1": {"p1"}, "cali2": {"p2"}},
		pols: map[string]polShape{"p1": {sets: []string{"s1"}}, "p2": {sets: []string{"s1"}}},
		sets: map[string]setShape{"s1": setS1}})
	if err := p.Apply(ctx, have); err != nil {
		t.Fatal(err)
	}
	before := ns.listing(t, "calico")
	if strings.Contains(before, "cali3") {
		t.Fatalf("cali3 in the table before it was wanted:\n%s", before)
	}

	// p2 gets a new version that loops and a new endpoint cali3 needs it;
	// p1 gets a new set, and a new endpoint cali4 needs p1.
	wantShape := shape{eps: map[string][]string{"cali1": {"p1"}, "cali2": {"p2"}, "cali3": {"p2"}, "cali4": {"p1"}},
		pols: map[string]polShape{"p1": {sets: []string{"s1", "s2"}}, "p2": {sets: []string{"s1", "s2"}}},
		sets: map[string]setShape{"s1": setS1, "s2": setS2}}
	want := selfJump(b.build(wantShape), "p2")
	if err := a.Apply(ctx, want); !errors.Is(err, ErrRejected) {
		t.Fatalf("the kernel did not refuse a looping chain as a whole: %v", err)
	}
	if err := p.Apply(ctx, want); err != nil {
		t.Fatalf("Apply failed as a whole: %v", err)
	}
	if diff := cmp.Diff(objIDs("chain pol-p2"), failedIDs(p)); diff != "" {
		t.Errorf("failed (-want +got):\n%s", diff)
	}
	for _, f := range p.Failures() {
		t.Logf("failure: %v: %v", f.ID, f.Err)
		if !errors.Is(f.Err, ErrRejected) {
			t.Errorf("failure %v: %v, want rejected", f.ID, f.Err)
		}
	}
	// The kernel holds the wanted table but for p2 and cali3: p2 as it
	// was, cali2 on it; cali3 is not dispatched (its chains are there,
	// unused): it would meet a version of p2 never wanted for it.
	kernel := b.build(shape{eps: map[string][]string{"cali1": {"p1"}, "cali2": {"p2"}, "cali4": {"p1"}},
		pols: map[string]polShape{"p1": {sets: []string{"s1", "s2"}}, "p2": {sets: []string{"s1"}}},
		sets: map[string]setShape{"s1": setS1, "s2": setS2}})
	kernel.Chains["fw-cali3"], kernel.Chains["tw-cali3"] = want.Chains["fw-cali3"], want.Chains["tw-cali3"]
	checkKernel(t, ns, a, kernel)
	if got := Affected(want, p.Held()); !got["cali2"] || !got["cali3"] || len(got) != 2 {
		t.Errorf("affected interfaces %v, want cali2 and cali3", got)
	}

	// Fixed: the new version goes in at once, not on the back-off.
	fixed := b.build(wantShape)
	if err := p.Apply(ctx, fixed); err != nil {
		t.Fatal(err)
	}
	if f := p.Failures(); len(f) != 0 {
		t.Errorf("failures after the fix: %v", f)
	}
	checkKernel(t, ns, a, fixed)
}
