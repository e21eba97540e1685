package policy

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"

	v3 "github.com/gocalico/calico/api/v3"
)

// Host endpoints, as upstream Felix's iptables/nftables dataplanes treat
// them (docs/policy.md, "Host endpoints"):
//
//   - A HostEndpoint whose spec.node is this node and whose
//     interfaceName names a host interface, or is "*" for all of them,
//     puts policy on traffic to the host arriving by that interface
//     (input) and from the host leaving by it (output): established
//     and related traffic first, then the failsafe ports (and IPv6
//     router and neighbour discovery, see hostEndpointChains), then the
//     same tiers, profiles and default deny as a workload. Interfaces no
//     host endpoint names are not policed, and neither is lo, even by
//     "*". A named endpoint wins over "*" for its interface.
//   - Every HostEndpoint, local or not, is a member of the IP sets of
//     the selectors that match it, with its expectedIPs as addresses and
//     its profiles as parents, as a network set is.
//   - Traffic between the host and its own workloads is not host
//     endpoint policy's business: a workload's traffic to the host is
//     decided by its egress policy and defaultEndpointToHostAction, the
//     host's to a workload is not policed. The exception is
//     defaultEndpointToHostAction Return, which hands the workload's
//     traffic on to host endpoint policy: to the "*" endpoint's, when
//     there is one (no named endpoint can be a workload interface).
//   - Forwarded traffic arriving or leaving by a host endpoint is
//     checked against the GlobalNetworkPolicies with applyOnForward
//     that select it, without profiles and without failsafes; with no
//     such policy in that direction it is allowed. (The workload
//     endpoint's own policy still applies, separately.) applyOnForward
//     policies apply as normal policy too.
//   - doNotTrack GlobalNetworkPolicies apply to named host endpoints
//     before conntrack (raw prerouting for what arrives, raw output for
//     what the host sends), preDNAT ones to host endpoints' ingress
//     before DNAT (prerouting, priority mangle), named or "*"; never to
//     workloads, nor as normal policy. Their tiers pass at the end, with
//     no profiles and no default deny. An Allow marks the packet with
//     MarkHostAccept (and a doNotTrack one exempts it from conntrack),
//     and the marked packet skips the later host endpoint policy of the
//     endpoint it came in (or, from the host, goes out) by; see
//     hostBaseRules and earlyChain.
//
//   - A HostEndpoint without interfaceName polices the host's
//     interfaces that have one of its expectedIPs (SetHostAddrs), as
//     upstream: those that no endpoint names, lo and the workloads'
//     aside.
//
// Not implemented, and reported in Problems:
//
// Also left out: upstream's allowance of IPIP and VXLAN traffic from
// other Calico hosts ahead of host endpoint policy; with a "*" endpoint
// whose policy does not allow it, overlay traffic is dropped.

// onHostEndpoint folds in one HostEndpoint update (h nil: deleted).
func (c *Calc) onHostEndpoint(name string, h *v3.HostEndpoint, del bool) {
	id, key := "hep:"+name, "/"+name
	if del || h == nil {
		c.sets.DeleteItem(id)
		c.deleteLocal(key)
		return
	}
	var ports []NamedPort
	for _, p := range h.Spec.Ports {
		if n, ok := p.Protocol.Number(); ok && p.Name != "" {
			ports = append(ports, NamedPort{Name: p.Name, Proto: n, Port: p.Port})
		}
	}
	labels := maps.Clone(h.Metadata.Labels)
	addrs := parsePrefixes(h.Spec.ExpectedIPs)
	c.sets.UpdateItem(id, labels, h.Spec.Profiles, addrs, ports)
	if h.Spec.Node != c.node {
		c.deleteLocal(key)
		return
	}
	l := &local{key: key, host: true, iface: h.Spec.InterfaceName, labels: labels,
		profiles: slices.Clone(h.Spec.Profiles), addrs: addrs, matches: map[string]bool{}}
	c.putLocal(l)
	c.matchLocal(l)
	c.dirtyEPs[key] = true
}

