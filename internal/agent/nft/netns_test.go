package nft

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/gocalico/calico/internal/testenv"
)

// Privileged tests run in network namespaces of their own, named
// nfttest-<pid>-<n>, and never in the root namespace: nftables
// connections go to the namespace by fd, commands through
// `ip netns exec`.

const nsPrefix = "nfttest-"

var nsSeq atomic.Int64

func requireRoot(t testing.TB) {
	t.Helper()
	testenv.RequireRoot(t, "creates network namespaces and nftables tables in them")
	testenv.RequireTools(t, "ip", "nft")
	removeStaleNamespaces()
}

var staleOnce sync.Once

// removeStaleNamespaces deletes namespaces left by test processes that
// died before their cleanup ran.
func removeStaleNamespaces() {
	staleOnce.Do(func() {
		paths, _ := filepath.Glob("/run/netns/" + nsPrefix + "*")
		for _, p := range paths {
			name := filepath.Base(p)
			pid, err := strconv.Atoi(strings.SplitN(strings.TrimPrefix(name, nsPrefix), "-", 2)[0])
			if err != nil || pid == os.Getpid() {
				continue
			}
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
				continue // its test process is still running
			}
			_ = exec.Command("ip", "netns", "del", name).Run()
		}
	})
}

type testNS struct {
	name string
	fd   int
}

// newNS makes a network namespace that is removed when the test ends.
func newNS(t testing.TB) *testNS {
	t.Helper()
	name := fmt.Sprintf("%s%d-%d", nsPrefix, os.Getpid(), nsSeq.Add(1))
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	h, err := netns.GetFromName(name)
	if err != nil {
		t.Fatalf("open namespace %s: %v", name, err)
	}
	t.Cleanup(func() { h.Close() })
	return &testNS{name: name, fd: int(h)}
}

// run runs a command inside the namespace.
func (n *testNS) run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := n.try(args...)
	if err != nil {
		t.Fatalf("ip netns exec %s %s: %v: %s", n.name, strings.Join(args, " "), err, out)
	}
	return out
}

func (n *testNS) try(args ...string) (string, error) {
	out, err := exec.Command("ip", append([]string{"netns", "exec", n.name}, args...)...).CombinedOutput()
	return string(out), err
}

// waitLinkReady waits until the kernel has activated dev: operationally up
// with its real queueing discipline attached. A veth pair set up is not
// ready at once: the kernel's link watcher attaches the qdisc later (it may
// wait up to a second), and until then every packet sent is dropped.
func (n *testNS) waitLinkReady(t testing.TB, dev string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out := n.run(t, "ip", "-o", "link", "show", "dev", dev)
		if strings.Contains(out, "state UP") && !strings.Contains(out, "qdisc noop") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s in %s not ready after 10s: %s", dev, n.name, out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// listing is nft's own view of the table, normalised.
func (n *testNS) listing(t testing.TB, table string) string {
	t.Helper()
	return NormaliseListing(n.run(t, "nft", "list", "table", "inet", table))
}

// applier returns an applier for the namespace, which deletes its table
// and is closed when the test ends.
func (n *testNS) applier(t testing.TB, table string) *Applier {
	t.Helper()
	a, err := NewApplier(table, testLogger(t), WithNetNSFd(n.fd))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := a.Delete(context.Background()); err != nil {
			t.Errorf("delete table: %v", err)
		}
		if err := a.Close(); err != nil {
			t.Errorf("close applier: %v", err)
		}
	})
	return a
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
