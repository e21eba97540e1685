package nft

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sort"
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
	// fp is the fingerprint of the Set or Map the state was built from
	// (zero when read from the kernel): equal fingerprints spare the
	// planner comparing elements one by one.
	fp [32]byte
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

// desired is a validated Ruleset with the state it must produce.
type desired struct {
	*state
	rs    *Ruleset
	types map[string]SetType // set and map types by name
	// refs: the sets and maps each chain's rules name; a chain is
	// rewritten when one of them is re-created.
	refs map[string][]string
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

// buildDesired validates rs and works out its state. Every problem is
// reported, not just the first. cache, when not nil, spares re-deriving
// chains and sets that have not changed since the last call.
func buildDesired(rs *Ruleset, cache *buildCache) (*desired, error) {
	if rs == nil {
		return nil, errors.New("ruleset is nil")
	}
	if err := checkName("table", rs.Table); err != nil {
		return nil, err
	}
	d := &desired{
		state: emptyState(),
		rs:    rs,
		types: map[string]SetType{},
		refs:  map[string][]string{},
	}
	d.table = true
	if cache == nil {
		cache = newBuildCache()
	}
	cache.prune(rs)
	fp := newFP()
	var errs []error
	for _, name := range sortedKeys(rs.Sets) {
		s := rs.Sets[name]
		if s != nil {
			d.types[name] = s.Type
		}
		if err := d.cachedSet(cache, name, s != nil, func() [32]byte { return fp.setFP(s) }, func() error { return d.addSet(name, s) }); err != nil {
			errs = append(errs, err)
		}
	}
	for _, name := range sortedKeys(rs.Maps) {
		m := rs.Maps[name]
		if _, ok := rs.Sets[name]; ok {
			errs = append(errs, fmt.Errorf("map %q: a set has the same name (sets and maps share a namespace)", name))
			continue
		}
		if err := d.cachedSet(cache, name, m != nil, func() [32]byte { return fp.mapFP(rs, m) }, func() error { return d.addMap(name, m) }); err != nil {
			errs = append(errs, err)
		}
		d.types[name] = TypeIfname
	}
	for _, name := range sortedKeys(rs.Chains) {
		c := rs.Chains[name]
		if c == nil {
			errs = append(errs, fmt.Errorf("chain %q is nil", name))
			continue
		}
		sum := fp.chainFP(rs, c)
		if e, ok := cache.chains[name]; ok && e.fp == sum {
			d.chains[name], d.refs[name] = e.state, e.refs
			continue
		}
		if err := d.addChain(name, c); err != nil {
			errs = append(errs, err)
			continue
		}
		cache.chains[name] = chainEntry{fp: sum, state: d.chains[name], refs: d.refs[name]}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return d, nil
}

// cachedSet takes a set's or map's state from the cache when its
// fingerprint is unchanged, and builds and caches it otherwise.
func (d *desired) cachedSet(cache *buildCache, name string, notNil bool, fp func() [32]byte, build func() error) error {
	if !notNil {
		return build() // reports the nil
	}
	sum := fp()
	if e, ok := cache.sets[name]; ok && e.fp == sum {
		d.sets[name] = e.state
		return nil
	}
	if err := build(); err != nil {
		return err
	}
	st := d.sets[name]
	st.fp = sum
	cache.sets[name] = setEntry{fp: sum, state: st}
	return nil
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

func (d *desired) addSet(name string, s *Set) error {
	if s == nil {
		return fmt.Errorf("set %q is nil", name)
	}
	if s.Name != "" && s.Name != name {
		return fmt.Errorf("set %q has Name %q; they must agree", name, s.Name)
	}
	if err := checkName("set", name); err != nil {
		return err
	}
	dt, err := datatype(s.Type)
	if err != nil {
		return fmt.Errorf("set %q: %w", name, err)
	}
	if s.Interval && s.Type != TypeIPv4Addr && s.Type != TypeIPv6Addr && s.Type != TypeInetService {
		return fmt.Errorf("set %q: type %s cannot be an interval set", name, dt.Name)
	}
	named := *s
	named.Name = name
	elems, err := setElems(&named)
	if err != nil {
		return err
	}
	d.sets[name] = &setState{
		spec:  setSpec{interval: s.Interval, keyType: dt.GetNFTMagic(), keyLen: dt.Bytes},
		elems: elems,
	}
	return nil
}

func (d *desired) addMap(name string, m *Map) error {
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
	named := *m
	named.Name = name
	elems, err := mapElems(&named)
	if err != nil {
		return err
	}
	var errs []error
	for target, v := range m.Elements {
		c, ok := d.rs.Chains[v.Chain]
		switch {
		case !ok || c == nil:
			errs = append(errs, fmt.Errorf("map %q element %q: %s %s: no such chain", name, target, verdictWord(v.Kind), v.Chain))
		case c.Base != nil:
			errs = append(errs, fmt.Errorf("map %q element %q: %s %s: it is a base chain", name, target, verdictWord(v.Kind), v.Chain))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	d.sets[name] = &setState{spec: setSpec{isMap: true}, elems: elems}
	return nil
}

func verdictWord(k VerdictKind) string {
	if k == VerdictGoto {
		return "goto"
	}
	return "jump"
}

func (d *desired) addChain(name string, c *Chain) error {
	if c == nil {
		return fmt.Errorf("chain %q is nil", name)
	}
	if c.Name != "" && c.Name != name {
		return fmt.Errorf("chain %q has Name %q; they must agree", name, c.Name)
	}
	if err := checkName("chain", name); err != nil {
		return err
	}
	base := normHook(c.Base)
	if base != nil {
		if base.Type != "filter" {
			return fmt.Errorf("chain %q: type %q: only filter chains are supported", name, base.Type)
		}
		if _, ok := hookNums[base.Hook]; !ok {
			return fmt.Errorf("chain %q: unknown hook %q", name, base.Hook)
		}
		if base.Policy != "accept" && base.Policy != "drop" {
			return fmt.Errorf("chain %q: policy %q must be accept or drop", name, base.Policy)
		}
	}
	cs := &chainState{base: base, rules: make([]string, 0, len(c.Rules))}
	comments := map[string]int{}
	var refs []string
	var errs []error
	for i := range c.Rules {
		r := &c.Rules[i]
		b := newRuleBuilder(d.rs)
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
		return err
	}
	slices.Sort(refs)
	d.refs[name] = slices.Compact(refs)
	d.chains[name] = cs
	return nil
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
