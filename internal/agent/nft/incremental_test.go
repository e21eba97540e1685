package nft

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// randomElement draws from a small key space, so that edits collide:
// duplicates, adjacent and nested prefixes, overlapping port ranges.
func randomElement(r *rand.Rand, t SetType, interval bool) Element {
	switch t {
	case TypeInetService:
		lo := uint16(r.IntN(64))
		hi := lo
		if interval && r.IntN(3) == 0 {
			hi += uint16(r.IntN(8))
		}
		return Element{Ports: PortRange{lo, hi}}
	default:
		a := netip.AddrFrom4([4]byte{10, 0, 0, byte(r.IntN(64))})
		bits := 32
		if interval && r.IntN(4) == 0 {
			bits = 28 + r.IntN(4)
		}
		return Element{Prefix: netip.PrefixFrom(a, bits).Masked()}
	}
}

// editElements returns a new list: els with a few random edits in one
// place or, now and then, scattered or wholesale.
func editElements(r *rand.Rand, els []Element, t SetType, interval bool) []Element {
	out := slices.Clone(els)
	edits := 1 + r.IntN(3)
	if r.IntN(10) == 0 {
		edits = 20
	}
	at := r.IntN(len(out) + 1)
	for range edits {
		if r.IntN(4) == 0 {
			at = r.IntN(len(out) + 1)
		}
		at = min(at, len(out))
		switch k := r.IntN(5); {
		case k < 2 || len(out) == 0:
			out = slices.Insert(out, at, randomElement(r, t, interval))
		case k == 2:
			out = slices.Delete(out, min(at, len(out)-1), min(at, len(out)-1)+1)
		case k == 3:
			out[min(at, len(out)-1)] = randomElement(r, t, interval)
		default: // a duplicate of some other element
			out = slices.Insert(out, at, out[r.IntN(len(out))])
		}
	}
	if r.IntN(20) == 0 {
		r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	}
	return out
}

func (s *setState) dump() string {
	st := emptyState()
	st.table = true
	st.sets["s"] = s
	return strings.ReplaceAll(st.dump(), " ", "\n")
}

// applyDelta is what the kernel does with a delta: deletes, then adds.
func applyDelta(t *testing.T, elems []elem, d *elemDelta) []elem {
	t.Helper()
	out := slices.Clone(elems)
	for _, e := range d.del {
		i, ok := slices.BinarySearchFunc(out, e, compareElems)
		if !ok {
			t.Fatalf("delta deletes %v, which is not there", e)
		}
		out = slices.Delete(out, i, i+1)
	}
	for _, e := range d.add {
		i, ok := slices.BinarySearchFunc(out, e, compareElems)
		if ok {
			t.Fatalf("delta adds %v, which is there", e)
		}
		out = slices.Insert(out, i, e)
	}
	return out
}

// TestUpdateSetMatchesBuild: a set updated from the one it replaces, over
// many random edits, always has the state built from scratch, and its
// delta takes the kernel from the old elements to the new.
func TestUpdateSetMatchesBuild(t *testing.T) {
	for _, tc := range []struct {
		typ      SetType
		interval bool
		sorted   bool // elements kept sorted, as the policy calculator keeps them
	}{
		{TypeIPv4Addr, false, false}, {TypeIPv4Addr, true, false}, {TypeInetService, false, false}, {TypeInetService, true, false},
		{TypeIPv4Addr, false, true}, {TypeIPv4Addr, true, true}, {TypeInetService, true, true},
	} {
		seed := uint64(time.Now().UnixNano())
		t.Run(fmt.Sprintf("%s interval=%v sorted=%v seed=%d", setTypeName(tc.typ), tc.interval, tc.sorted, seed), func(t *testing.T) {
			sortElements := func(els []Element) {
				if tc.sorted {
					fam := addrFamily(tc.typ)
					slices.SortStableFunc(els, func(a, b Element) int {
						sa, _ := elementSpan(tc.typ, tc.interval, fam, a)
						sb, _ := elementSpan(tc.typ, tc.interval, fam, b)
						return sa.compare(sb)
					})
				}
			}
			r := rand.New(rand.NewPCG(seed, seed))
			m := newModel()
			var els []Element
			for range 30 {
				els = append(els, randomElement(r, tc.typ, tc.interval))
			}
			updated := 0
			for step := range 400 {
				s := &Set{Type: tc.typ, Interval: tc.interval, Elements: els}
				rs := &Ruleset{Table: "calico", Sets: map[string]*Set{"s": s}}
				var before []elem
				if e := m.sets["s"]; e != nil {
					before = slices.Clone(e.state.elems)
				}
				built := m.built
				ch, err := m.build(rs)
				if err != nil {
					t.Fatalf("step %d: %v", step, err)
				}
				d := ch.deltas["s"]
				m.commit(ch)
				if m.built == built {
					updated++
				}
				e := m.sets["s"]
				want, wantRaw, err := buildSet("s", s)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(want.elems, e.state.elems) {
					t.Fatalf("step %d: elements differ from a build from scratch (-want +got):\n%s", step,
						cmp.Diff(want.dump(), e.state.dump()))
				}
				if !slices.Equal(wantRaw, e.raw) {
					t.Fatalf("step %d: spans differ from a build from scratch", step)
				}
				if step > 0 && d != nil {
					if got := applyDelta(t, before, d); !slices.Equal(got, e.state.elems) {
						t.Fatalf("step %d: the delta does not lead to the new elements", step)
					}
				}
				if step > 0 && d == nil && m.built == built && !slices.Equal(before, e.state.elems) {
					t.Fatalf("step %d: elements changed without a delta", step)
				}
				els = editElements(r, els, tc.typ, tc.interval)
				sortElements(els)
			}
			if updated < 200 {
				t.Errorf("only %d of 400 steps updated the set in place", updated)
			}
		})
	}
}

