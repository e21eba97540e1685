package labelindex

import (
	"maps"
	"slices"
)

// UpdateItem adds or replaces an item: its own labels and its parents in
// priority order. Parents not (yet) defined contribute no labels.
func (ix *Index) UpdateItem(id string, labels map[string]string, parents []string) {
	it := ix.items[id]
	if it == nil {
		it = &item{id: id, labels: labels}
		ix.items[id] = it
		ix.itemsByLabel.reindex(it, nil, labels)
		it.parents = ix.attachParents(it, parents)
		ix.evaluate(it, nil, true)
		return
	}
	sameParents := sameParentIDs(it.parents, parents)
	if sameParents && maps.Equal(it.labels, labels) {
		it.labels = labels
		return
	}
	oldLabels, oldParents := it.labels, it.parents
	ix.itemsByLabel.reindex(it, oldLabels, labels)
	it.labels = labels
	if !sameParents {
		it.parents = ix.attachParents(it, parents)
		ix.detachParents(it, oldParents, it.parents)
	}
	if changed := ix.changedKeys(it, oldLabels, oldParents, !sameParents); len(changed) > 0 {
		ix.evaluate(it, changed, false)
	}
}

// DeleteItem removes an item, reporting the end of each of its matches.
func (ix *Index) DeleteItem(id string) {
	it := ix.items[id]
	if it == nil {
		return
	}
	for s := range it.sels {
		delete(s.items, it)
		ix.report(s.id, it.id, false)
	}
	it.sels = nil
	ix.itemsByLabel.reindex(it, it.labels, nil)
	ix.detachParents(it, it.parents, nil)
	delete(ix.items, id)
}

// sameParentIDs reports whether an item's resolved parents are ids, once
// duplicates in ids are dropped.
func sameParentIDs(ps []*parent, ids []string) bool {
	i := 0
	for j, id := range ids {
		if slices.Contains(ids[:j], id) {
			continue
		}
		if i == len(ps) || ps[i].id != id {
			return false
		}
		i++
	}
	return i == len(ps)
}

// attachParents resolves parent IDs, creating placeholders for parents not
// yet defined, and records it as referring to them. Only the first of
// duplicate IDs is kept: a later one could never supply a label.
func (ix *Index) attachParents(it *item, ids []string) []*parent {
	ps := make([]*parent, 0, len(ids))
	for _, id := range ids {
		p := ix.parents[id]
		if p == nil {
			p = &parent{id: id}
			ix.parents[id] = p
		}
		if slices.Contains(ps, p) {
			continue
		}
		p.items = p.items.with(it)
		ps = append(ps, p)
	}
	return ps
}

// detachParents drops it from the parents in old that are not in keep.
func (ix *Index) detachParents(it *item, old, keep []*parent) {
	for _, p := range old {
		if slices.Contains(keep, p) {
			continue
		}
		delete(p.items, it)
		ix.gcParent(p)
	}
}

// changedKeys returns the keys whose effective value differs between the
// item's old own labels and parents and its current ones, leaving out
// keys no selector reads. The result is valid until the next call.
func (ix *Index) changedKeys(it *item, oldLabels map[string]string, oldParents []*parent, parentsChanged bool) []string {
	ix.itemKeys = ix.itemKeys[:0]
	clear(ix.keysVisited)
	check := func(k string) {
		if ix.readSels[k] == nil {
			return // no selector reads it
		}
		if _, done := ix.keysVisited[k]; done {
			return
		}
		ix.keysVisited[k] = struct{}{}
		ov, wasSet := lookup(oldLabels, oldParents, k, nil, nil)
		nv, isSet := it.Get(k)
		if wasSet != isSet || ov != nv {
			ix.itemKeys = append(ix.itemKeys, k)
		}
	}
	for k := range oldLabels {
		check(k)
	}
	for k := range it.labels {
		check(k)
	}
	if parentsChanged {
		for _, ps := range [][]*parent{oldParents, it.parents} {
			for _, p := range ps {
				for k := range p.labels {
					check(k)
				}
			}
		}
	}
	return ix.itemKeys
}

// evaluate re-evaluates the selectors whose result for it may have
// changed and reports transitions. For a new item (fresh) those are the
// selectors whose requirement its labels meet. For an existing item, only
// selectors reading a key in changed can change: those it matched (which
// may stop), and those reading such a key whose requirement it now meets
// (which may start).
func (ix *Index) evaluate(it *item, changed []string, fresh bool) {
	ix.epoch++
	ix.cand = ix.cand[:0]
	if fresh {
		ix.addCandidatesFrom(ix.allSels, it)
	} else {
		for s := range it.sels {
			if readsAny(s.keys, changed) {
				ix.addCandidate(s)
			}
		}
		for _, k := range changed {
			if r := ix.readSels[k]; r != nil {
				ix.addCandidatesFrom(r, it)
			}
		}
	}
	for _, s := range ix.cand {
		ix.setMatch(s, it, s.sel.EvaluateLabels(it))
	}
	clear(ix.cand) // drop references to deleted selectors
}

func (ix *Index) addCandidate(s *selRec) {
	if s.seen != ix.epoch {
		s.seen = ix.epoch
		ix.cand = append(ix.cand, s)
	}
}

// readsAny reports whether sorted keys shares a key with changed.
func readsAny(keys, changed []string) bool {
	for _, k := range changed {
		if _, found := slices.BinarySearch(keys, k); found {
			return true
		}
	}
	return false
}
