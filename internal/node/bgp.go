package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gocalico/calico/internal/agent/config"
	"github.com/gocalico/calico/internal/bgp/birdcfg"
	"github.com/gocalico/calico/internal/bgp/daemon"
	"github.com/gocalico/calico/internal/datastore"
	"github.com/gocalico/calico/internal/datastore/syncer"
	"github.com/gocalico/calico/internal/health"
	"github.com/gocalico/calico/internal/metrics"
	"github.com/gocalico/calico/internal/resources"
)

// Networking backends (--networking-backend, env CALICO_NETWORKING_BACKEND).
const (
	BackendBIRD = "bird"
	BackendNone = "none"
)

// BGPOptions configure calico-node's BGP: BIRD run and configured by it.
type BGPOptions struct {
	// Backend is BackendBIRD (default) or BackendNone (no BGP: routes
	// between hosts come from elsewhere).
	Backend string
	// Dir holds BIRD's configuration, control socket, PID and status
	// files (default /var/run/calico).
	Dir string
	// Socket is BIRD's control socket (default Dir/bird.ctl).
	Socket string
	// Binary is the BIRD 2 executable (default bird, or /usr/sbin/bird).
	Binary string
	// SecretsDir holds BGP passwords, one file per secret key:
	// SecretsDir/<secret name>/<key>, as a mounted Kubernetes secret
	// volume lays them out (default /etc/calico/bgp-secrets).
	SecretsDir string
}

func (o BGPOptions) enabled() bool { return o.Backend != BackendNone }

func (o BGPOptions) validate() error {
	switch o.Backend {
	case BackendBIRD, BackendNone:
		return nil
	}
	return fmt.Errorf("--networking-backend (env CALICO_NETWORKING_BACKEND) %q: want %s or %s", o.Backend, BackendBIRD, BackendNone)
}

// bgpPrefixes are the datastore prefixes the BGP configuration depends
// on.
var bgpPrefixes = []string{
	resources.Prefix + "nodes/",
	resources.Prefix + "bgppeers/",
	resources.Prefix + "bgpconfigurations/",
	resources.Prefix + "ippools/",
}

// bgp follows the datastore's BGP view and keeps BIRD configured from
// it.
type bgp struct {
	node string
	opts BGPOptions
	log  *slog.Logger
	d    *daemon.Daemon
	agg  *health.Aggregator

	rendered  prometheus.Counter
	rejected  prometheus.Counter
	problemsG prometheus.Gauge

	mu       sync.Mutex
	view     *birdcfg.View
	inSync   bool
	dirty    bool
	proto    int
	prefixes []string
	wake     chan struct{}
}

func newBGP(node string, opts BGPOptions, reg prometheus.Registerer, agg *health.Aggregator, log *slog.Logger) (*bgp, error) {
	if opts.Dir == "" {
		opts.Dir = daemon.DefaultDir
	}
	if opts.SecretsDir == "" {
		opts.SecretsDir = "/etc/calico/bgp-secrets"
	}
	b := &bgp{
		node:  node,
		opts:  opts,
		log:   log,
		agg:   agg,
		view:  birdcfg.NewView(),
		proto: config.RouteProtocol,
		wake:  make(chan struct{}, 1),
		rendered: metrics.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "calico", Subsystem: "bgp", Name: "config_renders_total",
			Help: "BIRD configurations rendered from the datastore that differed from the one before.",
		})),
		rejected: metrics.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "calico", Subsystem: "bgp", Name: "config_rejected_total",
			Help: "BIRD configurations rejected (by bird -p or by the running BIRD); the previous one kept running.",
		})),
		problemsG: metrics.Register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "calico", Subsystem: "bgp", Name: "config_problems",
			Help: "Problems found in the datastore's BGP resources by the last render (each named in the log).",
		})),
	}
	d, err := daemon.New(daemon.Config{
		Binary: opts.Binary,
		Dir:    opts.Dir,
		Socket: opts.Socket,
		Log:    log,
		OnStatus: func(st daemon.Status) {
			b.report(st)
		},
	})
	if err != nil {
		return nil, err
	}
	b.d = d
	agg.Register("bgp", true, true, 0)
	agg.Report("bgp", true, false, "waiting for the datastore")
	return b, nil
}

// report turns the daemon's status into the health report.
func (b *bgp) report(st daemon.Status) {
	switch {
	case st.Rejected != "":
		b.agg.Report("bgp", true, st.Running, "BIRD configuration rejected, previous one kept: "+firstLineOf(st.Rejected))
	case !st.Running && st.LastExit != "":
		b.agg.Report("bgp", true, false, "BIRD exited ("+st.LastExit+"); restarting")
	case !st.Running:
		b.agg.Report("bgp", true, false, "BIRD not running")
	default:
		b.agg.Report("bgp", true, true, "")
	}
}

