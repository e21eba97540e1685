package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/gocalico/calico/internal/agent/calc"
	"github.com/gocalico/calico/internal/agent/config"
	"github.com/gocalico/calico/internal/agent/dataplane"
	"github.com/gocalico/calico/internal/agent/nft"
	"github.com/gocalico/calico/internal/agent/policy"
	"github.com/gocalico/calico/internal/datastore/syncer"
)

// Retry delays after an apply that failed as a whole (a failed object is
// retried alone, on its own back-off: see dataplane.MinRetry).
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
	pol policyPlane // nil: routes only
	// papply applies the policy table through pol (nil with pol).
	papply *policyApplier
	m      *metrics
	now    func() time.Time

	// Guarded by mu: written by the syncer's callbacks, read by loop.
	mu     sync.Mutex
	calc   *calc.Calc
	pcalc  *policy.Calc
	inSync bool
	dirty  bool
	// polDirty: the policy ruleset may have changed since last taken.
	polDirty bool
	// polArrived: when the first policy update not yet taken arrived.
	polArrived time.Time
	arrived    map[string]time.Time // endpoint key -> first unapplied update
	wake       chan struct{}
	// revs: the datastore revisions behind the desired state (applied.go).
	revs *appliedRevisions

	// onIteration, when set (tests), is called at the end of every
	// pass of the loop with whether it applied anything.
	onIteration func(applied bool)
}

