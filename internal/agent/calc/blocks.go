package calc

import (
	"net/netip"
	"slices"

	"github.com/gocalico/calico/internal/ipam"

	"github.com/gocalico/calico/internal/datastore/syncer"
)

// The IPAM blocks affine to this node are blackholed locally: traffic to
// an address of a local block that no workload holds is dropped here
// instead of following the default route back into the network (which,
// with BGP announcing the block from this node, would loop). A
// workload's /32 (/128) route is more specific and wins. The blocks come
// from the node's block affinities, as IPAM stores them
// (docs/wire-format.md, "IPAM"):
// /calico/ipam/v2/host/<node>/ipv4/block/10.65.0.0-26 holding
// {"state":"confirmed"} once the node owns the block. The keys and values
// are internal/ipam's.
// AffinityConfirmed is the state of an affinity whose block exists and
// is the node's: only those blocks are blackholed.
const AffinityConfirmed = ipam.AffinityConfirmed

// AffinityPrefix is the datastore prefix of node's IPAM block
// affinities, to follow and decode with DecodeAffinity.
func AffinityPrefix(node string) string { return ipam.AffinityPrefix(node) }

// Affinity is one decoded block affinity.
type Affinity = ipam.Affinity

// DecodeAffinity decodes the value at an affinity key (see
// ipam.DecodeAffinity).
func DecodeAffinity(key string, value []byte) (*Affinity, error) {
	return ipam.DecodeAffinity(key, value)
}

func parseAffinityKey(key string) (string, netip.Prefix, error) { return ipam.ParseAffinityKey(key) }

// onAffinity folds in one update of a key under this node's affinities
// and reports whether the set of confirmed blocks changed. The value is
// an *Affinity (raw bytes are decoded too); anything else, or a value
// that does not match its key, counts as a delete.
func (c *Calc) onAffinity(u syncer.Update) bool {
	node, block, err := parseAffinityKey(u.Key)
	if err != nil || node != c.node {
		return false
	}
	var a *Affinity
	switch v := u.Value.(type) {
	case *Affinity:
		a = v
	case []byte:
		a, _ = DecodeAffinity(u.Key, v)
	}
	confirmed := u.Type != syncer.UpdateDeleted && a != nil && a.State == AffinityConfirmed && a.Node == node && a.Block == block
	if confirmed == c.blocks[block] {
		return false
	}
	if confirmed {
		c.blocks[block] = true
	} else {
		delete(c.blocks, block)
	}
	return true
}

// blackholes are the blocks to blackhole: confirmed affinities whose
// block lies inside an IP pool (IPv6 ones only with IPv6 support),
// sorted, IPv4 first; nil when none.
func (c *Calc) blackholes() []netip.Prefix {
	var out []netip.Prefix
	for b := range c.blocks {
		if b.Addr().Is6() && !c.cfg.IPv6Support {
			continue
		}
		for _, p := range c.pools {
			if p.Bits() <= b.Bits() && p.Contains(b.Addr()) {
				out = append(out, b)
				break
			}
		}
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	return out
}
