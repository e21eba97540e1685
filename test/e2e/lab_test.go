package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/lab"
)

var (
	buildOnce sync.Once
	labBinary string
	buildErr  error
)

// calicoLab builds cmd/calico-lab once per run into a temporary
// directory (the Makefile builds only calico-node and calicoctl).
func calicoLab(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "calico-lab-e2e")
		if err != nil {
			buildErr = err
			return
		}
		goBin := "go"
		if _, err := exec.LookPath("go"); err != nil {
			goBin = "/usr/local/go/bin/go"
		}
		cmd := exec.Command(goBin, "build", "-o", dir+"/", "./cmd/calico-lab")
		cmd.Dir = repoRoot(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = errors.New("go build ./cmd/calico-lab: " + err.Error() + "\n" + string(out))
			return
		}
		labBinary = filepath.Join(dir, "calico-lab")
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return labBinary
}

// runLab runs the calico-lab binary and returns stdout, stderr and the
// exit status.
func runLab(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, calicoLab(t), args...)
	cmd.Dir = t.TempDir() // no ./bin here: binaries come from --bin
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("calico-lab %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errOut.String(), code
}

// The calico-lab command through a lab's whole life: up, status, exec,
// matrix --json, down; then nothing is left, and the commands say so.
func TestPrivilegedLabCommandLifecycle(t *testing.T) {
	bin := requirePrivileged(t)
	name := uniqueName()
	before, err := takeRootSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, _ = lab.Destroy(ctx, name, nil)
	})
	must := func(args ...string) string {
		t.Helper()
		out, errOut, code := runLab(t, args...)
		if code != 0 {
			t.Fatalf("calico-lab %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
		}
		return out
	}

	out := must("up", "--name", name, "--hosts", "1", "--workloads", "2", "--bin", bin)
	for _, want := range []string{"datastore:", "host host1:", "workload host1-w1:", "workload host1-w2:", "calico-node running", "up: 1 host(s), 2 workload(s)"} {
		if !strings.Contains(out, want) {
			t.Errorf("up output lacks %q:\n%s", want, out)
		}
	}
	l, err := lab.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	st := l.Status()

	out = must("status", "--name", name)
	for _, want := range []string{"lab " + name, "host1", "host1-w1", "host1-w2", "running (pid"} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}

	// exec sets ETCD_ENDPOINTS: calicoctl reads the lab's datastore.
	out = must("exec", "--name", name, "host1", "--", "calicoctl", "get", "workloadendpoints", "-A", "-o", "name")
	for _, w := range l.Workloads() {
		if !strings.Contains(out, w.Endpoint) {
			t.Errorf("calicoctl in the lab lacks %s:\n%s", w.Endpoint, out)
		}
	}
	// The command's exit status is exec's.
	if _, _, code := runLab(t, "exec", "--name", name, "host1-w1", "--", "sh", "-c", "exit 7"); code != 7 {
		t.Errorf("exec of `exit 7` exited %d, want 7", code)
	}
	if _, errOut, code := runLab(t, "exec", "--name", name, "host9", "--", "true"); code == 0 || !strings.Contains(errOut, `no target "host9"`) {
		t.Errorf("exec on a missing target: exit %d, %q", code, errOut)
	}

	// matrix --json: one object per ordered pair with from, to, reached;
	// exit 0 exactly when all reached.
	out, errOut, code := runLab(t, "matrix", "--name", name, "--json")
	var pairs []map[string]any
	if err := json.Unmarshal([]byte(out), &pairs); err != nil {
		t.Fatalf("matrix --json: %v\n%s%s", err, out, errOut)
	}
	var got [][2]string
	all := true
	for _, p := range pairs {
		reached, ok := p["reached"].(bool)
		if !ok {
			t.Errorf("pair %v: reached is not a boolean", p)
		}
		all = all && reached
		from, _ := p["from"].(string)
		to, _ := p["to"].(string)
		got = append(got, [2]string{from, to})
	}
	if diff := cmp.Diff([][2]string{{"host1-w1", "host1-w2"}, {"host1-w2", "host1-w1"}}, got); diff != "" {
		t.Errorf("matrix pairs (-want +got):\n%s", diff)
	}
	if all != (code == 0) {
		t.Errorf("matrix exit %d with every pair reached = %v", code, all)
	}
	out, _, _ = runLab(t, "matrix", "--name", name)
	if !strings.Contains(out, "FROM \\ TO") || !strings.Contains(out, "pairs reached") {
		t.Errorf("matrix table:\n%s", out)
	}

	must("down", "--name", name)
	assertLabGone(t, st)
	if _, errOut, code := runLab(t, "down", "--name", name); code == 0 || !strings.Contains(errOut, "no lab named") {
		t.Errorf("down of a missing lab: exit %d, %q", code, errOut)
	}
	if _, errOut, code := runLab(t, "status", "--name", name); code == 0 || !strings.Contains(errOut, "no lab named") {
		t.Errorf("status of a missing lab: exit %d, %q", code, errOut)
	}
	after, err := takeRootSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("the root network namespace changed (-before +after):\n%s", diff)
	}
}

