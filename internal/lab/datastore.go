package lab

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/datastore"
	"github.com/gocalico/calico/internal/resources"
)

// Endpoints is the datastore endpoint every lab process uses:
// "unix:///run/calico-lab/<name>/etcd.sock".
func (l *Lab) Endpoints() string { return "unix://" + l.st.Socket }

// Backend returns a connection to the lab's datastore (over its unix
// socket, so it works from the root namespace too). The Lab owns it:
// Close or Down closes it.
func (l *Lab) Backend(ctx context.Context) (datastore.Backend, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.be != nil {
		return l.be, nil
	}
	be, err := datastore.NewEtcd(ctx, datastore.Config{
		Endpoints:   []string{l.Endpoints()},
		DialTimeout: 5 * time.Second,
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, fmt.Errorf("lab %s: datastore %s: %w", l.st.Name, l.Endpoints(), err)
	}
	l.be = be
	return be, nil
}

// Client returns the typed resource client over Backend.
func (l *Lab) Client(ctx context.Context) (*resources.Client, error) {
	be, err := l.Backend(ctx)
	if err != nil {
		return nil, err
	}
	return resources.New(be), nil
}

// Close releases the datastore connection; the lab keeps running.
func (l *Lab) Close() error {
	l.mu.Lock()
	be := l.be
	l.be = nil
	l.mu.Unlock()
	if be != nil {
		return be.Close()
	}
	return nil
}

// waitFor polls check every 100ms until it reports done, p exits (an
// error pointing at its log), or timeout passes.
func (l *Lab) waitFor(ctx context.Context, p Process, what string, timeout time.Duration, check func(context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		if !l.alive(p) {
			return fmt.Errorf("%s: %s exited; last lines of %s:\n%s", what, p.Argv[0], p.Log, tail(p.Log, 15))
		}
		cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
		ok, err := check(cctx)
		ccancel()
		if ok {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("%s: not ready after %v: %w; see %s", what, timeout, last, p.Log)
			}
			return fmt.Errorf("%s: not ready after %v; see %s", what, timeout, p.Log)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// datastoreReady reports whether the datastore answers and holds the
// cluster defaults the datastore process creates.
func (l *Lab) datastoreReady(ctx context.Context) (bool, error) {
	if _, err := os.Stat(l.st.Socket); err != nil {
		return false, nil
	}
	c, err := l.Client(ctx)
	if err != nil {
		return false, err
	}
	_, err = c.Get(ctx, "ClusterInformation", "", "default")
	if errors.Is(err, datastore.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// nodeRegistered reports whether calico-node of host has registered its
// Node resource, the last of what it writes at start (after the defaults
// and its per-node FelixConfiguration).
func (l *Lab) nodeRegistered(host string) func(context.Context) (bool, error) {
	return func(ctx context.Context) (bool, error) {
		c, err := l.Client(ctx)
		if err != nil {
			return false, err
		}
		_, err = c.Get(ctx, "Node", "", host)
		if errors.Is(err, datastore.ErrNotFound) {
			return false, nil
		}
		return err == nil, err
	}
}

// createPools writes the lab's IP pools.
func (l *Lab) createPools(ctx context.Context) error {
	c, err := l.Client(ctx)
	if err != nil {
		return err
	}
	pools := [][2]string{{poolNameIPv4, PoolIPv4}}
	if l.st.IPv6 {
		pools = append(pools, [2]string{poolNameIPv6, PoolIPv6})
	}
	for _, p := range pools {
		pool := v3.NewIPPool()
		pool.Metadata.Name = p[0]
		pool.Spec.CIDR = p[1]
		pool.Spec.NodeSelector = "all()"
		if _, err := c.Apply(ctx, pool); err != nil {
			return fmt.Errorf("ip pool %s: %w", p[0], err)
		}
	}
	// The profile of the workloads' namespace, as Calico's Kubernetes
	// controllers write one per namespace: what the CNI plugin's
	// endpoints name (kns.<namespace>). It allows everything, as a
	// namespace without policy does.
	prof := v3.NewProfile()
	prof.Metadata.Name = "kns." + WorkloadNamespace
	prof.Spec.Ingress = []v3.Rule{{Action: v3.Allow}}
	prof.Spec.Egress = []v3.Rule{{Action: v3.Allow}}
	prof.Spec.LabelsToApply = map[string]string{"projectcalico.org/namespace": WorkloadNamespace}
	if _, err := c.Apply(ctx, prof); err != nil {
		return fmt.Errorf("profile %s: %w", prof.Metadata.Name, err)
	}
	return nil
}

// applyFelixConfiguration writes FelixConfiguration "default".
func (l *Lab) applyFelixConfiguration(ctx context.Context, spec *v3.FelixConfigurationSpec) error {
	c, err := l.Client(ctx)
	if err != nil {
		return err
	}
	fc := v3.NewFelixConfiguration()
	fc.Metadata.Name = "default"
	fc.Spec = *spec
	if _, err := c.Apply(ctx, fc); err != nil {
		return fmt.Errorf("felix configuration default: %w", err)
	}
	return nil
}

// WorkloadEndpoint returns the endpoint the lab writes for w, as a
// Kubernetes pod's endpoint: namespace "default", pod w.Name, endpoint
// eth0. Its profile is projectcalico-default-allow, so traffic flows
// until policy says otherwise.
func WorkloadEndpoint(w Workload) *v3.WorkloadEndpoint {
	wep := v3.NewWorkloadEndpoint()
	wep.Metadata.Namespace = WorkloadNamespace
	wep.Metadata.Name = w.Endpoint
	wep.Spec.Orchestrator = v3.OrchestratorKubernetes
	wep.Spec.Node = w.Host
	wep.Spec.Pod = w.Name
	wep.Spec.Endpoint = uplink
	wep.Spec.InterfaceName = w.Interface
	wep.Spec.MAC = w.MAC
	wep.Spec.Profiles = []string{v3.DefaultAllowProfileName}
	wep.Spec.IPNetworks = []string{prefix(w.IPv4, 32).String()}
	if w.IPv6.IsValid() {
		wep.Spec.IPNetworks = append(wep.Spec.IPNetworks, prefix(w.IPv6, 128).String())
	}
	return wep
}

// CreateEndpoint writes w's WorkloadEndpoint (create or replace) and
// records w in the lab.
func (l *Lab) CreateEndpoint(ctx context.Context, w Workload) error {
	c, err := l.Client(ctx)
	if err != nil {
		return err
	}
	if _, err := c.Apply(ctx, WorkloadEndpoint(w)); err != nil {
		return fmt.Errorf("%s: workload endpoint: %w", w.Name, err)
	}
	return l.record(func(s *state) { s.putWorkload(w) })
}

// DeleteEndpoint deletes w's WorkloadEndpoint; already gone is success.
func (l *Lab) DeleteEndpoint(ctx context.Context, w Workload) error {
	c, err := l.Client(ctx)
	if err != nil {
		return err
	}
	_, err = c.Delete(ctx, "WorkloadEndpoint", WorkloadNamespace, w.Endpoint, "")
	if err != nil && !errors.Is(err, datastore.ErrNotFound) {
		return fmt.Errorf("%s: delete workload endpoint: %w", w.Name, err)
	}
	return nil
}
