package status

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gocalico/calico/internal/datastore"
)

// Defaults for Config fields left zero.
const (
	// DefaultMaxWritesPerSecond bounds endpoint status writes.
	DefaultMaxWritesPerSecond = 100
	// DefaultEndpointResyncInterval is how often the host's endpoint status
	// keys are listed again to repair changes made behind our back
	// (upstream: 180 x the 1 s reporting delay).
	DefaultEndpointResyncInterval = 3 * time.Minute
	// stopTimeout bounds the clean-up done when Run stops.
	stopTimeout = 5 * time.Second
)

// Config configures a Reporter.
type Config struct {
	// Backend is the datastore.
	Backend datastore.Backend
	// Host is this host's node name (not escaped in keys; must not
	// contain "/").
	Host string
	// Region is the OpenStack region name (FelixConfiguration
	// openstackRegion); "" means no region. See RegionSegment.
	Region string
	// ReportingInterval is how often the status report is written; 0
	// turns status reporting off.
	ReportingInterval time.Duration
	// ReportingTTL is the lease of the status key; 0 means three
	// reporting intervals (upstream defaults: 30 s interval, 90 s TTL).
	// etcd counts leases in whole seconds and rounds up.
	ReportingTTL time.Duration
	// EndpointReporting turns per-endpoint status reporting on.
	EndpointReporting bool
	// MaxWritesPerSecond bounds endpoint status writes and deletes
	// (token bucket, burst of one second's worth); <= 0 means
	// DefaultMaxWritesPerSecond.
	MaxWritesPerSecond float64
	// EndpointResyncInterval is how often the endpoint status keys are
	// listed again; <= 0 means DefaultEndpointResyncInterval.
	EndpointResyncInterval time.Duration
	// KeepEndpointsOnStop leaves the endpoint status keys in place when
	// Run stops, as upstream Felix does, instead of deleting them. See the
	// package doc for the trade-off.
	KeepEndpointsOnStop bool
	// Log receives the reporter's logs; nil discards them.
	Log *slog.Logger
	// Clock gives the time written in status reports and measures the
	// uptime; nil means time.Now. Scheduling always uses the real clock.
	Clock func() time.Time
}

// settings are the parts of Config that Reconfigure may change.
type settings struct {
	interval, ttl time.Duration
	endpoints     bool
	rate          float64
	resync        time.Duration
}

func settingsOf(c Config) settings {
	s := settings{
		interval:  max(c.ReportingInterval, 0),
		ttl:       c.ReportingTTL,
		endpoints: c.EndpointReporting,
		rate:      c.MaxWritesPerSecond,
		resync:    c.EndpointResyncInterval,
	}
	if s.ttl <= 0 {
		s.ttl = 3 * s.interval
	}
	if s.rate <= 0 {
		s.rate = DefaultMaxWritesPerSecond
	}
	if s.resync <= 0 {
		s.resync = DefaultEndpointResyncInterval
	}
	return s
}

// Reporter writes this host's status keys. Create it with New, run it
// with Run; SetEndpoints and Reconfigure may be called from any goroutine
// at any time, before or during Run.
type Reporter struct {
	be        datastore.Backend
	host      string
	region    string
	log       *slog.Logger
	clock     func() time.Time
	now       func() time.Time // scheduling
	statusKey string
	lastKey   string
	epPrefix  string
	keepEPs   bool
	started   atomic.Bool

	// Inputs, handed to the Run goroutine.
	mu          sync.Mutex
	inEndpoints map[string]string
	inEpsSet    bool
	inSettings  *settings
	warned      map[string]bool // invalid endpoints already logged
	wake        chan struct{}

	// Owned by the Run goroutine.
	set           settings
	start         time.Time
	lease         int64
	leaseTTL      time.Duration // TTL the lease was granted with
	reported      bool          // a status report has been written
	statusNext    time.Time
	statusBackoff backoff
	revokePending bool
	eps           endpointSet
	limiter       *tokenBucket
	epBackoff     backoff
	epRetryAt     time.Time
	resyncNext    time.Time
	needCleanup   bool
}

// New returns a Reporter for cfg. Configuration errors (no backend, a bad
// host name) are returned by Run.
func New(cfg Config) *Reporter {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	clock := cfg.Clock
	if clock == nil {
		clock = time.Now
	}
	return &Reporter{
		be:        cfg.Backend,
		host:      cfg.Host,
		region:    cfg.Region,
		log:       log.With("component", "status-reporter"),
		clock:     clock,
		now:       time.Now,
		statusKey: StatusKey(cfg.Region, cfg.Host),
		lastKey:   LastReportedStatusKey(cfg.Region, cfg.Host),
		epPrefix:  EndpointPrefix(cfg.Region, cfg.Host),
		keepEPs:   cfg.KeepEndpointsOnStop,
		set:       settingsOf(cfg),
		wake:      make(chan struct{}, 1),
	}
}

// SetEndpoints gives the full current set of local endpoint statuses,
// replacing the previous one; endpoints left out are deleted from etcd.
// The first call tells the reporter that the agent is in sync: only then
// are statuses written and stale keys cleaned up. Invalid entries (empty
// IDs, unknown status) are logged once and skipped. It never blocks on
// the datastore.
func (r *Reporter) SetEndpoints(eps []EndpointStatus) {
	want, errs := desiredStatuses(r.region, r.host, eps)
	r.mu.Lock()
	r.inEndpoints, r.inEpsSet = want, true
	warned := make(map[string]bool, len(errs))
	for _, err := range errs {
		msg := err.Error()
		if !r.warned[msg] {
			r.log.Warn("endpoint status skipped", "err", err)
		}
		warned[msg] = true
	}
	r.warned = warned
	r.mu.Unlock()
	r.poke()
}

