package policy

import (
	"fmt"
	"slices"
	"strings"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/selector"
)

// Labels Calico adds to endpoints and network sets, and the prefixes of
// the labels namespaces and service accounts hand down through profiles.
const (
	LabelNamespace      = "projectcalico.org/namespace"
	LabelServiceAccount = "projectcalico.org/serviceaccount"
	nsLabelPrefix       = "pcns."
	saLabelPrefix       = "pcsa."
)

var (
	hasNamespace   = mustParse("has(" + LabelNamespace + ")")
	hasNoNamespace = mustParse("!has(" + LabelNamespace + ")")
)

func mustParse(s string) selector.Selector {
	sel, err := selector.Parse(s)
	if err != nil {
		panic(err)
	}
	return sel
}

// inNamespace selects the objects of one namespace.
func inNamespace(ns string) selector.Selector {
	return mustParse(fmt.Sprintf("%s == %s", LabelNamespace, quote(ns)))
}

// quote writes a selector string literal; namespace and account names
// never contain both kinds of quote.
func quote(s string) string {
	if strings.Contains(s, "'") {
		return `"` + s + `"`
	}
	return "'" + s + "'"
}

// parseOpt parses a selector; "" is nil (no constraint).
func parseOpt(path, s string) (selector.Selector, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	sel, err := selector.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return sel, nil
}

// namespaceSelector rewrites a namespaceSelector: labels get the pcns.
// prefix, all() means "any namespaced object" and global() "any object
// without a namespace".
func namespaceSelector(path, s string) (selector.Selector, error) {
	sel, err := parseOpt(path, s)
	if err != nil || sel == nil {
		return sel, err
	}
	if sel.String() == "global()" {
		return hasNoNamespace, nil
	}
	if selector.UsesGlobal(sel) {
		return nil, fmt.Errorf("%s: global() must stand alone", path)
	}
	return selector.PrefixLabels(sel, nsLabelPrefix, hasNamespace), nil
}

// serviceAccountSelector rewrites a serviceAccountSelector onto the
// pcsa.-prefixed labels service-account profiles hand down.
func serviceAccountSelector(path, s string) (selector.Selector, error) {
	sel, err := parseOpt(path, s)
	if err != nil || sel == nil {
		return sel, err
	}
	return selector.PrefixLabels(sel, saLabelPrefix, nil), nil
}

// PolicySelector is the selector of the endpoints a policy applies to,
// rewritten as Calico does: a NetworkPolicy only ever selects endpoints
// of its own namespace; namespace and service account selectors are
// ANDed in.
func PolicySelector(namespace, sel, nsSel, saSel string) (selector.Selector, error) {
	s, err := parseOpt("spec.selector", sel)
	if err != nil {
		return nil, err
	}
	if s != nil && selector.UsesGlobal(s) {
		return nil, fmt.Errorf("spec.selector: global() is not allowed here")
	}
	var ns selector.Selector
	if namespace != "" {
		ns = inNamespace(namespace)
	} else if ns, err = namespaceSelector("spec.namespaceSelector", nsSel); err != nil {
		return nil, err
	} else if ns != nil && ns.String() == hasNoNamespace.String() {
		return nil, fmt.Errorf("spec.namespaceSelector: global() is not allowed here")
	}
	sa, err := serviceAccountSelector("spec.serviceAccountSelector", saSel)
	if err != nil {
		return nil, err
	}
	return selector.And(s, ns, sa), nil
}

// entitySelectors returns the positive and negative selectors of one
// side of a rule, or nil for "no constraint". As upstream: when the side
// names any selector, the positive one also holds the namespace clause
// (the rule's namespaceSelector, else the policy's own namespace), and
// the notSelector stays as written, so it also matches traffic from
// outside Calico.
func entitySelectors(path string, e *v3.EntityRule, namespace string) (pos, neg selector.Selector, err error) {
	sel, err := parseOpt(path+".selector", e.Selector)
	if err != nil {
		return nil, nil, err
	}
	if sel != nil && selector.UsesGlobal(sel) {
		return nil, nil, fmt.Errorf("%s.selector: global() is not allowed here", path)
	}
	neg, err = parseOpt(path+".notSelector", e.NotSelector)
	if err != nil {
		return nil, nil, err
	}
	ns, err := namespaceSelector(path+".namespaceSelector", e.NamespaceSelector)
	if err != nil {
		return nil, nil, err
	}
	var sa selector.Selector
	if m := e.ServiceAccounts; m != nil {
		if sa, err = serviceAccountSelector(path+".serviceAccounts.selector", m.Selector); err != nil {
			return nil, nil, err
		}
		if len(m.Names) > 0 {
			names := slices.Clone(m.Names)
			for i, n := range names {
				names[i] = quote(n)
			}
			byName := mustParse(fmt.Sprintf("%s in {%s}", LabelServiceAccount, strings.Join(names, ", ")))
			sa = selector.And(sa, byName)
		}
	}
	if ns == nil && namespace != "" && (sel != nil || neg != nil || sa != nil) {
		ns = inNamespace(namespace)
	}
	if sel == nil && ns == nil && sa == nil {
		return nil, neg, nil
	}
	return selector.And(sel, ns, sa), neg, nil
}
