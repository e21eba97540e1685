package policy

import (
	"net/netip"
	"slices"

	"github.com/gocalico/calico/internal/agent/policy/labelindex"
	"github.com/gocalico/calico/internal/selector"
)

// NamedPort is one of an endpoint's named ports.
type NamedPort = labelindex.NamedPort

// Member is one element of an IP set: an address or CIDR, and for
// named-port sets a protocol and port.
type Member = labelindex.Member

// SetIndex keeps the contents of IP sets defined by selectors over every
// endpoint and network set in the datastore (local or not). Items list
// parents (profiles) whose labels they inherit.
type SetIndex interface {
	AddSet(id string, sel selector.Selector, namedPort string, proto uint8)
	RemoveSet(id string)
	UpdateItem(id string, labels map[string]string, parents []string, addrs []netip.Prefix, ports []NamedPort)
	DeleteItem(id string)
	UpdateParent(id string, labels map[string]string)
	DeleteParent(id string)
	// Members returns a set's members, sorted.
	Members(id string) []Member
}

// scanIndex is the plain SetIndex: every question is answered by
// scanning every item. It is the reference the incremental index is
// tested against, and fine for small datastores.
type scanIndex struct {
	changed func(setID string)
	sets    map[string]scanSet
	items   map[string]*scanItem
	parents map[string]map[string]string
}

type scanSet struct {
	sel   selector.Selector
	named string
	proto uint8
}

type scanItem struct {
	labels  map[string]string
	parents []string
	addrs   []netip.Prefix
	ports   []NamedPort
}

// NewScanIndex returns the scanning SetIndex; any item or parent change
// counts as a change of every set.
func NewScanIndex(changed func(setID string)) SetIndex {
	return &scanIndex{changed: changed, sets: map[string]scanSet{}, items: map[string]*scanItem{}, parents: map[string]map[string]string{}}
}

func (x *scanIndex) all() {
	for id := range x.sets {
		x.changed(id)
	}
}

func (x *scanIndex) AddSet(id string, sel selector.Selector, namedPort string, proto uint8) {
	x.sets[id] = scanSet{sel, namedPort, proto}
	x.changed(id)
}
func (x *scanIndex) RemoveSet(id string) { delete(x.sets, id) }
func (x *scanIndex) UpdateItem(id string, labels map[string]string, parents []string, addrs []netip.Prefix, ports []NamedPort) {
	x.items[id] = &scanItem{labels, parents, addrs, ports}
	x.all()
}
func (x *scanIndex) DeleteItem(id string) { delete(x.items, id); x.all() }
func (x *scanIndex) UpdateParent(id string, labels map[string]string) {
	x.parents[id] = labels
	x.all()
}
func (x *scanIndex) DeleteParent(id string) { delete(x.parents, id); x.all() }

func (x *scanIndex) Members(id string) []Member {
	s, ok := x.sets[id]
	if !ok {
		return nil
	}
	seen := map[Member]bool{}
	for _, it := range x.items {
		if !s.sel.EvaluateLabels(inherited{it.labels, it.parents, x.parents}) {
			continue
		}
		if s.named == "" {
			for _, a := range it.addrs {
				seen[Member{Prefix: a}] = true
			}
			continue
		}
		for _, p := range it.ports {
			if p.Name != s.named || (s.proto != 0 && p.Proto != s.proto) {
				continue
			}
			for _, a := range it.addrs {
				seen[Member{Prefix: a, Proto: p.Proto, Port: p.Port}] = true
			}
		}
	}
	out := make([]Member, 0, len(seen))
	for m := range seen {
		out = append(out, m)
	}
	slices.SortFunc(out, compareMember)
	return out
}

func compareMember(a, b Member) int {
	if c := a.Prefix.Addr().Compare(b.Prefix.Addr()); c != 0 {
		return c
	}
	if a.Prefix.Bits() != b.Prefix.Bits() {
		return a.Prefix.Bits() - b.Prefix.Bits()
	}
	if a.Proto != b.Proto {
		return int(a.Proto) - int(b.Proto)
	}
	return int(a.Port) - int(b.Port)
}

// inherited is an item's effective labels: its own, then for keys it
// does not have, the first listed parent's.
type inherited struct {
	own     map[string]string
	parents []string
	all     map[string]map[string]string
}

func (l inherited) Get(k string) (string, bool) {
	if v, ok := l.own[k]; ok {
		return v, true
	}
	for _, p := range l.parents {
		if v, ok := l.all[p][k]; ok {
			return v, true
		}
	}
	return "", false
}
