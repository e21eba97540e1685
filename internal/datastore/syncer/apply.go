package syncer

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gocalico/calico/internal/datastore"
)

// applyList delivers the differences between the cache and a list taken at
// rev: deletes for cached keys that are gone (sorted by key), then new and
// changed keys in key order. Keys whose mod revision is unchanged are
// neither decoded nor delivered again. It reports false if ctx ended.
func (p *prefixSyncer) applyList(ctx context.Context, kvs []*datastore.KV, rev int64) bool {
	if !slices.IsSortedFunc(kvs, compareKV) {
		slices.SortFunc(kvs, compareKV)
	}
	if len(p.cache) == 0 {
		p.cache = make(map[string]int64, len(kvs))
	}
	var gone []string
	for key := range p.cache {
		if _, found := slices.BinarySearchFunc(kvs, key, compareKVKey); !found {
			gone = append(gone, key)
		}
	}
	slices.Sort(gone)
	for _, key := range gone {
		valid := p.cache[key] > 0
		delete(p.cache, key)
		if valid && !p.emit(ctx, Update{Type: UpdateDeleted, Key: key, Revision: rev}) {
			return false
		}
	}
	// Values are decoded a window at a time on every core, then delivered
	// in key order from this goroutine.
	pending := make([]*datastore.KV, 0, min(len(kvs), decodeWindow))
	results := make([]decoded, cap(pending))
	deliver := func() bool {
		p.decodeAll(pending, results[:len(pending)])
		for i, kv := range pending {
			if !p.putDecoded(ctx, kv, results[i].v, results[i].err) {
				return false
			}
			results[i] = decoded{}
		}
		pending = pending[:0]
		return true
	}
	for i, kv := range kvs {
		// Drop the list's reference so each value can be collected once
		// the consumer is done with it.
		kvs[i] = nil
		if old, ok := p.cache[kv.Key]; ok && abs(old) == kv.ModRevision {
			continue
		}
		pending = append(pending, kv)
		if len(pending) == cap(pending) && !deliver() {
			return false
		}
	}
	if !deliver() {
		return false
	}
	p.rev = rev
	if !p.flush(ctx) {
		return false
	}
	return p.send(ctx, message{kind: msgListed})
}

// pagedLister is a Backend that can hand a list over page by page
// (datastore's etcd backend does).
type pagedLister interface {
	ListPages(ctx context.Context, prefix string, pageSize int64, fn func(kvs []*datastore.KV, rev int64) error) (int64, error)
}

// errListAborted ends a paged list whose updates could not be delivered
// because ctx ended.
var errListAborted = errors.New("list aborted")

// listPaged is list + applyList a page at a time, so that neither the
// whole list nor all its decoded values are held at once: new and
// changed keys are delivered page by page in key order, then deletes for
// cached keys the list did not contain (sorted by key). A list that
// fails part way has delivered a consistent part of one revision; the
// next list delivers the differences from it. It reports false if ctx
// ended, and the list's error.
func (p *prefixSyncer) listPaged(ctx context.Context, pl pagedLister) (bool, error) {
	var seen map[string]bool
	if len(p.cache) > 0 {
		seen = make(map[string]bool, len(p.cache))
	}
	pending := make([]*datastore.KV, 0, decodeWindow)
	results := make([]decoded, decodeWindow)
	deliver := func() bool {
		p.decodeAll(pending, results[:len(pending)])
		for i, kv := range pending {
			if !p.putDecoded(ctx, kv, results[i].v, results[i].err) {
				return false
			}
			results[i] = decoded{}
			pending[i] = nil
		}
		pending = pending[:0]
		return true
	}
	keys := 0
	rev, err := pl.ListPages(ctx, p.prefix, p.s.cfg.ListPageSize, func(kvs []*datastore.KV, _ int64) error {
		keys += len(kvs)
		for i, kv := range kvs {
			kvs[i] = nil // each value can go once delivered
			if seen != nil {
				seen[kv.Key] = true
			}
			if old, ok := p.cache[kv.Key]; ok && abs(old) == kv.ModRevision {
				continue
			}
			pending = append(pending, kv)
			if len(pending) == cap(pending) && !deliver() {
				return errListAborted
			}
		}
		// Deliver what the page holds before the next is read.
		if !deliver() || !p.flush(ctx) {
			return errListAborted
		}
		return nil
	})
	if errors.Is(err, errListAborted) || ctx.Err() != nil {
		return false, nil
	}
	if err != nil {
		return true, err
	}
	p.log.Info("listed prefix", "keys", keys, "revision", rev)
	var gone []string
	if seen != nil {
		for key := range p.cache {
			if !seen[key] {
				gone = append(gone, key)
			}
		}
	}
	slices.Sort(gone)
	for _, key := range gone {
		valid := p.cache[key] > 0
		delete(p.cache, key)
		if valid && !p.emit(ctx, Update{Type: UpdateDeleted, Key: key, Revision: rev}) {
			return false, nil
		}
	}
	p.rev = rev
	if !p.flush(ctx) {
		return false, nil
	}
	return p.send(ctx, message{kind: msgListed}), nil
}

