package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gocalico/calico/internal/bgp/birdctl"
	"github.com/gocalico/calico/internal/testenv"
)

// lab gives the test a network namespace of its own and a "bird" that
// runs inside it, so that nothing touches the machine's namespace.
func lab(t *testing.T) (bin string) {
	t.Helper()
	testenv.RequireRoot(t, "runs BIRD in a network namespace of its own")
	testenv.RequireTools(t, "ip", "/usr/sbin/bird")
	ns := fmt.Sprintf("bgpd-test-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() {
		// Whatever still runs in the namespace is this test's.
		out, _ := exec.Command("ip", "netns", "pids", ns).Output()
		for _, f := range strings.Fields(string(out)) {
			var pid int
			fmt.Sscan(f, &pid)
			if pid > 1 {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		time.Sleep(100 * time.Millisecond)
		exec.Command("ip", "netns", "del", ns).Run()
	})
	dir := t.TempDir()
	bin = filepath.Join(dir, "bird")
	script := "#!/bin/sh\nexec ip netns exec " + ns + " /usr/sbin/bird \"$@\"\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

const goodConf = `router id 10.0.0.1;
log stderr all;
protocol device { scan time 10; }
`

const goodConf2 = `router id 10.0.0.2;
log stderr all;
protocol device { scan time 5; }
`

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func routerID(t *testing.T, socket string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := birdctl.Dial(ctx, socket)
	if err != nil {
		return ""
	}
	defer c.Close()
	st, err := c.Status(ctx)
	if err != nil {
		return ""
	}
	return st.RouterID.String()
}

func TestDaemonLifecycle(t *testing.T) {
	bin := lab(t)
	dir := t.TempDir()
	d, err := New(Config{Binary: bin, Dir: dir, Control: SocketControl{}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()

	// Nothing runs before the first configuration: once Run waits for
	// it, no BIRD may be running or have opened its socket. (A Run that
	// never waits fails here too.)
	select {
	case <-d.waiting:
	case <-time.After(30 * time.Second):
		t.Fatal("Run never waited for the first configuration")
	}
	if d.Status().Running {
		t.Fatal("BIRD started before any configuration")
	}
	if _, err := os.Stat(d.Socket()); err == nil {
		t.Fatal("BIRD's control socket exists before any configuration")
	}
	// A broken first configuration is refused and starts nothing.
	if err := d.Apply(ctx, []byte("router id 10.0.0.1;\nprotocol nonsense {}\n")); !errors.Is(err, ErrRejected) {
		t.Fatalf("broken config: got %v, want ErrRejected", err)
	}
	if _, err := os.Stat(filepath.Join(dir, ConfigFile)); err == nil {
		t.Fatal("a rejected configuration was written to bird.conf")
	}

	if err := d.Apply(ctx, []byte(goodConf)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "BIRD running with the first config", func() bool { return routerID(t, d.Socket()) == "10.0.0.1" })
	st := d.Status()
	if !st.Running || st.Rejected != "" || st.PID == 0 {
		t.Fatalf("status after start: %+v", st)
	}

	// A new configuration is applied to the running BIRD.
	if err := d.Apply(ctx, []byte(goodConf2)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "reconfigured", func() bool { return routerID(t, d.Socket()) == "10.0.0.2" })
	pid := d.Status().PID

	// A rejected one changes nothing: the file, the running BIRD and
	// the status say so.
	err = d.Apply(ctx, []byte("router id 10.0.0.3;\nprotocol bgp { neighbor 1.2.3.4 as ; }\n"))
	if !errors.Is(err, ErrRejected) {
		t.Fatalf("got %v, want ErrRejected", err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, ConfigFile))
	if string(b) != goodConf2 {
		t.Fatalf("bird.conf after a rejected config:\n%s", b)
	}
	if got := routerID(t, d.Socket()); got != "10.0.0.2" {
		t.Fatalf("router id after a rejected config: %q", got)
	}
	st = d.Status()
	if st.Rejected == "" || st.PID != pid {
		t.Fatalf("status after a rejected config: %+v", st)
	}
	fst, err := ReadStatus(dir)
	if err != nil || fst.Rejected == "" {
		t.Fatalf("status file: %+v, %v", fst, err)
	}
	// Going back to the good one clears the rejection.
	if err := d.Apply(ctx, []byte(goodConf2)); err != nil {
		t.Fatal(err)
	}
	if st := d.Status(); st.Rejected != "" {
		t.Fatalf("rejection not cleared: %+v", st)
	}

	// BIRD killed: restarted with the current configuration.
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "BIRD restarted", func() bool {
		st := d.Status()
		return st.Running && st.PID != pid && st.Restarts == 1 && routerID(t, d.Socket()) == "10.0.0.2"
	})
	if st := d.Status(); !strings.Contains(st.LastExit, "killed") {
		t.Fatalf("last exit %q does not say it was killed", st.LastExit)
	}

	// Its socket vanishes: the next configuration restarts BIRD on it.
	pid = d.Status().PID
	if err := os.Remove(d.Socket()); err != nil {
		t.Fatal(err)
	}
	if err := d.Apply(ctx, []byte(goodConf)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "BIRD restarted on the new config", func() bool {
		st := d.Status()
		return st.Running && st.PID != pid && routerID(t, d.Socket()) == "10.0.0.1"
	})

	// Stopping ends BIRD (graceful restart shutdown).
	pid = d.Status().PID
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	done <- nil
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if !strings.Contains(string(b), ") Z") {
			t.Fatalf("BIRD pid %d still running after stop", pid)
		}
	}
	if st := d.Status(); st.Running {
		t.Fatalf("status after stop: %+v", st)
	}
}

// A BIRD left by an earlier calico-node (same socket, PID file) is
// replaced, not doubled.
func TestDaemonReplacesStaleBIRD(t *testing.T) {
	bin := lab(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, ConfigFile)
	if err := os.WriteFile(conf, []byte(goodConf), 0o640); err != nil {
		t.Fatal(err)
	}
	socket := filepath.Join(dir, SocketFile)
	stale := exec.Command(bin, "-f", "-c", conf, "-s", socket, "-P", filepath.Join(dir, PIDFile))
	if err := stale.Start(); err != nil {
		t.Fatal(err)
	}
	staleDone := make(chan struct{})
	go func() { stale.Wait(); close(staleDone) }()
	waitFor(t, "stale BIRD up", func() bool { return routerID(t, socket) == "10.0.0.1" })

	d, err := New(Config{Binary: bin, Dir: dir, Control: SocketControl{}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	if err := d.Apply(ctx, []byte(goodConf2)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-staleDone:
	case <-time.After(10 * time.Second):
		t.Fatal("the stale BIRD was not stopped")
	}
	waitFor(t, "new BIRD up", func() bool { return routerID(t, socket) == "10.0.0.2" })
}
