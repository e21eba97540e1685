package syncer

import (
	"context"
	"errors"
	"log/slog"

	"github.com/gocalico/calico/internal/datastore"
)

// errWatchClosed reports a watch channel that closed without an error
// while the syncer still wanted it.
var errWatchClosed = errors.New("watch channel closed without an error")

// prefixSyncer follows one prefix: list, then watch from the list
// revision + 1, re-watching after broken streams and re-listing after
// compaction. It runs on its own goroutine and hands its output to the
// Run goroutine through out.
type prefixSyncer struct {
	s      *Syncer
	idx    int
	prefix string
	out    chan<- message
	log    *slog.Logger
	bo     backoff

	// cache maps every key under the prefix to its mod revision, negated
	// when the value failed to decode (so the consumer never saw it).
	// It holds no values: about 8 bytes plus the key per entry.
	cache map[string]int64
	// rev is the revision up to which cache reflects the datastore: the
	// last list revision, the newest event revision since, or the
	// revision of a progress notification (a response without events).
	// The header revision of a response with events is not used: only
	// its events' revisions are known to be complete. A re-watch from
	// rev+1 can neither skip nor repeat an event.
	rev int64
	// batch collects updates until flush.
	batch []Update
}

func (s *Syncer) newPrefixSyncer(idx int, prefix string, out chan<- message) *prefixSyncer {
	return &prefixSyncer{
		s:      s,
		idx:    idx,
		prefix: prefix,
		out:    out,
		log:    s.log.With("prefix", prefix),
		bo:     backoff{min: s.backoffMin, max: s.backoffMax},
		cache:  make(map[string]int64),
	}
}

// run lists and watches until ctx ends.
func (p *prefixSyncer) run(ctx context.Context) {
	reason := ReasonStart
	for {
		if !p.list(ctx, reason) {
			return
		}
		reason = p.follow(ctx)
		if reason == "" {
			return
		}
	}
}

// list lists the prefix, retrying with backoff until it succeeds, and
// delivers the differences from the cache. It reports false if ctx ended.
func (p *prefixSyncer) list(ctx context.Context, reason string) bool {
	if reason != ReasonStart && !p.send(ctx, message{kind: msgResyncStart}) {
		return false
	}
	p.s.cfg.Metrics.incResync(reason)
	p.log.Info("listing prefix", "reason", reason, "cachedKeys", len(p.cache))
	for {
		if pl, ok := p.s.cfg.Backend.(pagedLister); ok {
			ok, err := p.listPaged(ctx, pl)
			if err == nil {
				return ok
			}
			if ctx.Err() != nil {
				return false
			}
			d := p.bo.next()
			p.log.Warn("list failed, retrying", "error", err, "retryIn", d)
			if !sleep(ctx, d) {
				return false
			}
			continue
		}
		kvs, rev, err := p.s.cfg.Backend.List(ctx, p.prefix)
		if err == nil {
			// The backoff is reset by watch progress, not here, so that
			// a list whose revision is compacted at once is not repeated
			// in a tight loop.
			p.log.Info("listed prefix", "keys", len(kvs), "revision", rev)
			return p.applyList(ctx, kvs, rev)
		}
		if ctx.Err() != nil {
			return false
		}
		d := p.bo.next()
		p.log.Warn("list failed, retrying", "error", err, "retryIn", d)
		if !sleep(ctx, d) {
			return false
		}
	}
}

// follow watches from rev+1, re-watching with backoff after broken
// streams, until the watch reports compaction. It returns the reason for
// the re-list that must follow, or "" when ctx ended.
func (p *prefixSyncer) follow(ctx context.Context) string {
	broken, progressedSinceList := false, false
	for {
		progressed, err := p.watch(ctx)
		if ctx.Err() != nil {
			return ""
		}
		if progressed {
			broken, progressedSinceList = false, true
			p.bo.reset()
		}
		if errors.Is(err, datastore.ErrCompacted) {
			p.log.Info("watch revision compacted, re-listing", "fromRevision", p.rev+1)
			if broken {
				return ReasonError
			}
			// Compacted before anything arrived since the list: back off
			// rather than re-list in a loop against a busy compactor.
			if !progressedSinceList && !sleep(ctx, p.bo.next()) {
				return ""
			}
			return ReasonCompacted
		}
		broken = true
		d := p.bo.next()
		p.log.Warn("watch failed, re-watching", "error", err, "fromRevision", p.rev+1, "retryIn", d)
		if !sleep(ctx, d) {
			return ""
		}
		p.s.cfg.Metrics.incWatchRestart()
	}
}

// watch runs one watch from rev+1 until it fails or ctx ends. It reports
// whether any response was applied, and the error that ended it.
func (p *prefixSyncer) watch(ctx context.Context) (progressed bool, err error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := p.s.cfg.Backend.Watch(wctx, p.prefix, p.rev+1)
	for {
		select {
		case <-ctx.Done():
			return progressed, ctx.Err()
		case resp, ok := <-ch:
			if !ok {
				return progressed, errWatchClosed
			}
			if resp.Err != nil {
				return progressed, resp.Err
			}
			if len(resp.Events) == 0 {
				// A progress notification: every event under the prefix
				// up to resp.Revision has been delivered.
				p.rev = max(p.rev, resp.Revision)
			} else if !p.applyEvents(ctx, resp.Events) {
				return progressed, ctx.Err()
			}
			progressed = true
		}
	}
}

// send hands m to the Run goroutine; false if ctx ended first.
func (p *prefixSyncer) send(ctx context.Context, m message) bool {
	m.prefix = p.idx
	select {
	case p.out <- m:
		return true
	case <-ctx.Done():
		return false
	}
}
