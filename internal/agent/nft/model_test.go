package nft

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// kernelApplier is an applier whose kernel is a fakeKernel.
func kernelApplier(t testing.TB) (*Applier, *fakeKernel) {
	a, _, _ := fakeApplier(t)
	k := newFakeKernel()
	a.exec, a.read = k.exec, k.read
	return a, k
}

// share returns next with every chain, set and map equal to the one of
// the same name in prev replaced by prev's: what a caller keeping to
// Apply's contract hands over.
func share(prev, next *Ruleset) *Ruleset {
	return &Ruleset{
		Table:  next.Table,
		Chains: shareObjects(prev.Chains, next.Chains),
		Sets:   shareObjects(prev.Sets, next.Sets),
		Maps:   shareObjects(prev.Maps, next.Maps),
	}
}

func shareObjects[T any](prev, next map[string]*T) map[string]*T {
	if next == nil {
		return nil
	}
	out := make(map[string]*T, len(next))
	for name, o := range next {
		if p, ok := prev[name]; ok && reflect.DeepEqual(p, o) {
			o = p
		}
		out[name] = o
	}
	return out
}

// checkFakeKernel: the fake kernel holds what a build of rs from scratch
// produces; applying rs again writes nothing; after Resync, comparing
// the whole table finds nothing to write either.
func checkFakeKernel(t *testing.T, a *Applier, k *fakeKernel, rs *Ruleset) {
	t.Helper()
	if diff := cmp.Diff(mustDesired(t, rs).dump(), k.st.dump()); diff != "" {
		t.Fatalf("kernel differs from the ruleset built from scratch (-want +got):\n%s", diff)
	}
	batches := k.batches
	if err := a.Apply(context.Background(), rs); err != nil {
		t.Fatalf("apply again: %v", err)
	}
	a.Resync()
	if err := a.Apply(context.Background(), rs); err != nil {
		t.Fatalf("apply after resync: %v", err)
	}
	if k.batches != batches {
		t.Errorf("applying an unchanged ruleset wrote %d batches", k.batches-batches)
	}
}

// TestApplyTransitionsFake is TestPrivilegedTransitions on the fake
// kernel, once with every step's objects new ("fresh") and once with
// the objects equal to the previous step's handed over again ("shared"),
// as Apply's contract has it: either way the kernel ends up holding
// exactly the step's ruleset.
func TestApplyTransitionsFake(t *testing.T) {
	for _, mode := range []string{"fresh", "shared", "with changes"} {
		shared, hinted := mode != "fresh", mode == "with changes"
		seed := uint64(time.Now().UnixNano())
		t.Run(fmt.Sprintf("%s random order seed %d", mode, seed), func(t *testing.T) {
			steps := transitionSteps()
			order := rand.New(rand.NewPCG(seed, seed)).Perm(len(steps))
			// In order first, then in a random order.
			order = append(slices.Collect(func(yield func(int) bool) {
				for i := range steps {
					if !yield(i) {
						return
					}
				}
			}), order...)
			a, k := kernelApplier(t)
			prev := &Ruleset{}
			lineage := NewLineage()
			for _, i := range order {
				s := steps[i]
				rs := s.rs
				if shared {
					rs = share(prev, rs)
				}
				if hinted {
					rs = withChanges(prev, rs, lineage)
				}
				if err := a.Apply(context.Background(), rs); err != nil {
					t.Fatalf("step %s: %v", s.name, err)
				}
				t.Run(s.name, func(t *testing.T) { checkFakeKernel(t, a, k, rs) })
				prev = rs
			}
		})
	}
}

// withChanges is next with the Changes since prev (generation 0 when
// prev has none): exactly the objects whose pointers differ.
func withChanges(prev, next *Ruleset, lineage uint64) *Ruleset {
	since := uint64(0)
	if prev.Changes != nil {
		since = prev.Changes.Gen
	}
	out := *next
	out.Changes = &Changes{Lineage: lineage, Gen: since + 1, Since: since,
		Chains: differing(prev.Chains, next.Chains), Sets: differing(prev.Sets, next.Sets), Maps: differing(prev.Maps, next.Maps)}
	return &out
}