func firstLineOf(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// SetAgentConfig passes on what the BGP configuration takes from the
// agent's effective FelixConfiguration: the route protocol of the
// workload routes BIRD announces, and the workload interface prefixes.
func (b *bgp) SetAgentConfig(c config.Config) {
	b.mu.Lock()
	if b.proto != c.RouteProtocol || !slices.Equal(b.prefixes, c.InterfacePrefixes) {
		b.proto, b.prefixes = c.RouteProtocol, slices.Clone(c.InterfacePrefixes)
		b.dirty = true
	}
	b.mu.Unlock()
	b.signal()
}

func (b *bgp) signal() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// OnStatusUpdated implements syncer.Callbacks.
func (b *bgp) OnStatusUpdated(st syncer.Status) {
	if st != syncer.StatusInSync {
		return
	}
	b.mu.Lock()
	b.inSync, b.dirty = true, true
	b.mu.Unlock()
	b.signal()
}

// OnUpdates implements syncer.Callbacks.
func (b *bgp) OnUpdates(us []syncer.Update) {
	b.mu.Lock()
	changed := b.view.OnUpdates(us)
	if changed {
		b.dirty = true
	}
	b.mu.Unlock()
	if changed {
		b.signal()
	}
}

// run follows the datastore and keeps BIRD configured until ctx ends,
// then stops BIRD for a graceful restart.
func (b *bgp) run(ctx context.Context, be datastore.Backend, reg prometheus.Registerer) error {
	client := resources.New(nil)
	s := syncer.New(syncer.Config{
		Backend:  be,
		Prefixes: append(slices.Clone(bgpPrefixes), birdcfg.AffinityPrefix(b.node)),
		Decode: func(key string, value []byte, rev int64) (any, error) {
			if birdcfg.IsAffinityKey(key) {
				return birdcfg.DecodeAffinity(key, value)
			}
			return client.DecodeKV(key, value, rev)
		},
		Log:     b.log.With("component", "bgp-syncer"),
		Metrics: syncer.NewMetrics(reg),
	}, reportBGPNotImplemented(b))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		if err := s.Run(ctx); err != nil && ctx.Err() == nil {
			b.log.Error("BGP syncer stopped", "error", err)
		}
	})
	wg.Go(func() {
		if err := b.d.Run(ctx); err != nil {
			b.log.Error("BIRD supervisor stopped", "error", err)
		}
	})

	var (
		lastProblems []string
		retry        = time.NewTimer(time.Hour)
		backoff      time.Duration
	)
	retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-b.wake:
		case <-retry.C:
			b.mu.Lock()
			b.dirty = true
			b.mu.Unlock()
		}
		b.mu.Lock()
		if !b.inSync || !b.dirty {
			b.mu.Unlock()
			continue
		}
		b.dirty = false
		in := b.view.Input(b.node)
		opts := birdcfg.Options{RouteProtocol: b.proto, InterfacePrefixes: b.prefixes, Password: b.password}
		b.mu.Unlock()

		res := birdcfg.Render(in, opts)
		if !slices.Equal(res.Problems, lastProblems) {
			for _, p := range res.Problems {
				b.log.Warn("BGP configuration problem", "problem", p)
			}
			if len(res.Problems) == 0 && len(lastProblems) > 0 {
				b.log.Info("BGP configuration problems resolved")
			}
			lastProblems = res.Problems
			b.problemsG.Set(float64(len(res.Problems)))
		}
		before := b.d.Status().ConfigHash
		err := b.d.Apply(ctx, []byte(res.Config))
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, daemon.ErrRejected):
			// The datastore must change before this can work: no
			// retry, the previous configuration keeps running.
			b.rejected.Inc()
			backoff = 0
		case err != nil:
			backoff = min(max(2*backoff, 200*time.Millisecond), 30*time.Second)
			b.log.Warn("applying the BIRD configuration failed; retrying", "error", err, "retryIn", backoff)
			retry.Reset(backoff)
		default:
			backoff = 0
			if b.d.Status().ConfigHash != before {
				b.rendered.Inc()
				b.log.Info("BGP configuration", "routerID", res.RouterID, "peers", len(res.Peers))
			}
		}
	}
}

// password reads a BGP password from SecretsDir/<secret>/<key>.
func (b *bgp) password(secret, key string) (string, error) {
	if secret == "" || key == "" || strings.ContainsAny(secret+key, "/\x00") || secret == ".." || key == ".." {
		return "", fmt.Errorf("secret %q key %q: not a valid secret reference", secret, key)
	}
	p := filepath.Join(b.opts.SecretsDir, secret, key)
	v, err := os.ReadFile(p)
	if err != nil {
		return "", fmt.Errorf("secret %q key %q: %w", secret, key, err)
	}
	return strings.TrimRight(string(v), "\r\n"), nil
}
