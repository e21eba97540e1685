package labelindex

// set is a set of records, keyed by pointer.
type set[T comparable] map[T]struct{}

// with adds x, allocating the set on first use so that the many records
// that never match anything cost no map.
func (s set[T]) with(x T) set[T] {
	if s == nil {
		s = set[T]{}
	}
	s[x] = struct{}{}
	return s
}

// addTo and removeFrom maintain a map of sets, dropping sets that become
// empty so that the map does not grow with keys no longer used.
func addTo[T comparable](m map[string]set[T], k string, x T) {
	m[k] = m[k].with(x)
}

func removeFrom[T comparable](m map[string]set[T], k string, x T) {
	s := m[k]
	delete(s, x)
	if len(s) == 0 {
		delete(m, k)
	}
}

// kvIndex holds records under a label key and value.
type kvIndex[T comparable] map[string]map[string]set[T]

func (x kvIndex[T]) add(k, v string, o T) {
	byValue := x[k]
	if byValue == nil {
		byValue = map[string]set[T]{}
		x[k] = byValue
	}
	addTo(byValue, v, o)
}

func (x kvIndex[T]) remove(k, v string, o T) {
	byValue := x[k]
	removeFrom(byValue, v, o)
	if len(byValue) == 0 {
		delete(x, k)
	}
}

func (x kvIndex[T]) get(k, v string) set[T] { return x[k][v] }

// reindex moves o from the entries of labels old to those of labels new,
// touching only keys whose value changed.
func (x kvIndex[T]) reindex(o T, old, new map[string]string) {
	for k, v := range old {
		if nv, ok := new[k]; !ok || nv != v {
			x.remove(k, v, o)
		}
	}
	for k, v := range new {
		if ov, ok := old[k]; !ok || ov != v {
			x.add(k, v, o)
		}
	}
}
