package nft

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// state is the table's content in the form the kernel holds it, reduced
// to what decides whether something must be written: for each chain its
// hook and the content hashes of its rules, for each set or map its
// shape and elements. The applier keeps the state it last realised, and
// reads one back from the kernel on resync, so that both sides of a diff
// have the same form.
type state struct {
	table  bool // the table exists
	chains map[string]*chainState
	// sets holds sets and maps: they share one namespace in the kernel.
	sets map[string]*setState
}

type chainState struct {
	base  *Hook    // nil for a regular chain; Type and Policy filled in
	rules []string // content hash of each rule, in order
}

type setState struct {
	spec  setSpec
	elems []elem // sorted
	// dirty: the kernel's elements could not be read back as spans
	// (hand-made overlaps); the set is flushed and refilled.
	dirty bool
}

// setSpec is what cannot change without re-creating the set.
type setSpec struct {
	isMap    bool
	interval bool
	// keyType is nft's datatype number; 0 for maps, whose key type
	// google/nftables v0.3.0 loses when it decodes a verdict map.
	keyType uint32
	keyLen  uint32
}

func emptyState() *state {
	return &state{chains: map[string]*chainState{}, sets: map[string]*setState{}}
}

// desired is a validated Ruleset with the state it must produce: all
// of it, or (when the kernel is known to hold the last one applied) only
// the objects that changed.
type desired struct {
	*state
	rs *Ruleset
	// refs: the sets and maps each chain's rules name; a chain is
	// rewritten when one of them is re-created.
	refs map[string][]string
	// deltas: for sets and maps updated in place, their element changes
	// from the state they were worked out from, which spares the planner
	// comparing all elements when that is the state the kernel holds.
	deltas map[string]*elemDelta
}

// elemDelta is how the elements of a set or map differ from those of
// another state of it.
type elemDelta struct {
	from     *setState
	del, add []elem
}

// ruleHashVersion changes whenever compilation of an unchanged rule
// changes, so that rules written by an older agent are rewritten.
const ruleHashVersion = "nft/1"

func ruleHash(verbose string) string {
	h := sha256.Sum256([]byte(ruleHashVersion + "\x00" + verbose))
	return string(h[:16])
}

func normHook(h *Hook) *Hook {
	if h == nil {
		return nil
	}
	n := *h
	if n.Type == "" {
		n.Type = "filter"
	}
	if n.Policy == "" {
		n.Policy = "accept"
	}
	return &n
}

// buildDesired validates rs and works out its state, reporting every
// problem, not just the first. m, when not nil, is the model of the
// ruleset built before, and is brought up to date: objects that did not
// change are taken from it rather than built again.
func buildDesired(rs *Ruleset, m *model) (*desired, error) {
	if m == nil {
		m = newModel()
	}
	ch, err := m.build(rs)
	if err != nil {
		return nil, err
	}
	m.commit(ch)
	return m.desired(rs), nil
}

func checkName(what, name string) error {
	if name == "" {
		return fmt.Errorf("%s name missing", what)
	}
	if len(name) > 255 {
		return fmt.Errorf("%s name %q is longer than 255 bytes", what, name)
	}
	return nil
}

// checkSet validates what of a set does not depend on its elements and
// returns the kernel's view of its shape.
func checkSet(name string, s *Set) (setSpec, error) {
	if s == nil {
		return setSpec{}, fmt.Errorf("set %q is nil", name)
	}
	if s.Name != "" && s.Name != name {
		return setSpec{}, fmt.Errorf("set %q has Name %q; they must agree", name, s.Name)
	}
	if err := checkName("set", name); err != nil {
		return setSpec{}, err
	}
	dt, err := datatype(s.Type)
	if err != nil {
		return setSpec{}, fmt.Errorf("set %q: %w", name, err)
	}
	if s.Interval && s.Type != TypeIPv4Addr && s.Type != TypeIPv6Addr && s.Type != TypeInetService {
		return setSpec{}, fmt.Errorf("set %q: type %s cannot be an interval set", name, dt.Name)
	}
	return setSpec{interval: s.Interval, keyType: dt.GetNFTMagic(), keyLen: dt.Bytes}, nil
}

// buildSet works out a set's state from scratch. raw is every element's
// span, sorted, before duplicates are dropped and intervals merged: what
// an update of a few elements starts from (see updateSet).
func buildSet(name string, s *Set) (st *setState, raw []span, err error) {
	spec, err := checkSet(name, s)
	if err != nil {
		return nil, nil, err
	}
	if raw, err = setSpans(name, s); err != nil {
		return nil, nil, err
	}
	return &setState{spec: spec, elems: spanElems(raw, s.Interval)}, raw, nil
}

