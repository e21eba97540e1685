package nft

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"math/bits"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// maxKey is the longest element key: ipv6_addr . inet_proto .
// inet_service, each field padded to 4 bytes as the kernel stores
// concatenations.
const maxKey = 24

// key is an element key exactly as the kernel stores it (network byte
// order, concatenation fields padded to 4 bytes). It is a value type so
// that element lists can be sorted and compared without allocating.
type key struct {
	n uint8
	b [maxKey]byte
}

func newKey(b []byte) key {
	var k key
	k.n = uint8(copy(k.b[:], b))
	return k
}

func (k key) bytes() []byte { return k.b[:k.n] }

func (k key) compare(o key) int { return bytes.Compare(k.bytes(), o.bytes()) }

// next returns k+1 and false when k is the largest value of its length.
func (k key) next() (key, bool) {
	for i := int(k.n) - 1; i >= 0; i-- {
		k.b[i]++
		if k.b[i] != 0 {
			return k, true
		}
	}
	return k, false
}

// prev returns k-1; k must not be zero.
func (k key) prev() key {
	for i := int(k.n) - 1; i >= 0; i-- {
		k.b[i]--
		if k.b[i] != 0xff {
			return k
		}
	}
	return k
}

// span is one member of a set as the agent keeps it: an inclusive range
// of keys. Plain (non-interval) sets have lo == hi. Interval sets are kept
// as sorted, disjoint, non-adjacent spans, which is the one form the
// kernel's interval tree and nft's listing agree on whatever prefixes and
// ranges the caller gave.
type span struct{ lo, hi key }

func (s span) compare(o span) int {
	if c := s.lo.compare(o.lo); c != 0 {
		return c
	}
	return s.hi.compare(o.hi)
}

// elem is a span plus, for verdict maps, the verdict ("jump c", "goto c").
type elem struct {
	span
	val string
}

func compareElems(a, b elem) int {
	if c := a.span.compare(b.span); c != 0 {
		return c
	}
	return strings.Compare(a.val, b.val)
}

// mergeSpans sorts spans and merges those that overlap or touch.
func mergeSpans(in []span) []span {
	if !slices.IsSortedFunc(in, span.compare) {
		slices.SortFunc(in, span.compare)
	}
	out := in[:0]
	for _, s := range in {
		if n := len(out); n > 0 {
			last := &out[n-1]
			nxt, ok := last.hi.next()
			if !ok || s.lo.compare(nxt) <= 0 {
				if s.hi.compare(last.hi) > 0 {
					last.hi = s.hi
				}
				continue
			}
		}
		out = append(out, s)
	}
	return out
}

func addrKey(a netip.Addr) key {
	if a.Is4() {
		b := a.As4()
		return newKey(b[:])
	}
	b := a.As16()
	return newKey(b[:])
}

func prefixSpan(p netip.Prefix) span {
	p = p.Masked()
	lo := addrKey(p.Addr())
	hi := lo
	hostBits := int(hi.n)*8 - p.Bits()
	for i := int(hi.n) - 1; i >= 0 && hostBits > 0; i-- {
		n := min(hostBits, 8)
		hi.b[i] |= byte(1<<n - 1)
		hostBits -= n
	}
	return span{lo, hi}
}

func portKey(p uint16) key {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], p)
	return newKey(b[:])
}

// ifnameKey is the name zero-padded to IFNAMSIZ, as the kernel compares
// interface names.
func ifnameKey(name string) key {
	var k key
	k.n = 16
	copy(k.b[:16], name)
	return k
}

// concatKey is addr . proto . port with each field padded to 4 bytes.
func concatKey(a netip.Addr, proto uint8, port uint16) key {
	k := addrKey(a)
	k.b[k.n] = proto
	k.n += 4
	binary.BigEndian.PutUint16(k.b[k.n:], port)
	k.n += 4
	return k
}

// keyAddr reads an address key back; n is 4 or 16.
func keyAddr(b []byte) netip.Addr {
	if len(b) == 4 {
		return netip.AddrFrom4([4]byte(b))
	}
	return netip.AddrFrom16([16]byte(b))
}

