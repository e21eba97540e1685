package nft

import (
	"fmt"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// match adds one condition of the rule (see ruleBuilder for the
// protocol context it keeps).
func (b *ruleBuilder) match(m *Match) error {
	switch m.Kind {
	case MatchIIFName, MatchOIFName:
		return b.ifname(m)
	case MatchNFProto:
		if m.Num != 4 && m.Num != 6 {
			return fmt.Errorf("meta nfproto: Num %d must be 4 or 6", m.Num)
		}
		fam := int(m.Num)
		i := b.add(fmt.Sprintf("meta nfproto %s%s", neq(m.Not), famName(fam)),
			metaLoad(expr.MetaKeyNFPROTO), cmp1(opOf(m.Not), []byte{nfprotoValue(fam)}))
		if !m.Not {
			b.nf, b.nfDep = fam, i
		}
	case MatchL4Proto:
		return b.l4proto(m)
	case MatchSAddr, MatchDAddr:
		return b.addr(m)
	case MatchSPort, MatchDPort:
		return b.port(m)
	case MatchSAddrPort, MatchDAddrPort:
		return b.addrPort(m)
	case MatchICMP:
		return b.icmp(m)
	case MatchCTState:
		if m.Num == 0 || m.Num&^ctStateKnown != 0 {
			return fmt.Errorf("ct state: Num %#x must be a non-empty combination of the CT* bits", m.Num)
		}
		// Both forms test bits, as a set of states should. (nft's own
		// "ct state != a,b" compares the whole value instead.)
		text := "ct state " + ctStateNames(m.Num, ",")
		op := expr.CmpOpNeq
		if m.Not {
			text = "ct state ! " + ctStateNames(m.Num, ",")
			op = expr.CmpOpEq
		}
		b.add(text,
			&expr.Ct{Key: expr.CtKeySTATE, Register: 1},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
				Mask: binaryutil.NativeEndian.PutUint32(m.Num), Xor: make([]byte, 4)},
			cmp1(op, make([]byte, 4)))
	case MatchMark:
		mask := m.Mask
		if mask == 0 {
			mask = 0xffffffff
		}
		if m.Num&^mask != 0 {
			return fmt.Errorf("meta mark: value %#x has bits outside mask %#x, so it never matches", m.Num, mask)
		}
		if mask == 0xffffffff {
			b.add(fmt.Sprintf("meta mark %s0x%08x", neq(m.Not), m.Num),
				metaLoad(expr.MetaKeyMARK), cmp1(opOf(m.Not), binaryutil.NativeEndian.PutUint32(m.Num)))
			return nil
		}
		op := "=="
		if m.Not {
			op = "!="
		}
		b.add(fmt.Sprintf("meta mark & 0x%08x %s 0x%08x", mask, op, m.Num),
			metaLoad(expr.MetaKeyMARK),
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
				Mask: binaryutil.NativeEndian.PutUint32(mask), Xor: make([]byte, 4)},
			cmp1(opOf(m.Not), binaryutil.NativeEndian.PutUint32(m.Num)))
	case MatchEtherSAddr:
		if len(m.MAC) != 6 {
			return fmt.Errorf("ether saddr: MAC %q is not 6 bytes", m.MAC)
		}
		// The link-layer header is only ethernet when the input device
		// is; nft adds this dependency too and hides it when listing.
		b.emit(metaLoad(expr.MetaKeyIIFTYPE), cmp1(expr.CmpOpEq, binaryutil.NativeEndian.PutUint16(unix.ARPHRD_ETHER)))
		b.add("ether saddr "+neq(m.Not)+m.MAC.String(),
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseLLHeader, Offset: 6, Len: 6},
			cmp1(opOf(m.Not), slices.Clone(m.MAC)))
	default:
		return fmt.Errorf("unknown match kind %d", m.Kind)
	}
	return nil
}

