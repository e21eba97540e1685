package birdcfg

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Route aggregation: a node announces each IPAM block affine to it as one
// route (from a static protocol of blackhole routes, calico_blocks_v4 and
// calico_blocks_v6) instead of one /32 (/128) per workload. Its workload
// routes inside those blocks are not announced; those of addresses it
// borrowed from another node's block still are, and being more specific
// than that node's block route they win by longest-prefix match
// everywhere, the block's owner included. The static routes never reach
// the kernel (calico_kernel_* takes BGP routes only): the agent programs
// the local blackhole routes, so that an unallocated address of a local
// block is dropped here instead of looping back to the network.

// parseBlocks keeps the node's blocks that lie inside an IP pool, by
// family, in Input order.
func (r *renderer) parseBlocks() {
	r.blocks = map[int][]netip.Prefix{}
	for _, b := range r.in.Blocks {
		if !b.IsValid() {
			continue
		}
		b = b.Masked()
		fam := familyOf(b.Addr())
		if !slices.ContainsFunc(r.pools[fam], func(p pool) bool { return p.cidr.Bits() <= b.Bits() && p.cidr.Contains(b.Addr()) }) {
			r.problem("IPAM block %s is affine to node %q but inside no IP pool; not announced", b, r.in.NodeName)
			continue
		}
		if !slices.Contains(r.blocks[fam], b) {
			r.blocks[fam] = append(r.blocks[fam], b)
		}
	}
}

// writeBlockFilters writes the functions that tell block routes and
// routes inside the node's blocks apart.
func (r *renderer) writeBlockFilters(w func(string, ...any), fam int) {
	bs := r.blocks[fam]
	sfx := fmt.Sprintf("v%d", fam)
	w("# One of this node's IPAM blocks, as its static protocol holds it.")
	w("function calico_block_route_%s() {", sfx)
	w("  return proto = %s;", quoted("calico_blocks_"+sfx))
	w("}")
	w("")
	w("# Inside this node's IPv%d blocks: its workload routes there are covered by", fam)
	w("# the block route and not announced one by one.")
	w("function calico_own_block_%s() {", sfx)
	if len(bs) == 0 {
		w("  return false; # none")
	} else {
		items := make([]string, len(bs))
		for i, b := range bs {
			items[i] = b.String() + "+"
		}
		w("  return net ~ [ %s ];", strings.Join(items, ", "))
	}
	w("}")
	w("")
}

// writeBlockProtocol writes the static protocol of a family's blocks, if
// the node has any.
func (r *renderer) writeBlockProtocol(w func(string, ...any), fam int) {
	bs := r.blocks[fam]
	if len(bs) == 0 {
		return
	}
	w("")
	w("# This node's IPv%d IPAM blocks, announced as one route each (see", fam)
	w("# calico_export_v%d). Never written to the kernel: the agent programs the", fam)
	w("# blackhole routes there itself.")
	w("protocol static calico_blocks_v%d {", fam)
	w("  ipv%d;", fam)
	for _, b := range bs {
		w("  route %s blackhole;", b)
	}
	w("}")
}