// Bad command lines fail with a message saying what to do.
func TestPrivilegedLabCommandErrors(t *testing.T) {
	requirePrivileged(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"up", "--name", uniqueName(), "--bin", "/nonexistent"}, "calico-node and calicoctl are not both there"},
		{[]string{"up", "--name", "Bad_Name"}, `lab name "Bad_Name"`},
		{[]string{"up", "--name", uniqueName(), "--hosts", "0", "--bin", filepath.Join(repoRoot(t), "bin")}, "hosts 0"},
		{[]string{"exec", "--name", uniqueName(), "host1"}, "no command"},
	} {
		_, errOut, code := runLab(t, tc.args...)
		if code == 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("calico-lab %s: exit %d, stderr %q, want an error containing %q", strings.Join(tc.args, " "), code, errOut, tc.want)
		}
	}
}

// Two labs run at once, with the same addresses, each with its own
// datastore; taking one down leaves the other working.
func TestPrivilegedTwoLabsAtOnce(t *testing.T) {
	a := newLab(t, lab.Config{Hosts: 1, WorkloadsPerHost: 2})
	b := newLab(t, lab.Config{Hosts: 1, WorkloadsPerHost: 2})
	if a.Endpoints() == b.Endpoints() {
		t.Fatalf("both labs use datastore %s", a.Endpoints())
	}
	wa, wb := a.workload("host1-w1"), b.workload("host1-w1")
	if wa.IPv4 != wb.IPv4 || wa.Namespace == wb.Namespace {
		t.Errorf("workloads %+v and %+v: want the same address in different namespaces", wa, wb)
	}

	// A pool written to lab a is not in lab b.
	ca, err := a.Client(a.ctx)
	if err != nil {
		t.Fatal(err)
	}
	pool := v3.NewIPPool()
	pool.Metadata.Name = "only-in-a"
	pool.Spec.CIDR = "10.66.0.0/16"
	if _, err := ca.Create(a.ctx, pool); err != nil {
		t.Fatal(err)
	}
	if out := a.exec("host1", "calicoctl", "get", "ippools", "-o", "name"); !strings.Contains(out, "only-in-a") {
		t.Errorf("lab a's calicoctl misses its pool:\n%s", out)
	}
	if out := b.exec("host1", "calicoctl", "get", "ippools", "-o", "name"); strings.Contains(out, "only-in-a") {
		t.Errorf("lab b's calicoctl sees lab a's pool:\n%s", out)
	}

	// Both answer from their own namespaces.
	for _, l := range []*testLab{a, b} {
		if out := l.exec("host1-w1", "ip", "-o", "addr", "show", "dev", "eth0"); !strings.Contains(out, "10.65.1.1/32") {
			t.Errorf("%s host1-w1 eth0:\n%s", l.Name(), out)
		}
		if _, err := l.Matrix(l.ctx); err != nil {
			t.Errorf("%s matrix: %v", l.Name(), err)
		}
	}

	st := a.Status()
	if err := a.Down(a.ctx); err != nil {
		t.Fatal(err)
	}
	assertLabGone(t, st)
	if s := b.Status(); !s.Healthy() {
		var buf bytes.Buffer
		_ = s.Write(&buf)
		t.Errorf("lab b after lab a went down:\n%s", buf.String())
	}
	b.exec("host1", "calicoctl", "get", "nodes")
}

// (g) A lab with running agents, traffic and endpoint churn leaves the
// root namespace's routes, rules, links, nftables and forwarding sysctls
// exactly as they were. (newLab checks this around every lab, and
// TestMain around the whole suite; this test makes it one named check.)
func TestPrivilegedRootNamespaceUnchanged(t *testing.T) {
	requirePrivileged(t)
	before, err := takeRootSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	t.Run("lab", func(t *testing.T) {
		l := newLab(t, lab.Config{Hosts: 2, WorkloadsPerHost: 2})
		if _, err := l.Matrix(l.ctx); err != nil {
			t.Fatal(err)
		}
		w, err := l.NewWorkload("host2", 3)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.AddWorkload(l.ctx, w); err != nil {
			t.Fatal(err)
		}
		if err := l.DeleteEndpoint(l.ctx, w); err != nil {
			t.Fatal(err)
		}
		if err := l.Unplug(l.ctx, w); err != nil {
			t.Fatal(err)
		}
	})
	after, err := takeRootSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("the root network namespace changed (-before +after):\n%s", diff)
	}
}
