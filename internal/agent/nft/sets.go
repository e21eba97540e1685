package nft

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/google/nftables"
)

// datatype is the nftables key type of a SetType.
func datatype(t SetType) (nftables.SetDatatype, error) {
	switch t {
	case TypeIPv4Addr:
		return nftables.TypeIPAddr, nil
	case TypeIPv6Addr:
		return nftables.TypeIP6Addr, nil
	case TypeInetService:
		return nftables.TypeInetService, nil
	case TypeIfname:
		return nftables.TypeIFName, nil
	case TypeEtherAddr:
		return nftables.TypeEtherAddr, nil
	case TypeIPv4AddrProtoPort:
		return nftables.ConcatSetType(nftables.TypeIPAddr, nftables.TypeInetProto, nftables.TypeInetService)
	case TypeIPv6AddrProtoPort:
		return nftables.ConcatSetType(nftables.TypeIP6Addr, nftables.TypeInetProto, nftables.TypeInetService)
	}
	return nftables.TypeInvalid, fmt.Errorf("unknown set type %d", t)
}

func addrFamily(t SetType) int {
	switch t {
	case TypeIPv4Addr, TypeIPv4AddrProtoPort:
		return 4
	case TypeIPv6Addr, TypeIPv6AddrProtoPort:
		return 6
	}
	return 0
}

func familyOf(a netip.Addr) int {
	if a.Is4() {
		return 4
	}
	return 6
}

// singleAddr accepts an address given as a /32 or /128 prefix of the
// wanted family.
func singleAddr(p netip.Prefix, fam int) (netip.Addr, error) {
	if !p.IsValid() {
		return netip.Addr{}, fmt.Errorf("address missing")
	}
	if familyOf(p.Addr()) != fam {
		return netip.Addr{}, fmt.Errorf("%s is not an IPv%d address", p, fam)
	}
	if p.Bits() != p.Addr().BitLen() {
		return netip.Addr{}, fmt.Errorf("%s is not a single address (only interval sets take prefixes)", p)
	}
	return p.Addr(), nil
}

// setElems turns a set's elements into the sorted spans the kernel will
// hold; see span for why interval sets are merged.
func setElems(s *Set) ([]elem, error) {
	raw, err := setSpans(s.Name, s)
	if err != nil {
		return nil, err
	}
	return spanElems(raw, s.Interval), nil
}

// setSpans returns the span of each of s's elements, sorted.
func setSpans(name string, s *Set) ([]span, error) {
	fam := addrFamily(s.Type)
	spans := make([]span, len(s.Elements))
	for i, e := range s.Elements {
		sp, err := elementSpan(s.Type, s.Interval, fam, e)
		if err != nil {
			return nil, fmt.Errorf("set %q element %d: %w", name, i, err)
		}
		spans[i] = sp
	}
	if !slices.IsSortedFunc(spans, span.compare) {
		slices.SortFunc(spans, span.compare)
	}
	return spans, nil
}

func elementSpan(t SetType, interval bool, fam int, e Element) (span, error) {
	switch t {
	case TypeIPv4Addr, TypeIPv6Addr:
		if !interval {
			a, err := singleAddr(e.Prefix, fam)
			if err != nil {
				return span{}, err
			}
			k := addrKey(a)
			return span{k, k}, nil
		}
		if !e.Prefix.IsValid() {
			return span{}, fmt.Errorf("prefix missing")
		}
		if familyOf(e.Prefix.Addr()) != fam {
			return span{}, fmt.Errorf("%s is not an IPv%d prefix", e.Prefix, fam)
		}
		return prefixSpan(e.Prefix), nil
	case TypeInetService:
		if e.Ports.Hi < e.Ports.Lo {
			return span{}, fmt.Errorf("port range %d-%d is empty (a single port has Lo == Hi)", e.Ports.Lo, e.Ports.Hi)
		}
		if !interval && e.Ports.Lo != e.Ports.Hi {
			return span{}, fmt.Errorf("port range %d-%d needs an interval set", e.Ports.Lo, e.Ports.Hi)
		}
		return span{portKey(e.Ports.Lo), portKey(e.Ports.Hi)}, nil
	case TypeIfname:
		if err := checkIfname(e.Name); err != nil {
			return span{}, err
		}
		k := ifnameKey(e.Name)
		return span{k, k}, nil
	case TypeEtherAddr:
		if len(e.MAC) != 6 {
			return span{}, fmt.Errorf("MAC %q is not 6 bytes", e.MAC)
		}
		k := newKey(e.MAC)
		return span{k, k}, nil
	case TypeIPv4AddrProtoPort, TypeIPv6AddrProtoPort:
		a, err := singleAddr(e.Prefix, fam)
		if err != nil {
			return span{}, err
		}
		if e.Ports.Lo != e.Ports.Hi {
			return span{}, fmt.Errorf("port range %d-%d: named-port sets take single ports", e.Ports.Lo, e.Ports.Hi)
		}
		k := concatKey(a, e.Proto, e.Ports.Lo)
		return span{k, k}, nil
	}
	return span{}, fmt.Errorf("unknown set type %d", t)
}

// checkIfname: names longer than IFNAMSIZ-1 could never match, and a
// wildcard in a plain set would be compared literally.
func checkIfname(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("interface name missing")
	case len(name) > 15:
		return fmt.Errorf("interface name %q is longer than 15 bytes", name)
	case strings.HasSuffix(name, "*"):
		return fmt.Errorf("interface name %q: wildcards are not supported in sets and maps", name)
	}
	return nil
}

// mapElems turns a verdict map's elements into sorted elems.
func mapElems(m *Map) ([]elem, error) {
	out := make([]elem, 0, len(m.Elements))
	for name, v := range m.Elements {
		e, err := mapElem(m.Name, name, v)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	slices.SortFunc(out, compareElems)
	return out, nil
}

// mapElem is the element of map mapName for interface name.
func mapElem(mapName, name string, v Verdict) (elem, error) {
	if err := checkIfname(name); err != nil {
		return elem{}, fmt.Errorf("map %q: %w", mapName, err)
	}
	var val string
	switch v.Kind {
	case VerdictJump:
		val = "jump " + v.Chain
	case VerdictGoto:
		val = "goto " + v.Chain
	default:
		return elem{}, fmt.Errorf("map %q element %q: verdict must be jump or goto", mapName, name)
	}
	k := ifnameKey(name)
	return elem{span: span{k, k}, val: val}, nil
}

// elemText prints one element of a set of type t as nft lists it.
func elemText(t SetType, e elem) string {
	var s string
	switch t {
	case TypeIPv4Addr, TypeIPv6Addr:
		s = addrSpanText(e.span)
	case TypeInetService:
		s = portSpanText(e.span)
	case TypeIfname:
		s = ifnameText(e.lo)
	case TypeEtherAddr:
		s = net.HardwareAddr(e.lo.bytes()).String()
	case TypeIPv4AddrProtoPort, TypeIPv6AddrProtoPort:
		b := e.lo.bytes()
		n := len(b) - 8
		s = fmt.Sprintf("%s . %s . %d", keyAddr(b[:n]), protoName(b[n]), binary.BigEndian.Uint16(b[n+4:]))
	default:
		s = fmt.Sprintf("%x", e.lo.bytes())
	}
	if e.val != "" {
		s += " : " + e.val
	}
	return s
}

// setTypeName is the type line of a set or map in nft's listing.
func setTypeName(t SetType) string {
	dt, err := datatype(t)
	if err != nil {
		return fmt.Sprintf("unknown(%d)", t)
	}
	return dt.Name
}
