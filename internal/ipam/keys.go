// Package ipam hands out workload addresses from IP pools, the way
// upstream Calico's IPAM does and in its etcd format: pools are cut into
// blocks (a /26 or /122 by default), a host claims blocks by an affinity
// written with compare-and-swap, and an allocation is a compare-and-swap
// of the block that holds it. Handles record which addresses each owner
// (a container, a tunnel) holds, so that a CNI DEL or a crash can be
// cleaned up. Blocks are what BGP exports: one route per block, not per
// workload.
//
// Keys and values are upstream Calico's (docs/wire-format.md, "IPAM"):
// upstream calicoctl, calico-ipam and Felix read what this
// package writes, and this package reads what they write.
package ipam

import (
	"fmt"
	"net/netip"
	"strings"
)

// Key prefixes under /calico/ipam/v2.
const (
	prefix       = "/calico/ipam/v2/"
	blocksPrefix = prefix + "assignment/"
	hostsPrefix  = prefix + "host/"
	handlePrefix = prefix + "handle/"
	configKey    = prefix + "config"
)

// family is "ipv4" or "ipv6", as in the keys.
func family(p netip.Prefix) string {
	if p.Addr().Is4() {
		return "ipv4"
	}
	return "ipv6"
}

// cidrKey is a block CIDR as the keys spell it: "10.0.0.0-26".
func cidrKey(p netip.Prefix) string {
	return p.Masked().Addr().String() + "-" + fmt.Sprint(p.Bits())
}

// parseCIDRKey reads cidrKey's form back.
func parseCIDRKey(s string) (netip.Prefix, error) {
	i := strings.LastIndexByte(s, '-')
	if i < 0 {
		return netip.Prefix{}, fmt.Errorf("block %q: want <address>-<prefix length>", s)
	}
	p, err := netip.ParsePrefix(s[:i] + "/" + s[i+1:])
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("block %q: %w", s, err)
	}
	if p != p.Masked() {
		return netip.Prefix{}, fmt.Errorf("block %q: not a network address", s)
	}
	return p, nil
}

// BlockKey is the key of the block with this CIDR.
func BlockKey(cidr netip.Prefix) string {
	return blocksPrefix + family(cidr) + "/block/" + cidrKey(cidr)
}

// blocksOf is the prefix of every block of a family ("ipv4", "ipv6").
func blocksOf(fam string) string { return blocksPrefix + fam + "/block/" }

// parseBlockKey returns the CIDR of a block key.
func parseBlockKey(key string) (netip.Prefix, bool) {
	rest, ok := strings.CutPrefix(key, blocksPrefix)
	if !ok {
		return netip.Prefix{}, false
	}
	_, c, ok := strings.Cut(rest, "/block/")
	if !ok {
		return netip.Prefix{}, false
	}
	p, err := parseCIDRKey(c)
	return p, err == nil
}

// AffinityKey is the key of host's affinity to the block cidr.
func AffinityKey(host string, cidr netip.Prefix) string {
	return hostAffinities(host, family(cidr)) + cidrKey(cidr)
}

// hostAffinities is the prefix of a host's affinities of a family.
func hostAffinities(host, fam string) string {
	return hostsPrefix + host + "/" + fam + "/block/"
}

// parseAffinityKey returns the host and block of an affinity key.
func parseAffinityKey(key string) (host string, cidr netip.Prefix, ok bool) {
	host, cidr, err := ParseAffinityKey(key)
	return host, cidr, err == nil
}

// ParseAffinityKey reads /calico/ipam/v2/host/<host>/<ipv4|ipv6>/block/<address>-<length>,
// saying what is wrong with a key that is not one.
func ParseAffinityKey(key string) (string, netip.Prefix, error) {
	bad := func(why string) (string, netip.Prefix, error) {
		return "", netip.Prefix{}, fmt.Errorf("affinity key %s: %s", key, why)
	}
	rest, ok := strings.CutPrefix(key, hostsPrefix)
	if !ok {
		return bad("not under " + hostsPrefix)
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 4 || parts[0] == "" || parts[2] != "block" {
		return bad("want " + hostsPrefix + "<host>/<ipv4|ipv6>/block/<address>-<length>")
	}
	p, err := parseCIDRKey(parts[3])
	if err != nil || p.Addr().Zone() != "" {
		return bad("block not a network <address>-<length>")
	}
	if parts[1] != family(p) {
		return bad("block " + p.String() + " under " + parts[1])
	}
	return parts[0], p, nil
}

// AffinityPrefix is the prefix of every affinity of host (both
// families): what a component that follows a host's blocks watches.
func AffinityPrefix(host string) string { return hostsPrefix + host + "/" }

// IsAffinityKey reports whether key is under some host's affinities.
func IsAffinityKey(key string) bool { return strings.HasPrefix(key, hostsPrefix) }

// HandleKey is the key of a handle.
func HandleKey(id string) string { return handlePrefix + id }
