package syncer

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestBackoff(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name string
		rand float64
		want []time.Duration
	}{
		{
			name: "lowest jitter",
			rand: 0,
			want: []time.Duration{50 * ms, 100 * ms, 200 * ms, 400 * ms, 800 * ms, 1600 * ms, 3200 * ms, 5 * time.Second, 5 * time.Second},
		},
		{
			name: "middle jitter",
			rand: 0.5,
			want: []time.Duration{75 * ms, 150 * ms, 300 * ms, 600 * ms, 1200 * ms, 2400 * ms, 4800 * ms, 7500 * ms, 7500 * ms},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := backoff{min: defaultBackoffMin, max: defaultBackoffMax, rand: func() float64 { return tt.rand }}
			var got []time.Duration
			for range tt.want {
				got = append(got, b.next())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("delays (-want +got):\n%s", diff)
			}
			b.reset()
			if got := b.next(); got != tt.want[0] {
				t.Errorf("delay after reset = %v, want %v", got, tt.want[0])
			}
		})
	}
}

func TestBackoffStaysInRange(t *testing.T) {
	b := backoff{min: defaultBackoffMin, max: defaultBackoffMax}
	for i := range 50 {
		d := b.next()
		if d < defaultBackoffMin/2 || d >= defaultBackoffMax {
			t.Fatalf("delay %d = %v, want in [%v, %v)", i, d, defaultBackoffMin/2, defaultBackoffMax)
		}
	}
}
