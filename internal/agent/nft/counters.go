package nft

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/google/nftables/userdata"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// readCounters reads what Counters needs of each rule of the chains
// named (of the whole table when chains is nil): its comment and its
// counter, leaving every other expression undecoded. The chains are
// dumped one request each: the kernel resumes a table-wide dump by
// walking the table again from its start for every buffer it fills, so
// that dump costs in proportion to the square of the table's size, and
// a chain's dump fits in one buffer.
func readCounters(nsFd int, table string, chains []string) (map[string]Counter, error) {
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: nsFd})
	if err != nil {
		return nil, fmt.Errorf("netlink dial: %w", err)
	}
	defer c.Close()
	out := map[string]Counter{}
	dump := func(chain string) error {
		tname := append([]byte(table), 0)
		size := 4 + nlaSize(len(tname))
		var cname []byte
		if chain != "" {
			cname = append([]byte(chain), 0)
			size += nlaSize(len(cname))
		}
		data := make([]byte, size) // nfgenmsg, then the table (and chain)
		data[0], data[1] = unix.NFPROTO_INET, unix.NFNETLINK_V0
		off := putAttr(data, 4, unix.NFTA_RULE_TABLE, tname)
		if chain != "" {
			putAttr(data, off, unix.NFTA_RULE_CHAIN, cname)
		}
		msgs, err := c.Execute(netlink.Message{
			Header: netlink.Header{
				Type:  netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETRULE),
				Flags: netlink.Request | netlink.Dump,
			},
			Data: data,
		})
		if err != nil {
			if chain != "" && errors.Is(err, unix.ENOENT) {
				return nil // gone since the caller looked
			}
			return err
		}
		for _, m := range msgs {
			if len(m.Data) > 4 {
				addRuleCounter(out, m.Data[4:])
			}
		}
		return nil
	}
	if chains == nil {
		if err := dump(""); err != nil {
			return nil, fmt.Errorf("dump rules of table inet %s: %w", table, err)
		}
		return out, nil
	}
	for _, ch := range chains {
		if err := dump(ch); err != nil {
			return nil, fmt.Errorf("dump rules of chain %s in table inet %s: %w", ch, table, err)
		}
	}
	return out, nil
}

// addRuleCounter adds the counter of one NFT_MSG_NEWRULE's attributes
// to out under the rule's comment (nothing when it has either none).
func addRuleCounter(out map[string]Counter, attrs []byte) {
	var (
		comment    string
		hasComment bool
		ctr        Counter
		hasCounter bool
	)
	eachAttr(attrs, func(typ uint16, v []byte) {
		switch typ {
		case unix.NFTA_RULE_USERDATA:
			comment, hasComment = udataGet(v, userdata.TypeComment)
		case unix.NFTA_RULE_EXPRESSIONS:
			eachAttr(v, func(_ uint16, elem []byte) { // NFTA_LIST_ELEM
				var name string
				var exprData []byte
				eachAttr(elem, func(typ uint16, v []byte) {
					switch typ {
					case unix.NFTA_EXPR_NAME:
						name = strings.TrimRight(string(v), "\x00")
					case unix.NFTA_EXPR_DATA:
						exprData = v
					}
				})
				if name != "counter" {
					return
				}
				hasCounter = true
				eachAttr(exprData, func(typ uint16, v []byte) {
					if len(v) != 8 {
						return
					}
					switch typ {
					case unix.NFTA_COUNTER_BYTES:
						ctr.Bytes += binary.BigEndian.Uint64(v)
					case unix.NFTA_COUNTER_PACKETS:
						ctr.Packets += binary.BigEndian.Uint64(v)
					}
				})
			})
		}
	})
	if !hasComment || !hasCounter {
		return
	}
	comment = strings.TrimSuffix(comment, "\x00")
	sum := out[comment]
	sum.Packets += ctr.Packets
	sum.Bytes += ctr.Bytes
	out[comment] = sum
}

// eachAttr calls f with the type (flags masked off) and payload of each
// netlink attribute in b; it stops at the first malformed one.
func eachAttr(b []byte, f func(typ uint16, v []byte)) {
	for len(b) >= unix.SizeofNlAttr {
		l := int(binary.NativeEndian.Uint16(b[0:2]))
		typ := binary.NativeEndian.Uint16(b[2:4]) &^ (unix.NLA_F_NESTED | unix.NLA_F_NET_BYTEORDER)
		if l < unix.SizeofNlAttr || l > len(b) {
			return
		}
		f(typ, b[unix.SizeofNlAttr:l])
		b = b[min(nlmsgAlign(l), len(b)):]
	}
}
