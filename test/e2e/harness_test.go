package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/lab"
	"github.com/gocalico/calico/internal/testenv"
)

// Timings the tests give the lab's FelixConfiguration. Waits are bounded
// generously (a shared 2-core machine); nothing asserts on a duration.
const (
	routeRefresh      = 2 * time.Second
	reportingInterval = time.Second
	reportingTTL      = 10 * time.Second
	// converge bounds waiting for the agent to program something.
	converge = 30 * time.Second
)

// e2eFelix is the FelixConfiguration "default" of every e2e lab.
func e2eFelix() *v3.FelixConfigurationSpec {
	return &v3.FelixConfigurationSpec{
		RouteRefreshInterval: v3.NewDuration(routeRefresh),
		ReportingInterval:    v3.NewDuration(reportingInterval),
		ReportingTTL:         v3.NewDuration(reportingTTL),
		LogSeverityScreen:    "Info",
	}
}

// repoRoot is the directory holding go.mod, above the test's directory.
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test directory")
		}
		dir = parent
	}
}

// requirePrivileged skips the test (fails it with
// CALICO_REQUIRE_PRIVILEGED=1) unless it can build labs, and returns the
// directory of calico-node and calicoctl: $CALICO_E2E_BIN, or <repo>/bin
// where make build puts them.
func requirePrivileged(t testing.TB) string {
	t.Helper()
	testenv.RequireRoot(t, "builds labs of network namespaces")
	bin := os.Getenv("CALICO_E2E_BIN")
	if bin == "" {
		bin = filepath.Join(repoRoot(t), "bin")
	}
	for _, b := range []string{"calico-node", "calicoctl"} {
		testenv.RequireFile(t, filepath.Join(bin, b), "run make build (make test-e2e does)")
	}
	return bin
}

var labCounter atomic.Int32

// uniqueName is a lab name no other test or run uses: e2e<pid>-<n>.
func uniqueName() string {
	return fmt.Sprintf("e2e%d-%d", os.Getpid(), labCounter.Add(1))
}

// logWriter sends progress lines to t.Log.
type logWriter struct {
	t   testing.TB
	mu  sync.Mutex
	buf []byte
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		w.t.Log(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
}

// testLab is a lab owned by one test.
type testLab struct {
	*lab.Lab
	t   *testing.T
	ctx context.Context
}

// newLab brings up a lab for t (cfg.Name and cfg.Bin are filled in; the
// FelixConfiguration defaults to e2eFelix) and registers its teardown,
// which also checks that nothing is left and that the root namespace is
// as it was.
func newLab(t *testing.T, cfg lab.Config) *testLab {
	t.Helper()
	bin := requirePrivileged(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)

	before, err := takeRootSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Name, cfg.Bin = uniqueName(), bin
	if cfg.FelixConfiguration == nil {
		cfg.FelixConfiguration = e2eFelix()
	}
	l, err := lab.Up(ctx, cfg, &logWriter{t: t})
	t.Cleanup(func() {
		// Runs after the lab's teardown below (cleanups run last-first).
		after, err := takeRootSnapshot()
		if err != nil {
			t.Error(err)
		} else if diff := cmp.Diff(before, after); diff != "" {
			t.Errorf("the root network namespace changed (-before +after):\n%s", diff)
		}
	})
	if err != nil {
		t.Fatalf("lab up: %v", err)
	}
	tl := &testLab{Lab: l, t: t, ctx: ctx}
	t.Cleanup(func() {
		if t.Failed() {
			tl.dumpDiagnostics()
		}
		st := l.Status()
		dctx, dcancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer dcancel()
		if err := l.Down(dctx); err != nil {
			t.Errorf("lab down: %v", err)
		}
		assertLabGone(t, st)
	})
	return tl
}

// assertLabGone checks that a taken-down lab left no namespace, process
// or file behind.
func assertLabGone(t *testing.T, st lab.Status) {
	t.Helper()
	nss, _ := os.ReadDir("/run/netns")
	for _, ns := range nss {
		if strings.HasPrefix(ns.Name(), st.Name+"-") {
			t.Errorf("namespace %s left behind", ns.Name())
		}
	}
	for _, dir := range []string{st.StateDir, filepath.Join(lab.RunDir, st.Name)} {
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left behind (%v)", dir, err)
		}
	}
	procs := []lab.Process{st.Datastore.Process}
	for _, m := range st.Etcd {
		procs = append(procs, m.Process)
	}
	for _, h := range st.Hosts {
		procs = append(procs, h.Node)
	}
	for _, p := range procs {
		if p.PID > 0 && processIs(p) {
			t.Errorf("process %d (%v) still running", p.PID, p.Argv)
		}
	}
}

// processIs reports whether p's PID still runs the same process (same
// start time) and is no zombie.
func processIs(p lab.Process) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.PID))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	return len(f) > 19 && f[0] != "Z" && f[19] == fmt.Sprint(p.StartTime)
}

