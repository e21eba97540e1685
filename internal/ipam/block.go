package ipam

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/big"
	"net/netip"
	"slices"
	"strconv"
	"time"
)

// Block is an allocation block as stored at BlockKey: which of its
// addresses are allocated, to whom, and which host it is affine to.
type Block struct {
	CIDR string `json:"cidr"`
	// Affinity is "host:<node>" (or "virtual:<name>"); nil: none.
	Affinity          *string    `json:"affinity"`
	AffinityClaimTime *time.Time `json:"affinity_claim_time,omitempty"`
	// Allocations has one entry per address of the block, by ordinal:
	// nil when free, else an index into Attributes.
	Allocations []*int `json:"allocations"`
	// Unallocated lists the free ordinals, oldest free first: a new
	// block holds 0..n-1 in order, and a released ordinal goes last.
	Unallocated []int       `json:"unallocated"`
	Attributes  []Attribute `json:"attributes"`
	// SequenceNumber goes up by one on every write.
	SequenceNumber              uint64            `json:"sequenceNumber"`
	SequenceNumberForAllocation map[string]uint64 `json:"sequenceNumberForAllocation"`
	Deleted                     bool              `json:"deleted"`
	// HostAffinity is the legacy form of Affinity, read only.
	HostAffinity *string `json:"hostAffinity,omitempty"`

	cidr netip.Prefix // parsed CIDR
}

// Attribute says who holds an allocation: the handle, and free-form
// attributes (node, namespace, pod, type).
type Attribute struct {
	HandleID  *string           `json:"handle_id,omitempty"`
	Secondary map[string]string `json:"secondary,omitempty"`
	// Fields upstream writes that this package keeps as they are.
	AlternateOwnerAttrs map[string]string `json:"alternateOwnerAttrs,omitempty"`
	ReleasedAt          *time.Time        `json:"releasedAt,omitempty"`
}

func (a Attribute) handle() string {
	if a.HandleID == nil {
		return ""
	}
	return *a.HandleID
}

func (a Attribute) equal(b Attribute) bool {
	return a.handle() == b.handle() && (a.HandleID == nil) == (b.HandleID == nil) &&
		maps.Equal(a.Secondary, b.Secondary) && maps.Equal(a.AlternateOwnerAttrs, b.AlternateOwnerAttrs) &&
		timeOrZero(a.ReleasedAt).Equal(timeOrZero(b.ReleasedAt))
}

