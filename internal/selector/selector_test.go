package selector

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type labelMap = map[string]string

var (
	noLabels = labelMap{}
	aX       = labelMap{"a": "x"}
	aY       = labelMap{"a": "y"}
	aEmpty   = labelMap{"a": ""}
	bY       = labelMap{"b": "y"}
)

// parseCases are valid selectors with their canonical form and label sets
// they must and must not match.
var parseCases = []struct {
	name, sel, want string
	match, noMatch  []labelMap
}{
	// Empty selector and the constant terms.
	{"empty", "", "all()", []labelMap{noLabels, aX}, nil},
	{"blank", " \t ", "all()", []labelMap{noLabels}, nil},
	{"all", "all()", "all()", []labelMap{noLabels, aX}, nil},
	{"all inner blank", "all( \t)", "all()", []labelMap{noLabels}, nil},
	{"global", "global()", "global()", []labelMap{noLabels, aX}, nil},
	{"not all", "!all()", "!all()", nil, []labelMap{noLabels, aX}},

	// has() and the missing-label rules.
	{"has", "has(a)", "has(a)", []labelMap{aX, aEmpty}, []labelMap{noLabels, bY}},
	{"has inner blanks", "has( \ta )", "has(a)", []labelMap{aX}, []labelMap{noLabels}},
	{"not has", "!has(a)", "!has(a)", []labelMap{noLabels, bY}, []labelMap{aX, aEmpty}},
	{"eq", "a == 'x'", `a == "x"`, []labelMap{aX}, []labelMap{aY, aEmpty, noLabels}},
	{"eq no blanks", `a=="x"`, `a == "x"`, []labelMap{aX}, []labelMap{aY}},
	{"eq empty string", `a == ""`, `a == ""`, []labelMap{aEmpty}, []labelMap{noLabels, aX}},
	{"eq case sensitive", `a == "X"`, `a == "X"`, nil, []labelMap{aX}},
	{"ne", `a != "x"`, `a != "x"`, []labelMap{aY, aEmpty, noLabels}, []labelMap{aX}},
	{"contains", `a contains "b"`, `a contains "b"`, []labelMap{{"a": "abc"}, {"a": "b"}}, []labelMap{{"a": "xyz"}, noLabels}},
	{"contains empty", `a contains ""`, `a contains ""`, []labelMap{aEmpty, aX}, []labelMap{noLabels}},
	{"contains no blank", `a contains"b"`, `a contains "b"`, []labelMap{{"a": "b"}}, nil},
	{"starts with", `a starts with "ab"`, `a starts with "ab"`, []labelMap{{"a": "abc"}, {"a": "ab"}}, []labelMap{{"a": "cab"}, {"a": "AB"}, noLabels}},
	{"startswith", `a startswith "ab"`, `a starts with "ab"`, []labelMap{{"a": "abc"}}, nil},
	{"starts tab with", "a starts\t with 'ab'", `a starts with "ab"`, []labelMap{{"a": "abc"}}, nil},
	{"ends with", `a ends with "bc"`, `a ends with "bc"`, []labelMap{{"a": "abc"}}, []labelMap{{"a": "bcd"}, noLabels}},
	{"endswith", `a endswith "bc"`, `a ends with "bc"`, []labelMap{{"a": "abc"}}, nil},

	// Sets.
	{"in", `a in {"x","y"}`, `a in {"x", "y"}`, []labelMap{aX, aY}, []labelMap{{"a": "z"}, aEmpty, noLabels}},
	{"in sorted dedup trailing comma", `a in {'y', "x", 'x',}`, `a in {"x", "y"}`, []labelMap{aX, aY}, nil},
	{"in empty set", `a in {}`, `a in {}`, nil, []labelMap{aX, aEmpty, noLabels}},
	{"in empty set blanks", "a in { \t }", `a in {}`, nil, []labelMap{aX}},
	{"in empty string", `a in {""}`, `a in {""}`, []labelMap{aEmpty}, []labelMap{aX, noLabels}},
	{"in no blank", `a in{"x"}`, `a in {"x"}`, []labelMap{aX}, nil},
	{"not in", `a not in {"x"}`, `a not in {"x"}`, []labelMap{aY, aEmpty, noLabels}, []labelMap{aX}},
	{"notin", `a notin {"x"}`, `a not in {"x"}`, []labelMap{aY, noLabels}, []labelMap{aX}},
	{"not in tab", "a not\tin {'x'}", `a not in {"x"}`, []labelMap{aY}, []labelMap{aX}},
	{"not in empty set", `a not in {}`, `a not in {}`, []labelMap{aX, aEmpty, noLabels}, nil},
	{"in large set", `a in {"1","2","3","4","5","6","7","8","9","x","10"}`,
		`a in {"1", "10", "2", "3", "4", "5", "6", "7", "8", "9", "x"}`,
		[]labelMap{aX, {"a": "10"}}, []labelMap{aY, {"a": "11"}, noLabels}},

	// Precedence and grouping.
	{"and binds tighter than or", `a == "x" || b == "y" && c == "z"`, `a == "x" || b == "y" && c == "z"`,
		[]labelMap{aX, {"b": "y", "c": "z"}}, []labelMap{bY, {"c": "z"}, noLabels}},
	{"parens override", `(a == "x" || b == "y") && c == "z"`, `(a == "x" || b == "y") && c == "z"`,
		[]labelMap{{"a": "x", "c": "z"}, {"b": "y", "c": "z"}}, []labelMap{aX, {"c": "z"}}},
	{"redundant parens dropped", `(a == "x" && b == "y") || c == "z"`, `a == "x" && b == "y" || c == "z"`,
		[]labelMap{{"a": "x", "b": "y"}, {"c": "z"}}, []labelMap{aX}},
	{"nested parens", `((a == "x"))`, `a == "x"`, []labelMap{aX}, []labelMap{aY}},
	{"and chain flattened", `a == "x" && (b == "y" && (c == "z"))`, `a == "x" && b == "y" && c == "z"`,
		[]labelMap{{"a": "x", "b": "y", "c": "z"}}, []labelMap{{"a": "x", "b": "y"}}},
	{"or chain flattened", `(a == "x" || b == "y") || c == "z"`, `a == "x" || b == "y" || c == "z"`,
		[]labelMap{aX, bY, {"c": "z"}}, []labelMap{noLabels}},
	{"not binds tighter than and", `!a == "x" && has(b)`, `!a == "x" && has(b)`,
		[]labelMap{bY, {"a": "y", "b": "y"}}, []labelMap{{"a": "x", "b": "y"}, noLabels}},
	{"not of group", `!(a == "x" && b == "y")`, `!(a == "x" && b == "y")`,
		[]labelMap{aX, bY, noLabels}, []labelMap{{"a": "x", "b": "y"}}},
	{"not of or group", `!(has(a) || has(b))`, `!(has(a) || has(b))`, []labelMap{noLabels}, []labelMap{aX, bY}},
	{"not eq missing", `!a == "x"`, `!a == "x"`, []labelMap{aY, noLabels}, []labelMap{aX}},
	{"not in set missing", `!a in {"x"}`, `!a in {"x"}`, []labelMap{aY, noLabels}, []labelMap{aX}},
	{"double not", `!!a == "x"`, `a == "x"`, []labelMap{aX}, []labelMap{aY, noLabels}},
	{"triple not", `!!!has(a)`, `!has(a)`, []labelMap{noLabels}, []labelMap{aX}},
	{"spaced nots", "! !\t! ! has(a)", `has(a)`, []labelMap{aX}, []labelMap{noLabels}},
	{"not of negated group", `!(!has(a))`, `has(a)`, []labelMap{aX}, []labelMap{noLabels}},
	{"all in expression", `all() && a == "x" || global()`, `all() && a == "x" || global()`, []labelMap{noLabels}, nil},

	// Quoting and whitespace.
	{"double quote in single quotes", `a == '"q"'`, `a == '"q"'`, []labelMap{{"a": `"q"`}}, []labelMap{{"a": "q"}}},
	{"single quote in double quotes", `a == "it's"`, `a == "it's"`, []labelMap{{"a": "it's"}}, nil},
	{"set mixed quotes", `a in {'"', "'"}`, `a in {'"', "'"}`, []labelMap{{"a": `"`}, {"a": "'"}}, []labelMap{aX}},
	{"no escapes", `a == "x\"`, `a == "x\"`, []labelMap{{"a": `x\`}}, nil},
	{"string keeps blanks and unicode", "a == ' x\ty ✓ '", "a == \" x\ty ✓ \"", []labelMap{{"a": " x\ty ✓ "}}, nil},
	{"string may hold operators", `a == "b == 'c' && (d)"`, `a == "b == 'c' && (d)"`, []labelMap{{"a": "b == 'c' && (d)"}}, nil},
	{"tabs everywhere", "\ta\t==\t'x'\t&&\thas(b)\t", `a == "x" && has(b)`, []labelMap{{"a": "x", "b": ""}}, []labelMap{aX}},
	{"no blanks at all", `!has(a)&&b!='y'||(c=="z")`, `!has(a) && b != "y" || c == "z"`, []labelMap{noLabels, {"a": "1", "c": "z"}}, []labelMap{bY}},

	// Label names and keyword boundaries.
	{"label inx", `inx == "1"`, `inx == "1"`, []labelMap{{"inx": "1"}}, nil},
	{"label contains2", `contains2 contains "2"`, `contains2 contains "2"`, []labelMap{{"contains2": "12"}}, nil},
	{"label in", `in == "x"`, `in == "x"`, []labelMap{{"in": "x"}}, nil},
	{"label not", `not in {"x"}`, `not in {"x"}`, []labelMap{{"not": "x"}}, []labelMap{noLabels}},
	{"label notin", `notin not in {"x"}`, `notin not in {"x"}`, []labelMap{noLabels}, []labelMap{{"notin": "x"}}},
	{"label has", `has == "x"`, `has == "x"`, []labelMap{{"has": "x"}}, nil},
	{"label all", `all == "x" && global != "y"`, `all == "x" && global != "y"`, []labelMap{{"all": "x"}}, nil},
	{"label all dot", `all.x == "y"`, `all.x == "y"`, []labelMap{{"all.x": "y"}}, nil},
	{"has of keyword", `has(all) && has(in)`, `has(all) && has(in)`, []labelMap{{"all": "", "in": ""}}, []labelMap{{"all": ""}}},
	{"calico label", `projectcalico.org/namespace == "ns1"`, `projectcalico.org/namespace == "ns1"`,
		[]labelMap{{"projectcalico.org/namespace": "ns1"}}, nil},
	{"label odd chars", `-0a.B/c_d- == "v"`, `-0a.B/c_d- == "v"`, []labelMap{{"-0a.B/c_d-": "v"}}, nil},
	{"longest label", strings.Repeat("k", MaxLabelLength) + ` == "v"`, strings.Repeat("k", MaxLabelLength) + ` == "v"`,
		[]labelMap{{strings.Repeat("k", MaxLabelLength): "v"}}, nil},
}

func TestParseEvaluate(t *testing.T) {
	for _, tc := range parseCases {
		t.Run(tc.name, func(t *testing.T) {
			sel, err := Parse(tc.sel)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.sel, err)
			}
			if err := Validate(tc.sel); err != nil {
				t.Errorf("Validate(%q): %v", tc.sel, err)
			}
			if diff := cmp.Diff(tc.want, sel.String()); diff != "" {
				t.Errorf("Parse(%q).String() (-want +got):\n%s", tc.sel, diff)
			}
			for _, l := range tc.match {
				if !sel.Evaluate(l) {
					t.Errorf("%s: Evaluate(%v) = false, want true", sel, l)
				}
				if !sel.EvaluateLabels(mapLabels(l)) {
					t.Errorf("%s: EvaluateLabels(%v) = false, want true", sel, l)
				}
			}
			for _, l := range tc.noMatch {
				if sel.Evaluate(l) {
					t.Errorf("%s: Evaluate(%v) = true, want false", sel, l)
				}
				if sel.EvaluateLabels(mapLabels(l)) {
					t.Errorf("%s: EvaluateLabels(%v) = true, want false", sel, l)
				}
			}
		})
	}
}

func TestEvaluateNilMap(t *testing.T) {
	sel, err := Parse(`a != "x" && !has(b)`)
	if err != nil {
		t.Fatal(err)
	}
	if !sel.Evaluate(nil) {
		t.Errorf("%s: Evaluate(nil) = false, want true", sel)
	}
}

// TestCanonicalRoundTrip checks that the canonical form is a fixed point
// and keeps both the identity and the meaning.
func TestCanonicalRoundTrip(t *testing.T) {
	for _, tc := range parseCases {
		t.Run(tc.name, func(t *testing.T) {
			sel, err := Parse(tc.sel)
			if err != nil {
				t.Fatal(err)
			}
			again, err := Parse(sel.String())
			if err != nil {
				t.Fatalf("Parse(%q): %v", sel.String(), err)
			}
			if diff := cmp.Diff(sel.String(), again.String()); diff != "" {
				t.Errorf("canonical form not stable (-first +second):\n%s", diff)
			}
			if sel.UniqueID() != again.UniqueID() {
				t.Errorf("UniqueID changed: %s vs %s", sel.UniqueID(), again.UniqueID())
			}
			for _, l := range append(tc.match, tc.noMatch...) {
				if sel.Evaluate(l) != again.Evaluate(l) {
					t.Errorf("Evaluate(%v) differs after round trip", l)
				}
			}
		})
	}
}

func TestEquivalentSpellingsShareIdentity(t *testing.T) {
	groups := [][]string{
		{"", "all()", " all( ) "},
		{`a == "x"`, "a=='x'", "(a == 'x')", "!!a == \"x\"", "\ta ==\t'x'"},
		{`a in {"x", "y"}`, `a in {'y','x'}`, `a in {"x","y","x",}`},
		{`a not in {"x"}`, `a notin {'x'}`, "a not\t in {\"x\"}"},
		{`a == "1" && b == "2" && c == "3"`, `(a == "1" && b == "2") && c == "3"`, `a == "1" && (b == "2" && c == "3")`},
	}
	for _, g := range groups {
		first, err := Parse(g[0])
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range g[1:] {
			sel, err := Parse(s)
			if err != nil {
				t.Fatal(err)
			}
			if sel.String() != first.String() || sel.UniqueID() != first.UniqueID() {
				t.Errorf("Parse(%q) = %s (%s), want %s (%s)", s, sel, sel.UniqueID(), first, first.UniqueID())
			}
		}
	}
	a, _ := Parse(`a == "x"`)
	b, _ := Parse(`a == "y"`)
	if a.UniqueID() == b.UniqueID() {
		t.Errorf("different selectors share UniqueID %s", a.UniqueID())
	}
}

// layered is a Labels that looks in own labels first, then inherited ones.
type layered struct{ own, inherited map[string]string }

func (l layered) Get(k string) (string, bool) {
	if v, ok := l.own[k]; ok {
		return v, true
	}
	v, ok := l.inherited[k]
	return v, ok
}

func TestEvaluateLabelsLayered(t *testing.T) {
	sel, err := Parse(`app == "web" && pcns.env == "prod"`)
	if err != nil {
		t.Fatal(err)
	}
	l := layered{own: labelMap{"app": "web"}, inherited: labelMap{"pcns.env": "prod", "app": "db"}}
	if !sel.EvaluateLabels(l) {
		t.Errorf("%s: EvaluateLabels(%+v) = false, want true", sel, l)
	}
	l.own = labelMap{}
	if sel.EvaluateLabels(l) {
		t.Errorf("%s: EvaluateLabels(%+v) = true, want false", sel, l)
	}
}

func TestEvaluateDoesNotAllocate(t *testing.T) {
	labels := labelMap{"a": "x", "b": "y", "c": "zzz"}
	for _, s := range []string{
		`a == "x" && b != "q" || !has(d)`,
		`a in {"1","2","3","4","5","6","7","8","9","x"} && c contains "z"`,
		`c starts with "z" && c ends with "z" && a not in {"q"}`,
	} {
		sel, err := Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(100, func() { sel.Evaluate(labels) }); n != 0 {
			t.Errorf("%s: Evaluate allocates %v times, want 0", sel, n)
		}
		var l Labels = layered{own: labels} // convert once: the conversion itself allocates
		if n := testing.AllocsPerRun(100, func() { sel.EvaluateLabels(l) }); n != 0 {
			t.Errorf("%s: EvaluateLabels allocates %v times, want 0", sel, n)
		}
	}
}

func TestUsesGlobal(t *testing.T) {
	tests := []struct {
		sel  string
		want bool
	}{
		{"global()", true},
		{"!global()", true},
		{`has(a) && (b == "x" || global())`, true},
		{"all()", false},
		{`global == "x" && has(global)`, false},
		{"", false},
	}
	for _, tc := range tests {
		sel, err := Parse(tc.sel)
		if err != nil {
			t.Fatal(err)
		}
		if got := UsesGlobal(sel); got != tc.want {
			t.Errorf("UsesGlobal(%q) = %v, want %v", tc.sel, got, tc.want)
		}
	}
}
