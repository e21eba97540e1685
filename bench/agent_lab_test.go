package bench

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/agent/config"
	"github.com/gocalico/calico/internal/datastore"
	"github.com/gocalico/calico/internal/lab"
	"github.com/gocalico/calico/internal/testenv"
)

// remoteEndpoints is how many WorkloadEndpoints of other nodes the agent
// benchmarks put in the datastore (the "10k remote").
const remoteEndpoints = 10_000

// Where calico-node serves health and metrics inside its host namespace
// (the defaults, loopback only; metrics are turned on by agentFelix).
const (
	healthURL  = "http://127.0.0.1:9099/readiness"
	metricsURL = "http://127.0.0.1:9091/metrics"
)

// agentFelix is FelixConfiguration "default" of every agent benchmark lab:
// upstream's defaults, plus the Prometheus endpoint for diagnostics.
func agentFelix() *v3.FelixConfigurationSpec {
	on := true
	return &v3.FelixConfigurationSpec{PrometheusMetricsEnabled: &on}
}

// requireLab skips b (fails it with CALICO_REQUIRE_PRIVILEGED=1) unless
// labs can be built: root, and calico-node and calicoctl built into
// <repo>/bin (or $CALICO_E2E_BIN). It returns that directory.
func requireLab(b *testing.B) string {
	b.Helper()
	testenv.RequireRoot(b, "builds labs of network namespaces")
	bin := os.Getenv("CALICO_E2E_BIN")
	if bin == "" {
		wd, err := os.Getwd()
		if err != nil {
			b.Fatal(err)
		}
		bin = filepath.Join(filepath.Dir(wd), "bin") // tests run in bench/
	}
	for _, name := range []string{"calico-node", "calicoctl"} {
		testenv.RequireTools(b, filepath.Join(bin, name))
	}
	return bin
}

var labSeq atomic.Int32

// agentLab is a one-host lab (IPv4 only) with local workloads on host1 and
// remoteEndpoints other nodes' endpoints in the datastore, instrumented
// from host1's namespace: route events, readiness and the agent's
// process counters.
type agentLab struct {
	*lab.Lab
	b      *testing.B
	ctx    context.Context
	be     datastore.Backend
	host   string
	nsName string // the host's namespace
	ns     *nsThread
	routes *routeWatch
}

// upLab brings up a lab for a benchmark (named bench<pid>-<n>, the
// project's binaries, IPv4 only and agentFelix unless cfg says otherwise)
// and registers its teardown, which also checks that no namespace of it
// is left and that the root namespace's links, routes and rules are as
// they were. Cleanups registered after it run before the teardown.
func upLab(b *testing.B, ctx context.Context, cfg lab.Config) *lab.Lab {
	b.Helper()
	bin := requireLab(b)
	removeStaleLabs(b)
	before, err := rootNetSnapshot()
	if err != nil {
		b.Fatal(err)
	}
	cfg.Name = fmt.Sprintf("bench%d-%d", os.Getpid(), labSeq.Add(1))
	cfg.Bin, cfg.NoIPv6 = bin, true
	if cfg.FelixConfiguration == nil {
		cfg.FelixConfiguration = agentFelix()
	}
	// For looking into a run (with CALICO_BENCH_LOGS); the numbers in
	// RESULTS.md are taken at the default, info.
	cfg.LogLevel = os.Getenv("CALICO_BENCH_LOG_LEVEL")
	start := time.Now()
	l, err := lab.Up(ctx, cfg, nil)
	if err != nil {
		b.Fatalf("lab up: %v", err)
	}
	b.Cleanup(func() {
		// Last-first: the lab's teardown runs before this check.
		after, err := rootNetSnapshot()
		if err != nil {
			b.Error(err)
		} else if !slices.Equal(before, after) {
			b.Errorf("the root network namespace changed:\nbefore %q\nafter  %q", before, after)
		}
	})
	b.Cleanup(func() {
		keepLogs(b, l)
		dctx, dcancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer dcancel()
		if err := l.Down(dctx); err != nil {
			b.Errorf("lab down: %v", err)
		}
		nss, _ := os.ReadDir("/run/netns")
		for _, ns := range nss {
			if strings.HasPrefix(ns.Name(), cfg.Name+"-") {
				b.Errorf("namespace %s left behind", ns.Name())
			}
		}
	})
	b.Logf("lab %s up (%d host(s), %d workload(s) each) in %v", cfg.Name, cfg.Hosts, cfg.WorkloadsPerHost, time.Since(start).Round(time.Millisecond))
	return l
}

