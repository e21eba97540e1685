package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"

	"github.com/gocalico/calico/internal/agent/nft"
)

// Names of the agent's table, base chains and dispatch maps.
const (
	TableName       = "calico"
	chainPrerouting = "prerouting"
	chainForward    = "forward"
	chainInput      = "input"
	mapFromWL       = "from-wl" // iifname -> jump fw-<iface>
	mapToWL         = "to-wl"   // oifname -> jump tw-<iface>
	fromWLPrefix    = "fw-"
	toWLPrefix      = "tw-"
	walkOutPrefix   = "wo-" // shared walks of an endpoint's egress tiers and profiles
	walkInPrefix    = "wi-" // and of its ingress ones
	polInPrefix     = "pi-"
	polOutPrefix    = "po-"
	profInPrefix    = "pri-"
	profOutPrefix   = "pro-"
	commentDefault  = "default-deny"
	// chainFromWLCommon: what any workload may send before policy.
	chainFromWLCommon = "from-wl-common"
)

// EndpointToHost is what happens to traffic from a workload to its host
// once the workload's egress policy allowed it
// (defaultEndpointToHostAction): Drop and Accept decide it whatever host
// endpoints there are; Return hands it to host endpoint policy, which
// for a workload interface is the "*" endpoint's (accepted when there
// is none).
type EndpointToHost string

const (
	ToHostDrop   EndpointToHost = "Drop"
	ToHostReturn EndpointToHost = "Return"
	ToHostAccept EndpointToHost = "Accept"
)

// TierRef is one tier as it applies to one endpoint in one direction:
// the policy chains to try, in order.
type TierRef struct {
	Name string
	// Pass: the tier's defaultAction is Pass, so falling off its end goes
	// on to the next tier (or the profiles) instead of dropping.
	Pass     bool
	Policies []string // policy IDs (chain suffixes)
	// Passes[i] is true when Policies[i] has a Pass rule in this
	// direction (may be shorter than Policies: false beyond it).
	Passes []bool
}

// Passing reports whether policy i of the tier may set the pass bit.
func (t *TierRef) Passing(i int) bool { return i < len(t.Passes) && t.Passes[i] }

// Endpoint is one local workload endpoint's policy, resolved.
type Endpoint struct {
	Iface string
	// Addrs are the endpoint's own addresses; AllowSpoofed the extra
	// source prefixes it may send from.
	Addrs, AllowSpoofed []netip.Prefix
	MAC                 net.HardwareAddr
	Ingress, Egress     []TierRef
	// Profiles are the IDs of the endpoint's profiles that exist, in
	// order.
	Profiles []string
}

