package labelindex

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gocalico/calico/internal/selector"
)

// op is one change, applied alike to an Index, an IPSets and the
// brute-force model.
type op struct {
	kind      opKind
	id        string
	labels    map[string]string
	parents   []string
	addrs     []netip.Prefix
	ports     []NamedPort
	sel       string // selector source, for selectors and sets
	namedPort string
	proto     uint8
}

type opKind int

const (
	opUpdateItem opKind = iota
	opDeleteItem
	opUpdateParent
	opDeleteParent
	opUpdateSelector
	opDeleteSelector
	opAddSet
	opRemoveSet
)

func (o op) String() string {
	switch o.kind {
	case opUpdateItem:
		return fmt.Sprintf("UpdateItem(%s, %v, %v, %v, %v)", o.id, o.labels, o.parents, o.addrs, o.ports)
	case opDeleteItem:
		return fmt.Sprintf("DeleteItem(%s)", o.id)
	case opUpdateParent:
		return fmt.Sprintf("UpdateParent(%s, %v)", o.id, o.labels)
	case opDeleteParent:
		return fmt.Sprintf("DeleteParent(%s)", o.id)
	case opUpdateSelector:
		return fmt.Sprintf("UpdateSelector(%s, %s)", o.id, o.sel)
	case opDeleteSelector:
		return fmt.Sprintf("DeleteSelector(%s)", o.id)
	case opAddSet:
		return fmt.Sprintf("AddSet(%s, %s, %q, %d)", o.id, o.sel, o.namedPort, o.proto)
	case opRemoveSet:
		return fmt.Sprintf("RemoveSet(%s)", o.id)
	}
	return "?"
}

type setDef struct {
	sel       selector.Selector
	namedPort string
	proto     uint8
}

type modelItem struct {
	labels  map[string]string
	parents []string
	addrs   []netip.Prefix
	ports   []NamedPort
}

// model keeps the latest state of everything and recomputes matches and
// members from scratch, the obviously correct way.
type model struct {
	items   map[string]modelItem
	parents map[string]map[string]string
	sels    map[string]selector.Selector
	sets    map[string]setDef
}

func (m *model) effective(it modelItem) map[string]string {
	out := map[string]string{}
	for _, p := range slices.Backward(it.parents) {
		maps.Copy(out, m.parents[p])
	}
	maps.Copy(out, it.labels)
	return out
}

// matches returns "selector item" for every match, sorted.
func (m *model) matches() []string {
	var out []string
	for itemID, it := range m.items {
		labels := m.effective(it)
		for selID, sel := range m.sels {
			if sel.Evaluate(labels) {
				out = append(out, selID+" "+itemID)
			}
		}
	}
	slices.Sort(out)
	return out
}

func (m *model) members(d setDef) []Member {
	seen := map[Member]bool{}
	for _, it := range m.items {
		if !d.sel.Evaluate(m.effective(it)) {
			continue
		}
		for _, a := range it.addrs {
			if !a.IsValid() {
				continue
			}
			a = a.Masked()
			if d.namedPort == "" {
				seen[Member{Prefix: a}] = true
				continue
			}
			for _, p := range it.ports {
				if p.Name == d.namedPort && (d.proto == 0 || p.Proto == d.proto) {
					seen[Member{Prefix: a, Proto: p.Proto, Port: p.Port}] = true
				}
			}
		}
	}
	if len(seen) == 0 {
		return nil
	}
	return slices.SortedFunc(maps.Keys(seen), Member.Compare)
}

// cmpPrefix compares prefixes by value; go-cmp cannot see into them.
var cmpPrefix = cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })

// harness drives an Index and an IPSets with the same operations, mirrors
// their callbacks, and checks both against the model.
type harness struct {
	t       testing.TB
	ix      *Index
	ips     *IPSets
	m       model
	parsed  map[string]selector.Selector
	matched map[string]bool            // "selector item", from Index callbacks
	members map[string]map[Member]bool // from IPSets callbacks
	events  []string                   // callbacks since the last takeEvents
	touched map[string]bool            // what the current operation reported
}

