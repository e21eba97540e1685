package ipam

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/datastore"
)

// TestCheckAndRepair: each kind of problem is reported, ReleaseReport
// repairs what it safely can, and an address in use is never touched.
func TestCheckAndRepair(t *testing.T) {
	w := newWorld(t)
	w.pool("p", "10.110.0.0/24", 26)
	used, _ := w.mustAssign("node1", "tunnel", 1, 0)
	n := v3.NewNode()
	n.Metadata.Name = "node1"
	n.Spec.IPv4VXLANTunnelAddr = used[0].String()
	if _, err := w.res.Create(w.ctx, n); err != nil {
		t.Fatal(err)
	}
	leaked, _ := w.mustAssign("node1", "leaked", 2, 0)
	// A handle counting an address no block gives it (a crash between
	// the handle's write and the block's).
	if err := w.c.countHandle(w.ctx, "tunnel", netip.PrefixFrom(used[0], 26).Masked(), 1); err != nil {
		t.Fatal(err)
	}
	// An allocation whose handle is gone.
	nohandle, _ := w.mustAssign("node1", "gone", 1, 0)
	if _, err := w.be.Delete(w.ctx, HandleKey("gone"), 0); err != nil {
		t.Fatal(err)
	}
	// A pending claim without its block, and an empty block of a host
	// that has no Node.
	stray := netip.MustParsePrefix("10.110.0.192/26")
	if _, err := w.be.Create(w.ctx, AffinityKey("node1", stray), encodeAffinity(AffinityPending), 0); err != nil {
		t.Fatal(err)
	}
	ghost := netip.MustParsePrefix("10.110.0.128/26")
	if ok, err := w.c.claimBlock(w.ctx, "ghost", ghost); err != nil || !ok {
		t.Fatal(ok, err)
	}

	r, err := w.c.Check(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.Allocations != 4 || r.InUse != 1 {
		t.Errorf("allocations %d, in use %d; want 4, 1", r.Allocations, r.InUse)
	}
	if got := allocIPs(r.Leaked); got != fmt.Sprint(append(leaked, nohandle...)) {
		t.Errorf("leaked %s, want %v", got, append(leaked, nohandle...))
	}
	if len(r.MissingHandles) != 1 || r.MissingHandles[0].IP != nohandle[0] {
		t.Errorf("missing handles %+v", r.MissingHandles)
	}
	if len(r.DanglingHandles) != 1 || r.DanglingHandles[0].Handle != "tunnel" {
		t.Errorf("dangling handles %+v", r.DanglingHandles)
	}
	if len(r.StrayAffinities) != 1 || r.StrayAffinities[0].Block != stray {
		t.Errorf("stray affinities %+v", r.StrayAffinities)
	}
	if len(r.OrphanBlocks) != 1 || r.OrphanBlocks[0].Host != "ghost" {
		t.Errorf("orphan blocks %+v", r.OrphanBlocks)
	}

	// Between the check and the release, one leaked address is released
	// and given out again: the release must leave the new allocation.
	if _, err := w.c.ReleaseIPs(w.ctx, leaked[:1]); err != nil {
		t.Fatal(err)
	}
	if err := w.c.AssignIP(w.ctx, leaked[0], "new-owner", "node1", nil); err != nil {
		t.Fatal(err)
	}
	rep, err := w.c.ReleaseReport(w.ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Changed) != 1 || rep.Changed[0].IP != leaked[0] || len(rep.Released) != 2 {
		t.Errorf("released %v, changed %v", allocIPs(rep.Released), allocIPs(rep.Changed))
	}
	if info, _ := w.c.Lookup(w.ctx, leaked[0]); !info.Allocated || info.Handle != "new-owner" {
		t.Errorf("the reallocated address: %+v", info)
	}
	if info, _ := w.c.Lookup(w.ctx, used[0]); !info.Allocated || info.Handle != "tunnel" {
		t.Errorf("the address in use: %+v", info)
	}
	after, err := w.c.Check(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	// What is left: the new owner's address, leaked as far as the check
	// can tell (no endpoint uses it).
	if after.Problems() != 1 || len(after.Leaked) != 1 || after.Leaked[0].Handle != "new-owner" {
		t.Errorf("after the repair: %+v", after)
	}
}

func allocIPs(as []Allocation) string {
	var ips []netip.Addr
	for _, a := range as {
		ips = append(ips, a.IP)
	}
	return fmt.Sprint(ips)
}

// killHelperEnv makes the test binary the process to kill (see
// TestMain); killPointEnv, when set, makes it kill itself at that point.
const (
	killHelperEnv = "CALICO_IPAM_KILL_HELPER"
	killPointEnv  = "CALICO_IPAM_KILL_AT"
)

// TestMain runs the test binary as killHelper instead of the tests when
// TestKilledAllocationsAreRepaired starts it as a child process.
func TestMain(m *testing.M) {
	if spec := os.Getenv(killHelperEnv); spec != "" {
		if err := killHelper(spec, os.Getenv(killPointEnv)); err != nil {
			fmt.Fprintln(os.Stderr, "kill helper:", err)
		}
		os.Exit(1) // it only ends by being killed
	}
	os.Exit(m.Run())
}

// killHelper allocates and releases, as host@endpoints says, until it
// is killed, or it kills itself at point (when not empty).
func killHelper(spec, point string) error {
	host, eps, _ := strings.Cut(spec, "@")
	if point != "" {
		// Die there, as a process killed between two writes does.
		at = func(p string) {
			if p == point {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
			}
		}
	}
	ctx := context.Background()
	be, err := datastore.NewEtcd(ctx, datastore.Config{Endpoints: strings.Split(eps, ",")}, nil)
	if err != nil {
		return err
	}
	c := New(be, nil)
	for i := 0; ; i++ {
		h := fmt.Sprintf("%s.%d", host, i)
		if _, _, err := c.AutoAssign(ctx, AssignArgs{Num4: 1 + i%3, Num6: i % 2, HandleID: h, Host: host}); err != nil && !errors.Is(err, ErrExhausted) {
			return fmt.Errorf("assign %s: %w", h, err)
		}
		if i%4 == 3 {
			if _, err := c.ReleaseByHandle(ctx, h); err != nil {
				return fmt.Errorf("release %s: %w", h, err)
			}
		}
	}
}

// TestKilledAllocationsAreRepaired: processes allocating and releasing
// are killed (SIGKILL) at random points; what they leave behind (leaked
// addresses, handles that count too much, pending claims, blocks of
// hosts that do not exist) is what Check reports, and after
// ReleaseReport a new Check finds nothing wrong and nothing allocated.
func TestKilledAllocationsAreRepaired(t *testing.T) {
	if testing.Short() {
		t.Skip("kills processes for a while")
	}
	w := newWorld(t)
	w.pool("p4", "10.120.0.0/22", 28)
	w.pool("p6", "fd00:120::/118", 124)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	// Killed at random, then killed at each point between two writes.
	points := []string{"", "", "", "", "", "", "", "", "affinity-pending", "block-created", "handle-counted", "block-released"}
	for i, point := range points {
		// TestMain makes the child the helper; should it not, it runs no test.
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=kill%d@%s", killHelperEnv, i, strings.Join(w.srv.Endpoints(), ",")),
			killPointEnv+"="+point)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		var err error
		wait := time.Duration(100+rng.IntN(400)) * time.Millisecond
		if point != "" {
			wait = 20 * time.Second
		}
		select {
		case err = <-done:
		case <-time.After(wait):
			if point != "" {
				cmd.Process.Kill()
				t.Fatalf("helper %d never reached %s", i, point)
			}
			cmd.Process.Signal(syscall.SIGKILL)
			err = <-done
		}
		if err == nil || !strings.Contains(err.Error(), "killed") {
			t.Fatalf("helper %d (%q) ended by itself: %v\n%s", i, point, err, stderr.String())
		}
	}
	r, err := w.c.Check(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("after the kills: %d allocations, %d leaked, %d dangling handles, %d stray affinities, %d blocks of missing nodes",
		r.Allocations, len(r.Leaked), len(r.DanglingHandles), len(r.StrayAffinities), len(r.OrphanBlocks))
	if r.Allocations == 0 || len(r.Leaked) != r.Allocations || len(r.OrphanBlocks) == 0 || len(r.DanglingHandles) == 0 || len(r.StrayAffinities) < 2 {
		t.Fatalf("the kills left %+v; want allocations, all leaked (no endpoint uses them), blocks of missing nodes, "+
			"a handle that counts too much, and two claims left pending", r)
	}
	rep, err := w.c.ReleaseReport(w.ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Changed) != 0 || len(rep.Skipped) != 0 {
		t.Errorf("repair left %d changed allocations, skipped %v", len(rep.Changed), rep.Skipped)
	}
	after, err := w.c.Check(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.Problems() != 0 || after.Allocations != 0 {
		t.Errorf("after the repair: %+v", after)
	}
	for _, prefix := range []string{handlePrefix, hostsPrefix, blocksPrefix} {
		if kvs, _, _ := w.be.List(w.ctx, prefix); len(kvs) != 0 {
			t.Errorf("%d keys left under %s", len(kvs), prefix)
		}
	}
}

// failingBackend is a Backend that stops answering after a number of
// requests, as an etcd that becomes unreachable in the middle of an
// allocation.
type failingBackend struct {
	datastore.Backend
	left atomic.Int64 // requests still answered
}

var errUnavailable = errors.New("etcd unavailable (injected)")

func (f *failingBackend) ok() bool { return f.left.Add(-1) >= 0 }

func (f *failingBackend) Get(ctx context.Context, key string) (*datastore.KV, error) {
	if !f.ok() {
		return nil, errUnavailable
	}
	return f.Backend.Get(ctx, key)
}

func (f *failingBackend) GetMany(ctx context.Context, keys []string) (map[string]*datastore.KV, error) {
	if !f.ok() {
		return nil, errUnavailable
	}
	return f.Backend.GetMany(ctx, keys)
}

func (f *failingBackend) List(ctx context.Context, prefix string) ([]*datastore.KV, int64, error) {
	if !f.ok() {
		return nil, 0, errUnavailable
	}
	return f.Backend.List(ctx, prefix)
}

func (f *failingBackend) Create(ctx context.Context, key string, value []byte, ttl time.Duration) (int64, error) {
	if !f.ok() {
		return 0, errUnavailable
	}
	return f.Backend.Create(ctx, key, value, ttl)
}

func (f *failingBackend) Update(ctx context.Context, key string, value []byte, rev int64, ttl time.Duration) (int64, error) {
	if !f.ok() {
		return 0, errUnavailable
	}
	return f.Backend.Update(ctx, key, value, rev, ttl)
}

func (f *failingBackend) Delete(ctx context.Context, key string, rev int64) (*datastore.KV, error) {
	if !f.ok() {
		return nil, errUnavailable
	}
	return f.Backend.Delete(ctx, key, rev)
}

// TestEtcdUnavailableMidAllocation: etcd stops answering after each
// possible number of requests of an allocation (a new host, so the
// allocation claims a block first). The allocation fails with the
// error, never hands out an address twice, and what it left half done
// is what Check reports and ReleaseReport repairs; a retry with etcd
// back then succeeds.
func TestEtcdUnavailableMidAllocation(t *testing.T) {
	w := newWorld(t)
	w.pool("p", "10.130.0.0/24", 28)
	given := map[netip.Addr]string{}
	for n := 0; n < 30; n++ {
		host, handle := fmt.Sprintf("host%d", n), fmt.Sprintf("h%d", n)
		fb := &failingBackend{Backend: w.be}
		fb.left.Store(int64(n))
		c := New(fb, nil)
		v4, _, err := c.AutoAssign(w.ctx, AssignArgs{Num4: 2, HandleID: handle, Host: host})
		if err == nil {
			if n < 3 {
				t.Fatalf("allocation with etcd gone after %d requests succeeded", n)
			}
			for _, ip := range v4 {
				given[ip] = handle
			}
			continue
		}
		if !errors.Is(err, errUnavailable) {
			t.Fatalf("after %d requests: %v; want the injected unavailability", n, err)
		}
		// Etcd is back: repair what is left, retry.
		r, err := w.c.Check(w.ctx)
		if err != nil {
			t.Fatal(err)
		}
		var leaked []Allocation
		for _, a := range r.Leaked {
			if a.Handle == handle {
				leaked = append(leaked, a)
			}
		}
		r.Leaked = leaked
		if _, err := w.c.ReleaseReport(w.ctx, r); err != nil {
			t.Fatal(err)
		}
		v4, _, err = w.c.AutoAssign(w.ctx, AssignArgs{Num4: 2, HandleID: handle, Host: host})
		if err != nil {
			t.Fatalf("retry after %d requests: %v", n, err)
		}
		for _, ip := range v4 {
			if prev, dup := given[ip]; dup {
				t.Fatalf("%s handed out twice: %s and %s", ip, prev, handle)
			}
			given[ip] = handle
		}
	}
	// Everything given out is in the blocks under its handle, and nothing
	// else is allocated; handles agree with the blocks.
	r, err := w.c.Check(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.Allocations != len(given) || len(r.DanglingHandles) != 0 || len(r.MissingHandles) != 0 || len(r.Unreadable) != 0 {
		t.Errorf("after the failures: %d allocations for %d given out; %+v", r.Allocations, len(given), r)
	}
	for _, a := range r.Leaked {
		if given[a.IP] != a.Handle {
			t.Errorf("%s allocated to %s, given out to %q", a.IP, a.Handle, given[a.IP])
		}
	}
}
