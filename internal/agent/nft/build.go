package nft

import (
	"errors"
	"fmt"
	"slices"
)

// changeSet is what a ruleset changes in the model: new entries for the
// objects that are new or whose pointer changed (or that must be checked
// again), nil for those gone.
type changeSet struct {
	rs     *Ruleset
	chains map[string]*chainEntry
	sets   map[string]*setEntry
	maps   map[string]*setEntry
	deltas map[string]*elemDelta // see desired.deltas
}

// scan returns the names of objs that are new or not the object entries
// holds, in no order, and, sorted, the names entries holds that objs no
// longer has.
func scan[T, E any](objs map[string]*T, entries map[string]*E, src func(*E) *T) (changed, gone []string) {
	seen := 0
	for name, o := range objs {
		if e, ok := entries[name]; ok {
			seen++
			if src(e) == o {
				continue
			}
		}
		changed = append(changed, name)
	}
	return changed, scanGone(objs, entries, seen)
}

// scanNamed is scan over the named objects only.
func scanNamed[T, E any](names map[string]struct{}, objs map[string]*T, entries map[string]*E, src func(*E) *T) (changed, gone []string) {
	for name := range names {
		o, want := objs[name]
		e, have := entries[name]
		switch {
		case want && (!have || src(e) != o):
			changed = append(changed, name)
		case !want && have:
			gone = append(gone, name)
		}
	}
	slices.Sort(gone)
	return changed, gone
}

// scanChains is scan for chains, by way of chainSrc.
func (m *model) scanChains(objs map[string]*Chain) (changed, gone []string) {
	seen := 0
	for name, c := range objs {
		if src, ok := m.chainSrc[name]; ok {
			seen++
			if src == c {
				continue
			}
		}
		changed = append(changed, name)
	}
	return changed, scanGone(objs, m.chains, seen)
}

// scanGone returns the names of entries no longer in objs, sorted,
// given that seen of them are.
func scanGone[T, E any](objs map[string]*T, entries map[string]*E, seen int) (gone []string) {
	if seen < len(entries) {
		for name := range entries {
			if _, ok := objs[name]; !ok {
				gone = append(gone, name)
			}
		}
	}
	slices.Sort(gone)
	return gone
}

