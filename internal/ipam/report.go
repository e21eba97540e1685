package ipam

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/datastore"
)

// BlockUsage is one block's use.
type BlockUsage struct {
	CIDR netip.Prefix
	// Host is the host the block is affine to ("" for none).
	Host  string
	Size  int
	InUse int
}

// PoolUsage is one pool's use, with its blocks.
type PoolUsage struct {
	Name     string
	CIDR     netip.Prefix
	Disabled bool
	// Size is the number of addresses in the pool: 2^SizeBits.
	SizeBits int
	InUse    int
	Blocks   []BlockUsage
}

// Usage reports each pool's use and its blocks. Blocks in no pool (their
// pool was deleted) are in a last entry with no name.
func (c *Client) Usage(ctx context.Context) ([]PoolUsage, error) {
	pools, err := c.pools(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]PoolUsage, len(pools))
	for i, p := range pools {
		out[i] = PoolUsage{Name: p.Name, CIDR: p.CIDR, Disabled: p.Disabled, SizeBits: p.CIDR.Addr().BitLen() - p.CIDR.Bits()}
	}
	var orphans PoolUsage
	for _, fam := range []int{4, 6} {
		blocks, err := c.listBlocks(ctx, fam)
		if err != nil {
			return nil, err
		}
		for _, b := range blocks {
			u := BlockUsage{CIDR: b.cidr, Host: b.Host(), Size: len(b.Allocations), InUse: b.InUse()}
			pu := &orphans
			for i := range out {
				if out[i].CIDR.Contains(b.cidr.Addr()) {
					pu = &out[i]
					break
				}
			}
			pu.Blocks = append(pu.Blocks, u)
			pu.InUse += u.InUse
		}
	}
	if len(orphans.Blocks) > 0 {
		out = append(out, orphans)
	}
	return out, nil
}

// IPInfo is what IPAM knows of one address.
type IPInfo struct {
	IP    netip.Addr
	Pool  string       // "" when no pool holds it
	Block netip.Prefix // zero when no block holds it
	// BlockHost is the host the block is affine to.
	BlockHost string
	Allocated bool
	Handle    string
	Attrs     map[string]string
}

