package policy

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gocalico/calico/internal/agent/nft"
	"github.com/gocalico/calico/internal/datastore/syncer"
	"github.com/gocalico/calico/internal/selector"
)

var rulesetOpts = cmp.Options{cmpopts.EquateEmpty(), cmpopts.EquateComparable(netip.Prefix{}),
	cmpopts.IgnoreFields(nft.Ruleset{}, "Changes")}

// TestIncrementalMatchesFresh: after every update of a random sequence
// (adds, edits, deletes of policies, tiers, profiles, workload and host
// endpoints and network sets, in random order, and configuration
// changes), the incrementally kept ruleset equals the one a fresh Calc
// computes from the surviving resources and the current configuration.
func TestIncrementalMatchesFresh(t *testing.T) {
	var pool []syncer.Update
	pool = append(pool, decodeAll(t, world)...)
	for _, tc := range truthTable {
		pool = append(pool, decodeAll(t, tc.extra)...)
	}
	for _, tc := range hostTable {
		pool = append(pool, decodeAll(t, tc.extra)...)
	}
	configs := []Config{NewCalc("host1", nil).cfg}
	for _, tc := range hostTable {
		if tc.cfg != nil {
			cfg := configs[0]
			tc.cfg(&cfg)
			configs = append(configs, cfg)
		}
	}
	for seed := range uint64(8) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(seed, 1))
			inc := NewCalc("host1", nil)
			live := map[string]syncer.Update{}
			cfg := configs[0]
			var addrs map[string][]netip.Addr
			var prev *nft.Ruleset
			for step := range 150 {
				u := pool[rng.IntN(len(pool))]
				if rng.IntN(12) == 0 {
					addrs = hostAddrChoices[rng.IntN(len(hostAddrChoices))]
					inc.SetHostAddrs(addrs)
					u = syncer.Update{Key: fmt.Sprintf("(host addresses %v)", addrs)}
				} else if rng.IntN(10) == 0 {
					cfg = configs[rng.IntN(len(configs))]
					inc.SetConfig(cfg)
					u = syncer.Update{Key: fmt.Sprintf("(config %+v)", cfg)}
				} else {
					if _, ok := live[u.Key]; ok && rng.IntN(3) == 0 {
						u = syncer.Update{Type: syncer.UpdateDeleted, Key: u.Key}
						delete(live, u.Key)
					} else {
						live[u.Key] = u
					}
					inc.OnUpdates([]syncer.Update{u})
				}
				if rng.IntN(4) == 0 && step != 149 {
					continue // let changes pile up between reads
				}
				got := inc.Ruleset()
				checkChanges(t, step, prev, got)
				prev = got
				// The reference: a fresh Calc over the scanning index.
				fresh := NewCalc("host1", func(changed func(string)) SetIndex { return NewScanIndex(changed) })
				fresh.SetConfig(cfg)
				fresh.SetHostAddrs(addrs)
				var all []syncer.Update
				for _, v := range live {
					all = append(all, v)
				}
				rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
				fresh.OnUpdates(all)
				want := fresh.Ruleset()
				if diff := cmp.Diff(want, got, rulesetOpts); diff != "" {
					t.Fatalf("step %d (%s %s): incremental ruleset differs (-fresh +incremental):\n%s", step, u.Type, u.Key, diff)
				}
				if len(inc.setDefs) != len(fresh.setDefs) {
					t.Fatalf("step %d: %d sets kept, fresh has %d", step, len(inc.setDefs), len(fresh.setDefs))
				}
				if diff := cmp.Diff(endpointProblems(fresh), endpointProblems(inc)); diff != "" {
					t.Fatalf("step %d (%s %s): endpoint problems differ (-fresh +incremental):\n%s", step, u.Type, u.Key, diff)
				}
			}
		})
	}
}

// checkChanges checks got's Changes against prev, the Ruleset the same
// Calc returned before: it follows prev's generation, and names every
// chain, set and map whose pointer is not the same in both.
func checkChanges(t *testing.T, step int, prev, got *nft.Ruleset) {
	t.Helper()
	c := got.Changes
	if c == nil || c.Lineage == 0 {
		t.Fatalf("step %d: Ruleset has no Changes", step)
	}
	since := uint64(0)
	if prev != nil {
		since = prev.Changes.Gen
		if c.Lineage != prev.Changes.Lineage {
			t.Fatalf("step %d: lineage %d, the Calc's previous Ruleset had %d", step, c.Lineage, prev.Changes.Lineage)
		}
	} else {
		prev = &nft.Ruleset{}
	}
	if c.Since != since || c.Gen != since+1 {
		t.Fatalf("step %d: Changes of generation %d since %d; the previous Ruleset was generation %d", step, c.Gen, c.Since, since)
	}
	missed := func(kind string, named map[string]struct{}, names []string, same func(string) bool) {
		for _, n := range names {
			if _, ok := named[n]; !ok && !same(n) {
				t.Errorf("step %d: %s %q changed but Changes does not name it", step, kind, n)
			}
		}
	}
	keys := func(ms ...[]string) []string { return slices.Concat(ms...) }
	missed("chain", c.Chains, keys(slices.Collect(maps.Keys(prev.Chains)), slices.Collect(maps.Keys(got.Chains))),
		func(n string) bool { a, aok := prev.Chains[n]; b, bok := got.Chains[n]; return aok == bok && a == b })
	missed("set", c.Sets, keys(slices.Collect(maps.Keys(prev.Sets)), slices.Collect(maps.Keys(got.Sets))),
		func(n string) bool { a, aok := prev.Sets[n]; b, bok := got.Sets[n]; return aok == bok && a == b })
	missed("map", c.Maps, keys(slices.Collect(maps.Keys(prev.Maps)), slices.Collect(maps.Keys(got.Maps))),
		func(n string) bool { a, aok := prev.Maps[n]; b, bok := got.Maps[n]; return aok == bok && a == b })
}