func (b *ruleBuilder) ifname(m *Match) error {
	word, k := "iifname", expr.MetaKeyIIFNAME
	if m.Kind == MatchOIFName {
		word, k = "oifname", expr.MetaKeyOIFNAME
	}
	var data []byte
	if base, ok := strings.CutSuffix(m.Name, "*"); ok {
		// A prefix match compares only the prefix bytes.
		if base == "" || len(base) > 15 {
			return fmt.Errorf("%s %q: the prefix before * must be 1 to 15 bytes", word, m.Name)
		}
		data = []byte(base)
	} else {
		if err := checkIfname(m.Name); err != nil {
			return fmt.Errorf("%s: %w", word, err)
		}
		data = ifnameKey(m.Name).bytes()
	}
	b.add(word+" "+neq(m.Not)+quote(m.Name), metaLoad(k), cmp1(opOf(m.Not), data))
	return nil
}

func (b *ruleBuilder) l4proto(m *Match) error {
	nums := slices.Clone(m.Nums)
	if len(nums) == 0 {
		if m.Num > 255 {
			return fmt.Errorf("meta l4proto: Num %d is not a protocol number", m.Num)
		}
		nums = []uint8{uint8(m.Num)}
	}
	slices.Sort(nums)
	nums = slices.Compact(nums)
	if len(nums) == 1 {
		p := nums[0]
		i := b.add(fmt.Sprintf("meta l4proto %s%s", neq(m.Not), protoName(p)),
			metaLoad(expr.MetaKeyL4PROTO), cmp1(opOf(m.Not), []byte{p}))
		if !m.Not {
			b.l4Known(p, i)
		}
		return nil
	}
	names := make([]string, len(nums))
	elems := make([]nftables.SetElement, len(nums))
	for i, p := range nums {
		names[i] = protoName(p)
		elems[i] = nftables.SetElement{Key: []byte{p}}
	}
	lookup := b.anonSet(nftables.TypeInetProto, false, elems, m.Not)
	b.add("meta l4proto "+neq(m.Not)+anonText(names), metaLoad(expr.MetaKeyL4PROTO), lookup)
	if !m.Not {
		// Several protocols: nft no longer knows the header's name.
		b.l4, b.l4Dep = -1, -1
	}
	return nil
}

func (b *ruleBuilder) icmp(m *Match) error {
	if m.Family != 4 && m.Family != 6 {
		return fmt.Errorf("icmp: Family %d must be 4 or 6", m.Family)
	}
	if m.Num > 255 {
		return fmt.Errorf("icmp: type %d is not a byte", m.Num)
	}
	word, proto, types, codes := "icmp", uint8(unix.IPPROTO_ICMP), icmpTypeNames, icmpCodeNames
	if m.Family == 6 {
		word, proto, types, codes = "icmpv6", unix.IPPROTO_ICMPV6, icmpv6TypeNames, icmpv6CodeNames
	}
	if b.l4 == int(proto) {
		b.hide(&b.l4Dep)
	} else {
		if b.nf != m.Family {
			b.emit(metaLoad(expr.MetaKeyNFPROTO), cmp1(expr.CmpOpEq, []byte{nfprotoValue(m.Family)}))
			b.nf = m.Family
		}
		b.emit(metaLoad(expr.MetaKeyL4PROTO), cmp1(expr.CmpOpEq, []byte{proto}))
		b.l4Known(proto, -1)
	}
	typ := uint8(m.Num)
	if !m.HasCode {
		b.add(fmt.Sprintf("%s type %s%s", word, neq(m.Not), symbol(types, typ)),
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1},
			cmp1(opOf(m.Not), []byte{typ}))
		return nil
	}
	// Type and code are one two-byte comparison, so that Not negates
	// both together: "not this type with this code". nft lists the
	// negation as two != matches all the same.
	text := fmt.Sprintf("%s type %s%s %s code %s%s", word, neq(m.Not), symbol(types, typ), word, neq(m.Not), symbol(codes, m.Code))
	b.add(text,
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 2},
		cmp1(opOf(m.Not), []byte{typ, m.Code}))
	return nil
}
