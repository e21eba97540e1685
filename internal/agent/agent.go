// Package agent is the per-host agent (upstream's Felix): it follows the
// datastore, computes this host's desired state and keeps the kernel in
// line with it, reporting endpoint status and health.
package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/agent/calc"
	"github.com/gocalico/calico/internal/agent/config"
	"github.com/gocalico/calico/internal/agent/dataplane"
	"github.com/gocalico/calico/internal/datastore"
	"github.com/gocalico/calico/internal/datastore/syncer"
	"github.com/gocalico/calico/internal/resources"
)

// EndpointStatus is the operational state of one local endpoint.
type EndpointStatus = dataplane.EndpointStatus

// Endpoint status values.
const (
	StatusUp    = dataplane.StatusUp
	StatusDown  = dataplane.StatusDown
	StatusError = dataplane.StatusError
)

// Health is the agent's health for /liveness and /readiness.
type Health struct {
	// Live: the agent's loop is running.
	Live bool
	// Ready: in sync with the datastore and able to program the kernel:
	// the last apply did not fail as a whole (the kernel could be read,
	// the policy table committed).
	Ready bool
	// Degraded: ready, but some objects (an endpoint, a route, a policy
	// chain) could not be programmed; each is retried on its own
	// back-off while everything else is programmed.
	Degraded bool
	// Detail says why the agent is not ready, or names the failed
	// objects (the first few and a count).
	Detail string
}

// Config configures Run.
type Config struct {
	// NodeName is this host's name: endpoints with spec.node equal to
	// it are programmed.
	NodeName string
	// Backend is the datastore.
	Backend datastore.Backend
	// NetNS is the network namespace to program (a path, a name under
	// /run/netns, or "" for the process's own namespace).
	NetNS string
	// Log may be nil.
	Log *slog.Logger
	// Registry receives the agent's metrics; nil: not registered.
	Registry prometheus.Registerer
	// OnEndpointStatus, if set, receives every local endpoint's status,
	// sorted by key, whenever any of them changes. It is called from
	// the agent's loop and must not block for long.
	OnEndpointStatus func([]EndpointStatus)
	// OnConfig, if set, receives the effective configuration once in
	// sync and whenever it changes (log level, health and metrics
	// listeners, status reporting intervals, region).
	OnConfig func(config.Config)
	// OnHealth, if set, receives the health whenever it changes.
	OnHealth func(Health)
}

func (c *Config) validate() error {
	if c.NodeName == "" {
		return errors.New("agent: NodeName is required")
	}
	if c.Backend == nil {
		return errors.New("agent: Backend is required")
	}
	return nil
}

// Prefixes are the resource prefixes the agent follows: endpoints and
// configuration for routes, and the policy resources. Beside them it
// follows its node's IPAM block affinities (calc.AffinityPrefix), whose
// blocks it blackholes.
var Prefixes = []string{
	resources.Prefix + "workloadendpoints/",
	resources.Prefix + "felixconfigurations/",
	resources.Prefix + "ippools/",
	resources.Prefix + "tiers/",
	resources.Prefix + "globalnetworkpolicies/",
	resources.Prefix + "networkpolicies/",
	resources.Prefix + "profiles/",
	resources.Prefix + "networksets/",
	resources.Prefix + "globalnetworksets/",
	resources.Prefix + "hostendpoints/",
}

// prefixes are all the datastore prefixes the agent of node follows.
func prefixes(node string) []string {
	return append(slices.Clone(Prefixes), calc.AffinityPrefix(node))
}

// Run runs the agent until ctx ends, then returns nil. Nothing is
// programmed before the datastore is in sync, and nothing is removed
// from the kernel on the way out: a restarted agent takes over what is
// there and changes only what differs.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	m := newMetrics(cfg.Registry)
	dp, err := dataplane.New(dataplane.Config{NetNS: cfg.NetNS, Log: logger(cfg.Log), Metrics: m.dataplane})
	if err != nil {
		return fmt.Errorf("agent: dataplane: %w", err)
	}
	defer dp.Close()
	pol, err := openPolicyPlane(cfg.NetNS, logger(cfg.Log).With("component", "policy"))
	if err != nil {
		return fmt.Errorf("agent: nftables: %w", err)
	}
	defer pol.Close()
	if cfg.Registry != nil {
		hits := newRuleHits(pol)
		if err := cfg.Registry.Register(hits); err != nil {
			return fmt.Errorf("agent: metrics: %w", err)
		}
		defer cfg.Registry.Unregister(hits)
	}
	return run(ctx, cfg, dp, pol, m)
}

