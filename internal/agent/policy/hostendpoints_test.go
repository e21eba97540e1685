package policy

import (
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gocalico/calico/internal/agent/config"
	"github.com/gocalico/calico/internal/agent/nft"
	"github.com/gocalico/calico/internal/datastore/syncer"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// The host: host1 has 10.0.0.1 (and fd00::1) on eth0 and 10.1.0.1 on
// eth1; 10.0.0.50 is a client on eth0's network, 192.168.7.7 one
// further away.
const (
	hostIP, hostIP6, client, client6, far = "10.0.0.1", "fd00::1", "10.0.0.50", "fd00::50", "192.168.7.7"
)

// Host endpoints and the policies the cases combine. Some names come
// in several versions, so that the incremental test edits them.
const (
	hepEth0 = `
kind: HostEndpoint
apiVersion: projectcalico.org/v3
metadata: {name: host1-eth0, labels: {role: edge}}
spec: {node: host1, interfaceName: eth0, expectedIPs: [10.0.0.1]}
`
	hepEth0Profile = `
kind: HostEndpoint
apiVersion: projectcalico.org/v3
metadata: {name: host1-eth0, labels: {role: edge-profiled}}
spec: {node: host1, interfaceName: eth0, profiles: [hep-web]}
---
kind: Profile
apiVersion: projectcalico.org/v3
metadata: {name: hep-web}
spec:
  ingress: [{action: Allow, protocol: TCP, destination: {ports: [8080]}}]
  egress: [{action: Allow}]
`
	hepAll = `
kind: HostEndpoint
apiVersion: projectcalico.org/v3
metadata: {name: host1-all, labels: {hep: all}}
spec: {node: host1, interfaceName: "*"}
`
	hepAllDefaultAllow = `
kind: HostEndpoint
apiVersion: projectcalico.org/v3
metadata: {name: host1-all, labels: {hep: all}}
spec: {node: host1, interfaceName: "*", profiles: [projectcalico-default-allow]}
`
	allowHTTPIn = `
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: edge-http}
spec: {selector: role == 'edge', ingress: [{action: Allow, protocol: TCP, destination: {ports: [80]}}]}
`
	denyAllEdge = `
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: edge-deny}
spec: {selector: role == 'edge', types: [Ingress, Egress], ingress: [{action: Deny}], egress: [{action: Deny}]}
`
	allowWebIn = `
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: edge-web}
spec: {selector: role == 'edge', ingress: [{action: Allow, protocol: TCP, destination: {ports: [80, 8080]}}]}
`
	allowHTTPSAll = `
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: all-https}
spec: {selector: hep == 'all', ingress: [{action: Allow, protocol: TCP, destination: {ports: [443]}}]}
`
	denyAllAll = `
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: all-deny}
spec: {selector: hep == 'all', types: [Ingress, Egress], ingress: [{action: Deny}], egress: [{action: Deny}]}
`
)

// hostFlow is one probe on one hook: in by iif to the host (input), out
// by oif from the host (output), or forwarded from iif to oif.
type hostFlow struct {
	hook     string
	iif, oif string
	from, to string
	proto    uint8
	sport    uint16 // 0: 40000
	dport    uint16
	icmpType uint8
	ct       uint32 // 0: new
	want     bool
}

func (f hostFlow) String() string {
	return fmt.Sprintf("%s %s(%s) -> %s(%s) proto %d ports %d->%d ct %d", f.hook, f.from, f.iif, f.to, f.oif, f.proto, f.sport, f.dport, f.ct)
}

func (f hostFlow) packet() packet {
	p := packet{iif: f.iif, oif: f.oif, src: netip.MustParseAddr(f.from), dst: netip.MustParseAddr(f.to),
		proto: f.proto, sport: 40000, dport: f.dport, icmpType: f.icmpType, ct: f.ct}
	if f.sport != 0 {
		p.sport = f.sport
	}
	if p.iif == "cali1" {
		p.mac, _ = net.ParseMAC("ee:ee:ee:ee:ee:01") // web's, which it is held to
	}
	return p
}

// hostAddrs are host1's interfaces' addresses.
var hostAddrs = map[string][]netip.Addr{
	"eth0": {netip.MustParseAddr(hostIP), netip.MustParseAddr(hostIP6)},
	"eth1": {netip.MustParseAddr("10.1.0.1")},
	"eth2": {netip.MustParseAddr("10.2.0.1")},
	"lo":   {netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr(hostIP)},
}

// in: from a client by iif to the host; out: from the host by oif; fwd:
// forwarded.
func in(iif, from string, proto uint8, port uint16, want bool) hostFlow {
	to := hostIP
	if strings.Contains(from, ":") {
		to = hostIP6
	}
	return hostFlow{hook: "input", iif: iif, from: from, to: to, proto: proto, dport: port, want: want}
}

func out(oif, to string, proto uint8, port uint16, want bool) hostFlow {
	return hostFlow{hook: "output", oif: oif, from: hostIP, to: to, proto: proto, dport: port, want: want}
}

func fwd(iif, oif, from, to string, proto uint8, port uint16, want bool) hostFlow {
	return hostFlow{hook: "forward", iif: iif, oif: oif, from: from, to: to, proto: proto, dport: port, want: want}
}

// fromWL: a local workload (by its address) to the host.
func fromWL(from string, proto uint8, port uint16, want bool) hostFlow {
	return hostFlow{hook: "input", iif: ifaceOf[from], from: from, to: hostIP, proto: proto, dport: port, want: want}
}

var hostTable = []struct {
	name     string
	extra    string
	cfg      func(*Config)
	addrs    map[string][]netip.Addr // the host's interfaces' (SetHostAddrs)
	flows    []hostFlow
	problems []string // keys expected in Problems
}{
	{
		name: "no host endpoint: host traffic untouched",
		flows: []hostFlow{
			in("eth0", client, tcp, 81, true), in("eth0", client, udp, 9999, true),
			out("eth0", client, tcp, 443, true), out("eth0", client, tcp, 22, true),
		},
	},
	{
		name:  "named endpoint with a policy allowing tcp 80 in",
		extra: hepEth0 + "\n---\n" + allowHTTPIn,
		flows: []hostFlow{
			in("eth0", client, tcp, 80, true),
			in("eth0", client, tcp, 81, false),
			in("eth0", client, udp, 80, false),
			in("eth0", client6, tcp, 80, true),
			in("eth0", client6, tcp, 81, false),
			// Established traffic is not policed.
			{hook: "input", iif: "eth0", from: client, to: hostIP, proto: tcp, dport: 81, ct: nft.CTEstablished, want: true},
			// Failsafes: SSH, DHCP, BGP; also over IPv6.
			in("eth0", client, tcp, 22, true),
			in("eth0", client, udp, 68, true),
			in("eth0", client, tcp, 179, true),
			in("eth0", client6, tcp, 22, true),
			// Another interface is not policed.
			in("eth1", client, tcp, 81, true),
			// Egress: no policy for it, no profile: default deny but
			// for the failsafes.
			out("eth0", client, tcp, 443, false),
			out("eth0", client, udp, 53, true),
			out("eth0", client, udp, 67, true),
			out("eth0", client, tcp, 2379, true),
			out("eth1", client, tcp, 443, true),
		},
	},
	{
		name:  "failsafes get through a deny-all policy",
		extra: hepEth0 + "\n---\n" + denyAllEdge,
		flows: []hostFlow{
			in("eth0", client, tcp, 22, true),
			in("eth0", client, udp, 68, true),
			in("eth0", client, tcp, 2379, true),
			in("eth0", client, tcp, 6443, true),
			in("eth0", client, tcp, 80, false),
			in("eth0", client, udp, 22, false),
			in("eth0", client, udp, 53, false), // 53 is an outbound failsafe only
			out("eth0", far, udp, 53, true),
			out("eth0", far, udp, 67, true),
			out("eth0", far, tcp, 179, true),
			out("eth0", far, tcp, 80, false),
			out("eth0", far, tcp, 22, false), // 22 is an inbound failsafe only
			// IPv6 neighbour discovery keeps working; ping does not.
			{hook: "input", iif: "eth0", from: "fe80::50", to: "ff02::1:ff00:1", proto: icmp6, icmpType: 135, want: true},
			{hook: "output", oif: "eth0", from: "fe80::1", to: "fe80::50", proto: icmp6, icmpType: 136, want: true},
			{hook: "input", iif: "eth0", from: client6, to: hostIP6, proto: icmp6, icmpType: 128, want: false},
			{hook: "input", iif: "eth0", from: client, to: hostIP, proto: icmp, icmpType: 8, want: false},
		},
	},
	{
		name:  "a * endpoint polices the interfaces no named endpoint claims; the named one wins",
		extra: hepAll + "\n---\n" + allowHTTPSAll + "\n---\n" + hepEth0 + "\n---\n" + allowHTTPIn,
		flows: []hostFlow{
			in("eth1", client, tcp, 443, true),
			in("eth1", client, tcp, 80, false),
			in("eth1", client, tcp, 22, true),
			in("eth0", client, tcp, 80, true),
			in("eth0", client, tcp, 443, false),
			out("eth1", far, tcp, 443, false),
			out("eth1", far, udp, 53, true),
			// lo is never policed.
			{hook: "input", iif: "lo", from: "127.0.0.1", to: "127.0.0.1", proto: tcp, dport: 80, want: true},
			{hook: "output", oif: "lo", from: "127.0.0.1", to: "127.0.0.1", proto: tcp, dport: 80, want: true},
			{hook: "input", iif: "lo", from: hostIP, to: hostIP, proto: tcp, dport: 9999, want: true},
			// The host's traffic to its workloads is not host endpoint
			// policy's business.
			out("cali1", web, tcp, 80, true),
			out("cali5", vm, tcp, 9999, true),
		},
	},
	{
		name:  "lo is never policed, even by an endpoint that names it",
		extra: hepAll + "\n---\n" + denyAllAll + "\n---\n" + strings.ReplaceAll(hepEth0, "eth0", "lo") + "\n---\n" + denyAllEdge,
		flows: []hostFlow{
			{hook: "input", iif: "lo", from: "127.0.0.1", to: "127.0.0.1", proto: tcp, dport: 80, want: true},
			{hook: "output", oif: "lo", from: "127.0.0.1", to: "127.0.0.1", proto: tcp, dport: 80, want: true},
			in("eth1", client, tcp, 80, false),
		},
		problems: []string{"HostEndpoint host1-lo"},
	},
	{
		name:  "workload to host with Drop: host endpoint policy does not open it",
		extra: hepAllDefaultAllow,
		cfg:   func(c *Config) { c.EndpointToHost = ToHostDrop },
		flows: []hostFlow{
			fromWL(fe, tcp, 80, false),
			fromWL(fe, tcp, 22, false), // failsafes are for host endpoints
			in("eth1", client, tcp, 80, true),
		},
	},
	{
		name:  "workload to host with Accept: host endpoint policy does not close it",
		extra: hepAll + "\n---\n" + denyAllAll,
		cfg:   func(c *Config) { c.EndpointToHost = ToHostAccept },
		flows: []hostFlow{
			fromWL(fe, tcp, 9999, true),
			fromWL(vm, tcp, 9999, false), // vm's own egress: default deny
			in("eth1", client, tcp, 9999, false),
		},
	},
	{
		name:  "workload to host with Return: the * endpoint's policy decides",
		extra: hepAll + "\n---\n" + allowHTTPSAll,
		cfg:   func(c *Config) { c.EndpointToHost = ToHostReturn },
		flows: []hostFlow{
			fromWL(fe, tcp, 443, true),
			fromWL(fe, tcp, 80, false),
			fromWL(fe, tcp, 22, true),
			fromWL(vm, tcp, 443, false), // the workload's egress comes first
		},
	},
	{
		name:  "workload to host with Return and only named endpoints: accepted",
		extra: hepEth0 + "\n---\n" + denyAllEdge,
		cfg:   func(c *Config) { c.EndpointToHost = ToHostReturn },
		flows: []hostFlow{
			fromWL(fe, tcp, 80, true),
			in("eth0", client, tcp, 80, false),
		},
	},
	{
		name:  "custom failsafes: a net restricts the remote address",
		extra: hepEth0 + "\n---\n" + denyAllEdge,
		cfg: func(c *Config) {
			c.FailsafeInbound = []config.ProtoPort{{Proto: tcp, Port: 22, Net: netip.MustParsePrefix("10.0.0.0/24")}}
			c.FailsafeOutbound = []config.ProtoPort{{Proto: udp, Port: 53, Net: netip.MustParsePrefix("192.168.7.0/24")}}
		},
		flows: []hostFlow{
			in("eth0", client, tcp, 22, true),
			in("eth0", far, tcp, 22, false),
			in("eth0", client6, tcp, 22, false),
			in("eth0", client, udp, 68, false), // no longer a failsafe
			out("eth0", far, udp, 53, true),
			out("eth0", client, udp, 53, false),
		},
	},
	{
		name:  "no failsafes at all",
		extra: hepEth0 + "\n---\n" + denyAllEdge,
		cfg:   func(c *Config) { c.FailsafeInbound, c.FailsafeOutbound = nil, nil },
		flows: []hostFlow{in("eth0", client, tcp, 22, false), out("eth0", far, udp, 53, false)},
	},
	{
		name:  "a profile on a host endpoint",
		extra: hepEth0Profile,
		flows: []hostFlow{
			in("eth0", client, tcp, 8080, true),
			in("eth0", client, tcp, 8081, false),
			out("eth0", far, tcp, 443, true),
		},
	},
	{
		name:  "projectcalico-default-allow on the * endpoint",
		extra: hepAllDefaultAllow,
		flows: []hostFlow{in("eth1", client, tcp, 8081, true), out("eth1", far, tcp, 443, true)},
	},
	{
		name: "applyOnForward policies police forwarded traffic (and host traffic)",
		extra: hepEth0 + `
---
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: edge-forward}
spec: {selector: role == 'edge', applyOnForward: true, ingress: [{action: Allow, protocol: TCP, destination: {ports: [80]}}]}
`,
		flows: []hostFlow{
			fwd("eth0", "cali1", client, web, tcp, 80, true),
			fwd("eth0", "cali1", client, web, tcp, 81, false),
			fwd("eth0", "cali5", client, vm, tcp, 80, false), // vm's own ingress: default deny
			fwd("cali1", "eth0", web, client, tcp, 80, true), // no egress applyOnForward policy
			fwd("eth0", "eth1", client, "10.1.0.9", tcp, 81, false),
			fwd("eth1", "eth0", "10.1.0.9", client, tcp, 81, true),
			in("eth0", client, tcp, 80, true),
			in("eth0", client, tcp, 81, false),
		},
	},
	{
		name:  "policies without applyOnForward leave forwarded traffic alone",
		extra: hepEth0 + "\n---\n" + denyAllEdge,
		flows: []hostFlow{
			fwd("eth0", "cali1", client, web, tcp, 81, true),
			fwd("cali1", "eth0", web, client, tcp, 81, true),
			in("eth0", client, tcp, 81, false),
		},
	},
	{
		name: "forwarding through the * endpoint; a named endpoint without forward policy wins",
		extra: hepAll + "\n---\n" + hepEth0 + `
---
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: all-forward}
spec:
  selector: hep == 'all'
  applyOnForward: true
  types: [Ingress, Egress]
  ingress: [{action: Allow, protocol: TCP, destination: {ports: [80]}}]
  egress: [{action: Deny, protocol: TCP, destination: {ports: [25]}}, {action: Allow}]
`,
		flows: []hostFlow{
			fwd("eth1", "cali1", "10.1.0.9", web, tcp, 80, true),
			fwd("eth1", "cali1", "10.1.0.9", web, tcp, 81, false),
			fwd("cali1", "eth1", web, "10.1.0.9", tcp, 25, false),
			fwd("cali1", "eth1", web, "10.1.0.9", tcp, 26, true),
			fwd("eth0", "cali1", client, web, tcp, 81, true),
			fwd("cali1", "eth0", web, client, tcp, 25, true),
			// Between workloads: not host endpoint traffic.
			fwd("cali3", "cali1", fe, web, tcp, 81, true),
		},
	},
	{
		name: "doNotTrack: an Allow skips conntrack and normal policy, a Deny drops first, failsafes come before both",
		extra: hepEth0 + "\n---\n" + allowWebIn + `
---
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: untracked}
spec:
  selector: role == 'edge'
  doNotTrack: true
  applyOnForward: true
  types: [Ingress, Egress]
  ingress:
  - {action: Allow, protocol: TCP, destination: {ports: [9090]}}
  - {action: Deny, protocol: TCP, destination: {ports: [22, 8080]}}
  egress:
  - {action: Allow, protocol: TCP, source: {ports: [9090]}}
`,
		flows: []hostFlow{
			in("eth0", client, tcp, 9090, true),                // normal policy would deny it
			in("eth0", client6, tcp, 9090, true),               // both families
			in("eth0", client, tcp, 8080, false),               // normal policy would allow it
			in("eth0", client, tcp, 22, true),                  // failsafe, despite the Deny
			in("eth0", client, tcp, 80, true),                  // the untracked tier passes: normal policy allows
			in("eth0", client, tcp, 443, false),                // and denies
			in("eth1", client, tcp, 9090, true),                // another interface: not policed
			fwd("eth0", "cali5", client, vm, tcp, 9090, false), // the workload's own policy still decides
			fwd("eth0", "cali1", client, web, tcp, 9090, true),
			// The host's replies from 9090: untracked, so no conntrack
			// state lets them out; the untracked egress Allow does.
			{hook: "output", oif: "eth0", from: hostIP, to: client, proto: tcp, sport: 9090, dport: 40000, want: true},
			{hook: "output", oif: "eth0", from: hostIP, to: client, proto: tcp, sport: 9091, dport: 40000, want: false},
			// Replies of failsafe connections, before conntrack.
			{hook: "output", oif: "eth0", from: hostIP, to: client, proto: tcp, sport: 22, dport: 40000, ct: nft.CTEstablished, want: true},
		},
	},
	{
		name: "doNotTrack: what the policy leaves is tracked as before",
		extra: hepEth0 + "\n---\n" + allowWebIn + `
---
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: untracked}
spec: {selector: role == 'edge', doNotTrack: true, applyOnForward: true, ingress: [{action: Deny, protocol: UDP}]}
`,
		flows: []hostFlow{
			in("eth0", client, tcp, 80, true),
			{hook: "input", iif: "eth0", from: client, to: hostIP, proto: tcp, dport: 443, ct: nft.CTEstablished, want: true},
			in("eth0", client, udp, 80, false),
			in("eth0", client, udp, 68, true), // failsafe
		},
	},
	{
		name: "preDNAT: an Allow skips normal and forward policy of the endpoint, a Deny drops, before DNAT",
		extra: hepEth0 + "\n---\n" + allowWebIn + `
---
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: nodeports}
spec:
  selector: role == 'edge'
  preDNAT: true
  applyOnForward: true
  ingress:
  - {action: Allow, protocol: TCP, destination: {ports: [30080]}}
  - {action: Deny, protocol: TCP, destination: {ports: [22, 8080]}}
---
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: edge-forward}
spec: {selector: role == 'edge', applyOnForward: true, ingress: [{action: Allow, protocol: TCP, destination: {ports: [80]}}]}
`,
		flows: []hostFlow{
			in("eth0", client, tcp, 30080, true), // normal policy would deny it
			in("eth0", client6, tcp, 30080, true),
			in("eth0", client, tcp, 8080, false), // normal policy would allow it
			in("eth0", client, tcp, 22, true),    // failsafe
			in("eth0", client, tcp, 80, true),    // passes on to normal policy
			in("eth0", client, tcp, 443, false),
			{hook: "input", iif: "eth0", from: client, to: hostIP, proto: tcp, dport: 8080, ct: nft.CTEstablished, want: true},
			fwd("eth0", "eth1", client, "10.1.0.9", tcp, 30080, true), // the forward policy would deny it
			fwd("eth0", "eth1", client, "10.1.0.9", tcp, 443, false),
			fwd("eth0", "eth1", client, "10.1.0.9", tcp, 8080, false),
			fwd("eth0", "cali5", client, vm, tcp, 30080, false), // the workload's own policy still decides
			fwd("eth0", "cali1", client, web, tcp, 30080, true),
			// Ingress only: what the host sends is normal policy's.
			out("eth0", far, tcp, 30080, false),
		},
	},
	{
		name: "the \"*\" endpoint ignores doNotTrack policies but not preDNAT ones; workloads get neither",
		extra: hepAll + "\n---\n" + allowHTTPSAll + `
---
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: untracked}
spec: {selector: all(), doNotTrack: true, applyOnForward: true, ingress: [{action: Allow}], egress: [{action: Allow}]}
---
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: pre}
spec: {selector: all(), preDNAT: true, applyOnForward: true, ingress: [{action: Deny, protocol: TCP, destination: {ports: [8443]}}, {action: Allow, protocol: TCP, destination: {ports: [9090]}}]}
`,
		cfg: func(c *Config) { c.EndpointToHost = ToHostAccept },
		flows: []hostFlow{
			in("eth0", client, tcp, 443, true),
			in("eth1", client, tcp, 8443, false), // preDNAT Deny
			in("eth0", client, tcp, 9090, true),  // preDNAT Allow
			in("eth0", client, tcp, 8080, false), // no untracked Allow-all
			out("eth0", far, tcp, 80, false),
			fromWL(web, tcp, 8443, true), // workload interfaces are not the "*" endpoint's
			fwd("cali3", "cali5", fe, vm, tcp, 80, false),
		},
	},
	{
		name: "the \"*\" endpoint's preDNAT policy does not apply to a named endpoint's interface",
		extra: hepEth0 + "\n---\n" + hepAll + "\n---\n" + allowHTTPSAll + `
---
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: edge-8443}
spec: {selector: role == 'edge', ingress: [{action: Allow, protocol: TCP, destination: {ports: [8443]}}]}
---
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: all-pre}
spec: {selector: hep == 'all', preDNAT: true, applyOnForward: true, ingress: [{action: Deny, protocol: TCP, destination: {ports: [8443, 443]}}]}
`,
		flows: []hostFlow{
			in("eth0", client, tcp, 8443, true), // eth0 has no preDNAT policy: its normal policy allows
			in("eth1", client, tcp, 8443, false),
			in("eth1", client, tcp, 443, false), // the "*" endpoint's normal policy would allow it
		},
	},
	{
		name: "a named endpoint's preDNAT policy that decides nothing does not go on to the \"*\" endpoint's",
		extra: hepEth0 + "\n---\n" + hepAll + "\n---\n" + allowHTTPSAll + `
---
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: edge-8443}
spec: {selector: role == 'edge', ingress: [{action: Allow, protocol: TCP, destination: {ports: [8443]}}]}
---
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: edge-pre}
spec: {selector: role == 'edge', preDNAT: true, applyOnForward: true, ingress: [{action: Deny, protocol: UDP}]}
---
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: all-pre}
spec: {selector: hep == 'all', preDNAT: true, applyOnForward: true, ingress: [{action: Deny, protocol: TCP, destination: {ports: [8443]}}]}
`,
		flows: []hostFlow{
			in("eth0", client, tcp, 8443, true),
			in("eth0", client, udp, 8443, false),
			in("eth1", client, tcp, 8443, false),
		},
	},
	{
		name: "an endpoint with expectedIPs only polices the interfaces that have one of them",
		extra: `
kind: HostEndpoint
apiVersion: projectcalico.org/v3
metadata: {name: host1-ips, labels: {role: edge}}
spec: {node: host1, expectedIPs: [10.0.0.1, "fd00::1"]}
` + "\n---\n" + denyAllEdge,
		addrs: hostAddrs,
		flows: []hostFlow{
			in("eth0", client, tcp, 80, false),
			in("eth0", client6, tcp, 80, false),
			in("eth0", client, tcp, 22, true), // failsafe
			out("eth0", far, tcp, 80, false),
			in("eth1", client, tcp, 80, true), // not one of its addresses
			fwd("eth0", "cali1", client, web, tcp, 80, true),
		},
	},
	{
		name: "an endpoint with expectedIPs only polices every interface that has one",
		extra: `
kind: HostEndpoint
apiVersion: projectcalico.org/v3
metadata: {name: host1-ips, labels: {role: edge}}
spec: {node: host1, expectedIPs: [10.0.0.1, 10.1.0.1]}
` + "\n---\n" + denyAllEdge,
		addrs: hostAddrs,
		flows: []hostFlow{in("eth0", client, tcp, 80, false), in("eth1", client, tcp, 80, false), in("eth2", client, tcp, 80, true)},
	},
	{
		name: "an endpoint naming an interface wins it over one matched by its addresses",
		extra: hepEth0 + "\n---\n" + allowHTTPIn + `
---
kind: HostEndpoint
apiVersion: projectcalico.org/v3
metadata: {name: host1-a-ips, labels: {role: locked}}
spec: {node: host1, expectedIPs: [10.0.0.1, 10.1.0.1]}
---
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: locked}
spec: {selector: role == 'locked', ingress: [{action: Deny}]}
`,
		addrs: hostAddrs,
		flows: []hostFlow{in("eth0", client, tcp, 80, true), in("eth0", client, tcp, 81, false), in("eth1", client, tcp, 80, false)},
	},
	{
		name: "an endpoint with expectedIPs that no interface has is not enforced, but counts in selectors",
		extra: `
kind: HostEndpoint
apiVersion: projectcalico.org/v3
metadata: {name: host1-ips, labels: {role: edge}}
spec: {node: host1, expectedIPs: [10.0.0.1]}
---
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: web-from-edge}
spec: {selector: app == 'web', ingress: [{action: Allow, source: {selector: role == 'edge'}}]}
` + "\n---\n" + denyAllEdge,
		flows: []hostFlow{
			in("eth0", client, tcp, 80, true),
			fwd("eth0", "cali1", hostIP, web, tcp, 80, true),
			fwd("eth0", "cali1", "10.0.0.2", web, tcp, 80, false),
		},
		problems: []string{"HostEndpoint host1-ips"},
	},
	{
		name:     "an endpoint on a workload interface is not enforced",
		extra:    strings.ReplaceAll(hepEth0, "eth0", "cali1") + "\n---\n" + denyAllEdge,
		flows:    []hostFlow{fwd("cali3", "cali1", fe, web, tcp, 80, true), in("eth0", client, tcp, 80, true)},
		problems: []string{"HostEndpoint host1-cali1"},
	},
	{
		name:  "another node's endpoint is not enforced here",
		extra: strings.ReplaceAll(hepEth0, "node: host1", "node: host2") + "\n---\n" + denyAllEdge,
		flows: []hostFlow{in("eth0", client, tcp, 80, true), out("eth0", far, tcp, 80, true)},
	},
	{
		name: "two endpoints claim one interface: the first by name applies",
		extra: strings.ReplaceAll(hepEth0, "host1-eth0", "host1-a") + "\n---\n" + allowHTTPIn + `
---
kind: HostEndpoint
apiVersion: projectcalico.org/v3
metadata: {name: host1-b, labels: {other: x}}
spec: {node: host1, interfaceName: eth0, profiles: [projectcalico-default-allow]}
`,
		flows:    []hostFlow{in("eth0", client, tcp, 80, true), in("eth0", client, tcp, 81, false)},
		problems: []string{"HostEndpoint host1-b"},
	},
}

func hostCalc(t *testing.T, docs string, cfg func(*Config)) *Calc {
	t.Helper()
	c := NewCalc("host1", nil)
	if cfg != nil {
		conf := c.cfg
		conf.InterfacePrefixes = slices.Clone(conf.InterfacePrefixes)
		cfg(&conf)
		c.SetConfig(conf)
	}
	c.OnUpdates(decodeAll(t, docs))
	return c
}

// checkRenders: nft can build every rule (jump targets and maps exist,
// comments are unique, and so on).
func checkRenders(t *testing.T, rs *nft.Ruleset) {
	t.Helper()
	if text := nft.Render(rs); strings.Contains(text, "# error") {
		t.Fatalf("the ruleset does not render:\n%s", text)
	}
}

func TestHostEndpointTruthTable(t *testing.T) {
	for _, tc := range hostTable {
		t.Run(tc.name, func(t *testing.T) {
			c := hostCalc(t, world+"\n---\n"+tc.extra, tc.cfg)
			if tc.addrs != nil {
				c.SetHostAddrs(tc.addrs)
			}
			rs := c.Ruleset()
			checkRenders(t, rs)
			for _, f := range tc.flows {
				if got := simulate(t, rs, f.hook, f.packet()); got != f.want {
					t.Errorf("%s: got through %v, want %v", f, got, f.want)
				}
			}
			var got []string
			for k := range c.Problems {
				got = append(got, k)
			}
			slices.Sort(got)
			want := slices.Clone(tc.problems)
			slices.Sort(want)
			if diff := cmp.Diff(want, got, rulesetOpts); diff != "" {
				t.Errorf("problems (-want +got):\n%s\n%v", diff, c.Problems)
			}
		})
	}
}

// TestHostEndpointDeleted: once the last host endpoint goes, the ruleset
// is what it was without one (no output chain, no host dispatch), and
// host traffic is untouched again.
func TestHostEndpointDeleted(t *testing.T) {
	c := hostCalc(t, world+"\n---\n"+hepEth0+"\n---\n"+hepAll+"\n---\n"+denyAllEdge+"\n---\n"+denyAllAll, nil)
	rs := c.Ruleset()
	if rs.Chains[chainOutput] == nil || rs.Maps[mapFromHost] == nil {
		t.Fatal("with host endpoints: no output chain or host dispatch map")
	}
	for _, f := range []hostFlow{in("eth0", client, tcp, 80, false), in("eth1", client, tcp, 80, false), out("eth0", far, tcp, 80, false)} {
		if simulate(t, rs, f.hook, f.packet()) {
			t.Errorf("%s: got through before the delete", f)
		}
	}
	var dels []syncer.Update
	for _, u := range decodeAll(t, hepEth0+"\n---\n"+hepAll) {
		dels = append(dels, syncer.Update{Type: syncer.UpdateDeleted, Key: u.Key})
	}
	c.OnUpdates(dels)
	rs = c.Ruleset()
	for _, f := range []hostFlow{in("eth0", client, tcp, 80, true), in("eth1", client, tcp, 80, true), out("eth0", far, tcp, 80, true)} {
		if !simulate(t, rs, f.hook, f.packet()) {
			t.Errorf("%s: dropped after the delete", f)
		}
	}
	without := hostCalc(t, world+"\n---\n"+denyAllEdge+"\n---\n"+denyAllAll, nil).Ruleset()
	if diff := cmp.Diff(without, rs, rulesetOpts); diff != "" {
		t.Errorf("after the delete (-never had one +had one):\n%s", diff)
	}
	if len(c.Problems) != 0 {
		t.Errorf("problems left: %v", c.Problems)
	}
}

// TestNoHostEndpointKeepsLayout: without host endpoints the base chains
// are the workload ones only, so a node without any pays nothing on its
// own traffic.
func TestNoHostEndpointKeepsLayout(t *testing.T) {
	rs := hostCalc(t, world, nil).Ruleset()
	var names []string
	for n, ch := range rs.Chains {
		if ch.Base != nil {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	if diff := cmp.Diff([]string{chainForward, chainInput, chainPrerouting}, names); diff != "" {
		t.Errorf("base chains (-want +got):\n%s", diff)
	}
	for _, m := range []string{mapFromHost, mapToHost, mapFwdFromHost, mapFwdToHost} {
		if rs.Maps[m] != nil {
			t.Errorf("map %s without host endpoints", m)
		}
	}
}

// TestHostEndpointGolden: the rendered ruleset of a named and a "*"
// endpoint, as nft lists it (go test -run Golden -update rewrites it).
func TestHostEndpointGolden(t *testing.T) {
	c := hostCalc(t, hepEth0+"\n---\n"+allowHTTPIn+"\n---\n"+hepAll+"\n---\n"+allowHTTPSAll+`
---
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: all-forward}
spec: {selector: hep == 'all', applyOnForward: true, ingress: [{action: Allow, protocol: TCP, destination: {ports: [80]}}]}
---
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: untracked}
spec: {selector: role == 'edge', doNotTrack: true, applyOnForward: true, types: [Ingress, Egress],
  ingress: [{action: Allow, protocol: UDP, destination: {ports: [4789]}}], egress: [{action: Allow, protocol: UDP, source: {ports: [4789]}}]}
---
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: nodeports}
spec: {selector: all(), preDNAT: true, applyOnForward: true, ingress: [{action: Deny, protocol: TCP, destination: {ports: ["30000:32767"]}}]}
`, func(c *Config) {
		c.FailsafeInbound = []config.ProtoPort{{Proto: tcp, Port: 22}, {Proto: udp, Port: 68},
			{Proto: tcp, Port: 179, Net: netip.MustParsePrefix("10.0.0.0/24")}}
		c.FailsafeOutbound = []config.ProtoPort{{Proto: udp, Port: 53}}
	})
	got := nft.Render(c.Ruleset())
	path := filepath.Join("testdata", "hostendpoints.nft")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

// TestSpoofedPrefixesNeedSourceSpoofing: a workload may send from its
// endpoint's allowSpoofedSourcePrefixes only while workloadSourceSpoofing
// is Any (Config.AllowSpoofing), as upstream; otherwise the field is
// ignored and its anti-spoofing drops them like any other source.
func TestSpoofedPrefixesNeedSourceSpoofing(t *testing.T) {
	docs := strings.Replace(world, `ipNetworks: [10.65.1.1/32, "fd00:65::1:1/128"], profiles: [kns.prod],`,
		`ipNetworks: [10.65.1.1/32, "fd00:65::1:1/128"], profiles: [kns.prod], allowSpoofedSourcePrefixes: [10.77.0.0/24, "fd00:77::/64"],`, 1)
	if docs == world {
		t.Fatal("the web endpoint of the world changed: the test no longer edits it")
	}
	flows := func(allowed bool) []hostFlow {
		return []hostFlow{
			fwd("cali1", "eth0", web, far, tcp, 80, true),
			fwd("cali1", "eth0", "10.77.0.5", far, tcp, 80, allowed),
			fwd("cali1", "eth0", "fd00:77::5", "fd00::50", tcp, 80, allowed),
			fwd("cali1", "eth0", "10.78.0.5", far, tcp, 80, false),
		}
	}
	c := hostCalc(t, docs, nil)
	for i, allowed := range []bool{false, true, false} {
		conf := c.cfg
		conf.AllowSpoofing = allowed
		c.SetConfig(conf)
		rs := c.Ruleset()
		for _, f := range flows(allowed) {
			if got := simulate(t, rs, f.hook, f.packet()); got != f.want {
				t.Errorf("step %d, AllowSpoofing %v: %s: got through %v, want %v", i, allowed, f, got, f.want)
			}
		}
	}
}
