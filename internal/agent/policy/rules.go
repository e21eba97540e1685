package policy

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/agent/nft"
	"github.com/gocalico/calico/internal/selector"
)

// MarkPass is the mark bit of Pass. A rule that allows accepts and one
// that denies drops (each direction has a base chain of its own, see
// baseChains); Pass sets MarkPass and returns, and the walk skips the
// rest of that tier. It is in the upper half, clear of kube-proxy's
// 0x4000/0x8000, as upstream's default mark mask.
//
// MarkHostAccept says that a doNotTrack or preDNAT policy allowed the
// packet, which then skips the host endpoint policy after it (not a
// workload's). The raw base chains clear it as a packet enters, so no
// one else can set it for us (see hostBaseRules).
const (
	MarkPass       uint32 = 0x20000
	MarkHostAccept uint32 = 0x10000
	markAll               = MarkPass
)

// SetKey names the contents of an IP set: the addresses of everything a
// selector matches, or, with NamedPort, the (address, protocol, port)
// tuples of the matching endpoints' ports of that name.
type SetKey struct {
	Selector  string // canonical form
	NamedPort string
	Proto     uint8 // with NamedPort: 0 = the port's own protocol
}

// SetNamer gives the nftables set names (IPv4 and IPv6) for a set's
// contents and records that a rule uses it.
type SetNamer interface {
	SetName(k SetKey, sel selector.Selector, family int) string
}

// ruleCtx is what rendering one policy's rules needs.
type ruleCtx struct {
	sets      SetNamer
	namespace string // "" for global policies and profiles
	profile   bool   // Pass falls through to the next profile
	comment   string // prefix of each rule's comment
	// stage: an Allow of an untracked policy also exempts the packet
	// from conntrack, and one of it or a preDNAT policy marks the packet
	// with MarkHostAccept.
	stage stage
}

// side is one side (source or destination) of a rule, resolved.
type side struct {
	nets, notNets   []netip.Prefix
	sel, notSel     selector.Selector
	ports, notPorts []nft.PortRange
	named, notNamed []string
}

// renderRule turns one Calico rule into nftables rules: one per address
// family it needs (sets and nets are per family) and per named port (a
// port list mixing numbers and names matches either). An error means the
// rule cannot be enforced as written; the caller fails closed.
func renderRule(c *ruleCtx, path string, r *v3.Rule, idx int) ([]nft.Rule, error) {
	if r.HTTP != nil {
		// No layer-7 enforcement here: an HTTP match can only ever
		// narrow an Allow, so skipping the rule fails closed.
		return nil, nil
	}
	src, err := resolveSide(path+".source", &r.Source, c.namespace)
	if err != nil {
		return nil, err
	}
	dst, err := resolveSide(path+".destination", &r.Destination, c.namespace)
	if err != nil {
		return nil, err
	}
	if r.Source.Services != nil || r.Destination.Services != nil {
		// Kubernetes Services are not in this datastore: the rule
		// matches nothing.
		return nil, nil
	}

	fams, err := families(path, r, src, dst)
	if err != nil {
		return nil, err
	}
	var proto, notProto *uint8
	if r.Protocol != nil {
		n, ok := r.Protocol.Number()
		if !ok {
			return nil, fmt.Errorf("%s.protocol: unknown protocol %q", path, r.Protocol)
		}
		proto = &n
	}
	if r.NotProtocol != nil {
		n, ok := r.NotProtocol.Number()
		if !ok {
			return nil, fmt.Errorf("%s.notProtocol: unknown protocol %q", path, r.NotProtocol)
		}
		notProto = &n
	}
	if (len(src.ports)+len(src.notPorts)+len(dst.ports)+len(dst.notPorts) > 0) && (proto == nil || !portProto(*proto)) {
		return nil, fmt.Errorf("%s: numeric ports need protocol TCP, UDP or SCTP", path)
	}

	var out []nft.Rule
	n := 0
	for _, fam := range fams {
		var base []nft.Match
		if fam != 0 {
			base = append(base, nft.Match{Kind: nft.MatchNFProto, Num: uint32(fam)})
		}
		if proto != nil {
			base = append(base, nft.Match{Kind: nft.MatchL4Proto, Num: uint32(*proto)})
		}
		if notProto != nil {
			base = append(base, nft.Match{Kind: nft.MatchL4Proto, Not: true, Num: uint32(*notProto)})
		}
		if r.ICMP != nil && r.ICMP.Type != nil {
			base = append(base, icmpMatch(fam, r.ICMP, false))
		}
		if r.NotICMP != nil && r.NotICMP.Type != nil {
			base = append(base, icmpMatch(fam, r.NotICMP, true))
		}
		for _, s := range []struct {
			sd  *side
			src bool
		}{{src, true}, {dst, false}} {
			base = append(base, s.sd.addrMatches(c, fam, s.src)...)
		}
		// Port variants: numbers in one rule, each named port in its own.
		srcVariants := src.portVariants(c, fam, true)
		dstVariants := dst.portVariants(c, fam, false)
		for _, sv := range srcVariants {
			for _, dv := range dstVariants {
				m := cheapFirst(append(append(append([]nft.Match(nil), base...), sv...), dv...))
				out = append(out, c.statements(r.Action, m, fmt.Sprintf("%s%d", c.comment, idx), n))
				n++
			}
		}
	}
	return out, nil
}

