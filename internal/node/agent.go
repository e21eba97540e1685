package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/gocalico/calico/internal/agent"
	"github.com/gocalico/calico/internal/agent/config"
	"github.com/gocalico/calico/internal/agent/status"
	"github.com/gocalico/calico/internal/datastore"
	"github.com/gocalico/calico/internal/health"
)

// runAgent runs the host agent with its status reporter, BIRD (unless the
// networking backend is none) and, when the FelixConfiguration asks for
// them, the health and metrics listeners. It
// returns when ctx ends; the kernel state is left as it is, so a restart
// drops no traffic.
func runAgent(ctx context.Context, cfg Config, be datastore.Backend, log *slog.Logger) error {
	nodeName := cfg.NodeName
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	agg := health.NewAggregator()
	agg.Register("agent", true, true, 0)

	// Reporting is off until the agent has read its configuration.
	// Endpoint status keys stay when the agent stops, as upstream's:
	// Neutron shows a port whose status key is gone as ERROR, which a
	// restart of the agent must not cause.
	rep := status.New(status.Config{Backend: be, Host: nodeName, KeepEndpointsOnStop: true, Log: log.With("component", "status")})

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	wg.Go(func() {
		if err := rep.Run(ctx); err != nil && ctx.Err() == nil {
			errs <- fmt.Errorf("status reporter: %w", err)
			cancel()
		}
	})

	var b *bgp
	if cfg.BGP.enabled() {
		var err error
		if b, err = newBGP(nodeName, cfg.BGP, reg, agg, log.With("component", "bgp")); err != nil {
			cancel()
			wg.Wait()
			return fmt.Errorf("bgp: %w", err)
		}
		wg.Go(func() {
			if err := b.run(ctx, be, reg); err != nil && ctx.Err() == nil {
				errs <- fmt.Errorf("bgp: %w", err)
				cancel()
			}
		})
	}

	listeners := &listeners{ctx: ctx, wg: &wg, agg: agg, reg: reg, log: log}
	err := agent.Run(ctx, agent.Config{
		NodeName: nodeName,
		Backend:  be,
		Log:      log.With("component", "agent"),
		Registry: reg,
		OnEndpointStatus: func(eps []agent.EndpointStatus) {
			rep.SetEndpoints(toStatus(eps))
		},
		OnConfig: func(c config.Config) {
			rep.Reconfigure(status.Config{
				Backend: be, Host: nodeName, Region: c.OpenStackRegion,
				ReportingInterval: c.ReportingInterval, ReportingTTL: c.ReportingTTL,
				EndpointReporting: c.EndpointReportingEnabled, KeepEndpointsOnStop: true,
				Log: log.With("component", "status"),
			})
			listeners.configure(c)
			if b != nil {
				b.SetAgentConfig(c)
			}
			if cfg.logLevel != nil && !cfg.logLevelPinned && cfg.logLevel.Level() != c.LogLevel() {
				log.Info("log level from FelixConfiguration", "logSeverityScreen", c.LogSeverityScreen)
				cfg.logLevel.Set(c.LogLevel())
			}
		},
		OnHealth: func(h agent.Health) { agg.Report("agent", h.Live, h.Ready, h.Detail) },
	})
	cancel()
	wg.Wait()
	close(errs)
	for e := range errs {
		err = errors.Join(err, e)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// toStatus converts the agent's endpoint states to the reporter's form
// (the same fields; the workload ID already carries the namespace).
func toStatus(eps []agent.EndpointStatus) []status.EndpointStatus {
	out := make([]status.EndpointStatus, len(eps))
	for i, e := range eps {
		out[i] = status.EndpointStatus(e)
	}
	return out
}

// listeners starts the health and metrics HTTP listeners the first time
// the configuration enables them. Changing their address later needs a
// restart of calico-node (logged).
type listeners struct {
	ctx     context.Context
	wg      *sync.WaitGroup
	agg     *health.Aggregator
	reg     *prometheus.Registry
	log     *slog.Logger
	mu      sync.Mutex
	serving map[string]bool
}

func (l *listeners) configure(c config.Config) {
	if c.HealthEnabled {
		l.serve(net.JoinHostPort(c.HealthHost, strconv.Itoa(c.HealthPort)), "health")
	}
	if c.PrometheusMetricsEnabled {
		l.serve(net.JoinHostPort(c.PrometheusMetricsHost, strconv.Itoa(c.PrometheusMetricsPort)), "metrics")
	}
}

func (l *listeners) serve(addr, what string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.serving == nil {
		l.serving = map[string]bool{}
	}
	if l.serving[addr] {
		return
	}
	l.serving[addr] = true
	l.log.Info("serving "+what, "addr", addr)
	l.wg.Go(func() {
		if err := health.Serve(l.ctx, addr, l.agg, l.reg, l.log.With("component", what)); err != nil && l.ctx.Err() == nil {
			l.log.Error("listener stopped", "what", what, "addr", addr, "error", err)
		}
	})
}
