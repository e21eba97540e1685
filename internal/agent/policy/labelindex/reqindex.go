package labelindex

// reqIndex holds selectors by the requirement chosen for each, so that
// the selectors an item may match are found by looking its labels up
// rather than by trying every selector.
type reqIndex struct {
	byValue kvIndex[*selRec]        // needing a key to have one of some values, under each
	byKey   map[string]set[*selRec] // needing a key present, any value
	rest    set[*selRec]            // with no usable requirement
	n       int
}

func newReqIndex() *reqIndex {
	return &reqIndex{byValue: kvIndex[*selRec]{}, byKey: map[string]set[*selRec]{}, rest: set[*selRec]{}}
}

func (r *reqIndex) add(s *selRec) {
	r.n++
	switch {
	case s.req == nil:
		r.rest[s] = struct{}{}
	case s.req.Values == nil:
		addTo(r.byKey, s.req.Key, s)
	default:
		for _, v := range s.req.Values {
			r.byValue.add(s.req.Key, v, s)
		}
	}
}

func (r *reqIndex) remove(s *selRec) {
	r.n--
	switch {
	case s.req == nil:
		delete(r.rest, s)
	case s.req.Values == nil:
		removeFrom(r.byKey, s.req.Key, s)
	default:
		for _, v := range s.req.Values {
			r.byValue.remove(s.req.Key, v, s)
		}
	}
}

// addCandidatesFrom adds the selectors of r whose requirement the item's
// effective labels meet. It walks whichever is shorter: the keys r
// indexes (typically a handful: app, namespace, ...) or the item's labels.
func (ix *Index) addCandidatesFrom(r *reqIndex, it *item) {
	for s := range r.rest {
		ix.addCandidate(s)
	}
	if len(r.byValue)+len(r.byKey) <= it.labelCount() {
		for k, byValue := range r.byValue {
			if v, ok := it.Get(k); ok {
				for s := range byValue[v] {
					ix.addCandidate(s)
				}
			}
		}
		for k, sels := range r.byKey {
			if _, ok := it.Get(k); ok {
				for s := range sels {
					ix.addCandidate(s)
				}
			}
		}
		return
	}
	it.eachLabel(func(k, v string) {
		for s := range r.byValue.get(k, v) {
			ix.addCandidate(s)
		}
		for s := range r.byKey[k] {
			ix.addCandidate(s)
		}
	})
}

// labelCount bounds the number of effective labels from above.
func (it *item) labelCount() int {
	n := len(it.labels)
	for _, p := range it.parents {
		n += len(p.labels)
	}
	return n
}
