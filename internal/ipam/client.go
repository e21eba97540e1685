package ipam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gocalico/calico/internal/datastore"
	"github.com/gocalico/calico/internal/resources"
)

// Errors callers tell apart with errors.Is.
var (
	// ErrNoPools: no enabled IP pool of the family serves the host.
	ErrNoPools = errors.New("no usable IP pool")
	// ErrExhausted: the usable pools have no free address left (for this
	// host: strict affinity or the block cap may keep it from others').
	ErrExhausted = errors.New("no free address in the usable IP pools")
	// ErrContention: a block or handle kept changing under us.
	ErrContention = errors.New("too many concurrent changes; try again")
	// ErrInUse: the address asked for is already allocated.
	ErrInUse = errors.New("address already in use")
)

var resourcesAll = resources.ListOptions{}

// at marks the points between two writes where a process that dies
// leaves a half-done change behind; tests kill their process there (see
// report_test.go). nil outside tests.
var at func(point string)

func reached(point string) {
	if at != nil {
		at(point)
	}
}

// maxAttempts bounds the compare-and-swap retries of one write.
const maxAttempts = 200

// Client allocates and releases addresses in the datastore. It is safe
// for concurrent use, and so are many Clients on many hosts: every
// write is a compare-and-swap.
type Client struct {
	be  datastore.Backend
	res *resources.Client
	log *slog.Logger
	now func() time.Time
	// skipped counts unreadable values passed over (see Skipped).
	skipped atomic.Int64
}

// New returns a Client over be.
func New(be datastore.Backend, log *slog.Logger) *Client {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Client{be: be, res: resources.New(be, resources.WithLogger(log)), log: log, now: time.Now}
}

// Skipped is how many unreadable values (blocks, affinities, handles,
// pools) the Client has passed over.
func (c *Client) Skipped() int64 { return c.skipped.Load() }

func (c *Client) skip(what string, err error) {
	c.skipped.Add(1)
	c.log.Warn("IPAM skipped an unreadable value", "what", what, "error", err)
}

// AssignArgs is what AutoAssign allocates.
type AssignArgs struct {
	// Num4, Num6: how many IPv4 and IPv6 addresses.
	Num4, Num6 int
	// HandleID names the owner (CNI: "<network>.<container ID>"); a
	// handle's addresses are released together.
	HandleID string
	// Attrs are stored with each address (node, namespace, pod, ...).
	Attrs map[string]string
	// Host is the host the addresses are for: its blocks first.
	Host string
	// IPv4Pools, IPv6Pools, when set, are the only pools to use (by
	// CIDR).
	IPv4Pools, IPv6Pools []netip.Prefix
}

// AutoAssign allocates args.Num4 IPv4 and args.Num6 IPv6 addresses for
// args.Host: from the host's blocks first, then from blocks it claims,
// then (unless affinity is strict) from other blocks with room. It is
// all or nothing: when it cannot allocate them all, it releases what it
// did allocate and returns an error.
func (c *Client) AutoAssign(ctx context.Context, args AssignArgs) (v4, v6 []netip.Addr, err error) {
	if args.HandleID == "" || args.Host == "" {
		return nil, nil, errors.New("IPAM assign: a handle and a host are required")
	}
	if args.Num4 < 0 || args.Num6 < 0 || args.Num4+args.Num6 == 0 {
		return nil, nil, fmt.Errorf("IPAM assign: asked for %d IPv4 and %d IPv6 addresses", args.Num4, args.Num6)
	}
	v, err := c.readView(ctx, args)
	if err != nil {
		return nil, nil, err
	}
	attr := Attribute{HandleID: &args.HandleID, Secondary: args.Attrs}
	if args.Num4 > 0 {
		if v4, err = c.autoAssign(ctx, 4, args.Num4, args, attr, v, args.IPv4Pools); err != nil {
			return nil, nil, err
		}
	}
	if args.Num6 > 0 {
		if v6, err = c.autoAssign(ctx, 6, args.Num6, args, attr, v, args.IPv6Pools); err != nil {
			if rerr := c.undo(ctx, v4); rerr != nil {
				err = errors.Join(err, rerr)
			}
			return nil, nil, err
		}
	}
	return v4, v6, nil
}

// undo releases addresses a failed AutoAssign had allocated.
func (c *Client) undo(ctx context.Context, ips []netip.Addr) error {
	if len(ips) == 0 {
		return nil
	}
	// Our context may be the reason we failed: the undo gets its own.
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if _, err := c.ReleaseIPs(uctx, ips); err != nil {
		return fmt.Errorf("releasing the %d addresses allocated before the failure: %w", len(ips), err)
	}
	return nil
}