// dumpDiagnostics logs what helps explain a failure: the kernel state of
// each host and the end of each calico-node log.
func (l *testLab) dumpDiagnostics() {
	for _, h := range l.Hosts() {
		for _, argv := range [][]string{{"ip", "-d", "link"}, {"ip", "route"}, {"ip", "-6", "route"}, {"ip", "neigh"}} {
			var out bytes.Buffer
			_ = l.Exec(context.Background(), h.Name, argv, lab.Stdio{Stdout: &out, Stderr: &out})
			l.t.Logf("%s: %s:\n%s", h.Name, strings.Join(argv, " "), out.String())
		}
		b, _ := os.ReadFile(filepath.Join(l.StateDir(), "logs", h.Name+".log"))
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) > 60 {
			lines = lines[len(lines)-60:]
		}
		l.t.Logf("%s: end of calico-node log:\n%s", h.Name, strings.Join(lines, "\n"))
	}
}

func (l *testLab) workload(name string) lab.Workload {
	l.t.Helper()
	w, ok := l.Workload(name)
	if !ok {
		l.t.Fatalf("no workload %s", name)
	}
	return w
}

// eventually polls cond every 100ms until it returns true or timeout
// passes; then the test fails with cond's last explanation.
func (l *testLab) eventually(timeout time.Duration, what string, cond func() (bool, string)) time.Duration {
	l.t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		ok, why := cond()
		if ok {
			return time.Since(start)
		}
		if time.Now().After(deadline) || l.ctx.Err() != nil {
			l.t.Fatalf("%s: not within %v: %s", what, timeout, why)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ping reports whether to answers from inside from's namespace.
func (l *testLab) ping(from string, to netip.Addr) bool {
	l.t.Helper()
	ok, err := l.Ping(l.ctx, from, to, time.Second)
	if err != nil {
		l.t.Fatal(err)
	}
	return ok
}

// waitReach waits until from reaches every address in to.
func (l *testLab) waitReach(from string, to ...netip.Addr) {
	l.t.Helper()
	for _, a := range to {
		d := l.eventually(converge, fmt.Sprintf("%s reaches %s", from, a), func() (bool, string) {
			return l.ping(from, a), "no answer to ping"
		})
		l.t.Logf("%s reaches %s (after %v)", from, a, d.Round(time.Millisecond))
	}
}

// hostAddrs is the host's fabric addresses.
func (l *testLab) hostAddrs(host string) []netip.Addr {
	h, _ := l.Host(host)
	out := []netip.Addr{h.IPv4}
	if h.IPv6.IsValid() {
		out = append(out, h.IPv6)
	}
	return out
}

// routesTo lists the routes in host's main table whose destination is
// exactly a (as /32 or /128).
func (l *testLab) routesTo(host string, a netip.Addr) []netlink.Route {
	l.t.Helper()
	h, err := l.Handle(host)
	if err != nil {
		l.t.Fatal(err)
	}
	defer h.Close()
	fam := netlink.FAMILY_V4
	if a.Is6() {
		fam = netlink.FAMILY_V6
	}
	dst := &net.IPNet{IP: net.IP(a.AsSlice()), Mask: net.CIDRMask(a.BitLen(), a.BitLen())}
	rs, err := h.RouteListFiltered(fam, &netlink.Route{Dst: dst, Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_DST|netlink.RT_FILTER_TABLE)
	if err != nil {
		l.t.Fatalf("%s: route list %s: %v", host, a, err)
	}
	return rs
}

// workloadRoute returns the route to w's address a through w's interface.
func (l *testLab) workloadRoute(w lab.Workload, a netip.Addr) (netlink.Route, bool) {
	l.t.Helper()
	h, err := l.Handle(w.Host)
	if err != nil {
		l.t.Fatal(err)
	}
	defer h.Close()
	link, err := h.LinkByName(w.Interface)
	if err != nil {
		return netlink.Route{}, false
	}
	for _, r := range l.routesTo(w.Host, a) {
		if r.LinkIndex == link.Attrs().Index {
			return r, true
		}
	}
	return netlink.Route{}, false
}

// permanentNeighbours lists the permanent neighbour entries on w's
// interface in its host.
func (l *testLab) permanentNeighbours(w lab.Workload) []string {
	l.t.Helper()
	h, err := l.Handle(w.Host)
	if err != nil {
		l.t.Fatal(err)
	}
	defer h.Close()
	var out []string
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		ns, err := h.NeighList(0, fam)
		if err != nil {
			l.t.Fatal(err)
		}
		for _, n := range ns {
			link, err := h.LinkByIndex(n.LinkIndex)
			if err == nil && link.Attrs().Name == w.Interface && n.State&netlink.NUD_PERMANENT != 0 {
				out = append(out, n.IP.String()+" "+n.HardwareAddr.String())
			}
		}
	}
	return out
}

// exec runs argv in target and returns its combined output, failing the
// test on a non-zero exit.
func (l *testLab) exec(target string, argv ...string) string {
	l.t.Helper()
	var out bytes.Buffer
	if err := l.Exec(l.ctx, target, argv, lab.Stdio{Stdout: &out, Stderr: &out}); err != nil {
		l.t.Fatalf("%s: %s: %v\n%s", target, strings.Join(argv, " "), err, out.String())
	}
	return out.String()
}
