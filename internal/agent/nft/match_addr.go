package nft

import (
	"fmt"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
)

// anonText prints an anonymous set's elements as nft lists them.
func anonText(elems []string) string {
	slices.SortFunc(elems, compareElementText)
	return "{ " + strings.Join(elems, ", ") + " }"
}

// anonSet queues an anonymous constant set and returns the lookup of it.
func (b *ruleBuilder) anonSet(dt nftables.SetDatatype, interval bool, elems []nftables.SetElement, invert bool) *expr.Lookup {
	if !b.exprs {
		return nil
	}
	s := &nftables.Set{
		Table:     b.table,
		ID:        b.nextID(),
		Name:      "__set%d",
		Anonymous: true,
		Constant:  true,
		Interval:  interval,
		KeyType:   dt,
	}
	b.anon = append(b.anon, anonSet{set: s, elems: elems})
	return &expr.Lookup{SourceRegister: 1, SetName: s.Name, SetID: s.ID, Invert: invert}
}

// spanElements is how one span goes to the kernel: interval sets hold a
// start and an end one past the last value (none when the span reaches
// the top of the key space).
func spanElements(sp span, interval bool) []nftables.SetElement {
	return appendSpanElements(nil, sp, interval)
}

// appendSpanElements appends spanElements(sp, interval) to dst.
func appendSpanElements(dst []nftables.SetElement, sp span, interval bool) []nftables.SetElement {
	dst = append(dst, nftables.SetElement{Key: sp.lo.bytes()})
	if !interval {
		return dst
	}
	if end, ok := sp.hi.next(); ok {
		dst = append(dst, nftables.SetElement{Key: end.bytes(), IntervalEnd: true})
	}
	return dst
}

// family works out the address family of an address match: Family when
// given, else from the named set or the prefixes; they must agree.
func (b *ruleBuilder) family(m *Match, what string) (int, *Set, error) {
	fam := m.Family
	if fam != 0 && fam != 4 && fam != 6 {
		return 0, nil, fmt.Errorf("%s: Family %d must be 4 or 6", what, fam)
	}
	var set *Set
	if m.Set != "" {
		s, ok := b.rs.Sets[m.Set]
		if !ok || s == nil {
			return 0, nil, fmt.Errorf("%s @%s: no such set", what, m.Set)
		}
		set = s
		sf := addrFamily(s.Type)
		if sf == 0 {
			return 0, nil, fmt.Errorf("%s @%s: set type %s is not an address type", what, m.Set, setTypeName(s.Type))
		}
		if fam == 0 {
			fam = sf
		}
		if sf != fam {
			return 0, nil, fmt.Errorf("%s @%s: set type %s does not fit IPv%d", what, m.Set, setTypeName(s.Type), fam)
		}
	}
	for _, p := range m.Prefixes {
		if !p.IsValid() {
			return 0, nil, fmt.Errorf("%s: invalid prefix %v", what, p)
		}
		pf := familyOf(p.Addr())
		if fam == 0 {
			fam = pf
		}
		if pf != fam {
			return 0, nil, fmt.Errorf("%s: %s is not IPv%d", what, p, fam)
		}
	}
	if fam == 0 {
		return 0, nil, fmt.Errorf("%s: Family missing", what)
	}
	return fam, set, nil
}

// addrPayload loads the source or destination address of the IPv4 or
// IPv6 header into register 1.
func addrPayload(fam int, src bool) *expr.Payload {
	p := &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4}
	switch {
	case fam == 4 && src:
		p.Offset = 12
	case fam == 6 && src:
		p.Offset, p.Len = 8, 16
	case fam == 6:
		p.Offset, p.Len = 24, 16
	}
	return p
}

func (b *ruleBuilder) addr(m *Match) error {
	dir, what := "saddr", "saddr"
	if m.Kind == MatchDAddr {
		dir, what = "daddr", "daddr"
	}
	fam, set, err := b.family(m, what)
	if err != nil {
		return err
	}
	if set != nil && set.Type != TypeIPv4Addr && set.Type != TypeIPv6Addr {
		return fmt.Errorf("%s @%s: set type %s is not an address type", what, m.Set, setTypeName(set.Type))
	}
	if (m.Set == "") == (len(m.Prefixes) == 0) {
		return fmt.Errorf("%s: give either Set or Prefixes", what)
	}
	b.needNF(fam)
	field, dt := "ip "+dir, nftables.TypeIPAddr
	if fam == 6 {
		field, dt = "ip6 "+dir, nftables.TypeIP6Addr
	}
	load := addrPayload(fam, m.Kind == MatchSAddr)
	if m.Set != "" {
		b.add(field+" "+neq(m.Not)+"@"+m.Set, load,
			&expr.Lookup{SourceRegister: 1, SetName: m.Set, Invert: m.Not})
		return nil
	}
	spans := make([]span, len(m.Prefixes))
	for i, p := range m.Prefixes {
		spans[i] = prefixSpan(p)
	}
	spans = mergeSpans(spans)
	b.spans(field, load, dt, spans, addrSpanText, m.Not)
	return nil
}

