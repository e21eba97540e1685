package nft

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sort"
)

// Updating a set or map in place of building it again: when the caller
// replaces a set of 100 000 elements with one that has an element more,
// the work should be that element's, not the set's.

// updateSet works out the state of s from old, the entry of the set s
// replaces (of the same type), from the elements that differ between
// them; see elementChanges. Only windows of the sorted spans and
// elements around those change, and they are not copied whole: the
// entry returned carries splices of the old arrays, which commit
// applies in place.
//
// ok is false when the sets differ too much for this to pay; the caller
// then builds s from scratch. The delta is nil when the kernel's view of
// the set does not change.
func updateSet(old *setEntry, name string, s *Set) (e *setEntry, d *elemDelta, ok bool, err error) {
	if old.set == nil || old.set.Type != s.Type || old.set.Interval != s.Interval {
		return nil, nil, false, nil
	}
	del, add, ok, err := elementChanges(name, old.set.Elements, s.Elements, s.Type, s.Interval)
	if !ok || err != nil {
		return nil, nil, ok, err
	}
	for _, l := range [][]span{del, add} {
		if !slices.IsSortedFunc(l, span.compare) {
			slices.SortFunc(l, span.compare)
		}
	}
	del, add = cancelCommon(del, add)
	e = &setEntry{set: s, state: old.state, raw: old.raw}
	if len(del) == 0 && len(add) == 0 {
		return e, nil, true, nil
	}
	elems := old.state.elems
	sp := &setSplice{}
	var kdel, kadd []elem
	for _, w := range changeWindows(elems, del, add, s.Interval) {
		// The spans of the window now: those there were, less del and
		// plus add of the window.
		a := sort.Search(len(old.raw), func(k int) bool { return old.raw[k].lo.compare(w.lo) >= 0 })
		b := sort.Search(len(old.raw), func(k int) bool { return old.raw[k].lo.compare(w.hi) > 0 })
		wdel, wadd := startingIn(del, w.lo, w.hi), startingIn(add, w.lo, w.hi)
		raw, ok := patchSorted(old.raw[a:b], wdel, wadd, span.compare)
		if !ok {
			return nil, nil, false, nil // cannot be: raw has every element's span
		}
		mid := spanElems(raw, s.Interval)
		sp.raw = append(sp.raw, splice[span]{a, b, raw})
		sp.elems = append(sp.elems, splice[elem]{w.i, w.j, mid})
		wd, wa := diffElems(elems[w.i:w.j], mid)
		kdel, kadd = append(kdel, wd...), append(kadd, wa...)
	}
	e.splice = sp
	if len(kdel) == 0 && len(kadd) == 0 {
		sp.elems = nil // e.g. a prefix inside another added
		return e, nil, true, nil
	}
	e.state = &setState{spec: old.state.spec, elems: elems}
	return e, &elemDelta{from: old.state, del: kdel, add: kadd}, true, nil
}

// elementChanges compares the elements of two versions of a set without
// working out the spans of those that are the same. It takes off what
// both lists start and end with, then walks the rest of both in step:
// elements that are the same pair off; one element taken out, put in or
// replaced is told by the next elements pairing off, wherever it sorts;
// otherwise, as in a merge of two sorted lists, the element with the
// lower span is the one taken out (from old) or put in (now). Callers
// build sets in a stable order, typically sorted, so what is left is
// what changed. Whatever the order, the result, once sorted and rid of
// what is in both (cancelCommon), is exactly how the two differ. ok is
// false when too much is left for an update to pay.
func elementChanges(name string, old, now []Element, t SetType, interval bool) (del, add []span, ok bool, err error) {
	limit := (len(old)+len(now))/4 + 64
	p := 0
	for p < len(old) && p < len(now) && sameElement(&old[p], &now[p]) {
		p++
	}
	q := 0
	for q < len(old)-p && q < len(now)-p && sameElement(&old[len(old)-1-q], &now[len(now)-1-q]) {
		q++
	}
	old, now = old[p:len(old)-q], now[p:len(now)-q]
	fam := addrFamily(t)
	spanOld := func(i int) (span, bool) {
		sp, err := elementSpan(t, interval, fam, old[i])
		return sp, err == nil // an error cannot be: it was accepted before
	}
	spanNow := func(j int) (span, error) {
		sp, err := elementSpan(t, interval, fam, now[j])
		if err != nil {
			return sp, fmt.Errorf("set %q element %d: %w", name, p+j, err)
		}
		return sp, nil
	}
	i, j := 0, 0
	var si, sj span
	haveI, haveJ := false, false
	for i < len(old) && j < len(now) && len(del)+len(add) <= limit {
		if !haveI && !haveJ {
			same := func(di, dj int) bool {
				return i+di < len(old) && j+dj < len(now) && sameElement(&old[i+di], &now[j+dj])
			}
			var takeOld, takeNow bool
			switch {
			case same(0, 0):
				i, j = i+1, j+1
				continue
			case same(1, 1):
				takeOld, takeNow = true, true
			case same(1, 0):
				takeOld = true
			case same(0, 1):
				takeNow = true
			}
			if takeOld {
				if si, ok = spanOld(i); !ok {
					return nil, nil, false, nil
				}
				del, i = append(del, si), i+1
			}
			if takeNow {
				if sj, err = spanNow(j); err != nil {
					return nil, nil, false, err
				}
				add, j = append(add, sj), j+1
			}
			if takeOld || takeNow {
				continue
			}
		}
		if !haveI {
			if si, ok = spanOld(i); !ok {
				return nil, nil, false, nil
			}
			haveI = true
		}
		if !haveJ {
			if sj, err = spanNow(j); err != nil {
				return nil, nil, false, err
			}
			haveJ = true
		}
		switch c := si.compare(sj); {
		case c == 0: // the same span, perhaps written differently
			i, j, haveI, haveJ = i+1, j+1, false, false
		case c < 0:
			del = append(del, si)
			i, haveI = i+1, false
		default:
			add = append(add, sj)
			j, haveJ = j+1, false
		}
	}
	if len(del)+len(add)+len(old)-i+len(now)-j > limit {
		return nil, nil, false, nil
	}
	for ; i < len(old); i++ {
		if si, ok = spanOld(i); !ok {
			return nil, nil, false, nil
		}
		del = append(del, si)
	}
	for ; j < len(now); j++ {
		if sj, err = spanNow(j); err != nil {
			return nil, nil, false, err
		}
		add = append(add, sj)
	}
	return del, add, true, nil
}

