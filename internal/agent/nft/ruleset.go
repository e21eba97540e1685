// Package nft is the agent's nftables layer: a small, typed model of one
// table (chains, rules, named sets and verdict maps), rendered as `nft`
// text for golden files and debugging, compiled to netlink messages with
// github.com/google/nftables, and applied to the kernel as the
// difference from what is there, in one atomic transaction.
//
// The model is deliberately narrow: it has exactly the matches and
// statements the policy renderer needs. The table is always of family
// inet and is owned by the agent; nothing outside it is read or touched.
package nft

import (
	"net"
	"net/netip"
	"sync/atomic"
)

// Ruleset is the whole desired content of the agent's table.
//
// Its chains, sets and maps are shared, not copied: once a Ruleset has
// been given to Applier.Apply, its *Chain, *Set and *Map objects must not
// be modified. To change one, make a new object; to keep one, give the
// same pointer again in the next Ruleset. Apply then spends nothing on
// what kept its pointer (see Applier.Apply).
type Ruleset struct {
	// Table is the table's name (family inet), e.g. "calico".
	Table  string
	Chains map[string]*Chain
	Sets   map[string]*Set
	Maps   map[string]*Map
	// Changes, when not nil, lets Apply skip even the pointer
	// comparisons of the objects that did not change (see Changes).
	Changes *Changes
}

// Changes says what a Ruleset changed since the one its producer made
// before it: generation Since of the same Lineage. Every chain, set and
// map that is not named has the same pointer in both Rulesets, or is in
// neither. The Applier uses it only when the ruleset it last took is
// that one; otherwise it compares everything, as without Changes. A
// producer that names too little breaks Apply the way modifying an
// applied object does: the change may never reach the kernel.
type Changes struct {
	// Lineage tells producers apart; 0 is not a lineage. Use NewLineage.
	Lineage uint64
	// Gen is this Ruleset's generation, Since the one it follows.
	Gen, Since uint64
	Chains     map[string]struct{}
	Sets       map[string]struct{}
	Maps       map[string]struct{}
}

var lineages atomic.Uint64

// NewLineage returns a lineage no other caller in this process gets.
func NewLineage() uint64 { return lineages.Add(1) }

// Hook makes a chain a base chain.
type Hook struct {
	Type     string // "filter" (the only type used)
	Hook     string // "prerouting", "input", "forward", "output", "postrouting"
	Priority int
	Policy   string // "accept" or "drop"
}

// Chain is a base chain (Base != nil) or a regular chain.
type Chain struct {
	Name  string
	Base  *Hook
	Rules []Rule
}

// SetType is the key type of a set or map.
type SetType int

const (
	TypeIPv4Addr    SetType = iota + 1 // ipv4_addr; Element.Prefix
	TypeIPv6Addr                       // ipv6_addr; Element.Prefix
	TypeInetService                    // inet_service; Element.Ports
	TypeIfname                         // ifname; Element.Name
	TypeEtherAddr                      // ether_addr; Element.MAC
	// TypeIPv4AddrProtoPort is ipv4_addr . inet_proto . inet_service
	// (named ports: Element.Prefix (a single address), Element.Proto,
	// Element.Ports (a single port)).
	TypeIPv4AddrProtoPort
	TypeIPv6AddrProtoPort // ipv6_addr . inet_proto . inet_service
)

// Set is a named set.
type Set struct {
	Name string
	Type SetType
	// Interval: elements are prefixes or port ranges (flags interval).
	// Only for TypeIPv4Addr, TypeIPv6Addr and TypeInetService.
	Interval bool
	Elements []Element
}

// Element is one set element; which fields count depends on the set's
// type.
type Element struct {
	Prefix netip.Prefix // address types: a prefix (interval sets) or a /32 or /128
	Ports  PortRange    // TypeInetService, *AddrProtoPort (Lo == Hi there)
	Proto  uint8        // *AddrProtoPort
	Name   string       // TypeIfname
	MAC    net.HardwareAddr
}

// PortRange is an inclusive range; a single port has Lo == Hi.
type PortRange struct{ Lo, Hi uint16 }

// Map is a named verdict map: key -> jump/goto a chain.
type Map struct {
	Name     string
	Type     SetType // TypeIfname only, for now
	Elements map[string]Verdict
}

// MatchKind says what a Match compares.
type MatchKind int