// Lookup reports whether ip is allocated, and to whom.
func (c *Client) Lookup(ctx context.Context, ip netip.Addr) (*IPInfo, error) {
	info := &IPInfo{IP: ip}
	pools, err := c.pools(ctx)
	if err != nil {
		return nil, err
	}
	if p := poolFor(pools, ip); p != nil {
		info.Pool = p.Name
	}
	byBlock, _, err := c.blocksOf(ctx, []netip.Addr{ip})
	if err != nil {
		return nil, err
	}
	for cidr := range byBlock {
		b, _, err := c.getBlock(ctx, cidr)
		if errors.Is(err, datastore.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		info.Block, info.BlockHost = cidr, b.Host()
		if a, ok := b.Allocated()[ip]; ok {
			info.Allocated, info.Handle, info.Attrs = true, a.handle(), a.Secondary
		}
	}
	return info, nil
}

// Report is the result of Check: what is wrong with the IPAM data. It is
// written as JSON by `calicoctl ipam check -o` and read back by
// `calicoctl ipam release --from-report`.
type Report struct {
	Version   string    `json:"version"`
	Generated time.Time `json:"generated"`
	// Allocations counts every allocated address; InUse those that a
	// WorkloadEndpoint or a Node (tunnel address) uses.
	Allocations int `json:"allocations"`
	InUse       int `json:"inUse"`
	// Leaked are allocated addresses no WorkloadEndpoint or Node uses:
	// safe to release (their allocation is identified by sequence
	// number, so a release never frees an address given out again since).
	Leaked []Allocation `json:"leakedIPs"`
	// MissingHandles are allocations whose handle does not exist.
	MissingHandles []Allocation `json:"allocationsWithoutHandle"`
	// DanglingHandles are handles whose counts do not match the blocks
	// (a handle counting addresses no block gives it, or none at all).
	DanglingHandles []HandleProblem `json:"danglingHandles"`
	// OrphanBlocks are blocks affine to a host that has no Node.
	OrphanBlocks []BlockProblem `json:"blocksOfMissingNodes"`
	// StrayAffinities are affinities without their block, pending ones,
	// and those whose block is affine to another host.
	StrayAffinities []BlockProblem `json:"strayAffinities"`
	// Unreadable are keys whose values could not be read.
	Unreadable []string `json:"unreadable"`
}

// Allocation is one allocated address.
type Allocation struct {
	IP       netip.Addr        `json:"ip"`
	Block    netip.Prefix      `json:"block"`
	Handle   string            `json:"handle,omitempty"`
	Attrs    map[string]string `json:"attrs,omitempty"`
	Sequence uint64            `json:"sequenceNumber"`
}

// HandleProblem is a handle whose counts are wrong.
type HandleProblem struct {
	Handle string         `json:"handle"`
	Counts map[string]int `json:"counts"`
	Actual map[string]int `json:"actual"`
}

// BlockProblem names a block, a host and what is wrong.
type BlockProblem struct {
	Block   netip.Prefix `json:"block"`
	Host    string       `json:"host"`
	Problem string       `json:"problem"`
}

// ReportVersion is the version of the Report format.
const ReportVersion = "gocalico/v1"

// Problems is the number of problems found.
func (r *Report) Problems() int {
	return len(r.Leaked) + len(r.MissingHandles) + len(r.DanglingHandles) + len(r.OrphanBlocks) + len(r.StrayAffinities) + len(r.Unreadable)
}

// Check reads every block, handle and affinity, and the
// WorkloadEndpoints and Nodes that use addresses, and reports what does
// not add up.
func (c *Client) Check(ctx context.Context) (*Report, error) {
	r := &Report{Version: ReportVersion, Generated: c.now().UTC()}
	used, nodes, err := c.usedAddresses(ctx)
	if err != nil {
		return nil, err
	}
	handles := map[string]*handle{}
	kvs, _, err := c.be.List(ctx, handlePrefix)
	if err != nil {
		return nil, fmt.Errorf("list handles: %w", err)
	}
	for _, kv := range kvs {
		h, err := decodeHandle(kv.Key, kv.Value)
		if err != nil {
			r.Unreadable = append(r.Unreadable, kv.Key)
			continue
		}
		handles[strings.TrimPrefix(kv.Key, handlePrefix)] = h
	}
	actual := map[string]map[string]int{}
	blocks := map[netip.Prefix]*Block{}
	for _, fam := range []string{"ipv4", "ipv6"} {
		kvs, _, err := c.be.List(ctx, blocksOf(fam))
		if err != nil {
			return nil, fmt.Errorf("list blocks: %w", err)
		}
		for _, kv := range kvs {
			b, err := decodeBlock(kv.Key, kv.Value)
			if err != nil {
				r.Unreadable = append(r.Unreadable, kv.Key)
				continue
			}
			blocks[b.cidr] = b
			if h := b.Host(); h != "" && !nodes[h] {
				r.OrphanBlocks = append(r.OrphanBlocks, BlockProblem{Block: b.cidr, Host: h, Problem: "affine to a host that has no Node"})
			}
			for o, ai := range b.Allocations {
				if ai == nil {
					continue
				}
				a := b.Attributes[*ai]
				al := Allocation{IP: b.addr(o), Block: b.cidr, Handle: a.handle(), Attrs: a.Secondary,
					Sequence: b.SequenceNumberForAllocation[strconv.Itoa(o)]}
				r.Allocations++
				if used[al.IP] {
					r.InUse++
				} else {
					r.Leaked = append(r.Leaked, al)
				}
				if al.Handle != "" {
					if actual[al.Handle] == nil {
						actual[al.Handle] = map[string]int{}
					}
					actual[al.Handle][b.cidr.String()]++
					if handles[al.Handle] == nil {
						r.MissingHandles = append(r.MissingHandles, al)
					}
				}
			}
		}
	}
	for _, id := range slices.Sorted(maps.Keys(handles)) {
		if !maps.Equal(handles[id].Block, actual[id]) {
			r.DanglingHandles = append(r.DanglingHandles, HandleProblem{Handle: id, Counts: handles[id].Block, Actual: actual[id]})
		}
	}
	akvs, _, err := c.be.List(ctx, hostsPrefix)
	if err != nil {
		return nil, fmt.Errorf("list affinities: %w", err)
	}
	for _, kv := range akvs {
		host, cidr, ok := parseAffinityKey(kv.Key)
		if !ok {
			r.Unreadable = append(r.Unreadable, kv.Key)
			continue
		}
		a, err := decodeAffinity(kv.Key, kv.Value)
		if err != nil {
			r.Unreadable = append(r.Unreadable, kv.Key)
			continue
		}
		b := blocks[cidr]
		switch {
		case a.State != AffinityConfirmed:
			r.StrayAffinities = append(r.StrayAffinities, BlockProblem{Block: cidr, Host: host, Problem: "affinity " + a.State})
		case b == nil:
			r.StrayAffinities = append(r.StrayAffinities, BlockProblem{Block: cidr, Host: host, Problem: "no such block"})
		case !b.AffineTo(host):
			r.StrayAffinities = append(r.StrayAffinities, BlockProblem{Block: cidr, Host: host, Problem: "block is affine to " + strOr(b.Affinity)})
		}
	}
	byBlock := func(a, b BlockProblem) int {
		if c := a.Block.Addr().Compare(b.Block.Addr()); c != 0 {
			return c
		}
		return strings.Compare(a.Host, b.Host)
	}
	slices.SortFunc(r.OrphanBlocks, byBlock)
	slices.SortFunc(r.StrayAffinities, byBlock)
	slices.SortFunc(r.Leaked, func(a, b Allocation) int { return a.IP.Compare(b.IP) })
	slices.SortFunc(r.MissingHandles, func(a, b Allocation) int { return a.IP.Compare(b.IP) })
	return r, nil
}

func strOr(s *string) string {
	if s == nil {
		return "nothing"
	}
	return *s
}

// usedAddresses are the addresses WorkloadEndpoints and Nodes (tunnel
// addresses) use, and the names of the Nodes.
func (c *Client) usedAddresses(ctx context.Context) (map[netip.Addr]bool, map[string]bool, error) {
	used := map[netip.Addr]bool{}
	add := func(s string) {
		if s == "" {
			return
		}
		if p, err := netip.ParsePrefix(s); err == nil {
			used[p.Addr()] = true
		} else if a, err := netip.ParseAddr(s); err == nil {
			used[a] = true
		}
	}
	weps, _, err := c.res.List(ctx, v3.KindWorkloadEndpoint, resourcesAll)
	if err != nil {
		return nil, nil, err
	}
	for _, r := range weps {
		for _, n := range r.(*v3.WorkloadEndpoint).Spec.IPNetworks {
			add(n)
		}
	}
	ns, _, err := c.res.List(ctx, v3.KindNode, resourcesAll)
	if err != nil {
		return nil, nil, err
	}
	nodes := map[string]bool{}
	for _, r := range ns {
		n := r.(*v3.Node)
		nodes[n.Metadata.Name] = true
		add(n.Spec.IPv4VXLANTunnelAddr)
		add(n.Spec.IPv6VXLANTunnelAddr)
		if n.Spec.BGP != nil {
			add(n.Spec.BGP.IPv4IPIPTunnelAddr)
		}
	}
	return used, nodes, nil
}

// ReleaseAllocations frees the allocations listed (a report's leaked
// addresses), each only if it is still the same allocation: the same
// handle and sequence number. It returns the ones it released and the
// ones it left because they changed.
func (c *Client) ReleaseAllocations(ctx context.Context, allocs []Allocation) (released, changed []Allocation, err error) {
	byBlock := map[netip.Prefix][]Allocation{}
	for _, a := range allocs {
		byBlock[a.Block] = append(byBlock[a.Block], a)
	}
	for _, cidr := range slices.SortedFunc(maps.Keys(byBlock), func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) }) {
		want := byBlock[cidr]
		var same []Allocation
		freed, err := c.releaseInBlock(ctx, cidr, func(b *Block) []netip.Addr {
			same = same[:0]
			var ips []netip.Addr
			for _, a := range want {
				o := b.ordinal(a.IP)
				if o < 0 || b.Allocations[o] == nil {
					continue
				}
				if b.Attributes[*b.Allocations[o]].handle() != a.Handle || b.SequenceNumberForAllocation[strconv.Itoa(o)] != a.Sequence {
					continue
				}
				ips = append(ips, a.IP)
				same = append(same, a)
			}
			b.release(ips)
			return ips
		})
		if err != nil {
			return released, changed, err
		}
		for _, a := range want {
			if slices.Contains(freed, a.IP) {
				released = append(released, a)
			} else {
				changed = append(changed, a)
			}
		}
	}
	return released, changed, nil
}

