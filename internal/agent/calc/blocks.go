package calc

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/gocalico/calico/internal/datastore/syncer"
)

// The IPAM blocks affine to this node are blackholed locally: traffic to
// an address of a local block that no workload holds is dropped here
// instead of following the default route back into the network (which,
// with BGP announcing the block from this node, would loop). A
// workload's /32 (/128) route is more specific and wins. The blocks come
// from the node's block affinities, as IPAM stores them
// (../shared/CALICO-V3-WIRE.md, "IPAM keys"):
// /calico/ipam/v2/host/<node>/ipv4/block/10.65.0.0-26 holding
// {"state":"confirmed"} once the node owns the block.

const (
	affinitiesPrefix = "/calico/ipam/v2/host/"
	// AffinityConfirmed is the state of an affinity whose block exists
	// and is the node's: only those blocks are blackholed.
	AffinityConfirmed = "confirmed"
)

// AffinityPrefix is the datastore prefix of node's IPAM block
// affinities, which the agent's syncer follows and decodes with
// DecodeAffinity.
func AffinityPrefix(node string) string { return affinitiesPrefix + node + "/" }

// Affinity is one decoded block affinity.
type Affinity struct {
	Node  string
	Block netip.Prefix
	// State is "pending", "confirmed" or "pendingDeletion"; a value
	// marked deleted reads as an empty State.
	State string
}

// DecodeAffinity decodes the value at an affinity key. An empty value,
// or one without a state, reads as confirmed (what older writers left).
func DecodeAffinity(key string, value []byte) (*Affinity, error) {
	node, block, err := parseAffinityKey(key)
	if err != nil {
		return nil, err
	}
	a := &Affinity{Node: node, Block: block, State: AffinityConfirmed}
	if len(value) == 0 {
		return a, nil
	}
	var v struct {
		State   string `json:"state"`
		Deleted bool   `json:"deleted"`
	}
	if err := json.Unmarshal(value, &v); err != nil {
		return nil, fmt.Errorf("affinity %s: %w", key, err)
	}
	switch {
	case v.Deleted:
		a.State = ""
	case v.State != "":
		a.State = v.State
	}
	return a, nil
}

// parseAffinityKey reads /calico/ipam/v2/host/<node>/ipv4/block/<a>-<len>.
func parseAffinityKey(key string) (string, netip.Prefix, error) {
	bad := func(why string) (string, netip.Prefix, error) {
		return "", netip.Prefix{}, fmt.Errorf("affinity key %s: %s", key, why)
	}
	rest, ok := strings.CutPrefix(key, affinitiesPrefix)
	if !ok {
		return bad("not under " + affinitiesPrefix)
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 4 || parts[0] == "" || parts[2] != "block" {
		return bad("want " + affinitiesPrefix + "<node>/<ipv4|ipv6>/block/<address>-<length>")
	}
	i := strings.LastIndexByte(parts[3], '-')
	if i < 0 {
		return bad("block not <address>-<length>")
	}
	p, err := netip.ParsePrefix(parts[3][:i] + "/" + parts[3][i+1:])
	if err != nil || p != p.Masked() {
		return bad("block not a network <address>-<length>")
	}
	if fam := map[bool]string{true: "ipv4", false: "ipv6"}[p.Addr().Is4()]; parts[1] != fam {
		return bad("block " + p.String() + " under " + parts[1])
	}
	return parts[0], p, nil
}

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