// spanText prints an address span as nft does: an address, a prefix when
// the span is exactly one, or a range.
func addrSpanText(s span) string {
	lo, hi := keyAddr(s.lo.bytes()), keyAddr(s.hi.bytes())
	if lo == hi {
		return lo.String()
	}
	if p, ok := spanPrefix(s); ok {
		return fmt.Sprintf("%s/%d", lo, p)
	}
	return lo.String() + "-" + hi.String()
}

// spanPrefix reports the prefix length when s is exactly one prefix.
func spanPrefix(s span) (int, bool) {
	n := int(s.lo.n)
	host := 0
	seenDiff := false
	for i := 0; i < n; i++ {
		x := s.lo.b[i] ^ s.hi.b[i]
		if !seenDiff {
			if x == 0 {
				continue
			}
			seenDiff = true
			// x must be 0..01..1 and lo's bits there zero.
			if x&(x+1) != 0 || s.lo.b[i]&x != 0 {
				return 0, false
			}
			host += bits.OnesCount8(x)
			continue
		}
		if x != 0xff || s.lo.b[i] != 0 {
			return 0, false
		}
		host += 8
	}
	return n*8 - host, true
}

func portSpanText(s span) string {
	lo := binary.BigEndian.Uint16(s.lo.bytes())
	hi := binary.BigEndian.Uint16(s.hi.bytes())
	if lo == hi {
		return fmt.Sprint(lo)
	}
	return fmt.Sprintf("%d-%d", lo, hi)
}

func ifnameText(k key) string {
	b := k.bytes()
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return quote(string(b))
}

func quote(s string) string { return `"` + s + `"` }

// compareElementText orders element texts (as Render prints them and as
// nft lists them) the same way for both, so that a normalised listing
// and Render agree on order whatever order the kernel dumped a hash set
// in: addresses and numbers by value, everything else as text;
// concatenations field by field; map elements by key.
func compareElementText(a, b string) int {
	ka, _, _ := strings.Cut(a, " : ")
	kb, _, _ := strings.Cut(b, " : ")
	fa, fb := strings.Split(ka, " . "), strings.Split(kb, " . ")
	for i := 0; i < len(fa) && i < len(fb); i++ {
		if c := compareField(fa[i], fb[i]); c != 0 {
			return c
		}
	}
	if c := cmp.Compare(len(fa), len(fb)); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

// fieldValue classifies one printed field: class 0 = address (range),
// 1 = number (range), 2 = anything else.
func fieldValue(s string) (class int, lo, hi netip.Addr, nlo, nhi uint64) {
	loS, hiS, isRange := strings.Cut(s, "-")
	if p, err := netip.ParsePrefix(s); err == nil {
		sp := prefixSpan(p)
		return 0, keyAddr(sp.lo.bytes()), keyAddr(sp.hi.bytes()), 0, 0
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return 0, a, a, 0, 0
	}
	if isRange {
		l, err1 := netip.ParseAddr(loS)
		h, err2 := netip.ParseAddr(hiS)
		if err1 == nil && err2 == nil {
			return 0, l, h, 0, 0
		}
	}
	if isRange {
		if x, ok := parseNum(loS); ok {
			if y, ok := parseNum(hiS); ok {
				return 1, lo, hi, x, y
			}
		}
	} else if x, ok := parseNum(s); ok {
		return 1, lo, hi, x, x
	}
	return 2, lo, hi, 0, 0
}

func parseNum(s string) (uint64, bool) {
	v, err := strconv.ParseUint(s, 10, 64)
	return v, err == nil
}

func compareField(a, b string) int {
	ca, la, ha, na, ma := fieldValue(a)
	cb, lb, hb, nb, mb := fieldValue(b)
	if c := cmp.Compare(ca, cb); c != 0 {
		return c
	}
	switch ca {
	case 0:
		if c := la.Compare(lb); c != 0 {
			return c
		}
		return ha.Compare(hb)
	case 1:
		if c := cmp.Compare(na, nb); c != 0 {
			return c
		}
		return cmp.Compare(ma, mb)
	}
	return strings.Compare(a, b)
}
