package birdtest

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gocalico/calico/internal/testenv"
)

// Addresses of the two ends of a Pair's veth.
var PairAddrs = [2]netip.Addr{netip.MustParseAddr("10.123.0.1"), netip.MustParseAddr("10.123.0.2")}

// PairAS is the AS number both BIRDs of a Pair use (iBGP).
const PairAS = 64512

// Pair is two BIRDs, each in a network namespace created for the test,
// joined by a veth (10.123.0.1/24 and 10.123.0.2/24). Nothing is created
// in the caller's network namespace.
type Pair struct {
	Dir    string    // configs, sockets, logs
	NS     [2]string // namespace names (ip netns)
	Socket [2]string // control sockets
	Conf   [2]string // config file paths BIRD started with
}

var pairSeq atomic.Int32

// SkipUnlessPrivileged skips t (fails it with
// CALICO_REQUIRE_PRIVILEGED=1) unless it runs as root with ip and bird
// installed.
func SkipUnlessPrivileged(t testing.TB) {
	t.Helper()
	testenv.RequireRoot(t, "creates network namespaces and runs BIRD in them")
	testenv.RequireTools(t, "ip", "bird")
}

// MeshConfig is a BIRD config for end i of a Pair: a device protocol and
// one iBGP session, Mesh_<peer>, to the other end, with short connect
// timers so it establishes within seconds. extra is appended.
func MeshConfig(i int, extra string) string {
	self, peer := PairAddrs[i], PairAddrs[1-i]
	return fmt.Sprintf(`router id %[1]s;
log stderr all;
protocol device { scan time 10; }
protocol bgp Mesh_%[3]s {
  local %[1]s as %[4]d;
  neighbor %[2]s as %[4]d;
  connect delay time 1;
  connect retry time 1;
  error wait time 1, 5;
  ipv4 { import all; export none; };
}
%[5]s`, self, peer, underscored(peer), PairAS, extra)
}

func underscored(a netip.Addr) string {
	b := []byte(a.String())
	for i, c := range b {
		if c == '.' || c == ':' {
			b[i] = '_'
		}
	}
	return string(b)
}

// StartPair creates the namespaces and the veth, writes conf[i] for end i
// and starts both BIRDs. Everything is removed when the test ends, even
// when it fails. The caller must have called SkipUnlessPrivileged.
func StartPair(t testing.TB, conf [2]string) *Pair {
	t.Helper()
	dir, err := os.MkdirTemp("", "birdpair")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	n := pairSeq.Add(1)
	p := &Pair{Dir: dir}
	for i := range 2 {
		p.NS[i] = fmt.Sprintf("birdctl-%d-%d-%c", os.Getpid(), n, 'a'+i)
		p.Socket[i] = filepath.Join(dir, fmt.Sprintf("bird%d.ctl", i))
		p.Conf[i] = filepath.Join(dir, fmt.Sprintf("bird%d.conf", i))
		if err := os.WriteFile(p.Conf[i], []byte(conf[i]), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, ns := range p.NS {
		run(t, "ip", "netns", "add", ns)
		t.Cleanup(func() {
			if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
				t.Errorf("ip netns del %s: %v: %s", ns, err, out)
			}
		})
	}
	// Created inside the first namespace with its peer in the second: the
	// caller's namespace never sees either end.
	run(t, "ip", "-n", p.NS[0], "link", "add", "bird0", "type", "veth", "peer", "name", "bird1", "netns", p.NS[1])
	for i, ns := range p.NS {
		dev := fmt.Sprintf("bird%d", i)
		run(t, "ip", "-n", ns, "addr", "add", PairAddrs[i].String()+"/24", "dev", dev)
		run(t, "ip", "-n", ns, "link", "set", dev, "up")
		run(t, "ip", "-n", ns, "link", "set", "lo", "up")
	}
	for i := range 2 {
		p.startBird(t, i)
	}
	return p
}

// startBird runs BIRD i in the foreground in its namespace and stops it
// (SIGTERM, then SIGKILL) when the test ends.
func (p *Pair) startBird(t testing.TB, i int) {
	t.Helper()
	logPath := filepath.Join(p.Dir, fmt.Sprintf("bird%d.log", i))
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	// ip netns exec execs BIRD in place: the process is BIRD itself.
	cmd := exec.Command("ip", "netns", "exec", p.NS[i], "bird", "-f",
		"-c", p.Conf[i], "-s", p.Socket[i], "-P", filepath.Join(p.Dir, fmt.Sprintf("bird%d.pid", i)))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start bird %d: %v", i, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		logf.Close()
		if t.Failed() {
			if b, _ := os.ReadFile(logPath); len(b) > 0 {
				t.Logf("bird %d output:\n%s", i, b)
			}
		}
	})
	// Wait for the control socket.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(p.Socket[i]); err == nil {
			return
		}
		select {
		case <-done:
			b, _ := os.ReadFile(logPath)
			t.Fatalf("bird %d exited at start: %s", i, bytes.TrimSpace(b))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("bird %d: no control socket %s after 10s", i, p.Socket[i])
		}
	}
}

func run(t testing.TB, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v: %s", name, args, err, bytes.TrimSpace(out))
	}
}
