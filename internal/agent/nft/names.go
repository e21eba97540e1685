package nft

import (
	"fmt"
	"strings"
)

// The symbol tables below are nft 1.0.6's names for values, so that Render
// prints what `nft list` prints. nft takes protocol names from
// /etc/protocols (getprotobynumber(3)); this is Debian netbase's copy,
// frozen here so that goldens do not depend on the host.

var protoNames = map[uint8]string{
	0:   "ip",
	1:   "icmp",
	2:   "igmp",
	3:   "ggp",
	4:   "ipencap",
	5:   "st",
	6:   "tcp",
	8:   "egp",
	9:   "igp",
	12:  "pup",
	17:  "udp",
	20:  "hmp",
	22:  "xns-idp",
	27:  "rdp",
	29:  "iso-tp4",
	33:  "dccp",
	36:  "xtp",
	37:  "ddp",
	38:  "idpr-cmtp",
	41:  "ipv6",
	43:  "ipv6-route",
	44:  "ipv6-frag",
	45:  "idrp",
	46:  "rsvp",
	47:  "gre",
	50:  "esp",
	51:  "ah",
	57:  "skip",
	58:  "ipv6-icmp",
	59:  "ipv6-nonxt",
	60:  "ipv6-opts",
	73:  "rspf",
	81:  "vmtp",
	88:  "eigrp",
	89:  "ospf",
	93:  "ax.25",
	94:  "ipip",
	97:  "etherip",
	98:  "encap",
	103: "pim",
	108: "ipcomp",
	112: "vrrp",
	115: "l2tp",
	124: "isis",
	132: "sctp",
	133: "fc",
	135: "mobility-header",
	136: "udplite",
	137: "mpls-in-ip",
	138: "manet",
	139: "hip",
	140: "shim6",
	141: "wesp",
	142: "rohc",
	143: "ethernet",
}

// protoName is how nft prints an inet_proto value.
func protoName(p uint8) string {
	if s, ok := protoNames[p]; ok {
		return s
	}
	return fmt.Sprint(p)
}

var icmpTypeNames = map[uint8]string{
	0: "echo-reply", 3: "destination-unreachable", 4: "source-quench",
	5: "redirect", 8: "echo-request", 9: "router-advertisement",
	10: "router-solicitation", 11: "time-exceeded", 12: "parameter-problem",
	13: "timestamp-request", 14: "timestamp-reply", 15: "info-request",
	16: "info-reply", 17: "address-mask-request", 18: "address-mask-reply",
}

var icmpCodeNames = map[uint8]string{
	0: "net-unreachable", 1: "host-unreachable", 2: "prot-unreachable",
	3: "port-unreachable", 4: "frag-needed", 9: "net-prohibited",
	10: "host-prohibited", 13: "admin-prohibited",
}

// icmpv6TypeNames: 132 has two names in nft; it prints the first,
// mld-listener-done.
var icmpv6TypeNames = map[uint8]string{
	1: "destination-unreachable", 2: "packet-too-big", 3: "time-exceeded",
	4: "parameter-problem", 128: "echo-request", 129: "echo-reply",
	130: "mld-listener-query", 131: "mld-listener-report",
	132: "mld-listener-done", 133: "nd-router-solicit",
	134: "nd-router-advert", 135: "nd-neighbor-solicit",
	136: "nd-neighbor-advert", 137: "nd-redirect",
	138: "router-renumbering", 141: "ind-neighbor-solicit",
	142: "ind-neighbor-advert", 143: "mld2-listener-report",
}

var icmpv6CodeNames = map[uint8]string{
	0: "no-route", 1: "admin-prohibited", 3: "addr-unreachable",
	4: "port-unreachable", 5: "policy-fail", 6: "reject-route",
}

func symbol(names map[uint8]string, v uint8) string {
	if s, ok := names[v]; ok {
		return s
	}
	return fmt.Sprint(v)
}

// ctStateBits lists conntrack states in bit order, which is the order nft
// prints a combination in.
var ctStateBits = []struct {
	bit  uint32
	name string
}{
	{CTInvalid, "invalid"},
	{CTEstablished, "established"},
	{CTRelated, "related"},
	{CTNew, "new"},
	{CTUntracked, "untracked"},
}

const ctStateKnown = CTInvalid | CTEstablished | CTRelated | CTNew | CTUntracked

func ctStateNames(v uint32, sep string) string {
	var parts []string
	for _, b := range ctStateBits {
		if v&b.bit != 0 {
			parts = append(parts, b.name)
		}
	}
	return strings.Join(parts, sep)
}

// Hook numbers of the inet family (linux/netfilter.h NF_INET_*).
var hookNums = map[string]uint32{
	"prerouting": 0, "input": 1, "forward": 2, "output": 3, "postrouting": 4,
}

func hookName(n uint32) string {
	for s, v := range hookNums {
		if v == n {
			return s
		}
	}
	return fmt.Sprintf("hook%d", n)
}

// priorityString prints a base chain priority as nft 1.0.6 does for the
// inet family: a standard name when the value is within 10 of one that
// suits the hook ("filter + 10", "security - 10"), a number otherwise.
func priorityString(hook string, prio int) string {
	std := []struct {
		name string
		val  int
		hook string // "" = any hook
	}{
		{"raw", -300, ""},
		{"mangle", -150, ""},
		{"dstnat", -100, "prerouting"},
		{"filter", 0, ""},
		{"security", 50, ""},
		{"srcnat", 100, "postrouting"},
	}
	for _, s := range std {
		if s.hook != "" && s.hook != hook {
			continue
		}
		off := prio - s.val
		switch {
		case off == 0:
			return s.name
		case off > 0 && off <= 10:
			return fmt.Sprintf("%s + %d", s.name, off)
		case off < 0 && off >= -10:
			return fmt.Sprintf("%s - %d", s.name, -off)
		}
	}
	return fmt.Sprint(prio)
}

// transportNames are the protocols whose header nft names when it knows
// the protocol from an earlier `meta l4proto` match: `th dport` then
// lists as `tcp dport`.
var transportNames = map[uint8]string{
	6: "tcp", 17: "udp", 33: "dccp", 132: "sctp", 136: "udplite",
}
