package birdcfg

import (
	"net/netip"

	"github.com/gocalico/calico/internal/ipam"
)

// Block affinities, as IPAM stores them (docs/wire-format.md, "IPAM"): /calico/ipam/v2/host/<node>/ipv4/block/10.65.0.0-26 holds
// {"state":"confirmed"} once the node owns the block. The keys and values
// are internal/ipam's.
// AffinityConfirmed is the state of an affinity whose block exists and
// is the node's: only those blocks are announced.
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

// IsAffinityKey reports whether key is under some node's affinities.
func IsAffinityKey(key string) bool { return ipam.IsAffinityKey(key) }
