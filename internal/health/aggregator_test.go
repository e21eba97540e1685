package health

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// manualClock is a clock the test moves by hand.
type manualClock struct{ t time.Time }

func (c *manualClock) now() time.Time          { return c.t }
func (c *manualClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newTestAggregator() (*Aggregator, *manualClock) {
	c := &manualClock{t: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
	a := NewAggregator()
	a.now = c.now
	return a, c
}

// state is the part of a Summary the table compares.
type state struct {
	Live, Ready, Degraded bool
	Details               map[string]string
}

func stateOf(s Summary) state {
	st := state{Live: s.Live, Ready: s.Ready, Degraded: s.Degraded, Details: map[string]string{}}
	for _, c := range s.Components {
		st.Details[c.Name] = c.Detail
	}
	return st
}

func TestAggregator(t *testing.T) {
	type step struct {
		name    string
		do      func(a *Aggregator, c *manualClock)
		want    state
		wantOut []ComponentStatus // checked when set
	}
	t0 := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	steps := []step{
		{
			name: "nothing registered: live and ready",
			do:   func(*Aggregator, *manualClock) {},
			want: state{Live: true, Ready: true, Details: map[string]string{}},
		},
		{
			name: "registered, no report yet: neither",
			do: func(a *Aggregator, _ *manualClock) {
				a.Register("syncer", false, true, 0)
				a.Register("dataplane", true, true, 10*time.Second)
			},
			want: state{Details: map[string]string{"syncer": "no report yet", "dataplane": "no report yet"}},
		},
		{
			name: "dataplane live, not ready; syncer silent",
			do:   func(a *Aggregator, _ *manualClock) { a.Report("dataplane", true, false, "applying") },
			want: state{Live: true, Details: map[string]string{"syncer": "no report yet", "dataplane": "applying"}},
		},
		{
			name: "all reported ok",
			do: func(a *Aggregator, _ *manualClock) {
				a.Report("syncer", false, true, "")
				a.Report("dataplane", true, true, "")
			},
			want: state{Live: true, Ready: true, Details: map[string]string{"syncer": "", "dataplane": ""}},
			wantOut: []ComponentStatus{
				{Name: "dataplane", ReportsLive: true, ReportsReady: true, Live: true, Ready: true, LastReport: t0, Timeout: "10s"},
				{Name: "syncer", ReportsReady: true, Ready: true, LastReport: t0},
			},
		},
		{
			name: "exactly at the timeout: still valid",
			do:   func(_ *Aggregator, c *manualClock) { c.advance(10 * time.Second) },
			want: state{Live: true, Ready: true, Details: map[string]string{"syncer": "", "dataplane": ""}},
		},
		{
			name: "past the timeout: dataplane neither live nor ready; syncer has no timeout",
			do:   func(_ *Aggregator, c *manualClock) { c.advance(time.Millisecond) },
			want: state{Details: map[string]string{"syncer": "", "dataplane": "no report for 10.001s (timeout 10s)"}},
		},
		{
			name: "a fresh report revives it",
			do:   func(a *Aggregator, _ *manualClock) { a.Report("dataplane", true, true, "") },
			want: state{Live: true, Ready: true, Details: map[string]string{"syncer": "", "dataplane": ""}},
		},
		{
			name: "degraded: still live and ready",
			do: func(a *Aggregator, _ *manualClock) {
				a.ReportState("dataplane", State{Live: true, Ready: true, Degraded: true, Detail: "route 10.0.0.1/32 failed"})
			},
			want: state{Live: true, Ready: true, Degraded: true, Details: map[string]string{"syncer": "", "dataplane": "route 10.0.0.1/32 failed"}},
		},
		{
			name: "a degraded report that timed out counts as failed, not degraded",
			do:   func(_ *Aggregator, c *manualClock) { c.advance(11 * time.Second) },
			want: state{Details: map[string]string{"syncer": "", "dataplane": "no report for 11s (timeout 10s); last: route 10.0.0.1/32 failed"}},
		},
		{
			name: "timed out again, the last detail is kept",
			do: func(a *Aggregator, c *manualClock) {
				a.Report("dataplane", true, true, "3 routes pending")
				c.advance(11 * time.Second)
			},
			want: state{Details: map[string]string{"syncer": "", "dataplane": "no report for 11s (timeout 10s); last: 3 routes pending"}},
		},
		{
			name: "a component that reports neither does not count",
			do: func(a *Aggregator, _ *manualClock) {
				a.Register("dataplane", false, false, 10*time.Second)
				a.Register("bgp", false, false, 0)
			},
			want: state{Live: true, Ready: true, Details: map[string]string{
				"syncer": "", "bgp": "no report yet", "dataplane": "no report for 11s (timeout 10s); last: 3 routes pending"}},
		},
		{
			name: "reports for unknown names are ignored",
			do:   func(a *Aggregator, _ *manualClock) { a.Report("ghost", false, false, "boo") },
			want: state{Live: true, Ready: true, Details: map[string]string{
				"syncer": "", "bgp": "no report yet", "dataplane": "no report for 11s (timeout 10s); last: 3 routes pending"}},
		},
		{
			name: "liveness fails alone",
			do: func(a *Aggregator, _ *manualClock) {
				a.Register("watchdog", true, false, 0)
				a.Report("watchdog", false, true, "stuck")
			},
			want: state{Live: false, Ready: true, Details: map[string]string{
				"syncer": "", "bgp": "no report yet", "watchdog": "stuck",
				"dataplane": "no report for 11s (timeout 10s); last: 3 routes pending"}},
		},
	}
	a, c := newTestAggregator()
	for _, s := range steps {
		s.do(a, c)
		sum := a.Summary()
		if d := cmp.Diff(s.want, stateOf(sum)); d != "" {
			t.Errorf("%s (-want +got):\n%s", s.name, d)
		}
		if s.wantOut != nil {
			if d := cmp.Diff(s.wantOut, sum.Components); d != "" {
				t.Errorf("%s: components (-want +got):\n%s", s.name, d)
			}
		}
	}
}