func portProto(p uint8) bool { return p == 6 || p == 17 || p == 132 }

func icmpMatch(fam int, f *v3.ICMPFields, not bool) nft.Match {
	m := nft.Match{Kind: nft.MatchICMP, Family: fam, Not: not, Num: uint32(*f.Type)}
	if f.Code != nil {
		m.HasCode, m.Code = true, uint8(*f.Code)
	}
	return m
}

// statements ends a rule with the action's statements.
func (c *ruleCtx) statements(a v3.Action, m []nft.Match, comment string, n int) nft.Rule {
	r := nft.Rule{Match: m, Counter: true}
	if n > 0 {
		comment = fmt.Sprintf("%s.%d", comment, n)
	}
	r.Comment = comment
	switch a {
	case v3.Allow:
		r.Verdict = nft.Verdict{Kind: nft.VerdictAccept}
		if c.stage != stageNormal {
			r.SetMark, r.Notrack = MarkHostAccept, c.stage == stageUntracked
		}
	case v3.Deny:
		r.Verdict = nft.Verdict{Kind: nft.VerdictDrop}
	case v3.Pass:
		if c.profile {
			// As upstream's iptables dataplane: on to the next profile.
			r.Verdict = nft.Verdict{Kind: nft.VerdictReturn}
		} else {
			r.SetMark, r.Verdict = MarkPass, nft.Verdict{Kind: nft.VerdictReturn}
		}
	case v3.Log:
		r.LogPrefix = "calico-packet: "
	default:
		// Validation rejects any other action; fail closed.
		r.Verdict = nft.Verdict{Kind: nft.VerdictDrop}
	}
	return r
}

func resolveSide(path string, e *v3.EntityRule, namespace string) (*side, error) {
	s := &side{}
	var err error
	if s.nets, err = prefixes(path+".nets", e.Nets); err != nil {
		return nil, err
	}
	if s.notNets, err = prefixes(path+".notNets", e.NotNets); err != nil {
		return nil, err
	}
	if s.sel, s.notSel, err = entitySelectors(path, e, namespace); err != nil {
		return nil, err
	}
	for _, p := range e.Ports {
		if p.PortName != "" {
			s.named = append(s.named, p.PortName)
		} else {
			s.ports = append(s.ports, nft.PortRange{Lo: p.MinPort, Hi: p.MaxPort})
		}
	}
	for _, p := range e.NotPorts {
		if p.PortName != "" {
			s.notNamed = append(s.notNamed, p.PortName)
		} else {
			s.notPorts = append(s.notPorts, nft.PortRange{Lo: p.MinPort, Hi: p.MaxPort})
		}
	}
	return s, nil
}

func prefixes(path string, nets []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for i, n := range nets {
		p, err := parsePrefix(n)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %q is not a CIDR", path, i, n)
		}
		out = append(out, p)
	}
	return out, nil
}

// parsePrefix reads a CIDR or a bare address (as a /32 or /128), masked.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// families is the set of address families the rule must be rendered for:
// [0] when nothing in it depends on the family (one rule for both).
func families(path string, r *v3.Rule, src, dst *side) ([]int, error) {
	want := map[int]bool{4: true, 6: true}
	limit := func(f int) { want[10-f] = false }
	if r.IPVersion != nil {
		limit(*r.IPVersion)
	}
	for _, p := range []*v3.Protocol{r.Protocol} {
		if p == nil {
			continue
		}
		switch n, _ := p.Number(); n {
		case 1:
			limit(4)
		case 58:
			limit(6)
		}
	}
	dependent := r.IPVersion != nil || r.ICMP != nil || r.NotICMP != nil
	for _, s := range []*side{src, dst} {
		// As upstream: a nets or notNets list with none of a family's
		// CIDRs keeps the rule out of that family altogether.
		for _, set := range [][]netip.Prefix{s.nets, s.notNets} {
			if len(set) == 0 {
				continue
			}
			has := map[int]bool{}
			for _, p := range set {
				has[famOf(p)] = true
			}
			for f := range want {
				if !has[f] {
					want[f] = false
				}
			}
		}
		if len(s.nets)+len(s.notNets) > 0 || s.sel != nil || s.notSel != nil || len(s.named)+len(s.notNamed) > 0 {
			dependent = true
		}
	}
	var out []int
	for _, f := range []int{4, 6} {
		if want[f] {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		// Nothing can match (e.g. IPv4 nets with ipVersion 6); validation
		// rejects that, and a rule that cannot match is simply absent.
		return nil, nil
	}
	if !dependent && len(out) == 2 {
		return []int{0}, nil
	}
	return out, nil
}

func famOf(p netip.Prefix) int {
	if p.Addr().Is4() {
		return 4
	}
	return 6
}

func ofFamily(ps []netip.Prefix, fam int) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range ps {
		if famOf(p) == fam {
			out = append(out, p)
		}
	}
	return out
}

