package selector

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseErrors(t *testing.T) {
	long := strings.Repeat("k", MaxLabelLength+1)
	deep := strings.Repeat("(", maxDepth+1) + "all()" + strings.Repeat(")", maxDepth+1)
	tests := []struct {
		name, sel string
		offset    int
		reason    string
	}{
		{"trailing and", "a == 'x' &&", 11, "unexpected end of input"},
		{"trailing and blank", "a == 'x' && ", 12, "unexpected end of input"},
		{"trailing or", `a == "x" ||`, 11, "unexpected end of input"},
		{"lone not", "!", 1, "unexpected end of input"},
		{"trailing not", `a == "x" && !`, 13, "unexpected end of input"},
		{"label only", "a", 1, `expected operator after label "a", found end of input`},
		{"two labels", "a b", 2, `expected operator after label "a", found "b"`},
		{"single equals", `a = "x"`, 2, `expected operator after label "a", found "="`},
		{"unquoted value", "a == x", 5, `expected quoted string after "==", found "x"`},
		{"missing value", "a !=", 4, `expected quoted string after "!=", found end of input`},
		{"not equals equals", `a !== "x"`, 4, `expected quoted string after "!=", found "="`},
		{"unterminated double", `a == "x`, 5, "unterminated string"},
		{"unterminated single", `a == 'x"`, 5, "unterminated string"},
		{"unterminated in set", `a in {"x", 'y}`, 11, "unterminated string"},
		{"keyword prefix inx", "a inx {}", 2, `expected operator after label "a", found "inx"`},
		{"keyword prefix containsx", `a containsx "y"`, 2, `expected operator after label "a", found "containsx"`},
		{"keyword dot boundary", `a in.x {}`, 2, `expected operator after label "a", found "in.x"`},
		{"starts without with", `a starts "x"`, 2, `expected operator after label "a", found "starts"`},
		{"starts withx", `a starts withx "x"`, 2, `expected operator after label "a", found "starts"`},
		{"not without in", `a not {"x"}`, 2, `expected operator after label "a", found "not"`},
		{"in without braces", `a in "x"`, 5, `expected "{" after "in", found "\""`},
		{"in parens", `a in ("x")`, 5, `expected "{" after "in", found "("`},
		{"set missing comma", `a in {"x" "y"}`, 10, `expected "," or "}" in set, found "\""`},
		{"set lone comma", `a in {,}`, 6, `expected quoted string after "in", found ","`},
		{"set double comma", `a not in {"x",,}`, 14, `expected quoted string after "not in", found ","`},
		{"set unclosed", `a in {"x"`, 9, `expected "," or "}" in set, found end of input`},
		{"set unquoted", `a in {x}`, 6, `expected quoted string after "in", found "x"`},
		{"has space before paren", "has (a)", 4, `expected operator after label "has", found "("`},
		{"all space before paren", "all ()", 4, `expected operator after label "all", found "("`},
		{"global space before paren", "global ()", 7, `expected operator after label "global", found "("`},
		{"has empty", "has()", 4, `expected label, found ")"`},
		{"has unclosed", "has(a", 5, `expected ")", found end of input`},
		{"has two labels", "has(a b)", 6, `expected ")", found "b"`},
		{"has quoted", `has("a")`, 4, `expected label, found "\""`},
		{"all with argument", "all(x)", 4, `expected ")", found "x"`},
		{"global unclosed", "global(", 7, `expected ")", found end of input`},
		{"group unclosed", `(a == "x"`, 9, `expected ")", found end of input`},
		{"group empty", "()", 1, `unexpected ")"`},
		{"stray close", `a == "x")`, 8, `unexpected ")"`},
		{"lone close", ")", 0, `unexpected ")"`},
		{"single ampersand", `a == "x" & b == "y"`, 9, `unexpected "&"`},
		{"single bar", `a == "x" | b == "y"`, 9, `unexpected "|"`},
		{"and or", `a == "x" && || b == "y"`, 12, `unexpected "|"`},
		{"juxtaposed terms", `a == "x" b == "y"`, 9, `unexpected "b"`},
		{"newline is not blank", "a == \"x\"\n", 8, `unexpected "\n"`},
		{"newline after label", "a\n== \"x\"", 1, `expected operator after label "a", found "\n"`},
		{"carriage return", "\rhas(a)", 0, `unexpected "\r"`},
		{"non-ASCII label", `é == "x"`, 0, `unexpected "é"`},
		{"invalid UTF-8", "\xff", 0, `unexpected "\xff"`},
		{"comment char", "#", 0, `unexpected "#"`},
		{"label too long", long + ` == "v"`, 0, "label longer than 512 characters"},
		{"has label too long", "has(" + long + ")", 4, "label longer than 512 characters"},
		{"nesting too deep", deep, maxDepth, "parentheses nested deeper than 1000"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.sel)
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) error = %v, want *SyntaxError", tc.sel, err)
			}
			want := &SyntaxError{Selector: tc.sel, Offset: tc.offset, Reason: tc.reason}
			if diff := cmp.Diff(want, se); diff != "" {
				t.Errorf("Parse(%q) error (-want +got):\n%s", tc.sel, diff)
			}
			if verr := Validate(tc.sel); verr == nil || verr.Error() != err.Error() {
				t.Errorf("Validate(%q) = %v, want %v", tc.sel, verr, err)
			}
		})
	}
}

func TestSyntaxErrorText(t *testing.T) {
	_, err := Parse("a == 'x' &&")
	want := `selector "a == 'x' &&": unexpected end of input at offset 11`
	if err == nil || err.Error() != want {
		t.Errorf("Parse error = %v, want %s", err, want)
	}
}

func TestMaxDepthAccepted(t *testing.T) {
	s := strings.Repeat("(", maxDepth) + "has(a)" + strings.Repeat(")", maxDepth)
	sel, err := Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	if sel.String() != "has(a)" {
		t.Errorf("String() = %s, want has(a)", sel)
	}
	// Alternating negation keeps the nesting in the tree.
	s = strings.Repeat("!(has(a) && ", 200) + "has(b)" + strings.Repeat(")", 200)
	if _, err := Parse(s); err != nil {
		t.Fatal(err)
	}
}
