package policy

import (
	"fmt"
	"net/netip"

	"github.com/gocalico/calico/internal/agent/config"
	"github.com/gocalico/calico/internal/agent/nft"
)

// Names of the host endpoint base chain, dispatch maps and chains.
const (
	chainOutput       = "output"
	chainFwdHostIn    = "forward-host-in"
	chainFwdHostOut   = "forward-host-out"
	mapFromHost       = "from-host-ep"     // iifname -> jump fh-<iface>   (input)
	mapToHost         = "to-host-ep"       // oifname -> jump th-<iface>   (output)
	mapFwdFromHost    = "fwd-from-host-ep" // iifname -> jump fhfw-<iface> (forward)
	mapFwdToHost      = "fwd-to-host-ep"   // oifname -> jump thfw-<iface> (forward)
	fromHostPrefix    = "fh-"
	toHostPrefix      = "th-"
	fwdFromHostPrefix = "fhfw-"
	fwdToHostPrefix   = "thfw-"
	// ifaceAll is the interfaceName of a host endpoint for all
	// interfaces; allInterfaces names its chains, as upstream. It is
	// longer than any interface name (15 bytes), so it cannot clash.
	ifaceAll      = "*"
	allInterfaces = "any-interface-at-all"
)

// HostEndpoint is one local host endpoint's policy, resolved.
type HostEndpoint struct {
	// Iface is the interface, or "*" for all but lo and the workloads'.
	Iface string
	// Ingress and Egress are the tiers for traffic to and from the host
	// by the interface; ForwardIngress and ForwardEgress those of the
	// applyOnForward policies, for traffic forwarded in or out by it.
	Ingress, Egress               []TierRef
	ForwardIngress, ForwardEgress []TierRef
	// Profiles are the IDs of the endpoint's profiles that exist, in
	// order (not used for forwarded traffic).
	Profiles []string
}

// hostDispatch is what the base chains need to know of the local host
// endpoints.
type hostDispatch struct {
	any bool // some host endpoint is enforced: the dispatch rules and the output chain
	all bool // one of them is for "*": the catch-all rules
}

func hostChainSuffix(iface string) string {
	if iface == ifaceAll {
		return allInterfaces
	}
	return iface
}

// hostEndpointChains are the endpoint's chains: traffic from the
// interface to the host (fh-), from the host out by it (th-), and
// forwarded in (fhfw-) and out (thfw-) by it.
//
// The input and output ones drop what conntrack calls invalid, accept
// the failsafe ports and IPv6 router and neighbour discovery, then walk
// the tiers and profiles as a workload's chain does (nothing allowed:
// drop). Discovery is not one of upstream's failsafes, but conntrack
// does not track it, so without it a default-deny endpoint cuts the
// host off over IPv6, failsafe ports and all. The forward ones walk only the
// applyOnForward tiers; with none, they accept. No chain returns: it
// accepts or drops, so the base chain's rule after the dispatch map,
// which goes to the "*" endpoint's chain, is reached only by an
// interface that no named endpoint claims.
func hostEndpointChains(e *HostEndpoint, failIn, failOut []config.ProtoPort) []*nft.Chain {
	sfx := hostChainSuffix(e.Iface)
	invalid := nft.Rule{Match: []nft.Match{{Kind: nft.MatchCTState, Num: nft.CTInvalid}},
		Counter: true, Verdict: nft.Verdict{Kind: nft.VerdictDrop}, Comment: "invalid"}

	from := &nft.Chain{Name: fromHostPrefix + sfx}
	from.Rules = append([]nft.Rule{invalid}, failsafeRules(failIn, true)...)
	from.Rules = append(from.Rules, discovery...)
	from.Rules = append(from.Rules, policyRules(e.Ingress, e.Profiles, polInPrefix, profInPrefix)...)

	to := &nft.Chain{Name: toHostPrefix + sfx}
	to.Rules = append([]nft.Rule{invalid}, failsafeRules(failOut, false)...)
	to.Rules = append(to.Rules, discovery...)
	to.Rules = append(to.Rules, policyRules(e.Egress, e.Profiles, polOutPrefix, profOutPrefix)...)

	fwdFrom := &nft.Chain{Name: fwdFromHostPrefix + sfx, Rules: forwardRules(e.ForwardIngress, polInPrefix)}
	fwdTo := &nft.Chain{Name: fwdToHostPrefix + sfx, Rules: forwardRules(e.ForwardEgress, polOutPrefix)}
	return []*nft.Chain{from, to, fwdFrom, fwdTo}
}

// discovery accepts ICMPv6 router solicitation and advertisement and
// neighbour solicitation and advertisement.
var discovery = func() []nft.Rule {
	var out []nft.Rule
	for t := uint32(133); t <= 136; t++ {
		out = append(out, nft.Rule{Match: []nft.Match{{Kind: nft.MatchNFProto, Num: 6}, {Kind: nft.MatchL4Proto, Num: 58},
			{Kind: nft.MatchICMP, Family: 6, Num: t}}, Verdict: nft.Verdict{Kind: nft.VerdictAccept}})
	}
	return out
}()

