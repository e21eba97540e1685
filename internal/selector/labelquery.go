package selector

import (
	"errors"
	"fmt"
	"strings"
)

// ParseLabelQuery parses a kubectl-style label query, as taken by
// calicoctl get -l, into a Selector. Terms are separated by commas and
// all must hold:
//
//	k=v  k==v  k!=v  k in (v1,v2)  k notin (v1,v2)  k  !k
//
// Keys and values follow Kubernetes label syntax; a value may be empty
// (k=, k in (a,)). As in Kubernetes, != and notin match objects without
// the label. An empty query matches everything.
func ParseLabelQuery(s string) (Selector, error) {
	if strings.Trim(s, queryBlanks) == "" {
		return newSelector(allNode{}), nil
	}
	var terms []node
	for _, term := range splitTerms(s) {
		term = strings.Trim(term, queryBlanks)
		n, err := parseQueryTerm(term)
		if err != nil {
			return nil, fmt.Errorf("label query %q: term %q: %w", s, term, err)
		}
		terms = append(terms, n)
	}
	return newSelector(joinAnd(terms)), nil
}

const queryBlanks = " \t\r\n"

// splitTerms splits a query at commas outside parentheses.
func splitTerms(s string) []string {
	var terms []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth <= 0 {
				terms = append(terms, s[start:i])
				start = i + 1
			}
		}
	}
	return append(terms, s[start:])
}

// parseQueryTerm parses one trimmed term of a label query.
func parseQueryTerm(t string) (node, error) {
	if t == "" {
		return nil, errors.New("empty term")
	}
	if rest, ok := strings.CutPrefix(t, "!"); ok {
		key := strings.TrimLeft(rest, queryBlanks)
		if err := checkQueryKey(key); err != nil {
			return nil, err
		}
		return negate(&hasNode{label: key}), nil
	}
	end := 0
	for end < len(t) && isLabelChar(t[end]) {
		end++
	}
	key, rest := t[:end], strings.TrimLeft(t[end:], queryBlanks)
	if err := checkQueryKey(key); err != nil {
		return nil, err
	}
	switch {
	case rest == "":
		return &hasNode{label: key}, nil
	case strings.HasPrefix(rest, "=="):
		v, err := queryValue(rest[2:])
		return &eqNode{label: key, value: v}, err
	case strings.HasPrefix(rest, "!="):
		v, err := queryValue(rest[2:])
		return &neNode{label: key, value: v}, err
	case strings.HasPrefix(rest, "="):
		v, err := queryValue(rest[1:])
		return &eqNode{label: key, value: v}, err
	case strings.HasPrefix(rest, "<"), strings.HasPrefix(rest, ">"):
		return nil, fmt.Errorf("operator %q is not supported", rest[:1])
	}
	if vs, ok, err := queryInSet(rest, "notin"); ok {
		return &notInNode{label: key, values: vs}, err
	}
	if vs, ok, err := queryInSet(rest, "in"); ok {
		return &inNode{label: key, values: vs}, err
	}
	return nil, fmt.Errorf("expected =, ==, !=, in or notin after key %q", key)
}

// queryInSet parses `op (v1,v2,...)`. ok reports whether rest starts with
// the operator word at all.
func queryInSet(rest, op string) (values []string, ok bool, err error) {
	after, found := strings.CutPrefix(rest, op)
	if !found || (after != "" && after[0] != '(' && !strings.ContainsRune(queryBlanks, rune(after[0]))) {
		return nil, false, nil
	}
	list := strings.TrimLeft(after, queryBlanks)
	inner, found := strings.CutPrefix(list, "(")
	if !found {
		return nil, true, fmt.Errorf("expected \"(\" after %s", op)
	}
	inner, found = strings.CutSuffix(inner, ")")
	if !found {
		return nil, true, fmt.Errorf("missing \")\" after %s", op)
	}
	for v := range strings.SplitSeq(inner, ",") {
		v = strings.Trim(v, queryBlanks)
		if err := checkQueryValue(v); err != nil {
			return nil, true, err
		}
		values = append(values, v)
	}
	return normSet(values), true, nil
}

func queryValue(s string) (string, error) {
	v := strings.Trim(s, queryBlanks)
	return v, checkQueryValue(v)
}

// checkQueryKey checks a Kubernetes label key: an optional DNS subdomain
// prefix and "/", then a name.
func checkQueryKey(k string) error {
	if k == "" {
		return errors.New("missing label key")
	}
	name := k
	if prefix, rest, ok := strings.Cut(k, "/"); ok {
		name = rest
		if prefix == "" || len(prefix) > 253 || !isDNSSubdomain(prefix) {
			return fmt.Errorf("key prefix %q must be a lowercase DNS subdomain of at most 253 characters", prefix)
		}
	}
	if name == "" || len(name) > 63 || !isLabelName(name) {
		return fmt.Errorf("key name %q must be 1-63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit", name)
	}
	return nil
}

func checkQueryValue(v string) error {
	if v != "" && (len(v) > 63 || !isLabelName(v)) {
		return fmt.Errorf("value %q must be at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit", v)
	}
	return nil
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// isLabelName matches ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9] for a
// non-empty s.
func isLabelName(s string) bool {
	if !isAlnum(s[0]) || !isAlnum(s[len(s)-1]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '-' && c != '_' && c != '.' {
			return false
		}
	}
	return true
}

// isDNSSubdomain matches dot-separated lowercase RFC 1123 labels.
func isDNSSubdomain(s string) bool {
	for part := range strings.SplitSeq(s, ".") {
		if part == "" || len(part) > 63 {
			return false
		}
		for i := 0; i < len(part); i++ {
			c := part[i]
			lowerAlnum := 'a' <= c && c <= 'z' || '0' <= c && c <= '9'
			if !lowerAlnum && (c != '-' || i == 0 || i == len(part)-1) {
				return false
			}
		}
	}
	return true
}
