package agent

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/gocalico/calico/internal/agent/calc"
	"github.com/gocalico/calico/internal/agent/config"
	"github.com/gocalico/calico/internal/agent/dataplane"
	"github.com/gocalico/calico/internal/datastore/syncer"
)

// Retry delays after a failed apply.
const (
	minRetry = 100 * time.Millisecond
	maxRetry = time.Minute
)

// agent joins the syncer (which calls OnStatusUpdated and OnUpdates from
// its goroutine) to the loop (which alone drives the dataplane).
type agent struct {
	cfg Config
	log *slog.Logger
	dp  dataplane.Dataplane
	m   *metrics
	now func() time.Time

	// Guarded by mu: written by the syncer's callbacks, read by loop.
	mu      sync.Mutex
	calc    *calc.Calc
	inSync  bool
	dirty   bool
	arrived map[string]time.Time // endpoint key -> first unapplied update
	wake    chan struct{}

	// onIteration, when set (tests), is called at the end of every
	// pass of the loop with whether it applied anything.
	onIteration func(applied bool)
}

func newAgent(cfg Config, dp dataplane.Dataplane, m *metrics) *agent {
	if m == nil {
		m = newMetrics(nil)
	}
	return &agent{
		cfg:     cfg,
		log:     logger(cfg.Log),
		dp:      dp,
		m:       m,
		now:     time.Now,
		calc:    calc.New(cfg.NodeName),
		dirty:   true, // the first apply needs a state even if nothing arrived
		arrived: map[string]time.Time{},
		wake:    make(chan struct{}, 1),
	}
}

func (a *agent) signal() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// OnStatusUpdated implements syncer.Callbacks. Only the first in-sync
// matters: after it the view stays complete through re-lists.
func (a *agent) OnStatusUpdated(st syncer.Status) {
	if st != syncer.StatusInSync {
		return
	}
	a.mu.Lock()
	first := !a.inSync
	a.inSync = true
	a.mu.Unlock()
	if first {
		a.log.Info("in sync with the datastore")
		a.signal()
	}
}

// OnUpdates implements syncer.Callbacks.
func (a *agent) OnUpdates(updates []syncer.Update) {
	now := a.now()
	a.mu.Lock()
	res := a.calc.OnUpdates(updates)
	for _, k := range res.Endpoints {
		if _, ok := a.arrived[k]; !ok {
			a.arrived[k] = now
		}
	}
	if res.Changed {
		a.dirty = true
	}
	a.mu.Unlock()
	if res.Changed {
		a.signal()
	}
}

// snapshot returns what changed in the desired state since the last
// call: the whole state (first call, configuration changed) or the
// changed endpoints; whether the agent is in sync; and the arrival times
// of the endpoint updates not yet applied.
func (a *agent) snapshot() (full *calc.HostState, changes []calc.EndpointChange, inSync bool, arrived map[string]time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.inSync {
		return nil, nil, false, nil
	}
	if a.dirty {
		full, changes = a.calc.Take()
		a.dirty = false
	}
	if len(a.arrived) > 0 {
		arrived = a.arrived
		a.arrived = map[string]time.Time{}
	}
	return full, changes, true, arrived
}

// requeue gives back arrival times not observed because the apply failed.
func (a *agent) requeue(arrived map[string]time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, t := range arrived {
		if cur, ok := a.arrived[k]; !ok || t.Before(cur) {
			a.arrived[k] = t
		}
	}
}

