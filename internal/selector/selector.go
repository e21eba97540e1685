package selector

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"slices"
)

// Selector is a parsed selector. It is immutable and safe for concurrent use.
type Selector interface {
	// Evaluate reports whether the selector matches the given labels.
	Evaluate(labels map[string]string) bool
	// EvaluateLabels is Evaluate over any label source, for example an
	// endpoint's own labels layered over labels inherited from profiles.
	EvaluateLabels(l Labels) bool
	// String returns the canonical form: double-quoted strings (single
	// quotes only for values containing a double quote), sorted and
	// de-duplicated sets, flattened && and || chains, parentheses only
	// where precedence needs them. Parsing it yields the same String.
	String() string
	// UniqueID returns a stable hash of the canonical form, suitable as an
	// identity for sets of matching endpoints.
	UniqueID() string
}

// Labels is a read-only source of labels.
type Labels interface {
	// Get returns the value of label key and whether it is present.
	Get(key string) (string, bool)
}

// mapLabels adapts a map to Labels. A map is pointer-shaped, so converting
// it to the interface does not allocate.
type mapLabels map[string]string

func (m mapLabels) Get(key string) (string, bool) {
	v, ok := m[key]
	return v, ok
}

// SyntaxError describes why a selector failed to parse.
type SyntaxError struct {
	Selector string // the input, as given
	Offset   int    // byte offset of the problem within Selector
	Reason   string // what was wrong, e.g. "unexpected end of input"
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("selector %q: %s at offset %d", e.Selector, e.Reason, e.Offset)
}

// parsed is the Selector implementation.
type parsed struct {
	root node
	text string // canonical form
	id   string
}

func (s *parsed) Evaluate(labels map[string]string) bool { return s.root.eval(mapLabels(labels)) }
func (s *parsed) EvaluateLabels(l Labels) bool           { return s.root.eval(l) }
func (s *parsed) String() string                         { return s.text }
func (s *parsed) UniqueID() string                       { return s.id }

// Parse parses a selector. An empty or blank selector is all().
// Errors are *SyntaxError.
func Parse(s string) (Selector, error) {
	root, err := parse(s)
	if err != nil {
		return nil, err
	}
	return newSelector(root), nil
}

// Validate reports whether s is a valid selector, returning the error Parse
// would return.
func Validate(s string) error {
	_, err := parse(s)
	return err
}

// newSelector wraps a tree, computing its canonical form and identity.
func newSelector(root node) *parsed {
	text := render(root)
	sum := sha256.Sum256([]byte(text))
	return &parsed{
		root: root,
		text: text,
		id:   "s:" + base64.RawURLEncoding.EncodeToString(sum[:21]),
	}
}

// UsesGlobal reports whether sel contains global() anywhere. Validators use
// it to reject global() where Calico does not allow it, and, together with
// sel.String() == "global()", to require it to stand alone where it is
// allowed (an EntityRule namespaceSelector).
func UsesGlobal(sel Selector) bool {
	p, ok := sel.(*parsed)
	return ok && usesGlobal(p.root)
}

func usesGlobal(n node) bool {
	switch n := n.(type) {
	case globalNode:
		return true
	case *notNode:
		return usesGlobal(n.x)
	case *andNode:
		return slices.ContainsFunc(n.xs, usesGlobal)
	case *orNode:
		return slices.ContainsFunc(n.xs, usesGlobal)
	}
	return false
}
