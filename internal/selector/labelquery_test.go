package selector

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseLabelQuery(t *testing.T) {
	tests := []struct {
		name, query, want string
		match, noMatch    []labelMap
	}{
		{"empty", "", "all()", []labelMap{noLabels, aX}, nil},
		{"blank", "  ", "all()", []labelMap{noLabels}, nil},
		{"equals", "a=x", `a == "x"`, []labelMap{aX}, []labelMap{aY, noLabels}},
		{"double equals", "a==x", `a == "x"`, []labelMap{aX}, []labelMap{aY}},
		{"equals blanks", " a = x ", `a == "x"`, []labelMap{aX}, nil},
		{"equals empty value", "a=", `a == ""`, []labelMap{aEmpty}, []labelMap{aX, noLabels}},
		{"not equals", "a!=x", `a != "x"`, []labelMap{aY, noLabels}, []labelMap{aX}},
		{"exists", "a", "has(a)", []labelMap{aX, aEmpty}, []labelMap{noLabels}},
		{"not exists", "!a", "!has(a)", []labelMap{noLabels}, []labelMap{aX}},
		{"not exists blank", "! a", "!has(a)", []labelMap{noLabels}, []labelMap{aX}},
		{"in", "a in (y,x)", `a in {"x", "y"}`, []labelMap{aX, aY}, []labelMap{{"a": "z"}, noLabels}},
		{"in blanks", "a in ( x , y )", `a in {"x", "y"}`, []labelMap{aX}, nil},
		{"in no blank", "a in(x)", `a in {"x"}`, []labelMap{aX}, nil},
		{"in empty member", "a in (x,)", `a in {"", "x"}`, []labelMap{aX, aEmpty}, []labelMap{noLabels}},
		{"notin", "a notin (x)", `a not in {"x"}`, []labelMap{aY, noLabels}, []labelMap{aX}},
		{"comma is and", "a=x,b,c notin (z),!d", `a == "x" && has(b) && c not in {"z"} && !has(d)`,
			[]labelMap{{"a": "x", "b": ""}}, []labelMap{aX, {"a": "x", "b": "", "c": "z"}, {"a": "x", "b": "", "d": ""}}},
		{"in with comma then more", "a in (x,y),b=y", `a in {"x", "y"} && b == "y"`, []labelMap{{"a": "y", "b": "y"}}, []labelMap{aY}},
		{"prefixed key", "app.kubernetes.io/name=web", `app.kubernetes.io/name == "web"`,
			[]labelMap{{"app.kubernetes.io/name": "web"}}, nil},
		{"key named in", "in=x", `in == "x"`, []labelMap{{"in": "x"}}, nil},
		{"key named notin", "notin in (x)", `notin in {"x"}`, []labelMap{{"notin": "x"}}, nil},
		{"value with dots", "v=1.2_3-a", `v == "1.2_3-a"`, []labelMap{{"v": "1.2_3-a"}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sel, err := ParseLabelQuery(tc.query)
			if err != nil {
				t.Fatalf("ParseLabelQuery(%q): %v", tc.query, err)
			}
			if diff := cmp.Diff(tc.want, sel.String()); diff != "" {
				t.Errorf("ParseLabelQuery(%q).String() (-want +got):\n%s", tc.query, diff)
			}
			for _, l := range tc.match {
				if !sel.Evaluate(l) {
					t.Errorf("%s: Evaluate(%v) = false, want true", sel, l)
				}
			}
			for _, l := range tc.noMatch {
				if sel.Evaluate(l) {
					t.Errorf("%s: Evaluate(%v) = true, want false", sel, l)
				}
			}
			again, err := Parse(sel.String())
			if err != nil {
				t.Fatalf("Parse(%q): %v", sel.String(), err)
			}
			if again.UniqueID() != sel.UniqueID() {
				t.Errorf("Parse(%q) has a different UniqueID", sel.String())
			}
		})
	}
}

func TestParseLabelQueryErrors(t *testing.T) {
	tests := []struct{ name, query, want string }{
		{"empty term", "a=x,,b",
			`label query "a=x,,b": term "": empty term`},
		{"trailing comma", "a=x,",
			`label query "a=x,": term "": empty term`},
		{"missing key", "=x",
			`label query "=x": term "=x": missing label key`},
		{"bad key char", "a$=x",
			`label query "a$=x": term "a$=x": expected =, ==, !=, in or notin after key "a"`},
		{"key starts with dash", "-a=x",
			`label query "-a=x": term "-a=x": key name "-a" must be 1-63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit`},
		{"bad prefix", "Example.com/a=x",
			`label query "Example.com/a=x": term "Example.com/a=x": key prefix "Example.com" must be a lowercase DNS subdomain of at most 253 characters`},
		{"two slashes", "a/b/c",
			`label query "a/b/c": term "a/b/c": key name "b/c" must be 1-63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit`},
		{"bad value", "a=x y",
			`label query "a=x y": term "a=x y": value "x y" must be at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit`},
		{"quoted value", `a="x"`,
			`label query "a=\"x\"": term "a=\"x\"": value "\"x\"" must be at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit`},
		{"in without parens", "a in x",
			`label query "a in x": term "a in x": expected "(" after in`},
		{"in unclosed", "a in (x,y",
			`label query "a in (x,y": term "a in (x,y": missing ")" after in`},
		{"notin bad member", "a notin (x,-y)",
			`label query "a notin (x,-y)": term "a notin (x,-y)": value "-y" must be at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit`},
		{"greater than", "a>1",
			`label query "a>1": term "a>1": operator ">" is not supported`},
		{"calico syntax", `a == "x"`,
			`label query "a == \"x\"": term "a == \"x\"": value "\"x\"" must be at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit`},
		{"not in two words", "a not in (x)",
			`label query "a not in (x)": term "a not in (x)": expected =, ==, !=, in or notin after key "a"`},
		{"negated comparison", "!a=x",
			`label query "!a=x": term "!a=x": key name "a=x" must be 1-63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseLabelQuery(tc.query)
			if err == nil {
				t.Fatalf("ParseLabelQuery(%q) succeeded, want error", tc.query)
			}
			if diff := cmp.Diff(tc.want, err.Error()); diff != "" {
				t.Errorf("ParseLabelQuery(%q) error (-want +got):\n%s", tc.query, diff)
			}
		})
	}
}
