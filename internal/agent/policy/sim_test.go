package policy

import (
	"bytes"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/gocalico/calico/internal/agent/nft"
)

// packet is what the simulator needs to know of a packet.
type packet struct {
	iif, oif         string
	src, dst         netip.Addr
	proto            uint8
	sport, dport     uint16
	icmpType, icmpCd uint8
	mac              net.HardwareAddr
	ct               uint32
	mark             uint32
	// beforeCT: the base chain running is before conntrack (raw).
	beforeCT bool
}

// simulate runs a packet through the ruleset's base chains on a hook, as
// the kernel would (lowest priority first; accept ends a base chain,
// drop ends everything), and reports whether it gets through. A packet
// that arrives by an interface (forward, input) goes through prerouting
// first, where it has no output interface yet. It is the unit tests'
// model of nftables; the privileged tests check the same truth table
// with real packets.
//
// As in the kernel, a packet on input has no output interface, one on
// output no input interface (iifname and oifname are then ""), and a
// forwarded one has both.
func simulate(t *testing.T, rs *nft.Ruleset, hook string, p packet) bool {
	t.Helper()
	switch {
	case hook == "input" && (p.iif == "" || p.oif != ""),
		hook == "output" && (p.oif == "" || p.iif != ""),
		hook == "forward" && (p.iif == "" || p.oif == ""):
		t.Fatalf("simulator: a packet on %s with iif %q and oif %q cannot be", hook, p.iif, p.oif)
	}
	if p.ct == 0 {
		p.ct = nft.CTNew
	}
	if hook != "output" {
		pre := p
		pre.oif = ""
		if !simulateHook(t, rs, "prerouting", &pre) {
			return false
		}
		p.mark, p.ct = pre.mark, pre.ct
	}
	return simulateHook(t, rs, hook, &p)
}

func simulateHook(t *testing.T, rs *nft.Ruleset, hook string, p *packet) bool {
	t.Helper()
	var bases []*nft.Chain
	for _, c := range rs.Chains {
		if c.Base != nil && c.Base.Hook == hook {
			bases = append(bases, c)
		}
	}
	slices.SortFunc(bases, func(a, b *nft.Chain) int { return a.Base.Priority - b.Base.Priority })
	for _, b := range bases {
		p.beforeCT = b.Base.Priority <= -300
		switch v := runChain(t, rs, b, p, 0); v {
		case nft.VerdictDrop:
			return false
		case nft.VerdictAccept:
			continue
		default:
			if b.Base.Policy == "drop" {
				return false
			}
		}
	}
	return true
}

// runChain returns VerdictAccept, VerdictDrop or VerdictReturn (fell off
// the end or returned).
func runChain(t *testing.T, rs *nft.Ruleset, c *nft.Chain, p *packet, depth int) nft.VerdictKind {
	t.Helper()
	if depth > 16 {
		t.Fatalf("chain depth exceeded at %s", c.Name)
	}
	for _, r := range c.Rules {
		if !matches(t, rs, r.Match, p) {
			continue
		}
		if r.ClearMark != 0 || r.SetMark != 0 {
			p.mark = p.mark&^(r.ClearMark|r.SetMark) | r.SetMark
		}
		if r.Notrack {
			if !p.beforeCT {
				// Only a chain before conntrack (priority raw) can.
				t.Fatalf("notrack in %s, reached after conntrack", c.Name)
			}
			p.ct = nft.CTUntracked
		}
		v := r.Verdict
		if v.Kind == nft.VerdictMap {
			key := p.iif
			if v.Key == "oifname" {
				key = p.oif
			}
			m := rs.Maps[v.Map]
			if m == nil {
				t.Fatalf("rule in %s uses missing map %s", c.Name, v.Map)
			}
			e, ok := m.Elements[key]
			if !ok {
				continue
			}
			v = e
		}
		switch v.Kind {
		case nft.VerdictNone:
		case nft.VerdictAccept, nft.VerdictDrop, nft.VerdictReturn:
			return v.Kind
		case nft.VerdictJump, nft.VerdictGoto:
			next := rs.Chains[v.Chain]
			if next == nil {
				t.Fatalf("rule in %s jumps to missing chain %s", c.Name, v.Chain)
			}
			res := runChain(t, rs, next, p, depth+1)
			if res != nft.VerdictReturn || v.Kind == nft.VerdictGoto {
				return res
			}
		}
	}
	return nft.VerdictReturn
}

