package syncer

import (
	"context"
	"math/rand/v2"
	"time"
)

// Retry delays: capped exponential with jitter.
const (
	defaultBackoffMin = 100 * time.Millisecond
	defaultBackoffMax = 10 * time.Second
)

// backoff computes retry delays: the ceiling doubles from min up to max
// after each failure and each delay is drawn from [ceiling/2, ceiling), so
// that many hosts restarting together do not retry in lockstep.
type backoff struct {
	min, max time.Duration
	ceiling  time.Duration
	// rand returns a float in [0, 1); rand.Float64 when nil.
	rand func() float64
}

// next returns the delay before the next attempt and raises the ceiling.
func (b *backoff) next() time.Duration {
	if b.ceiling < b.min {
		b.ceiling = b.min
	}
	r := rand.Float64
	if b.rand != nil {
		r = b.rand
	}
	half := b.ceiling / 2
	d := half + time.Duration(r()*float64(b.ceiling-half))
	b.ceiling = min(b.ceiling*2, b.max)
	return d
}

// reset starts the sequence again from min after a success.
func (b *backoff) reset() { b.ceiling = 0 }

// sleep waits for d or until ctx ends; it reports whether the full delay
// elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
