package nft

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Isolator applies rulesets so that the failure of one object stays
// local. When the kernel rejects a ruleset (ErrRejected), it finds the
// objects responsible by halving the changed objects (Diff) and applying
// mixes of the table the kernel holds and the one wanted (Mix): what the
// kernel accepts is committed, and an object it rejects stays as the
// kernel holds it, with whatever must stay with it. It fails closed: an
// endpoint chain that cannot be changed keeps its previous version, one
// that cannot be added is left out, and so is the dispatch map element
// that leads to it, so that the interface's traffic meets the table's
// drop for unknown interfaces. Each rejected object is retried on its
// own back-off (or at once when the wanted version of it changes);
// everything else is applied meanwhile.
//
// The table's skeleton (base chains and maps, without their elements) is
// never held: when it is rejected, the table cannot be applied at all,
// and Apply fails.
//
// One goroutine owns an Isolator.
type Isolator struct {
	apply func(context.Context, *Ruleset) error
	now   func() time.Time
	// OnRetry, when set, is called for each failed object whose retry
	// is due, as its retry starts.
	OnRetry func(ObjectID)

	// applied is what the kernel holds, as far as known (nil: nothing
	// yet, taken as an empty table).
	applied *Ruleset
	failed  map[ObjectID]*ObjectFailure
	// held: the objects of the last wanted ruleset that the kernel does
	// not hold as wanted (the failed ones and those held with them).
	held map[ObjectID]bool
	// trials counts applies, for tests.
	trials int
}

// ObjectFailure is an object the kernel rejected at its last attempt.
type ObjectFailure struct {
	ID  ObjectID
	Err error
	// Since is when it first failed with this error at this wanted
	// version; Attempts counts the failed attempts since.
	Since    time.Time
	Attempts int
	// Retry is when it is tried again.
	Retry time.Time
	// version is the wanted version it failed at (see versionOf).
	version any
}

// Back-off of one rejected object: the first retry after MinRetry, each
// further one after twice the last delay, at most MaxRetry.
const (
	MinRetry = 100 * time.Millisecond
	MaxRetry = time.Minute
)

func retryDelay(n int) time.Duration {
	d := MinRetry
	for i := 1; i < n && d < MaxRetry; i++ {
		d *= 2
	}
	return min(d, MaxRetry)
}

// NewIsolator returns an Isolator that applies through apply (an
// Applier's Apply), on the clock now (nil: time.Now).
func NewIsolator(apply func(context.Context, *Ruleset) error, now func() time.Time) *Isolator {
	if now == nil {
		now = time.Now
	}
	return &Isolator{apply: apply, now: now, failed: map[ObjectID]*ObjectFailure{}, held: map[ObjectID]bool{}}
}

// Apply applies want, or as much of it as the kernel accepts. It returns
// an error only when nothing of want could be applied for a reason not
// tied to one object: the skeleton was rejected, or an error other than
// ErrRejected (the table could not be read, the outcome is unknown).
// Objects rejected are reported by Failures.
func (p *Isolator) Apply(ctx context.Context, want *Ruleset) error {
	now := p.now()
	hold := map[ObjectID]bool{}
	for id, f := range p.failed {
		switch {
		case !sameVersion(f.version, versionOf(want, id)):
			// The wanted object changed: a new one, tried at once.
		case now.Before(f.Retry):
			hold[id] = true
		case p.OnRetry != nil:
			p.OnRetry(id)
		}
	}
	rs := want
	if len(hold) > 0 {
		rs, _ = Mix(p.applied, want, hold)
	}
	p.trials++
	err := p.apply(ctx, rs)
	if err == nil {
		p.settle(rs, want, nil)
		return nil
	}
	if !errors.Is(err, ErrRejected) {
		return err
	}
	return p.isolate(ctx, want, hold)
}

// search is one isolation: on top of base (what the kernel held), the
// objects committed so far and those found failing.
type search struct {
	p         *Isolator
	ctx       context.Context
	want      *Ruleset
	base      *Ruleset
	hold      map[ObjectID]bool // held from the start (failed, not due)
	suspects  []ObjectID
	committed map[ObjectID]bool
	failed    map[ObjectID]error
	// last is the last ruleset applied, what the kernel now holds.
	last *Ruleset
}

func (p *Isolator) isolate(ctx context.Context, want *Ruleset, hold map[ObjectID]bool) error {
	s := &search{p: p, ctx: ctx, want: want, base: p.applied, hold: hold,
		committed: map[ObjectID]bool{}, failed: map[ObjectID]error{}, last: p.applied}
	for _, id := range Diff(p.applied, want) {
		if !hold[id] && !id.Core(want) {
			s.suspects = append(s.suspects, id)
		}
	}
	// The skeleton with nothing else that changed: if that is rejected,
	// no part of want can be applied.
	if err := s.try(nil); err != nil {
		if errors.Is(err, ErrRejected) {
			return fmt.Errorf("the table's base chains and maps were rejected: %w", err)
		}
		return err
	}
	// Then the rest. An object held back because it needs another that
	// was not yet committed gets another round.
	pending := slices.Clone(s.suspects)
	for known := true; len(pending) > 0; known = false {
		done := len(s.committed) + len(s.failed)
		// The first time, all of it is what was rejected.
		if err := s.commit(pending, known); err != nil {
			return err
		}
		pending = slices.DeleteFunc(pending, func(id ObjectID) bool { return s.committed[id] || s.failed[id] != nil })
		if len(s.committed)+len(s.failed) == done {
			break // the rest needs what failed
		}
	}
	// What the whole was rejected for may have been accepted piecewise
	// (an interaction of objects): then nothing failed.
	p.settle(s.last, want, s.failed)
	return nil
}