// Repair is what ReleaseReport did.
type Repair struct {
	Released        []Allocation
	Changed         []Allocation // leaked when reported, reallocated or freed since
	HandlesFixed    []string
	AffinitiesFixed []BlockProblem
	BlocksReleased  []netip.Prefix
	Skipped         []string // problems left as they are, and why
}

// ReleaseReport repairs what a Check found, as far as it is safe:
//   - leaked addresses are released if they are still the same
//     allocation (handle and sequence number);
//   - a handle whose counts disagree with the blocks is set to what the
//     blocks hold now (deleted when they hold nothing for it), by
//     compare-and-swap;
//   - a pending affinity is confirmed when its block exists and is the
//     host's, and deleted otherwise; an affinity without its block is
//     deleted;
//   - an empty block affine to a host that has no Node is released.
//
// Allocations without a handle are left: their addresses may be in use
// (they show up as leaked too when no endpoint uses them).
func (c *Client) ReleaseReport(ctx context.Context, r *Report) (*Repair, error) {
	out := &Repair{}
	var err error
	out.Released, out.Changed, err = c.ReleaseAllocations(ctx, r.Leaked)
	if err != nil {
		return out, err
	}
	for _, hp := range r.DanglingHandles {
		fixed, err := c.fixHandle(ctx, hp.Handle)
		if err != nil {
			return out, err
		}
		if fixed {
			out.HandlesFixed = append(out.HandlesFixed, hp.Handle)
		}
	}
	for _, ap := range r.StrayAffinities {
		fixed, why, err := c.fixAffinity(ctx, ap.Host, ap.Block)
		if err != nil {
			return out, err
		}
		if fixed {
			out.AffinitiesFixed = append(out.AffinitiesFixed, ap)
		} else if why != "" {
			out.Skipped = append(out.Skipped, fmt.Sprintf("affinity of %s to %s: %s", ap.Host, ap.Block, why))
		}
	}
	for _, bp := range r.OrphanBlocks {
		b, rev, err := c.getBlock(ctx, bp.Block)
		if errors.Is(err, datastore.ErrNotFound) {
			continue
		}
		if err != nil {
			return out, err
		}
		if !b.Empty() {
			out.Skipped = append(out.Skipped, fmt.Sprintf("block %s of missing node %s: %d addresses still allocated", bp.Block, bp.Host, b.InUse()))
			continue
		}
		if _, err := c.be.Delete(ctx, BlockKey(bp.Block), rev); err != nil {
			if errors.Is(err, datastore.ErrConflict) {
				out.Skipped = append(out.Skipped, fmt.Sprintf("block %s changed since it was read", bp.Block))
				continue
			}
			return out, fmt.Errorf("delete block %s: %w", bp.Block, err)
		}
		if _, err := c.be.Delete(ctx, AffinityKey(bp.Host, bp.Block), 0); err != nil && !errors.Is(err, datastore.ErrNotFound) {
			return out, fmt.Errorf("delete affinity of %s to %s: %w", bp.Host, bp.Block, err)
		}
		out.BlocksReleased = append(out.BlocksReleased, bp.Block)
	}
	return out, nil
}

