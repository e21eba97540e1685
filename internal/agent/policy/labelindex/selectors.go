package labelindex

import (
	"cmp"

	"github.com/gocalico/calico/internal/selector"
)

// UpdateSelector adds or replaces a selector. Replacing it with one of the
// same canonical form (UniqueID) does nothing; otherwise only the
// differences between the old and new match sets are reported.
func (ix *Index) UpdateSelector(id string, sel selector.Selector) {
	old := ix.sels[id]
	if old != nil && old.uid == sel.UniqueID() {
		return
	}
	s := &selRec{id: id, sel: sel, uid: sel.UniqueID(), keys: selector.LabelKeys(sel)}
	s.req = ix.chooseRequirement(selector.Requirements(sel))
	ix.epoch++
	ix.eachCandidateItem(s.req, func(it *item) {
		if sel.EvaluateLabels(it) {
			s.items = s.items.with(it)
		}
	})
	if old != nil {
		ix.unindexSelector(old)
	}
	ix.sels[id] = s
	ix.indexSelector(s)
	for it := range s.items {
		it.sels = it.sels.with(s)
		if old == nil {
			ix.report(id, it.id, true)
		} else if _, had := old.items[it]; !had {
			ix.report(id, it.id, true)
		}
	}
	if old == nil {
		return
	}
	for it := range old.items {
		delete(it.sels, old)
		if _, has := s.items[it]; !has {
			ix.report(id, it.id, false)
		}
	}
}

// DeleteSelector removes a selector, reporting the end of each match.
func (ix *Index) DeleteSelector(id string) {
	s := ix.sels[id]
	if s == nil {
		return
	}
	ix.unindexSelector(s)
	delete(ix.sels, id)
	for it := range s.items {
		delete(it.sels, s)
		ix.report(id, it.id, false)
	}
}

// chooseRequirement picks the requirement with the fewest candidate items
// now, preferring one that names values (its candidates stay few as items
// come and go) and then fewer values. nil means the selector must be tried
// on every item.
func (ix *Index) chooseRequirement(reqs []selector.Requirement) *selector.Requirement {
	var best *selector.Requirement
	bestCost := 0
	for i := range reqs {
		r := &reqs[i]
		cost := ix.candidateCount(r)
		if best == nil || cmp.Or(
			cmp.Compare(cost, bestCost),
			cmp.Compare(boolInt(r.Values == nil), boolInt(best.Values == nil)),
			cmp.Compare(len(r.Values), len(best.Values)),
		) < 0 {
			best, bestCost = r, cost
		}
	}
	return best
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// candidateCount estimates how many items meet r: those carrying it
// themselves plus those listing a parent that does (counted twice if
// both, which is close enough for choosing).
func (ix *Index) candidateCount(r *selector.Requirement) int {
	n := 0
	count := func(items set[*item], parents set[*parent]) {
		n += len(items)
		for p := range parents {
			n += len(p.items)
		}
	}
	if r.Values == nil {
		for _, items := range ix.itemsByLabel[r.Key] {
			count(items, nil)
		}
		for _, parents := range ix.parentsByLabel[r.Key] {
			count(nil, parents)
		}
		return n
	}
	for _, v := range r.Values {
		count(ix.itemsByLabel.get(r.Key, v), ix.parentsByLabel.get(r.Key, v))
	}
	return n
}

// eachCandidateItem calls f once for each item that may meet r: all items
// when r is nil, else those carrying the label (and one of the values)
// themselves or through a parent. The caller must advance ix.epoch first.
func (ix *Index) eachCandidateItem(r *selector.Requirement, f func(*item)) {
	if r == nil {
		for _, it := range ix.items {
			f(it)
		}
		return
	}
	visit := func(items set[*item], parents set[*parent]) {
		for it := range items {
			if it.seen != ix.epoch {
				it.seen = ix.epoch
				f(it)
			}
		}
		for p := range parents {
			for it := range p.items {
				if it.seen != ix.epoch {
					it.seen = ix.epoch
					f(it)
				}
			}
		}
	}
	if r.Values == nil {
		for _, items := range ix.itemsByLabel[r.Key] {
			visit(items, nil)
		}
		for _, parents := range ix.parentsByLabel[r.Key] {
			visit(nil, parents)
		}
		return
	}
	for _, v := range r.Values {
		visit(ix.itemsByLabel.get(r.Key, v), ix.parentsByLabel.get(r.Key, v))
	}
}

func (ix *Index) indexSelector(s *selRec) {
	ix.allSels.add(s)
	for _, k := range s.keys {
		r := ix.readSels[k]
		if r == nil {
			r = newReqIndex()
			ix.readSels[k] = r
		}
		r.add(s)
	}
}

func (ix *Index) unindexSelector(s *selRec) {
	ix.allSels.remove(s)
	for _, k := range s.keys {
		r := ix.readSels[k]
		r.remove(s)
		if r.n == 0 {
			delete(ix.readSels, k)
		}
	}
}
