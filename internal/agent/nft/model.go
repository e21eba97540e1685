package nft

import (
	"slices"
	"strings"
)

// model is the ruleset as last built, object by object: for each chain,
// set and map, the object it was built from and the state it produced.
// It is what makes Apply's work follow the change rather than the size
// of the ruleset.
//
// The caller hands over the same *Chain, *Set and *Map again for what did
// not change (see Apply), so an object whose pointer is the one in the
// model costs a map lookup: no hashing, no building, no diffing. A new
// chain object is fingerprinted and built again only when its fingerprint
// differs. A new set or map object is compared with the one it replaces,
// and its state updated for the elements that differ (see updateSet and
// updateMap).
//
// A chain's build also looks elsewhere: at the type of each set it names,
// whether the maps it dispatches to exist, whether the chains it jumps to
// exist and are base chains; a map's build looks at the chains its
// elements lead to. users records which chains looked at what, so that
// when one of those facts changes, the chains that depend on it are built
// again although they are the same objects; maps are checked again
// whenever a chain comes, goes or changes kind.
//
// The states the model hands out (desired, partial) hold until its next
// commit: a large set updated in place shares its arrays with the state
// it replaces, and commit splices them.
type model struct {
	chains map[string]*chainEntry
	sets   map[string]*setEntry // from Ruleset.Sets
	maps   map[string]*setEntry // from Ruleset.Maps
	users  map[ref]map[string]struct{}
	// chainSrc is each chain's src, apart: comparing thousands of
	// pointers is then a map lookup each, without an entry to read.
	chainSrc map[string]*Chain
	// lineage and gen: the Changes generation of the ruleset the model
	// last took (lineage 0: none, or one without Changes).
	lineage, gen uint64

	fp *fpWriter
	// built counts objects built from scratch and hashed chains
	// fingerprinted, for tests.
	built, hashed int
}

func newModel() *model {
	return &model{
		chains: map[string]*chainEntry{},
		sets:   map[string]*setEntry{},
		maps:   map[string]*setEntry{},
		users:  map[ref]map[string]struct{}{},
		fp:     newFP(),

		chainSrc: map[string]*Chain{},
	}
}

type chainEntry struct {
	src   *Chain
	fp    [32]byte // chainFP of src in the ruleset it was built in
	state *chainState
	refs  []string // the sets and maps its rules name
	deps  []ref    // what its build looked up elsewhere
}

type setEntry struct {
	set   *Set // for a set
	m     *Map // for a map
	state *setState
	raw   []span // for a set: its elements' spans, sorted (see buildSet)
	// splice: how raw and state.elems differ from the arrays they share
	// with the entry replaced, until commit.
	splice *setSplice
}

// ref names an object that a chain's build looks up.
type ref struct {
	kind refKind
	name string
}

type refKind uint8

const (
	refSet refKind = iota
	refMap
	refChain
)

// fact is what other objects' builds see of an object; the zero fact is
// a missing (or nil) one. These are exactly what chainFP covers of the
// objects a chain names.
type fact struct {
	exists bool
	typ    SetType // sets
	base   bool    // chains
}

func setFact(s *Set) fact {
	if s == nil {
		return fact{}
	}
	return fact{exists: true, typ: s.Type}
}

func mapFact(m *Map) fact     { return fact{exists: m != nil} }
func chainFact(c *Chain) fact { return fact{exists: c != nil, base: c != nil && c.Base != nil} }

// The objects entries were built from; nil for no entry.

func (e *setEntry) srcSet() *Set {
	if e == nil {
		return nil
	}
	return e.set
}

func (e *setEntry) srcMap() *Map {
	if e == nil {
		return nil
	}
	return e.m
}

func (e *chainEntry) srcChain() *Chain {
	if e == nil {
		return nil
	}
	return e.src
}

// chainDeps lists what building c looks up: the sets its matches name,
// the chains it jumps to, the maps it dispatches to.
func chainDeps(c *Chain) []ref {
	var out []ref
	for i := range c.Rules {
		r := &c.Rules[i]
		for j := range r.Match {
			if s := r.Match[j].Set; s != "" {
				out = append(out, ref{refSet, s})
			}
		}
		switch v := r.Verdict; v.Kind {
		case VerdictJump, VerdictGoto:
			out = append(out, ref{refChain, v.Chain})
		case VerdictMap:
			out = append(out, ref{refMap, v.Map})
		}
	}
	slices.SortFunc(out, func(a, b ref) int {
		if a.kind != b.kind {
			return int(a.kind) - int(b.kind)
		}
		return strings.Compare(a.name, b.name)
	})
	return slices.Compact(out)
}

