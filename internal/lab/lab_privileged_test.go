package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gocalico/calico/internal/testenv"
)

func TestMain(m *testing.M) {
	if os.Geteuid() == 0 {
		sweepStaleTestLabs()
	}
	os.Exit(m.Run())
}

var testLabName = regexp.MustCompile(`^labt([0-9]+)-[a-z]$`)

// sweepStaleTestLabs removes labs left by a run of these tests that was
// killed (its PID is in the lab's name and no longer runs lab.test).
func sweepStaleTestLabs() {
	names, _ := Names()
	for _, name := range names {
		m := testLabName.FindStringSubmatch(name)
		if m == nil {
			continue
		}
		if comm, err := os.ReadFile("/proc/" + m[1] + "/comm"); err == nil && strings.TrimSpace(string(comm)) == "lab.test" {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		_, _ = Destroy(ctx, name, os.Stderr)
		cancel()
	}
}

// repoBin is <repository root>/bin, where `make build` puts calico-node
// and calicoctl.
func repoBin(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "bin")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test directory")
		}
		dir = parent
	}
}

// requireLab skips (fails with CALICO_REQUIRE_PRIVILEGED=1) unless the
// test can build a real lab.
func requireLab(t *testing.T) string {
	t.Helper()
	testenv.RequireRoot(t, "creates network namespaces")
	bin := repoBin(t)
	for _, b := range []string{"calico-node", "calicoctl"} {
		testenv.RequireFile(t, filepath.Join(bin, b), "run make build first")
	}
	return bin
}

func testName(t *testing.T, suffix string) string {
	name := fmt.Sprintf("labt%d-%s", os.Getpid(), suffix)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := Destroy(ctx, name, nil); err != nil {
			t.Errorf("cleanup of lab %s: %v", name, err)
		}
	})
	return name
}

// assertGone checks that nothing of the lab is left.
func assertGone(t *testing.T, name string, procs []Process) {
	t.Helper()
	if nss, err := ownedNamespaces(name); err != nil || len(nss) > 0 {
		t.Errorf("namespaces left: %v (%v)", nss, err)
	}
	if _, err := os.Stat(defaultDir(name)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state directory %s left (%v)", defaultDir(name), err)
	}
	l := newLab(&state{Name: name}, nil)
	for _, p := range procs {
		if l.alive(p) {
			t.Errorf("process %d (%v) still running", p.PID, p.Argv)
		}
	}
}

