package notimpl

import (
	"log/slog"
	"reflect"
	"slices"
	"sync"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/datastore/syncer"
)

// Reporter logs, at Warn, the listed fields set in the objects a
// component follows: once per object and field, and again when the value
// changes (or the field is set again after being unset, or the object is
// deleted and created again).
type Reporter struct {
	log   *slog.Logger
	kinds []string
	// keep, when set, says which objects of those kinds to report.
	keep func(v3.Resource) bool

	mu sync.Mutex
	// seen holds, per object key, the value last logged per finding
	// (keyed by path, or What for a whole object). Only objects with
	// findings have an entry.
	seen map[string]map[string]string
}

// NewReporter returns a Reporter for objects of kinds (the ones the
// component acts on, so that two components do not report the same
// object).
func NewReporter(log *slog.Logger, kinds ...string) *Reporter {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Reporter{log: log, kinds: kinds, seen: map[string]map[string]string{}}
}

// Only limits the reporter to the objects keep accepts (the agent reports
// its own node's endpoints, not every node's), and returns it.
func (p *Reporter) Only(keep func(v3.Resource) bool) *Reporter {
	p.keep = keep
	return p
}

// Observe reports what r, stored at key, sets that is not implemented
// and was not reported yet with that value. A nil r forgets key.
func (p *Reporter) Observe(key string, r v3.Resource) {
	if r == nil || reflect.ValueOf(r).IsNil() || !slices.Contains(p.kinds, r.GetTypeMeta().Kind) ||
		p.keep != nil && !p.keep(r) {
		p.Forget(key)
		return
	}
	found := Find(r)
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(found) == 0 {
		delete(p.seen, key)
		return
	}
	before := p.seen[key]
	now := make(map[string]string, len(found))
	for _, f := range found {
		id := f.Path
		if id == "" {
			id = f.Subject()
		}
		now[id] = f.Value
		if old, ok := before[id]; ok && old == f.Value {
			continue
		}
		attrs := []any{"kind", f.Kind, "name", f.Name}
		if f.Namespace != "" {
			attrs = append(attrs, "namespace", f.Namespace)
		}
		if f.Path != "" {
			attrs = append(attrs, "field", f.Path, "value", f.Value)
		} else {
			attrs = append(attrs, "object", f.Subject())
		}
		attrs = append(attrs, "reason", f.Why)
		p.log.Warn("not implemented by this version; stored but not acted on", attrs...)
	}
	p.seen[key] = now
}

// Forget drops what was reported for key (the object was deleted).
func (p *Reporter) Forget(key string) {
	p.mu.Lock()
	delete(p.seen, key)
	p.mu.Unlock()
}

// OnUpdates observes syncer updates: new and changed resources, and
// deletions. Values that are not resources are ignored.
func (p *Reporter) OnUpdates(us []syncer.Update) {
	for _, u := range us {
		r, _ := u.Value.(v3.Resource)
		if u.Type == syncer.UpdateDeleted {
			r = nil
		}
		p.Observe(u.Key, r)
	}
}

// Wrap returns syncer callbacks that report every batch of updates, then
// hand it to next.
func (p *Reporter) Wrap(next syncer.Callbacks) syncer.Callbacks {
	return wrapped{p: p, next: next}
}

type wrapped struct {
	p    *Reporter
	next syncer.Callbacks
}

func (w wrapped) OnStatusUpdated(st syncer.Status) { w.next.OnStatusUpdated(st) }

func (w wrapped) OnUpdates(us []syncer.Update) {
	w.p.OnUpdates(us)
	w.next.OnUpdates(us)
}