// TestUpdateMapMatchesBuild: likewise for a verdict map.
func TestUpdateMapMatchesBuild(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, seed))
	rs := &Ruleset{Table: "calico", Chains: map[string]*Chain{}, Maps: map[string]*Map{}}
	for i := range 8 {
		rs.Chains[fmt.Sprintf("c%d", i)] = &Chain{}
	}
	m := newModel()
	els := map[string]Verdict{}
	updated := 0
	for step := range 300 {
		next := make(map[string]Verdict, len(els))
		for k, v := range els {
			next[k] = v
		}
		for range 1 + r.IntN(3) {
			k := fmt.Sprintf("cali%d", r.IntN(40))
			switch r.IntN(3) {
			case 0:
				delete(next, k)
			default:
				kind := VerdictJump
				if r.IntN(2) == 0 {
					kind = VerdictGoto
				}
				next[k] = Verdict{Kind: kind, Chain: fmt.Sprintf("c%d", r.IntN(8))}
			}
		}
		els = next
		mp := &Map{Type: TypeIfname, Elements: els}
		rs = &Ruleset{Table: "calico", Chains: rs.Chains, Maps: map[string]*Map{"m": mp}}
		var before []elem
		if e := m.maps["m"]; e != nil {
			before = slices.Clone(e.state.elems)
		}
		built := m.built
		ch, err := m.build(rs)
		if err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		d := ch.deltas["m"]
		m.commit(ch)
		if m.built == built {
			updated++
		}
		want, err := buildMap(rs, "m", mp)
		if err != nil {
			t.Fatal(err)
		}
		got := m.maps["m"].state.elems
		if !slices.Equal(want.elems, got) {
			t.Fatalf("step %d: elements differ from a build from scratch", step)
		}
		if d != nil && !slices.Equal(applyDelta(t, before, d), got) {
			t.Fatalf("step %d: the delta does not lead to the new elements", step)
		}
	}
	if updated < 150 {
		t.Errorf("only %d of 300 steps updated the map in place", updated)
	}
}

func TestPatchSorted(t *testing.T) {
	cmpInt := func(a, b int) int { return a - b }
	for _, tc := range []struct {
		base, del, add, want []int
		ok                   bool
	}{
		{[]int{1, 3, 5}, nil, []int{0, 4, 9}, []int{0, 1, 3, 4, 5, 9}, true},
		{[]int{1, 3, 5}, []int{1, 5}, []int{2}, []int{2, 3}, true},
		{[]int{1, 3, 3, 5}, []int{3}, []int{3, 3}, []int{1, 3, 3, 3, 5}, true},
		{[]int{1, 3}, []int{2}, nil, nil, false},
	} {
		got, ok := patchSorted(tc.base, tc.del, tc.add, cmpInt)
		if ok != tc.ok || !slices.Equal(got, tc.want) {
			t.Errorf("patchSorted(%v, -%v, +%v) = %v, %v; want %v, %v", tc.base, tc.del, tc.add, got, ok, tc.want, tc.ok)
		}
	}
}