func newAgent(cfg Config, dp dataplane.Dataplane, pol policyPlane, m *metrics) *agent {
	if m == nil {
		m = newMetrics(nil)
	}
	var papply *policyApplier
	if pol != nil {
		papply = newPolicyApplier(pol, m)
	}
	return &agent{
		papply:   papply,
		cfg:      cfg,
		log:      logger(cfg.Log),
		dp:       dp,
		pol:      pol,
		m:        m,
		now:      time.Now,
		calc:     calc.New(cfg.NodeName),
		pcalc:    policy.NewCalc(cfg.NodeName, nil),
		dirty:    true, // the first apply needs a state even if nothing arrived
		polDirty: true,
		arrived:  map[string]time.Time{},
		wake:     make(chan struct{}, 1),
		revs:     newAppliedRevisions(prefixes(cfg.NodeName), m.appliedRev),
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
	a.mu.Lock()
	a.revs.noteStatus(st)
	first := st == syncer.StatusInSync && !a.inSync
	if first {
		a.inSync = true
	}
	a.mu.Unlock()
	if first {
		a.log.Info("in sync with the datastore")
	}
	if st == syncer.StatusInSync {
		// The first in-sync, or the end of a re-list: what was
		// delivered meanwhile may now count as applied.
		a.signal()
	}
}

// setHostAddrs hands the host's interface addresses to the policy
// calculation (host endpoints matched by expectedIPs).
func (a *agent) setHostAddrs(m map[string][]netip.Addr) {
	a.mu.Lock()
	changed := a.pcalc.SetHostAddrs(m)
	if changed {
		a.polDirty = true
	}
	a.mu.Unlock()
	if changed {
		a.log.Info("host addresses changed", "interfaces", len(m))
		a.signal()
	}
}

// OnUpdates implements syncer.Callbacks.
func (a *agent) OnUpdates(updates []syncer.Update) {
	now := a.now()
	a.mu.Lock()
	res := a.calc.OnUpdates(updates)
	revAdvanced := a.revs.note(updates)
	for _, k := range res.Endpoints {
		if _, ok := a.arrived[k]; !ok {
			a.arrived[k] = now
		}
	}
	if res.Changed {
		a.dirty = true
	}
	polChanged := false
	if a.pol != nil {
		polChanged = a.pcalc.OnUpdates(updates)
		cfg := a.calc.Config()
		// A configuration change alone (no policy update) re-renders too.
		if a.pcalc.SetConfig(policy.ConfigFrom(&cfg)) {
			polChanged = true
		}
		if polChanged {
			if a.polArrived.IsZero() {
				a.polArrived = now
			}
			a.polDirty = true
		}
	}
	a.mu.Unlock()
	if res.Changed || polChanged || revAdvanced {
		a.signal()
	}
}

// snapshot is what changed in the desired state since the last call.
type snapshot struct {
	// full is the whole route state (first call, configuration
	// changed); otherwise changes are the changed endpoints.
	full    *calc.HostState
	changes []calc.EndpointChange
	// ruleset is the policy table when it may have changed, else nil.
	ruleset *nft.Ruleset
	// problems are the policy calculation's problems with ruleset.
	problems map[string]string
	// polArrived is when the first update behind ruleset arrived.
	polArrived time.Time
	inSync     bool
	// arrived are the arrival times of endpoint updates not yet applied.
	arrived map[string]time.Time
}

// snapshot takes what changed since the last call.
func (a *agent) snapshot() snapshot {
	a.mu.Lock()
	defer a.mu.Unlock()
	var s snapshot
	if !a.inSync {
		return s
	}
	s.inSync = true
	a.revs.take()
	if a.dirty {
		s.full, s.changes = a.calc.Take()
		a.dirty = false
	}
	if a.pol != nil && a.polDirty {
		s.ruleset, s.polArrived = a.pcalc.Ruleset(), a.polArrived
		a.polArrived = time.Time{}
		s.problems = make(map[string]string, len(a.pcalc.Problems))
		for k, v := range a.pcalc.Problems {
			s.problems[k] = v
		}
		a.polDirty = false
	}
	if len(a.arrived) > 0 {
		s.arrived = a.arrived
		a.arrived = map[string]time.Time{}
	}
	return s
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
		// ruleset is the policy table to program; rulesetDone says it is
		// in the kernel.
		ruleset     *nft.Ruleset
		rulesetDone bool
		// polSince: the earliest arrival behind the rulesets not yet
		// applied (zero when none, or only a resync is due).
		polSince    time.Time
		polProblems = map[string]string{}
		failures    = newFailureReport(a.log, a.m)
		// ifaces: each local endpoint's interface; statusesStale: a
		// policy failure came to concern other endpoints.
		ifaces        = endpointIfaces{}
		statusesStale bool
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
			if a.pol != nil {
				a.pol.Resync()
				rulesetDone = false
			}
		case <-retry.C:
		}
		snap := a.snapshot()
		hs, changes, arrived := snap.full, snap.changes, snap.arrived
		if !snap.inSync {
			a.iterated(false)
			continue
		}
		if snap.ruleset != nil {
			ruleset, rulesetDone = snap.ruleset, false
			if !snap.polArrived.IsZero() && (polSince.IsZero() || snap.polArrived.Before(polSince)) {
				polSince = snap.polArrived
			}
			a.logPolicyProblems(polProblems, snap.problems)
		}
		for k, t := range arrived {
			if cur, ok := pending[k]; !ok || t.Before(cur) {
				pending[k] = t
			}
		}
		ifaces.update(hs, changes)
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
		if ruleset != nil && (!rulesetDone || a.papply.due()) {
			if changed, perr := a.papply.apply(ctx, ruleset); perr != nil {
				err = errors.Join(err, fmt.Errorf("nftables: %w", perr))
			} else {
				rulesetDone = true
				statusesStale = statusesStale || changed
				if !polSince.IsZero() {
					a.m.polLatency.Observe(a.now().Sub(polSince).Seconds())
					polSince = time.Time{}
				}
			}
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
			// Objects that failed alone are retried alone, each when
			// its back-off has passed.
			failures.update(a.objectFailures())
			a.armRetry(retry)
			for k, t := range pending {
				if failures.endpointFailed(k) {
					continue // observed once programmed
				}
				a.m.latency.Observe(now.Sub(t).Seconds())
				delete(pending, k)
			}
			a.setHealth(&health, failures.health())
			a.revs.applied()
		}

		// Statuses are copied only when one of them changed.
		if v := a.dp.StatusVersion(); !published || v != version || statusesStale {
			version, published, statusesStale = v, true, false
			st := a.dp.EndpointStatuses()
			if a.papply != nil {
				ifaces.markPolicyErrors(st, a.papply.affected)
			}
			a.m.setEndpoints(a.dp.Programmed(), st)
			if a.cfg.OnEndpointStatus != nil {
				a.cfg.OnEndpointStatus(st)
			}
		}
		a.iterated(true)
	}
}

// objectFailures are the objects that failed at their last attempt.
func (a *agent) objectFailures() []objectFailure {
	fs := fromDataplane(a.dp.Failures())
	if a.papply != nil {
		fs = append(fs, a.papply.failures()...)
	}
	return fs
}

// armRetry sets the retry timer for the earliest failed object's retry,
// or stops it when nothing failed.
func (a *agent) armRetry(retry *time.Timer) {
	in, ok := a.dp.RetryIn()
	if a.papply != nil {
		if pin, pok := a.papply.retryIn(); pok && (!ok || pin < in) {
			in, ok = pin, true
		}
	}
	if !ok {
		retry.Stop()
		return
	}
	retry.Reset(in)
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

// logPolicyProblems logs the policy calculation's problems (policies
// that fail closed, interface clashes) when they change.
func (a *agent) logPolicyProblems(seen, now map[string]string) {
	for k, p := range now {
		if seen[k] != p {
			a.log.Warn("policy problem; the affected rules fail closed", "resource", k, "problem", p)
			seen[k] = p
		}
	}
	for k := range seen {
		if _, ok := now[k]; !ok {
			a.log.Info("policy problem resolved", "resource", k)
			delete(seen, k)
		}
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
