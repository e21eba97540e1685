package selector

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

const (
	// MaxLabelLength is the longest label a selector may name.
	MaxLabelLength = 512
	// maxDepth bounds parenthesis nesting so that hostile input cannot
	// drive the recursive parser, renderer or evaluator arbitrarily deep.
	maxDepth = 1000
)

// parser is a recursive-descent parser working directly on the input
// bytes; operator words are context-sensitive (recognised only right after
// a label), which is simplest without a separate tokenizer.
type parser struct {
	src   string
	pos   int
	depth int
}

// parse parses a whole selector into a tree.
func parse(s string) (node, error) {
	p := &parser{src: s}
	p.skipBlanks()
	if p.pos == len(s) {
		return allNode{}, nil
	}
	n, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	p.skipBlanks()
	if p.pos < len(s) {
		return nil, p.errUnexpected()
	}
	return n, nil
}

func (p *parser) parseOr() (node, error) {
	x, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	var xs []node
	for p.skipBlanks(); p.cut("||"); p.skipBlanks() {
		y, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		xs = append(xs, y)
	}
	if xs == nil {
		return x, nil
	}
	return joinOr(append([]node{x}, xs...)), nil
}

func (p *parser) parseAnd() (node, error) {
	x, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	var xs []node
	for p.skipBlanks(); p.cut("&&"); p.skipBlanks() {
		y, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		xs = append(xs, y)
	}
	if xs == nil {
		return x, nil
	}
	return joinAnd(append([]node{x}, xs...)), nil
}

func (p *parser) parseUnary() (node, error) {
	neg := false
	for p.skipBlanks(); p.cut("!"); p.skipBlanks() {
		neg = !neg
	}
	x, err := p.parseTerm()
	if err != nil {
		return nil, err
	}
	if neg {
		x = negate(x)
	}
	return x, nil
}

func (p *parser) parseTerm() (node, error) {
	p.skipBlanks()
	switch {
	case p.pos == len(p.src):
		return nil, p.errUnexpected()
	case p.cut("("):
		if p.depth++; p.depth > maxDepth {
			return nil, p.errorf(p.pos-1, "parentheses nested deeper than %d", maxDepth)
		}
		x, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		if err := p.expect(")"); err != nil {
			return nil, err
		}
		p.depth--
		return x, nil
	case p.cut("all("):
		return allNode{}, p.expect(")")
	case p.cut("global("):
		return globalNode{}, p.expect(")")
	case p.cut("has("):
		p.skipBlanks()
		label, err := p.label()
		if err != nil {
			return nil, err
		}
		return &hasNode{label: label}, p.expect(")")
	case isLabelChar(p.src[p.pos]):
		return p.parseComparison()
	default:
		return nil, p.errUnexpected()
	}
}

// parseComparison parses LABEL OP STRING and LABEL OP SET.
func (p *parser) parseComparison() (node, error) {
	label, err := p.label()
	if err != nil {
		return nil, err
	}
	p.skipBlanks()
	switch {
	case p.cut("=="):
		v, err := p.str("==")
		return &eqNode{label: label, value: v}, err
	case p.cut("!="):
		v, err := p.str("!=")
		return &neNode{label: label, value: v}, err
	case p.cutWords("contains"):
		v, err := p.str("contains")
		return &containsNode{label: label, value: v}, err
	case p.cutWords("starts", "with"):
		v, err := p.str("starts with")
		return &startsNode{label: label, value: v}, err
	case p.cutWords("ends", "with"):
		v, err := p.str("ends with")
		return &endsNode{label: label, value: v}, err
	case p.cutWords("not", "in"):
		vs, err := p.set("not in")
		return &notInNode{label: label, values: vs}, err
	case p.cutWords("in"):
		vs, err := p.set("in")
		return &inNode{label: label, values: vs}, err
	}
	return nil, p.errorf(p.pos, "expected operator after label %q, found %s", label, p.found())
}

