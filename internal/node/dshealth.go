package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/gocalico/calico/internal/datastore"
	"github.com/gocalico/calico/internal/health"
	"github.com/gocalico/calico/internal/resources"
)

// datastoreComponent is the health component that says whether the
// datastore answers.
const datastoreComponent = "datastore"

// Probe timings of datastoreHealth.
const (
	// dsProbeInterval is how often the datastore is asked while it
	// answers; dsProbeRetry while it does not (it clears sooner).
	dsProbeInterval = 10 * time.Second
	dsProbeRetry    = 2 * time.Second
	// dsProbeTimeout is how long one probe waits for an answer.
	dsProbeTimeout = 5 * time.Second
)

// datastoreProbeKey is what a probe reads: small, and read by every
// component anyway. Its absence is an answer too.
var datastoreProbeKey = resources.Prefix + "clusterinformations/default"

// datastoreHealth reports on the health component "datastore" whether
// the datastore answers. The component counts for neither liveness nor
// readiness: without the datastore the node keeps the dataplane it has
// and carries on. While the datastore does not answer, the component is
// degraded, "unreachable since <time>: <reason>", and probes answer 200
// with status "degraded"; it clears at the first answer.
//
// The node's own traffic cannot tell: while etcd is away its client keeps
// the agent's and BGP's watches open without a word and resumes them when
// etcd returns, and the status reporter may be off. So it asks itself: a
// linearizable read of one small key through the node's own connection
// (the one the agent uses, with its failover between members), every
// dsProbeInterval, every dsProbeRetry while unreachable. Only when that
// read gets no answer does it find out why (datastore.Reach: a connection
// to every endpoint, refused, no such socket, TLS, or no answer in time).
type datastoreHealth struct {
	be  datastore.Backend
	cfg datastore.Config
	agg *health.Aggregator
	log *slog.Logger

	interval, retry, timeout time.Duration
}

func newDatastoreHealth(be datastore.Backend, cfg datastore.Config, agg *health.Aggregator, log *slog.Logger) *datastoreHealth {
	agg.Register(datastoreComponent, false, false, 0)
	return &datastoreHealth{be: be, cfg: cfg, agg: agg, log: log,
		interval: dsProbeInterval, retry: dsProbeRetry, timeout: dsProbeTimeout}
}

// run probes until ctx ends.
func (h *datastoreHealth) run(ctx context.Context) {
	var since time.Time // first failed probe of this outage; zero while reachable
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		start := time.Now()
		err := h.probe(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			if !since.IsZero() {
				h.log.Info("datastore answers again", "unreachableFor", time.Since(since).Round(time.Millisecond))
				since = time.Time{}
			}
			h.agg.ReportState(datastoreComponent, health.State{Live: true, Ready: true})
			t.Reset(h.interval)
			continue
		}
		if since.IsZero() {
			since = start
			h.log.Warn("datastore unreachable; the dataplane is kept as it is", "error", err)
		}
		h.agg.ReportState(datastoreComponent, health.State{Live: true, Ready: true, Degraded: true,
			Detail: fmt.Sprintf("unreachable since %s: %v", since.UTC().Format(time.RFC3339), err)})
		t.Reset(h.retry)
	}
}

// probe asks the datastore once; nil when it answered, else why not.
func (h *datastoreHealth) probe(ctx context.Context) error {
	pctx, cancel := context.WithTimeout(ctx, h.timeout)
	_, err := h.be.Get(pctx, datastoreProbeKey)
	cancel()
	if err == nil || errors.Is(err, datastore.ErrNotFound) || ctx.Err() != nil {
		return nil
	}
	return datastore.Reach(ctx, h.be, h.cfg, datastoreProbeKey, h.timeout)
}
