// Package health aggregates the liveness and readiness of a daemon's
// components and serves them, with Prometheus metrics, over HTTP on
// loopback by default.
package health

import (
	"cmp"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Aggregator collects health reports from named components. A component
// counts as live (ready) when it reported live (ready) in its latest
// report and that report is younger than its timeout; one that has not
// reported yet counts as neither. The zero value is not usable: call
// NewAggregator. Safe for concurrent use.
type Aggregator struct {
	mu    sync.Mutex
	now   func() time.Time // time.Now; tests replace it
	comps map[string]*component
}

type component struct {
	reportsLive, reportsReady bool
	timeout                   time.Duration
	reported                  bool
	at                        time.Time
	live, ready               bool
	detail                    string
}

// NewAggregator returns an Aggregator with no components: live and ready.
func NewAggregator() *Aggregator {
	return &Aggregator{now: time.Now, comps: make(map[string]*component)}
}

// Register declares a component: whether its reports count for liveness
// and for readiness, and how long a report stays valid (0: forever).
// Registering a name again changes these and keeps its last report.
func (a *Aggregator) Register(name string, reportsLive, reportsReady bool, timeout time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.comps[name]
	if c == nil {
		c = &component{}
		a.comps[name] = c
	}
	c.reportsLive, c.reportsReady, c.timeout = reportsLive, reportsReady, max(timeout, 0)
}

// Report records a component's state; detail says why it is not live or
// ready (or anything worth showing). Reports for a name that was never
// registered are ignored.
func (a *Aggregator) Report(name string, live, ready bool, detail string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.comps[name]
	if c == nil {
		return
	}
	c.reported, c.at = true, a.now()
	c.live, c.ready, c.detail = live, ready, detail
}

// ComponentStatus is one component's effective state.
type ComponentStatus struct {
	Name         string `json:"name"`
	ReportsLive  bool   `json:"reportsLive"`
	ReportsReady bool   `json:"reportsReady"`
	// Live and Ready are the latest report's values, false when that
	// report is missing or has timed out.
	Live   bool   `json:"live"`
	Ready  bool   `json:"ready"`
	Detail string `json:"detail,omitempty"`
	// LastReport is when the component last reported (zero: never).
	LastReport time.Time `json:"lastReport,omitzero"`
	// Timeout is how long a report stays valid ("" for forever).
	Timeout string `json:"timeout,omitempty"`
}

// Summary is the aggregate state: Live (Ready) is true when every
// component that reports liveness (readiness) is live (ready).
type Summary struct {
	Live       bool
	Ready      bool
	Components []ComponentStatus // sorted by name
}

// Summary evaluates every component now.
func (a *Aggregator) Summary() Summary {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	s := Summary{Live: true, Ready: true}
	for name, c := range a.comps {
		cs := ComponentStatus{
			Name:         name,
			ReportsLive:  c.reportsLive,
			ReportsReady: c.reportsReady,
			Live:         c.live,
			Ready:        c.ready,
			Detail:       c.detail,
			LastReport:   c.at,
		}
		if c.timeout > 0 {
			cs.Timeout = c.timeout.String()
		}
		switch {
		case !c.reported:
			cs.Live, cs.Ready, cs.Detail = false, false, "no report yet"
		case c.timeout > 0 && now.Sub(c.at) > c.timeout:
			cs.Live, cs.Ready = false, false
			cs.Detail = fmt.Sprintf("no report for %s (timeout %s)", now.Sub(c.at).Round(time.Millisecond), c.timeout)
			if c.detail != "" {
				cs.Detail += "; last: " + c.detail
			}
		}
		if c.reportsLive && !cs.Live {
			s.Live = false
		}
		if c.reportsReady && !cs.Ready {
			s.Ready = false
		}
		s.Components = append(s.Components, cs)
	}
	slices.SortFunc(s.Components, func(x, y ComponentStatus) int { return cmp.Compare(x.Name, y.Name) })
	return s
}