// hostAddrChoices are the host's interface addresses the random test
// switches between: none, eth0's and eth1's, eth0's address moved to
// eth1.
var hostAddrChoices = []map[string][]netip.Addr{
	nil,
	{"eth0": {netip.MustParseAddr(hostIP), netip.MustParseAddr(hostIP6)}, "eth1": {netip.MustParseAddr("10.1.0.1")}},
	{"eth1": {netip.MustParseAddr(hostIP), netip.MustParseAddr("10.1.0.1")}},
}

// endpointProblems are the problems reported for endpoints, which
// reflect the current state only. (A policy's render problem stays
// until the policy changes, even once no endpoint uses it.)
func endpointProblems(c *Calc) map[string]string {
	out := map[string]string{}
	for k, v := range c.Problems {
		if strings.HasPrefix(k, "HostEndpoint ") || strings.HasPrefix(k, "WorkloadEndpoint ") {
			out[k] = v
		}
	}
	return out
}

// TestUnchangedChainsKeepTheirIdentity: an edit re-renders only what it
// touches, so the applier can skip the rest by pointer.
func TestUnchangedChainsKeepTheirIdentity(t *testing.T) {
	c := NewCalc("host1", nil)
	c.OnUpdates(decodeAll(t, world+"\n---\n"+truthTable[2].extra+"\n---\n"+truthTable[6].extra))
	before := c.Ruleset()
	c.OnUpdates(decodeAll(t, `
kind: NetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: web-in, namespace: prod}
spec:
  selector: app == 'web'
  ingress: [{action: Allow, protocol: TCP, source: {selector: role == 'fe'}, destination: {ports: [443]}}]
`))
	after := c.Ruleset()
	var changed []string
	for name, ch := range after.Chains {
		if before.Chains[name] != ch {
			changed = append(changed, name)
		}
	}
	want := map[string]bool{"pi-n-prod.default.web-in": true, "po-n-prod.default.web-in": true}
	for _, n := range changed {
		if !want[n] {
			t.Errorf("chain %s was re-rendered by an edit of another policy", n)
		}
	}
	if after.Chains["pi-g-partners"] != before.Chains["pi-g-partners"] {
		t.Errorf("an untouched policy's chain was re-rendered")
	}
}

func TestPolicySelectorRewrites(t *testing.T) {
	for _, tc := range []struct {
		ns, sel, nsSel, saSel string
		want                  string
	}{
		{"prod", "app == 'web'", "", "", "(app == \"web\" && projectcalico.org/namespace == \"prod\")"},
		{"", "", "env == 'dev'", "", "pcns.env == \"dev\""},
		{"", "", "all()", "", "has(projectcalico.org/namespace)"},
		{"", "a == 'b'", "", "team in {'x'}", "(a == \"b\" && pcsa.team in {\"x\"})"},
	} {
		got, err := PolicySelector(tc.ns, tc.sel, tc.nsSel, tc.saSel)
		if err != nil {
			t.Fatalf("%+v: %v", tc, err)
		}
		want, err := selector.Parse(tc.want)
		if err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Errorf("%+v: got %s, want %s", tc, got, want)
		}
	}
	if _, err := PolicySelector("", "global()", "", ""); err == nil {
		t.Error("global() as a policy selector was accepted")
	}
}

// truthCase is the truth table's case with the name given.
func truthCase(t *testing.T, name string) truthCaseT {
	t.Helper()
	for _, tc := range truthTable {
		if tc.name == name {
			return tc
		}
	}
	t.Fatalf("no truth table case %q", name)
	return truthCaseT{}
}

