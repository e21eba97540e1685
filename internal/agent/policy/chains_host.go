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

	// The stages before normal policy (doNotTrack and preDNAT
	// policies): base chains, dispatch maps and endpoint chains.
	chainRawPrerouting  = "raw-prerouting"         // prerouting, priority raw: before conntrack
	chainRawOutput      = "raw-output"             // output, priority raw
	chainPreDNAT        = "prednat"                // prerouting, priority mangle: before DNAT
	mapUntrackedFrom    = "untracked-from-host-ep" // iifname -> jump ufh-<iface> (raw-prerouting)
	mapUntrackedTo      = "untracked-to-host-ep"   // oifname -> jump uth-<iface> (raw-output)
	mapPreDNATFrom      = "prednat-from-host-ep"   // iifname -> jump pfh-<iface> (prednat)
	untrackedFromPrefix = "ufh-"
	untrackedToPrefix   = "uth-"
	preDNATFromPrefix   = "pfh-"
	// chainPreDNATNone: where a named endpoint without preDNAT policy
	// goes in the prednat chain (empty: the stage ends), so that the
	// "*" endpoint's preDNAT policy never applies to its interface.
	chainPreDNATNone = "pfh-none"
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
	// UntrackedIngress and UntrackedEgress are the tiers of the
	// doNotTrack policies, PreDNATIngress those of the preDNAT ones;
	// each of their tiers passes at its end.
	UntrackedIngress, UntrackedEgress []TierRef
	PreDNATIngress                    []TierRef
	// Profiles are the IDs of the endpoint's profiles that exist, in
	// order (not used for forwarded traffic).
	Profiles []string
}

// hostDispatch is what the base chains need to know of the local host
// endpoints.
type hostDispatch struct {
	any bool // some host endpoint is enforced: the dispatch rules and the output chain
	all bool // one of them is for "*": the catch-all rules
	// untracked: a named endpoint has doNotTrack policy (the untracked
	// dispatch maps); preDNAT: a named endpoint has preDNAT policy (its
	// map); allPreDNAT: the "*" endpoint has (its catch-all rule).
	untracked, preDNAT, allPreDNAT bool
}

// early: some endpoint has doNotTrack or preDNAT policy, so the raw and
// prednat base chains are there and the later stages accept what they
// allowed.
func (hd hostDispatch) early() bool { return hd.untracked || hd.preDNAT || hd.allPreDNAT }