func family(a netip.Addr) uint32 {
	if a.Is4() {
		return 4
	}
	return 6
}

func matches(t *testing.T, rs *nft.Ruleset, ms []nft.Match, p *packet) bool {
	t.Helper()
	for _, m := range ms {
		var ok bool
		switch m.Kind {
		case nft.MatchIIFName, nft.MatchOIFName:
			name := p.iif
			if m.Kind == nft.MatchOIFName {
				name = p.oif
			}
			if pre, wild := strings.CutSuffix(m.Name, "*"); wild {
				ok = strings.HasPrefix(name, pre)
			} else {
				ok = name == m.Name
			}
		case nft.MatchNFProto:
			ok = family(p.src) == m.Num
		case nft.MatchL4Proto:
			ok = uint32(p.proto) == m.Num || slices.Contains(m.Nums, p.proto)
		case nft.MatchSAddr, nft.MatchDAddr:
			a := p.src
			if m.Kind == nft.MatchDAddr {
				a = p.dst
			}
			if family(a) != uint32(m.Family) {
				return false // the family dependency fails, even negated
			}
			if m.Set != "" {
				ok = inSet(t, rs, m.Set, func(e nft.Element) bool { return e.Prefix.Contains(a) })
			} else {
				ok = slices.ContainsFunc(m.Prefixes, func(q netip.Prefix) bool { return q.Contains(a) })
			}
		case nft.MatchSPort, nft.MatchDPort:
			if p.proto != 6 && p.proto != 17 && p.proto != 132 {
				return false
			}
			port := p.sport
			if m.Kind == nft.MatchDPort {
				port = p.dport
			}
			if m.Set != "" {
				ok = inSet(t, rs, m.Set, func(e nft.Element) bool { return e.Ports.Lo <= port && port <= e.Ports.Hi })
			} else {
				ok = slices.ContainsFunc(m.Ports, func(r nft.PortRange) bool { return r.Lo <= port && port <= r.Hi })
			}
		case nft.MatchSAddrPort, nft.MatchDAddrPort:
			a, port := p.src, p.sport
			if m.Kind == nft.MatchDAddrPort {
				a, port = p.dst, p.dport
			}
			if family(a) != uint32(m.Family) || (p.proto != 6 && p.proto != 17 && p.proto != 132) {
				return false
			}
			ok = inSet(t, rs, m.Set, func(e nft.Element) bool {
				return e.Prefix.Addr() == a && e.Proto == p.proto && e.Ports.Lo == port
			})
		case nft.MatchICMP:
			want := uint8(1)
			if m.Family == 6 {
				want = 58
			}
			if p.proto != want {
				return false
			}
			ok = uint32(p.icmpType) == m.Num && (!m.HasCode || p.icmpCd == m.Code)
		case nft.MatchCTState:
			ok = p.ct&m.Num != 0
		case nft.MatchMark:
			ok = p.mark&m.Mask == m.Num
		case nft.MatchEtherSAddr:
			ok = bytes.Equal(p.mac, m.MAC)
		default:
			t.Fatalf("simulator: match kind %d not modelled", m.Kind)
		}
		if ok == m.Not {
			return false
		}
	}
	return true
}

func inSet(t *testing.T, rs *nft.Ruleset, name string, f func(nft.Element) bool) bool {
	t.Helper()
	s := rs.Sets[name]
	if s == nil {
		t.Fatalf("rule uses missing set %s", name)
	}
	return slices.ContainsFunc(s.Elements, f)
}
