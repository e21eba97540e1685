// Package selector parses and evaluates Calico label selectors and the
// kubectl-style label queries accepted by calicoctl get -l.
//
// # Selector grammar
//
// Precedence is ! (tightest), then &&, then ||:
//
//	sel   := "" | or                  (empty or blank means all())
//	or    := and ("||" and)*
//	and   := unary ("&&" unary)*
//	unary := "!"* term
//	term  := "(" or ")" | "all()" | "global()" | "has(" LABEL ")"
//	       | LABEL ("==" | "!=" | "contains" | "starts with" | "ends with") STRING
//	       | LABEL ("in" | "not in") "{" [STRING ("," STRING)* [","]] "}"
//	LABEL := [A-Za-z0-9_./-]{1,512}
//	STRING:= "..." | '...'       (no escapes; ends at the next matching quote)
//
// Whitespace between tokens is spaces and tabs only. The words all, global
// and has must be followed directly by "(" (whitespace is allowed inside the
// parentheses). Operator words are recognised only right after a label and
// must end at a word boundary (the next byte is not a label character);
// two-word operators may be written with any run of blanks between the
// words, including none ("notin", "startswith").
//
// # Evaluation
//
// A missing label makes ==, in, has, contains, starts with and ends with
// false, and != and not in true. Comparisons are exact and case-sensitive.
// all() and global() match everything; global() is only meaningful as a
// whole EntityRule namespaceSelector, which callers rewrite themselves.
package selector