func newHarness(t testing.TB) *harness {
	h := &harness{
		t: t,
		m: model{
			items:   map[string]modelItem{},
			parents: map[string]map[string]string{},
			sels:    map[string]selector.Selector{},
			sets:    map[string]setDef{},
		},
		parsed:  map[string]selector.Selector{},
		matched: map[string]bool{},
		members: map[string]map[Member]bool{},
	}
	h.ix = New(func(selID, itemID string, matched bool) {
		key := selID + " " + itemID
		h.touch(key)
		if h.matched[key] == matched {
			t.Errorf("Index reported %q matched=%v twice", key, matched)
		}
		if matched {
			h.matched[key] = true
			h.events = append(h.events, "+"+key)
		} else {
			delete(h.matched, key)
			h.events = append(h.events, "-"+key)
		}
	})
	h.ips = NewIPSets(func(setID string, m Member, added bool) {
		h.touch(setID + " " + m.String())
		set := h.members[setID]
		if set == nil {
			set = map[Member]bool{}
			h.members[setID] = set
		}
		if set[m] == added {
			t.Errorf("IPSets reported %s %v added=%v twice", setID, m, added)
		}
		sign := "-"
		if added {
			set[m] = true
			sign = "+"
		} else {
			delete(set, m)
		}
		h.events = append(h.events, setID+" "+sign+m.String())
	})
	return h
}

// touch fails the test if one operation reports on the same match or
// member twice: that would be a transition and its undoing, a no-op the
// caller should not hear of.
func (h *harness) touch(key string) {
	if h.touched[key] {
		h.t.Errorf("%s reported twice by one operation", key)
	}
	h.touched[key] = true
}

func (h *harness) selector(src string) selector.Selector {
	if sel, ok := h.parsed[src]; ok {
		return sel
	}
	sel, err := selector.Parse(src)
	if err != nil {
		h.t.Fatalf("selector %q: %v", src, err)
	}
	h.parsed[src] = sel
	return sel
}

// apply performs o on everything. Each receiver gets its own copy of the
// labels, since the index keeps the maps it is given.
func (h *harness) apply(o op) {
	h.touched = map[string]bool{}
	switch o.kind {
	case opUpdateItem:
		h.ix.UpdateItem(o.id, maps.Clone(o.labels), slices.Clone(o.parents))
		h.ips.UpdateItem(o.id, maps.Clone(o.labels), slices.Clone(o.parents), slices.Clone(o.addrs), slices.Clone(o.ports))
		h.m.items[o.id] = modelItem{maps.Clone(o.labels), slices.Clone(o.parents), slices.Clone(o.addrs), slices.Clone(o.ports)}
	case opDeleteItem:
		h.ix.DeleteItem(o.id)
		h.ips.DeleteItem(o.id)
		delete(h.m.items, o.id)
	case opUpdateParent:
		h.ix.UpdateParent(o.id, maps.Clone(o.labels))
		h.ips.UpdateParent(o.id, maps.Clone(o.labels))
		h.m.parents[o.id] = maps.Clone(o.labels)
	case opDeleteParent:
		h.ix.DeleteParent(o.id)
		h.ips.DeleteParent(o.id)
		delete(h.m.parents, o.id)
	case opUpdateSelector:
		sel := h.selector(o.sel)
		h.ix.UpdateSelector(o.id, sel)
		h.m.sels[o.id] = sel
	case opDeleteSelector:
		h.ix.DeleteSelector(o.id)
		delete(h.m.sels, o.id)
	case opAddSet:
		sel := h.selector(o.sel)
		h.ips.AddSet(o.id, sel, o.namedPort, o.proto)
		h.m.sets[o.id] = setDef{sel, o.namedPort, o.proto}
	case opRemoveSet:
		h.ips.RemoveSet(o.id)
		delete(h.members, o.id) // RemoveSet reports nothing: the set goes as a whole
		delete(h.m.sets, o.id)
	}
}

// takeEvents returns the callbacks since the last call, sorted: within one
// operation their order is unspecified.
func (h *harness) takeEvents() []string {
	ev := h.events
	h.events = nil
	slices.Sort(ev)
	return ev
}

