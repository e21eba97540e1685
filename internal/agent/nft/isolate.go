package nft

import (
	"cmp"
	"maps"
	"slices"
)

// Keeping the failure of one object local: when the kernel rejects a
// ruleset, its caller looks for the objects responsible by applying
// mixes of the ruleset the kernel holds and the one it wants (Mix),
// each object taken from one or the other, and keeps the objects that
// fail at the version the kernel holds.

// ObjectKind is a kind of object of a Ruleset.
type ObjectKind uint8

const (
	ObjChain ObjectKind = iota + 1
	ObjSet
	// ObjMap is a map itself, without its elements.
	ObjMap
	// ObjMapElement is one element of a map.
	ObjMapElement
)

var objectKindNames = [...]string{ObjChain: "chain", ObjSet: "set", ObjMap: "map", ObjMapElement: "map-element"}

func (k ObjectKind) String() string { return objectKindNames[k] }

// ObjectID names an object of a Ruleset.
type ObjectID struct {
	Kind ObjectKind
	Name string // the chain, set or map
	Key  string // ObjMapElement: the element's key
}

// Label is how the object is named in messages: "fw-cali1",
// "from-wl[cali1]".
func (o ObjectID) Label() string {
	if o.Kind == ObjMapElement {
		return o.Name + "[" + o.Key + "]"
	}
	return o.Name
}

func (o ObjectID) String() string { return o.Kind.String() + " " + o.Label() }

// Core reports whether the object is part of the table's skeleton in
// want: a base chain or a map (without its elements). A ruleset whose
// skeleton cannot be applied cannot be applied in part either.
func (o ObjectID) Core(want *Ruleset) bool {
	switch o.Kind {
	case ObjMap:
		return true
	case ObjChain:
		c := want.Chains[o.Name]
		return c != nil && c.Base != nil
	}
	return false
}

// fact is what an object's users depend on: whether it exists and its
// kind (a chain's base-ness, a set's type), as chainFP covers it.
func factOf(rs *Ruleset, id ObjectID) fact {
	if rs == nil {
		return fact{}
	}
	switch id.Kind {
	case ObjChain:
		return chainFact(rs.Chains[id.Name])
	case ObjSet:
		return setFact(rs.Sets[id.Name])
	case ObjMap:
		return mapFact(rs.Maps[id.Name])
	case ObjMapElement:
		if m := rs.Maps[id.Name]; m != nil {
			_, ok := m.Elements[id.Key]
			return fact{exists: ok}
		}
	}
	return fact{}
}

// objectRefs lists the objects that the object id, as in rs, names: a
// chain's sets, maps and the chains it jumps to; a map element's map and
// chain.
func objectRefs(rs *Ruleset, id ObjectID) []ObjectID {
	if rs == nil {
		return nil
	}
	switch id.Kind {
	case ObjChain:
		c := rs.Chains[id.Name]
		if c == nil {
			return nil
		}
		var out []ObjectID
		for _, r := range chainDeps(c) {
			switch r.kind {
			case refSet:
				out = append(out, ObjectID{Kind: ObjSet, Name: r.name})
			case refMap:
				out = append(out, ObjectID{Kind: ObjMap, Name: r.name})
			case refChain:
				out = append(out, ObjectID{Kind: ObjChain, Name: r.name})
			}
		}
		return out
	case ObjMapElement:
		m := rs.Maps[id.Name]
		if m == nil {
			return nil
		}
		v, ok := m.Elements[id.Key]
		if !ok {
			return nil
		}
		return []ObjectID{{Kind: ObjMap, Name: id.Name}, {Kind: ObjChain, Name: v.Chain}}
	}
	return nil
}

// Diff returns the objects in which want differs from have (nil: an
// empty table): chains and sets by pointer, maps by existence, their
// elements by value. They are sorted so that an object comes after those
// it names in want, as far as kinds allow: sets, regular chains (those
// jumped to first), maps, map elements, base chains.
func Diff(have, want *Ruleset) []ObjectID {
	if have == nil {
		have = &Ruleset{}
	}
	var out []ObjectID
	for _, name := range unionKeys(have.Chains, want.Chains) {
		if have.Chains[name] != want.Chains[name] {
			out = append(out, ObjectID{Kind: ObjChain, Name: name})
		}
	}
	for _, name := range unionKeys(have.Sets, want.Sets) {
		if have.Sets[name] != want.Sets[name] {
			out = append(out, ObjectID{Kind: ObjSet, Name: name})
		}
	}
	for _, name := range unionKeys(have.Maps, want.Maps) {
		hm, wm := have.Maps[name], want.Maps[name]
		if (hm == nil) != (wm == nil) {
			out = append(out, ObjectID{Kind: ObjMap, Name: name})
		}
		if hm == wm {
			continue
		}
		var he, we map[string]Verdict
		if hm != nil {
			he = hm.Elements
		}
		if wm != nil {
			we = wm.Elements
		}
		for _, k := range unionKeys(he, we) {
			hv, hok := he[k]
			wv, wok := we[k]
			if hok != wok || hv != wv {
				out = append(out, ObjectID{Kind: ObjMapElement, Name: name, Key: k})
			}
		}
	}
	sortForApply(out, have, want)
	return out
}

