// Package dataplane makes the kernel of one network namespace match the
// agent's desired host state: workload interfaces, their sysctls, routes
// and neighbour entries, reconciled level-triggered over netlink.
package dataplane

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/gocalico/calico/internal/agent/calc"
	"github.com/gocalico/calico/internal/agent/config"
)

// Dataplane programs a desired HostState. Set, Resync, EndpointStatuses
// and Programmed are called from one goroutine; Changed may be read from
// any.
type Dataplane interface {
	// Set makes the kernel match desired. It may be called again and
	// again with the same input.
	//
	// It returns an error only when it could not work at all (the
	// interfaces or the kernel's state could not be listed, the netlink
	// socket is broken, ctx ended):
	// then nothing it believes of the kernel is trusted, and the next
	// call reads the kernel again. An object that cannot be programmed
	// (an endpoint whose route is refused, a sysctl that cannot be
	// written, a route that cannot be deleted) does not fail the call:
	// everything else is applied, and the object is reported by
	// Failures (an endpoint's status is error) and retried on its own by
	// Update once its back-off has passed.
	Set(ctx context.Context, desired *calc.HostState) error
	// Update changes the desired state of the endpoints named in
	// changes (a nil Endpoint: gone) in the state last given to Set,
	// and applies what changed: those endpoints, the endpoints on
	// interfaces that link events reported, and the failed objects
	// whose retry is due (see RetryIn). It walks everything instead on
	// the first apply, after Resync, after an apply that returned an
	// error and when link events may have been lost. Call it with no
	// changes to retry or to follow link events. Set must have been
	// called first. Errors are as Set's.
	Update(ctx context.Context, changes []calc.EndpointChange) error
	// Failures returns the objects that failed at their last attempt,
	// sorted by kind and name.
	Failures() []Failure
	// RetryIn is how long until the earliest failed object is due to be
	// tried again by Update (0: now); ok is false when nothing failed.
	RetryIn() (in time.Duration, ok bool)
	// Resync makes the next Set re-read the kernel instead of trusting
	// its record of what it programmed.
	Resync()
	// Changed is signalled when kernel state that Set depends on changed
	// (an interface appeared, went or changed state): call Set again.
	Changed() <-chan struct{}
	// EndpointStatuses returns the state of every desired endpoint as of
	// the last Set or Update, sorted by key.
	EndpointStatuses() []EndpointStatus
	// StatusVersion changes whenever EndpointStatuses or Programmed
	// would return something different.
	StatusVersion() uint64
	// Programmed is the number of endpoints whose interface exists and
	// whose routes were programmed without error by the last Set.
	Programmed() int
	// Close releases the dataplane's OS resources. It removes nothing
	// from the kernel.
	Close() error
}

// Endpoint status values, as upstream reports them.
const (
	StatusUp    = "up"
	StatusDown  = "down"
	StatusError = "error"
)

// EndpointStatus is the operational state of one local endpoint.
type EndpointStatus struct {
	// Key is "<namespace>/<name>" of the WorkloadEndpoint.
	Key string
	// Orchestrator, Workload and Endpoint identify it in upstream's
	// status keys: Workload is the workload ID "<namespace>/<workload>"
	// (the workload segment of the endpoint's name: the pod for k8s),
	// Endpoint the endpoint ID ("eth0"). The fields match
	// status.EndpointStatus, so a value converts directly.
	Orchestrator, Workload, Endpoint string
	// Status is StatusUp (interface present and up), StatusDown
	// (missing or down) or StatusError (bad data or programming failed).
	Status string
}

// Linux is the Dataplane over a kernel seam.
type Linux struct {
	k       kernel
	log     *slog.Logger
	metrics *Metrics

	// Filled by the link watcher, drained by Set.
	mu      sync.Mutex
	pending []linkEvent
	queued  int // events enqueued so far (tests wait on it)
	changed chan struct{}

	stop    chan struct{}
	watchWG sync.WaitGroup
	once    sync.Once

	// Owned by the goroutine calling Set.
	fullSync bool            // re-read the kernel, then walk everything
	needFull bool            // walk every endpoint (the record is trusted)
	links    map[string]link // by name
	linkName map[int]string  // by index
	rec      record
	epErrs   map[string]error
	// failures are the objects that failed at their last attempt.
	failures map[objKey]*failure
	now      func() time.Time

	// The desired state: set by Set, changed by Update.
	cfg     *config.Config
	desired map[string]*calc.Endpoint
	// blackholes are the local IPAM blocks (set by Set only).
	blackholes []netip.Prefix
	onIface    map[string]map[string]bool // interface name -> endpoint keys
	// applied is what each endpoint wanted at its last apply, so that an
	// apply of one endpoint prunes only what it no longer wants;
	// dstOwner and ifaceOwner say which endpoint claimed what.
	applied    map[string]appliedEndpoint
	dstOwner   map[netip.Prefix]string
	ifaceOwner map[string]string

	// statuses are sorted by key; statusOf holds whether each endpoint
	// counts as programmed.
	statuses      []EndpointStatus
	programmedSet map[string]bool
	statusVersion uint64
}