// set parses a brace-enclosed, comma-separated list of strings, allowing
// an empty list and a trailing comma.
func (p *parser) set(op string) ([]string, error) {
	p.skipBlanks()
	if !p.cut("{") {
		return nil, p.errorf(p.pos, "expected \"{\" after %q, found %s", op, p.found())
	}
	var values []string
	for p.skipBlanks(); !p.cut("}"); p.skipBlanks() {
		if len(values) > 0 {
			if !p.cut(",") {
				return nil, p.errorf(p.pos, "expected \",\" or \"}\" in set, found %s", p.found())
			}
			if p.skipBlanks(); p.cut("}") {
				break
			}
		}
		v, err := p.str(op)
		if err != nil {
			return nil, err
		}
		values = append(values, v)
	}
	return normSet(values), nil
}

// str parses a quoted string following operator op.
func (p *parser) str(op string) (string, error) {
	p.skipBlanks()
	if p.pos == len(p.src) || (p.src[p.pos] != '"' && p.src[p.pos] != '\'') {
		return "", p.errorf(p.pos, "expected quoted string after %q, found %s", op, p.found())
	}
	q := p.src[p.pos]
	end := strings.IndexByte(p.src[p.pos+1:], q)
	if end < 0 {
		return "", p.errorf(p.pos, "unterminated string")
	}
	v := p.src[p.pos+1 : p.pos+1+end]
	p.pos += end + 2
	return v, nil
}

// label consumes a label.
func (p *parser) label() (string, error) {
	start := p.pos
	for p.pos < len(p.src) && isLabelChar(p.src[p.pos]) {
		p.pos++
	}
	switch n := p.pos - start; {
	case n == 0:
		return "", p.errorf(p.pos, "expected label, found %s", p.found())
	case n > MaxLabelLength:
		return "", p.errorf(start, "label longer than %d characters", MaxLabelLength)
	}
	return p.src[start:p.pos], nil
}

// expect consumes optional blanks and then tok, or fails.
func (p *parser) expect(tok string) error {
	p.skipBlanks()
	if !p.cut(tok) {
		return p.errorf(p.pos, "expected %q, found %s", tok, p.found())
	}
	return nil
}

func (p *parser) skipBlanks() {
	for p.pos < len(p.src) && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t') {
		p.pos++
	}
}

// cut consumes tok if the input continues with it.
func (p *parser) cut(tok string) bool {
	if strings.HasPrefix(p.src[p.pos:], tok) {
		p.pos += len(tok)
		return true
	}
	return false
}

// cutWords consumes an operator made of one or more words separated by
// optional blanks and ending at a word boundary; on failure it consumes
// nothing.
func (p *parser) cutWords(words ...string) bool {
	start := p.pos
	for i, w := range words {
		if i > 0 {
			p.skipBlanks()
		}
		if !p.cut(w) {
			p.pos = start
			return false
		}
	}
	if p.pos < len(p.src) && isLabelChar(p.src[p.pos]) {
		p.pos = start
		return false
	}
	return true
}

// found describes the input at the current position for error messages.
func (p *parser) found() string {
	rest := p.src[p.pos:]
	if rest == "" {
		return "end of input"
	}
	n := 0
	for n < len(rest) && n < 40 && isLabelChar(rest[n]) {
		n++
	}
	if n == 0 {
		_, n = utf8.DecodeRuneInString(rest)
	}
	return strconv.Quote(rest[:n])
}

func (p *parser) errUnexpected() error {
	return p.errorf(p.pos, "unexpected %s", p.found())
}

func (p *parser) errorf(offset int, format string, args ...any) error {
	return &SyntaxError{Selector: p.src, Offset: offset, Reason: fmt.Sprintf(format, args...)}
}

// isLabelChar reports whether c may appear in a label.
func isLabelChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '_' || c == '.' || c == '/' || c == '-'
}