// try applies, on top of what is committed, the objects in S; the
// suspects neither committed nor in S are held as the kernel holds them.
func (s *search) try(S []ObjectID) error {
	if err := s.ctx.Err(); err != nil {
		return err
	}
	hold := maps.Clone(s.hold)
	in := make(map[ObjectID]bool, len(S))
	for _, id := range S {
		in[id] = true
	}
	for _, id := range s.suspects {
		if !s.committed[id] && !in[id] {
			hold[id] = true
		}
	}
	rs, held := Mix(s.base, s.want, hold)
	s.p.trials++
	if err := s.p.apply(s.ctx, rs); err != nil {
		return err
	}
	s.last = rs
	for _, id := range S {
		if !held[id] {
			s.committed[id] = true
		}
	}
	return nil
}

// commit commits what it can of S: S whole (unless rejected says it was
// rejected already), or else each half on its own, down to single
// objects, which are then marked failed. It returns only errors other
// than ErrRejected.
func (s *search) commit(S []ObjectID, rejected bool) error {
	if len(S) == 0 {
		return nil
	}
	if !rejected {
		err := s.try(S)
		if err == nil || !errors.Is(err, ErrRejected) {
			return err
		}
		if len(S) == 1 {
			s.failed[S[0]] = err
			return nil
		}
	}
	if len(S) == 1 {
		return s.commit(S, false) // for its error
	}
	mid := len(S) / 2
	if err := s.commit(S[:mid], false); err != nil {
		return err
	}
	return s.commit(S[mid:], false)
}

// settle records what the kernel holds (kernel, nil: unchanged) after
// applying want, and the objects that failed now.
func (p *Isolator) settle(kernel, want *Ruleset, failed map[ObjectID]error) {
	if kernel != nil {
		p.applied = kernel
	}
	now := p.now()
	p.held = map[ObjectID]bool{}
	if p.applied != want { // as it is after every apply without failures
		for _, id := range Diff(p.applied, want) {
			p.held[id] = true
		}
	}
	for id, err := range failed {
		f := p.failed[id]
		v := versionOf(want, id)
		if f == nil || f.Err.Error() != err.Error() || !sameVersion(f.version, v) {
			f = &ObjectFailure{ID: id, Since: now, version: v}
			p.failed[id] = f
		}
		f.Err = err
		f.Attempts++
		f.Retry = now.Add(retryDelay(f.Attempts))
	}
	for id, f := range p.failed {
		if failed[id] != nil {
			continue
		}
		if !p.held[id] {
			delete(p.failed, id) // as wanted now
			continue
		}
		if !now.Before(f.Retry) {
			// Due, but held with another failure: tried with it.
			f.Retry = now.Add(retryDelay(f.Attempts))
		}
	}
}

// Failures returns the objects rejected at their last attempt, sorted.
func (p *Isolator) Failures() []ObjectFailure {
	out := make([]ObjectFailure, 0, len(p.failed))
	for _, f := range p.failed {
		out = append(out, *f)
	}
	slices.SortFunc(out, func(a, b ObjectFailure) int {
		return cmp.Or(cmp.Compare(a.ID.Kind, b.ID.Kind), cmp.Compare(a.ID.Name, b.ID.Name), cmp.Compare(a.ID.Key, b.ID.Key))
	})
	return out
}

// Held returns the objects of the last wanted ruleset that the kernel
// does not hold as wanted: the failed ones and those held with them.
func (p *Isolator) Held() map[ObjectID]bool { return maps.Clone(p.held) }

// RetryIn is how long until the earliest failed object is due (0: now);
// ok is false when nothing failed.
func (p *Isolator) RetryIn() (time.Duration, bool) {
	var next time.Time
	for _, f := range p.failed {
		if next.IsZero() || f.Retry.Before(next) {
			next = f.Retry
		}
	}
	if next.IsZero() {
		return 0, false
	}
	return max(next.Sub(p.now()), 0), true
}

// versionOf identifies the version of an object in rs: its pointer, a
// map's existence, an element's verdict (nil when it has none).
func versionOf(rs *Ruleset, id ObjectID) any {
	switch id.Kind {
	case ObjChain:
		if c := rs.Chains[id.Name]; c != nil {
			return c
		}
	case ObjSet:
		if s := rs.Sets[id.Name]; s != nil {
			return s
		}
	case ObjMap:
		return rs.Maps[id.Name] != nil
	case ObjMapElement:
		if m := rs.Maps[id.Name]; m != nil {
			if v, ok := m.Elements[id.Key]; ok {
				return v
			}
		}
	}
	return nil
}

func sameVersion(a, b any) bool { return a == b }