// view is what an assignment reads before it writes anything, read at
// once (each read is a round trip; none depends on another).
type view struct {
	cfg      Config
	reserved func(netip.Addr) bool
	pools    []*Pool
	labels   map[string]string
	affine   map[int][]netip.Prefix // the host's blocks, by family
}

func (c *Client) readView(ctx context.Context, args AssignArgs) (*view, error) {
	v := &view{affine: map[int][]netip.Prefix{}}
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	run := func(f func() error) {
		wg.Go(func() {
			if err := f(); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	run(func() (err error) { v.cfg, err = c.Config(ctx); return })
	run(func() (err error) { v.reserved, err = c.reservations(ctx); return })
	run(func() (err error) { v.pools, err = c.pools(ctx); return })
	run(func() (err error) { v.labels, err = c.nodeLabels(ctx, args.Host); return })
	for _, fam := range []int{4, 6} {
		if (fam == 4 && args.Num4 == 0) || (fam == 6 && args.Num6 == 0) {
			continue
		}
		run(func() error {
			b, err := c.hostBlocks(ctx, args.Host, fam)
			mu.Lock()
			v.affine[fam] = b
			mu.Unlock()
			return err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return v, nil
}

func (c *Client) autoAssign(ctx context.Context, fam, n int, args AssignArgs, attr Attribute, v *view,
	only []netip.Prefix) ([]netip.Addr, error) {
	cfg, reserved := v.cfg, v.reserved
	pools, err := filterPools(v.pools, v.labels, args.Host, fam, only)
	if err != nil {
		return nil, err
	}
	if len(pools) == 0 {
		return nil, fmt.Errorf("%w: no enabled IPv%d pool selects host %s", ErrNoPools, fam, args.Host)
	}
	var got []netip.Addr
	fail := func(err error) ([]netip.Addr, error) {
		if rerr := c.undo(ctx, got); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return nil, err
	}
	inPools := func(b netip.Prefix) bool { return poolFor(pools, b.Addr()) != nil }

	// 1. The host's own blocks.
	affine := slices.Clone(v.affine[fam])
	// Read in one request, so that a host with many full blocks costs
	// no more than one with a few.
	var keys []string
	for _, b := range affine {
		if inPools(b) {
			keys = append(keys, BlockKey(b))
		}
	}
	read, err := c.be.GetMany(ctx, keys)
	if err != nil {
		return fail(fmt.Errorf("read the blocks of %s: %w", args.Host, err))
	}
	for _, key := range keys {
		if len(got) == n {
			break
		}
		kv, ok := read[key]
		if !ok {
			continue
		}
		b, err := decodeBlock(key, kv.Value)
		if err != nil {
			c.skip(key, err)
			continue
		}
		if !b.AffineTo(args.Host) || b.freeCount(reserved) == 0 {
			continue
		}
		ips, err := c.assignFromBlock(ctx, b.cidr, n-len(got), attr, reserved, args.Host, &readBlock{b, kv.ModRevision})
		if err != nil {
			return fail(err)
		}
		got = append(got, ips...)
	}
	// 2. New blocks for the host.
	for len(got) < n && cfg.AutoAllocateBlocks {
		if cfg.MaxBlocksPerHost > 0 && len(affine) >= cfg.MaxBlocksPerHost {
			break
		}
		b, err := c.claimFreeBlock(ctx, args.Host, pools, reserved)
		if errors.Is(err, errNoFreeBlock) {
			break
		}
		if err != nil {
			return fail(err)
		}
		affine = append(affine, b)
		ips, err := c.assignFromBlock(ctx, b, n-len(got), attr, reserved, args.Host, nil)
		if err != nil {
			return fail(err)
		}
		got = append(got, ips...)
	}
	// 3. Room in other blocks.
	if len(got) < n && !cfg.StrictAffinity {
		blocks, err := c.listBlocks(ctx, fam)
		if err != nil {
			return fail(err)
		}
		for _, b := range blocks {
			if len(got) == n {
				break
			}
			if !inPools(b.cidr) || b.AffineTo(args.Host) || b.freeCount(reserved) == 0 {
				continue
			}
			ips, err := c.assignFromBlock(ctx, b.cidr, n-len(got), attr, reserved, "", nil)
			if err != nil {
				return fail(err)
			}
			got = append(got, ips...)
		}
	}
	if len(got) < n {
		return fail(fmt.Errorf("%w: %d of %d IPv%d addresses for host %s", ErrExhausted, len(got), n, fam, args.Host))
	}
	return got, nil
}

// hostBlocks are the blocks affine to host (confirmed), sorted. A claim
// left pending (its claimer died) is finished or undone first.
func (c *Client) hostBlocks(ctx context.Context, host string, fam int) ([]netip.Prefix, error) {
	kvs, _, err := c.be.List(ctx, hostAffinities(host, famName(fam)))
	if err != nil {
		return nil, fmt.Errorf("list the blocks of %s: %w", host, err)
	}
	var out []netip.Prefix
	for _, kv := range kvs {
		_, cidr, ok := parseAffinityKey(kv.Key)
		if !ok {
			c.skip(kv.Key, errors.New("not an affinity key"))
			continue
		}
		a, err := decodeAffinity(kv.Key, kv.Value)
		if err != nil {
			c.skip(kv.Key, err)
			continue
		}
		switch a.State {
		case AffinityConfirmed:
			out = append(out, cidr)
		case AffinityPending:
			ok, err := c.finishClaim(ctx, host, cidr, kv.ModRevision)
			if err != nil {
				return nil, err
			}
			if ok {
				out = append(out, cidr)
			}
		}
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	return out, nil
}

func famName(fam int) string {
	if fam == 4 {
		return "ipv4"
	}
	return "ipv6"
}

// finishClaim completes a claim found pending at revision rev:
// confirmed when the block exists and is host's; dropped when the block
// is someone else's. Without a block the claim may still be under way
// (another process of the host): it is left alone, and if its claimer
// died, its lease ends it (claimTTL). It reports whether the block is
// host's.
func (c *Client) finishClaim(ctx context.Context, host string, cidr netip.Prefix, rev int64) (bool, error) {
	key := AffinityKey(host, cidr)
	b, _, err := c.getBlock(ctx, cidr)
	switch {
	case errors.Is(err, datastore.ErrNotFound):
		return false, nil
	case err != nil:
		return false, nil // unreadable: skipped (and counted)
	case b.AffineTo(host):
		return c.confirm(ctx, host, cidr, rev)
	default:
		if _, err := c.be.Delete(ctx, key, rev); err != nil && !errors.Is(err, datastore.ErrConflict) && !errors.Is(err, datastore.ErrNotFound) {
			return false, fmt.Errorf("drop the failed claim of %s by %s: %w", cidr, host, err)
		}
		return false, nil
	}
}

// confirm makes host's affinity to block cidr (pending at revision rev,
// its block created affine to host) confirmed, for good: without the
// claim's lease. Another process of the host may confirm it first.
func (c *Client) confirm(ctx context.Context, host string, cidr netip.Prefix, rev int64) (bool, error) {
	key := AffinityKey(host, cidr)
	for attempt := range maxAttempts {
		var err error
		if rev == 0 {
			// The pending affinity ended (its lease ran out while we
			// stalled): the block is ours, so is the affinity.
			_, err = c.be.Create(ctx, key, encodeAffinity(AffinityConfirmed), 0)
		} else {
			_, err = c.be.Update(ctx, key, encodeAffinity(AffinityConfirmed), rev, 0)
		}
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, datastore.ErrConflict) && !errors.Is(err, datastore.ErrNotFound) && !errors.Is(err, datastore.ErrExists) {
			return false, fmt.Errorf("confirm the claim of %s by %s: %w", cidr, host, err)
		}
		kv, gerr := c.be.Get(ctx, key)
		switch {
		case errors.Is(gerr, datastore.ErrNotFound):
			rev = 0
		case gerr != nil:
			return false, fmt.Errorf("confirm the claim of %s by %s: %w", cidr, host, gerr)
		default:
			a, derr := decodeAffinity(key, kv.Value)
			if derr != nil {
				return false, derr
			}
			if a.State == AffinityConfirmed {
				return true, nil
			}
			if a.State == AffinityPendingDeletion {
				return false, nil
			}
			rev = kv.ModRevision
		}
		backoff(ctx, attempt)
	}
	return false, fmt.Errorf("%w: affinity of %s to %s", ErrContention, host, cidr)
}

// claimTTL bounds how long a claim may stay pending: a claimer that dies
// between its writes leaves a pending affinity that ends with its lease.
const claimTTL = time.Minute

var errNoFreeBlock = errors.New("no free block")

// claimFreeBlock claims, for host, a block of one of pools that no one
// holds, and returns it.
func (c *Client) claimFreeBlock(ctx context.Context, host string, pools []*Pool, reserved func(netip.Addr) bool) (netip.Prefix, error) {
	if len(pools) == 0 {
		return netip.Prefix{}, errNoFreeBlock
	}
	kvs, _, err := c.be.List(ctx, blocksOf(family(pools[0].CIDR)))
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("list blocks: %w", err)
	}
	taken := map[netip.Prefix]bool{}
	for _, kv := range kvs {
		if p, ok := parseBlockKey(kv.Key); ok {
			taken[p] = true
		}
	}
	for _, p := range pools {
		for b := range candidateBlocks(p, host, len(taken)) {
			if taken[b] || allReserved(b, reserved) {
				continue
			}
			ok, err := c.claimBlock(ctx, host, b)
			if err != nil {
				return netip.Prefix{}, err
			}
			if ok {
				return b, nil
			}
			taken[b] = true
		}
	}
	return netip.Prefix{}, errNoFreeBlock
}

// candidateBlocks yields the blocks of pool, starting at one that
// depends on host (so that hosts claiming at once seldom race for the
// same block) and going round. For pools of very many blocks only the
// first taken+256 from the start are tried: at most taken of them can
// be in use.
func candidateBlocks(p *Pool, host string, taken int) func(yield func(netip.Prefix) bool) {
	return func(yield func(netip.Prefix) bool) {
		bits := p.BlockBits - p.CIDR.Bits()
		total := uint64(1) << min(bits, 62)
		limit := total
		if want := uint64(taken) + 256; want < limit {
			limit = want
		}
		h := fnv.New64a()
		h.Write([]byte(host))
		start := h.Sum64() % total
		size := uint64(1) << (p.CIDR.Addr().BitLen() - p.BlockBits)
		for i := range limit {
			idx := (start + i) % total
			a := addBig(p.CIDR.Addr(), idx, size)
			if !yield(netip.PrefixFrom(a, p.BlockBits)) {
				return
			}
		}
	}
}

// addBig is a + idx*size, for block starts (idx*size may exceed 64
// bits in IPv6 pools).
func addBig(a netip.Addr, idx, size uint64) netip.Addr {
	b := a.As16()
	// 128-bit product of idx and size, added to b.
	hi, lo := mul64(idx, size)
	var carry uint64
	for i := 15; i >= 0; i-- {
		var add uint64
		switch {
		case i >= 8:
			add = (lo >> (8 * (15 - i))) & 0xff
		default:
			add = (hi >> (8 * (7 - i))) & 0xff
		}
		s := uint64(b[i]) + add + carry
		b[i] = byte(s)
		carry = s >> 8
	}
	out := netip.AddrFrom16(b)
	if a.Is4() {
		out = out.Unmap()
	}
	return out
}

func mul64(x, y uint64) (hi, lo uint64) {
	const mask32 = 1<<32 - 1
	x0, x1 := x&mask32, x>>32
	y0, y1 := y&mask32, y>>32
	w0 := x0 * y0
	t := x1*y0 + w0>>32
	w1, w2 := t&mask32, t>>32
	w1 += x0 * y1
	return x1*y1 + w2 + w1>>32, x * y
}

// allReserved reports whether every address of block b is reserved.
func allReserved(b netip.Prefix, reserved func(netip.Addr) bool) bool {
	if reserved == nil {
		return false
	}
	for o := range blockSize(b) {
		if !reserved(addOffset(b.Addr(), o)) {
			return false
		}
	}
	return true
}

// claimBlock makes block b host's: the affinity, pending (on a lease,
// see claimTTL); the block, affine to host; the affinity, confirmed. It
// reports false when someone else holds b.
func (c *Client) claimBlock(ctx context.Context, host string, b netip.Prefix) (bool, error) {
	akey := AffinityKey(host, b)
	rev, err := c.be.Create(ctx, akey, encodeAffinity(AffinityPending), claimTTL)
	if errors.Is(err, datastore.ErrExists) {
		// The host's own claim, finished or under way.
		kv, gerr := c.be.Get(ctx, akey)
		if gerr != nil {
			return false, nil
		}
		a, derr := decodeAffinity(akey, kv.Value)
		if derr != nil {
			return false, nil
		}
		switch a.State {
		case AffinityConfirmed:
			blk, _, berr := c.getBlock(ctx, b)
			return berr == nil && blk.AffineTo(host), nil
		case AffinityPending:
			return c.finishClaim(ctx, host, b, kv.ModRevision)
		}
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("claim %s for %s: %w", b, host, err)
	}
	reached("affinity-pending")
	blk := newBlock(b, host, c.now())
	v, err := blk.encode()
	if err != nil {
		return false, err
	}
	if _, err := c.be.Create(ctx, BlockKey(b), v, 0); err != nil {
		// Someone else's block (or an error): the claim is void.
		if _, derr := c.be.Delete(ctx, akey, rev); derr != nil && !errors.Is(derr, datastore.ErrNotFound) && !errors.Is(derr, datastore.ErrConflict) {
			err = errors.Join(err, derr)
		}
		if errors.Is(err, datastore.ErrExists) {
			return false, nil
		}
		return false, fmt.Errorf("create block %s for %s: %w", b, host, err)
	}
	reached("block-created")
	ok, err := c.confirm(ctx, host, b, rev)
	if ok {
		c.log.Info("claimed block", "block", b, "host", host)
	}
	return ok, err
}

// getBlock reads a block with its revision.
func (c *Client) getBlock(ctx context.Context, cidr netip.Prefix) (*Block, int64, error) {
	key := BlockKey(cidr)
	kv, err := c.be.Get(ctx, key)
	if err != nil {
		return nil, 0, err
	}
	b, err := decodeBlock(key, kv.Value)
	if err != nil {
		c.skip(key, err)
		return nil, 0, err
	}
	return b, kv.ModRevision, nil
}

// listBlocks reads every readable block of a family (4 or 6), sorted.
func (c *Client) listBlocks(ctx context.Context, fam int) ([]*Block, error) {
	kvs, _, err := c.be.List(ctx, blocksOf(famName(fam)))
	if err != nil {
		return nil, fmt.Errorf("list blocks: %w", err)
	}
	var out []*Block
	for _, kv := range kvs {
		b, err := decodeBlock(kv.Key, kv.Value)
		if err != nil {
			c.skip(kv.Key, err)
			continue
		}
		out = append(out, b)
	}
	slices.SortFunc(out, func(a, b *Block) int { return a.cidr.Addr().Compare(b.cidr.Addr()) })
	return out, nil
}

// assignFromBlock allocates up to n addresses in block cidr, counting
// them in attr's handle first (so that a crash between the two writes
// leaves a handle that claims too much, which `ipam check` finds, never
// an address no handle owns). host, when set, is the affinity the block
// must still have.
// readBlock is a block as read, with its revision.
type readBlock struct {
	b   *Block
	rev int64
}

func (c *Client) assignFromBlock(ctx context.Context, cidr netip.Prefix, n int, attr Attribute,
	reserved func(netip.Addr) bool, host string, pre *readBlock) ([]netip.Addr, error) {
	for attempt := range maxAttempts {
		var b *Block
		var rev int64
		var err error
		if pre != nil {
			// The caller's read is the first attempt's.
			b, rev, pre = pre.b, pre.rev, nil
		} else {
			b, rev, err = c.getBlock(ctx, cidr)
		}
		if errors.Is(err, datastore.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			// Unreadable: skipped, as is a block we could not decode.
			return nil, nil
		}
		if host != "" && !b.AffineTo(host) {
			return nil, nil
		}
		ips := b.assign(n, attr, reserved)
		if len(ips) == 0 {
			return nil, nil
		}
		b.SequenceNumber++
		v, err := b.encode()
		if err != nil {
			return nil, err
		}
		if err := c.countHandle(ctx, attr.handle(), cidr, len(ips)); err != nil {
			return nil, err
		}
		reached("handle-counted")
		_, err = c.be.Update(ctx, BlockKey(cidr), v, rev, 0)
		if err == nil {
			return ips, nil
		}
		if uerr := c.countHandle(ctx, attr.handle(), cidr, -len(ips)); uerr != nil {
			return nil, errors.Join(err, uerr)
		}
		if !errors.Is(err, datastore.ErrConflict) && !errors.Is(err, datastore.ErrNotFound) {
			return nil, fmt.Errorf("write block %s: %w", cidr, err)
		}
		backoff(ctx, attempt)
	}
	return nil, fmt.Errorf("%w: block %s", ErrContention, cidr)
}

// backoff waits a little, more after each failed attempt.
func backoff(ctx context.Context, attempt int) {
	d := time.Duration(rand.IntN(1+min(attempt, 20))) * 200 * time.Microsecond
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// countHandle adds delta to the handle's count of addresses in block
// (creating the handle, or deleting it when nothing is left).
func (c *Client) countHandle(ctx context.Context, id string, block netip.Prefix, delta int) error {
	if id == "" || delta == 0 {
		return nil
	}
	key := HandleKey(id)
	if delta > 0 {
		// Most handles are new (one per container): try creating first.
		h := &handle{Block: map[string]int{block.String(): delta}}
		_, err := c.be.Create(ctx, key, h.encode(), 0)
		if err == nil {
			return nil
		}
		if !errors.Is(err, datastore.ErrExists) {
			return fmt.Errorf("write handle %s: %w", id, err)
		}
	}
	for attempt := range maxAttempts {
		kv, err := c.be.Get(ctx, key)
		var err2 error
		switch {
		case errors.Is(err, datastore.ErrNotFound):
			if delta < 0 {
				return nil
			}
			h := &handle{Block: map[string]int{block.String(): delta}}
			_, err2 = c.be.Create(ctx, key, h.encode(), 0)
		case err != nil:
			return fmt.Errorf("read handle %s: %w", id, err)
		default:
			h, derr := decodeHandle(key, kv.Value)
			if derr != nil {
				// Rewriting it could lose the counts of other blocks.
				c.skip(key, derr)
				return derr
			}
			h.Block[block.String()] = max(0, h.Block[block.String()]+delta)
			if h.Block[block.String()] == 0 {
				delete(h.Block, block.String())
			}
			if len(h.Block) == 0 {
				_, err2 = c.be.Delete(ctx, key, kv.ModRevision)
			} else {
				_, err2 = c.be.Update(ctx, key, h.encode(), kv.ModRevision, 0)
			}
		}
		if err2 == nil {
			return nil
		}
		if !errors.Is(err2, datastore.ErrConflict) && !errors.Is(err2, datastore.ErrExists) && !errors.Is(err2, datastore.ErrNotFound) {
			return fmt.Errorf("write handle %s: %w", id, err2)
		}
		backoff(ctx, attempt)
	}
	return fmt.Errorf("%w: handle %s", ErrContention, id)
}

// AssignIP allocates one given address to handle for host. Its block is
// claimed for host when no one holds it yet.
func (c *Client) AssignIP(ctx context.Context, ip netip.Addr, handleID, host string, attrs map[string]string) error {
	if handleID == "" || host == "" {
		return errors.New("IPAM assign: a handle and a host are required")
	}
	pools, err := c.pools(ctx)
	if err != nil {
		return err
	}
	p := poolFor(pools, ip)
	if p == nil {
		return fmt.Errorf("%w: %s is in no IP pool", ErrNoPools, ip)
	}
	reserved, err := c.reservations(ctx)
	if err != nil {
		return err
	}
	if reserved != nil && reserved(ip) {
		return fmt.Errorf("%s is held back by an IPReservation", ip)
	}
	cidr := p.blockOf(ip)
	attr := Attribute{HandleID: &handleID, Secondary: attrs}
	for attempt := range maxAttempts {
		b, rev, err := c.getBlock(ctx, cidr)
		if errors.Is(err, datastore.ErrNotFound) {
			if _, err := c.claimBlock(ctx, host, cidr); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		if !b.assignAddr(ip, attr) {
			return fmt.Errorf("%w: %s", ErrInUse, ip)
		}
		b.SequenceNumber++
		v, err := b.encode()
		if err != nil {
			return err
		}
		if err := c.countHandle(ctx, handleID, cidr, 1); err != nil {
			return err
		}
		_, err = c.be.Update(ctx, BlockKey(cidr), v, rev, 0)
		if err == nil {
			return nil
		}
		if uerr := c.countHandle(ctx, handleID, cidr, -1); uerr != nil {
			return errors.Join(err, uerr)
		}
		if !errors.Is(err, datastore.ErrConflict) {
			return fmt.Errorf("write block %s: %w", cidr, err)
		}
		backoff(ctx, attempt)
	}
	return fmt.Errorf("%w: block %s", ErrContention, cidr)
}

// ReleaseIPs frees addresses and returns those that were not allocated.
// A block left empty that no host holds is deleted.
func (c *Client) ReleaseIPs(ctx context.Context, ips []netip.Addr) (notAllocated []netip.Addr, err error) {
	byBlock, missing, err := c.blocksOf(ctx, ips)
	if err != nil {
		return nil, err
	}
	notAllocated = missing
	for _, cidr := range slices.SortedFunc(maps.Keys(byBlock), func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) }) {
		want := byBlock[cidr]
		freed, err := c.releaseInBlock(ctx, cidr, func(b *Block) []netip.Addr {
			var got []netip.Addr
			for _, ip := range want {
				if o := b.ordinal(ip); o >= 0 && b.Allocations[o] != nil {
					got = append(got, ip)
				}
			}
			b.release(got)
			return got
		})
		if err != nil {
			return nil, err
		}
		for _, ip := range want {
			if !slices.Contains(freed, ip) {
				notAllocated = append(notAllocated, ip)
			}
		}
	}
	return notAllocated, nil
}

// blocksOf groups addresses by the block that holds them (by the pool's
// block size; among the stored blocks when no pool holds one any more).
// Addresses in no block are returned apart.
func (c *Client) blocksOf(ctx context.Context, ips []netip.Addr) (map[netip.Prefix][]netip.Addr, []netip.Addr, error) {
	pools, err := c.pools(ctx)
	if err != nil {
		return nil, nil, err
	}
	out := map[netip.Prefix][]netip.Addr{}
	var stored map[int][]*Block
	var missing []netip.Addr
	for _, ip := range ips {
		if p := poolFor(pools, ip); p != nil {
			out[p.blockOf(ip)] = append(out[p.blockOf(ip)], ip)
			continue
		}
		if stored == nil {
			stored = map[int][]*Block{}
			for _, fam := range []int{4, 6} {
				if stored[fam], err = c.listBlocks(ctx, fam); err != nil {
					return nil, nil, err
				}
			}
		}
		fam := 6
		if ip.Is4() {
			fam = 4
		}
		found := false
		for _, b := range stored[fam] {
			if b.cidr.Contains(ip) {
				out[b.cidr] = append(out[b.cidr], ip)
				found = true
				break
			}
		}
		if !found {
			missing = append(missing, ip)
		}
	}
	return out, missing, nil
}

// releaseInBlock frees in block cidr what free picks (it changes the
// block and returns the addresses it freed), writes the block, then
// takes the freed addresses off their handles' counts.
func (c *Client) releaseInBlock(ctx context.Context, cidr netip.Prefix, free func(*Block) []netip.Addr) ([]netip.Addr, error) {
	for attempt := range maxAttempts {
		b, rev, err := c.getBlock(ctx, cidr)
		if errors.Is(err, datastore.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		handles := map[string]int{}
		before := b.Allocated()
		freed := free(b)
		if len(freed) == 0 {
			return nil, nil
		}
		for _, ip := range freed {
			handles[before[ip].handle()]++
		}
		key := BlockKey(cidr)
		if b.Empty() && b.Affinity == nil {
			_, err = c.be.Delete(ctx, key, rev)
		} else {
			b.SequenceNumber++
			v, eerr := b.encode()
			if eerr != nil {
				return nil, eerr
			}
			_, err = c.be.Update(ctx, key, v, rev, 0)
		}
		if err == nil {
			reached("block-released")
			for h, n := range handles {
				if err := c.countHandle(ctx, h, cidr, -n); err != nil {
					return freed, err
				}
			}
			return freed, nil
		}
		if !errors.Is(err, datastore.ErrConflict) && !errors.Is(err, datastore.ErrNotFound) {
			return nil, fmt.Errorf("write block %s: %w", cidr, err)
		}
		backoff(ctx, attempt)
	}
	return nil, fmt.Errorf("%w: block %s", ErrContention, cidr)
}

// ReleaseByHandle frees every address of a handle and deletes it. A
// handle that does not exist is not an error (a CNI DEL may come twice):
// it releases nothing.
func (c *Client) ReleaseByHandle(ctx context.Context, handleID string) ([]netip.Addr, error) {
	key := HandleKey(handleID)
	kv, err := c.be.Get(ctx, key)
	if errors.Is(err, datastore.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read handle %s: %w", handleID, err)
	}
	h, err := decodeHandle(key, kv.Value)
	if err != nil {
		c.skip(key, err)
		return nil, err
	}
	var out []netip.Addr
	for _, cidr := range h.blocks() {
		freed, err := c.releaseInBlock(ctx, cidr, func(b *Block) []netip.Addr { return b.releaseHandle(handleID) })
		if err != nil {
			return out, err
		}
		out = append(out, freed...)
	}
	// What the counts still say (a count left by a crashed assign)
	// goes with the handle.
	if _, err := c.be.Delete(ctx, key, 0); err != nil && !errors.Is(err, datastore.ErrNotFound) {
		return out, fmt.Errorf("delete handle %s: %w", handleID, err)
	}
	return out, nil
}

// IPsByHandle returns the addresses a handle holds.
func (c *Client) IPsByHandle(ctx context.Context, handleID string) ([]netip.Addr, error) {
	key := HandleKey(handleID)
	kv, err := c.be.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	h, err := decodeHandle(key, kv.Value)
	if err != nil {
		c.skip(key, err)
		return nil, err
	}
	var out []netip.Addr
	for _, cidr := range h.blocks() {
		b, _, err := c.getBlock(ctx, cidr)
		if errors.Is(err, datastore.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for ip, a := range b.Allocated() {
			if a.handle() == handleID {
				out = append(out, ip)
			}
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out, nil
}

// ReleaseEmptyBlocks gives up host's blocks that hold no address: the
// affinity is marked pendingDeletion, the block deleted (only if still
// empty), then the affinity deleted. It returns the blocks released.
func (c *Client) ReleaseEmptyBlocks(ctx context.Context, host string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, fam := range []int{4, 6} {
		blocks, err := c.hostBlocks(ctx, host, fam)
		if err != nil {
			return out, err
		}
		for _, cidr := range blocks {
			ok, err := c.releaseBlockIfEmpty(ctx, host, cidr)
			if err != nil {
				return out, err
			}
			if ok {
				out = append(out, cidr)
			}
		}
	}
	return out, nil
}

func (c *Client) releaseBlockIfEmpty(ctx context.Context, host string, cidr netip.Prefix) (bool, error) {
	akey := AffinityKey(host, cidr)
	b, rev, err := c.getBlock(ctx, cidr)
	if err != nil && !errors.Is(err, datastore.ErrNotFound) {
		return false, err
	}
	if err == nil && (!b.Empty() || !b.AffineTo(host)) {
		return false, nil
	}
	arev, err := c.be.Update(ctx, akey, encodeAffinity(AffinityPendingDeletion), 0, 0)
	if err != nil {
		return false, fmt.Errorf("release block %s of %s: %w", cidr, host, err)
	}
	if b != nil {
		if _, err := c.be.Delete(ctx, BlockKey(cidr), rev); err != nil {
			// It changed (an address was allocated): keep it.
			if _, rerr := c.be.Update(ctx, akey, encodeAffinity(AffinityConfirmed), arev, 0); rerr != nil {
				err = errors.Join(err, rerr)
			}
			if errors.Is(err, datastore.ErrConflict) {
				return false, nil
			}
			return false, fmt.Errorf("release block %s of %s: %w", cidr, host, err)
		}
	}
	if _, err := c.be.Delete(ctx, akey, arev); err != nil && !errors.Is(err, datastore.ErrNotFound) {
		return false, fmt.Errorf("release block %s of %s: %w", cidr, host, err)
	}
	c.log.Info("released empty block", "block", cidr, "host", host)
	return true, nil
}

// Config reads the IPAM configuration (DefaultConfig when none is
// stored; an unreadable one is an error, not a default, so that strict
// affinity is never silently off).
func (c *Client) Config(ctx context.Context) (Config, error) {
	kv, err := c.be.Get(ctx, configKey)
	if errors.Is(err, datastore.ErrNotFound) {
		return DefaultConfig(), nil
	}
	if err != nil {
		return Config{}, fmt.Errorf("read IPAM configuration: %w", err)
	}
	cfg, _, err := decodeConfig(kv.Value)
	return cfg, err
}

// SetConfig stores the IPAM configuration, keeping the stored fields it
// does not know.
func (c *Client) SetConfig(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	for attempt := range maxAttempts {
		kv, err := c.be.Get(ctx, configKey)
		var raw map[string]json.RawMessage
		var rev int64
		switch {
		case errors.Is(err, datastore.ErrNotFound):
		case err != nil:
			return fmt.Errorf("read IPAM configuration: %w", err)
		default:
			if _, raw, err = decodeConfig(kv.Value); err != nil {
				return err
			}
			rev = kv.ModRevision
		}
		v := encodeConfig(cfg, raw)
		if rev == 0 {
			_, err = c.be.Create(ctx, configKey, v, 0)
		} else {
			_, err = c.be.Update(ctx, configKey, v, rev, 0)
		}
		if err == nil {
			return nil
		}
		if !errors.Is(err, datastore.ErrConflict) && !errors.Is(err, datastore.ErrExists) {
			return fmt.Errorf("write IPAM configuration: %w", err)
		}
		backoff(ctx, attempt)
	}
	return fmt.Errorf("%w: IPAM configuration", ErrContention)
}
