package ipam

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/datastore"
	"github.com/gocalico/calico/internal/datastore/embedded"
	"github.com/gocalico/calico/internal/datastore/etcdtest"
	"github.com/gocalico/calico/internal/resources"
)

// world is a Client over a fresh embedded etcd.
type world struct {
	t   *testing.T
	srv *embedded.Server
	ctx context.Context
	be  datastore.Backend
	res *resources.Client
	c   *Client
}

func newWorld(t *testing.T) *world {
	t.Helper()
	t.Parallel()
	srv, be := etcdtest.Embedded(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return &world{t: t, srv: srv, ctx: ctx, be: be, res: resources.New(be), c: New(be, nil)}
}

func (w *world) pool(name, cidr string, blockSize int, edit ...func(*v3.IPPoolSpec)) {
	w.t.Helper()
	p := v3.NewIPPool()
	p.Metadata.Name = name
	p.Spec.CIDR, p.Spec.BlockSize = cidr, blockSize
	for _, e := range edit {
		e(&p.Spec)
	}
	if _, err := w.res.Create(w.ctx, p); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) assign(host, handle string, n4, n6 int) ([]netip.Addr, []netip.Addr, error) {
	return w.c.AutoAssign(w.ctx, AssignArgs{Num4: n4, Num6: n6, HandleID: handle, Host: host,
		Attrs: map[string]string{"node": host}})
}

func (w *world) mustAssign(host, handle string, n4, n6 int) ([]netip.Addr, []netip.Addr) {
	w.t.Helper()
	v4, v6, err := w.assign(host, handle, n4, n6)
	if err != nil {
		w.t.Fatalf("assign %d+%d to %s for %s: %v", n4, n6, handle, host, err)
	}
	return v4, v6
}

func (w *world) block(cidr string) *Block {
	w.t.Helper()
	b, _, err := w.c.getBlock(w.ctx, netip.MustParsePrefix(cidr))
	if err != nil {
		w.t.Fatalf("block %s: %v", cidr, err)
	}
	return b
}

func (w *world) affinity(host, cidr string) (string, bool) {
	kv, err := w.be.Get(w.ctx, AffinityKey(host, netip.MustParsePrefix(cidr)))
	if errors.Is(err, datastore.ErrNotFound) {
		return "", false
	}
	if err != nil {
		w.t.Fatal(err)
	}
	a, err := decodeAffinity(kv.Key, kv.Value)
	if err != nil {
		w.t.Fatal(err)
	}
	return a.State, true
}

// TestAssignFromHostBlocks: a host claims a block (affinity confirmed,
// block affine), takes addresses from it oldest first, and its handle
// counts them; a second host claims another block.
func TestAssignFromHostBlocks(t *testing.T) {
	w := newWorld(t)
	w.pool("p", "10.10.0.0/24", 26)
	v4, _ := w.mustAssign("node1", "h1", 2, 0)
	blk := netip.PrefixFrom(v4[0], 26).Masked()
	if !blk.Contains(v4[1]) || v4[1] != v4[0].Next() {
		t.Fatalf("addresses %v: want two consecutive ones of one block", v4)
	}
	b := w.block(blk.String())
	if !b.AffineTo("node1") || b.InUse() != 2 {
		t.Errorf("block %s: affinity %v, %d in use", blk, *b.Affinity, b.InUse())
	}
	if st, ok := w.affinity("node1", blk.String()); !ok || st != AffinityConfirmed {
		t.Errorf("affinity of node1 to %s: %q %v", blk, st, ok)
	}
	more, _ := w.mustAssign("node1", "h2", 1, 0)
	if !blk.Contains(more[0]) {
		t.Errorf("node1's second assign %v is not from its block %s", more, blk)
	}
	other, _ := w.mustAssign("node2", "h3", 1, 0)
	if blk.Contains(other[0]) {
		t.Errorf("node2 got %v from node1's block", other)
	}
	if got, err := w.c.IPsByHandle(w.ctx, "h1"); err != nil || !slices.Equal(got, v4) {
		t.Errorf("IPsByHandle(h1) = %v, %v; want %v", got, err, v4)
	}
	kv, err := w.be.Get(w.ctx, HandleKey("h1"))
	if err != nil {
		t.Fatal(err)
	}
	h, _ := decodeHandle(kv.Key, kv.Value)
	if h.Block[blk.String()] != 2 || len(h.Block) != 1 {
		t.Errorf("handle h1: %v", h.Block)
	}
	freed, err := w.c.ReleaseByHandle(w.ctx, "h1")
	if err != nil || len(freed) != 2 {
		t.Fatalf("release h1: %v %v", freed, err)
	}
	if _, err := w.be.Get(w.ctx, HandleKey("h1")); !errors.Is(err, datastore.ErrNotFound) {
		t.Errorf("handle h1 still there after its release: %v", err)
	}
	if again, err := w.c.ReleaseByHandle(w.ctx, "h1"); err != nil || len(again) != 0 {
		t.Errorf("second release of h1: %v %v; want nothing, no error", again, err)
	}
	if b := w.block(blk.String()); b.InUse() != 1 {
		t.Errorf("block %s: %d in use after the release, want 1", blk, b.InUse())
	}
}

// TestBorrowAndStrictAffinity: when a host can claim no block, it
// borrows from another host's; with strict affinity it may not.
func TestBorrowAndStrictAffinity(t *testing.T) {
	w := newWorld(t)
	w.pool("p", "10.20.0.0/26", 26) // one block only
	a, _ := w.mustAssign("node1", "h1", 1, 0)
	b, _ := w.mustAssign("node2", "h2", 1, 0)
	if !netip.MustParsePrefix("10.20.0.0/26").Contains(b[0]) || a[0] == b[0] {
		t.Fatalf("node2 borrowed %v (node1 has %v)", b, a)
	}
	if blk := w.block("10.20.0.0/26"); !blk.AffineTo("node1") || blk.InUse() != 2 {
		t.Errorf("borrowing changed the block's affinity or count: %v %d", *blk.Affinity, blk.InUse())
	}
	if _, ok := w.affinity("node2", "10.20.0.0/26"); ok {
		t.Error("node2 got an affinity to the block it borrowed from")
	}
	if err := w.c.SetConfig(w.ctx, Config{StrictAffinity: true, AutoAllocateBlocks: true}); err != nil {
		t.Fatal(err)
	}
	_, _, err := w.assign("node2", "h3", 1, 0)
	if !errors.Is(err, ErrExhausted) {
		t.Errorf("strict affinity: node2 assign: %v, want ErrExhausted", err)
	}
	if _, err := w.be.Get(w.ctx, HandleKey("h3")); !errors.Is(err, datastore.ErrNotFound) {
		t.Errorf("the failed assign left its handle: %v", err)
	}
	// node1 still uses its own block.
	w.mustAssign("node1", "h4", 1, 0)
}

// TestPoolExhaustedIsAllOrNothing: asking for more than is free gets
// nothing, and leaves nothing allocated.
func TestPoolExhaustedIsAllOrNothing(t *testing.T) {
	w := newWorld(t)
	w.pool("p", "10.30.0.0/28", 29) // two blocks of 8
	w.mustAssign("node1", "h1", 10, 0)
	if _, _, err := w.assign("node2", "h2", 7, 0); !errors.Is(err, ErrExhausted) {
		t.Fatalf("7 of 6 free: %v, want ErrExhausted", err)
	}
	used := 0
	for _, c := range []string{"10.30.0.0/29", "10.30.0.8/29"} {
		used += w.block(c).InUse()
	}
	if used != 10 {
		t.Errorf("%d addresses in use after the failed assign, want 10", used)
	}
	if _, _, err := w.assign("node2", "h2", 6, 0); err != nil {
		t.Errorf("the 6 that are free: %v", err)
	}
}

// TestReservationsPoolsAndSelectors: reserved addresses are never
// handed out; disabled pools are not used; a pool's node selector
// decides which hosts use it; IPv6 works like IPv4.
func TestReservationsPoolsAndSelectors(t *testing.T) {
	w := newWorld(t)
	w.pool("v4", "10.40.0.0/26", 26)
	w.pool("off", "10.41.0.0/24", 26, func(s *v3.IPPoolSpec) { s.Disabled = true })
	w.pool("zone-b", "10.42.0.0/24", 26, func(s *v3.IPPoolSpec) { s.NodeSelector = "zone == 'b'" })
	w.pool("v6", "fd00:40::/120", 122)
	r := v3.NewIPReservation()
	r.Metadata.Name = "first-four"
	r.Spec.ReservedCIDRs = []string{"10.40.0.0/30", "fd00:40::"}
	if _, err := w.res.Create(w.ctx, r); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"node-a", "node-b"} {
		n := v3.NewNode()
		n.Metadata.Name = name
		n.Metadata.Labels = map[string]string{"zone": name[len(name)-1:]}
		if _, err := w.res.Create(w.ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	v4, v6 := w.mustAssign("node-a", "h1", 3, 2)
	for _, ip := range v4 {
		if !netip.MustParsePrefix("10.40.0.0/26").Contains(ip) || netip.MustParsePrefix("10.40.0.0/30").Contains(ip) {
			t.Errorf("node-a got %s: want one of pool v4 outside the reservation", ip)
		}
	}
	if want := addrs("10.40.0.4", "10.40.0.5", "10.40.0.6"); !slices.Equal(v4, want) {
		t.Errorf("v4 %v, want %v", v4, want)
	}
	if len(v6) != 2 || v6[1] != v6[0].Next() || !netip.MustParsePrefix("fd00:40::/120").Contains(v6[0]) ||
		slices.Contains(v6, netip.MustParseAddr("fd00:40::")) {
		t.Errorf("v6 %v: want two consecutive addresses of pool v6, not the reserved fd00:40::", v6)
	}
	if _, err := w.be.Get(w.ctx, BlockKey(netip.PrefixFrom(v6[0], 122).Masked())); err != nil {
		t.Errorf("IPv6 block: %v", err)
	}
	// node-b may use zone-b's pool too; node-a never.
	got := map[string]bool{}
	for i := range 70 {
		v4, _ := w.mustAssign("node-b", fmt.Sprintf("b%d", i), 1, 0)
		got[poolName(v4[0])] = true
	}
	if !got["zone-b"] || got["off"] {
		t.Errorf("node-b used pools %v; want zone-b, never the disabled one", got)
	}
	if _, _, err := w.c.AutoAssign(w.ctx, AssignArgs{Num4: 1, HandleID: "x", Host: "node-a",
		IPv4Pools: []netip.Prefix{netip.MustParsePrefix("10.42.0.0/24")}}); !errors.Is(err, ErrNoPools) {
		t.Errorf("node-a asking for zone-b's pool: %v, want ErrNoPools", err)
	}
	if _, _, err := w.c.AutoAssign(w.ctx, AssignArgs{Num4: 1, HandleID: "x", Host: "node-a",
		IPv4Pools: []netip.Prefix{netip.MustParsePrefix("10.41.0.0/24")}}); !errors.Is(err, ErrNoPools) {
		t.Errorf("asking for the disabled pool: %v, want ErrNoPools", err)
	}
}

func poolName(a netip.Addr) string {
	switch {
	case netip.MustParsePrefix("10.40.0.0/26").Contains(a):
		return "v4"
	case netip.MustParsePrefix("10.41.0.0/24").Contains(a):
		return "off"
	case netip.MustParsePrefix("10.42.0.0/24").Contains(a):
		return "zone-b"
	}
	return "?"
}

// TestMaxBlocksPerHost: a host claims no more blocks than the cap; with
// strict affinity it then runs out.
func TestMaxBlocksPerHost(t *testing.T) {
	w := newWorld(t)
	w.pool("p", "10.50.0.0/24", 29)
	if err := w.c.SetConfig(w.ctx, Config{StrictAffinity: true, AutoAllocateBlocks: true, MaxBlocksPerHost: 2}); err != nil {
		t.Fatal(err)
	}
	w.mustAssign("node1", "h1", 16, 0)
	if _, _, err := w.assign("node1", "h2", 1, 0); !errors.Is(err, ErrExhausted) {
		t.Errorf("a third block: %v, want ErrExhausted", err)
	}
	kvs, _, _ := w.be.List(w.ctx, hostAffinities("node1", "ipv4"))
	if len(kvs) != 2 {
		t.Errorf("node1 holds %d blocks, want 2", len(kvs))
	}
}

// TestAssignIPAndReleaseIPs: a given address, then taken; releasing
// frees it and reports the addresses that were not allocated.
func TestAssignIPAndReleaseIPs(t *testing.T) {
	w := newWorld(t)
	w.pool("p", "10.60.0.0/24", 26)
	ip := netip.MustParseAddr("10.60.0.77")
	if err := w.c.AssignIP(w.ctx, ip, "h1", "node1", nil); err != nil {
		t.Fatal(err)
	}
	if b := w.block("10.60.0.64/26"); !b.AffineTo("node1") {
		t.Errorf("the block of an assigned address was not claimed for node1")
	}
	if err := w.c.AssignIP(w.ctx, ip, "h2", "node2", nil); !errors.Is(err, ErrInUse) {
		t.Errorf("second assign of %s: %v, want ErrInUse", ip, err)
	}
	left, err := w.c.ReleaseIPs(w.ctx, []netip.Addr{ip, netip.MustParseAddr("10.60.0.78"), netip.MustParseAddr("192.0.2.1")})
	if err != nil {
		t.Fatal(err)
	}
	if want := addrs("192.0.2.1", "10.60.0.78"); !slices.Equal(left, want) {
		t.Errorf("not allocated: %v, want %v", left, want)
	}
	if _, err := w.be.Get(w.ctx, HandleKey("h1")); !errors.Is(err, datastore.ErrNotFound) {
		t.Errorf("handle h1 after its only address went: %v", err)
	}
}

// TestReleaseEmptyBlocks: an empty block and its affinity go; a block in
// use stays.
func TestReleaseEmptyBlocks(t *testing.T) {
	w := newWorld(t)
	w.pool("p", "10.70.0.0/24", 26)
	w.mustAssign("node1", "keep", 1, 0)
	w.mustAssign("node1", "go", 64, 0) // the rest of one block and one of the next
	if _, err := w.c.ReleaseByHandle(w.ctx, "go"); err != nil {
		t.Fatal(err)
	}
	got, err := w.c.ReleaseEmptyBlocks(w.ctx, "node1")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("released %v, want one block", got)
	}
	if _, err := w.be.Get(w.ctx, BlockKey(got[0])); !errors.Is(err, datastore.ErrNotFound) {
		t.Errorf("block %s still there: %v", got[0], err)
	}
	if _, ok := w.affinity("node1", got[0].String()); ok {
		t.Errorf("affinity to %s still there", got[0])
	}
	kept, _ := w.c.IPsByHandle(w.ctx, "keep")
	if len(kept) != 1 || got[0].Contains(kept[0]) {
		t.Errorf("the block in use went: keep has %v", kept)
	}
}

// TestInterruptedClaim: a claim that died after creating its block is
// confirmed by the host's next assign; one that died before (a pending
// affinity, no block) ends with its lease; a pending affinity to a block
// another host holds is dropped.
func TestInterruptedClaim(t *testing.T) {
	w := newWorld(t)
	w.pool("p", "10.80.0.0/24", 26)
	orphan, half := netip.MustParsePrefix("10.80.0.0/26"), netip.MustParsePrefix("10.80.0.64/26")
	lost := netip.MustParsePrefix("10.80.0.128/26")
	if _, err := w.be.Create(w.ctx, AffinityKey("node1", orphan), encodeAffinity(AffinityPending), 2*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, b := range []netip.Prefix{half, lost} {
		if _, err := w.be.Create(w.ctx, AffinityKey("node1", b), encodeAffinity(AffinityPending), claimTTL); err != nil {
			t.Fatal(err)
		}
	}
	v, _ := newBlock(lost, "node2", time.Now()).encode()
	if _, err := w.be.Create(w.ctx, BlockKey(lost), v, 0); err != nil {
		t.Fatal(err)
	}
	v, _ = newBlock(half, "node1", time.Now()).encode()
	if _, err := w.be.Create(w.ctx, BlockKey(half), v, 0); err != nil {
		t.Fatal(err)
	}
	got, _ := w.mustAssign("node1", "h", 1, 0)
	if !half.Contains(got[0]) {
		t.Errorf("assigned %v, want from the half-claimed block %s", got, half)
	}
	if st, _ := w.affinity("node1", half.String()); st != AffinityConfirmed {
		t.Errorf("half-claimed block's affinity %q, want confirmed", st)
	}
	if _, ok := w.affinity("node1", lost.String()); ok {
		t.Errorf("node1's pending affinity to node2's block %s is still there", lost)
	}
	// The orphan claim ends with its lease; the block is free again.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, ok := w.affinity("node1", orphan.String()); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the orphan pending affinity to %s outlived its lease", orphan)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if ok, err := w.c.claimBlock(w.ctx, "node3", orphan); err != nil || !ok {
		t.Errorf("claiming the orphan's block afresh: %v %v", ok, err)
	}
	// A confirmed claim holds no lease.
	kv, _ := w.be.Get(w.ctx, AffinityKey("node1", half))
	if kv.Lease != 0 {
		t.Errorf("confirmed affinity still on lease %d", kv.Lease)
	}
}

// TestUnreadableBlockSkipped: a corrupt block is skipped and counted,
// never rewritten; assignment goes on elsewhere.
func TestUnreadableBlockSkipped(t *testing.T) {
	w := newWorld(t)
	w.pool("p", "10.90.0.0/25", 26)
	bad := netip.MustParsePrefix("10.90.0.0/26")
	// node1's block, corrupt.
	if _, err := w.be.Create(w.ctx, AffinityKey("node1", bad), encodeAffinity(AffinityConfirmed), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := w.be.Create(w.ctx, BlockKey(bad), []byte(`{"cidr":"10.90.0.0/26","allocations":[`), 0); err != nil {
		t.Fatal(err)
	}
	got, _ := w.mustAssign("node1", "h", 1, 0)
	if bad.Contains(got[0]) {
		t.Errorf("assigned %v from the corrupt block", got)
	}
	if w.c.Skipped() == 0 {
		t.Error("the corrupt block was not counted")
	}
	kv, _ := w.be.Get(w.ctx, BlockKey(bad))
	if string(kv.Value) != `{"cidr":"10.90.0.0/26","allocations":[` {
		t.Errorf("the corrupt block was rewritten: %s", kv.Value)
	}
}

// TestConcurrentHosts: 10 hosts each assign 20 addresses at once, from
// 10 goroutines per host and one Client per host, 200 in all: no address
// twice, and every address is in its block under its handle, and counted
// by that handle.
func TestConcurrentHosts(t *testing.T) {
	w := newWorld(t)
	w.pool("p", "10.100.0.0/22", 26)
	const hosts, perHost = 10, 20
	type res struct {
		handle string
		ip     netip.Addr
		err    error
	}
	out := make(chan res, hosts*perHost)
	var wg sync.WaitGroup
	for h := range hosts {
		c := New(w.be, nil)
		host := fmt.Sprintf("node%d", h)
		for i := range perHost {
			wg.Go(func() {
				handle := fmt.Sprintf("%s.%d", host, i)
				v4, _, err := c.AutoAssign(w.ctx, AssignArgs{Num4: 1, HandleID: handle, Host: host})
				r := res{handle: handle, err: err}
				if err == nil {
					r.ip = v4[0]
				}
				out <- r
			})
		}
	}
	wg.Wait()
	close(out)
	owner := map[netip.Addr]string{}
	for r := range out {
		if r.err != nil {
			t.Errorf("%s: %v", r.handle, r.err)
			continue
		}
		if prev, dup := owner[r.ip]; dup {
			t.Errorf("%s handed out twice: to %s and %s", r.ip, prev, r.handle)
		}
		owner[r.ip] = r.handle
	}
	// The datastore agrees: blocks hold exactly these, under these handles.
	blocks, err := w.c.listBlocks(w.ctx, 4)
	if err != nil {
		t.Fatal(err)
	}
	inBlocks := map[netip.Addr]string{}
	counted := map[string]int{}
	for _, b := range blocks {
		for ip, a := range b.Allocated() {
			inBlocks[ip] = a.handle()
			counted[a.handle()]++
		}
	}
	if !maps.Equal(inBlocks, owner) {
		t.Errorf("blocks hold %d addresses, the callers got %d (or owners differ)", len(inBlocks), len(owner))
	}
	kvs, _, _ := w.be.List(w.ctx, handlePrefix)
	if len(kvs) != hosts*perHost {
		t.Errorf("%d handles, want %d", len(kvs), hosts*perHost)
	}
	for _, kv := range kvs {
		h, err := decodeHandle(kv.Key, kv.Value)
		if err != nil {
			t.Fatal(err)
		}
		id := kv.Key[len(handlePrefix):]
		n := 0
		for _, c := range h.Block {
			n += c
		}
		if n != counted[id] {
			t.Errorf("handle %s counts %d, its blocks hold %d", id, n, counted[id])
		}
	}
	if w.c.Skipped() != 0 {
		t.Errorf("%d values skipped", w.c.Skipped())
	}
}