// spanElems turns sorted spans into a set's elements: duplicates
// dropped, and for an interval set, overlapping or touching spans
// merged.
func spanElems(sorted []span, interval bool) []elem {
	out := make([]elem, 0, len(sorted))
	for _, s := range sorted {
		if n := len(out); n > 0 {
			last := &out[n-1]
			if !interval {
				if last.span == s {
					continue
				}
			} else if nxt, ok := last.hi.next(); !ok || s.lo.compare(nxt) <= 0 {
				if s.hi.compare(last.hi) > 0 {
					last.hi = s.hi
				}
				continue
			}
		}
		out = append(out, elem{span: s})
	}
	return out
}

// checkMap validates what of a map does not depend on its elements.
func checkMap(name string, m *Map) error {
	if m == nil {
		return fmt.Errorf("map %q is nil", name)
	}
	if m.Name != "" && m.Name != name {
		return fmt.Errorf("map %q has Name %q; they must agree", name, m.Name)
	}
	if err := checkName("map", name); err != nil {
		return err
	}
	if m.Type != TypeIfname {
		return fmt.Errorf("map %q: type must be TypeIfname", name)
	}
	return nil
}

// buildMap works out a map's state from scratch.
func buildMap(rs *Ruleset, name string, m *Map) (*setState, error) {
	if err := checkMap(name, m); err != nil {
		return nil, err
	}
	named := *m
	named.Name = name
	elems, err := mapElems(&named)
	if err != nil {
		return nil, err
	}
	if err := checkMapTargets(rs, name, m, nil); err != nil {
		return nil, err
	}
	return &setState{spec: setSpec{isMap: true}, elems: elems}, nil
}

// checkMapTargets checks that the elements named in keys (all of them
// when keys is nil) lead to regular chains of rs.
func checkMapTargets(rs *Ruleset, name string, m *Map, keys []string) error {
	var errs []error
	check := func(key string, v Verdict) {
		c, ok := rs.Chains[v.Chain]
		switch {
		case !ok || c == nil:
			errs = append(errs, fmt.Errorf("map %q element %q: %s %s: no such chain", name, key, verdictWord(v.Kind), v.Chain))
		case c.Base != nil:
			errs = append(errs, fmt.Errorf("map %q element %q: %s %s: it is a base chain", name, key, verdictWord(v.Kind), v.Chain))
		}
	}
	if keys == nil {
		for key, v := range m.Elements {
			check(key, v)
		}
	} else {
		for _, key := range keys {
			if v, ok := m.Elements[key]; ok {
				check(key, v)
			}
		}
	}
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errors.Join(errs...)
}

func verdictWord(k VerdictKind) string {
	if k == VerdictGoto {
		return "goto"
	}
	return "jump"
}

// buildChain validates a chain and compiles its rules to their content
// hashes. refs are the sets and maps its rules name.
func buildChain(rs *Ruleset, name string, c *Chain) (cs *chainState, refs []string, err error) {
	if c == nil {
		return nil, nil, fmt.Errorf("chain %q is nil", name)
	}
	if c.Name != "" && c.Name != name {
		return nil, nil, fmt.Errorf("chain %q has Name %q; they must agree", name, c.Name)
	}
	if err := checkName("chain", name); err != nil {
		return nil, nil, err
	}
	base := normHook(c.Base)
	if base != nil {
		if base.Type != "filter" {
			return nil, nil, fmt.Errorf("chain %q: type %q: only filter chains are supported", name, base.Type)
		}
		if _, ok := hookNums[base.Hook]; !ok {
			return nil, nil, fmt.Errorf("chain %q: unknown hook %q", name, base.Hook)
		}
		if base.Policy != "accept" && base.Policy != "drop" {
			return nil, nil, fmt.Errorf("chain %q: policy %q must be accept or drop", name, base.Policy)
		}
	}
	cs = &chainState{base: base, rules: make([]string, 0, len(c.Rules))}
	comments := map[string]int{}
	var errs []error
	b := newRuleBuilder(rs)
	for i := range c.Rules {
		r := &c.Rules[i]
		b.reset()
		br, err := b.build(r)
		if err != nil {
			errs = append(errs, fmt.Errorf("chain %q rule %d: %w", name, i, err))
			continue
		}
		if r.Comment != "" {
			if j, dup := comments[r.Comment]; dup {
				errs = append(errs, fmt.Errorf("chain %q rule %d: comment %q is also on rule %d; comments must be unique in a chain", name, i, r.Comment, j))
			}
			comments[r.Comment] = i
		}
		cs.rules = append(cs.rules, ruleHash(br.verbose))
		refs = append(refs, ruleRefs(r)...)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	slices.Sort(refs)
	return cs, slices.Compact(refs), nil
}

func ruleRefs(r *Rule) []string {
	var out []string
	for _, m := range r.Match {
		if m.Set != "" {
			out = append(out, m.Set)
		}
	}
	if r.Verdict.Kind == VerdictMap {
		out = append(out, r.Verdict.Map)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