// failsafeRules accept traffic to the failsafe destination ports, from
// (inbound) or to (outbound) the entry's Net when it is set. Entries of
// a protocol without ports are skipped (the configuration only gives
// TCP, UDP and SCTP).
func failsafeRules(pps []config.ProtoPort, inbound bool) []nft.Rule {
	dir, addr := "out", nft.MatchDAddr
	if inbound {
		dir, addr = "in", nft.MatchSAddr
	}
	var out []nft.Rule
	for i, pp := range pps {
		if !portProto(pp.Proto) {
			continue
		}
		m := []nft.Match{{Kind: nft.MatchL4Proto, Num: uint32(pp.Proto)}}
		if pp.Net.IsValid() {
			m = append(m, nft.Match{Kind: addr, Family: famOf(pp.Net), Prefixes: []netip.Prefix{pp.Net.Masked()}})
		}
		m = append(m, nft.Match{Kind: nft.MatchDPort, Ports: []nft.PortRange{{Lo: pp.Port, Hi: pp.Port}}})
		out = append(out, nft.Rule{Match: m, Counter: true, Verdict: nft.Verdict{Kind: nft.VerdictAccept},
			Comment: fmt.Sprintf("failsafe-%s-%d", dir, i)})
	}
	return out
}

// forwardRules: the applyOnForward tiers, without profiles; none: allow.
func forwardRules(tiers []TierRef, polPrefix string) []nft.Rule {
	if len(tiers) == 0 {
		return []nft.Rule{{Counter: true, Verdict: nft.Verdict{Kind: nft.VerdictAccept}, Comment: "no-forward-policy"}}
	}
	return policyRules(tiers, nil, polPrefix, "")
}

// hostBaseRules are the host endpoint dispatch rules of the input
// chain (only when some host endpoint is enforced), the output chain
// and two forward chains, one per direction: a forwarded packet must
// pass the applyOnForward policy of the endpoint it arrives by, of the
// one it leaves by, and a workload's ingress policy when it goes to a
// workload, and an accept ends only one base chain.
//
//	input:             iifname "lo" accept; clear; iifname vmap @from-host-ep;
//	                   [*] jump fh-any-interface-at-all
//	output:            established accept; oifname "lo" accept; oifname
//	                   "cali*" accept; clear; oifname vmap @to-host-ep;
//	                   [*] jump th-any-interface-at-all
//	forward-host-in:   established accept; clear; iifname vmap
//	                   @fwd-from-host-ep; [*] (not lo, not a workload)
//	                   jump fhfw-any-interface-at-all
//	forward-host-out:  the same for oifname, @fwd-to-host-ep and thfw-.
//
// In input, workload traffic reaches these rules only when
// defaultEndpointToHostAction is Return (the others drop or accept it
// before), so that Return hands it to the "*" endpoint's policy.
func hostBaseRules(prefixes []string, hd hostDispatch, estab nft.Rule) (input []nft.Rule, output *nft.Chain, forward []*nft.Chain) {
	clear := nft.Rule{ClearMark: markAll}
	catchAll := func(kind nft.MatchKind, prefix string, exclude bool) nft.Rule {
		r := nft.Rule{Verdict: nft.Verdict{Kind: nft.VerdictJump, Chain: prefix + allInterfaces}}
		if exclude {
			r.Match = append(r.Match, nft.Match{Kind: kind, Not: true, Name: "lo"})
			for _, p := range prefixes {
				r.Match = append(r.Match, nft.Match{Kind: kind, Not: true, Name: p + "*"})
			}
		}
		return r
	}
	vmap := func(m, key string) nft.Rule {
		return nft.Rule{Verdict: nft.Verdict{Kind: nft.VerdictMap, Map: m, Key: key}}
	}
	lo := func(kind nft.MatchKind) nft.Rule {
		return nft.Rule{Match: []nft.Match{{Kind: kind, Name: "lo"}}, Verdict: nft.Verdict{Kind: nft.VerdictAccept}}
	}

	input = []nft.Rule{lo(nft.MatchIIFName), clear, vmap(mapFromHost, "iifname")}
	if hd.all {
		input = append(input, catchAll(nft.MatchIIFName, fromHostPrefix, false))
	}

	output = &nft.Chain{Name: chainOutput, Base: &nft.Hook{Type: "filter", Hook: "output", Priority: 0, Policy: "accept"}}
	output.Rules = append(output.Rules, estab, lo(nft.MatchOIFName))
	for _, p := range prefixes {
		// The host's traffic to its own workloads is not policed.
		output.Rules = append(output.Rules, nft.Rule{Match: []nft.Match{{Kind: nft.MatchOIFName, Name: p + "*"}},
			Verdict: nft.Verdict{Kind: nft.VerdictAccept}})
	}
	output.Rules = append(output.Rules, clear, vmap(mapToHost, "oifname"))
	if hd.all {
		output.Rules = append(output.Rules, catchAll(nft.MatchOIFName, toHostPrefix, false))
	}

	fin := &nft.Chain{Name: chainFwdHostIn, Base: &nft.Hook{Type: "filter", Hook: "forward", Priority: 1, Policy: "accept"}}
	fin.Rules = []nft.Rule{estab, clear, vmap(mapFwdFromHost, "iifname")}
	if hd.all {
		fin.Rules = append(fin.Rules, catchAll(nft.MatchIIFName, fwdFromHostPrefix, true))
	}
	fout := &nft.Chain{Name: chainFwdHostOut, Base: &nft.Hook{Type: "filter", Hook: "forward", Priority: 2, Policy: "accept"}}
	fout.Rules = []nft.Rule{estab, clear, vmap(mapFwdToHost, "oifname")}
	if hd.all {
		fout.Rules = append(fout.Rules, catchAll(nft.MatchOIFName, fwdToHostPrefix, true))
	}
	return input, output, []*nft.Chain{fin, fout}
}