// fixHandle sets a handle's counts to what the blocks hold for it now.
func (c *Client) fixHandle(ctx context.Context, id string) (bool, error) {
	key := HandleKey(id)
	for attempt := range maxAttempts {
		kv, err := c.be.Get(ctx, key)
		if errors.Is(err, datastore.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		h, err := decodeHandle(key, kv.Value)
		if err != nil {
			return false, nil // unreadable: left for an operator
		}
		actual := map[string]int{}
		for _, cidr := range h.blocks() {
			b, _, err := c.getBlock(ctx, cidr)
			if errors.Is(err, datastore.ErrNotFound) {
				continue
			}
			if err != nil {
				return false, err
			}
			for _, a := range b.Allocated() {
				if a.handle() == id {
					actual[cidr.String()]++
				}
			}
		}
		if maps.Equal(actual, h.Block) {
			return false, nil
		}
		if len(actual) == 0 {
			_, err = c.be.Delete(ctx, key, kv.ModRevision)
		} else {
			h.Block = actual
			_, err = c.be.Update(ctx, key, h.encode(), kv.ModRevision, 0)
		}
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, datastore.ErrConflict) && !errors.Is(err, datastore.ErrNotFound) {
			return false, fmt.Errorf("fix handle %s: %w", id, err)
		}
		backoff(ctx, attempt)
	}
	return false, fmt.Errorf("%w: handle %s", ErrContention, id)
}

// fixAffinity confirms or deletes a stray affinity; why says why not.
func (c *Client) fixAffinity(ctx context.Context, host string, cidr netip.Prefix) (bool, string, error) {
	key := AffinityKey(host, cidr)
	kv, err := c.be.Get(ctx, key)
	if errors.Is(err, datastore.ErrNotFound) {
		return false, "", nil
	}
	if err != nil {
		return false, "", err
	}
	a, err := decodeAffinity(key, kv.Value)
	if err != nil {
		return false, "unreadable", nil
	}
	b, _, err := c.getBlock(ctx, cidr)
	switch {
	case err != nil && !errors.Is(err, datastore.ErrNotFound):
		return false, "its block is unreadable", nil
	case err == nil && b.AffineTo(host) && a.State == AffinityPending:
		ok, err := c.confirm(ctx, host, cidr, kv.ModRevision)
		return ok, "", err
	case err == nil && b.AffineTo(host):
		return false, "", nil // fine now
	}
	if _, err := c.be.Delete(ctx, key, kv.ModRevision); err != nil {
		if errors.Is(err, datastore.ErrConflict) || errors.Is(err, datastore.ErrNotFound) {
			return false, "changed since it was read", nil
		}
		return false, "", fmt.Errorf("delete affinity of %s to %s: %w", host, cidr, err)
	}
	return true, "", nil
}
