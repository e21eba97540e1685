package syncer_test

import (
	"context"
	"errors"
	"sync"

	"github.com/gocalico/calico/internal/datastore"
)

// errCut is the error a cut watch ends with, like a dropped connection.
var errCut = errors.New("test: watch connection cut")

// cuttable wraps a real Backend so a test can cut the syncer off from
// etcd's watches for a while: cut ends every watch with errCut and holds
// new watches back until restore. Everything else passes through.
type cuttable struct {
	datastore.Backend

	mu      sync.Mutex
	gate    chan struct{} // closed while watches may run
	cutting chan struct{} // closed by cut to end running watches
}

func newCuttable(be datastore.Backend) *cuttable {
	gate := make(chan struct{})
	close(gate)
	return &cuttable{Backend: be, gate: gate, cutting: make(chan struct{})}
}

func (c *cuttable) cut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gate = make(chan struct{})
	close(c.cutting)
}

func (c *cuttable) restore() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cutting = make(chan struct{})
	close(c.gate)
}

func (c *cuttable) Watch(ctx context.Context, prefix string, fromRev int64) <-chan datastore.WatchResponse {
	out := make(chan datastore.WatchResponse)
	go func() {
		defer close(out)
		send := func(r datastore.WatchResponse) bool {
			select {
			case out <- r:
				return true
			case <-ctx.Done():
				return false
			}
		}
		for {
			c.mu.Lock()
			gate, cutting := c.gate, c.cutting
			c.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-gate:
			}
			// A restore may have been followed by another cut.
			select {
			case <-cutting:
				continue
			default:
			}
			c.forward(ctx, prefix, fromRev, cutting, send)
			return
		}
	}()
	return out
}

// forward relays the real watch until it ends or the watch is cut.
func (c *cuttable) forward(ctx context.Context, prefix string, fromRev int64, cutting <-chan struct{}, send func(datastore.WatchResponse) bool) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	in := c.Backend.Watch(wctx, prefix, fromRev)
	for {
		select {
		case <-ctx.Done():
			return
		case <-cutting:
			send(datastore.WatchResponse{Err: errCut})
			return
		case r, ok := <-in:
			if !ok {
				return
			}
			if !send(r) || r.Err != nil {
				return
			}
		}
	}
}