// addrMatches are the side's address conditions for one family.
func (s *side) addrMatches(c *ruleCtx, fam int, src bool) []nft.Match {
	kind := addrKind(src)
	var out []nft.Match
	if len(s.nets) > 0 {
		out = append(out, nft.Match{Kind: kind, Family: fam, Prefixes: ofFamily(s.nets, fam)})
	}
	if nn := ofFamily(s.notNets, fam); len(nn) > 0 {
		out = append(out, nft.Match{Kind: kind, Family: fam, Not: true, Prefixes: nn})
	}
	if s.sel != nil && len(s.named) == 0 {
		// With named ports the (address, port) set already says which
		// endpoints.
		out = append(out, nft.Match{Kind: kind, Family: fam, Set: c.sets.SetName(SetKey{Selector: s.sel.String()}, s.sel, fam)})
	}
	if s.notSel != nil {
		out = append(out, nft.Match{Kind: kind, Family: fam, Not: true, Set: c.sets.SetName(SetKey{Selector: s.notSel.String()}, s.notSel, fam)})
	}
	return out
}

// portVariants: each alternative set of port conditions (a rule matches
// if any alternative does).
func (s *side) portVariants(c *ruleCtx, fam int, src bool) [][]nft.Match {
	portKind, tupleKind := nft.MatchDPort, nft.MatchDAddrPort
	if src {
		portKind, tupleKind = nft.MatchSPort, nft.MatchSAddrPort
	}
	sel := s.sel
	if sel == nil {
		sel = mustParse("all()")
	}
	var common []nft.Match
	if len(s.notPorts) > 0 {
		common = append(common, nft.Match{Kind: portKind, Not: true, Ports: s.notPorts})
	}
	for _, name := range s.notNamed {
		common = append(common, nft.Match{Kind: tupleKind, Family: fam, Not: true,
			Set: c.sets.SetName(SetKey{Selector: sel.String(), NamedPort: name}, sel, fam)})
	}
	if len(s.ports) == 0 && len(s.named) == 0 {
		return [][]nft.Match{common}
	}
	var out [][]nft.Match
	if len(s.ports) > 0 {
		v := append([]nft.Match(nil), common...)
		if s.sel != nil && len(s.named) > 0 {
			// addrMatches left the selector to the port variants.
			v = append(v, nft.Match{Kind: addrKind(src), Family: fam, Set: c.sets.SetName(SetKey{Selector: s.sel.String()}, s.sel, fam)})
		}
		out = append(out, append(v, nft.Match{Kind: portKind, Ports: s.ports}))
	}
	for _, name := range s.named {
		out = append(out, append(append([]nft.Match(nil), common...), nft.Match{Kind: tupleKind, Family: fam,
			Set: c.sets.SetName(SetKey{Selector: sel.String(), NamedPort: name}, sel, fam)}))
	}
	return out
}

// cheapFirst orders a rule's matches (all of which must hold, so the
// order does not change what it matches) by what they cost the kernel
// per packet: comparisons of the packet's protocol, ICMP type and ports
// first, set lookups last. Most packets that a rule does not match then
// leave it before any lookup: a UDP packet fails a TCP rule at its
// protocol, a packet to another port at its port, and neither costs a
// hash or interval lookup in a large IP set. The order among equals is
// kept.
func cheapFirst(m []nft.Match) []nft.Match {
	slices.SortStableFunc(m, func(a, b nft.Match) int { return matchCost(a) - matchCost(b) })
	return m
}

func matchCost(m nft.Match) int {
	switch m.Kind {
	case nft.MatchNFProto, nft.MatchL4Proto, nft.MatchICMP:
		return 0
	case nft.MatchSPort, nft.MatchDPort:
		if m.Set == "" && len(m.Ports) == 1 {
			return 0 // one comparison, or two for a range
		}
		return 1 // a small anonymous set
	case nft.MatchSAddr, nft.MatchDAddr:
		if m.Set == "" && len(m.Prefixes) == 1 {
			return 1 // one masked comparison
		}
		return 2
	}
	return 2 // named sets: IP sets, (address, port) sets
}

func addrKind(src bool) nft.MatchKind {
	if src {
		return nft.MatchSAddr
	}
	return nft.MatchDAddr
}
