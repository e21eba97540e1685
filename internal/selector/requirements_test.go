package selector

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRequirements(t *testing.T) {
	anyValue := func(k string) Requirement { return Requirement{Key: k} }
	vals := func(k string, vs ...string) Requirement {
		return Requirement{Key: k, Values: append([]string{}, vs...)}
	}
	for _, tc := range []struct {
		sel  string
		want []Requirement
	}{
		{"all()", nil},
		{"global()", nil},
		{"!all()", nil},
		{"has(a)", []Requirement{anyValue("a")}},
		{"!has(a)", nil},
		{"a == 'x'", []Requirement{vals("a", "x")}},
		{"a != 'x'", nil},
		{"!(a != 'x')", []Requirement{vals("a", "x")}},
		{"a in {'y', 'x'}", []Requirement{vals("a", "x", "y")}},
		{"a in {}", []Requirement{vals("a")}},
		{"a not in {'x'}", nil},
		{"!(a not in {'x', 'y'})", []Requirement{vals("a", "x", "y")}},
		{"a contains 'x'", []Requirement{anyValue("a")}},
		{"a starts with 'x'", []Requirement{anyValue("a")}},
		{"a ends with 'x'", []Requirement{anyValue("a")}},
		{"!(a contains 'x')", nil},
		{"a == 'x' && b != 'y' && has(c)", []Requirement{vals("a", "x"), anyValue("c")}},
		{"has(a) && a in {'x', 'y'} && a != 'y'", []Requirement{vals("a", "x", "y")}},
		{"a == 'x' && a == 'y'", []Requirement{vals("a")}},
		{"a in {'x', 'y'} && a in {'y', 'z'}", []Requirement{vals("a", "y")}},
		{"a == 'x' || a == 'y'", []Requirement{vals("a", "x", "y")}},
		{"a == 'x' || has(a)", []Requirement{anyValue("a")}},
		{"a == 'x' || b == 'y'", nil},
		{"(a == 'x' && b == 'y') || (a == 'z' && has(c))", []Requirement{vals("a", "x", "z")}},
		{"!(!has(a) || b != 'y')", []Requirement{anyValue("a"), vals("b", "y")}},
		{"!(a == 'x' && b == 'y')", nil},
		{"!(a != 'x' || !has(b))", []Requirement{vals("a", "x"), anyValue("b")}},
		{"(a == 'x' || all()) && b == 'y'", []Requirement{vals("b", "y")}},
	} {
		t.Run(tc.sel, func(t *testing.T) {
			sel, err := Parse(tc.sel)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, Requirements(sel)); diff != "" {
				t.Errorf("Requirements(%q) (-want +got):\n%s", tc.sel, diff)
			}
		})
	}
}

func TestLabelKeys(t *testing.T) {
	for _, tc := range []struct {
		sel  string
		want []string
	}{
		{"all()", nil},
		{"has(b) && a == 'x'", []string{"a", "b"}},
		{"!(a in {'x'} || a not in {}) && c contains 'x' || d starts with 'y' || e ends with 'z' || f != 'q' || b == 'y'",
			[]string{"a", "b", "c", "d", "e", "f"}},
	} {
		sel, err := Parse(tc.sel)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tc.want, LabelKeys(sel)); diff != "" {
			t.Errorf("LabelKeys(%q) (-want +got):\n%s", tc.sel, diff)
		}
	}
}

// randomSelector builds a selector over labels a-c and values x-z, small
// enough that random label sets often match.
func randomSelector(r *rand.Rand, depth int) string {
	key := string(rune('a' + r.IntN(3)))
	val := func() string { return fmt.Sprintf("%q", string(rune('x'+r.IntN(3)))) }
	if depth > 0 && r.IntN(3) == 0 {
		op := " && "
		if r.IntN(2) == 0 {
			op = " || "
		}
		return "(" + randomSelector(r, depth-1) + op + randomSelector(r, depth-1) + ")"
	}
	switch r.IntN(11) {
	case 0:
		return "has(" + key + ")"
	case 1:
		return key + " == " + val()
	case 2:
		return key + " != " + val()
	case 3:
		return key + " in {" + val() + ", " + val() + "}"
	case 4:
		return key + " not in {" + val() + "}"
	case 5:
		return key + " contains " + val()
	case 6:
		return "!" + randomSelector(r, depth)
	case 7:
		return key + " in {}"
	case 8:
		return "all()"
	case 9:
		return key + " starts with " + val()
	default:
		return key + " ends with " + val()
	}
}

func randomLabels(r *rand.Rand) map[string]string {
	l := map[string]string{}
	for _, k := range []string{"a", "b", "c", "d"} {
		if r.IntN(2) == 0 {
			l[k] = string(rune('x' + r.IntN(3)))
		}
	}
	return l
}

// TestRequirementsSound checks on random selectors that every label set a
// selector matches meets its Requirements, and that changing a label
// outside LabelKeys never changes the result.
func TestRequirementsSound(t *testing.T) {
	for seed := range uint64(5) {
		r := rand.New(rand.NewPCG(seed, 1))
		for range 2000 {
			src := randomSelector(r, 3)
			sel, err := Parse(src)
			if err != nil {
				t.Fatalf("Parse(%q): %v", src, err)
			}
			reqs, keys := Requirements(sel), LabelKeys(sel)
			for range 20 {
				l := randomLabels(r)
				if sel.Evaluate(l) {
					for _, req := range reqs {
						v, ok := l[req.Key]
						if !ok || (req.Values != nil && !slices.Contains(req.Values, v)) {
							t.Fatalf("%q matches %v but not its requirement %+v", sel, l, req)
						}
					}
				}
				before := sel.Evaluate(l)
				for k := range l {
					if !slices.Contains(keys, k) {
						delete(l, k)
					}
				}
				if sel.Evaluate(l) != before {
					t.Fatalf("%q: result changed when dropping labels outside %v", sel, keys)
				}
			}
		}
	}
}

// FuzzRequirements checks Requirements and LabelKeys on arbitrary
// selectors against the fixed label sets of FuzzParse.
func FuzzRequirements(f *testing.F) {
	for _, tc := range parseCases {
		f.Add(tc.sel)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sel, err := Parse(s)
		if err != nil {
			return
		}
		reqs, keys := Requirements(sel), LabelKeys(sel)
		for _, l := range fuzzLabels {
			if !sel.Evaluate(l) {
				continue
			}
			for _, req := range reqs {
				if v, ok := l[req.Key]; !ok || (req.Values != nil && !slices.Contains(req.Values, v)) {
					t.Fatalf("%q matches %v but not its requirement %+v", sel, l, req)
				}
			}
			if !sel.Evaluate(onlyKeys(l, keys)) {
				t.Fatalf("%q: result changed when dropping labels outside %v", sel, keys)
			}
		}
	})
}

func onlyKeys(l map[string]string, keys []string) map[string]string {
	out := map[string]string{}
	for _, k := range keys {
		if v, ok := l[k]; ok {
			out[k] = v
		}
	}
	return out
}