func differing[T any](a, b map[string]*T) map[string]struct{} {
	out := map[string]struct{}{}
	for n, o := range a {
		if b[n] != o {
			out[n] = struct{}{}
		}
	}
	for n, o := range b {
		if a[n] != o {
			out[n] = struct{}{}
		}
	}
	return out
}

// TestApplyChangesHint: Changes that follow the ruleset applied last are
// trusted (an object they do not name is not even compared), and
// Changes that follow any other are ignored.
func TestApplyChangesHint(t *testing.T) {
	ctx := context.Background()
	base := bigRuleset(50, 2, 10)
	lineage := NewLineage()
	first := withChanges(&Ruleset{}, base, lineage)
	// A new chain in place of one of base's, and Changes naming nothing.
	edited := func(since uint64) *Ruleset {
		rs := &Ruleset{Table: base.Table, Chains: maps.Clone(base.Chains), Sets: base.Sets, Maps: base.Maps}
		name := slices.Sorted(maps.Keys(rs.Chains))[len(rs.Chains)/2]
		c := *rs.Chains[name]
		c.Rules = append(slices.Clone(c.Rules), Rule{Counter: true, Verdict: Verdict{Kind: VerdictDrop}})
		rs.Chains[name] = &c
		rs.Changes = &Changes{Lineage: lineage, Gen: since + 1, Since: since}
		return rs
	}
	for _, tc := range []struct {
		name    string
		since   uint64
		applied bool
	}{
		{"follows the last", first.Changes.Gen, false},
		{"follows another generation", first.Changes.Gen + 7, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, k := kernelApplier(t)
			if err := a.Apply(ctx, first); err != nil {
				t.Fatal(err)
			}
			rs := edited(tc.since)
			if err := a.Apply(ctx, rs); err != nil {
				t.Fatal(err)
			}
			got := k.st.dump() == mustDesired(t, rs).dump()
			if got != tc.applied {
				t.Errorf("the chain Changes did not name was applied: %v, want %v", got, tc.applied)
			}
		})
	}
}

