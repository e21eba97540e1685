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
	live, ready, degraded     bool
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

// State is one report of a component.
type State struct {
	Live, Ready bool
	// Degraded: the component does its job, but not for everything
	// (some objects failed, a dependency is unreachable and it carries
	// on with what it has). Detail names what.
	Degraded bool
	// Detail says why the component is not live, ready, or is degraded
	// (or anything worth showing).
	Detail string
}

// Report records a component's state; detail says why it is not live or
// ready (or anything worth showing). Reports for a name that was never
// registered are ignored.
func (a *Aggregator) Report(name string, live, ready bool, detail string) {
	a.ReportState(name, State{Live: live, Ready: ready, Detail: detail})
}

// ReportState records a component's state. Reports for a name that was
// never registered are ignored.
func (a *Aggregator) ReportState(name string, st State) {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.comps[name]
	if c == nil {
		return
	}
	c.reported, c.at = true, a.now()
	c.live, c.ready, c.degraded, c.detail = st.Live, st.Ready, st.Degraded, st.Detail
}

// ComponentStatus is one component's effective state.
type ComponentStatus struct {
	Name         string `json:"name"`
	ReportsLive  bool   `json:"reportsLive"`
	ReportsReady bool   `json:"reportsReady"`
	// Live and Ready are the latest report's values, false when that
	// report is missing or has timed out.
	Live  bool `json:"live"`
	Ready bool `json:"ready"`
	// Degraded is the latest report's value while it is valid.
	Degraded bool   `json:"degraded,omitempty"`
	Detail   string `json:"detail,omitempty"`
	// LastReport is when the component last reported (zero: never).
	LastReport time.Time `json:"lastReport,omitzero"`
	// Timeout is how long a report stays valid ("" for forever).
	Timeout string `json:"timeout,omitempty"`
}

// Summary is the aggregate state: Live (Ready) is true when every
// component that reports liveness (readiness) is live (ready); Degraded
// when any component's valid report says it is degraded.
type Summary struct {
	Live       bool
	Ready      bool
	Degraded   bool
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
			Degraded:     c.degraded,
			Detail:       c.detail,
			LastReport:   c.at,
		}
		if c.timeout > 0 {
			cs.Timeout = c.timeout.String()
		}
		switch {
		case !c.reported:
			cs.Live, cs.Ready, cs.Degraded, cs.Detail = false, false, false, "no report yet"
		case c.timeout > 0 && now.Sub(c.at) > c.timeout:
			cs.Live, cs.Ready, cs.Degraded = false, false, false
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
		if cs.Degraded {
			s.Degraded = true
		}
		s.Components = append(s.Components, cs)
	}
	slices.SortFunc(s.Components, func(x, y ComponentStatus) int { return cmp.Compare(x.Name, y.Name) })
	return s
}
