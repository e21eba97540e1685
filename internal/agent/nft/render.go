package nft

import (
	"fmt"
	"slices"
	"strings"
)

// Render prints rs as `nft list table inet <name>` (nft 1.0.6) prints the
// table once applied: sets, then maps, then chains, each sorted by name;
// elements sorted; rules in order. It is deterministic, so it serves as a
// golden file, and the privileged tests compare it with nft's own
// listing of what Apply wrote (see NormaliseListing for the few ways
// nft's output differs).
//
// Elements are printed as the kernel keeps them: overlapping or adjacent
// prefixes and ranges of an interval set are merged. Rules and elements
// that Apply would reject are printed as "# error: ..." lines (Apply also
// checks the ruleset as a whole, e.g. a map named like a set).
func Render(rs *Ruleset) string {
	var w strings.Builder
	fmt.Fprintf(&w, "table inet %s {\n", rs.Table)
	var blocks []string
	for _, name := range sortedKeys(rs.Sets) {
		blocks = append(blocks, renderSet(name, rs.Sets[name]))
	}
	for _, name := range sortedKeys(rs.Maps) {
		blocks = append(blocks, renderMap(name, rs.Maps[name]))
	}
	for _, name := range sortedKeys(rs.Chains) {
		blocks = append(blocks, renderChain(rs, name, rs.Chains[name]))
	}
	w.WriteString(strings.Join(blocks, "\n"))
	w.WriteString("}\n")
	return w.String()
}

func renderSet(name string, s *Set) string {
	var w strings.Builder
	fmt.Fprintf(&w, "\tset %s {\n", name)
	if s == nil {
		w.WriteString("\t\t# error: nil set\n\t}\n")
		return w.String()
	}
	fmt.Fprintf(&w, "\t\ttype %s\n", setTypeName(s.Type))
	if s.Interval {
		w.WriteString("\t\tflags interval\n")
	}
	named := *s
	named.Name = name
	elems, err := setElems(&named)
	if err != nil {
		fmt.Fprintf(&w, "\t\t# error: %v\n", err)
	}
	writeElements(&w, s.Type, elems)
	w.WriteString("\t}\n")
	return w.String()
}

func renderMap(name string, m *Map) string {
	var w strings.Builder
	fmt.Fprintf(&w, "\tmap %s {\n", name)
	if m == nil {
		w.WriteString("\t\t# error: nil map\n\t}\n")
		return w.String()
	}
	fmt.Fprintf(&w, "\t\ttype %s : verdict\n", setTypeName(m.Type))
	named := *m
	named.Name = name
	elems, err := mapElems(&named)
	if err != nil {
		fmt.Fprintf(&w, "\t\t# error: %v\n", err)
	}
	writeElements(&w, m.Type, elems)
	w.WriteString("\t}\n")
	return w.String()
}

// writeElements prints all elements on one line; nft wraps long lists,
// which NormaliseListing undoes.
func writeElements(w *strings.Builder, t SetType, elems []elem) {
	if len(elems) == 0 {
		return
	}
	texts := make([]string, len(elems))
	for i, e := range elems {
		texts[i] = elemText(t, e)
	}
	slices.SortFunc(texts, compareElementText)
	fmt.Fprintf(w, "\t\telements = { %s }\n", strings.Join(texts, ", "))
}

func renderChain(rs *Ruleset, name string, c *Chain) string {
	var w strings.Builder
	fmt.Fprintf(&w, "\tchain %s {\n", name)
	if c == nil {
		w.WriteString("\t\t# error: nil chain\n\t}\n")
		return w.String()
	}
	if h := normHook(c.Base); h != nil {
		fmt.Fprintf(&w, "\t\ttype %s hook %s priority %s; policy %s;\n",
			h.Type, h.Hook, priorityString(h.Hook, h.Priority), h.Policy)
	}
	for i := range c.Rules {
		br, err := newRuleBuilder(rs).build(&c.Rules[i])
		if err != nil {
			fmt.Fprintf(&w, "\t\t# error: rule %d: %v\n", i, err)
			continue
		}
		fmt.Fprintf(&w, "\t\t%s\n", br.text)
	}
	w.WriteString("\t}\n")
	return w.String()
}
