package labelindex

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
)

// NamedPort is a port an endpoint names, which policy rules may refer to
// by name instead of number.
type NamedPort struct {
	Name  string
	Proto uint8 // IP protocol number: 6 TCP, 17 UDP, 132 SCTP
	Port  uint16
}

// Member is one element of an IP set: an address or CIDR for a plain set,
// an (address, protocol, port) tuple for a named-port set.
type Member struct {
	Prefix netip.Prefix
	Proto  uint8  // 0 in plain sets
	Port   uint16 // 0 in plain sets
}

// Is4 reports whether m belongs in the IPv4 flavour of its set; nftables
// keeps IPv4 and IPv6 sets apart.
func (m Member) Is4() bool { return m.Prefix.Addr().Is4() }

func (m Member) String() string {
	if m.Proto == 0 && m.Port == 0 {
		return m.Prefix.String()
	}
	return fmt.Sprintf("%s proto %d port %d", m.Prefix, m.Proto, m.Port)
}

// Compare orders members by address, prefix length, protocol and port, so
// that IPv4 members sort before IPv6 ones.
func (m Member) Compare(o Member) int {
	return cmp.Or(
		comparePrefix(m.Prefix, o.Prefix),
		cmp.Compare(m.Proto, o.Proto),
		cmp.Compare(m.Port, o.Port),
	)
}

func comparePrefix(a, b netip.Prefix) int {
	return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
}

// normPrefixes returns a sorted, de-duplicated copy of ps with host bits
// cleared (nftables interval sets reject them) and invalid prefixes
// dropped.
func normPrefixes(ps []netip.Prefix) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(ps))
	for _, p := range ps {
		if p.IsValid() {
			out = append(out, p.Masked())
		}
	}
	slices.SortFunc(out, comparePrefix)
	return slices.Compact(out)
}

// normPorts returns a sorted, de-duplicated copy of ps.
func normPorts(ps []NamedPort) []NamedPort {
	out := slices.Clone(ps)
	slices.SortFunc(out, func(a, b NamedPort) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Proto, b.Proto), cmp.Compare(a.Port, b.Port))
	})
	return slices.Compact(out)
}
