package agent

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gocalico/calico/internal/datastore/syncer"
)

// appliedRevisions is the agent's proof of progress: for each datastore
// prefix it follows, the highest revision whose update it has applied to
// the kernel (calico_agent_applied_revision{prefix}). A test, or an
// operator, that wrote a key at revision R under prefix P knows the
// agent has acted on that write once the value for P is >= R.
//
// Exactly: a value R for prefix P means that every update the syncer
// delivered for P with a revision <= R (puts, deletes, and updates that
// changed nothing in the desired state) was in the desired state of a
// dataplane apply (routes and the policy table) that completed without
// error. The revisions are per prefix because the syncer watches each
// prefix on its own stream: a delivered update of one prefix says
// nothing about another's. Within a prefix the syncer delivers updates
// in revision order, so the highest revision delivered covers all the
// lower ones; the exception is a re-list, which delivers its
// differences in key order, so nothing delivered while the syncer is
// not in sync counts until it is in sync again (then every prefix has
// been listed in full).
//
// The value only moves with updates the agent receives: a write the
// decoder skips (another node's endpoint when policy is off) or one that
// fails to decode, a progress notification, or a re-list that finds no
// difference does not move it. A barrier must therefore wait on the
// revision of a write the agent decodes (a valid resource under one of
// its prefixes), which is what a test writes. It never goes backwards.
type appliedRevisions struct {
	prefixes []string
	gauge    *prometheus.GaugeVec

	// Guarded by agent.mu.
	seen   map[string]int64 // prefix -> highest revision delivered
	inSync bool             // the syncer's latest status is in-sync

	// The loop's own.
	taken     map[string]int64 // seen, as of the latest snapshot taken in sync
	published map[string]int64
}

func newAppliedRevisions(prefixes []string, gauge *prometheus.GaugeVec) *appliedRevisions {
	return &appliedRevisions{
		prefixes:  prefixes,
		gauge:     gauge,
		seen:      map[string]int64{},
		taken:     map[string]int64{},
		published: map[string]int64{},
	}
}

// noteStatus records the syncer's status. Called with agent.mu held.
func (r *appliedRevisions) noteStatus(st syncer.Status) {
	r.inSync = st == syncer.StatusInSync
}

// note records the revisions of delivered updates and reports whether
// any prefix's revision advanced. Called with agent.mu held.
func (r *appliedRevisions) note(updates []syncer.Update) bool {
	advanced := false
	last := ""
	for _, u := range updates {
		p := last
		if p == "" || !strings.HasPrefix(u.Key, p) {
			p = r.prefixOf(u.Key)
			if p == "" {
				continue
			}
			last = p
		}
		if u.Revision > r.seen[p] {
			r.seen[p] = u.Revision
			advanced = true
		}
	}
	return advanced
}

func (r *appliedRevisions) prefixOf(key string) string {
	for _, p := range r.prefixes {
		if strings.HasPrefix(key, p) {
			return p
		}
	}
	return ""
}

// take copies what has been delivered into the snapshot being taken, if
// the syncer is in sync. Called by the loop's snapshot with agent.mu held.
func (r *appliedRevisions) take() {
	if !r.inSync {
		return
	}
	for p, rev := range r.seen {
		if rev > r.taken[p] {
			r.taken[p] = rev
		}
	}
}

// applied publishes the revisions of the latest snapshot taken: called
// by the loop after an apply of everything up to that snapshot
// completed.
func (r *appliedRevisions) applied() {
	for p, rev := range r.taken {
		if rev > r.published[p] {
			r.published[p] = rev
			r.gauge.WithLabelValues(p).Set(float64(rev))
		}
	}
}
