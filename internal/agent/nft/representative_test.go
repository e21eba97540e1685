package nft

import (
	"net"
	"net/netip"
)

func pfx(s string) netip.Prefix {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p
	}
	a := netip.MustParseAddr(s)
	return netip.PrefixFrom(a, a.BitLen())
}

func pfxs(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = pfx(s)
	}
	return out
}

func addrElems(ss ...string) []Element {
	out := make([]Element, len(ss))
	for i, s := range ss {
		out[i] = Element{Prefix: pfx(s)}
	}
	return out
}

func mac(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

func tcp() Match        { return Match{Kind: MatchL4Proto, Num: 6} }
func udp() Match        { return Match{Kind: MatchL4Proto, Num: 17} }
func nf(f uint32) Match { return Match{Kind: MatchNFProto, Num: f} }

func dport(ports ...PortRange) Match { return Match{Kind: MatchDPort, Ports: ports} }

func single(p uint16) PortRange { return PortRange{p, p} }

// representative is a ruleset with every kind of object, match,
// statement and verdict the model has, shaped like the policy
// renderer's output.
func representative() *Ruleset {
	return &Ruleset{
		Table: "calico",
		Sets: map[string]*Set{
			"all-ipv4": {Type: TypeIPv4Addr, Elements: addrElems("10.65.0.3", "10.65.0.1", "10.65.0.2")},
			"nets-v4": {Type: TypeIPv4Addr, Interval: true, Elements: addrElems(
				"10.0.0.0/8", "192.168.0.0/16", "192.168.1.0/24", // contained: merged
				"172.16.0.0/25", "172.16.0.128/25", // adjacent: one /24
				"100.64.0.1", "100.64.0.2", "100.64.0.3", // a range that is no prefix
			)},
			"nets-v6":     {Type: TypeIPv6Addr, Interval: true, Elements: addrElems("fd00::/8", "2001:db8::1")},
			"addrs-v6":    {Type: TypeIPv6Addr, Elements: addrElems("fd00::2", "fd00::1")},
			"ports":       {Type: TypeInetService, Interval: true, Elements: []Element{{Ports: single(443)}, {Ports: single(80)}, {Ports: PortRange{8000, 8080}}}},
			"ports-plain": {Type: TypeInetService, Elements: []Element{{Ports: single(53)}, {Ports: single(22)}}},
			"ifaces":      {Type: TypeIfname, Elements: []Element{{Name: "eth0"}, {Name: "cali1234"}}},
			"macs":        {Type: TypeEtherAddr, Elements: []Element{{MAC: mac("02:00:00:00:00:01")}}},
			"np-v4": {Type: TypeIPv4AddrProtoPort, Elements: []Element{
				{Prefix: pfx("10.65.0.1"), Proto: 6, Ports: single(8080)},
				{Prefix: pfx("10.65.0.2"), Proto: 17, Ports: single(53)},
			}},
			"np-v6": {Type: TypeIPv6AddrProtoPort, Elements: []Element{
				{Prefix: pfx("fd00::1"), Proto: 6, Ports: single(8080)},
			}},
			"empty": {Type: TypeIPv4Addr},
		},
		Maps: map[string]*Map{
			"to-wl": {Type: TypeIfname, Elements: map[string]Verdict{
				"cali1234": {Kind: VerdictJump, Chain: "to-wl-cali1234"},
				"cali5678": {Kind: VerdictGoto, Chain: "to-wl-cali5678"},
			}},
			"from-wl": {Type: TypeIfname, Elements: map[string]Verdict{
				"cali1234": {Kind: VerdictJump, Chain: "from-wl-cali1234"},
			}},
		},
		Chains: map[string]*Chain{
			"forward": {Base: &Hook{Type: "filter", Hook: "forward", Priority: 0, Policy: "drop"}, Rules: []Rule{
				{Match: []Match{{Kind: MatchCTState, Num: CTEstablished | CTRelated}}, Verdict: Verdict{Kind: VerdictAccept}},
				{Match: []Match{{Kind: MatchCTState, Num: CTInvalid}}, Counter: true, Verdict: Verdict{Kind: VerdictDrop}, Comment: "ct-invalid"},
				{Verdict: Verdict{Kind: VerdictMap, Map: "from-wl", Key: "iifname"}},
				{Verdict: Verdict{Kind: VerdictMap, Map: "to-wl", Key: "oifname"}},
				{Match: []Match{{Kind: MatchMark, Num: 0x10, Mask: 0x10}}, Counter: true, Verdict: Verdict{Kind: VerdictAccept}, Comment: "pass"},
				{Match: []Match{{Kind: MatchIIFName, Name: "cali*"}, {Kind: MatchMark, Mask: 0x10000, Num: 0}}, Counter: true, Verdict: Verdict{Kind: VerdictDrop}},
				{Match: []Match{nf(4), udp(), {Kind: MatchSPort, Ports: []PortRange{single(68)}}, {Kind: MatchDPort, Ports: []PortRange{single(67)}}}, Verdict: Verdict{Kind: VerdictAccept}},
				{Match: []Match{{Kind: MatchIIFName, Name: "cali*"}}, Counter: true, LogPrefix: "calico-drop: ", Verdict: Verdict{Kind: VerdictDrop}, Comment: "drop-unknown-wl"},
			}},
			"input": {Base: &Hook{Type: "filter", Hook: "input", Priority: 10, Policy: "accept"}, Rules: []Rule{
				{Match: []Match{{Kind: MatchICMP, Family: 4, Num: 8}}, Counter: true, Verdict: Verdict{Kind: VerdictAccept}, Comment: "ping4"},
				{Match: []Match{{Kind: MatchL4Proto, Num: 58}, {Kind: MatchICMP, Family: 6, Num: 135}}, Verdict: Verdict{Kind: VerdictAccept}},
				{Match: []Match{{Kind: MatchICMP, Family: 4, Num: 3, Code: 3, HasCode: true}}, Verdict: Verdict{Kind: VerdictAccept}},
				{Match: []Match{{Kind: MatchICMP, Family: 6, Num: 1, Code: 4, HasCode: true, Not: true}}, Verdict: Verdict{Kind: VerdictDrop}},
				{Match: []Match{{Kind: MatchICMP, Family: 4, Num: 8, Not: true}, {Kind: MatchIIFName, Name: "eth0"}}, Verdict: Verdict{Kind: VerdictReturn}},
				{Match: []Match{{Kind: MatchEtherSAddr, MAC: mac("02:00:00:00:00:01")}}, Verdict: Verdict{Kind: VerdictAccept}},
				{Match: []Match{{Kind: MatchEtherSAddr, MAC: mac("02:00:00:00:00:02"), Not: true}, {Kind: MatchOIFName, Name: "cali*", Not: true}}, Verdict: Verdict{Kind: VerdictAccept}},
				{Match: []Match{nf(6)}, Verdict: Verdict{Kind: VerdictJump, Chain: "pol-allow-web"}},
				{Match: []Match{{Kind: MatchNFProto, Num: 4, Not: true}, {Kind: MatchL4Proto, Num: 6, Not: true}}, Verdict: Verdict{Kind: VerdictGoto, Chain: "pol-allow-web"}},
				{Match: []Match{{Kind: MatchCTState, Num: CTNew | CTRelated, Not: true}}, Counter: true},
			}},
			"output": {Base: &Hook{Hook: "output", Priority: -5}, Rules: []Rule{
				{Match: []Match{{Kind: MatchMark, Num: 0x100}}, ClearMark: 0xff00, Verdict: Verdict{Kind: VerdictAccept}},
				{Match: []Match{{Kind: MatchMark, Num: 0x100, Mask: 0xff00, Not: true}}, SetMark: 0x20, ClearMark: 0x10},
			}},
			"raw-prerouting": {Base: &Hook{Type: "filter", Hook: "prerouting", Priority: -300, Policy: "accept"}, Rules: []Rule{
				{Match: []Match{{Kind: MatchIIFName, Name: "eth0"}, tcp(), dport(single(9090))}, Counter: true, SetMark: 0x10000, Notrack: true,
					Verdict: Verdict{Kind: VerdictAccept}, Comment: "untracked"},
				{Match: []Match{{Kind: MatchCTState, Num: CTUntracked}}, Verdict: Verdict{Kind: VerdictAccept}},
			}},
			"to-wl-cali1234": {Rules: []Rule{
				{ClearMark: 0x30},
				{Match: []Match{tcp(), dport(single(22))}, Verdict: Verdict{Kind: VerdictAccept}},
				{Match: []Match{tcp(), dport(single(443), single(80), PortRange{8000, 8080})}, Counter: true, Verdict: Verdict{Kind: VerdictAccept}, Comment: "web"},
				{Match: []Match{{Kind: MatchL4Proto, Nums: []uint8{17, 6}}, {Kind: MatchDPort, Set: "ports"}}, Verdict: Verdict{Kind: VerdictAccept}},
				{Match: []Match{udp(), {Kind: MatchSPort, Ports: []PortRange{single(53)}, Not: true}}, Verdict: Verdict{Kind: VerdictDrop}},
				{Match: []Match{tcp(), {Kind: MatchDPort, Ports: []PortRange{{1000, 2000}}}}, Verdict: Verdict{Kind: VerdictAccept}},
				{Match: []Match{tcp(), {Kind: MatchDPort, Ports: []PortRange{{1000, 2000}}, Not: true}, {Kind: MatchSPort, Ports: []PortRange{single(1), single(2)}, Not: true}}, Verdict: Verdict{Kind: VerdictDrop}},
				{Match: []Match{nf(4), {Kind: MatchSAddr, Set: "nets-v4"}}, SetMark: 0x10, Verdict: Verdict{Kind: VerdictReturn}},
				{Match: []Match{{Kind: MatchSAddr, Family: 4, Prefixes: pfxs("10.0.0.0/8", "192.168.0.0/16")}}, Verdict: Verdict{Kind: VerdictAccept}},
				{Match: []Match{{Kind: MatchDAddr, Family: 6, Prefixes: pfxs("fd00::/8"), Not: true}}, Verdict: Verdict{Kind: VerdictDrop}},
				{Match: []Match{{Kind: MatchDAddr, Prefixes: pfxs("10.65.0.0/26")}, {Kind: MatchSAddr, Prefixes: pfxs("10.65.0.1")}}, Verdict: Verdict{Kind: VerdictAccept}},
				{Match: []Match{{Kind: MatchSAddr, Prefixes: pfxs("172.16.0.0/25", "172.16.0.128/26")}}, Verdict: Verdict{Kind: VerdictAccept}},
				{Match: []Match{{Kind: MatchSAddr, Prefixes: pfxs("172.16.0.0/25", "172.16.0.128/26"), Not: true}}, Verdict: Verdict{Kind: VerdictDrop}},
				{Match: []Match{{Kind: MatchSAddr, Set: "all-ipv4", Not: true}}, Verdict: Verdict{Kind: VerdictDrop}},
				{Match: []Match{{Kind: MatchSAddr, Set: "addrs-v6"}}, Verdict: Verdict{Kind: VerdictAccept}},
				{Match: []Match{{Kind: MatchDAddr, Set: "nets-v6"}, tcp(), dport(single(80))}, Verdict: Verdict{Kind: VerdictAccept}},
				{Match: []Match{{Kind: MatchDAddrPort, Set: "np-v4"}}, Counter: true, Verdict: Verdict{Kind: VerdictAccept}, Comment: "named-port"},
				{Match: []Match{nf(6), tcp(), {Kind: MatchDAddrPort, Set: "np-v6"}}, Verdict: Verdict{Kind: VerdictAccept}},
				{Match: []Match{{Kind: MatchSAddrPort, Set: "np-v4", Not: true}}, Verdict: Verdict{Kind: VerdictDrop}},
				{Match: []Match{nf(4), tcp(), {Kind: MatchSAddr, Set: "all-ipv4"}, {Kind: MatchSPort, Not: true, Ports: []PortRange{single(1)}}, {Kind: MatchDAddrPort, Family: 4, Set: "np-v4"}},
					Counter: true, SetMark: 0x10000, Verdict: Verdict{Kind: VerdictReturn}, Comment: "pol:default.np:ingress:3"},
				{Match: []Match{nf(4), {Kind: MatchL4Proto, Num: 1}, {Kind: MatchICMP, Family: 4, Num: 3, HasCode: true, Code: 1, Not: true}}, Counter: true, LogPrefix: "calico-packet: "},
				{Match: []Match{{Kind: MatchSAddr, Set: "empty"}}, Verdict: Verdict{Kind: VerdictDrop}},
				{Match: []Match{{Kind: MatchL4Proto, Nums: []uint8{1, 58}, Not: true}}, Verdict: Verdict{Kind: VerdictJump, Chain: "pol-allow-web"}},
				{Match: []Match{nf(4), tcp(), {Kind: MatchDAddr, Prefixes: pfxs("0.0.0.0/0")}, dport(single(8080))}, Verdict: Verdict{Kind: VerdictAccept}},
				{Match: []Match{{Kind: MatchDPort, Set: "ports-plain"}}, Verdict: Verdict{Kind: VerdictAccept}},
				{Verdict: Verdict{Kind: VerdictDrop}, Counter: true, Comment: "default-drop"},
			}},
			"to-wl-cali5678":   {Rules: []Rule{{Verdict: Verdict{Kind: VerdictReturn}}}},
			"from-wl-cali1234": {Rules: []Rule{{Match: []Match{{Kind: MatchSAddr, Prefixes: pfxs("10.65.0.1"), Not: true}}, Verdict: Verdict{Kind: VerdictDrop}, Comment: "anti-spoof"}}},
			"pol-allow-web":    {},
		},
	}
}