// countedChains are the names of the chains with a rule that has a
// counter and a comment, sorted (what Counters reads).
func (m *model) countedChains() []string {
	out := []string{}
	for name, src := range m.chainSrc {
		if src != nil && slices.ContainsFunc(src.Rules, func(r Rule) bool { return r.Counter && r.Comment != "" }) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// commit makes the model that of the ruleset ch was built from.
func (m *model) commit(ch *changeSet) {
	m.lineage, m.gen = 0, 0
	if c := ch.rs.Changes; c != nil {
		m.lineage, m.gen = c.Lineage, c.Gen
	}
	for name, e := range ch.chains {
		old := m.chains[name]
		sameDeps := old != nil && e != nil && slices.Equal(old.deps, e.deps)
		if old != nil && !sameDeps {
			for _, r := range old.deps {
				delete(m.users[r], name)
				if len(m.users[r]) == 0 {
					delete(m.users, r)
				}
			}
		}
		if e == nil {
			delete(m.chains, name)
			delete(m.chainSrc, name)
			continue
		}
		if !sameDeps {
			for _, r := range e.deps {
				if m.users[r] == nil {
					m.users[r] = map[string]struct{}{}
				}
				m.users[r][name] = struct{}{}
			}
		}
		m.chains[name], m.chainSrc[name] = e, e.src
	}
	commitSets(m.sets, ch.sets)
	commitSets(m.maps, ch.maps)
}

func commitSets(entries, changed map[string]*setEntry) {
	for name, e := range changed {
		if e == nil {
			delete(entries, name)
			continue
		}
		if e.splice != nil {
			e.splice.apply(e)
			e.splice = nil
		}
		entries[name] = e
	}
}

// desired is the state of the whole model, built from rs.
func (m *model) desired(rs *Ruleset) *desired {
	d := &desired{
		state: &state{
			table:  true,
			chains: make(map[string]*chainState, len(m.chains)),
			sets:   make(map[string]*setState, len(m.sets)+len(m.maps)),
		},
		rs:   rs,
		refs: make(map[string][]string, len(m.chains)),
	}
	for name, e := range m.chains {
		d.chains[name], d.refs[name] = e.state, e.refs
	}
	for _, entries := range []map[string]*setEntry{m.sets, m.maps} {
		for name, e := range entries {
			d.sets[name] = e.state
		}
	}
	return d
}

// partial returns the part of the table that ch changes, before and
// after, for planning against a kernel known to hold the model: the
// objects whose state changes, and the chains that must be rewritten
// because a set or map they name is re-created. Call it before commit.
func (m *model) partial(ch *changeSet) (old *state, want *desired) {
	old = emptyState()
	old.table = true
	want = &desired{state: emptyState(), rs: ch.rs, refs: map[string][]string{}, deltas: ch.deltas}
	want.table = true
	for name, e := range ch.chains {
		o := m.chains[name]
		if o != nil && e != nil && o.state == e.state {
			continue
		}
		if o != nil {
			old.chains[name] = o.state
		}
		if e != nil {
			want.chains[name], want.refs[name] = e.state, e.refs
		}
	}
	for _, changed := range []map[string]*setEntry{ch.sets, ch.maps} {
		for name := range changed {
			o, w := m.setState(name), m.setStateAfter(ch, name)
			if o == w {
				continue
			}
			if o != nil {
				old.sets[name] = o
			}
			if w != nil {
				want.sets[name] = w
			}
			if o == nil || w == nil || o.spec == w.spec {
				continue
			}
			// Re-created: the chains naming it are rewritten.
			for _, k := range []refKind{refSet, refMap} {
				for c := range m.users[ref{k, name}] {
					m.includeChain(ch, c, old, want)
				}
			}
		}
	}
	return old, want
}

// includeChain adds a chain of the model to both sides of a partial plan.
func (m *model) includeChain(ch *changeSet, name string, old *state, want *desired) {
	if _, ok := old.chains[name]; ok {
		return
	}
	if _, ok := want.chains[name]; ok {
		return
	}
	o := m.chains[name]
	e, ok := ch.chains[name]
	if !ok {
		e = o
	}
	old.chains[name] = o.state
	if e != nil {
		want.chains[name], want.refs[name] = e.state, e.refs
	}
}

// setState is the model's state of the set or map name, or nil.
func (m *model) setState(name string) *setState {
	if e := m.sets[name]; e != nil {
		return e.state
	}
	if e := m.maps[name]; e != nil {
		return e.state
	}
	return nil
}

// setStateAfter is the state of the set or map name once ch is
// committed, or nil.
func (m *model) setStateAfter(ch *changeSet, name string) *setState {
	pick := func(entries, changed map[string]*setEntry) *setState {
		e, ok := changed[name]
		if !ok {
			e = entries[name]
		}
		if e == nil {
			return nil
		}
		return e.state
	}
	if st := pick(m.sets, ch.sets); st != nil {
		return st
	}
	return pick(m.maps, ch.maps)
}