// TestDisjoint: an interval set never gets overlapping elements.
func TestDisjoint(t *testing.T) {
	c := NewCalc("host1", nil)
	c.OnUpdates(decodeAll(t, world+`
---
kind: GlobalNetworkSet
apiVersion: projectcalico.org/v3
metadata: {name: wide, labels: {external: partner}}
spec: {nets: [192.0.0.0/16, 192.0.2.0/24, 10.0.0.0/8]}
`+"\n---\n"+truthCase(t, "network set by selector").extra))
	rs := c.Ruleset()
	var found bool
	for _, s := range rs.Sets {
		if s.Type != nft.TypeIPv4Addr {
			continue
		}
		found = true
		var got []string
		for _, e := range s.Elements {
			got = append(got, e.Prefix.String())
		}
		want := []string{"10.0.0.0/8", "192.0.0.0/16", "198.51.100.7/32"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("set %s (-want +got):\n%s", s.Name, diff)
		}
	}
	if !found {
		t.Fatal("no IPv4 set rendered")
	}
}

// TestSetKind: a selector's set of endpoint addresses is a hash set; it
// becomes an interval set when a network set with a CIDR joins it, and a
// hash set again when that leaves.
func TestSetKind(t *testing.T) {
	const wide = `
kind: GlobalNetworkSet
apiVersion: projectcalico.org/v3
metadata: {name: wide, labels: {app: web}}
spec: {nets: [10.99.0.0/16]}
`
	c := NewCalc("host1", nil)
	c.OnUpdates(decodeAll(t, world+`
---
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: default.from-web}
spec: {tier: default, selector: all(), ingress: [{action: Allow, source: {selector: app == 'web'}}]}
`))
	kind := func(rs *nft.Ruleset) (interval bool, elems []string) {
		t.Helper()
		var found *nft.Set
		for _, s := range rs.Sets {
			if s.Type == nft.TypeIPv4Addr {
				if found != nil {
					t.Fatalf("two IPv4 sets: %s, %s", found.Name, s.Name)
				}
				found = s
			}
		}
		if found == nil {
			t.Fatal("no IPv4 set")
		}
		for _, e := range found.Elements {
			elems = append(elems, e.Prefix.String())
		}
		return found.Interval, elems
	}
	if iv, els := kind(c.Ruleset()); iv || !slices.Equal(els, []string{"10.65.1.1/32", "10.65.1.4/32"}) {
		t.Errorf("endpoints only: interval %v, elements %v; want a hash set of 10.65.1.1 and 10.65.1.4", iv, els)
	}
	c.OnUpdates(decodeAll(t, wide))
	if iv, els := kind(c.Ruleset()); !iv || !slices.Equal(els, []string{"10.65.1.1/32", "10.65.1.4/32", "10.99.0.0/16"}) {
		t.Errorf("with a network set: interval %v, elements %v; want an interval set", iv, els)
	}
	for _, u := range decodeAll(t, wide) {
		c.OnUpdates([]syncer.Update{{Type: syncer.UpdateDeleted, Key: u.Key}})
	}
	if iv, _ := kind(c.Ruleset()); iv {
		t.Errorf("the network set went, but the set is still an interval set")
	}
}

// TestUnreadableKeepsLastVersion: a value that no longer decodes leaves
// the last readable version in force (deleting a deny policy or a
// network set would open traffic), except for a local endpoint, which
// goes (its interface is then dropped).
func TestUnreadableKeepsLastVersion(t *testing.T) {
	c := NewCalc("host1", nil)
	world := decodeAll(t, world+"\n---\n"+truthCase(t, "nets and notNets with a global policy").extra)
	c.OnUpdates(world)
	before := nft.Render(c.Ruleset())
	var policyKey, localKey string
	for _, u := range world {
		switch {
		case policyKey == "" && strings.Contains(u.Key, "/globalnetworkpolicies/"):
			policyKey = u.Key
		case localKey == "" && strings.Contains(u.Key, "/workloadendpoints/") && strings.Contains(u.Key, "host1"):
			localKey = u.Key
		}
	}
	if policyKey == "" || localKey == "" {
		t.Fatalf("the world has no global policy or local endpoint (%q, %q)", policyKey, localKey)
	}
	c.OnUpdates([]syncer.Update{{Type: syncer.UpdateDeleted, Key: policyKey, Invalid: true}})
	if after := nft.Render(c.Ruleset()); after != before {
		t.Errorf("an unreadable policy changed the ruleset:\n%s", after)
	}
	if _, ok := c.Problems["unreadable "+policyKey]; !ok {
		t.Errorf("no problem reported: %v", c.Problems)
	}
	c.OnUpdates([]syncer.Update{{Type: syncer.UpdateDeleted, Key: localKey, Invalid: true}})
	if after := nft.Render(c.Ruleset()); after == before {
		t.Error("an unreadable local endpoint kept its chains")
	}
	// A readable delete clears the problem.
	c.OnUpdates([]syncer.Update{{Type: syncer.UpdateDeleted, Key: policyKey}})
	if p, ok := c.Problems["unreadable "+policyKey]; ok {
		t.Errorf("problem left after a delete: %s", p)
	}
}
