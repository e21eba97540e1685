package nft

import (
	"cmp"
	"regexp"
	"slices"
	"strings"
)

var counterValues = regexp.MustCompile(`counter packets \d+ bytes \d+`)

// NormaliseListing rewrites the output of `nft list table inet <name>`
// into Render's form, so that tests can compare what the kernel holds
// with what was meant. It undoes only what nft prints differently
// without the content differing:
//
//   - counters print their values ("counter packets 3 bytes 180"); the
//     values are dropped;
//   - long element lists are wrapped over several lines; they are joined;
//   - elements are listed in the kernel's order, which for hash sets is
//     no order; every { ... } list is sorted as Render sorts it;
//   - sets, maps and chains are listed in the order they were created;
//     they are sorted as Render sorts them: sets, maps, chains, by name.
//
// What nft prints differently for a different reason (a rule nft cannot
// decode, a priority it names) is left alone, so that it shows up.
func NormaliseListing(s string) string {
	lines := joinWrapped(strings.Split(strings.TrimRight(s, "\n"), "\n"))
	for i, l := range lines {
		l = counterValues.ReplaceAllString(l, "counter")
		lines[i] = sortInlineLists(strings.TrimRight(l, " \t"))
	}
	return sortBlocks(lines)
}

// joinWrapped joins a line that opens an inline { ... } list with the
// lines it continues on.
func joinWrapped(in []string) []string {
	var out []string
	for i := 0; i < len(in); i++ {
		l := in[i]
		for braceDepth(l) > 0 && !strings.HasSuffix(strings.TrimSpace(l), "{") && i+1 < len(in) {
			i++
			l = strings.TrimRight(l, " ") + " " + strings.TrimSpace(in[i])
		}
		out = append(out, l)
	}
	return out
}

// braceDepth counts unclosed braces outside quoted strings.
func braceDepth(l string) int {
	depth, quoted := 0, false
	for _, r := range l {
		switch {
		case r == '"':
			quoted = !quoted
		case quoted:
		case r == '{':
			depth++
		case r == '}':
			depth--
		}
	}
	return depth
}

// sortInlineLists sorts the elements of every "{ a, b }" in l.
func sortInlineLists(l string) string {
	var b strings.Builder
	quoted := false
	for i := 0; i < len(l); i++ {
		c := l[i]
		if c == '"' {
			quoted = !quoted
		}
		if quoted || c != '{' || i+1 >= len(l) || l[i+1] != ' ' {
			b.WriteByte(c)
			continue
		}
		end := closingBrace(l, i)
		if end < 0 {
			b.WriteString(l[i:])
			return b.String()
		}
		elems := splitElements(strings.TrimSpace(l[i+1 : end]))
		slices.SortFunc(elems, compareElementText)
		b.WriteString("{ " + strings.Join(elems, ", ") + " }")
		i = end
	}
	return b.String()
}

func closingBrace(l string, open int) int {
	quoted := false
	for j := open + 1; j < len(l); j++ {
		switch {
		case l[j] == '"':
			quoted = !quoted
		case !quoted && l[j] == '}':
			return j
		}
	}
	return -1
}

// splitElements splits at ", " outside quotes.
func splitElements(s string) []string {
	var out []string
	quoted, start := false, 0
	for j := 0; j < len(s); j++ {
		switch {
		case s[j] == '"':
			quoted = !quoted
		case !quoted && s[j] == ',':
			out = append(out, strings.TrimSpace(s[start:j]))
			start = j + 1
		}
	}
	return append(out, strings.TrimSpace(s[start:]))
}

// sortBlocks orders the table's top-level blocks as Render does.
func sortBlocks(lines []string) string {
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "table ") {
		return strings.Join(lines, "\n") + "\n"
	}
	type block struct {
		kind int
		name string
		text string
	}
	var blocks []block
	var cur []string
	flush := func() {
		if len(cur) == 0 {
			return
		}
		f := strings.Fields(cur[0])
		kind := map[string]int{"set": 0, "map": 1, "chain": 2}[f[0]]
		name := ""
		if len(f) > 1 {
			name = f[1]
		}
		if f[0] != "set" && f[0] != "map" && f[0] != "chain" {
			kind = 3
		}
		blocks = append(blocks, block{kind, name, strings.Join(cur, "\n") + "\n"})
		cur = nil
	}
	body := lines[1 : len(lines)-1]
	for _, l := range body {
		if strings.TrimSpace(l) == "" {
			flush()
			continue
		}
		cur = append(cur, l)
	}
	flush()
	slices.SortStableFunc(blocks, func(a, b block) int {
		if c := cmp.Compare(a.kind, b.kind); c != 0 {
			return c
		}
		return strings.Compare(a.name, b.name)
	})
	texts := make([]string, len(blocks))
	for i, b := range blocks {
		texts[i] = b.text
	}
	return lines[0] + "\n" + strings.Join(texts, "\n") + lines[len(lines)-1] + "\n"
}