// applyEvents delivers one watch response's events. Events the cache
// already reflects are skipped, so an overlapping re-watch cannot produce
// duplicates. It reports false if ctx ended.
func (p *prefixSyncer) applyEvents(ctx context.Context, events []datastore.Event) bool {
	for i := range events {
		ev := &events[i]
		rev := ev.KV.ModRevision
		old, cached := p.cache[ev.KV.Key]
		if rev < p.rev || (cached && abs(old) >= rev) {
			continue
		}
		switch ev.Type {
		case datastore.EventPut:
			if !p.put(ctx, &ev.KV) {
				return false
			}
		case datastore.EventDelete:
			if cached {
				delete(p.cache, ev.KV.Key)
				if old > 0 && !p.emit(ctx, Update{Type: UpdateDeleted, Key: ev.KV.Key, Revision: rev}) {
					return false
				}
			}
		}
		p.rev = max(p.rev, rev)
	}
	return p.flush(ctx)
}

// put records a value seen at kv.ModRevision and emits the matching
// update. A value that fails to decode is logged, counted and skipped; if
// it replaces a value the consumer has, the consumer gets a delete marked
// Invalid.
func (p *prefixSyncer) put(ctx context.Context, kv *datastore.KV) bool {
	v, err := p.decode(kv)
	return p.putDecoded(ctx, kv, v, err)
}

// putDecoded is put with the value already decoded (v, err).
func (p *prefixSyncer) putDecoded(ctx context.Context, kv *datastore.KV, v any, err error) bool {
	old, had := p.cache[kv.Key]
	wasValid := had && old > 0
	if errors.Is(err, ErrSkip) {
		p.cache[kv.Key] = -kv.ModRevision
		if !wasValid {
			return true
		}
		return p.emit(ctx, Update{Type: UpdateDeleted, Key: kv.Key, Revision: kv.ModRevision})
	}
	if err != nil {
		p.log.Warn("skipping invalid value", "key", kv.Key, "revision", kv.ModRevision, "error", err)
		p.s.cfg.Metrics.incInvalid(p.prefix)
		p.cache[kv.Key] = -kv.ModRevision
		if !wasValid {
			return true
		}
		return p.emit(ctx, Update{Type: UpdateDeleted, Key: kv.Key, Revision: kv.ModRevision, Invalid: true})
	}
	p.cache[kv.Key] = kv.ModRevision
	typ := UpdateNew
	if wasValid {
		typ = UpdateChanged
	}
	return p.emit(ctx, Update{Type: typ, Key: kv.Key, Value: v, Revision: kv.ModRevision})
}

// decodeWindow is how many listed values are decoded concurrently before
// they are delivered; it bounds the decoded values held at once.
const decodeWindow = 1024

type decoded struct {
	v   any
	err error
}

// decodeAll decodes kvs into out, on every core when there is enough work.
func (p *prefixSyncer) decodeAll(kvs []*datastore.KV, out []decoded) {
	workers := p.s.cfg.DecodeWorkers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if p.s.cfg.Decode == nil || workers == 1 || len(kvs) < 64 {
		for i, kv := range kvs {
			out[i].v, out[i].err = p.decode(kv)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(kvs) {
					return
				}
				out[i].v, out[i].err = p.decode(kvs[i])
			}
		})
	}
	wg.Wait()
}

// decode decodes kv's value. A panicking decoder is treated as a decode
// error: a value read from etcd must never crash the component.
func (p *prefixSyncer) decode(kv *datastore.KV) (v any, err error) {
	if p.s.cfg.Decode == nil {
		return kv.Value, nil
	}
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, fmt.Errorf("decoder panicked: %v", r)
		}
	}()
	return p.s.cfg.Decode(kv.Key, kv.Value, kv.ModRevision)
}

// emit queues u, flushing when the batch is full.
func (p *prefixSyncer) emit(ctx context.Context, u Update) bool {
	p.batch = append(p.batch, u)
	if len(p.batch) >= p.s.cfg.BatchSize {
		return p.flush(ctx)
	}
	return true
}

// flush hands the queued updates to the Run goroutine.
func (p *prefixSyncer) flush(ctx context.Context) bool {
	if len(p.batch) == 0 {
		return true
	}
	b := p.batch
	p.batch = nil
	return p.send(ctx, message{kind: msgUpdates, updates: b})
}

func compareKV(a, b *datastore.KV) int { return strings.Compare(a.Key, b.Key) }

func compareKVKey(kv *datastore.KV, key string) int { return strings.Compare(kv.Key, key) }

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}
