package nft

import (
	"encoding/binary"
	"fmt"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// wire is one transaction as it goes to the kernel: its netlink messages
// marshalled back to back, BATCH_BEGIN first and BATCH_END last, each
// marshalled once, as it is queued.
//
// Why chunks: a cold apply is some 20 000 messages and megabytes long.
// Kept as messages, it existed several times over while it was sent (the
// messages, each marshalled again, and their concatenation); one growing
// buffer would still be copied at every growth. Chunks are never copied,
// and one sendmsg gathers them (see nlTransport), so the kernel still
// gets the batch in one piece. A message never straddles two chunks.
type wire struct {
	chunks [][]byte
	n      int // messages
	size   int // bytes
}

// Chunks start at minChunk bytes and double up to maxChunk, so that a
// small batch stays small and a large one takes a few dozen chunks (a
// sendmsg takes at most 1024).
const (
	minChunk = 16 << 10
	maxChunk = 1 << 20
)

// add appends m with a zero sequence number and port ID (see setSeq).
// Every message but the batch markers asks for an acknowledgement and
// none for an echo.
func (w *wire) add(m *netlink.Message) {
	l := nlmsgAlign(unix.SizeofNlMsghdr + len(m.Data))
	flags := m.Header.Flags
	if !isBatchMarker(uint16(m.Header.Type)) {
		flags = flags&^unix.NLM_F_ECHO | netlink.Acknowledge
	}
	b := w.grow(l)
	putHeader(b, l, uint16(m.Header.Type), uint16(flags))
	n := copy(b[16:], m.Data)
	clear(b[16+n:])
	w.n++
	w.size += l
}

// newRuleType is NFT_MSG_NEWRULE's message type.
const newRuleType = unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_NEWRULE

// addRule appends a rule added at the end of its chain, as
// google/nftables' AddRule makes it but without its intermediate copies:
// exprs are the rule's expressions, each marshalled by expr.Marshal.
func (w *wire) addRule(fam byte, table, chain string, exprs [][]byte, userData []byte) error {
	list := 0
	for _, e := range exprs {
		list += nlaSize(len(e))
	}
	if nlaSize(list) > 0xffff {
		return fmt.Errorf("rule expressions take %d bytes, more than a netlink attribute holds", list)
	}
	l := unix.SizeofNlMsghdr + 4 + nlaSize(len(table)+1) + nlaSize(len(chain)+1) + nlaSize(list)
	if userData != nil {
		l += nlaSize(len(userData))
	}
	b := w.grow(l)
	putHeader(b, l, newRuleType, unix.NLM_F_REQUEST|unix.NLM_F_ACK|unix.NLM_F_CREATE|unix.NLM_F_APPEND)
	b[16], b[17], b[18], b[19] = fam, unix.NFNETLINK_V0, 0, 0
	off := 20
	off = putAttrString(b, off, unix.NFTA_RULE_TABLE, table)
	off = putAttrString(b, off, unix.NFTA_RULE_CHAIN, chain)
	off = putAttrHeader(b, off, unix.NLA_F_NESTED|unix.NFTA_RULE_EXPRESSIONS, list)
	for _, e := range exprs {
		off = putAttr(b, off, unix.NLA_F_NESTED|unix.NFTA_LIST_ELEM, e)
	}
	if userData != nil {
		off = putAttr(b, off, unix.NFTA_RULE_USERDATA, userData)
	}
	if off != l {
		panic(fmt.Sprintf("nft: rule message of %d bytes, %d written", l, off))
	}
	w.n++
	w.size += l
	return nil
}

// putHeader writes a netlink message header with a zero sequence number
// and port ID (see setSeq).
func putHeader(b []byte, l int, typ, flags uint16) {
	binary.NativeEndian.PutUint32(b[0:4], uint32(l))
	binary.NativeEndian.PutUint16(b[4:6], typ)
	binary.NativeEndian.PutUint16(b[6:8], flags)
	clear(b[8:16])
}

// nlaSize is the room an attribute of n bytes of data takes.
func nlaSize(n int) int { return nlmsgAlign(unix.SizeofNlAttr + n) }

// putAttrHeader writes the header of an attribute of n bytes at off and
// returns where its data starts.
func putAttrHeader(b []byte, off int, typ uint16, n int) int {
	binary.NativeEndian.PutUint16(b[off:], uint16(unix.SizeofNlAttr+n))
	binary.NativeEndian.PutUint16(b[off+2:], typ)
	return off + unix.SizeofNlAttr
}

// putAttr writes an attribute, padded, at off and returns where the next
// one starts.
func putAttr(b []byte, off int, typ uint16, data []byte) int {
	off = putAttrHeader(b, off, typ, len(data))
	n := copy(b[off:], data)
	end := off - unix.SizeofNlAttr + nlaSize(len(data))
	clear(b[off+n : end])
	return end
}

// putAttrString is putAttr of s with a NUL.
func putAttrString(b []byte, off int, typ uint16, s string) int {
	off = putAttrHeader(b, off, typ, len(s)+1)
	n := copy(b[off:], s)
	end := off - unix.SizeofNlAttr + nlaSize(len(s)+1)
	clear(b[off+n : end])
	return end
}

// grow returns the next l bytes of the last chunk, starting a new chunk
// when they do not fit.
func (w *wire) grow(l int) []byte {
	last := len(w.chunks) - 1
	if last < 0 || cap(w.chunks[last])-len(w.chunks[last]) < l {
		size := minChunk
		if last >= 0 {
			size = min(2*cap(w.chunks[last]), maxChunk)
		}
		w.chunks = append(w.chunks, make([]byte, 0, max(size, l)))
		last++
	}
	c := w.chunks[last]
	w.chunks[last] = c[:len(c)+l]
	return w.chunks[last][len(c):]
}

// each calls f with every message, in order, and its index.
func (w *wire) each(f func(i int, m []byte)) {
	i := 0
	for _, c := range w.chunks {
		for len(c) >= unix.SizeofNlMsghdr {
			l := int(binary.NativeEndian.Uint32(c[0:4]))
			f(i, c[:l])
			c = c[l:]
			i++
		}
	}
}

// setSeq numbers the messages base+1, base+2, ...
func (w *wire) setSeq(base uint32) {
	w.each(func(i int, m []byte) {
		binary.NativeEndian.PutUint32(m[8:12], base+uint32(i+1))
	})
}

// msgType is the type of a marshalled message.
func msgType(m []byte) uint16 { return binary.NativeEndian.Uint16(m[4:6]) }

func isBatchMarker(t uint16) bool {
	return t == unix.NFNL_MSG_BATCH_BEGIN || t == unix.NFNL_MSG_BATCH_END
}

func nlmsgAlign(n int) int { return (n + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1) }
