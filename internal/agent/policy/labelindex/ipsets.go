package labelindex

import (
	"maps"
	"net/netip"
	"slices"

	"github.com/gocalico/calico/internal/selector"
)

// IPSets computes the members of IP sets defined by selectors over items
// carrying addresses and named ports.
//
// Members are reference-counted per set: two items may contribute the same
// member (network sets with equal CIDRs, an address moving from one
// endpoint to another), and the member stays until the last contributor
// goes. onMember hears of a member when its count goes 0->1 and 1->0, so
// a caller can mirror each set by applying the callbacks in order.
// Label maps are kept, not copied, as by Index.
type IPSets struct {
	ix       *Index
	onMember func(setID string, m Member, added bool)
	items    map[string]*ipItem
	sels     map[string]*ipSel // by selector UniqueID
	sets     map[string]*ipSet

	// While UpdateItem changes an item's addresses, the selectors it
	// gains and loses, which UpdateItem then applies itself.
	holding bool
	held    string
	gained  map[string]struct{}
	lost    []string
}

type ipItem struct {
	addrs []netip.Prefix
	ports []NamedPort
}

// ipSel is one selector evaluation shared by every set using it.
type ipSel struct {
	uid  string
	sets []*ipSet
}

type ipSet struct {
	id        string
	sel       *ipSel
	namedPort string
	proto     uint8
	counts    map[Member]int
	// quiet suppresses callbacks while a replacement set is being filled,
	// so that only its difference from the set it replaces is reported.
	quiet bool
}

// NewIPSets returns an empty IPSets. onMember may be nil.
func NewIPSets(onMember func(setID string, m Member, added bool)) *IPSets {
	s := &IPSets{
		onMember: onMember,
		items:    map[string]*ipItem{},
		sels:     map[string]*ipSel{},
		sets:     map[string]*ipSet{},
		gained:   map[string]struct{}{},
	}
	s.ix = New(s.onMatch)
	return s
}

// AddSet defines set id: the items sel matches, or with namedPort set the
// ports of that name on those items, of protocol proto unless proto is 0.
// proto is ignored for a plain set. The initial members are reported as
// added, in order. Redefining a set reports only the members that differ,
// added ones first; redefining it identically does nothing.
func (s *IPSets) AddSet(id string, sel selector.Selector, namedPort string, proto uint8) {
	if namedPort == "" {
		proto = 0
	}
	uid := sel.UniqueID()
	old := s.sets[id]
	if old != nil && old.sel.uid == uid && old.namedPort == namedPort && old.proto == proto {
		return
	}
	set := &ipSet{id: id, namedPort: namedPort, proto: proto, counts: map[Member]int{}, quiet: true}
	s.acquire(uid, sel, set)
	s.sets[id] = set
	var before map[Member]int
	if old != nil {
		s.release(old)
		before = old.counts
	}
	s.reportDiff(id, before, set.counts)
	set.quiet = false
}

// RemoveSet deletes set id. Its members are not reported as removed one
// by one: the caller drops the set as a whole.
func (s *IPSets) RemoveSet(id string) {
	set := s.sets[id]
	if set == nil {
		return
	}
	delete(s.sets, id)
	s.release(set)
}

// Members returns the members of set id, sorted (IPv4 before IPv6), for a
// full apply. It is nil for an unknown or empty set.
func (s *IPSets) Members(id string) []Member {
	set := s.sets[id]
	if set == nil || len(set.counts) == 0 {
		return nil
	}
	return slices.SortedFunc(maps.Keys(set.counts), Member.Compare)
}

// UpdateItem adds or replaces an item; see Index.UpdateItem. addrs are
// endpoint addresses (/32, /128) or network set CIDRs; host bits are
// cleared and invalid prefixes ignored.
func (s *IPSets) UpdateItem(id string, labels map[string]string, parents []string, addrs []netip.Prefix, ports []NamedPort) {
	addrs, ports = normPrefixes(addrs), normPorts(ports)
	it := s.items[id]
	if it == nil {
		s.items[id] = &ipItem{addrs: addrs, ports: ports}
		s.ix.UpdateItem(id, labels, parents)
		return
	}
	if slices.Equal(it.addrs, addrs) && slices.Equal(it.ports, ports) {
		s.ix.UpdateItem(id, labels, parents)
		return
	}
	// Both the sets holding the item and what it gives them may change.
	// Hold back the index's reports for the item, then add the new
	// contribution to every set it is in now before withdrawing the old
	// one from every set it was in: a member given both before and after
	// is neither reported twice nor removed for a moment.
	old := *it
	it.addrs, it.ports = addrs, ports
	s.holding, s.held = true, id
	clear(s.gained)
	s.lost = s.lost[:0]
	s.ix.UpdateItem(id, labels, parents)
	s.holding = false
	rec := s.ix.items[id]
	for sr := range rec.sels {
		for _, set := range s.sels[sr.id].sets {
			s.contribute(set, it, +1)
		}
	}
	for sr := range rec.sels {
		if _, gained := s.gained[sr.id]; gained {
			continue
		}
		for _, set := range s.sels[sr.id].sets {
			s.contribute(set, &old, -1)
		}
	}
	for _, uid := range s.lost {
		for _, set := range s.sels[uid].sets {
			s.contribute(set, &old, -1)
		}
	}
	clear(s.lost)
}