// window is a range of keys whose elements an update works out again,
// and the index range [i, j) of the old elements in it.
type window struct {
	lo, hi key
	i, j   int
}

// changeWindows returns the windows, in order, that the spans taken out
// (del) and put in (add), both sorted, can change. Around each span the
// window reaches, for an interval set, over the old elements that overlap
// or adjoin it: a span taken out may split one, a span put in may join
// several. Windows that would overlap or adjoin are one window, so that
// each can be worked out on its own; past a handful, they are all one.
func changeWindows(elems []elem, del, add []span, interval bool) []window {
	var wins []window
	each := func(s span) {
		w := window{lo: s.lo, hi: s.hi}
		if interval {
			w.i = sort.Search(len(elems), func(k int) bool { return reaches(elems[k].hi, s.lo) })
			w.j = sort.Search(len(elems), func(k int) bool { return !reaches(s.hi, elems[k].lo) })
			if w.i < w.j {
				w.lo = earlierKey(w.lo, elems[w.i].lo)
				w.hi = laterKey(w.hi, elems[w.j-1].hi)
			}
		} else {
			w.i = sort.Search(len(elems), func(k int) bool { return elems[k].lo.compare(s.lo) >= 0 })
			w.j = sort.Search(len(elems), func(k int) bool { return elems[k].lo.compare(s.hi) > 0 })
		}
		if n := len(wins); n > 0 {
			last := &wins[n-1]
			if last.hi.compare(w.lo) >= 0 || interval && reaches(last.hi, w.lo) {
				last.hi = laterKey(last.hi, w.hi)
				last.j = max(last.j, w.j)
				return
			}
		}
		wins = append(wins, w)
	}
	for len(del) > 0 || len(add) > 0 {
		if len(add) == 0 || len(del) > 0 && del[0].compare(add[0]) <= 0 {
			each(del[0])
			del = del[1:]
		} else {
			each(add[0])
			add = add[1:]
		}
	}
	if n := len(wins); n > 16 {
		wins = []window{{lo: wins[0].lo, hi: wins[n-1].hi, i: wins[0].i, j: wins[n-1].j}}
	}
	return wins
}

// startingIn returns the spans of sorted that start in [lo, hi].
func startingIn(sorted []span, lo, hi key) []span {
	a := sort.Search(len(sorted), func(k int) bool { return sorted[k].lo.compare(lo) >= 0 })
	b := sort.Search(len(sorted), func(k int) bool { return sorted[k].lo.compare(hi) > 0 })
	return sorted[a:b]
}

// setSplice is how an updated set's spans and elements differ from the
// arrays they share with the entry replaced, until commit applies it.
type setSplice struct {
	raw   []splice[span]
	elems []splice[elem] // nil: the elements stay
}

// splice replaces s[from:to] with with.
type splice[T any] struct {
	from, to int
	with     []T
}

