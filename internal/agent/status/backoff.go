package status

import "time"

// Retry delays after a failed datastore request: capped exponential.
const (
	backoffMin = 100 * time.Millisecond
	backoffMax = time.Minute
)

// backoff is a capped exponential retry delay, 100 ms doubling to 1 min.
type backoff struct{ cur time.Duration }

// next returns the delay before the next attempt and doubles it.
func (b *backoff) next() time.Duration {
	if b.cur < backoffMin {
		b.cur = backoffMin
	}
	d := b.cur
	b.cur = min(2*b.cur, backoffMax)
	return d
}

// reset starts again from the minimum after a success.
func (b *backoff) reset() { b.cur = 0 }
