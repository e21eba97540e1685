package nft

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/google/nftables/userdata"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// readCounters dumps the table's rules in one request and reads only
// what Counters needs of each: its comment and its counter. A scrape of
// a table of thousands of rules then costs one dump and a walk over its
// bytes, not one request per chain and every expression decoded.
func readCounters(nsFd int, table string) (map[string]Counter, error) {
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: nsFd})
	if err != nil {
		return nil, fmt.Errorf("netlink dial: %w", err)
	}
	defer c.Close()
	name := append([]byte(table), 0)
	data := make([]byte, 4+nlaSize(len(name))) // nfgenmsg, then the table
	data[0], data[1] = unix.NFPROTO_INET, unix.NFNETLINK_V0
	putAttr(data, 4, unix.NFTA_RULE_TABLE, name)
	msgs, err := c.Execute(netlink.Message{
		Header: netlink.Header{
			Type:  netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETRULE),
			Flags: netlink.Request | netlink.Dump,
		},
		Data: data,
	})
	if err != nil {
		return nil, fmt.Errorf("dump rules of table inet %s: %w", table, err)
	}
	out := map[string]Counter{}
	for _, m := range msgs {
		if len(m.Data) > 4 {
			addRuleCounter(out, m.Data[4:])
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
