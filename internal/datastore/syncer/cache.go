package syncer

import (
	"context"
	"fmt"
	"maps"
	"sync"
)

// Cache is a Callbacks that applies updates to a map, for consumers that
// only need the current view and for tests and benchmarks. It also checks
// that the stream it receives is coherent (no UpdateNew for a key it
// holds, no UpdateChanged or UpdateDeleted for a key it lacks, no
// revision going backwards) and records any violation. It is safe for
// concurrent use.
type Cache struct {
	mu         sync.Mutex
	values     map[string]any
	revs       map[string]int64
	status     Status
	inSyncs    int
	updates    int
	violations []string
	// changed is closed and replaced on every change, waking waiters.
	changed chan struct{}
}

var _ Callbacks = (*Cache)(nil)

// NewCache returns an empty Cache.
func NewCache() *Cache {
	return &Cache{
		values:  make(map[string]any),
		revs:    make(map[string]int64),
		changed: make(chan struct{}),
	}
}

// OnStatusUpdated implements Callbacks.
func (c *Cache) OnStatusUpdated(st Status) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st == StatusInSync {
		if c.status == StatusInSync {
			c.violate("in-sync reported twice in a row")
		}
		c.inSyncs++
	}
	c.status = st
	c.notify()
}

// OnUpdates implements Callbacks.
func (c *Cache) OnUpdates(updates []Update) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, u := range updates {
		c.apply(u)
	}
	c.updates += len(updates)
	c.notify()
}

func (c *Cache) apply(u Update) {
	old, ok := c.revs[u.Key]
	switch {
	case u.Type == UpdateNew && ok:
		c.violate("new for existing key %s (rev %d, held rev %d)", u.Key, u.Revision, old)
	case u.Type != UpdateNew && !ok:
		c.violate("%s for absent key %s (rev %d)", u.Type, u.Key, u.Revision)
	case ok && u.Revision < old:
		c.violate("%s for key %s goes back from rev %d to %d", u.Type, u.Key, old, u.Revision)
	}
	if u.Type == UpdateDeleted {
		delete(c.values, u.Key)
		delete(c.revs, u.Key)
		return
	}
	c.values[u.Key] = u.Value
	c.revs[u.Key] = u.Revision
}

func (c *Cache) violate(format string, args ...any) {
	c.violations = append(c.violations, fmt.Sprintf(format, args...))
}

func (c *Cache) notify() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// Get returns the value held for key.
func (c *Cache) Get(key string) (any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.values[key]
	return v, ok
}

// Len returns the number of keys held.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.values)
}

// Snapshot returns a copy of the current view, key -> value.
func (c *Cache) Snapshot() map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.values)
}

// Revisions returns a copy of the current view, key -> mod revision.
func (c *Cache) Revisions() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.revs)
}

// Status returns the last status reported.
func (c *Cache) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

// InSyncCount returns how many times StatusInSync has been reported.
func (c *Cache) InSyncCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.inSyncs
}

// UpdateCount returns how many updates have been applied.
func (c *Cache) UpdateCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.updates
}

// Violations returns the incoherences seen in the update stream; a correct
// syncer produces none.
func (c *Cache) Violations() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.violations...)
}

// WaitInSync blocks until the last status reported is StatusInSync or ctx
// ends.
func (c *Cache) WaitInSync(ctx context.Context) error {
	return c.WaitFor(ctx, func(st Status, _ map[string]any) bool { return st == StatusInSync })
}

// WaitFor blocks until cond holds or ctx ends. cond is called at once and
// after every change, with the Cache locked, the current status and the
// current view: it must not call the Cache, nor modify or keep the map.
func (c *Cache) WaitFor(ctx context.Context, cond func(Status, map[string]any) bool) error {
	for {
		c.mu.Lock()
		ok, changed := cond(c.status, c.values), c.changed
		c.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for syncer cache: %w", context.Cause(ctx))
		case <-changed:
		}
	}
}
