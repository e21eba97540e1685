package nft

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// polShape is a policy of a shaped ruleset: the sets its rules look up,
// and whether it has a rule the test kernel rejects.
type polShape struct {
	sets []string
	bad  bool
}

// setShape is a set of a shaped ruleset.
type setShape struct {
	v6    bool
	elems []string
}

// shape describes a ruleset shaped like the policy calculation's.
type shape struct {
	eps  map[string][]string // interface -> the policies its walk visits
	pols map[string]polShape
	sets map[string]setShape
}

// rejectedComment and rejectedAddr mark a rule and a set element that the
// test kernel rejects (see rejecting).
const (
	rejectedComment = "kernel-rejects"
	rejectedAddr    = "203.0.113.66"
)

// rejecting refuses adding a rule commented rejectedComment or the
// element rejectedAddr, as a kernel refuses what it does not support.
func rejecting(o op, want *desired) error {
	switch o.kind {
	case opAddRules:
		for _, r := range want.rs.Chains[o.name].Rules {
			if r.Comment == rejectedComment {
				return syscall.EOPNOTSUPP
			}
		}
	case opAddElems:
		bad, err := elementSpan(TypeIPv4Addr, false, 4, Element{Prefix: pfx(rejectedAddr)})
		if err != nil {
			panic(err)
		}
		for _, e := range o.elems {
			if e.span == bad {
				return syscall.EINVAL
			}
		}
	}
	return nil
}

// shaper builds shaped rulesets; an object built with the same content
// as before is the same pointer, as the policy calculation hands them
// over.
type shaper struct {
	chains map[string]*Chain
	sets   map[string]*Set
}

func newShaper() *shaper { return &shaper{chains: map[string]*Chain{}, sets: map[string]*Set{}} }

func (b *shaper) chain(c *Chain) *Chain {
	k := fmt.Sprintf("%+v", *c)
	if old, ok := b.chains[k]; ok {
		return old
	}
	b.chains[k] = c
	return c
}

func (b *shaper) set(s *Set) *Set {
	k := fmt.Sprintf("%+v", *s)
	if old, ok := b.sets[k]; ok {
		return old
	}
	b.sets[k] = s
	return s
}

