package nft

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func mustDesired(t *testing.T, rs *Ruleset) *desired {
	t.Helper()
	d, err := buildDesired(rs, nil)
	if err != nil {
		t.Fatalf("buildDesired: %v", err)
	}
	return d
}

// changes are edits of the representative ruleset with the plan each
// must produce from the record of the unedited one. The privileged tests
// apply them to a kernel too.
var changes = []struct {
	name   string
	change func(rs *Ruleset)
	plan   string
}{
	{"unchanged", func(*Ruleset) {}, ""},
	{"one element added", func(rs *Ruleset) {
		s := rs.Sets["all-ipv4"]
		s.Elements = append(s.Elements, addrElems("10.65.0.9")...)
	}, "add elements all-ipv4 (1)\n"},
	{"one element removed", func(rs *Ruleset) {
		rs.Sets["ports-plain"].Elements = rs.Sets["ports-plain"].Elements[1:]
	}, "delete elements ports-plain (1)\n"},
	{"interval grown over a neighbour", func(rs *Ruleset) {
		// 172.16.0.0/24 becomes /23: one span replaced.
		s := rs.Sets["nets-v4"]
		s.Elements = append(s.Elements, addrElems("172.16.1.0/24")...)
	}, "delete elements nets-v4 (1)\nadd elements nets-v4 (1)\n"},
	{"element already covered", func(rs *Ruleset) {
		s := rs.Sets["nets-v4"]
		s.Elements = append(s.Elements, addrElems("10.1.2.3")...)
	}, ""},
	{"one chain's rules changed", func(rs *Ruleset) {
		c := rs.Chains["to-wl-cali5678"]
		c.Rules = append([]Rule{{Counter: true}}, c.Rules...)
	}, "flush chain to-wl-cali5678\nadd rules to-wl-cali5678\n"},
	{"comment changed", func(rs *Ruleset) {
		rs.Chains["forward"].Rules[1].Comment = "other"
	}, "flush chain forward\nadd rules forward\n"},
	{"map element retargeted", func(rs *Ruleset) {
		rs.Maps["to-wl"].Elements["cali1234"] = Verdict{Kind: VerdictGoto, Chain: "to-wl-cali1234"}
	}, "delete elements to-wl (1)\nadd elements to-wl (1)\n"},
	{"base chain policy changed", func(rs *Ruleset) {
		rs.Chains["output"].Base.Policy = "drop"
	}, "flush chain output\ndelete chain output\nadd chain output\nadd rules output\n"},
	{"base chain made explicit", func(rs *Ruleset) {
		// "" means filter and accept: nothing to do.
		rs.Chains["output"].Base.Type = "filter"
		rs.Chains["output"].Base.Policy = "accept"
	}, ""},
	{"set type changed", func(rs *Ruleset) {
		rs.Sets["ports-plain"].Interval = true
	}, "flush chain to-wl-cali1234\ndelete set ports-plain\nadd set ports-plain\n" +
		"add elements ports-plain (2)\nadd rules to-wl-cali1234\n"},
	{"chain and its references removed", func(rs *Ruleset) {
		delete(rs.Chains, "to-wl-cali5678")
		delete(rs.Maps["to-wl"].Elements, "cali5678")
	}, "flush chain to-wl-cali5678\ndelete elements to-wl (1)\ndelete chain to-wl-cali5678\n"},
	{"set and its rule removed", func(rs *Ruleset) {
		delete(rs.Sets, "np-v6")
		c := rs.Chains["to-wl-cali1234"]
		c.Rules = dropRules(c.Rules, func(r Rule) bool { return len(r.Match) == 3 && r.Match[2].Set == "np-v6" })
	}, "flush chain to-wl-cali1234\ndelete set np-v6\nadd rules to-wl-cali1234\n"},
	{"new chain reached from a new map element", func(rs *Ruleset) {
		rs.Chains["to-wl-cali9"] = &Chain{Rules: []Rule{{Verdict: Verdict{Kind: VerdictAccept}}}}
		rs.Maps["to-wl"].Elements["cali9"] = Verdict{Kind: VerdictJump, Chain: "to-wl-cali9"}
	}, "add chain to-wl-cali9\nadd elements to-wl (1)\nadd rules to-wl-cali9\n"},
	{"everything removed", func(rs *Ruleset) {
		rs.Chains, rs.Sets, rs.Maps = nil, nil, nil
	}, "flush chain forward\nflush chain from-wl-cali1234\nflush chain input\nflush chain output\n" +
		"flush chain pol-allow-web\nflush chain raw-prerouting\nflush chain to-wl-cali1234\nflush chain to-wl-cali5678\n" +
		"delete set addrs-v6\ndelete set all-ipv4\ndelete set empty\ndelete set from-wl\n" +
		"delete set ifaces\ndelete set macs\ndelete set nets-v4\ndelete set nets-v6\n" +
		"delete set np-v4\ndelete set np-v6\ndelete set ports\ndelete set ports-plain\n" +
		"delete set to-wl\ndelete chain forward\ndelete chain from-wl-cali1234\n" +
		"delete chain input\ndelete chain output\ndelete chain pol-allow-web\n" +
		"delete chain raw-prerouting\ndelete chain to-wl-cali1234\ndelete chain to-wl-cali5678\n"},
}

