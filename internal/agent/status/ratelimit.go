package status

import (
	"math"
	"time"
)

// tokenBucket limits endpoint status writes: it holds up to burst tokens,
// gains rate tokens a second and every write spends one. Over any span T
// at most burst + rate*T writes pass. Time is passed in, so tests drive it
// without sleeping.
type tokenBucket struct {
	rate   float64 // tokens per second, > 0
	burst  float64 // capacity, >= 1
	tokens float64
	last   time.Time
}

// newTokenBucket returns a full bucket for rate writes a second, with room
// for one second's worth of writes (at least one).
func newTokenBucket(rate float64, now time.Time) *tokenBucket {
	b := &tokenBucket{last: now}
	b.setRate(rate, now)
	b.tokens = b.burst
	return b
}

// setRate changes the rate (and the burst with it), keeping the tokens
// already earned up to the new capacity.
func (b *tokenBucket) setRate(rate float64, now time.Time) {
	b.refill(now)
	b.rate = rate
	b.burst = max(1, math.Ceil(rate))
	b.tokens = min(b.tokens, b.burst)
}

func (b *tokenBucket) refill(now time.Time) {
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = min(b.burst, b.tokens+el*b.rate)
	}
	// A clock step backwards just restarts the accounting from now.
	b.last = now
}

// epsilon absorbs float rounding in the refill arithmetic, so that a
// token due at a time is available at that time.
const epsilon = 1e-9

// wait returns how long until a token is available, 0 when one is now.
func (b *tokenBucket) wait(now time.Time) time.Duration {
	b.refill(now)
	if b.tokens >= 1-epsilon {
		return 0
	}
	d := time.Duration(math.Ceil((1 - b.tokens) / b.rate * float64(time.Second)))
	return max(d, time.Microsecond)
}

// take spends a token; it reports false (spending nothing) when none is
// available.
func (b *tokenBucket) take(now time.Time) bool {
	b.refill(now)
	if b.tokens < 1-epsilon {
		return false
	}
	b.tokens = max(0, b.tokens-1)
	return true
}