func (b *shaper) build(s shape) *Ruleset {
	rs := &Ruleset{Table: "calico", Chains: map[string]*Chain{}, Sets: map[string]*Set{}, Maps: map[string]*Map{}}
	for name, st := range s.sets {
		set := &Set{Name: name, Type: TypeIPv4Addr, Elements: addrElems(st.elems...)}
		if st.v6 {
			set.Type = TypeIPv6Addr
		}
		rs.Sets[name] = b.set(set)
	}
	for name, p := range s.pols {
		c := &Chain{Name: "pol-" + name}
		for i, set := range p.sets {
			c.Rules = append(c.Rules, Rule{Match: []Match{{Kind: MatchSAddr, Set: set}}, Counter: true,
				Verdict: Verdict{Kind: VerdictAccept}, Comment: fmt.Sprintf("%s:%d", name, i)})
		}
		if p.bad {
			c.Rules = append(c.Rules, Rule{Counter: true, Verdict: Verdict{Kind: VerdictAccept}, Comment: rejectedComment})
		}
		rs.Chains[c.Name] = b.chain(c)
	}
	from := &Map{Type: TypeIfname, Elements: map[string]Verdict{}}
	to := &Map{Type: TypeIfname, Elements: map[string]Verdict{}}
	for iface, pols := range s.eps {
		walk := &Chain{Name: "walk-" + strings.Join(pols, "-")}
		for _, p := range pols {
			walk.Rules = append(walk.Rules, Rule{Verdict: Verdict{Kind: VerdictJump, Chain: "pol-" + p}})
		}
		walk.Rules = append(walk.Rules, Rule{Verdict: Verdict{Kind: VerdictDrop}})
		rs.Chains[walk.Name] = b.chain(walk)
		fw := &Chain{Name: "fw-" + iface, Rules: []Rule{
			{Match: []Match{{Kind: MatchSAddr, Family: 4, Not: true, Prefixes: pfxs("10.65.0.0/24")}}, Verdict: Verdict{Kind: VerdictDrop}},
			{Verdict: Verdict{Kind: VerdictGoto, Chain: walk.Name}},
		}}
		tw := &Chain{Name: "tw-" + iface, Rules: []Rule{{Verdict: Verdict{Kind: VerdictGoto, Chain: walk.Name}}}}
		rs.Chains[fw.Name], rs.Chains[tw.Name] = b.chain(fw), b.chain(tw)
		from.Elements[iface] = Verdict{Kind: VerdictJump, Chain: fw.Name}
		to.Elements[iface] = Verdict{Kind: VerdictJump, Chain: tw.Name}
	}
	rs.Maps["from-wl"], rs.Maps["to-wl"] = from, to
	rs.Chains["prerouting"] = b.chain(&Chain{Name: "prerouting", Base: &Hook{Hook: "prerouting"}, Rules: []Rule{
		{Match: []Match{{Kind: MatchCTState, Num: CTEstablished | CTRelated}}, Verdict: Verdict{Kind: VerdictAccept}},
		{Verdict: Verdict{Kind: VerdictMap, Map: "from-wl", Key: "iifname"}},
		{Match: []Match{{Kind: MatchIIFName, Name: "cali*"}}, Verdict: Verdict{Kind: VerdictDrop}},
	}})
	rs.Chains["forward"] = b.chain(&Chain{Name: "forward", Base: &Hook{Hook: "forward"}, Rules: []Rule{
		{Match: []Match{{Kind: MatchCTState, Num: CTEstablished | CTRelated}}, Verdict: Verdict{Kind: VerdictAccept}},
		{Verdict: Verdict{Kind: VerdictMap, Map: "to-wl", Key: "oifname"}},
		{Match: []Match{{Kind: MatchOIFName, Name: "cali*"}}, Verdict: Verdict{Kind: VerdictDrop}},
	}})
	return rs
}

// clock is a test clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// isolated is an Isolator over an applier whose kernel is a fakeKernel
// that rejects what rejecting rejects.
func isolated(t *testing.T) (*Isolator, *fakeKernel, *clock) {
	a, k := kernelApplier(t)
	k.refuse = rejecting
	c := &clock{t: time.Unix(1000, 0)}
	return NewIsolator(a.Apply, c.now), k, c
}

// kernelHolds fails unless k holds exactly rs.
func kernelHolds(t *testing.T, k *fakeKernel, rs *Ruleset) {
	t.Helper()
	if diff := cmp.Diff(mustDesired(t, rs).dump(), k.st.dump()); diff != "" {
		t.Fatalf("kernel (-want +got):\n%s", diff)
	}
}

func objIDs(ss ...string) []ObjectID {
	var out []ObjectID
	for _, s := range ss {
		kind, name, _ := strings.Cut(s, " ")
		switch kind {
		case "chain":
			out = append(out, ObjectID{Kind: ObjChain, Name: name})
		case "set":
			out = append(out, ObjectID{Kind: ObjSet, Name: name})
		case "map-element":
			m, key, _ := strings.Cut(strings.TrimSuffix(name, "]"), "[")
			out = append(out, ObjectID{Kind: ObjMapElement, Name: m, Key: key})
		}
	}
	return out
}

func failedIDs(p *Isolator) []ObjectID {
	var out []ObjectID
	for _, f := range p.Failures() {
		out = append(out, f.ID)
	}
	return out
}

func heldIDs(p *Isolator) []ObjectID {
	return slices.SortedFunc(maps.Keys(p.Held()), func(a, b ObjectID) int {
		return strings.Compare(a.String(), b.String())
	})
}

var (
	setS1  = setShape{elems: []string{"10.65.0.1", "10.65.0.2"}}
	setS2  = setShape{elems: []string{"10.65.0.3"}}
	setBad = setShape{elems: []string{"10.65.0.1", rejectedAddr}}
)