// TestApplyReusedPointers: a ruleset whose objects are all the ones
// applied last time costs nothing: no operation, no build, no
// fingerprint, and an allocation count that does not grow with the
// ruleset.
func TestApplyReusedPointers(t *testing.T) {
	ctx := context.Background()
	rs := bigRuleset(1000, 10, 100_000)
	a, tr, reads := fakeApplier(t)
	if err := a.Apply(ctx, rs); err != nil {
		t.Fatal(err)
	}
	stats, built, hashed := a.Stats(), a.model.built, a.model.hashed
	// The same ruleset, and a new one holding the same objects.
	again := &Ruleset{Table: rs.Table, Chains: maps.Clone(rs.Chains), Sets: maps.Clone(rs.Sets), Maps: maps.Clone(rs.Maps)}
	for _, next := range []*Ruleset{rs, again} {
		if err := a.Apply(ctx, next); err != nil {
			t.Fatal(err)
		}
	}
	if got := a.Stats(); got != stats || len(tr.batches) != 1 || *reads != 1 {
		t.Errorf("stats %+v after %+v, %d batches, %d reads; want no change", got, stats, len(tr.batches), *reads)
	}
	if a.model.built != built || a.model.hashed != hashed {
		t.Errorf("%d objects built and %d chains fingerprinted again", a.model.built-built, a.model.hashed-hashed)
	}
	allocs := testing.AllocsPerRun(10, func() {
		if err := a.Apply(ctx, again); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 40 {
		t.Errorf("applying 1001 unchanged chains took %.0f allocations", allocs)
	}
}

// TestApplyOneElementOf100k: one element added to, removed from or
// replaced in a set of 100 000 is that element's message and nothing
// else, and costs no build from scratch.
func TestApplyOneElementOf100k(t *testing.T) {
	ctx := context.Background()
	rs := bigRuleset(10, 5, 100_000)
	replaced := func(rs *Ruleset, i int, addr string) *Ruleset {
		out := *rs
		out.Sets = maps.Clone(rs.Sets)
		s := *rs.Sets["big"]
		s.Elements = slices.Clone(s.Elements)
		s.Elements[i] = addrElems(addr)[0]
		out.Sets["big"] = &s
		return &out
	}
	a, tr, _ := fakeApplier(t)
	b, k := kernelApplier(t)
	for _, x := range []*Applier{a, b} {
		if err := x.Apply(ctx, rs); err != nil {
			t.Fatal(err)
		}
	}
	more := oneElementMore(rs)
	for _, step := range []struct {
		name string
		rs   *Ruleset
		msgs []string
	}{
		{"added", more, []string{"newsetelem"}},
		{"removed", rs, []string{"delsetelem"}},
		{"replaced", replaced(rs, 50_000, "192.0.2.7"), []string{"delsetelem", "newsetelem"}},
		{"replaced first", replaced(rs, 0, "192.0.2.8"), []string{"delsetelem", "newsetelem"}},
		{"back", rs, []string{"delsetelem", "newsetelem"}},
		{"same content, new objects", replaced(rs, 7, rs.Sets["big"].Elements[7].Prefix.Addr().String()), nil},
	} {
		t.Run(step.name, func(t *testing.T) {
			stats, built, hashed := a.Stats(), a.model.built, a.model.hashed
			batches := len(tr.batches)
			for _, x := range []*Applier{a, b} {
				if err := x.Apply(ctx, step.rs); err != nil {
					t.Fatal(err)
				}
			}
			var got []string
			if len(tr.batches) > batches {
				got = tr.batches[len(tr.batches)-1]
			}
			if diff := cmp.Diff(step.msgs, got); diff != "" {
				t.Errorf("messages (-want +got):\n%s", diff)
			}
			if ops := a.Stats().Ops - stats.Ops; ops != len(step.msgs) {
				t.Errorf("%d ops, want %d", ops, len(step.msgs))
			}
			if a.model.built != built || a.model.hashed != hashed {
				t.Errorf("%d objects built and %d chains fingerprinted", a.model.built-built, a.model.hashed-hashed)
			}
			want := mustDesired(t, step.rs).sets["big"].elems
			if got := k.st.sets["big"].elems; !slices.Equal(want, got) {
				t.Errorf("kernel has %d elements, not the %d of the set", len(got), len(want))
			}
		})
	}
}

// TestApplyEqualContentNewObjects: new objects with the content of the
// ones applied write nothing; chains are fingerprinted, not built.
func TestApplyEqualContentNewObjects(t *testing.T) {
	ctx := context.Background()
	a, tr, _ := fakeApplier(t)
	if err := a.Apply(ctx, representative()); err != nil {
		t.Fatal(err)
	}
	built, hashed := a.model.built, a.model.hashed
	rs := representative()
	if err := a.Apply(ctx, rs); err != nil {
		t.Fatal(err)
	}
	if len(tr.batches) != 1 {
		t.Errorf("equal content wrote: %v", tr.batches[1:])
	}
	if a.model.built != built {
		t.Errorf("%d objects built again", a.model.built-built)
	}
	if got := a.model.hashed - hashed; got != len(rs.Chains) {
		t.Errorf("%d chains fingerprinted, want all %d", got, len(rs.Chains))
	}
}

// TestApplyResyncRechecks: what an admin changes in the kernel goes
// unseen while the applier trusts its record, even for the objects it
// is handed again; after Resync, or after a failed Apply, the whole
// table is compared and repaired in one batch.
func TestApplyResyncRechecks(t *testing.T) {
	ctx := context.Background()
	rs := representative()
	a, k := kernelApplier(t)
	if err := a.Apply(ctx, rs); err != nil {
		t.Fatal(err)
	}
	tamper := func() {
		fwd := k.st.chains["forward"]
		fwd.rules = fwd.rules[1:]
		s := k.st.sets["all-ipv4"]
		s.elems = s.elems[1:]
		k.st.sets["junk"] = &setState{spec: setSpec{keyType: 7, keyLen: 4}}
		delete(k.st.chains, "pol-allow-web")
		delete(k.uses, "pol-allow-web")
	}
	repaired := func(t *testing.T, next *Ruleset) {
		t.Helper()
		batches, reads := k.batches, a.Stats().Reads
		if err := a.Apply(ctx, next); err != nil {
			t.Fatal(err)
		}
		if k.batches != batches+1 || a.Stats().Reads != reads+1 {
			t.Errorf("%d batches and %d reads, want 1 and 1", k.batches-batches, a.Stats().Reads-reads)
		}
		checkFakeKernel(t, a, k, next)
	}

	t.Run("resync", func(t *testing.T) {
		tamper()
		batches := k.batches
		if err := a.Apply(ctx, rs); err != nil {
			t.Fatal(err)
		}
		if k.batches != batches {
			t.Fatal("Apply without Resync wrote; it should trust its record")
		}
		a.Resync()
		repaired(t, rs)
	})
	t.Run("failed apply", func(t *testing.T) {
		next := share(rs, changed(changes[1].change))
		a.exec = func(context.Context, []op, *desired) (int, error) { return 0, errors.New("refused") }
		if err := a.Apply(ctx, next); err == nil {
			t.Fatal("no error")
		}
		a.exec = k.exec
		tamper()
		repaired(t, next)
	})
}

// TestApplyDependencyChanges: a chain or map is checked and built again
// when what it names changes, though it is the same object: a set's
// type, a chain's existence or kind, a map's existence.
func TestApplyDependencyChanges(t *testing.T) {
	ctx := context.Background()
	rs := &Ruleset{
		Table: "calico",
		Chains: map[string]*Chain{
			"fwd": {Base: &Hook{Hook: "forward"}, Rules: []Rule{{Verdict: Verdict{Kind: VerdictMap, Map: "m", Key: "oifname"}}}},
			"c":   {Rules: []Rule{{Match: []Match{{Kind: MatchSAddr, Set: "s"}}, Verdict: Verdict{Kind: VerdictJump, Chain: "x"}}}},
			"x":   {Rules: []Rule{{Counter: true}}},
		},
		Sets: map[string]*Set{"s": {Type: TypeIPv4Addr, Elements: addrElems("10.0.0.1")}},
		Maps: map[string]*Map{"m": {Type: TypeIfname, Elements: map[string]Verdict{"cali1": {Kind: VerdictJump, Chain: "c"}, "cali2": {Kind: VerdictGoto, Chain: "x"}}}},
	}
	edit := func(rs *Ruleset, f func(*Ruleset)) *Ruleset {
		out := &Ruleset{Table: rs.Table, Chains: maps.Clone(rs.Chains), Sets: maps.Clone(rs.Sets), Maps: maps.Clone(rs.Maps)}
		f(out)
		return out
	}
	a, k := kernelApplier(t)
	if err := a.Apply(ctx, rs); err != nil {
		t.Fatal(err)
	}
	v6 := edit(rs, func(rs *Ruleset) { rs.Sets["s"] = &Set{Type: TypeIPv6Addr, Elements: addrElems("fd00::1")} })
	if err := a.Apply(ctx, v6); err != nil {
		t.Fatal(err)
	}
	if slices.Equal(k.st.chains["c"].rules, mustDesired(t, rs).chains["c"].rules) {
		t.Error("chain c was not rewritten for the set's new type")
	}
	checkFakeKernel(t, a, k, v6)

	for _, tc := range []struct {
		name string
		edit func(*Ruleset)
		want []string
	}{
		{"jump target made a base chain", func(rs *Ruleset) { rs.Chains["x"] = &Chain{Base: &Hook{Hook: "input"}} },
			[]string{`chain "c" rule 0: jump/goto x: it is a base chain`, `map "m" element "cali2": goto x: it is a base chain`}},
		{"jump target removed", func(rs *Ruleset) { delete(rs.Chains, "x") },
			[]string{`chain "c" rule 0: jump/goto x: no such chain`, `map "m" element "cali2": goto x: no such chain`}},
		{"map removed", func(rs *Ruleset) { delete(rs.Maps, "m") }, []string{`vmap @m: no such map`}},
		{"set made a port set", func(rs *Ruleset) { rs.Sets["s"] = &Set{Type: TypeInetService} }, []string{"is not an address type"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			batches := k.batches
			err := a.Apply(ctx, edit(v6, tc.edit))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if k.batches != batches {
				t.Error("an invalid ruleset wrote")
			}
			// The applier still trusts its record of v6.
			if err := a.Apply(ctx, v6); err != nil || k.batches != batches {
				t.Errorf("back to the applied ruleset: %v, %d batches", err, k.batches-batches)
			}
		})
	}
}
