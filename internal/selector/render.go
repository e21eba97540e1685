package selector

import "strings"

// Binding strengths used to decide where the canonical form needs
// parentheses.
const (
	precOr = iota + 1
	precAnd
	precTerm
)

func prec(n node) int {
	switch n.(type) {
	case *orNode:
		return precOr
	case *andNode:
		return precAnd
	default:
		return precTerm
	}
}

// render returns the canonical form of a tree.
func render(n node) string {
	var b strings.Builder
	n.write(&b)
	return b.String()
}

// writeOperand writes n, parenthesised if it binds more loosely than min.
func writeOperand(b *strings.Builder, n node, min int) {
	if prec(n) < min {
		b.WriteByte('(')
		n.write(b)
		b.WriteByte(')')
		return
	}
	n.write(b)
}

// writeString writes v quoted. Strings have no escapes, so a value holding
// a double quote is the one case rendered with single quotes.
func writeString(b *strings.Builder, v string) {
	q := byte('"')
	if strings.IndexByte(v, '"') >= 0 {
		q = '\''
	}
	b.WriteByte(q)
	b.WriteString(v)
	b.WriteByte(q)
}

func writeCompare(b *strings.Builder, label, op, value string) {
	b.WriteString(label)
	b.WriteByte(' ')
	b.WriteString(op)
	b.WriteByte(' ')
	writeString(b, value)
}

func writeSet(b *strings.Builder, label, op string, values []string) {
	b.WriteString(label)
	b.WriteByte(' ')
	b.WriteString(op)
	b.WriteString(" {")
	for i, v := range values {
		if i > 0 {
			b.WriteString(", ")
		}
		writeString(b, v)
	}
	b.WriteByte('}')
}

func (allNode) write(b *strings.Builder)    { b.WriteString("all()") }
func (globalNode) write(b *strings.Builder) { b.WriteString("global()") }

func (n *hasNode) write(b *strings.Builder) {
	b.WriteString("has(")
	b.WriteString(n.label)
	b.WriteByte(')')
}

func (n *eqNode) write(b *strings.Builder)       { writeCompare(b, n.label, "==", n.value) }
func (n *neNode) write(b *strings.Builder)       { writeCompare(b, n.label, "!=", n.value) }
func (n *containsNode) write(b *strings.Builder) { writeCompare(b, n.label, "contains", n.value) }
func (n *startsNode) write(b *strings.Builder)   { writeCompare(b, n.label, "starts with", n.value) }
func (n *endsNode) write(b *strings.Builder)     { writeCompare(b, n.label, "ends with", n.value) }
func (n *inNode) write(b *strings.Builder)       { writeSet(b, n.label, "in", n.values) }
func (n *notInNode) write(b *strings.Builder)    { writeSet(b, n.label, "not in", n.values) }

func (n *notNode) write(b *strings.Builder) {
	b.WriteByte('!')
	writeOperand(b, n.x, precTerm)
}

func (n *andNode) write(b *strings.Builder) {
	for i, x := range n.xs {
		if i > 0 {
			b.WriteString(" && ")
		}
		writeOperand(b, x, precAnd)
	}
}

func (n *orNode) write(b *strings.Builder) {
	for i, x := range n.xs {
		if i > 0 {
			b.WriteString(" || ")
		}
		writeOperand(b, x, precOr)
	}
}
