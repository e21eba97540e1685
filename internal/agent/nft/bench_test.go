package nft

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"testing"
)

// bigRuleset is the benchmark's ruleset: a forward chain dispatching on
// the output interface to `chains` workload chains of `rules` rules each,
// and one address set of `elems` elements that the rules look up.
func bigRuleset(chains, rules, elems int) *Ruleset {
	set := &Set{Type: TypeIPv4Addr, Elements: make([]Element, elems)}
	base := netip.MustParseAddr("10.0.0.0").As4()
	for i := range elems {
		a := base
		a[1], a[2], a[3] = byte(i>>16), byte(i>>8), byte(i)
		set.Elements[i] = Element{Prefix: netip.PrefixFrom(netip.AddrFrom4(a), 32)}
	}
	rs := &Ruleset{
		Table:  "calico",
		Sets:   map[string]*Set{"big": set},
		Maps:   map[string]*Map{"to-wl": {Type: TypeIfname, Elements: map[string]Verdict{}}},
		Chains: map[string]*Chain{},
	}
	rs.Chains["forward"] = &Chain{Base: &Hook{Hook: "forward"}, Rules: []Rule{
		{Match: []Match{{Kind: MatchCTState, Num: CTEstablished | CTRelated}}, Verdict: Verdict{Kind: VerdictAccept}},
		{Verdict: Verdict{Kind: VerdictMap, Map: "to-wl", Key: "oifname"}},
	}}
	for i := range chains {
		name := fmt.Sprintf("wl-%04d", i)
		rs.Maps["to-wl"].Elements[fmt.Sprintf("cali%05d", i)] = Verdict{Kind: VerdictJump, Chain: name}
		rs.Chains[name] = &Chain{Rules: workloadRules(i, rules, 0)}
	}
	return rs
}

func workloadRules(chain, n, variant int) []Rule {
	rules := make([]Rule, n)
	for j := range rules {
		c := fmt.Sprintf("pol:ns.p%d:ingress:%d:%d", chain, j, variant)
		switch j % 5 {
		case 0:
			rules[j] = Rule{Match: []Match{tcp(), dport(single(uint16(8000 + j))), {Kind: MatchSAddr, Set: "big"}},
				Counter: true, Verdict: Verdict{Kind: VerdictAccept}, Comment: c}
		case 1:
			rules[j] = Rule{Match: []Match{udp(), dport(single(53), single(5353))}, Counter: true, Verdict: Verdict{Kind: VerdictAccept}, Comment: c}
		case 2:
			rules[j] = Rule{Match: []Match{{Kind: MatchSAddr, Prefixes: pfxs(fmt.Sprintf("10.%d.0.0/16", chain%256), fmt.Sprintf("192.168.%d.0/24", j))}},
				Verdict: Verdict{Kind: VerdictDrop}, Comment: c}
		case 3:
			rules[j] = Rule{Match: []Match{{Kind: MatchMark, Num: 0x10, Mask: 0x10}}, Verdict: Verdict{Kind: VerdictReturn}}
		case 4:
			rules[j] = Rule{Counter: true, SetMark: 0x10, Comment: c}
		}
	}
	return rules
}

// oneElementMore shares everything with rs but the big set, which has
// one element more.
func oneElementMore(rs *Ruleset) *Ruleset {
	out := *rs
	out.Sets = maps.Clone(rs.Sets)
	s := *rs.Sets["big"]
	s.Elements = append(s.Elements[:len(s.Elements):len(s.Elements)], addrElems("192.0.2.1")...)
	out.Sets["big"] = &s
	return &out
}

// oneChainChanged shares everything with rs but one workload chain.
func oneChainChanged(rs *Ruleset) *Ruleset {
	out := *rs
	out.Chains = maps.Clone(rs.Chains)
	out.Chains["wl-0500"] = &Chain{Rules: workloadRules(500, len(rs.Chains["wl-0500"].Rules), 1)}
	return &out
}

// BenchmarkApply: the cost of Apply for 1000 chains of 10 rules and a
// 100 000-element set: cold (empty table), then one set element
// changed, then one chain changed, then (kernel only) a resync that
// reads it all back and finds nothing to do. "fake" measures the
// agent's side alone (validate, diff, compile, marshal); "kernel" sends
// to nftables in a network namespace (root only).
//
//	go test -run '^$' -bench BenchmarkApply -benchtime 5x ./internal/agent/nft/
func BenchmarkApply(b *testing.B) {
	rs := bigRuleset(1000, 10, 100_000)
	ctx := context.Background()
	for _, kernel := range []bool{false, true} {
		name := "fake"
		if kernel {
			name = "kernel"
		}
		b.Run(name, func(b *testing.B) {
			// newApplier returns an applier with nothing cached, and for
			// the kernel one in a namespace (living as long as this
			// benchmark) whose table it has just emptied.
			var ns *testNS
			if kernel {
				requireRoot(b)
				ns = newNS(b)
			}
			newApplier := func(b *testing.B) *Applier {
				if !kernel {
					a, _, _ := fakeApplier(b)
					return a
				}
				a := ns.applier(b, rs.Table)
				if err := a.Delete(ctx); err != nil {
					b.Fatal(err)
				}
				return a
			}
			b.Run("cold", func(b *testing.B) {
				b.ReportAllocs()
				msgs := 0
				for b.Loop() {
					b.StopTimer()
					a := newApplier(b)
					a.Resync()
					b.StartTimer()
					if err := a.Apply(ctx, rs); err != nil {
						b.Fatal(err)
					}
					msgs += a.Stats().Msgs
				}
				b.ReportMetric(float64(msgs)/float64(b.N), "msgs/op")
			})
			for _, step := range []struct {
				name   string
				change func(*Ruleset) *Ruleset
			}{
				{"one-element", oneElementMore},
				{"one-chain", oneChainChanged},
			} {
				b.Run(step.name, func(b *testing.B) {
					a := newApplier(b)
					if err := a.Apply(ctx, rs); err != nil {
						b.Fatal(err)
					}
					other := step.change(rs)
					before := a.Stats()
					b.ReportAllocs()
					i := 0
					for b.Loop() {
						next := other
						if i%2 == 1 {
							next = rs
						}
						i++
						if err := a.Apply(ctx, next); err != nil {
							b.Fatal(err)
						}
					}
					after := a.Stats()
					if after.Batches-before.Batches != b.N {
						b.Fatalf("%d batches for %d changes", after.Batches-before.Batches, b.N)
					}
					b.ReportMetric(float64(after.Msgs-before.Msgs)/float64(b.N), "msgs/op")
					b.ReportMetric(float64(after.Ops-before.Ops)/float64(b.N), "planops/op")
				})
			}
			if !kernel {
				return
			}
			// A periodic resync of an intact table: read it all back,
			// find nothing to do.
			b.Run("resync", func(b *testing.B) {
				a := newApplier(b)
				if err := a.Apply(ctx, rs); err != nil {
					b.Fatal(err)
				}
				before := a.Stats()
				for b.Loop() {
					a.Resync()
					if err := a.Apply(ctx, rs); err != nil {
						b.Fatal(err)
					}
				}
				if after := a.Stats(); after.Batches != before.Batches {
					b.Fatalf("resync of an intact table wrote %d batches", after.Batches-before.Batches)
				}
			})
		})
	}
}