// apply splices e's arrays in place, last window first so that the
// indices of the others hold. The arrays are the replaced entry's,
// which must not be used afterwards.
func (sp *setSplice) apply(e *setEntry) {
	for k := len(sp.raw) - 1; k >= 0; k-- {
		r := sp.raw[k]
		e.raw = slices.Replace(e.raw, r.from, r.to, r.with...)
	}
	for k := len(sp.elems) - 1; k >= 0; k-- {
		r := sp.elems[k]
		e.state.elems = slices.Replace(e.state.elems, r.from, r.to, r.with...)
	}
}

func sameElement(a, b *Element) bool {
	return a.Prefix == b.Prefix && a.Ports == b.Ports && a.Proto == b.Proto &&
		a.Name == b.Name && bytes.Equal(a.MAC, b.MAC)
}

// cancelCommon removes from two sorted lists what is in both, as
// multisets. It reuses their storage.
func cancelCommon(a, b []span) ([]span, []span) {
	outA, outB := a[:0], b[:0]
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch c := a[i].compare(b[j]); {
		case c == 0:
			i++
			j++
		case c < 0:
			outA = append(outA, a[i])
			i++
		default:
			outB = append(outB, b[j])
			j++
		}
	}
	return append(outA, a[i:]...), append(outB, b[j:]...)
}

// patchSorted returns a copy of base, sorted by cmp, with del (sorted)
// taken out and add (sorted) put in, in O(len(base)) copying and
// O((len(del)+len(add)) log len(base)) comparisons. ok is false when
// something of del is not in base.
func patchSorted[T any](base, del, add []T, cmp func(a, b T) int) (out []T, ok bool) {
	out = make([]T, 0, max(0, len(base)-len(del)+len(add)))
	for len(del) > 0 || len(add) > 0 {
		if len(add) == 0 || len(del) > 0 && cmp(del[0], add[0]) <= 0 {
			i, found := slices.BinarySearchFunc(base, del[0], cmp)
			if !found {
				return nil, false
			}
			out = append(out, base[:i]...)
			base, del = base[i+1:], del[1:]
			continue
		}
		i, _ := slices.BinarySearchFunc(base, add[0], cmp)
		out = append(out, base[:i]...)
		out = append(out, add[0])
		base, add = base[i:], add[1:]
	}
	return append(out, base...), true
}

// reaches reports whether a span ending at hi overlaps or adjoins one
// starting at lo or later: hi >= lo-1.
func reaches(hi, lo key) bool {
	if hi.compare(lo) >= 0 {
		return true
	}
	n, ok := hi.next()
	return ok && n == lo
}

func earlierKey(a, b key) key {
	if a.compare(b) <= 0 {
		return a
	}
	return b
}

func laterKey(a, b key) key {
	if a.compare(b) >= 0 {
		return a
	}
	return b
}

// updateMap works out the state of mp from old, the entry of the map it
// replaces: only elements that differ are checked and sorted in. all:
// check where every element leads, because a chain came, went or
// changed kind. ok is false when the maps differ too much for that to
// pay; the caller then builds mp from scratch.
func updateMap(rs *Ruleset, old *setEntry, name string, mp *Map, all bool) (e *setEntry, d *elemDelta, ok bool, err error) {
	if old.m == nil {
		return nil, nil, false, nil
	}
	var changed []string
	if old.m != mp {
		matched := 0
		for k, v := range mp.Elements {
			if ov, ok := old.m.Elements[k]; ok {
				matched++
				if ov == v {
					continue
				}
			}
			changed = append(changed, k)
		}
		if matched < len(old.m.Elements) {
			for k := range old.m.Elements {
				if _, ok := mp.Elements[k]; !ok {
					changed = append(changed, k)
				}
			}
		}
		if len(changed) > (len(mp.Elements)+len(old.m.Elements))/4+64 {
			return nil, nil, false, nil
		}
	}
	slices.Sort(changed)
	var del, add []elem
	var errs []error
	for _, k := range changed {
		if ov, ok := old.m.Elements[k]; ok {
			el, _ := mapElem(name, k, ov) // accepted before
			del = append(del, el)
		}
		if v, ok := mp.Elements[k]; ok {
			el, err := mapElem(name, k, v)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			add = append(add, el)
		}
	}
	switch {
	case all:
		errs = append(errs, checkMapTargets(rs, name, mp, nil))
	case len(changed) > 0:
		errs = append(errs, checkMapTargets(rs, name, mp, changed))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, nil, true, err
	}
	if len(changed) == 0 {
		same := *old
		same.m = mp
		return &same, nil, true, nil
	}
	slices.SortFunc(del, compareElems)
	slices.SortFunc(add, compareElems)
	elems, ok := patchSorted(old.state.elems, del, add, compareElems)
	if !ok {
		return nil, nil, false, nil // cannot be: the old state has every element
	}
	st := &setState{spec: old.state.spec, elems: elems}
	return &setEntry{m: mp, state: st}, &elemDelta{from: old.state, del: del, add: add}, true, nil
}