func TestPrivilegedUpDown(t *testing.T) {
	bin := requireLab(t)
	name := testName(t, "a")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	var progress bytes.Buffer
	l, err := Up(ctx, Config{Name: name, Hosts: 1, WorkloadsPerHost: 2, Bin: bin}, &progress)
	if err != nil {
		t.Fatalf("Up: %v\n%s", err, progress.String())
	}
	for _, want := range []string{"fabric " + name + "-fabric", "datastore:", "host host1:", "workload host1-w2:", "calico-node running", "up: 1 host(s), 2 workload(s)"} {
		if !strings.Contains(progress.String(), want) {
			t.Errorf("progress lacks %q:\n%s", want, progress.String())
		}
	}
	st := l.Status()
	if !st.Healthy() {
		var b bytes.Buffer
		_ = st.Write(&b)
		t.Fatalf("not healthy:\n%s", b.String())
	}
	procs := []Process{st.Datastore.Process, st.Hosts[0].Node}

	// A second Up of the same name refuses while this one runs.
	if _, err := Up(ctx, Config{Name: name, Hosts: 1, Bin: bin}, nil); !errors.Is(err, ErrExists) {
		t.Errorf("second Up = %v, want ErrExists", err)
	}

	// Another invocation finds it from the state file.
	l2, err := Load(name)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(l2.Workloads()); got != 2 {
		t.Errorf("loaded lab has %d workloads, want 2", got)
	}

	// exec sets the datastore environment: calicoctl sees the endpoints.
	var out, errOut bytes.Buffer
	if err := l2.Exec(ctx, "host1", []string{"calicoctl", "get", "workloadendpoints", "-A", "-o", "name"}, Stdio{Stdout: &out, Stderr: &errOut}); err != nil {
		t.Fatalf("exec calicoctl: %v\n%s", err, errOut.String())
	}
	for _, w := range l2.Workloads() {
		if !strings.Contains(out.String(), w.Endpoint) {
			t.Errorf("calicoctl get workloadendpoints lacks %s:\n%s", w.Endpoint, out.String())
		}
	}
	// calico-node registered its Node with the host's fabric addresses.
	out.Reset()
	if err := l2.Exec(ctx, "host1", []string{"calicoctl", "get", "node", "host1", "-o", "yaml"}, Stdio{Stdout: &out, Stderr: &out}); err != nil {
		t.Fatalf("calicoctl get node host1: %v\n%s", err, out.String())
	}
	for _, want := range []string{"ipv4Address: 10.99.0.1/24", "ipv6Address: fd00:99::1/64"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("node host1 lacks %q:\n%s", want, out.String())
		}
	}
	// The workload is plumbed as a CNI plugin would.
	w, _ := l2.Workload("host1-w1")
	out.Reset()
	if err := l2.Exec(ctx, w.Name, []string{"ip", "-o", "link", "show", "eth0"}, Stdio{Stdout: &out}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), w.MAC) {
		t.Errorf("workload eth0 lacks MAC %s: %s", w.MAC, out.String())
	}
	out.Reset()
	if err := l2.Exec(ctx, "host1", []string{"ip", "-o", "link", "show", w.Interface}, Stdio{Stdout: &out}); err != nil {
		t.Fatalf("host end %s: %v", w.Interface, err)
	}
	if !strings.Contains(out.String(), "ee:ee:ee:ee:ee:ee") {
		t.Errorf("host end lacks MAC ee:ee:ee:ee:ee:ee: %s", out.String())
	}

	// The matrix has every ordered pair, with both families (whether
	// they reach depends on the agent, tested in test/e2e).
	pairs, err := l2.Matrix(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pairs) != 2 || pairs[0].From != "host1-w1" || pairs[0].To != "host1-w2" || len(pairs[0].Families) != 2 {
		t.Errorf("matrix = %+v, want host1-w1->host1-w2 and back, two families each", pairs)
	}

	if err := l2.Down(ctx); err != nil {
		t.Fatalf("Down: %v", err)
	}
	_ = l.Close()
	assertGone(t, name, procs)
}