// spans compiles "field in spans": one value, one prefix or one range
// as plain comparisons (as nft does), several as an anonymous interval
// set.
func (b *ruleBuilder) spans(field string, load *expr.Payload, dt nftables.SetDatatype, spans []span, text func(span) string, not bool) {
	if len(spans) > 1 {
		names := make([]string, len(spans))
		var elems []nftables.SetElement
		if b.exprs {
			elems = make([]nftables.SetElement, 0, 2*len(spans))
		}
		for i, sp := range spans {
			names[i] = text(sp)
			if b.exprs {
				elems = appendSpanElements(elems, sp, true)
			}
		}
		b.add(field+" "+neq(not)+anonText(names), load, b.anonSet(dt, true, elems, not))
		return
	}
	sp := spans[0]
	t := field + " " + neq(not) + text(sp)
	switch {
	case sp.lo == sp.hi:
		b.add(t, load, cmp1(opOf(not), sp.lo.bytes()))
	case dt.Name != nftables.TypeInetService.Name && isPrefix(sp):
		mask := make([]byte, sp.lo.n)
		for i := range mask {
			mask[i] = ^(sp.lo.b[i] ^ sp.hi.b[i])
		}
		b.add(t, load,
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: uint32(sp.lo.n), Mask: mask, Xor: make([]byte, sp.lo.n)},
			cmp1(opOf(not), sp.lo.bytes()))
	case not:
		b.add(t, load, &expr.Range{Op: expr.CmpOpNeq, Register: 1, FromData: sp.lo.bytes(), ToData: sp.hi.bytes()})
	default:
		b.add(t, load,
			&expr.Cmp{Op: expr.CmpOpGte, Register: 1, Data: sp.lo.bytes()},
			&expr.Cmp{Op: expr.CmpOpLte, Register: 1, Data: sp.hi.bytes()})
	}
}

func isPrefix(sp span) bool {
	_, ok := spanPrefix(sp)
	return ok
}

func (b *ruleBuilder) port(m *Match) error {
	dir, off := "sport", uint32(0)
	if m.Kind == MatchDPort {
		dir, off = "dport", 2
	}
	if (m.Set == "") == (len(m.Ports) == 0) {
		return fmt.Errorf("%s: give either Set or Ports", dir)
	}
	th, err := b.thName()
	if err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	field := th + " " + dir
	load := &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: off, Len: 2}
	if m.Set != "" {
		s, ok := b.rs.Sets[m.Set]
		if !ok || s == nil {
			return fmt.Errorf("%s @%s: no such set", dir, m.Set)
		}
		if s.Type != TypeInetService {
			return fmt.Errorf("%s @%s: set type %s is not inet_service", dir, m.Set, setTypeName(s.Type))
		}
		b.add(field+" "+neq(m.Not)+"@"+m.Set, load, &expr.Lookup{SourceRegister: 1, SetName: m.Set, Invert: m.Not})
		return nil
	}
	spans := make([]span, len(m.Ports))
	for i, p := range m.Ports {
		if p.Hi < p.Lo {
			return fmt.Errorf("%s: port range %d-%d is empty (a single port has Lo == Hi)", dir, p.Lo, p.Hi)
		}
		spans[i] = span{portKey(p.Lo), portKey(p.Hi)}
	}
	spans = mergeSpans(spans)
	b.spans(field, load, nftables.TypeInetService, spans, portSpanText, m.Not)
	return nil
}

func (b *ruleBuilder) addrPort(m *Match) error {
	dir, thDir, what := "saddr", "sport", "saddr . l4proto . sport"
	if m.Kind == MatchDAddrPort {
		dir, thDir, what = "daddr", "dport", "daddr . l4proto . dport"
	}
	if m.Set == "" || len(m.Prefixes) > 0 {
		return fmt.Errorf("%s: needs a named Set and no Prefixes", what)
	}
	s, ok := b.rs.Sets[m.Set]
	if !ok || s == nil {
		return fmt.Errorf("%s @%s: no such set", what, m.Set)
	}
	fam := 4
	switch s.Type {
	case TypeIPv4AddrProtoPort:
	case TypeIPv6AddrProtoPort:
		fam = 6
	default:
		return fmt.Errorf("%s @%s: set type %s is not addr . inet_proto . inet_service", what, m.Set, setTypeName(s.Type))
	}
	if m.Family != 0 && m.Family != fam {
		return fmt.Errorf("%s @%s: Family %d does not fit set type %s", what, m.Set, m.Family, setTypeName(s.Type))
	}
	b.needNF(fam)
	// Concatenations are built in consecutive 32-bit registers (8 is the
	// first, the same as 128-bit register 1).
	ip, protoReg, portReg := "ip", uint32(9), uint32(10)
	if fam == 6 {
		ip, protoReg, portReg = "ip6", 12, 13
	}
	addrLoad := addrPayload(fam, m.Kind == MatchSAddrPort)
	portOff := uint32(2)
	if m.Kind == MatchSAddrPort {
		portOff = 0
	}
	th, err := b.thName()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	text := fmt.Sprintf("%s %s . meta l4proto . %s %s %s@%s", ip, dir, th, thDir, neq(m.Not), m.Set)
	b.add(text,
		addrLoad,
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: protoReg},
		&expr.Payload{DestRegister: portReg, Base: expr.PayloadBaseTransportHeader, Offset: portOff, Len: 2},
		&expr.Lookup{SourceRegister: 1, SetName: m.Set, Invert: m.Not})
	return nil
}
