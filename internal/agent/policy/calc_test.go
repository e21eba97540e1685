package policy

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gocalico/calico/internal/agent/nft"
	"github.com/gocalico/calico/internal/datastore/syncer"
	"github.com/gocalico/calico/internal/selector"
)

var rulesetOpts = cmp.Options{cmpopts.EquateEmpty(), cmpopts.EquateComparable(netip.Prefix{})}

// TestIncrementalMatchesFresh: after every update of a random sequence
// (adds, edits, deletes of policies, tiers, profiles, endpoints and
// network sets, in random order), the incrementally kept ruleset equals
// the one a fresh Calc computes from the surviving resources.
func TestIncrementalMatchesFresh(t *testing.T) {
	var pool []syncer.Update
	pool = append(pool, decodeAll(t, world)...)
	for _, tc := range truthTable {
		pool = append(pool, decodeAll(t, tc.extra)...)
	}
	for seed := range uint64(8) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 1))
			inc := NewCalc("host1", nil)
			live := map[string]syncer.Update{}
			for step := range 100 {
				u := pool[rng.IntN(len(pool))]
				if _, ok := live[u.Key]; ok && rng.IntN(3) == 0 {
					u = syncer.Update{Type: syncer.UpdateDeleted, Key: u.Key}
					delete(live, u.Key)
				} else {
					live[u.Key] = u
				}
				inc.OnUpdates([]syncer.Update{u})
				if rng.IntN(4) == 0 && step != 99 {
					continue // let changes pile up between reads
				}
				got := inc.Ruleset()
				// The reference: a fresh Calc over the scanning index.
				fresh := NewCalc("host1", func(changed func(string)) SetIndex { return NewScanIndex(changed) })
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
			}
		})
	}
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

// TestDisjoint: an interval set never gets overlapping elements.
func TestDisjoint(t *testing.T) {
	c := NewCalc("host1", nil)
	c.OnUpdates(decodeAll(t, world+`
---
kind: GlobalNetworkSet
apiVersion: projectcalico.org/v3
metadata: {name: wide, labels: {external: partner}}
spec: {nets: [192.0.0.0/16, 192.0.2.0/24, 10.0.0.0/8]}
`+"\n---\n"+truthTable[6].extra))
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