// DeleteItem removes an item, and its contribution to every set.
func (s *IPSets) DeleteItem(id string) {
	s.ix.DeleteItem(id)
	delete(s.items, id)
}

// UpdateParent defines or replaces a parent's labels; see
// Index.UpdateParent.
func (s *IPSets) UpdateParent(id string, labels map[string]string) { s.ix.UpdateParent(id, labels) }

// DeleteParent removes a parent's labels; see Index.DeleteParent.
func (s *IPSets) DeleteParent(id string) { s.ix.DeleteParent(id) }

// acquire attaches set to the shared evaluation of its selector, creating
// it if needed, and fills the set.
func (s *IPSets) acquire(uid string, sel selector.Selector, set *ipSet) {
	is := s.sels[uid]
	set.sel = is
	if is != nil {
		is.sets = append(is.sets, set)
		for itemID := range s.ix.MatchingItems(uid) {
			s.contribute(set, s.items[itemID], +1)
		}
		return
	}
	is = &ipSel{uid: uid, sets: []*ipSet{set}}
	set.sel = is
	s.sels[uid] = is
	s.ix.UpdateSelector(uid, sel) // fills set through onMatch
}

// release detaches set from its selector, dropping the selector when no
// set uses it any more.
func (s *IPSets) release(set *ipSet) {
	is := set.sel
	is.sets = slices.DeleteFunc(is.sets, func(x *ipSet) bool { return x == set })
	if len(is.sets) == 0 {
		delete(s.sels, is.uid)
		s.ix.DeleteSelector(is.uid)
	}
}

func (s *IPSets) onMatch(uid, itemID string, matched bool) {
	is, it := s.sels[uid], s.items[itemID]
	if is == nil || it == nil {
		return
	}
	if s.holding && itemID == s.held {
		if matched {
			s.gained[uid] = struct{}{}
		} else {
			s.lost = append(s.lost, uid)
		}
		return
	}
	delta := -1
	if matched {
		delta = +1
	}
	for _, set := range is.sets {
		s.contribute(set, it, delta)
	}
}

// contribute adds (delta +1) or withdraws (-1) the members item it gives
// set.
func (s *IPSets) contribute(set *ipSet, it *ipItem, delta int) {
	if set.namedPort == "" {
		for _, a := range it.addrs {
			s.count(set, Member{Prefix: a}, delta)
		}
		return
	}
	for _, p := range it.ports {
		if p.Name != set.namedPort || (set.proto != 0 && p.Proto != set.proto) {
			continue
		}
		for _, a := range it.addrs {
			s.count(set, Member{Prefix: a, Proto: p.Proto, Port: p.Port}, delta)
		}
	}
}

func (s *IPSets) count(set *ipSet, m Member, delta int) {
	before := set.counts[m]
	after := before + delta
	if after > 0 {
		set.counts[m] = after
	} else {
		delete(set.counts, m)
	}
	if set.quiet || s.onMember == nil {
		return
	}
	if before == 0 && after > 0 {
		s.onMember(set.id, m, true)
	} else if before > 0 && after <= 0 {
		s.onMember(set.id, m, false)
	}
}

// reportDiff reports the members of after not in before as added, then
// those of before not in after as removed, each in sorted order.
func (s *IPSets) reportDiff(setID string, before, after map[Member]int) {
	if s.onMember == nil {
		return
	}
	var added, removed []Member
	for m := range after {
		if _, ok := before[m]; !ok {
			added = append(added, m)
		}
	}
	for m := range before {
		if _, ok := after[m]; !ok {
			removed = append(removed, m)
		}
	}
	slices.SortFunc(added, Member.Compare)
	slices.SortFunc(removed, Member.Compare)
	for _, m := range added {
		s.onMember(setID, m, true)
	}
	for _, m := range removed {
		s.onMember(setID, m, false)
	}
}
