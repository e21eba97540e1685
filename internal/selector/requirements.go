package selector

import (
	"slices"
	"strings"
)

// Requirement is a condition on one label that every label set a selector
// matches meets: label Key is present and, when Values is non-nil, its
// value is one of Values. A non-nil empty Values means nothing matches.
type Requirement struct {
	Key    string
	Values []string // sorted and de-duplicated; nil means any value
}

// Requirements returns conditions that hold for every label set sel
// matches, sorted by Key, at most one per key. They are necessary, not
// sufficient: an index may use them to skip label sets that cannot match
// (a selector "app == 'web' && tier != 'db'" need only be tried on label
// sets with app=web), and must still evaluate sel on the rest. Selectors
// such as "all()" or "!has(a)" have none. The analysis is conservative: it
// may miss a condition that holds, never report one that does not.
func Requirements(sel Selector) []Requirement {
	p, ok := sel.(*parsed)
	if !ok {
		return nil
	}
	return requirements(p.root, false)
}

// requirements computes the conditions for n, or for !n when neg is set,
// pushing negations down with De Morgan's laws.
func requirements(n node, neg bool) []Requirement {
	switch n := n.(type) {
	case *hasNode:
		if !neg {
			return []Requirement{{Key: n.label}}
		}
	case *eqNode:
		if !neg {
			return []Requirement{{Key: n.label, Values: []string{n.value}}}
		}
	case *neNode:
		if neg {
			return []Requirement{{Key: n.label, Values: []string{n.value}}}
		}
	case *containsNode:
		if !neg {
			return []Requirement{{Key: n.label}}
		}
	case *startsNode:
		if !neg {
			return []Requirement{{Key: n.label}}
		}
	case *endsNode:
		if !neg {
			return []Requirement{{Key: n.label}}
		}
	case *inNode:
		if !neg {
			return []Requirement{{Key: n.label, Values: append([]string{}, n.values...)}}
		}
	case *notInNode:
		if neg {
			return []Requirement{{Key: n.label, Values: append([]string{}, n.values...)}}
		}
	case *notNode:
		return requirements(n.x, !neg)
	case *andNode:
		if neg {
			return anyOf(n.xs, neg)
		}
		return allOf(n.xs, neg)
	case *orNode:
		if neg {
			return allOf(n.xs, neg)
		}
		return anyOf(n.xs, neg)
	}
	// all(), global() and negated leaves constrain no label's presence.
	return nil
}

// allOf is the requirements of a conjunction: every operand's, with
// conditions on the same key intersected.
func allOf(xs []node, neg bool) []Requirement {
	var out []Requirement
	for _, x := range xs {
		for _, r := range requirements(x, neg) {
			i, found := slices.BinarySearchFunc(out, r.Key, cmpKey)
			if !found {
				out = slices.Insert(out, i, r)
				continue
			}
			out[i].Values = intersect(out[i].Values, r.Values)
		}
	}
	return out
}

// anyOf is the requirements of a disjunction: only keys every operand
// requires, with the allowed values united.
func anyOf(xs []node, neg bool) []Requirement {
	out := requirements(xs[0], neg)
	for _, x := range xs[1:] {
		if len(out) == 0 {
			return nil
		}
		rs := requirements(x, neg)
		kept := out[:0]
		for _, r := range out {
			if i, found := slices.BinarySearchFunc(rs, r.Key, cmpKey); found {
				r.Values = union(r.Values, rs[i].Values)
				kept = append(kept, r)
			}
		}
		out = kept
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func cmpKey(r Requirement, key string) int { return strings.Compare(r.Key, key) }

// intersect intersects two value sets where nil is the universe.
func intersect(a, b []string) []string {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	out := []string{}
	for _, v := range a {
		if _, found := slices.BinarySearch(b, v); found {
			out = append(out, v)
		}
	}
	return out
}

// union unites two value sets where nil is the universe.
func union(a, b []string) []string {
	if a == nil || b == nil {
		return nil
	}
	return normSet(append(slices.Clone(a), b...))
}

// LabelKeys returns the sorted, de-duplicated keys of the labels sel reads.
// Its result depends on those labels alone, so an index need not
// re-evaluate sel when only other labels change.
func LabelKeys(sel Selector) []string {
	p, ok := sel.(*parsed)
	if !ok {
		return nil
	}
	var keys []string
	collectKeys(p.root, &keys)
	return normSet(keys)
}

func collectKeys(n node, keys *[]string) {
	switch n := n.(type) {
	case *hasNode:
		*keys = append(*keys, n.label)
	case *eqNode:
		*keys = append(*keys, n.label)
	case *neNode:
		*keys = append(*keys, n.label)
	case *containsNode:
		*keys = append(*keys, n.label)
	case *startsNode:
		*keys = append(*keys, n.label)
	case *endsNode:
		*keys = append(*keys, n.label)
	case *inNode:
		*keys = append(*keys, n.label)
	case *notInNode:
		*keys = append(*keys, n.label)
	case *notNode:
		collectKeys(n.x, keys)
	case *andNode:
		for _, x := range n.xs {
			collectKeys(x, keys)
		}
	case *orNode:
		for _, x := range n.xs {
			collectKeys(x, keys)
		}
	}
}