// baseChains are the hooks. A workload's egress policy runs in
// prerouting, for everything it sends (to another workload, out of the
// host or to the host itself); a workload's ingress policy in forward;
// defaultEndpointToHostAction in input. Conntrack comes first in each.
// Because each direction has a hook of its own, a policy's Allow can
// accept outright: accept ends one base chain, so the sender's accept
// in prerouting still leaves the receiver's check in forward, and the
// endpoint-to-host action in input. With host endpoints there is more
// (see hostBaseRules). Traffic that concerns neither a workload
// interface nor a host endpoint is left alone.
func baseChains(prefixes []string, toHost EndpointToHost, hd hostDispatch) []*nft.Chain {
	estab := nft.Rule{
		Match:   []nft.Match{{Kind: nft.MatchCTState, Num: nft.CTEstablished | nft.CTRelated}},
		Verdict: nft.Verdict{Kind: nft.VerdictAccept},
	}
	clear := nft.Rule{ClearMark: markAll}
	invalid := func(kind nft.MatchKind, p string) nft.Rule {
		return nft.Rule{
			Match:   []nft.Match{{Kind: kind, Name: p + "*"}, {Kind: nft.MatchCTState, Num: nft.CTInvalid}},
			Counter: true, Verdict: nft.Verdict{Kind: nft.VerdictDrop},
			Comment: "invalid-" + p + ifaceDir(kind),
		}
	}
	unclaimed := func(kind nft.MatchKind, p string) nft.Rule {
		// An interface of a workload prefix that no endpoint claims: the
		// vmap had no element for it (an endpoint's chains never return).
		return nft.Rule{
			Match:   []nft.Match{{Kind: kind, Name: p + "*"}},
			Counter: true, Verdict: nft.Verdict{Kind: nft.VerdictDrop},
			Comment: "no-endpoint-" + p + ifaceDir(kind),
		}
	}
	pre := &nft.Chain{Name: chainPrerouting, Base: &nft.Hook{Type: "filter", Hook: "prerouting", Priority: 0, Policy: "accept"}}
	pre.Rules = append(pre.Rules, estab)
	for _, p := range prefixes {
		pre.Rules = append(pre.Rules, invalid(nft.MatchIIFName, p))
	}
	pre.Rules = append(pre.Rules, clear, nft.Rule{Verdict: nft.Verdict{Kind: nft.VerdictMap, Map: mapFromWL, Key: "iifname"}})
	for _, p := range prefixes {
		pre.Rules = append(pre.Rules, unclaimed(nft.MatchIIFName, p))
	}

	fwd := &nft.Chain{Name: chainForward, Base: &nft.Hook{Type: "filter", Hook: "forward", Priority: 0, Policy: "accept"}}
	fwd.Rules = append(fwd.Rules, estab)
	for _, p := range prefixes {
		fwd.Rules = append(fwd.Rules, invalid(nft.MatchOIFName, p))
	}
	fwd.Rules = append(fwd.Rules, clear, nft.Rule{Verdict: nft.Verdict{Kind: nft.VerdictMap, Map: mapToWL, Key: "oifname"}})
	for _, p := range prefixes {
		fwd.Rules = append(fwd.Rules, unclaimed(nft.MatchOIFName, p))
	}

	// Workload to host: the egress policy has allowed it in prerouting
	// (or it would not be here); what a workload needs of its host
	// before it has an address is accepted whatever the action.
	in := &nft.Chain{Name: chainInput, Base: &nft.Hook{Type: "filter", Hook: "input", Priority: 0, Policy: "accept"}}
	in.Rules = append(in.Rules, estab)
	for _, p := range prefixes {
		wl := []nft.Match{{Kind: nft.MatchIIFName, Name: p + "*"}}
		r := nft.Rule{Match: wl, Counter: true, Comment: "to-host-" + p}
		switch toHost {
		case ToHostAccept:
			r.Verdict = nft.Verdict{Kind: nft.VerdictAccept}
		case ToHostReturn:
			// Host endpoint policy decides: the "*" endpoint's, when
			// there is one (hostBaseRules); otherwise it is accepted.
			continue
		default:
			r.Verdict = nft.Verdict{Kind: nft.VerdictDrop}
		}
		in.Rules = append(in.Rules, nft.Rule{Match: wl, Verdict: nft.Verdict{Kind: nft.VerdictJump, Chain: chainFromWLCommon}}, r)
	}
	if !hd.any {
		return []*nft.Chain{pre, fwd, in}
	}
	hin, more := hostBaseRules(prefixes, hd, estab)
	in.Rules = append(in.Rules, hin...)
	return append([]*nft.Chain{pre, fwd, in}, more...)
}

func ifaceDir(k nft.MatchKind) string {
	if k == nft.MatchIIFName {
		return "-in"
	}
	return "-out"
}

// endpointChains are the endpoint's from-workload (egress) and
// to-workload (ingress) chains. Each ends in a goto to the walk of its
// tiers and profiles (walkChain), which endpoints with the same policies
// share: a table holds one walk per distinct policy list, not one per
// endpoint, which keeps the kernel's work per commit (it re-validates
// every chain reachable from the hooks) and the agent's memory down.
func endpointChains(e *Endpoint, walk func(prefix string, rules []nft.Rule) *nft.Chain) (from, to, walkOut, walkIn *nft.Chain) {
	from = &nft.Chain{Name: fromWLPrefix + e.Iface}
	r := &from.Rules
	// What a workload needs of its host before it has an address (DHCP,
	// IPv6 neighbour and router discovery: fromWLCommon), then
	// anti-spoofing.
	*r = append(*r, nft.Rule{Verdict: nft.Verdict{Kind: nft.VerdictJump, Chain: chainFromWLCommon}})
	if len(e.MAC) > 0 {
		*r = append(*r, nft.Rule{Match: []nft.Match{{Kind: nft.MatchEtherSAddr, Not: true, MAC: e.MAC}},
			Counter: true, Verdict: nft.Verdict{Kind: nft.VerdictDrop}, Comment: "spoofed-mac"})
	}
	for _, fam := range []int{4, 6} {
		own := append(ofFamily(e.Addrs, fam), ofFamily(e.AllowSpoofed, fam)...)
		m := []nft.Match{{Kind: nft.MatchNFProto, Num: uint32(fam)}}
		if len(own) > 0 {
			m = append(m, nft.Match{Kind: nft.MatchSAddr, Family: fam, Not: true, Prefixes: own})
		}
		*r = append(*r, nft.Rule{Match: m, Counter: true, Verdict: nft.Verdict{Kind: nft.VerdictDrop},
			Comment: "spoofed-v" + string(rune('0'+fam))})
	}
	walkOut = walk(walkOutPrefix, policyRules(e.Egress, e.Profiles, polOutPrefix, profOutPrefix))
	*r = append(*r, nft.Rule{Verdict: nft.Verdict{Kind: nft.VerdictGoto, Chain: walkOut.Name}})

	walkIn = walk(walkInPrefix, policyRules(e.Ingress, e.Profiles, polInPrefix, profInPrefix))
	to = &nft.Chain{Name: toWLPrefix + e.Iface, Rules: []nft.Rule{{Verdict: nft.Verdict{Kind: nft.VerdictGoto, Chain: walkIn.Name}}}}
	return from, to, walkOut, walkIn
}