func timeOrZero(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// hostAffinity is the Affinity of a block affine to host.
func hostAffinity(host string) string { return "host:" + host }

// newBlock is an empty block of cidr, affine to host when host is not
// empty.
func newBlock(cidr netip.Prefix, host string, now time.Time) *Block {
	n := blockSize(cidr)
	b := &Block{
		CIDR:                        cidr.String(),
		Allocations:                 make([]*int, n),
		Unallocated:                 make([]int, n),
		Attributes:                  []Attribute{},
		SequenceNumber:              uint64(now.UnixNano()),
		SequenceNumberForAllocation: map[string]uint64{},
		cidr:                        cidr,
	}
	for i := range n {
		b.Unallocated[i] = i
	}
	if host != "" {
		a := hostAffinity(host)
		b.Affinity = &a
		t := now.UTC()
		b.AffinityClaimTime = &t
	}
	return b
}

// blockSize is the number of addresses in a block. Blocks are at most
// 2^16 addresses (a /16 or /112): larger ones are refused when read.
func blockSize(cidr netip.Prefix) int {
	return 1 << (cidr.Addr().BitLen() - cidr.Bits())
}

// maxBlockBits bounds a block's host bits, so that a block's arrays
// stay small (upstream's smallest block prefix is /20 and /116).
const maxBlockBits = 16

// decodeBlock reads a block and checks that it is consistent: its
// arrays have one entry per address and agree with each other. A block
// that is not is an error: writing it back could lose or double
// allocations.
func decodeBlock(key string, value []byte) (*Block, error) {
	var b Block
	if err := json.Unmarshal(value, &b); err != nil {
		return nil, fmt.Errorf("block %s: %w", key, err)
	}
	p, err := netip.ParsePrefix(b.CIDR)
	if err != nil {
		return nil, fmt.Errorf("block %s: cidr: %w", key, err)
	}
	if p != p.Masked() {
		return nil, fmt.Errorf("block %s: cidr %s is not a network address", key, b.CIDR)
	}
	if want, ok := parseBlockKey(key); ok && want != p {
		return nil, fmt.Errorf("block %s: holds cidr %s", key, b.CIDR)
	}
	if p.Addr().BitLen()-p.Bits() > maxBlockBits {
		return nil, fmt.Errorf("block %s: a /%d block is larger than this IPAM handles", key, p.Bits())
	}
	b.cidr = p
	n := blockSize(p)
	if len(b.Allocations) != n {
		return nil, fmt.Errorf("block %s: %d allocation entries for %d addresses", key, len(b.Allocations), n)
	}
	free := make([]bool, n)
	for _, o := range b.Unallocated {
		if o < 0 || o >= n || free[o] {
			return nil, fmt.Errorf("block %s: unallocated ordinal %d is out of range or listed twice", key, o)
		}
		free[o] = true
	}
	for o, a := range b.Allocations {
		switch {
		case a != nil && (*a < 0 || *a >= len(b.Attributes)):
			return nil, fmt.Errorf("block %s: ordinal %d points at attribute %d of %d", key, o, *a, len(b.Attributes))
		case a != nil && free[o]:
			return nil, fmt.Errorf("block %s: ordinal %d is both allocated and unallocated", key, o)
		case a == nil && !free[o]:
			return nil, fmt.Errorf("block %s: ordinal %d is neither allocated nor unallocated", key, o)
		}
	}
	if b.Affinity == nil && b.HostAffinity != nil {
		a := hostAffinity(*b.HostAffinity)
		b.Affinity = &a
	}
	if b.SequenceNumberForAllocation == nil {
		b.SequenceNumberForAllocation = map[string]uint64{}
	}
	if b.Attributes == nil {
		b.Attributes = []Attribute{}
	}
	return &b, nil
}

func (b *Block) encode() ([]byte, error) { return json.Marshal(b) }

// Prefix is the block's CIDR.
func (b *Block) Prefix() netip.Prefix { return b.cidr }

// AffineTo reports whether the block is affine to host.
func (b *Block) AffineTo(host string) bool {
	return b.Affinity != nil && *b.Affinity == hostAffinity(host)
}

// Host is the host the block is affine to, "" when none (or a virtual
// affinity).
func (b *Block) Host() string {
	if b.Affinity == nil {
		return ""
	}
	h, ok := cutPrefix(*b.Affinity, "host:")
	if !ok {
		return ""
	}
	return h
}

func cutPrefix(s, p string) (string, bool) {
	if len(s) >= len(p) && s[:len(p)] == p {
		return s[len(p):], true
	}
	return s, false
}

// addr is the address of ordinal o.
func (b *Block) addr(o int) netip.Addr { return addOffset(b.cidr.Addr(), o) }

// ordinal is the ordinal of a in the block, or -1.
func (b *Block) ordinal(a netip.Addr) int {
	if !b.cidr.Contains(a) {
		return -1
	}
	return offset(b.cidr.Addr(), a)
}

// InUse is the number of allocated addresses.
func (b *Block) InUse() int { return len(b.Allocations) - len(b.Unallocated) }

// Empty reports whether nothing in the block is allocated.
func (b *Block) Empty() bool { return b.InUse() == 0 }

// Allocated returns each allocated address with its attribute.
func (b *Block) Allocated() map[netip.Addr]Attribute {
	out := map[netip.Addr]Attribute{}
	for o, a := range b.Allocations {
		if a != nil {
			out[b.addr(o)] = b.Attributes[*a]
		}
	}
	return out
}

// attrIndex is the index of an attribute equal to a, appended if none.
func (b *Block) attrIndex(a Attribute) int {
	for i, x := range b.Attributes {
		if x.equal(a) {
			return i
		}
	}
	b.Attributes = append(b.Attributes, a)
	return len(b.Attributes) - 1
}

// assign allocates up to n free addresses, oldest free first, skipping
// those reserved reports; it returns them. The caller writes the block.
func (b *Block) assign(n int, a Attribute, reserved func(netip.Addr) bool) []netip.Addr {
	var got []netip.Addr
	idx := -1
	kept := b.Unallocated[:0:0]
	for i, o := range b.Unallocated {
		if len(got) == n {
			kept = append(kept, b.Unallocated[i:]...)
			break
		}
		ip := b.addr(o)
		if reserved != nil && reserved(ip) {
			kept = append(kept, o)
			continue
		}
		if idx < 0 {
			idx = b.attrIndex(a)
		}
		v := idx
		b.Allocations[o] = &v
		b.SequenceNumberForAllocation[strconv.Itoa(o)] = b.SequenceNumber
		got = append(got, ip)
	}
	b.Unallocated = kept
	return got
}

// assignAddr allocates one given address; false if it is taken.
func (b *Block) assignAddr(ip netip.Addr, a Attribute) bool {
	o := b.ordinal(ip)
	if o < 0 || b.Allocations[o] != nil {
		return false
	}
	i := slices.Index(b.Unallocated, o)
	if i < 0 {
		return false
	}
	b.Unallocated = slices.Delete(b.Unallocated, i, i+1)
	v := b.attrIndex(a)
	b.Allocations[o] = &v
	b.SequenceNumberForAllocation[strconv.Itoa(o)] = b.SequenceNumber
	return true
}

// release frees the addresses of ips that are allocated in the block
// and returns, per handle, how many it freed ("" for none). Attributes
// no allocation uses any more are dropped.
func (b *Block) release(ips []netip.Addr) map[string]int {
	freed := map[string]int{}
	for _, ip := range ips {
		o := b.ordinal(ip)
		if o < 0 || b.Allocations[o] == nil {
			continue
		}
		freed[b.Attributes[*b.Allocations[o]].handle()]++
		b.Allocations[o] = nil
		b.Unallocated = append(b.Unallocated, o)
		delete(b.SequenceNumberForAllocation, strconv.Itoa(o))
	}
	if len(freed) > 0 {
		b.compactAttributes()
	}
	return freed
}

// releaseHandle frees every address of handle in the block, returning
// them.
func (b *Block) releaseHandle(handle string) []netip.Addr {
	var ips []netip.Addr
	for o, a := range b.Allocations {
		if a != nil && b.Attributes[*a].handle() == handle {
			ips = append(ips, b.addr(o))
		}
	}
	b.release(ips)
	return ips
}

// compactAttributes drops unused attributes and renumbers the rest.
func (b *Block) compactAttributes() {
	used := make([]bool, len(b.Attributes))
	for _, a := range b.Allocations {
		if a != nil {
			used[*a] = true
		}
	}
	newIdx := make([]int, len(b.Attributes))
	var kept []Attribute
	for i, a := range b.Attributes {
		if used[i] {
			newIdx[i] = len(kept)
			kept = append(kept, a)
		}
	}
	for o, a := range b.Allocations {
		if a != nil {
			v := newIdx[*a]
			b.Allocations[o] = &v
		}
	}
	if kept == nil {
		kept = []Attribute{}
	}
	b.Attributes = kept
}

// freeCount is the number of free addresses reserved does not hold back.
func (b *Block) freeCount(reserved func(netip.Addr) bool) int {
	if reserved == nil {
		return len(b.Unallocated)
	}
	n := 0
	for _, o := range b.Unallocated {
		if !reserved(b.addr(o)) {
			n++
		}
	}
	return n
}

// addOffset is a + n.
func addOffset(a netip.Addr, n int) netip.Addr {
	b := a.As16()
	carry := n
	for i := 15; i >= 0 && carry > 0; i-- {
		s := int(b[i]) + carry&0xff
		carry = carry>>8 + s>>8
		b[i] = byte(s)
	}
	out := netip.AddrFrom16(b)
	if a.Is4() {
		out = out.Unmap()
	}
	return out
}

// offset is b - a, for addresses of one block (at most 2^16 apart).
func offset(a, b netip.Addr) int {
	x, y := new(big.Int).SetBytes(a.AsSlice()), new(big.Int).SetBytes(b.AsSlice())
	return int(y.Sub(y, x).Int64())
}
