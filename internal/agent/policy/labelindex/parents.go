package labelindex

import "maps"

// UpdateParent defines or replaces a parent's labels (a profile's
// labelsToApply). Only items listing the parent are re-evaluated, and of
// those only the ones whose effective labels change.
func (ix *Index) UpdateParent(id string, labels map[string]string) {
	ix.setParent(id, labels, true)
}

// DeleteParent removes a parent's labels; items may keep listing it, and
// pick its labels up again if it is defined again.
func (ix *Index) DeleteParent(id string) {
	ix.setParent(id, nil, false)
}

func (ix *Index) setParent(id string, labels map[string]string, defined bool) {
	p := ix.parents[id]
	if p == nil {
		if !defined {
			return
		}
		p = &parent{id: id}
		ix.parents[id] = p
	}
	p.defined = defined
	old := p.labels
	if maps.Equal(old, labels) {
		p.labels = labels
		ix.gcParent(p)
		return
	}
	// Keys whose value changed and that some selector reads: a change no
	// selector can see costs only the re-indexing below.
	changed := ix.parentKeys[:0]
	for k, v := range old {
		if nv, ok := labels[k]; (!ok || nv != v) && ix.readSels[k] != nil {
			changed = append(changed, k)
		}
	}
	for k := range labels {
		if _, ok := old[k]; !ok && ix.readSels[k] != nil {
			changed = append(changed, k)
		}
	}
	ix.parentKeys = changed
	ix.parentsByLabel.reindex(p, old, labels)
	p.labels = labels
	if len(changed) == 0 {
		ix.gcParent(p)
		return
	}
	for it := range p.items {
		// A changed key matters to this item only where neither its own
		// labels nor an earlier parent shadow it, and where the fallback
		// to later parents does not happen to give the same value.
		ix.itemKeys = ix.itemKeys[:0]
		for _, k := range changed {
			ov, wasSet := lookup(it.labels, it.parents, k, p, old)
			nv, isSet := it.Get(k)
			if wasSet != isSet || ov != nv {
				ix.itemKeys = append(ix.itemKeys, k)
			}
		}
		if len(ix.itemKeys) > 0 {
			ix.evaluate(it, ix.itemKeys, false)
		}
	}
	ix.gcParent(p)
}

// gcParent forgets a parent that is neither defined nor referenced.
func (ix *Index) gcParent(p *parent) {
	if !p.defined && len(p.items) == 0 {
		delete(ix.parents, p.id)
	}
}