// check compares the callback-maintained state, the query methods and the
// internal bookkeeping with the model.
func (h *harness) check(after string) {
	h.t.Helper()
	want := h.m.matches()
	if diff := cmp.Diff(want, slices.Sorted(maps.Keys(h.matched))); diff != "" {
		h.t.Fatalf("after %s: matches from callbacks (-want +got):\n%s", after, diff)
	}
	var viaItems, viaSels []string
	for selID := range h.m.sels {
		for itemID := range h.ix.MatchingItems(selID) {
			viaItems = append(viaItems, selID+" "+itemID)
		}
	}
	for itemID := range h.m.items {
		for selID := range h.ix.MatchingSelectors(itemID) {
			viaSels = append(viaSels, selID+" "+itemID)
		}
	}
	slices.Sort(viaItems)
	slices.Sort(viaSels)
	if diff := cmp.Diff(want, viaItems); diff != "" {
		h.t.Fatalf("after %s: MatchingItems (-want +got):\n%s", after, diff)
	}
	if diff := cmp.Diff(want, viaSels); diff != "" {
		h.t.Fatalf("after %s: MatchingSelectors (-want +got):\n%s", after, diff)
	}
	for setID, def := range h.m.sets {
		want := h.m.members(def)
		var got []Member
		for m := range h.members[setID] {
			got = append(got, m)
		}
		slices.SortFunc(got, Member.Compare)
		if diff := cmp.Diff(want, got, cmpPrefix); diff != "" {
			h.t.Fatalf("after %s: set %s from callbacks (-want +got):\n%s", after, setID, diff)
		}
		if diff := cmp.Diff(want, h.ips.Members(setID), cmpPrefix); diff != "" {
			h.t.Fatalf("after %s: Members(%s) (-want +got):\n%s", after, setID, diff)
		}
	}
	for setID := range h.members {
		if _, ok := h.m.sets[setID]; !ok && len(h.members[setID]) > 0 {
			h.t.Fatalf("after %s: callbacks left members in removed set %s", after, setID)
		}
	}
	h.checkBookkeeping(after)
}

// checkBookkeeping catches leaks: records that should have been dropped.
func (h *harness) checkBookkeeping(after string) {
	h.t.Helper()
	wantParents := map[string]bool{}
	for id := range h.m.parents {
		wantParents[id] = true
	}
	for _, it := range h.m.items {
		for _, p := range it.parents {
			wantParents[p] = true
		}
	}
	for _, ix := range []*Index{h.ix, h.ips.ix} {
		gotParents := map[string]bool{}
		for id := range ix.parents {
			gotParents[id] = true
		}
		if diff := cmp.Diff(wantParents, gotParents); diff != "" {
			h.t.Fatalf("after %s: parent records (-want +got):\n%s", after, diff)
		}
	}
	uids := map[string]bool{}
	for _, d := range h.m.sets {
		uids[d.sel.UniqueID()] = true
	}
	if len(h.ips.sels) != len(uids) || len(h.ips.ix.sels) != len(uids) {
		h.t.Fatalf("after %s: %d selectors shared by sets, IPSets holds %d, its index %d",
			after, len(uids), len(h.ips.sels), len(h.ips.ix.sels))
	}
	if len(h.ips.items) != len(h.m.items) {
		h.t.Fatalf("after %s: IPSets holds %d items, want %d", after, len(h.ips.items), len(h.m.items))
	}
}

// snapshot renders the whole observable state, to compare runs.
func (h *harness) snapshot() string {
	var b strings.Builder
	for _, m := range slices.Sorted(maps.Keys(h.matched)) {
		fmt.Fprintln(&b, "match", m)
	}
	for _, setID := range slices.Sorted(maps.Keys(h.m.sets)) {
		fmt.Fprintln(&b, "set", setID, h.ips.Members(setID))
	}
	return b.String()
}

// clearAll deletes everything and checks that every index is empty again.
func (h *harness) clearAll() {
	h.t.Helper()
	for id := range h.m.sets {
		h.apply(op{kind: opRemoveSet, id: id})
	}
	for id := range h.m.sels {
		h.apply(op{kind: opDeleteSelector, id: id})
	}
	for id := range h.m.items {
		h.apply(op{kind: opDeleteItem, id: id})
	}
	for id := range h.m.parents {
		h.apply(op{kind: opDeleteParent, id: id})
	}
	h.check("clearing everything")
	for _, ix := range []*Index{h.ix, h.ips.ix} {
		sizes := []int{
			len(ix.items), len(ix.parents), len(ix.sels), len(ix.itemsByLabel), len(ix.parentsByLabel),
			ix.allSels.n, len(ix.allSels.byValue), len(ix.allSels.byKey), len(ix.allSels.rest), len(ix.readSels),
		}
		if slices.ContainsFunc(sizes, func(n int) bool { return n != 0 }) {
			h.t.Fatalf("index not empty after deleting everything: %v", sizes)
		}
	}
	if len(h.ips.items)+len(h.ips.sels)+len(h.ips.sets) != 0 {
		h.t.Fatalf("IPSets not empty after deleting everything")
	}
}
