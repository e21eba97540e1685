package selector

import "testing"

// fuzzLabels are label sets used to check that re-parsing the canonical
// form keeps the meaning. Fuzzed selectors most often name short labels.
var fuzzLabels = []labelMap{
	{},
	{"a": "x"},
	{"a": "", "b": "y"},
	{"a": "y", "b": "x", "c": "z"},
	{"a": `"`, "b": "'", "in": "x", "has": ""},
}

func FuzzParse(f *testing.F) {
	for _, tc := range parseCases {
		f.Add(tc.sel)
	}
	for _, s := range []string{
		"a == 'x' &&", "(((", `a in {"x",}`, "!!!!", "has(a)||!has(b)&&c notin{}",
		`a == '"' || b == "'"`, "\ta\tcontains\t''", "a startswithx 'y'",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sel, err := Parse(s)
		if (err == nil) != (Validate(s) == nil) {
			t.Fatalf("Parse and Validate disagree on %q", s)
		}
		if err != nil {
			if _, ok := err.(*SyntaxError); !ok {
				t.Fatalf("Parse(%q) error %T, want *SyntaxError", s, err)
			}
			return
		}
		again, err := Parse(sel.String())
		if err != nil {
			t.Fatalf("Parse(%q) ok, but its canonical form %q fails: %v", s, sel.String(), err)
		}
		if again.String() != sel.String() {
			t.Fatalf("canonical form of %q not stable: %q then %q", s, sel.String(), again.String())
		}
		for _, l := range fuzzLabels {
			if sel.Evaluate(l) != again.Evaluate(l) {
				t.Fatalf("%q and its canonical form %q disagree on %v", s, sel.String(), l)
			}
		}
	})
}

func FuzzParseLabelQuery(f *testing.F) {
	for _, s := range []string{
		"", "a=x", "a==x,b!=y", "a in (x,y),!b", "c notin (),d", "app.kubernetes.io/name=web", "a in (x,y",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sel, err := ParseLabelQuery(s)
		if err != nil {
			return
		}
		again, err := Parse(sel.String())
		if err != nil {
			t.Fatalf("ParseLabelQuery(%q) gave %q, which fails to parse: %v", s, sel.String(), err)
		}
		if again.String() != sel.String() {
			t.Fatalf("canonical form of %q not stable: %q then %q", s, sel.String(), again.String())
		}
	})
}