// A lab whose processes died (a crash, a reboot of the test) is stale: Up
// of the same name removes it and starts afresh.
func TestPrivilegedUpReplacesStaleLab(t *testing.T) {
	bin := requireLab(t)
	name := testName(t, "b")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	l, err := Up(ctx, Config{Name: name, Hosts: 1, WorkloadsPerHost: 1, Bin: bin, NoIPv6: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	st := l.Status()
	for _, p := range []Process{st.Hosts[0].Node, st.Datastore.Process} {
		if err := l.signal(p, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		if err := l.waitExit(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	_ = l.Close()
	var progress bytes.Buffer
	l2, err := Up(ctx, Config{Name: name, Hosts: 1, WorkloadsPerHost: 1, Bin: bin, NoIPv6: true}, &progress)
	if err != nil {
		t.Fatalf("Up over a stale lab: %v\n%s", err, progress.String())
	}
	if !strings.Contains(progress.String(), "removing the previous lab") {
		t.Errorf("progress does not say the stale lab was removed:\n%s", progress.String())
	}
	if w, _ := l2.Workload("host1-w1"); w.IPv6.IsValid() {
		t.Errorf("IPv4-only lab gave %s an IPv6 address", w.Name)
	}
	if err := l2.Down(ctx); err != nil {
		t.Fatal(err)
	}
	assertGone(t, name, nil)
}

// When a step fails, Up removes everything it made.
func TestPrivilegedUpFailureCleansUp(t *testing.T) {
	requireLab(t)
	bin := t.TempDir()
	for _, b := range []string{"calico-node", "calicoctl"} {
		if err := os.WriteFile(filepath.Join(bin, b), []byte("#!/bin/sh\necho broken on purpose >&2\nexit 3\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	name := testName(t, "c")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := Up(ctx, Config{Name: name, Hosts: 1, WorkloadsPerHost: 1, Bin: bin}, nil)
	if err == nil || !strings.Contains(err.Error(), "broken on purpose") {
		t.Fatalf("Up with a broken calico-node = %v, want an error quoting its log", err)
	}
	assertGone(t, name, nil)
}

// Up returns only once the lab is ready: right after it, every workload
// reaches every other, across hosts too (BGP converged, the CNI plugin's
// blocks announced), at the first try.
func TestPrivilegedUpReturnsReady(t *testing.T) {
	bin := requireLab(t)
	name := testName(t, "d")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var progress bytes.Buffer
	l, err := Up(ctx, Config{Name: name, Hosts: 3, WorkloadsPerHost: 2, CNI: true, Bin: bin}, &progress)
	if err != nil {
		t.Fatalf("Up: %v\n%s", err, progress.String())
	}
	defer l.Close()
	pairs, err := l.Matrix(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var missed []string
	for _, p := range pairs {
		if !p.Reached {
			missed = append(missed, fmt.Sprintf("%s->%s %v", p.From, p.To, p.Families))
		}
	}
	if len(pairs) != 30 || len(missed) > 0 {
		t.Errorf("matrix right after Up: %d of %d pairs reached; missed %s\n%s", len(pairs)-len(missed), len(pairs), strings.Join(missed, ", "), progress.String())
	}
	if !strings.Contains(progress.String(), "ready after") {
		t.Errorf("progress does not say the lab got ready:\n%s", progress.String())
	}
}

// The datastore can be stopped and started under a running lab, and an
// etcd cluster's members one by one: a killed member's stale socket does
// not stop it from starting again, and it catches up.
func TestPrivilegedDatastoreStopStart(t *testing.T) {
	bin := requireLab(t)
	for _, tc := range []struct {
		name    string
		members int
	}{
		{"embedded", 0},
		{"etcd cluster", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.members > 0 {
				testenv.RequireTools(t, EtcdServerBin)
			}
			name := testName(t, "e")
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
			defer cancel()
			var progress bytes.Buffer
			l, err := Up(ctx, Config{Name: name, Hosts: 1, WorkloadsPerHost: 1, Bin: bin, NoIPv6: true, EtcdCluster: tc.members}, &progress)
			if err != nil {
				t.Fatalf("Up: %v\n%s", err, progress.String())
			}
			defer l.Close()
			calicoctl := func(args ...string) (string, error) {
				var out bytes.Buffer
				err := l.Exec(ctx, "host1", append([]string{"calicoctl"}, args...), Stdio{Stdout: &out, Stderr: &out})
				return out.String(), err
			}
			if out, err := calicoctl("get", "ippools", "-o", "name"); err != nil || !strings.Contains(out, poolNameIPv4) {
				t.Fatalf("calicoctl get ippools: %v\n%s", err, out)
			}
			if err := l.StopDatastore(ctx, syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if l.DatastoreRunning() || l.Status().Healthy() {
				t.Errorf("datastore stopped, but DatastoreRunning %v, Healthy %v", l.DatastoreRunning(), l.Status().Healthy())
			}
			// Its hosts run on: a running lab, not a stale one.
			if _, err := Up(ctx, Config{Name: name, Hosts: 1, Bin: bin}, nil); !errors.Is(err, ErrExists) {
				t.Errorf("Up of a lab whose datastore is stopped = %v, want ErrExists", err)
			}
			if err := l.StartDatastore(ctx); err != nil {
				t.Fatalf("StartDatastore: %v", err)
			}
			if out, err := calicoctl("get", "ippools", "-o", "name"); err != nil || !strings.Contains(out, poolNameIPv4) {
				t.Fatalf("calicoctl get ippools after the restart: %v\n%s", err, out)
			}
			if tc.members == 0 {
				return
			}
			leader, err := l.EtcdLeader(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := l.StopEtcdMember(ctx, leader, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			// Written through the others while it is away.
			if out, err := calicoctl("patch", "ippool", poolNameIPv4, "-p", `{"metadata":{"labels":{"while":"member-killed"}}}`); err != nil {
				t.Fatalf("calicoctl with member %d killed: %v\n%s", leader, err, out)
			}
			if err := l.StartEtcdMember(ctx, leader); err != nil {
				t.Fatalf("StartEtcdMember %d: %v", leader, err)
			}
			var revs []int64
			for _, m := range l.EtcdMembers() {
				st, err := l.EtcdMemberStatus(ctx, m.Index)
				if err != nil {
					t.Fatal(err)
				}
				revs = append(revs, st.Revision)
			}
			if revs[leader-1] != slices.Max(revs) {
				t.Errorf("restarted member %d at revision %d, the others %v", leader, revs[leader-1], revs)
			}
		})
	}
}
