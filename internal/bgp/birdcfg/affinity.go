package birdcfg

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
)

// Block affinities, as IPAM stores them (../shared/CALICO-V3-WIRE.md,
// "IPAM keys"): /calico/ipam/v2/host/<node>/ipv4/block/10.65.0.0-26 holds
// {"state":"confirmed"} once the node owns the block.
const (
	affinitiesPrefix = "/calico/ipam/v2/host/"
	// AffinityConfirmed is the state of an affinity whose block exists
	// and is the node's; only these blocks are announced.
	AffinityConfirmed = "confirmed"
)

// AffinityPrefix is the datastore prefix of node's IPAM block
// affinities. A syncer feeding a View for node must follow it (beside the
// resource prefixes) and decode its values with DecodeAffinity.
func AffinityPrefix(node string) string { return affinitiesPrefix + node + "/" }

// IsAffinityKey reports whether key is under some node's affinities.
func IsAffinityKey(key string) bool { return strings.HasPrefix(key, affinitiesPrefix) }

// Affinity is one decoded block affinity.
type Affinity struct {
	Node  string
	Block netip.Prefix
	// State is "pending", "confirmed" or "pendingDeletion". A value
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
	if err != nil || p.Addr().Zone() != "" || p != p.Masked() {
		return bad("block not a network <address>-<length>")
	}
	if fam := map[bool]string{true: "ipv4", false: "ipv6"}[p.Addr().Is4()]; parts[1] != fam {
		return bad("block " + p.String() + " under " + parts[1])
	}
	return parts[0], p, nil
}