// TestPlan: what each change of ruleset costs, planned without a kernel
// from the record of the previous ruleset. One element added is one op,
// one chain changed is that chain rewritten, nothing changed is nothing.
func TestPlan(t *testing.T) {
	for _, tc := range changes {
		t.Run(tc.name, func(t *testing.T) {
			old := mustDesired(t, representative())
			got := planString(plan(old.state, mustDesired(t, changed(tc.change))))
			if diff := cmp.Diff(tc.plan, got); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
		})
	}
}

func changed(change func(*Ruleset)) *Ruleset {
	rs := representative()
	change(rs)
	return rs
}

func dropRules(rules []Rule, drop func(Rule) bool) []Rule {
	var out []Rule
	for _, r := range rules {
		if !drop(r) {
			out = append(out, r)
		}
	}
	return out
}

// TestPlanFromScratch: an empty kernel gets the table, then empty sets
// and chains, then elements, then rules; nothing is deleted.
func TestPlanFromScratch(t *testing.T) {
	ops := plan(nil, mustDesired(t, representative()))
	if ops[0].kind != opAddTable {
		t.Fatalf("first op %v, want add table", ops[0])
	}
	last := opKind(-1)
	counts := map[opKind]int{}
	for _, o := range ops {
		if o.kind < last {
			t.Errorf("op %v after a %v", o, last)
		}
		last = o.kind
		counts[o.kind]++
	}
	want := map[opKind]int{opAddTable: 1, opAddSet: 13, opAddChain: 8, opAddElems: 12, opAddRules: 7}
	if diff := cmp.Diff(want, counts); diff != "" {
		t.Errorf("op counts (-want +got):\n%s\n%s", diff, planString(ops))
	}
}

// TestPlanRepairs: differences a resync reads back from the kernel.
func TestPlanRepairs(t *testing.T) {
	want := mustDesired(t, representative())
	for _, tc := range []struct {
		name   string
		tamper func(st *state)
		plan   string
	}{
		{"table deleted", func(st *state) { *st = *emptyState() }, ""},
		{"rule deleted", func(st *state) {
			c := st.chains["forward"]
			c.rules = c.rules[1:]
		}, "flush chain forward\nadd rules forward\n"},
		{"rule added by hand", func(st *state) {
			c := st.chains["pol-allow-web"]
			c.rules = append(c.rules, "")
		}, "flush chain pol-allow-web\n"},
		{"element added by hand", func(st *state) {
			s := st.sets["all-ipv4"]
			k := addrKey(pfx("10.65.0.99").Addr())
			s.elems = append(s.elems, elem{span: span{k, k}})
		}, "delete elements all-ipv4 (1)\n"},
		{"chain deleted", func(st *state) { delete(st.chains, "pol-allow-web") }, "add chain pol-allow-web\n"},
		{"unreadable set", func(st *state) { st.sets["nets-v4"].dirty = true }, "flush set nets-v4\nadd elements nets-v4 (4)\n"},
		{"foreign set in our table", func(st *state) {
			st.sets["x"] = &setState{spec: setSpec{keyType: 7, keyLen: 4}}
		}, "delete set x\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := cloneState(mustDesired(t, representative()).state)
			tc.tamper(st)
			got := planString(plan(st, want))
			if tc.name == "table deleted" {
				// Everything is created again; spot-check the start.
				if !strings.HasPrefix(got, "add table\nadd set addrs-v6\n") {
					t.Errorf("plan after the table went:\n%s", got)
				}
				return
			}
			if diff := cmp.Diff(tc.plan, got); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
		})
	}
}
