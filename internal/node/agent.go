package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"

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
	dsHealth := newDatastoreHealth(be, cfg.Datastore, agg, log.With("component", "datastore-health"))
	wg.Go(func() { dsHealth.run(ctx) })

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
	// The defaults until the datastore's configuration is known: the
	// initial sync is when the most garbage is made.
	setGoRuntime(config.Default())
	var heapPath atomic.Value // string: debugMemoryProfilePath
	heapPath.Store("")
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	wg.Go(func() { writeHeapProfiles(ctx, usr1, &heapPath, log) })
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
			setGoRuntime(c)
			heapPath.Store(c.DebugMemoryProfilePath)
			if b != nil {
				b.SetAgentConfig(c)
			}
			if cfg.logLevel != nil && !cfg.logLevelPinned && cfg.logLevel.Level() != c.LogLevel() {
				log.Info("log level from FelixConfiguration", "logSeverityScreen", c.LogSeverityScreen)
				cfg.logLevel.Set(c.LogLevel())
			}
		},
		OnHealth: func(h agent.Health) { agg.ReportState("agent", health.State(h)) },
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

// setGoRuntime applies goGCThreshold and goMemoryLimitMB, as upstream's
// Felix does (they override GOGC and GOMEMLIMIT).
func setGoRuntime(c config.Config) {
	debug.SetGCPercent(c.GoGCThreshold)
	limit := int64(math.MaxInt64)
	if c.GoMemoryLimitMB > 0 {
		limit = int64(c.GoMemoryLimitMB) << 20
	}
	debug.SetMemoryLimit(limit)
}

// writeHeapProfiles writes a heap profile to debugMemoryProfilePath on
// every SIGUSR1, as upstream's Felix does.
func writeHeapProfiles(ctx context.Context, sig <-chan os.Signal, path *atomic.Value, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-sig:
		}
		p, _ := path.Load().(string)
		if p == "" {
			log.Info("SIGUSR1: no debugMemoryProfilePath configured; no heap profile written")
			continue
		}
		f, err := os.Create(p)
		if err == nil {
			runtime.GC()
			err = pprof.WriteHeapProfile(f)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			log.Warn("heap profile not written", "path", p, "error", err)
			continue
		}
		log.Info("heap profile written", "path", p)
	}
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