// SetHostAddrs sets the addresses of the host's interfaces, to which
// host endpoints without interfaceName are matched (link-local ones are
// best left out: no endpoint lists those); it reports whether they
// changed.
func (c *Calc) SetHostAddrs(addrs map[string][]netip.Addr) bool {
	if maps.EqualFunc(c.hostAddrs, addrs, slices.Equal) {
		return false
	}
	c.hostAddrs = maps.Clone(addrs)
	c.ownersDirty = true
	return true
}

// hostOwners picks the local host endpoint that polices each interface
// ("*": all the others), from keys (sorted; the first wins a clash), and
// reports those that cannot be enforced. An endpoint naming an
// interface wins it over one matched by its expectedIPs.
func (c *Calc) hostOwners(keys []string) map[string]string {
	owners := map[string]string{}
	var byAddr []*local
	for _, k := range keys {
		l := c.locals[k]
		if !l.host {
			continue
		}
		var problem string
		switch {
		case l.iface == "":
			byAddr = append(byAddr, l)
			continue
		case l.iface == "lo":
			problem = `spec.interfaceName "lo": loopback traffic is never policed; this endpoint's policy is not enforced`
		case c.managed(l.iface):
			problem = fmt.Sprintf("spec.interfaceName %q is a workload interface (interface prefixes %v): host endpoint policy does not apply to it",
				l.iface, c.prefixes)
		case owners[l.iface] != "":
			problem = fmt.Sprintf("interface %s is claimed by host endpoint %s too; its policy applies",
				l.iface, owners[l.iface][1:])
		}
		if problem != "" {
			c.Problems[l.problemKey()] = problem
			continue
		}
		delete(c.Problems, l.problemKey())
		owners[l.iface] = k
	}
	ifaces := slices.Sorted(maps.Keys(c.hostAddrs))
	for _, l := range byAddr {
		n := 0
		for _, iface := range ifaces {
			if iface == "lo" || c.managed(iface) || owners[iface] != "" {
				continue
			}
			if slices.ContainsFunc(c.hostAddrs[iface], func(a netip.Addr) bool {
				return slices.ContainsFunc(l.addrs, func(p netip.Prefix) bool { return p.Contains(a) })
			}) {
				owners[iface] = l.key
				n++
			}
		}
		if n == 0 {
			c.Problems[l.problemKey()] = "no interface of this host (but lo, the workloads' and those other host endpoints name) has one of spec.expectedIPs: " +
				"this endpoint's policy applies nowhere until one does (its expectedIPs still count in selectors)"
		} else {
			delete(c.Problems, l.problemKey())
		}
	}
	return owners
}

// resolveHost is one local host endpoint's policy: tiers for traffic to
// and from the host, the applyOnForward ones for forwarded traffic, and
// the profiles.
func (c *Calc) resolveHost(l *local) *HostEndpoint {
	e := &HostEndpoint{Iface: l.iface}
	e.Ingress, e.Egress = c.tiersOf(l, normal)
	e.ForwardIngress, e.ForwardEgress = c.tiersOf(l, func(p *policy) bool { return p.stage == stageNormal && p.applyOnForward })
	e.UntrackedIngress, e.UntrackedEgress = c.tiersOf(l, func(p *policy) bool { return p.stage == stageUntracked })
	e.PreDNATIngress, _ = c.tiersOf(l, func(p *policy) bool { return p.stage == stagePreDNAT })
	// The end of a tier of these stages passes, so that the stages
	// after it (and normal policy) still decide.
	for _, ts := range [][]TierRef{e.UntrackedIngress, e.UntrackedEgress, e.PreDNATIngress} {
		for i := range ts {
			ts[i].Pass = true
		}
	}
	e.Profiles = c.profilesOf(l)
	return e
}
