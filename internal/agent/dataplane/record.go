package dataplane

// record is what the dataplane believes the kernel holds of its own:
// routes of its protocol and permanent neighbour entries on interfaces it
// manages, and the sysctls it set. It is rebuilt from the kernel on a
// full sync and otherwise changed only when an operation succeeds.
type record struct {
	routes  map[routeKey]route
	neighs  map[neighKey]neigh
	sysctls map[sysctlKey]string
	// proto is the route protocol the routes were programmed with.
	proto int
}

// sysctlKey is a sysctl of one interface (by index, so that a recreated
// interface is configured again), or host-wide with Index 0.
type sysctlKey struct {
	Index int
	Path  string
}

func newRecord() record {
	return record{
		routes:  map[routeKey]route{},
		neighs:  map[neighKey]neigh{},
		sysctls: map[sysctlKey]string{},
	}
}

// dropIndex forgets everything on an interface that was deleted.
func (r *record) dropIndex(index int) {
	r.dropFlushed(index)
	for k := range r.sysctls {
		if k.Index == index {
			delete(r.sysctls, k)
		}
	}
}

// dropFlushed forgets an interface's routes and neighbours (it went
// down, and the kernel flushed them).
func (r *record) dropFlushed(index int) {
	for k := range r.routes {
		if k.Index == index {
			delete(r.routes, k)
		}
	}
	for k := range r.neighs {
		if k.Index == index {
			delete(r.neighs, k)
		}
	}
}

// routeTo returns a recorded route to dst on any interface.
func (r *record) routeTo(dst routeKey) (route, bool) {
	if rt, ok := r.routes[dst]; ok {
		return rt, true
	}
	for k, rt := range r.routes {
		if k.Dst == dst.Dst {
			return rt, true
		}
	}
	return route{}, false
}

// indexes returns every interface index the record mentions.
func (r *record) indexes() []int {
	seen := map[int]bool{}
	var out []int
	add := func(i int) {
		if !seen[i] {
			seen[i] = true
			out = append(out, i)
		}
	}
	for k := range r.routes {
		add(k.Index)
	}
	for k := range r.neighs {
		add(k.Index)
	}
	for k := range r.sysctls {
		add(k.Index)
	}
	return out
}