const (
	// MatchIIFName / MatchOIFName: meta iifname / oifname == Name. A
	// trailing "*" makes it a prefix match (as in nft: "cali*").
	MatchIIFName MatchKind = iota + 1
	MatchOIFName
	// MatchNFProto: meta nfproto == Num (4 = ipv4, 6 = ipv6).
	MatchNFProto
	// MatchL4Proto: meta l4proto == Num (or in Nums when set).
	MatchL4Proto
	// MatchSAddr / MatchDAddr: ip[6] saddr/daddr in Prefixes (an
	// anonymous interval set; one element is a plain comparison), or in
	// @Set when Set is named. Family is Family (4 or 6); when 0 it is
	// taken from the set's type or the prefixes.
	MatchSAddr
	MatchDAddr
	// MatchSPort / MatchDPort: th sport/dport in Ports (anonymous
	// interval set) or @Set. The rule must also match a port protocol.
	MatchSPort
	MatchDPort
	// MatchSAddrPort / MatchDAddrPort: (ip[6] daddr . meta l4proto . th
	// dport) in @Set, for named ports; Family is 4 or 6.
	MatchSAddrPort
	MatchDAddrPort
	// MatchICMP: icmp (Family 4) or icmpv6 (Family 6) type == Num, and
	// code == Code when HasCode.
	MatchICMP
	// MatchCTState: ct state in Num (CTEstablished|CTRelated|...).
	MatchCTState
	// MatchMark: meta mark & Mask == Num. Mask 0 means all bits.
	MatchMark
	// MatchEtherSAddr: ether saddr == MAC.
	MatchEtherSAddr
)

// Conntrack states for MatchCTState.
const (
	CTInvalid     = 1
	CTEstablished = 2
	CTRelated     = 4
	CTNew         = 8
	// CTUntracked: the packet was exempted from conntrack (Notrack).
	CTUntracked = 0x40
)

// Match is one condition of a rule. Not negates it.
type Match struct {
	Kind     MatchKind
	Not      bool
	Name     string         // interface name (may end in "*")
	Family   int            // 4 or 6 where the match depends on it
	Num      uint32         // protocol, ICMP type, ct state bits, mark value
	Nums     []uint8        // MatchL4Proto: a set of protocols
	Code     uint8          // MatchICMP
	HasCode  bool           // MatchICMP
	Mask     uint32         // MatchMark
	Set      string         // a named set
	Prefixes []netip.Prefix // anonymous address set
	Ports    []PortRange    // anonymous port set
	MAC      net.HardwareAddr
}

// VerdictKind is what a rule does at its end.
type VerdictKind int

const (
	// VerdictNone: no verdict; evaluation continues with the next rule.
	VerdictNone VerdictKind = iota
	VerdictAccept
	VerdictDrop
	VerdictReturn
	VerdictJump // Chain
	VerdictGoto // Chain
	// VerdictMap: meta iifname (Key "iifname") or oifname ("oifname")
	// vmap @Map.
	VerdictMap
)

// Verdict ends a rule.
type Verdict struct {
	Kind  VerdictKind
	Chain string // VerdictJump, VerdictGoto, and map elements
	Map   string // VerdictMap
	Key   string // VerdictMap: "iifname" or "oifname"
}

// Rule is matches (all must hold), then statements in this order:
// counter, log, set/clear mark, then the verdict.
type Rule struct {
	Match   []Match
	Counter bool
	// LogPrefix, when not empty, logs the packet with this prefix.
	LogPrefix string
	// SetMark, when not zero, ORs these bits into the packet's mark
	// (meta mark set meta mark | SetMark).
	SetMark uint32
	// ClearMark, when not zero, clears these bits of the packet's mark
	// first; with SetMark too, one statement does both:
	// meta mark set meta mark & ^(ClearMark|SetMark) ^ SetMark
	// (nft prints "meta mark set meta mark & 0x... | 0x...").
	ClearMark uint32
	// Notrack exempts the packet from connection tracking (notrack); it
	// has effect only in a chain that runs before conntrack, at priority
	// raw on the prerouting or output hook.
	Notrack bool
	Verdict Verdict
	// Comment is stored as the rule's comment (user data); it must be
	// unique within the chain when not empty, so that rule counters can
	// be read back per rule (e.g. "pol:default.allow-web:ingress:0").
	Comment string
}