// fromWLCommon is what every workload may send its host before policy:
// DHCP and DHCPv6 requests, and IPv6 router and neighbour discovery.
// Every fw- chain jumps to it first.
var fromWLCommon = func() *nft.Chain {
	c := &nft.Chain{Name: chainFromWLCommon}
	c.Rules = append(c.Rules,
		nft.Rule{Match: []nft.Match{{Kind: nft.MatchNFProto, Num: 4}, {Kind: nft.MatchL4Proto, Num: 17},
			{Kind: nft.MatchSPort, Ports: []nft.PortRange{{Lo: 68, Hi: 68}}}, {Kind: nft.MatchDPort, Ports: []nft.PortRange{{Lo: 67, Hi: 67}}}},
			Verdict: nft.Verdict{Kind: nft.VerdictAccept}},
		nft.Rule{Match: []nft.Match{{Kind: nft.MatchNFProto, Num: 6}, {Kind: nft.MatchL4Proto, Num: 17},
			{Kind: nft.MatchSPort, Ports: []nft.PortRange{{Lo: 546, Hi: 546}}}, {Kind: nft.MatchDPort, Ports: []nft.PortRange{{Lo: 547, Hi: 547}}}},
			Verdict: nft.Verdict{Kind: nft.VerdictAccept}},
	)
	for _, t := range []uint32{133, 135, 136} {
		c.Rules = append(c.Rules, nft.Rule{Match: []nft.Match{{Kind: nft.MatchNFProto, Num: 6}, {Kind: nft.MatchL4Proto, Num: 58},
			{Kind: nft.MatchICMP, Family: 6, Num: t}}, Verdict: nft.Verdict{Kind: nft.VerdictAccept}})
	}
	return c
}()

// walkName names a walk chain by its rules: prefix and 20 hex digits of
// a SHA-256 over the rules' printed form, so that endpoints with the same
// tiers, policies and profiles get the same chain, and a chain's content
// never changes under its name.
func walkName(prefix string, rules []nft.Rule) string {
	h := sha256.New()
	for _, r := range rules {
		fmt.Fprintf(h, "%+v\n", r)
	}
	return prefix + hex.EncodeToString(h.Sum(nil)[:10])
}

// policyRules walk the tiers, then the profiles, then drop. A policy
// chain that allows accepts and one that denies drops, so the walk only
// goes on when the policy had no verdict; only after a policy that can
// Pass does it check the pass bit.
func policyRules(tiers []TierRef, profiles []string, polPrefix, profPrefix string) []nft.Rule {
	out := tierRules(tiers, polPrefix)
	for _, p := range profiles {
		out = append(out, nft.Rule{Verdict: nft.Verdict{Kind: nft.VerdictJump, Chain: profPrefix + p}})
	}
	out = append(out, nft.Rule{Counter: true, Verdict: nft.Verdict{Kind: nft.VerdictDrop}, Comment: commentDefault})
	return out
}

// tierRules walk the tiers: a jump per policy, the pass bit checked
// after one that can Pass, and a drop at the end of a tier that does
// not pass.
func tierRules(tiers []TierRef, polPrefix string) []nft.Rule {
	var out []nft.Rule
	notPassed := nft.Match{Kind: nft.MatchMark, Mask: MarkPass, Num: 0}
	for _, t := range tiers {
		passing := false // a policy before in this tier may have set the pass bit
		for j, p := range t.Policies {
			r := nft.Rule{Verdict: nft.Verdict{Kind: nft.VerdictJump, Chain: polPrefix + p}}
			if passing {
				r.Match = []nft.Match{notPassed}
			}
			out = append(out, r)
			passing = passing || t.Passing(j)
		}
		if !t.Pass {
			r := nft.Rule{Counter: true, Verdict: nft.Verdict{Kind: nft.VerdictDrop}, Comment: "tier-end:" + t.Name}
			if passing {
				r.Match = []nft.Match{notPassed}
			}
			out = append(out, r)
		}
		if passing {
			out = append(out, nft.Rule{ClearMark: MarkPass})
		}
	}
	return out
}
