// Package syncer follows datastore prefixes by list and watch and turns
// them into an ordered stream of decoded updates with an in-sync signal.
package syncer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Syncer lists and watches a set of prefixes and reports what it sees to
// Callbacks. Each prefix is followed by its own goroutine, which decodes
// values and keeps a small cache (key -> mod revision) used to tell new
// from changed keys and to emit only differences after a re-list. A single
// goroutine, the one running Run, calls the Callbacks.
type Syncer struct {
	cfg Config
	cb  Callbacks
	log *slog.Logger

	started atomic.Bool

	// Retry delays; tests shorten them.
	backoffMin, backoffMax time.Duration
}

// New returns a Syncer for cfg that reports to cb. Nothing happens until
// Run is called.
func New(cfg Config, cb Callbacks) *Syncer {
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Syncer{
		cfg:        cfg,
		cb:         cb,
		log:        log,
		backoffMin: defaultBackoffMin,
		backoffMax: defaultBackoffMax,
	}
}

// msgKind says what a prefix goroutine is telling the Run goroutine.
type msgKind int

const (
	msgUpdates     msgKind = iota + 1 // updates to deliver
	msgResyncStart                    // the prefix starts a re-list
	msgListed                         // the prefix's list was fully delivered
)

type message struct {
	kind    msgKind
	prefix  int
	updates []Update
}

// Run follows the datastore until ctx ends, then returns nil. It returns
// an error at once only if the Config is unusable or Run was already
// called: a Syncer runs once.
func (s *Syncer) Run(ctx context.Context) error {
	if err := s.validate(); err != nil {
		return fmt.Errorf("syncer run: %w", err)
	}
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("syncer run: already started")
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()

	msgs := make(chan message, len(s.cfg.Prefixes))
	for i, prefix := range s.cfg.Prefixes {
		p := s.newPrefixSyncer(i, prefix, msgs)
		wg.Go(func() { p.run(ctx) })
	}

	st := statusTracker{
		s:       s,
		listed:  make([]bool, len(s.cfg.Prefixes)),
		pending: len(s.cfg.Prefixes),
	}
	st.set(StatusWaitingForDatastore)
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-msgs:
			st.handle(m)
		}
	}
}

func (s *Syncer) validate() error {
	if s.cfg.Backend == nil {
		return errors.New("no backend configured")
	}
	if s.cb == nil {
		return errors.New("no callbacks given")
	}
	if len(s.cfg.Prefixes) == 0 {
		return errors.New("no prefixes configured")
	}
	for i, a := range s.cfg.Prefixes {
		for j, b := range s.cfg.Prefixes {
			if i != j && strings.HasPrefix(b, a) {
				return fmt.Errorf("prefixes %q and %q overlap", a, b)
			}
		}
	}
	return nil
}

// statusTracker turns per-prefix progress into the overall Status and
// delivers messages to the Callbacks. It runs on the Run goroutine only.
type statusTracker struct {
	s       *Syncer
	status  Status
	listed  []bool // per prefix: its latest (re-)list has been delivered
	pending int    // prefixes not listed
}

func (t *statusTracker) set(st Status) {
	if t.status == st {
		return
	}
	t.status = st
	t.s.log.Info("syncer status changed", "status", st.String())
	t.s.cfg.Metrics.setInSync(st == StatusInSync)
	t.s.cb.OnStatusUpdated(st)
}

func (t *statusTracker) handle(m message) {
	switch m.kind {
	case msgUpdates:
		// The first data from any prefix means the datastore answered.
		if t.status == StatusWaitingForDatastore {
			t.set(StatusResyncInProgress)
		}
		t.s.cb.OnUpdates(m.updates)
	case msgResyncStart:
		if t.listed[m.prefix] {
			t.listed[m.prefix] = false
			t.pending++
		}
		if t.status == StatusInSync {
			t.set(StatusResyncInProgress)
		}
	case msgListed:
		if t.status == StatusWaitingForDatastore {
			t.set(StatusResyncInProgress)
		}
		if !t.listed[m.prefix] {
			t.listed[m.prefix] = true
			t.pending--
		}
		if t.pending == 0 {
			t.set(StatusInSync)
		}
	}
}