// hostStages says which chains of the stages before normal policy an
// endpoint has (those with policy in them).
type hostStages struct {
	untrackedIn, untrackedOut, preDNAT bool
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
//
// With doNotTrack policy, the endpoint also has untracked chains (ufh-
// for what it receives, uth- for what the host sends by it), run before
// conntrack; with preDNAT policy, pfh-, run before DNAT (see
// earlyChain). The "*" endpoint has no untracked chains: as upstream, it
// ignores doNotTrack policies.
func hostEndpointChains(e *HostEndpoint, failIn, failOut []config.ProtoPort) ([]*nft.Chain, hostStages) {
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
	out := []*nft.Chain{from, to, fwdFrom, fwdTo}

	var st hostStages
	if e.Iface != ifaceAll {
		if len(e.UntrackedIngress) > 0 {
			st.untrackedIn = true
			fail := append(failsafeRules(failIn, true), failsafeReplyRules(failOut, true)...)
			out = append(out, earlyChain(untrackedFromPrefix+sfx, fail, e.UntrackedIngress, polInPrefix))
		}
		if len(e.UntrackedEgress) > 0 {
			st.untrackedOut = true
			fail := append(failsafeRules(failOut, false), failsafeReplyRules(failIn, false)...)
			out = append(out, earlyChain(untrackedToPrefix+sfx, fail, e.UntrackedEgress, polOutPrefix))
		}
	}
	if len(e.PreDNATIngress) > 0 {
		st.preDNAT = true
		out = append(out, earlyChain(preDNATFromPrefix+sfx, failsafeRules(failIn, true), e.PreDNATIngress, polInPrefix))
	}
	return out, st
}

// earlyChain is an endpoint's chain of a stage before normal policy:
// the failsafes and IPv6 discovery, which end the stage (the normal
// chains accept them again), then the stage's tiers, each of which
// passes at its end. A policy's Allow marks the packet with
// MarkHostAccept (and before conntrack exempts it) and accepts; Deny
// drops; falling off the end goes on to the next stage.
//
// Before conntrack nothing is established yet, so the untracked chains
// also let through the replies of failsafe connections: what arrives
// from a failsafe outbound port, and what leaves from a failsafe
// inbound port.
func earlyChain(name string, fail []nft.Rule, tiers []TierRef, polPrefix string) *nft.Chain {
	c := &nft.Chain{Name: name}
	c.Rules = append(c.Rules, fail...)
	c.Rules = append(c.Rules, discovery...)
	c.Rules = append(c.Rules, tierRules(tiers, polPrefix)...)
	return c
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
	return portRules(pps, addr, nft.MatchDPort, "failsafe-"+dir+"-%d")
}

// failsafeReplyRules accept the replies of failsafe connections, before
// conntrack can tell: those arriving (inbound) from the source port of
// an outbound failsafe, from its Net when set, and those leaving to the
// Net of an inbound failsafe from its port.
func failsafeReplyRules(pps []config.ProtoPort, inbound bool) []nft.Rule {
	dir, addr := "in", nft.MatchDAddr
	if inbound {
		dir, addr = "out", nft.MatchSAddr
	}
	return portRules(pps, addr, nft.MatchSPort, "failsafe-"+dir+"-%d-reply")
}

// portRules accept each entry's protocol and port (matched as port),
// with the address addr in its Net when set, commented comment with the
// entry's index.
func portRules(pps []config.ProtoPort, addr, port nft.MatchKind, comment string) []nft.Rule {
	var out []nft.Rule
	for i, pp := range pps {
		if !portProto(pp.Proto) {
			continue
		}
		m := []nft.Match{{Kind: nft.MatchL4Proto, Num: uint32(pp.Proto)}}
		if pp.Net.IsValid() {
			m = append(m, nft.Match{Kind: addr, Family: famOf(pp.Net), Prefixes: []netip.Prefix{pp.Net.Masked()}})
		}
		m = append(m, nft.Match{Kind: port, Ports: []nft.PortRange{{Lo: pp.Port, Hi: pp.Port}}})
		out = append(out, nft.Rule{Match: m, Counter: true, Verdict: nft.Verdict{Kind: nft.VerdictAccept},
			Comment: fmt.Sprintf(comment, i)})
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
//
// With doNotTrack or preDNAT policy (hd.early) there are three more:
//
//	raw-prerouting:    clear MarkHostAccept and the pass bit; iifname
//	                   vmap @untracked-from-host-ep
//	raw-output:        the same for oifname and @untracked-to-host-ep
//	prednat:           established accept; MarkHostAccept accept;
//	                   iifname vmap @prednat-from-host-ep (every named
//	                   endpoint: goto its pfh- chain, or the empty
//	                   pfh-none); [*] (not lo, not a workload) jump
//	                   pfh-any-interface-at-all
//
// and input, output and forward-host-in accept what carries
// MarkHostAccept before their dispatch: what a doNotTrack or preDNAT
// policy allowed skips the normal policy of the endpoint it arrived by
// (or, from the host, leaves by), as upstream. The workload chains do
// not look at the mark, and neither does forward-host-out: the endpoint
// a forwarded packet leaves by still has its say.
func hostBaseRules(prefixes []string, hd hostDispatch, estab nft.Rule) (input []nft.Rule, more []*nft.Chain) {
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

	var accepted []nft.Rule
	if hd.early() {
		accepted = []nft.Rule{{Match: []nft.Match{{Kind: nft.MatchMark, Mask: MarkHostAccept, Num: MarkHostAccept}},
			Counter: true, Verdict: nft.Verdict{Kind: nft.VerdictAccept}, Comment: "allowed-before-conntrack-or-dnat"}}
	}

	input = append([]nft.Rule{lo(nft.MatchIIFName)}, accepted...)
	input = append(input, clear, vmap(mapFromHost, "iifname"))
	if hd.all {
		input = append(input, catchAll(nft.MatchIIFName, fromHostPrefix, false))
	}

	output := &nft.Chain{Name: chainOutput, Base: &nft.Hook{Type: "filter", Hook: "output", Priority: 0, Policy: "accept"}}
	output.Rules = append(output.Rules, estab, lo(nft.MatchOIFName))
	for _, p := range prefixes {
		// The host's traffic to its own workloads is not policed.
		output.Rules = append(output.Rules, nft.Rule{Match: []nft.Match{{Kind: nft.MatchOIFName, Name: p + "*"}},
			Verdict: nft.Verdict{Kind: nft.VerdictAccept}})
	}
	output.Rules = append(output.Rules, accepted...)
	output.Rules = append(output.Rules, clear, vmap(mapToHost, "oifname"))
	if hd.all {
		output.Rules = append(output.Rules, catchAll(nft.MatchOIFName, toHostPrefix, false))
	}

	fin := &nft.Chain{Name: chainFwdHostIn, Base: &nft.Hook{Type: "filter", Hook: "forward", Priority: 1, Policy: "accept"}}
	fin.Rules = append([]nft.Rule{estab}, accepted...)
	fin.Rules = append(fin.Rules, clear, vmap(mapFwdFromHost, "iifname"))
	if hd.all {
		fin.Rules = append(fin.Rules, catchAll(nft.MatchIIFName, fwdFromHostPrefix, true))
	}
	fout := &nft.Chain{Name: chainFwdHostOut, Base: &nft.Hook{Type: "filter", Hook: "forward", Priority: 2, Policy: "accept"}}
	fout.Rules = []nft.Rule{estab, clear, vmap(mapFwdToHost, "oifname")}
	if hd.all {
		fout.Rules = append(fout.Rules, catchAll(nft.MatchOIFName, fwdToHostPrefix, true))
	}
	more = []*nft.Chain{output, fin, fout}
	if !hd.early() {
		return input, more
	}

	// The mark is ours from here: cleared as a packet enters, whatever
	// set it before (another table, a socket's SO_MARK).
	clearEarly := nft.Rule{ClearMark: MarkHostAccept | MarkPass}
	rawPre := &nft.Chain{Name: chainRawPrerouting, Base: &nft.Hook{Type: "filter", Hook: "prerouting", Priority: -300, Policy: "accept"},
		Rules: []nft.Rule{clearEarly}}
	rawOut := &nft.Chain{Name: chainRawOutput, Base: &nft.Hook{Type: "filter", Hook: "output", Priority: -300, Policy: "accept"},
		Rules: []nft.Rule{clearEarly}}
	if hd.untracked {
		rawPre.Rules = append(rawPre.Rules, vmap(mapUntrackedFrom, "iifname"))
		rawOut.Rules = append(rawOut.Rules, vmap(mapUntrackedTo, "oifname"))
	}
	more = append(more, rawPre, rawOut)
	if !hd.preDNAT && !hd.allPreDNAT {
		return input, more
	}
	pre := &nft.Chain{Name: chainPreDNAT, Base: &nft.Hook{Type: "filter", Hook: "prerouting", Priority: -150, Policy: "accept"}}
	pre.Rules = append([]nft.Rule{estab}, accepted...)
	pre.Rules = append(pre.Rules, vmap(mapPreDNATFrom, "iifname"))
	if hd.allPreDNAT {
		pre.Rules = append(pre.Rules, catchAll(nft.MatchIIFName, preDNATFromPrefix, true))
	}
	return input, append(more, pre, &nft.Chain{Name: chainPreDNATNone})
}
