package dataplane

// linkEvent applies one link event to the link table and the record
// without asking the kernel, and calls touch with the names of the
// interfaces whose endpoints must be applied again. Events arrive in the
// kernel's order, so the last event about an interface describes it; a
// listing since (refreshLinks) discards the events taken before it.
func (d *Linux) linkEvent(ev linkEvent, touch func(name string)) {
	if ev.Lost {
		return
	}
	// The index's previous name, if it was renamed or is going.
	if prev, ok := d.linkName[ev.Index]; ok && (prev != ev.Name || ev.Deleted) {
		if l, ok := d.links[prev]; ok && l.Index == ev.Index {
			delete(d.links, prev)
		}
		delete(d.linkName, ev.Index)
		touch(prev)
	}
	if ev.Deleted {
		// The kernel flushed exactly the interface's routes and
		// neighbours (and its sysctls went with it).
		d.rec.dropIndex(ev.Index)
		if l, ok := d.links[ev.Name]; ok && l.Index == ev.Index {
			delete(d.links, ev.Name)
		}
		touch(ev.Name)
		return
	}
	if !ev.AdminUp {
		// A down interface has no routes or neighbours; its sysctls
		// stay.
		d.rec.dropFlushed(ev.Index)
	}
	if old, ok := d.links[ev.Name]; ok && old.Index != ev.Index {
		// The name moved to another interface: the old one was deleted
		// (or renamed; its own event says which).
		delete(d.linkName, old.Index)
	}
	d.links[ev.Name] = link{Name: ev.Name, Index: ev.Index, AdminUp: ev.AdminUp, OperUp: ev.OperUp}
	d.linkName[ev.Index] = ev.Name
	touch(ev.Name)
}