// newAgentLab brings a one-host lab up with local workloads (see upLab)
// and loads the remote endpoints.
func newAgentLab(b *testing.B, local int) *agentLab {
	b.Helper()
	a := upAgentLab(b, local, 10*time.Minute)
	start := time.Now()
	load(b, a.be, remoteEndpoints)
	b.Logf("loaded %d remote WorkloadEndpoints in %v", remoteEndpoints, time.Since(start).Round(time.Millisecond))
	return a
}

// upAgentLab brings a one-host lab up with local workloads, a thread in
// the host's namespace and a watch on its routes, for at most timeout.
func upAgentLab(b *testing.B, local int, timeout time.Duration) *agentLab {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	b.Cleanup(cancel)
	// No BGP: one host has nobody to peer with, and upstream's figures
	// are Felix alone.
	l := upLab(b, ctx, lab.Config{Hosts: 1, WorkloadsPerHost: local, BGP: lab.BGPNone})
	a := &agentLab{Lab: l, b: b, ctx: ctx, host: lab.HostName(1)}
	b.Cleanup(func() {
		// Before the lab's teardown.
		if a.routes != nil {
			a.routes.close()
		}
		if a.ns != nil {
			a.ns.stop()
		}
	})
	var err error
	if a.be, err = l.Backend(ctx); err != nil {
		b.Fatal(err)
	}
	if a.nsName, err = l.Namespace(a.host); err != nil {
		b.Fatal(err)
	}
	if a.ns, err = startNSThread(a.nsName); err != nil {
		b.Fatal(err)
	}
	if a.routes, err = watchRoutes(a.ns); err != nil {
		b.Fatal(err)
	}
	return a
}

var (
	staleOnce sync.Once
	staleRE   = regexp.MustCompile(`^bench([0-9]+)-[0-9]+$`)
)

// removeStaleLabs takes down labs that an earlier benchmark process left
// behind (killed before its cleanup ran): those named bench<pid>-<n>
// whose process is gone.
func removeStaleLabs(b *testing.B) {
	staleOnce.Do(func() {
		names, err := lab.Names()
		if err != nil {
			b.Logf("looking for stale labs: %v", err)
			return
		}
		for _, name := range names {
			m := staleRE.FindStringSubmatch(name)
			if m == nil {
				continue
			}
			pid, _ := strconv.Atoi(m[1])
			if pid == os.Getpid() || !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			if _, err := lab.Destroy(ctx, name, nil); err != nil {
				b.Logf("removing stale lab %s: %v", name, err)
			} else {
				b.Logf("removed stale lab %s", name)
			}
			cancel()
		}
	})
}

// keepLogs copies the lab's logs to $CALICO_BENCH_LOGS/<lab>/, when set,
// before the lab goes (for looking at what the agent did).
func keepLogs(b *testing.B, l *lab.Lab) {
	dir := os.Getenv("CALICO_BENCH_LOGS")
	if dir == "" {
		return
	}
	src := filepath.Join(l.StateDir(), "logs")
	dst := filepath.Join(dir, l.Name())
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		b.Logf("keeping logs: %v", err)
		return
	}
	b.Logf("logs kept in %s", dst)
}

// localAddrs are the IPv4 addresses of host1's workloads.
func (a *agentLab) localAddrs() []netip.Addr {
	var out []netip.Addr
	for _, w := range a.Workloads() {
		if w.Host == a.host {
			out = append(out, w.IPv4)
		}
	}
	return out
}

// agentRoutes lists the IPv4 /32 destinations of the agent's routes
// (protocol 80, main table) in host1.
func (a *agentLab) agentRoutes() map[netip.Addr]bool {
	a.b.Helper()
	h, err := a.Handle(a.host)
	if err != nil {
		a.b.Fatal(err)
	}
	defer h.Close()
	rs, err := h.RouteListFiltered(netlink.FAMILY_V4,
		&netlink.Route{Table: unix.RT_TABLE_MAIN, Protocol: netlink.RouteProtocol(config.RouteProtocol)},
		netlink.RT_FILTER_TABLE|netlink.RT_FILTER_PROTOCOL)
	if err != nil {
		a.b.Fatalf("%s: route list: %v", a.host, err)
	}
	out := map[netip.Addr]bool{}
	for _, r := range rs {
		if r.Dst == nil {
			continue
		}
		if ones, _ := r.Dst.Mask.Size(); ones != 32 {
			continue
		}
		if ip, ok := netip.AddrFromSlice(r.Dst.IP); ok {
			out[ip.Unmap()] = true
		}
	}
	return out
}