func unionKeys[V any](a, b map[string]V) []string {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// sortForApply orders ids by rank (sets, regular chains, maps, map
// elements, base chains), regular chains by height (a chain after those
// it jumps to), then by name.
func sortForApply(ids []ObjectID, have, want *Ruleset) {
	height := map[string]int{}
	var chainHeight func(name string, depth int) int
	chainHeight = func(name string, depth int) int {
		if h, ok := height[name]; ok {
			return h
		}
		c := want.Chains[name]
		if c == nil {
			c = have.Chains[name]
		}
		h := 0
		if c != nil && depth < 64 { // chains do not loop; this bounds a ruleset that does
			for _, r := range chainDeps(c) {
				if r.kind == refChain {
					h = max(h, chainHeight(r.name, depth+1)+1)
				}
			}
		}
		height[name] = h
		return h
	}
	rank := func(id ObjectID) int {
		switch id.Kind {
		case ObjSet:
			return 0
		case ObjChain:
			if c := cmp.Or(want.Chains[id.Name], have.Chains[id.Name]); c != nil && c.Base != nil {
				return 4
			}
			return 1
		case ObjMap:
			return 2
		}
		return 3
	}
	key := func(id ObjectID) (int, int) {
		r := rank(id)
		if r == 1 {
			return r, chainHeight(id.Name, 0)
		}
		return r, 0
	}
	slices.SortStableFunc(ids, func(a, b ObjectID) int {
		ra, ha := key(a)
		rb, hb := key(b)
		return cmp.Or(cmp.Compare(ra, rb), cmp.Compare(ha, hb), cmp.Compare(a.Name, b.Name), cmp.Compare(a.Key, b.Key))
	})
}

// Mix returns a ruleset that is want but for the objects in hold, which
// are as in have (an object have lacks is left out), and the objects it
// holds: hold, and those that had to follow for the result to be valid.
// An object of want that names an object held at a version unlike the
// one it expects (missing, or of another kind: a chain's base-ness, a
// set's type) is held too, and so on up its users; an object held that
// names an object whose version in want is unlike have's holds that one
// too. So every object of the result is as in want or as in have, and
// names only objects as its own ruleset has them: valid when have and
// want are. have nil is an empty table. The result has no Changes and
// shares want's and have's objects, but no map: maps with elements from
// both are new.
func Mix(have, want *Ruleset, hold map[ObjectID]bool) (*Ruleset, map[ObjectID]bool) {
	if have == nil {
		have = &Ruleset{Table: want.Table}
	}
	held := maps.Clone(hold)
	if held == nil {
		held = map[ObjectID]bool{}
	}
	diff := Diff(have, want)
	// users: for each object, the changed objects that name it in
	// either version.
	users := map[ObjectID][]ObjectID{}
	for _, x := range diff {
		for _, rs := range []*Ruleset{have, want} {
			for _, y := range objectRefs(rs, x) {
				users[y] = append(users[y], x)
			}
		}
	}
	version := func(id ObjectID) *Ruleset {
		if held[id] {
			return have
		}
		return want
	}
	queue := slices.Clone(diff)
	for len(queue) > 0 {
		x := queue[0]
		queue = queue[1:]
		side := version(x)
		for _, y := range objectRefs(side, x) {
			if factOf(side, y) == factOf(version(y), y) {
				continue
			}
			if side == want {
				// x cannot go in as wanted: it stays as it is.
				held[x] = true
				queue = append(queue, x)
				queue = append(queue, users[x]...)
				break
			}
			// x stays as it is, and needs y as it is.
			held[y] = true
			queue = append(queue, y)
			queue = append(queue, users[y]...)
		}
	}

	holdNewElementsReachingHeld(have, want, held, version)

	out := &Ruleset{Table: want.Table, Chains: maps.Clone(want.Chains), Sets: maps.Clone(want.Sets), Maps: maps.Clone(want.Maps)}
	if out.Chains == nil {
		out.Chains = map[string]*Chain{}
	}
	if out.Sets == nil {
		out.Sets = map[string]*Set{}
	}
	if out.Maps == nil {
		out.Maps = map[string]*Map{}
	}
	mixed := map[string]bool{} // maps with an element or the map held
	for id := range held {
		switch id.Kind {
		case ObjChain:
			putOrDelete(out.Chains, id.Name, have.Chains[id.Name])
		case ObjSet:
			putOrDelete(out.Sets, id.Name, have.Sets[id.Name])
		case ObjMap, ObjMapElement:
			mixed[id.Name] = true
		}
	}
	for name := range mixed {
		hm, wm := have.Maps[name], want.Maps[name]
		base := wm
		if held[ObjectID{Kind: ObjMap, Name: name}] {
			base = hm
		}
		if base == nil {
			delete(out.Maps, name)
			continue
		}
		m := &Map{Name: base.Name, Type: base.Type, Elements: map[string]Verdict{}}
		var he, we map[string]Verdict
		if hm != nil {
			he = hm.Elements
		}
		if wm != nil {
			we = wm.Elements
		}
		for _, k := range unionKeys(he, we) {
			src := we
			if held[ObjectID{Kind: ObjMapElement, Name: name, Key: k}] {
				src = he
			}
			if v, ok := src[k]; ok {
				m.Elements[k] = v
			}
		}
		out.Maps[name] = m
	}
	return out, held
}

// holdNewElementsReachingHeld holds each map element of want that have
// lacks (an interface the table does not dispatch yet) whose chain
// reaches, in the mix, a held object. Such an interface would meet the
// held object's old version, which was never wanted for it: failing
// closed, it is left out of the map, and its traffic meets the table's
// drop for unknown interfaces until the held object goes in. An element
// the kernel has keeps what it has (version says which side each object
// comes from).
func holdNewElementsReachingHeld(have, want *Ruleset, held map[ObjectID]bool, version func(ObjectID) *Ruleset) {
	if len(held) == 0 {
		return
	}
	visit := reachesHeld(held, func(name string) *Chain {
		return version(ObjectID{Kind: ObjChain, Name: name}).Chains[name]
	})
	for name, wm := range want.Maps {
		var he map[string]Verdict
		if hm := have.Maps[name]; hm != nil {
			he = hm.Elements
		}
		for k, v := range wm.Elements {
			id := ObjectID{Kind: ObjMapElement, Name: name, Key: k}
			if _, old := he[k]; old || held[id] || v.Chain == "" {
				continue
			}
			if visit(v.Chain) {
				held[id] = true
			}
		}
	}
}

// reachesHeld returns a function reporting whether a chain, as chainOf
// gives it, is held or reaches a held chain or set by jumps, gotos and set
// lookups (memoised; a loop reaches nothing new).
func reachesHeld(held map[ObjectID]bool, chainOf func(name string) *Chain) func(name string) bool {
	reaches := map[string]bool{}
	var visit func(name string, depth int) bool
	visit = func(name string, depth int) bool {
		if r, ok := reaches[name]; ok {
			return r
		}
		reaches[name] = false
		r := held[ObjectID{Kind: ObjChain, Name: name}]
		if c := chainOf(name); c != nil && !r && depth < 64 {
			for _, d := range chainDeps(c) {
				switch d.kind {
				case refChain:
					r = visit(d.name, depth+1)
				case refSet:
					r = held[ObjectID{Kind: ObjSet, Name: d.name}]
				}
				if r {
					break
				}
			}
		}
		reaches[name] = r
		return r
	}
	return func(name string) bool { return visit(name, 0) }
}

func putOrDelete[T any](m map[string]*T, name string, v *T) {
	if v == nil {
		delete(m, name)
		return
	}
	m[name] = v
}

// Affected returns the keys of the map elements of rs (interface names)
// whose traffic meets an object in held: the element itself, the chain
// it leads to, or a chain or set reached from there by jumps, gotos and
// set lookups.
func Affected(rs *Ruleset, held map[ObjectID]bool) map[string]bool {
	out := map[string]bool{}
	if len(held) == 0 {
		return out
	}
	visit := reachesHeld(held, func(name string) *Chain { return rs.Chains[name] })
	for name, m := range rs.Maps {
		for k, v := range m.Elements {
			if held[ObjectID{Kind: ObjMapElement, Name: name, Key: k}] || visit(v.Chain) {
				out[k] = true
			}
		}
	}
	for id := range held {
		if id.Kind == ObjMapElement {
			out[id.Key] = true // held out of the map, or at its old target
		}
	}
	return out
}