// mayBeLocal reports whether a key may hold something this node's routes
// need: everything but WorkloadEndpoints of other nodes (policy needs
// those too, for the IP sets of selectors). A WorkloadEndpoint's
// name starts with its node, '-' doubled, then a single '-' (the name
// rule every writer must follow), so other nodes' endpoints are skipped
// without decoding them: at 10k remote endpoints that is most of the
// start-up work and memory.
func mayBeLocal(key, node string) bool {
	const wepPrefix = resources.Prefix + "workloadendpoints/"
	rest, ok := strings.CutPrefix(key, wepPrefix)
	if !ok {
		return true
	}
	_, name, ok := strings.Cut(rest, "/")
	if !ok {
		return true // not a WEP key: let the decoder report it
	}
	prefix := strings.ReplaceAll(node, "-", "--") + "-"
	after, ok := strings.CutPrefix(name, prefix)
	return ok && !strings.HasPrefix(after, "-")
}

// remoteEndpoint is the part of another node's WorkloadEndpoint that
// policy needs: labels, node, addresses, profiles, named ports and the
// service account.
type remoteEndpoint struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		Orchestrator       string                    `json:"orchestrator"`
		Node               string                    `json:"node"`
		ServiceAccountName string                    `json:"serviceAccountName"`
		IPNetworks         []string                  `json:"ipNetworks"`
		Profiles           []string                  `json:"profiles"`
		Ports              []v3.WorkloadEndpointPort `json:"ports"`
	} `json:"spec"`
}

// decodeRemoteEndpoint decodes another node's endpoint in one pass into
// a WorkloadEndpoint holding only what remoteEndpoint keeps: at 10k
// remote endpoints the full decode is most of the agent's start-up work
// and garbage.
func decodeRemoteEndpoint(key string, value []byte) (*v3.WorkloadEndpoint, error) {
	_, ns, name, ok := resources.ParseKey(key)
	if !ok {
		return nil, fmt.Errorf("key %s: not a v3 resource key", key)
	}
	var r remoteEndpoint
	if err := json.Unmarshal(value, &r); err != nil {
		return nil, fmt.Errorf("key %s: decode WorkloadEndpoint: %w", key, err)
	}
	if r.Kind != v3.KindWorkloadEndpoint {
		return nil, fmt.Errorf("key %s: value has kind %q, want %q", key, r.Kind, v3.KindWorkloadEndpoint)
	}
	w := v3.NewWorkloadEndpoint()
	w.Metadata.Namespace, w.Metadata.Name, w.Metadata.Labels = ns, name, r.Metadata.Labels
	w.Spec.Orchestrator, w.Spec.Node, w.Spec.ServiceAccountName = r.Spec.Orchestrator, r.Spec.Node, r.Spec.ServiceAccountName
	w.Spec.IPNetworks, w.Spec.Profiles, w.Spec.Ports = r.Spec.IPNetworks, r.Spec.Profiles, r.Spec.Ports
	return w, nil
}

// listPageSize is the agent's datastore list page: about 1.5 MB of
// endpoints at a time.
const listPageSize = 2000

func logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}

// run follows the datastore with a syncer and runs the agent's loop over
// dp and pol (nil: no policy programming, for tests of the routes alone)
// until ctx ends.
func run(ctx context.Context, cfg Config, dp dataplane.Dataplane, pol policyPlane, m *metrics) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	a := newAgent(cfg, dp, pol, m)
	client := resources.New(nil)
	affinities := calc.AffinityPrefix(cfg.NodeName)
	s := syncer.New(syncer.Config{
		Backend:  cfg.Backend,
		Prefixes: prefixes(cfg.NodeName),
		Decode: func(key string, value []byte, rev int64) (any, error) {
			if strings.HasPrefix(key, affinities) {
				return calc.DecodeAffinity(key, value)
			}
			if !mayBeLocal(key, cfg.NodeName) {
				if pol == nil {
					return nil, syncer.ErrSkip
				}
				// Another node's endpoint: only what selectors and
				// IP sets need (in full after all if it says it is
				// this node's, against the naming rule).
				w, err := decodeRemoteEndpoint(key, value)
				if err != nil || w.Spec.Node != cfg.NodeName {
					return w, err
				}
				return client.DecodeKV(key, value, rev)
			}
			return client.DecodeKV(key, value, rev)
		},
		// Small pages: the initial sync holds one page of other nodes'
		// endpoints at a time instead of the whole list (peak RSS).
		ListPageSize: listPageSize,
		Log:          a.log.With("component", "syncer"),
		Metrics:      syncer.NewMetrics(cfg.Registry),
	}, reportNotImplemented(a))
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	if pol != nil {
		// Host endpoints without interfaceName police the interfaces
		// with their addresses: known before the first apply.
		w, err := openHostAddrs(cfg.NetNS, a.log.With("component", "hostaddrs"))
		if err != nil {
			return fmt.Errorf("agent: %w", err)
		}
		defer w.close()
		m, err := w.list()
		if err != nil {
			return fmt.Errorf("agent: %w", err)
		}
		a.setHostAddrs(m)
		wg.Go(func() { w.run(ctx, a.setHostAddrs) })
	}
	wg.Go(func() {
		if err := s.Run(ctx); err != nil {
			a.log.Error("syncer stopped", "error", err)
		}
	})
	a.loop(ctx)
	return nil
}
