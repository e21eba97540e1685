package status

import (
	"testing"
	"time"
)

func TestTokenBucket(t *testing.T) {
	t0 := time.Unix(1000, 0)
	b := newTokenBucket(10, t0)

	// Full at start: one second's worth (10) passes at once.
	for i := range 10 {
		if !b.take(t0) {
			t.Fatalf("take %d of the burst refused", i)
		}
	}
	if b.take(t0) {
		t.Fatal("take beyond the burst allowed")
	}
	if got, want := b.wait(t0), 100*time.Millisecond; !near(got, want) {
		t.Errorf("wait = %v, want %v", got, want)
	}
	// Half a token later: still waiting, for the other half.
	if got, want := b.wait(t0.Add(50*time.Millisecond)), 50*time.Millisecond; !near(got, want) {
		t.Errorf("wait = %v, want %v", got, want)
	}
	t1 := t0.Add(100 * time.Millisecond)
	if b.wait(t1) != 0 || !b.take(t1) || b.take(t1) {
		t.Error("after 100ms exactly one more token should be available")
	}
	// A long idle period refills to the burst, not beyond.
	t2 := t1.Add(time.Hour)
	n := 0
	for b.take(t2) {
		n++
	}
	if n != 10 {
		t.Errorf("after idling, %d tokens, want the burst of 10", n)
	}
	// A clock step backwards neither adds tokens nor panics.
	if b.take(t0) {
		t.Error("token granted after the clock went backwards")
	}
}

// TestTokenBucketBound: over any schedule of attempts, writes never
// exceed burst + rate*elapsed.
func TestTokenBucketBound(t *testing.T) {
	const rate = 7.0
	t0 := time.Unix(0, 0)
	b := newTokenBucket(rate, t0)
	taken := 0
	for i := range 10000 {
		now := t0.Add(time.Duration(i) * 3 * time.Millisecond)
		if b.take(now) {
			taken++
		}
		limit := b.burst + rate*now.Sub(t0).Seconds()
		if float64(taken) > limit+1e-9 {
			t.Fatalf("at %v: %d writes, limit %.2f", now.Sub(t0), taken, limit)
		}
	}
	if taken < 200 {
		t.Errorf("only %d writes in 30s at rate 7/s: the bucket is too strict", taken)
	}
}

func TestTokenBucketSetRate(t *testing.T) {
	t0 := time.Unix(0, 0)
	b := newTokenBucket(100, t0)
	b.setRate(2, t0)
	if b.burst != 2 || b.tokens != 2 {
		t.Errorf("after lowering the rate: burst %v tokens %v, want 2 and 2", b.burst, b.tokens)
	}
	b.setRate(0.5, t0)
	if b.burst != 1 {
		t.Errorf("burst %v for rate 0.5, want at least 1", b.burst)
	}
}

// near compares durations computed in floating point.
func near(a, b time.Duration) bool { return (a - b).Abs() <= time.Microsecond }