// build validates rs against the model and works out what it changes.
// Every problem is reported, not just the first. The model itself is
// left alone: see commit.
func (m *model) build(rs *Ruleset) (*changeSet, error) {
	if rs == nil {
		return nil, errors.New("ruleset is nil")
	}
	if err := checkName("table", rs.Table); err != nil {
		return nil, err
	}
	ch := &changeSet{
		rs:     rs,
		chains: map[string]*chainEntry{},
		sets:   map[string]*setEntry{},
		maps:   map[string]*setEntry{},
		deltas: map[string]*elemDelta{},
	}
	// recheck: chains built again because something they look up changed.
	recheck := map[string]bool{}
	changedFact := func(kind refKind, name string, was, is fact) {
		if was != is {
			for u := range m.users[ref{kind, name}] {
				recheck[u] = true
			}
		}
	}

	// With Changes that follow the ruleset the model last took, only the
	// objects they name can differ: the rest are not even looked up.
	var hint *Changes
	if c := rs.Changes; c != nil && c.Lineage != 0 && c.Lineage == m.lineage && c.Since == m.gen {
		hint = c
	}
	var setNames, setsGone, mapNames, mapsGone, chainNames, chainsGone []string
	if hint != nil {
		setNames, setsGone = scanNamed(hint.Sets, rs.Sets, m.sets, func(e *setEntry) *Set { return e.set })
		mapNames, mapsGone = scanNamed(hint.Maps, rs.Maps, m.maps, func(e *setEntry) *Map { return e.m })
		chainNames, chainsGone = scanNamed(hint.Chains, rs.Chains, m.chains, func(e *chainEntry) *Chain { return e.src })
	} else {
		setNames, setsGone = scan(rs.Sets, m.sets, func(e *setEntry) *Set { return e.set })
		mapNames, mapsGone = scan(rs.Maps, m.maps, func(e *setEntry) *Map { return e.m })
		chainNames, chainsGone = m.scanChains(rs.Chains)
	}
	slices.Sort(setNames)
	for _, name := range setsGone {
		ch.sets[name] = nil
		changedFact(refSet, name, setFact(m.sets[name].set), fact{})
	}
	for _, name := range mapsGone {
		ch.maps[name] = nil
		changedFact(refMap, name, fact{exists: true}, fact{})
	}
	for _, name := range mapNames {
		changedFact(refMap, name, mapFact(m.maps[name].srcMap()), mapFact(rs.Maps[name]))
	}
	// chainFacts: a chain came, went or changed kind, which may make
	// any map element valid or not.
	chainFacts := len(chainsGone) > 0
	for _, name := range chainsGone {
		ch.chains[name] = nil
		changedFact(refChain, name, chainFact(m.chains[name].src), fact{})
	}
	for _, name := range chainNames {
		was, is := chainFact(m.chains[name].srcChain()), chainFact(rs.Chains[name])
		changedFact(refChain, name, was, is)
		chainFacts = chainFacts || was != is
	}

	var errs []error
	for _, name := range setNames {
		s := rs.Sets[name]
		changedFact(refSet, name, setFact(m.sets[name].srcSet()), setFact(s))
		e, d, err := m.setEntry(name, s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ch.sets[name] = e
		if d != nil {
			ch.deltas[name] = d
		}
	}
	// All maps, though few change: each is checked for a set of its name.
	for _, name := range sortedKeys(rs.Maps) {
		if _, ok := rs.Sets[name]; ok {
			errs = append(errs, fmt.Errorf("map %q: a set has the same name (sets and maps share a namespace)", name))
			continue
		}
		mp := rs.Maps[name]
		if !chainFacts && !slices.Contains(mapNames, name) {
			continue
		}
		e, d, err := m.mapEntry(rs, name, mp, chainFacts)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ch.maps[name] = e
		if d != nil {
			ch.deltas[name] = d
		}
	}
	for name := range recheck {
		if c, ok := rs.Chains[name]; ok && c == m.chainSrc[name] {
			chainNames = append(chainNames, name)
		}
	}
	slices.Sort(chainNames)
	for _, name := range chainNames {
		e, err := m.chainEntry(rs, name, rs.Chains[name])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ch.chains[name] = e
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return ch, nil
}

// chainEntry builds a chain unless its fingerprint is the one the model
// has: then only the object it came from changes.
func (m *model) chainEntry(rs *Ruleset, name string, c *Chain) (*chainEntry, error) {
	if c == nil {
		return nil, fmt.Errorf("chain %q is nil", name)
	}
	sum := m.fp.chainFP(rs, c)
	m.hashed++
	if old := m.chains[name]; old != nil && old.fp == sum {
		e := *old
		e.src = c
		return &e, nil
	}
	st, refs, err := buildChain(rs, name, c)
	if err != nil {
		return nil, err
	}
	m.built++
	return &chainEntry{src: c, fp: sum, state: st, refs: refs, deps: chainDeps(c)}, nil
}

// setEntry works out a set's state from the one it replaces when it can,
// from scratch otherwise.
func (m *model) setEntry(name string, s *Set) (*setEntry, *elemDelta, error) {
	spec, err := checkSet(name, s)
	if err != nil {
		return nil, nil, err
	}
	if old := m.sets[name]; old != nil && old.state.spec == spec {
		if e, d, ok, err := updateSet(old, name, s); ok || err != nil {
			return e, d, err
		}
	}
	st, raw, err := buildSet(name, s)
	if err != nil {
		return nil, nil, err
	}
	m.built++
	return &setEntry{set: s, state: st, raw: raw}, nil, nil
}

// mapEntry works out a map's state from the one it replaces when it can,
// from scratch otherwise. all: check where every element leads, not only
// the changed ones.
func (m *model) mapEntry(rs *Ruleset, name string, mp *Map, all bool) (*setEntry, *elemDelta, error) {
	if err := checkMap(name, mp); err != nil {
		return nil, nil, err
	}
	if old := m.maps[name]; old != nil {
		if e, d, ok, err := updateMap(rs, old, name, mp, all); ok || err != nil {
			return e, d, err
		}
	}
	st, err := buildMap(rs, name, mp)
	if err != nil {
		return nil, nil, err
	}
	m.built++
	return &setEntry{m: mp, state: st}, nil, nil
}