// Config configures New.
type Config struct {
	// NetNS is the network namespace to program: a path to a namespace
	// file (/run/netns/x, /proc/<pid>/ns/net), a name under /run/netns,
	// or "" for the process's own namespace.
	NetNS string
	// Log may be nil.
	Log *slog.Logger
	// Metrics may be nil.
	Metrics *Metrics
	// Clock, if set, replaces time.Now for the retries of failed
	// objects (tests).
	Clock func() time.Time
}

// New opens the netlink dataplane of cfg.NetNS and starts watching its
// links.
func New(cfg Config) (*Linux, error) {
	k, err := openKernel(cfg.NetNS)
	if err != nil {
		return nil, err
	}
	d := newLinux(k, cfg.Log, cfg.Metrics)
	if cfg.Clock != nil {
		d.now = cfg.Clock
	}
	return d, nil
}

func newLinux(k kernel, log *slog.Logger, m *Metrics) *Linux {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Linux{
		k:             k,
		log:           log,
		metrics:       m,
		changed:       make(chan struct{}, 1),
		stop:          make(chan struct{}),
		fullSync:      true,
		needFull:      true,
		rec:           newRecord(),
		epErrs:        map[string]error{},
		failures:      map[objKey]*failure{},
		now:           time.Now,
		desired:       map[string]*calc.Endpoint{},
		onIface:       map[string]map[string]bool{},
		applied:       map[string]appliedEndpoint{},
		dstOwner:      map[netip.Prefix]string{},
		ifaceOwner:    map[string]string{},
		programmedSet: map[string]bool{},
	}
	// Subscribe before anything is listed, so that no change made after
	// the first Set's listing can be missed.
	ch, err := k.subscribeLinks(d.stop)
	if err != nil {
		d.log.Warn("link subscription failed; retrying", "error", err)
	}
	d.watchWG.Go(func() { d.watchLinks(ch) })
	return d
}

// Changed implements Dataplane.
func (d *Linux) Changed() <-chan struct{} { return d.changed }

// Resync implements Dataplane.
func (d *Linux) Resync() { d.fullSync = true }

// EndpointStatuses implements Dataplane.
func (d *Linux) EndpointStatuses() []EndpointStatus {
	return append([]EndpointStatus(nil), d.statuses...)
}

// StatusVersion implements Dataplane.
func (d *Linux) StatusVersion() uint64 { return d.statusVersion }

// Programmed implements Dataplane.
func (d *Linux) Programmed() int { return len(d.programmedSet) }

// Close implements Dataplane.
func (d *Linux) Close() error {
	var err error
	d.once.Do(func() {
		close(d.stop)
		d.watchWG.Wait()
		err = d.k.close()
	})
	return err
}

func (d *Linux) signal() {
	select {
	case d.changed <- struct{}{}:
	default:
	}
}

func (d *Linux) enqueue(ev linkEvent) {
	d.mu.Lock()
	d.pending = append(d.pending, ev)
	d.queued++
	d.mu.Unlock()
	d.signal()
}

func (d *Linux) takeEvents() []linkEvent {
	d.mu.Lock()
	defer d.mu.Unlock()
	evs := d.pending
	d.pending = nil
	return evs
}

// watchLinks follows link events until Close, re-subscribing with capped
// backoff when the subscription breaks. Events may have been lost then,
// so once the new subscription is in place the next Set re-reads
// everything.
func (d *Linux) watchLinks(ch <-chan linkEvent) {
	const minDelay, maxDelay = 100 * time.Millisecond, 10 * time.Second
	delay := minDelay
	for {
		if ch != nil {
			for ev := range ch {
				delay = minDelay // the subscription worked for a while
				d.enqueue(ev)
			}
		}
		select {
		case <-d.stop:
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, maxDelay)
		var err error
		if ch, err = d.k.subscribeLinks(d.stop); err != nil {
			d.log.Warn("link subscription failed; retrying", "error", err, "retryIn", delay)
			ch = nil
			continue
		}
		d.enqueue(linkEvent{Lost: true})
	}
}
