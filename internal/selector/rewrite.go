package selector

// PrefixLabels returns sel with prefix put in front of every label it
// names. Calico matches a policy's namespaceSelector against the labels
// namespaces hand down to their endpoints through profiles, which carry
// the namespace's labels under "pcns." (and service accounts' under
// "pcsa."), so that a namespace label can never be confused with an
// endpoint's own label of the same name. all() becomes allWith, the
// selector of "every object that has a namespace" (nil keeps all()).
func PrefixLabels(sel Selector, prefix string, allWith Selector) Selector {
	p, ok := sel.(*parsed)
	if !ok {
		return sel
	}
	var all node = allNode{}
	if a, ok := allWith.(*parsed); ok {
		all = a.root
	}
	return newSelector(prefixNode(p.root, prefix, all))
}

func prefixNode(n node, prefix string, all node) node {
	switch n := n.(type) {
	case allNode:
		return all
	case globalNode:
		return n
	case *hasNode:
		return &hasNode{label: prefix + n.label}
	case *eqNode:
		return &eqNode{label: prefix + n.label, value: n.value}
	case *neNode:
		return &neNode{label: prefix + n.label, value: n.value}
	case *containsNode:
		return &containsNode{label: prefix + n.label, value: n.value}
	case *startsNode:
		return &startsNode{label: prefix + n.label, value: n.value}
	case *endsNode:
		return &endsNode{label: prefix + n.label, value: n.value}
	case *inNode:
		return &inNode{label: prefix + n.label, values: n.values}
	case *notInNode:
		return &notInNode{label: prefix + n.label, values: n.values}
	case *notNode:
		return negate(prefixNode(n.x, prefix, all))
	case *andNode:
		xs := make([]node, len(n.xs))
		for i, x := range n.xs {
			xs[i] = prefixNode(x, prefix, all)
		}
		return joinAnd(xs)
	case *orNode:
		xs := make([]node, len(n.xs))
		for i, x := range n.xs {
			xs[i] = prefixNode(x, prefix, all)
		}
		return joinOr(xs)
	}
	panic("selector: unknown node")
}

// And returns the conjunction of the selectors (nil ones are left out;
// all nil gives all()).
func And(sels ...Selector) Selector {
	var xs []node
	for _, s := range sels {
		if p, ok := s.(*parsed); ok {
			if _, isAll := p.root.(allNode); isAll {
				continue
			}
			xs = append(xs, p.root)
		}
	}
	switch len(xs) {
	case 0:
		return newSelector(allNode{})
	case 1:
		return newSelector(xs[0])
	}
	return newSelector(joinAnd(xs))
}