// TestIsolatorKeepsFailuresLocal: a ruleset with one object the kernel
// rejects is applied but for that object and what needs it; endpoints it
// concerns fail closed (they keep their previous chains, or are left out
// of the dispatch maps, whose fall-through drops), the others get what
// they want. Once the kernel accepts the object, its own retry applies
// it.
func TestIsolatorKeepsFailuresLocal(t *testing.T) {
	tests := []struct {
		name       string
		have, want shape
		// kernel is what the kernel must hold after the failure.
		kernel   shape
		failed   []string
		held     []string
		affected []string
	}{
		{
			name: "a new endpoint whose policy is rejected is left out",
			have: shape{eps: map[string][]string{"cali1": {"p1"}}, pols: map[string]polShape{"p1": {sets: []string{"s1"}}},
				sets: map[string]setShape{"s1": setS1}},
			want: shape{eps: map[string][]string{"cali1": {"p1"}, "cali2": {"p1"}, "cali3": {"bad"}},
				pols: map[string]polShape{"p1": {sets: []string{"s1"}}, "bad": {sets: []string{"s1"}, bad: true}},
				sets: map[string]setShape{"s1": setS1}},
			kernel: shape{eps: map[string][]string{"cali1": {"p1"}, "cali2": {"p1"}}, pols: map[string]polShape{"p1": {sets: []string{"s1"}}},
				sets: map[string]setShape{"s1": setS1}},
			failed: []string{"chain pol-bad"},
			held: []string{"chain fw-cali3", "chain pol-bad", "chain tw-cali3", "chain walk-bad",
				"map-element from-wl[cali3]", "map-element to-wl[cali3]"},
			affected: []string{"cali3"},
		},
		{
			name: "an endpoint whose new policy is rejected keeps its previous one",
			have: shape{eps: map[string][]string{"cali1": {"p1"}, "cali2": {"p1"}}, pols: map[string]polShape{"p1": {sets: []string{"s1"}}},
				sets: map[string]setShape{"s1": setS1}},
			want: shape{eps: map[string][]string{"cali1": {"p1"}, "cali2": {"bad"}, "cali3": {"p1"}},
				pols: map[string]polShape{"p1": {sets: []string{"s1"}}, "bad": {bad: true}},
				sets: map[string]setShape{"s1": setS1}},
			kernel: shape{eps: map[string][]string{"cali1": {"p1"}, "cali2": {"p1"}, "cali3": {"p1"}},
				pols: map[string]polShape{"p1": {sets: []string{"s1"}}}, sets: map[string]setShape{"s1": setS1}},
			failed:   []string{"chain pol-bad"},
			held:     []string{"chain fw-cali2", "chain pol-bad", "chain tw-cali2", "chain walk-bad"},
			affected: []string{"cali2"},
		},
		{
			name: "a policy whose new version is rejected stays as it was; the other changes go in",
			have: shape{eps: map[string][]string{"cali1": {"p1"}, "cali2": {"p2"}},
				pols: map[string]polShape{"p1": {sets: []string{"s1"}}, "p2": {sets: []string{"s1"}}},
				sets: map[string]setShape{"s1": setS1}},
			want: shape{eps: map[string][]string{"cali1": {"p1"}, "cali2": {"p2"}, "cali3": {"p2"}},
				pols: map[string]polShape{"p1": {sets: []string{"s1"}, bad: true}, "p2": {sets: []string{"s1", "s2"}}},
				sets: map[string]setShape{"s1": setS1, "s2": setS2}},
			kernel: shape{eps: map[string][]string{"cali1": {"p1"}, "cali2": {"p2"}, "cali3": {"p2"}},
				pols: map[string]polShape{"p1": {sets: []string{"s1"}}, "p2": {sets: []string{"s1", "s2"}}},
				sets: map[string]setShape{"s1": setS1, "s2": setS2}},
			failed:   []string{"chain pol-p1"},
			held:     []string{"chain pol-p1"},
			affected: []string{"cali1"},
		},
		{
			name: "a set whose new elements are rejected keeps the old ones",
			have: shape{eps: map[string][]string{"cali1": {"p1"}}, pols: map[string]polShape{"p1": {sets: []string{"s1"}}},
				sets: map[string]setShape{"s1": setS1}},
			want: shape{eps: map[string][]string{"cali1": {"p1"}, "cali2": {"p2"}},
				pols: map[string]polShape{"p1": {sets: []string{"s1"}}, "p2": {sets: []string{"s2"}}},
				sets: map[string]setShape{"s1": setBad, "s2": setS2}},
			kernel: shape{eps: map[string][]string{"cali1": {"p1"}, "cali2": {"p2"}},
				pols: map[string]polShape{"p1": {sets: []string{"s1"}}, "p2": {sets: []string{"s2"}}},
				sets: map[string]setShape{"s1": setS1, "s2": setS2}},
			failed:   []string{"set s1"},
			held:     []string{"set s1"},
			affected: []string{"cali1"},
		},
		{
			name: "a policy that needs a new set that is rejected keeps its previous version",
			have: shape{eps: map[string][]string{"cali1": {"p1"}}, pols: map[string]polShape{"p1": {sets: []string{"s1"}}},
				sets: map[string]setShape{"s1": setS1}},
			want: shape{eps: map[string][]string{"cali1": {"p1"}}, pols: map[string]polShape{"p1": {sets: []string{"s1", "s3"}}},
				sets: map[string]setShape{"s1": setS1, "s3": setBad}},
			kernel: shape{eps: map[string][]string{"cali1": {"p1"}}, pols: map[string]polShape{"p1": {sets: []string{"s1"}}},
				sets: map[string]setShape{"s1": setS1}},
			failed:   []string{"set s3"},
			held:     []string{"chain pol-p1", "set s3"},
			affected: []string{"cali1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			p, k, c := isolated(t)
			var retried []ObjectID
			p.OnRetry = func(id ObjectID) { retried = append(retried, id) }
			b := newShaper()
			have, want := b.build(tt.have), b.build(tt.want)
			if err := p.Apply(ctx, have); err != nil {
				t.Fatal(err)
			}
			if err := p.Apply(ctx, want); err != nil {
				t.Fatalf("Apply failed as a whole: %v", err)
			}
			kernelHolds(t, k, b.build(tt.kernel))
			if diff := cmp.Diff(objIDs(tt.failed...), failedIDs(p)); diff != "" {
				t.Errorf("failed (-want +got):\n%s", diff)
			}
			for _, f := range p.Failures() {
				if !errors.Is(f.Err, ErrRejected) || f.Attempts != 1 || f.Retry != c.t.Add(MinRetry) {
					t.Errorf("failure %+v: want rejected, 1 attempt, retry after %v", f, MinRetry)
				}
			}
			if diff := cmp.Diff(objIDs(tt.held...), heldIDs(p)); diff != "" {
				t.Errorf("held (-want +got):\n%s", diff)
			}
			affected := slices.Sorted(maps.Keys(Affected(want, p.Held())))
			if diff := cmp.Diff(tt.affected, affected); diff != "" {
				t.Errorf("affected interfaces (-want +got):\n%s", diff)
			}

			// Not due: nothing is tried, the kernel is left alone.
			batches := k.batches
			if err := p.Apply(ctx, want); err != nil {
				t.Fatal(err)
			}
			if k.batches != batches || len(retried) != 0 {
				t.Fatalf("applying again before the retry is due: %d batches, retried %v", k.batches-batches, retried)
			}
			// Due, still rejected: tried alone again, with a longer back-off.
			in, _ := p.RetryIn()
			c.t = c.t.Add(in)
			if err := p.Apply(ctx, want); err != nil {
				t.Fatal(err)
			}
			for _, f := range p.Failures() {
				if f.Attempts != 2 || f.Retry != c.t.Add(2*MinRetry) {
					t.Errorf("failure after its retry %+v: want 2 attempts, retry after %v", f, 2*MinRetry)
				}
			}
			kernelHolds(t, k, b.build(tt.kernel))
			// The kernel accepts it: its retry applies everything.
			k.refuse = nil
			in, _ = p.RetryIn()
			c.t = c.t.Add(in)
			if err := p.Apply(ctx, want); err != nil {
				t.Fatal(err)
			}
			kernelHolds(t, k, want)
			if got := p.Failures(); len(got) != 0 {
				t.Errorf("failures after the kernel accepted: %v", got)
			}
			if got := p.Held(); len(got) != 0 {
				t.Errorf("held after the kernel accepted: %v", got)
			}
			if diff := cmp.Diff(append(objIDs(tt.failed...), objIDs(tt.failed...)...), retried); diff != "" {
				t.Errorf("retries (-want +got):\n%s", diff)
			}
		})
	}
}