// waitProgrammed waits until every local workload has its route and the
// agent reports ready.
func (a *agentLab) waitProgrammed(timeout time.Duration) {
	a.b.Helper()
	want := a.localAddrs()
	deadline := time.Now().Add(timeout)
	for {
		got := a.agentRoutes()
		missing := 0
		for _, ip := range want {
			if !got[ip] {
				missing++
			}
		}
		if missing == 0 && a.ready() {
			return
		}
		if time.Now().After(deadline) {
			a.b.Fatalf("%s: %d of %d routes missing (ready %v) after %v", a.host, missing, len(want), a.ready(), timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// flushAgentState deletes the agent's routes and permanent neighbour
// entries on workload interfaces in host1, as after a reboot (the
// interfaces and their sysctls stay).
func (a *agentLab) flushAgentState() {
	a.b.Helper()
	h, err := a.Handle(a.host)
	if err != nil {
		a.b.Fatal(err)
	}
	defer h.Close()
	rs, err := h.RouteListFiltered(netlink.FAMILY_ALL,
		&netlink.Route{Table: unix.RT_TABLE_MAIN, Protocol: netlink.RouteProtocol(config.RouteProtocol)},
		netlink.RT_FILTER_TABLE|netlink.RT_FILTER_PROTOCOL)
	if err != nil {
		a.b.Fatal(err)
	}
	for _, r := range rs {
		if err := h.RouteDel(&r); err != nil {
			a.b.Fatalf("%s: route del %v: %v", a.host, r.Dst, err)
		}
	}
	ifaces := map[int]bool{}
	links, err := h.LinkList()
	if err != nil {
		a.b.Fatal(err)
	}
	for _, l := range links {
		if strings.HasPrefix(l.Attrs().Name, "cali") {
			ifaces[l.Attrs().Index] = true
		}
	}
	ns, err := h.NeighList(0, netlink.FAMILY_ALL)
	if err != nil {
		a.b.Fatal(err)
	}
	for _, n := range ns {
		if ifaces[n.LinkIndex] && n.State&netlink.NUD_PERMANENT != 0 {
			if err := h.NeighDel(&n); err != nil {
				a.b.Fatalf("%s: neigh del %v: %v", a.host, n.IP, err)
			}
		}
	}
	if left := a.agentRoutes(); len(left) > 0 {
		a.b.Fatalf("%s: %d agent routes left after flushing", a.host, len(left))
	}
}

// nodePID is the PID of host1's calico-node.
func (a *agentLab) nodePID() int {
	h, _ := a.Host(a.host)
	return h.Node.PID
}

// restartNode stops host1's calico-node with SIGTERM and starts it again,
// returning the time just before the start.
func (a *agentLab) restartNode(between func()) time.Time {
	a.b.Helper()
	if err := a.StopNode(a.ctx, a.host, syscall.SIGTERM); err != nil {
		a.b.Fatal(err)
	}
	if between != nil {
		between()
	}
	t0 := time.Now()
	if err := a.StartNode(a.ctx, a.host); err != nil {
		a.b.Fatal(err)
	}
	return t0
}

// storedEndpoint returns w's WorkloadEndpoint as the datastore client
// would store it (defaulted, validated, uid and creation time set) and
// its key, so that a benchmark's timed write is the etcd write alone.
func storedEndpoint(b *testing.B, w lab.Workload) (string, []byte) {
	return stored(b, lab.WorkloadEndpoint(w))
}

// rootNetSnapshot lists the root namespace's links, routes (every table)
// and rules, read over netlink from this process's own namespace: a
// thread that enters a lab namespace stays locked to its goroutine and
// ends with it, so every other goroutine runs in the root namespace.
func rootNetSnapshot() ([]string, error) {
	var out []string
	links, err := netlink.LinkList()
	if err != nil {
		return nil, fmt.Errorf("root namespace: links: %w", err)
	}
	for _, l := range links {
		out = append(out, "link "+l.Attrs().Name)
	}
	routes, err := netlink.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, fmt.Errorf("root namespace: routes: %w", err)
	}
	for _, r := range routes {
		out = append(out, fmt.Sprintf("route %v dev %d table %d proto %d", r.Dst, r.LinkIndex, r.Table, r.Protocol))
	}
	rules, err := netlink.RuleList(netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("root namespace: rules: %w", err)
	}
	for _, r := range rules {
		out = append(out, "rule "+r.String())
	}
	slices.Sort(out)
	return out, nil
}
