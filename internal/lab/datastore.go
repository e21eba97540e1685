package lab

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/datastore"
	"github.com/gocalico/calico/internal/resources"
)

// Endpoints is the datastore endpoint every lab process uses:
// "unix:///run/calico-lab/<name>/etcd.sock", or with an etcd cluster
// every member's socket, comma separated.
func (l *Lab) Endpoints() string { return strings.Join(l.endpoints(), ",") }

func (l *Lab) endpoints() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.st.Etcd) == 0 {
		return []string{"unix://" + l.st.Socket}
	}
	var eps []string
	for _, m := range l.st.Etcd {
		eps = append(eps, m.Endpoint())
	}
	return eps
}

// Backend returns a connection to the lab's datastore (over its unix
// socket, so it works from the root namespace too). The Lab owns it:
// Close or Down closes it.
func (l *Lab) Backend(ctx context.Context) (datastore.Backend, error) {
	eps := l.endpoints()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.be != nil {
		return l.be, nil
	}
	be, err := datastore.NewEtcd(ctx, datastore.Config{
		Endpoints:   eps,
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

// datastoreReady reports whether the embedded datastore answers and
// holds the cluster defaults the datastore process creates.
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

// StartDatastore starts the lab's datastore, the embedded one or every
// etcd member not running, and waits until it answers.
func (l *Lab) StartDatastore(ctx context.Context) error {
	if len(l.EtcdMembers()) > 0 {
		return l.startEtcdCluster(ctx)
	}
	return l.startEmbedded(ctx)
}

// StopDatastore stops the lab's datastore, the embedded one or every etcd
// member, with sig (SIGTERM or SIGKILL), and waits until it has exited.
// Everything else keeps running: the hosts' calico-nodes carry on without
// it. A datastore not running is success.
func (l *Lab) StopDatastore(ctx context.Context, sig syscall.Signal) error {
	if ms := l.EtcdMembers(); len(ms) > 0 {
		var errs []error
		for _, m := range ms {
			errs = append(errs, l.StopEtcdMember(ctx, m.Index, sig))
		}
		return errors.Join(errs...)
	}
	p := l.snapshot().Datastore
	if err := l.signal(p, sig); err != nil {
		return fmt.Errorf("datastore: %w", err)
	}
	if err := l.waitExit(ctx, p); err != nil {
		return fmt.Errorf("datastore: %w", err)
	}
	l.step("datastore stopped (%v)", sig)
	return l.record(func(s *state) { s.Datastore = Process{} })
}

// DatastoreRunning reports whether the datastore runs: the embedded
// one, or every etcd member.
func (l *Lab) DatastoreRunning() bool {
	st := l.snapshot()
	if len(st.Etcd) == 0 {
		return l.alive(st.Datastore)
	}
	for _, m := range st.Etcd {
		if !l.alive(m.Process) {
			return false
		}
	}
	return true
}

// anyAlive reports whether any process of st still runs: the lab is up
// (its datastore may have been stopped on purpose), not stale.
func (l *Lab) anyAlive(st *state) bool {
	procs := []Process{st.Datastore}
	for _, m := range st.Etcd {
		procs = append(procs, m.Process)
	}
	for _, h := range st.Hosts {
		procs = append(procs, h.Node)
	}
	if st.Router != nil {
		procs = append(procs, st.Router.Zebra, st.Router.BGPD)
	}
	for _, p := range procs {
		if l.alive(p) {
			return true
		}
	}
	return false
}

// startEmbedded starts the embedded datastore (calico-node
// --datastore-only) in the fabric namespace and waits until it answers.
func (l *Lab) startEmbedded(ctx context.Context) error {
	st := l.snapshot()
	if l.alive(st.Datastore) {
		return fmt.Errorf("datastore already running (pid %d)", st.Datastore.PID)
	}
	argv := []string{filepath.Join(st.Bin, "calico-node"), "--datastore-only",
		"--embedded-etcd", filepath.Join(st.StateDir, "etcd"),
		"--embedded-etcd-socket", st.Socket,
		"--embedded-etcd-listen", "",
		"--log-level", st.LogLevel}
	// The lab makes its own pools: none of calico-node's defaults.
	p, err := l.startProcess(st.Fabric.Namespace, argv, l.env("NO_DEFAULT_POOLS=true"), filepath.Join(st.StateDir, "logs", "datastore.log"))
	if err != nil {
		return fmt.Errorf("datastore: %w", err)
	}
	if err := l.record(func(s *state) { s.Datastore = p }); err != nil {
		return err
	}
	if err := l.waitFor(ctx, p, "datastore", l.startTimeout, l.datastoreReady); err != nil {
		return err
	}
	l.step("datastore: calico-node --datastore-only in %s (pid %d), %s", st.Fabric.Namespace, p.PID, l.Endpoints())
	return nil
}

// initCluster creates in a fresh etcd cluster what calico-node
// --datastore-only creates in the embedded one: the cluster-wide
// defaults (ClusterInformation, the default tiers), no pools.
func (l *Lab) initCluster(ctx context.Context) error {
	c, err := l.Client(ctx)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, l.startTimeout)
	defer cancel()
	if err := c.EnsureInitialized(cctx, ""); err != nil {
		return fmt.Errorf("etcd cluster: creating the cluster defaults: %w", err)
	}
	return nil
}