// TestIsolatorRetriesAChangedObjectAtOnce: a failed object whose wanted
// version changes (the policy was fixed) is tried at once, not after its
// back-off.
func TestIsolatorRetriesAChangedObjectAtOnce(t *testing.T) {
	ctx := context.Background()
	p, k, _ := isolated(t)
	b := newShaper()
	base := shape{eps: map[string][]string{"cali1": {"p1"}}, pols: map[string]polShape{"p1": {sets: []string{"s1"}}},
		sets: map[string]setShape{"s1": setS1}}
	bad := shape{eps: base.eps, pols: map[string]polShape{"p1": {sets: []string{"s1"}, bad: true}}, sets: base.sets}
	fixed := shape{eps: base.eps, pols: map[string]polShape{"p1": {sets: []string{"s1", "s2"}}},
		sets: map[string]setShape{"s1": setS1, "s2": setS2}}
	for _, s := range []shape{base, bad} {
		if err := p.Apply(ctx, b.build(s)); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff(objIDs("chain pol-p1"), failedIDs(p)); diff != "" {
		t.Fatalf("failed (-want +got):\n%s", diff)
	}
	if err := p.Apply(ctx, b.build(fixed)); err != nil {
		t.Fatal(err)
	}
	kernelHolds(t, k, b.build(fixed))
	if got := p.Failures(); len(got) != 0 {
		t.Errorf("failures: %v", got)
	}
}

// TestIsolatorFindsOneAmongMany: the search costs about two applies per
// halving, not one per object.
func TestIsolatorFindsOneAmongMany(t *testing.T) {
	ctx := context.Background()
	p, k, _ := isolated(t)
	b := newShaper()
	have := shape{eps: map[string][]string{"cali0": {"p1"}}, pols: map[string]polShape{"p1": {sets: []string{"s1"}}},
		sets: map[string]setShape{"s1": setS1}}
	want := shape{eps: map[string][]string{}, pols: map[string]polShape{"p1": {sets: []string{"s1"}}, "bad": {bad: true}},
		sets: have.sets}
	kernel := shape{eps: map[string][]string{}, pols: have.pols, sets: have.sets}
	for i := range 300 {
		iface := fmt.Sprintf("cali%d", i)
		want.eps[iface] = []string{"p1"}
		kernel.eps[iface] = []string{"p1"}
	}
	want.eps["cali150"] = []string{"bad"}
	kernel.eps["cali150"] = nil
	delete(kernel.eps, "cali150")
	if err := p.Apply(ctx, b.build(have)); err != nil {
		t.Fatal(err)
	}
	trials := p.trials
	if err := p.Apply(ctx, b.build(want)); err != nil {
		t.Fatal(err)
	}
	kernelHolds(t, k, b.build(kernel))
	if diff := cmp.Diff(objIDs("chain pol-bad"), failedIDs(p)); diff != "" {
		t.Errorf("failed (-want +got):\n%s", diff)
	}
	// 1200 changed objects: the whole, the skeleton, then two per
	// halving (about 11), and a round for what needed what was held.
	if n := p.trials - trials; n > 2+2*11+2*11 {
		t.Errorf("%d applies to find one object among 1200", n)
	}
	t.Logf("%d applies", p.trials-trials)
}

// TestIsolatorSkeletonRejected: when the base chains cannot be applied,
// nothing can: Apply fails.
func TestIsolatorSkeletonRejected(t *testing.T) {
	p, k, _ := isolated(t)
	k.refuse = func(o op, _ *desired) error {
		if o.kind == opAddChain && o.name == "forward" {
			return syscall.EOPNOTSUPP
		}
		return nil
	}
	b := newShaper()
	err := p.Apply(context.Background(), b.build(shape{eps: map[string][]string{"cali1": {"p1"}},
		pols: map[string]polShape{"p1": {}}}))
	if err == nil || !strings.Contains(err.Error(), "base chains and maps were rejected") {
		t.Fatalf("Apply: %v", err)
	}
}

// TestMixIsValid: whatever is held, the mix of two valid rulesets is
// valid, each object is as in one of them (held ones as in have, the
// others as in want), and a kernel holding have takes it and then want.
func TestMixIsValid(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	randShape := func() shape {
		s := shape{eps: map[string][]string{}, pols: map[string]polShape{}, sets: map[string]setShape{}}
		for _, name := range []string{"s1", "s2", "s3"} {
			if rng.IntN(3) > 0 {
				st := setShape{v6: rng.IntN(3) == 0}
				for range rng.IntN(3) {
					if st.v6 {
						st.elems = append(st.elems, fmt.Sprintf("fd00::%d", rng.IntN(4)))
					} else {
						st.elems = append(st.elems, fmt.Sprintf("10.65.0.%d", rng.IntN(4)))
					}
				}
				s.sets[name] = st
			}
		}
		sets := slices.Sorted(maps.Keys(s.sets))
		for _, name := range []string{"p1", "p2", "p3"} {
			if rng.IntN(4) > 0 {
				var p polShape
				for _, set := range sets {
					if rng.IntN(2) == 0 {
						p.sets = append(p.sets, set)
					}
				}
				s.pols[name] = p
			}
		}
		pols := slices.Sorted(maps.Keys(s.pols))
		for _, iface := range []string{"cali1", "cali2", "cali3", "cali4"} {
			if rng.IntN(3) > 0 {
				var walk []string
				for _, p := range pols {
					if rng.IntN(2) == 0 {
						walk = append(walk, p)
					}
				}
				s.eps[iface] = walk
			}
		}
		return s
	}
	for i := range 500 {
		b := newShaper()
		have, want := b.build(randShape()), b.build(randShape())
		diff := Diff(have, want)
		hold := map[ObjectID]bool{}
		for _, id := range diff {
			if rng.IntN(3) == 0 {
				hold[id] = true
			}
		}
		out, held := Mix(have, want, hold)
		if _, err := buildDesired(out, nil); err != nil {
			t.Fatalf("case %d: holding %v: invalid mix: %v", i, hold, err)
		}
		for id := range hold {
			if !held[id] {
				t.Fatalf("case %d: %v was to be held", i, id)
			}
		}
		for _, id := range diff {
			src := want
			if held[id] {
				src = have
			}
			if got, want := versionOf(out, id), versionOf(src, id); got != want {
				t.Fatalf("case %d: %v is %v, want %v (held %v)", i, id, got, want, held[id])
			}
		}
		if d := Diff(out, want); len(d) != len(held) {
			t.Fatalf("case %d: %d objects differ from want, %d held", i, len(d), len(held))
		}
		a, k := kernelApplier(t)
		for _, rs := range []*Ruleset{have, out, want} {
			if err := a.Apply(context.Background(), rs); err != nil {
				t.Fatalf("case %d: kernel refused the transition: %v", i, err)
			}
			kernelHolds(t, k, rs)
		}
	}
}