// loop owns the dataplane: it applies the desired state whenever it
// changes, the kernel changes, a resync is due or a retry is due, until
// ctx ends.
func (a *agent) loop(ctx context.Context) {
	var (
		cfg       *config.Config
		pending   = map[string]time.Time{}
		backoff   time.Duration
		retry     = time.NewTimer(time.Hour)
		resync    *time.Ticker
		resyncC   <-chan time.Time
		version   uint64
		health    = Health{Live: true, Detail: "waiting for the datastore"}
		problems  = map[string]string{}
		published bool
	)
	retry.Stop()
	defer func() {
		if resync != nil {
			resync.Stop()
		}
		a.setHealth(&health, Health{Detail: "stopped"})
	}()
	a.publishHealth(health)
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.wake:
		case <-a.dp.Changed():
		case <-resyncC:
			a.log.Debug("periodic dataplane resync")
			a.dp.Resync()
		case <-retry.C:
		}
		hs, changes, inSync, arrived := a.snapshot()
		if !inSync {
			a.iterated(false)
			continue
		}
		for k, t := range arrived {
			if cur, ok := pending[k]; !ok || t.Before(cur) {
				pending[k] = t
			}
		}
		if hs != nil {
			if cfg == nil || !cfg.Equal(&hs.Config) {
				c := hs.Config
				cfg = &c
				for _, p := range hs.ConfigProblems {
					a.log.Warn("configuration value ignored", "problem", p)
				}
				a.log.Info("effective configuration", "interfacePrefixes", strings.Join(c.InterfacePrefixes, ","),
					"routeRefreshInterval", c.RouteRefreshInterval, "routeProtocol", c.RouteProtocol, "ipv6", c.IPv6Support)
				if resync != nil {
					resync.Stop()
					resync, resyncC = nil, nil
				}
				if c.RouteRefreshInterval > 0 {
					resync = time.NewTicker(c.RouteRefreshInterval)
					resyncC = resync.C
				}
				if a.cfg.OnConfig != nil {
					a.cfg.OnConfig(c)
				}
			}
			a.logProblems(problems, hs)
		} else {
			a.logChangedProblems(problems, changes)
		}

		var err error
		if hs != nil {
			err = a.dp.Set(ctx, hs)
		} else {
			err = a.dp.Update(ctx, changes)
		}
		if ctx.Err() != nil {
			return
		}
		now := a.now()
		if err != nil {
			a.m.applyErrors.Inc()
			backoff = min(max(2*backoff, minRetry), maxRetry)
			retry.Reset(backoff)
			a.log.Warn("dataplane apply failed; retrying", "error", err, "retryIn", backoff)
			a.setHealth(&health, Health{Live: true, Detail: "dataplane errors: " + firstLine(err)})
		} else {
			if backoff > 0 {
				a.log.Info("dataplane apply succeeded after errors")
			}
			backoff = 0
			retry.Stop()
			for k, t := range pending {
				a.m.latency.Observe(now.Sub(t).Seconds())
				delete(pending, k)
			}
			a.setHealth(&health, Health{Live: true, Ready: true})
		}

		// Statuses are copied only when one of them changed.
		if v := a.dp.StatusVersion(); !published || v != version {
			version, published = v, true
			st := a.dp.EndpointStatuses()
			a.m.setEndpoints(a.dp.Programmed(), st)
			if a.cfg.OnEndpointStatus != nil {
				a.cfg.OnEndpointStatus(st)
			}
		}
		a.iterated(true)
	}
}

func (a *agent) iterated(applied bool) {
	if a.onIteration != nil {
		a.onIteration(applied)
	}
}

func (a *agent) setHealth(cur *Health, h Health) {
	if *cur != h {
		*cur = h
		a.publishHealth(h)
	}
}

func (a *agent) publishHealth(h Health) {
	if a.cfg.OnHealth != nil {
		a.cfg.OnHealth(h)
	}
}

// logProblems logs each endpoint's problems when they change.
func (a *agent) logProblems(seen map[string]string, hs *calc.HostState) {
	now := map[string]bool{}
	for _, e := range hs.Endpoints {
		now[e.Key] = true
		p := strings.Join(e.Problems, "; ")
		if seen[e.Key] == p {
			continue
		}
		if p == "" {
			a.log.Info("endpoint problems resolved", "endpoint", e.Key)
			delete(seen, e.Key)
			continue
		}
		a.log.Warn("endpoint has problems", "endpoint", e.Key, "interface", e.InterfaceName, "problems", p)
		seen[e.Key] = p
	}
	for k := range seen {
		if !now[k] {
			delete(seen, k)
		}
	}
}

// logChangedProblems is logProblems for the changed endpoints only.
func (a *agent) logChangedProblems(seen map[string]string, changes []calc.EndpointChange) {
	for _, ch := range changes {
		e := ch.Endpoint
		p := ""
		if e != nil {
			p = strings.Join(e.Problems, "; ")
		}
		if seen[ch.Key] == p {
			continue
		}
		if p == "" {
			if e != nil {
				a.log.Info("endpoint problems resolved", "endpoint", ch.Key)
			}
			delete(seen, ch.Key)
			continue
		}
		a.log.Warn("endpoint has problems", "endpoint", ch.Key, "interface", e.InterfaceName, "problems", p)
		seen[ch.Key] = p
	}
}

// firstLine shortens a joined error for a health detail.
func firstLine(err error) string {
	var j interface{ Unwrap() []error }
	if errors.As(err, &j) {
		if errs := j.Unwrap(); len(errs) > 0 {
			return firstLine(errs[0])
		}
	}
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}