// Reconfigure applies the changeable fields of cfg: ReportingInterval,
// ReportingTTL, EndpointReporting, MaxWritesPerSecond and
// EndpointResyncInterval. Backend, Host, Region, Log and Clock are fixed
// at New and ignored here. A new TTL moves the status key to a new lease;
// turning endpoint reporting off deletes the host's endpoint status keys;
// turning status reporting off revokes the lease.
func (r *Reporter) Reconfigure(cfg Config) {
	s := settingsOf(cfg)
	r.mu.Lock()
	r.inSettings = &s
	r.mu.Unlock()
	r.poke()
}

func (r *Reporter) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run reports until ctx ends, then cleans up (see the package doc) and
// returns. It returns an error for an invalid configuration, if called
// twice, or when the clean-up on stop failed; datastore errors while
// running are logged and retried with backoff.
func (r *Reporter) Run(ctx context.Context) error {
	if r.be == nil {
		return errors.New("status reporter: no datastore backend")
	}
	if err := checkHostRegion(r.host, r.region); err != nil {
		return fmt.Errorf("status reporter: %w", err)
	}
	if !r.started.CompareAndSwap(false, true) {
		return errors.New("status reporter: Run called twice")
	}
	r.start = r.clock()
	now := r.now()
	r.statusNext = now
	r.limiter = newTokenBucket(r.set.rate, now)
	r.needCleanup = !r.set.endpoints
	r.log.Info("status reporter starting", "host", r.host, "region", RegionSegment(r.region),
		"interval", r.set.interval, "ttl", r.set.ttl, "endpointReporting", r.set.endpoints)
	r.warnTTL()

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for ctx.Err() == nil {
		r.applyInputs(r.now())
		d := r.step(ctx, r.now())
		if d == 0 {
			continue
		}
		timer.Reset(d)
		select {
		case <-ctx.Done():
		case <-r.wake:
		case <-timer.C:
		}
	}
	return r.shutdown(ctx)
}

// applyInputs takes the latest endpoint set and settings.
func (r *Reporter) applyInputs(now time.Time) {
	r.mu.Lock()
	want, wantSet := r.inEndpoints, r.inEpsSet
	ns := r.inSettings
	r.inEndpoints, r.inEpsSet, r.inSettings = nil, false, nil
	r.mu.Unlock()
	if ns != nil {
		r.applySettings(*ns, now)
	}
	if wantSet {
		r.eps.setDesired(want)
	}
}

func (r *Reporter) applySettings(ns settings, now time.Time) {
	old := r.set
	r.set = ns
	if ns == old {
		return
	}
	r.log.Info("status reporter reconfigured", "interval", ns.interval, "ttl", ns.ttl,
		"endpointReporting", ns.endpoints, "maxWritesPerSecond", ns.rate)
	r.warnTTL()
	switch {
	case ns.interval == 0 && old.interval > 0:
		r.revokePending = true
	case ns.interval != old.interval || ns.ttl != old.ttl:
		r.statusNext = now // report at once with the new settings
	}
	if ns.endpoints != old.endpoints {
		r.eps.forget()
		r.needCleanup = !ns.endpoints
		r.epRetryAt = time.Time{}
		r.epBackoff.reset()
	}
	if ns.resync != old.resync {
		r.resyncNext = now.Add(ns.resync)
	}
	if ns.rate != old.rate {
		r.limiter.setRate(ns.rate, now)
	}
}

// warnTTL flags a TTL that lets the status key expire between reports.
func (r *Reporter) warnTTL() {
	if r.set.interval > 0 && r.set.ttl <= r.set.interval {
		r.log.Warn("status TTL is not longer than the reporting interval: the status key will lapse between reports",
			"interval", r.set.interval, "ttl", r.set.ttl)
	}
}

// forever stands for "nothing scheduled".
const forever = time.Hour

// step does at most one piece of due work and returns 0, or returns how
// long until work is next due.
func (r *Reporter) step(ctx context.Context, now time.Time) time.Duration {
	if r.revokePending {
		r.revokePending = false
		r.revokeLease(ctx)
		return 0
	}
	wait := forever
	if r.set.interval > 0 {
		if !now.Before(r.statusNext) {
			r.reportStatus(ctx, now)
			return 0
		}
		wait = r.statusNext.Sub(now)
	}
	d, worked := r.stepEndpoints(ctx, now)
	if worked {
		return 0
	}
	return min(wait, d)
}

// shutdown revokes the lease and deletes the endpoint status keys
// (unless told to keep them).
func (r *Reporter) shutdown(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
	defer cancel()
	var errs []error
	if r.lease != 0 {
		if err := r.be.RevokeLease(ctx, r.lease); err != nil {
			errs = append(errs, fmt.Errorf("status reporter stop: %w", err))
		}
		r.lease = 0
	}
	var n int64
	if !r.keepEPs {
		var err error
		if n, err = r.be.DeletePrefix(ctx, r.epPrefix); err != nil {
			errs = append(errs, fmt.Errorf("status reporter stop: %w", err))
		}
	}
	r.log.Info("status reporter stopped", "endpointKeysDeleted", n)
	return errors.Join(errs...)
}
