package labelindex

import (
	"iter"

	"github.com/gocalico/calico/internal/selector"
)

// Index maps selectors to the items they match and reports each change of
// a match exactly once.
//
// Maps passed in (item and parent labels) are kept, not copied, because
// callers build a fresh map per update anyway; they must not be modified
// afterwards.
type Index struct {
	onMatch func(selID, itemID string, matched bool)

	items   map[string]*item
	parents map[string]*parent
	sels    map[string]*selRec

	// Items by their own labels and parents by theirs: a selector added
	// with requirement k=v need only be tried on items carrying k=v
	// themselves or through a parent.
	itemsByLabel   kvIndex[*item]
	parentsByLabel kvIndex[*parent]

	// Selectors by the requirement chosen for them (see reqIndex): all
	// of them, which a new item is checked against, and under each label
	// key they read: when an existing item changes, only selectors
	// reading a key whose effective value changed can change their
	// result, and of those only ones whose requirement the item now meets
	// can start matching.
	allSels  *reqIndex
	readSels map[string]*reqIndex

	// epoch stamps items and selectors already visited in one pass, so
	// that candidates reached along several index paths are tried once
	// without allocating a visited set.
	epoch uint64
	// Scratch buffers reused across calls to keep updates allocation-free.
	cand        []*selRec
	itemKeys    []string
	parentKeys  []string
	keysVisited map[string]struct{}
}

// item is an endpoint or network set. *item is the selector.Labels view of
// its effective labels, so evaluation never builds a merged map.
type item struct {
	id      string
	labels  map[string]string
	parents []*parent // de-duplicated, in priority order
	sels    set[*selRec]
	seen    uint64
}

// parent is a profile. It exists while it is defined or referenced, so an
// item may list a parent before the parent arrives.
type parent struct {
	id      string
	labels  map[string]string
	defined bool
	items   set[*item]
}

// selRec is one selector and the items it matches.
type selRec struct {
	id    string
	sel   selector.Selector
	uid   string
	keys  []string              // labels read, sorted
	req   *selector.Requirement // how it is indexed; nil when unindexed
	items set[*item]
	seen  uint64
}

// New returns an empty Index. onMatch, if not nil, is called whenever a
// selector starts or stops matching an item.
func New(onMatch func(selID, itemID string, matched bool)) *Index {
	return &Index{
		onMatch:        onMatch,
		items:          map[string]*item{},
		parents:        map[string]*parent{},
		sels:           map[string]*selRec{},
		itemsByLabel:   kvIndex[*item]{},
		parentsByLabel: kvIndex[*parent]{},
		allSels:        newReqIndex(),
		readSels:       map[string]*reqIndex{},
		keysVisited:    map[string]struct{}{},
	}
}

// MatchingItems yields the IDs of the items selector selID matches, in no
// particular order. The index must not be changed during the iteration.
func (ix *Index) MatchingItems(selID string) iter.Seq[string] {
	return func(yield func(string) bool) {
		s := ix.sels[selID]
		if s == nil {
			return
		}
		for it := range s.items {
			if !yield(it.id) {
				return
			}
		}
	}
}

// MatchingSelectors yields the IDs of the selectors matching item itemID,
// in no particular order. The index must not be changed during the
// iteration.
func (ix *Index) MatchingSelectors(itemID string) iter.Seq[string] {
	return func(yield func(string) bool) {
		it := ix.items[itemID]
		if it == nil {
			return
		}
		for s := range it.sels {
			if !yield(s.id) {
				return
			}
		}
	}
}

// Get returns the effective value of label key: the item's own, else that
// of the first listed parent that has it.
func (it *item) Get(key string) (string, bool) {
	if v, ok := it.labels[key]; ok {
		return v, true
	}
	for _, p := range it.parents {
		if v, ok := p.labels[key]; ok {
			return v, true
		}
	}
	return "", false
}

// lookup is Get over an item's earlier state, or with parent swap's labels
// replaced by swapLabels; it finds what a label was before a change.
func lookup(own map[string]string, parents []*parent, key string, swap *parent, swapLabels map[string]string) (string, bool) {
	if v, ok := own[key]; ok {
		return v, true
	}
	for _, p := range parents {
		labels := p.labels
		if p == swap {
			labels = swapLabels
		}
		if v, ok := labels[key]; ok {
			return v, true
		}
	}
	return "", false
}

// eachLabel yields the item's effective labels, each key once.
func (it *item) eachLabel(yield func(k, v string)) {
	for k, v := range it.labels {
		yield(k, v)
	}
	for i, p := range it.parents {
		for k, v := range p.labels {
			if _, own := it.labels[k]; own || shadowed(it.parents[:i], k) {
				continue
			}
			yield(k, v)
		}
	}
}

// shadowed reports whether one of parents sets key.
func shadowed(parents []*parent, key string) bool {
	for _, p := range parents {
		if _, ok := p.labels[key]; ok {
			return true
		}
	}
	return false
}

// setMatch records whether s matches it and reports a transition.
// It looks in the item's set, which is small, rather than the selector's,
// which may hold every item.
func (ix *Index) setMatch(s *selRec, it *item, now bool) {
	_, was := it.sels[s]
	if now == was {
		return
	}
	if now {
		s.items = s.items.with(it)
		it.sels = it.sels.with(s)
	} else {
		delete(s.items, it)
		delete(it.sels, s)
	}
	ix.report(s.id, it.id, now)
}

func (ix *Index) report(selID, itemID string, matched bool) {
	if ix.onMatch != nil {
		ix.onMatch(selID, itemID, matched)
	}
}
