package selector

import (
	"slices"
	"strings"
)

// node is one element of a parsed selector tree.
type node interface {
	// eval reports whether the node matches l. It must not allocate.
	eval(l Labels) bool
	// write appends the node's canonical form to b.
	write(b *strings.Builder)
}

type (
	allNode    struct{}
	globalNode struct{}
	hasNode    struct{ label string }
	eqNode     struct{ label, value string }
	neNode     struct{ label, value string }
	// containsNode, startsNode and endsNode are substring tests.
	containsNode struct{ label, value string }
	startsNode   struct{ label, value string }
	endsNode     struct{ label, value string }
	// inNode and notInNode hold a sorted, de-duplicated set.
	inNode struct {
		label  string
		values []string
	}
	notInNode struct {
		label  string
		values []string
	}
	notNode struct{ x node }
	// andNode and orNode have two or more operands, none of the same kind
	// as the parent (chains are flattened).
	andNode struct{ xs []node }
	orNode  struct{ xs []node }
)

func (allNode) eval(Labels) bool    { return true }
func (globalNode) eval(Labels) bool { return true }

func (n *hasNode) eval(l Labels) bool {
	_, ok := l.Get(n.label)
	return ok
}

func (n *eqNode) eval(l Labels) bool {
	v, ok := l.Get(n.label)
	return ok && v == n.value
}

func (n *neNode) eval(l Labels) bool {
	v, ok := l.Get(n.label)
	return !ok || v != n.value
}

func (n *containsNode) eval(l Labels) bool {
	v, ok := l.Get(n.label)
	return ok && strings.Contains(v, n.value)
}

func (n *startsNode) eval(l Labels) bool {
	v, ok := l.Get(n.label)
	return ok && strings.HasPrefix(v, n.value)
}

func (n *endsNode) eval(l Labels) bool {
	v, ok := l.Get(n.label)
	return ok && strings.HasSuffix(v, n.value)
}

func (n *inNode) eval(l Labels) bool {
	v, ok := l.Get(n.label)
	return ok && setHas(n.values, v)
}

func (n *notInNode) eval(l Labels) bool {
	v, ok := l.Get(n.label)
	return !ok || !setHas(n.values, v)
}

func (n *notNode) eval(l Labels) bool { return !n.x.eval(l) }

func (n *andNode) eval(l Labels) bool {
	for _, x := range n.xs {
		if !x.eval(l) {
			return false
		}
	}
	return true
}

func (n *orNode) eval(l Labels) bool {
	for _, x := range n.xs {
		if x.eval(l) {
			return true
		}
	}
	return false
}

// setHas reports whether sorted set contains v. Small sets are scanned,
// which beats binary search at that size.
func setHas(set []string, v string) bool {
	if len(set) <= 8 {
		for _, s := range set {
			if s == v {
				return true
			}
		}
		return false
	}
	_, found := slices.BinarySearch(set, v)
	return found
}

// normSet sorts and de-duplicates set members in place.
func normSet(values []string) []string {
	slices.Sort(values)
	return slices.Compact(values)
}

// negate returns !x, cancelling a double negation.
func negate(x node) node {
	if n, ok := x.(*notNode); ok {
		return n.x
	}
	return &notNode{x: x}
}

// joinAnd and joinOr build a chain from operands, flattening operands of
// the same kind so that grouping does not change the canonical form.
func joinAnd(xs []node) node {
	if len(xs) == 1 {
		return xs[0]
	}
	var flat []node
	for _, x := range xs {
		if a, ok := x.(*andNode); ok {
			flat = append(flat, a.xs...)
		} else {
			flat = append(flat, x)
		}
	}
	return &andNode{xs: flat}
}

func joinOr(xs []node) node {
	if len(xs) == 1 {
		return xs[0]
	}
	var flat []node
	for _, x := range xs {
		if o, ok := x.(*orNode); ok {
			flat = append(flat, o.xs...)
		} else {
			flat = append(flat, x)
		}
	}
	return &orNode{xs: flat}
}
