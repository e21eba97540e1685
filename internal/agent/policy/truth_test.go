package policy

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/datastore/syncer"
	"github.com/gocalico/calico/internal/resources"
)

// The truth table's world: host1 has workloads in namespaces prod and
// dev; host2's are remote. Namespace profiles carry pcns. labels and
// allow everything, as upstream's kube-controllers writes them.
const world = `
kind: Profile
apiVersion: projectcalico.org/v3
metadata: {name: kns.prod}
spec:
  labelsToApply: {pcns.projectcalico.org/name: prod, pcns.env: production}
  ingress: [{action: Allow}]
  egress: [{action: Allow}]
---
kind: Profile
apiVersion: projectcalico.org/v3
metadata: {name: kns.dev}
spec:
  labelsToApply: {pcns.projectcalico.org/name: dev, pcns.env: dev}
  ingress: [{action: Allow}]
  egress: [{action: Allow}]
---
kind: Tier
apiVersion: projectcalico.org/v3
metadata: {name: default}
spec: {order: 1000000, defaultAction: Deny}
---
kind: Tier
apiVersion: projectcalico.org/v3
metadata: {name: security}
spec: {order: 100, defaultAction: Deny}
---
kind: Tier
apiVersion: projectcalico.org/v3
metadata: {name: platform}
spec: {order: 200, defaultAction: Pass}
---
kind: WorkloadEndpoint
apiVersion: projectcalico.org/v3
metadata: {name: host1-k8s-web-eth0, namespace: prod, labels: {app: web}}
spec: {node: host1, orchestrator: k8s, pod: web, endpoint: eth0, interfaceName: cali1, mac: "ee:ee:ee:ee:ee:01",
  ipNetworks: [10.65.1.1/32, "fd00:65::1:1/128"], profiles: [kns.prod],
  ports: [{name: http, protocol: TCP, port: 8080}]}
---
kind: WorkloadEndpoint
apiVersion: projectcalico.org/v3
metadata: {name: host1-k8s-db-eth0, namespace: prod, labels: {app: db}}
spec: {node: host1, orchestrator: k8s, pod: db, endpoint: eth0, interfaceName: cali2,
  ipNetworks: [10.65.1.2/32, "fd00:65::1:2/128"], profiles: [kns.prod]}
---
kind: WorkloadEndpoint
apiVersion: projectcalico.org/v3
metadata: {name: host1-k8s-fe-eth0, namespace: prod, labels: {role: fe}}
spec: {node: host1, orchestrator: k8s, pod: fe, endpoint: eth0, interfaceName: cali3,
  ipNetworks: [10.65.1.3/32, "fd00:65::1:3/128"], profiles: [kns.prod]}
---
kind: WorkloadEndpoint
apiVersion: projectcalico.org/v3
metadata: {name: host1-k8s-web-eth0, namespace: dev, labels: {app: web, role: fe}}
spec: {node: host1, orchestrator: k8s, pod: web, endpoint: eth0, interfaceName: cali4,
  ipNetworks: [10.65.1.4/32], profiles: [kns.dev]}
---
kind: WorkloadEndpoint
apiVersion: projectcalico.org/v3
metadata: {name: host1-openstack-vm-tap, namespace: openstack, labels: {}}
spec: {node: host1, orchestrator: openstack, workload: vm, endpoint: tap, interfaceName: cali5,
  ipNetworks: [10.65.1.5/32]}
---
kind: WorkloadEndpoint
apiVersion: projectcalico.org/v3
metadata: {name: host2-k8s-fe-eth0, namespace: prod, labels: {role: fe}}
spec: {node: host2, orchestrator: k8s, pod: fe, endpoint: eth0, interfaceName: cali9,
  ipNetworks: [10.65.2.9/32, "fd00:65::2:9/128"], profiles: [kns.prod]}
---
kind: GlobalNetworkSet
apiVersion: projectcalico.org/v3
metadata: {name: partners, labels: {external: partner}}
spec: {nets: [192.0.2.0/24, 198.51.100.7/32]}
`

// Addresses of the world's endpoints.
var (
	web, db, fe, devWeb, vm, remoteFE = "10.65.1.1", "10.65.1.2", "10.65.1.3", "10.65.1.4", "10.65.1.5", "10.65.2.9"
	web6, db6, fe6, remoteFE6         = "fd00:65::1:1", "fd00:65::1:2", "fd00:65::1:3", "fd00:65::2:9"
	ifaceOf                           = map[string]string{web: "cali1", db: "cali2", fe: "cali3", devWeb: "cali4", vm: "cali5",
		web6: "cali1", db6: "cali2", fe6: "cali3"}
)

func decodeAll(t *testing.T, docs string) []syncer.Update {
	t.Helper()
	var ups []syncer.Update
	for _, d := range strings.Split(docs, "\n---\n") {
		if strings.TrimSpace(d) == "" {
			continue
		}
		r, err := v3.Decode([]byte(d))
		if err != nil {
			t.Fatalf("decode %q: %v", d, err)
		}
		key, err := resources.KeyOf(r)
		if err != nil {
			t.Fatal(err)
		}
		ups = append(ups, syncer.Update{Type: syncer.UpdateNew, Key: key, Value: r})
	}
	return ups
}

// flow is one probe: from an address to an address (a local workload's
// interface follows from its address; anything else comes in on eth0).
type flow struct {
	from, to     string
	proto        uint8
	dport        uint16
	icmpType     uint8
	want         bool
	viaInterface string // overrides the derived ingress interface (spoofing)
}

func (f flow) String() string {
	return fmt.Sprintf("%s -> %s proto %d port %d icmp %d", f.from, f.to, f.proto, f.dport, f.icmpType)
}

func (f flow) packet() packet {
	p := packet{src: netip.MustParseAddr(f.from), dst: netip.MustParseAddr(f.to), proto: f.proto,
		sport: 40000, dport: f.dport, icmpType: f.icmpType}
	p.iif, p.oif = ifaceOf[f.from], ifaceOf[f.to]
	if p.iif == "" {
		p.iif = "eth0"
	}
	if p.oif == "" {
		p.oif = "eth0"
	}
	if f.viaInterface != "" {
		p.iif = f.viaInterface
	}
	if p.iif == "cali1" {
		p.mac, _ = net.ParseMAC("ee:ee:ee:ee:ee:01")
	}
	return p
}

const (
	tcp   = 6
	udp   = 17
	icmp  = 1
	icmp6 = 58
)

// truthCaseT is one case of the truth table.
type truthCaseT struct {
	name  string
	extra string // resources on top of the world
	flows []flow
}

// TruthTable is shared with the lab test (test/e2e) in spirit: the same
// cases, there with real packets.
var truthTable = []truthCaseT{
	{
		name:  "no policy: the namespace profile allows",
		flows: []flow{{from: fe, to: web, proto: tcp, dport: 80, want: true}, {from: remoteFE, to: db, proto: udp, dport: 53, want: true}},
	},
	{
		name:  "no policy, no profile: default deny both ways",
		flows: []flow{{from: fe, to: vm, proto: tcp, dport: 22, want: false}, {from: vm, to: fe, proto: tcp, dport: 22, want: false}},
	},
	{
		name: "ingress allowed by selector and port",
		extra: `
kind: NetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: web-in, namespace: prod}
spec:
  selector: app == 'web'
  ingress: [{action: Allow, protocol: TCP, source: {selector: role == 'fe'}, destination: {ports: [80, "8000:8100"]}}]
`,
		flows: []flow{
			{from: fe, to: web, proto: tcp, dport: 80, want: true},
			{from: fe, to: web, proto: tcp, dport: 8050, want: true},
			{from: fe, to: web, proto: tcp, dport: 81, want: false},
			{from: remoteFE, to: web, proto: tcp, dport: 80, want: true},
			{from: db, to: web, proto: tcp, dport: 80, want: false},
			{from: fe, to: web, proto: udp, dport: 80, want: false},
			// dev's fe has role=fe but lives in another namespace.
			{from: devWeb, to: web, proto: tcp, dport: 80, want: false},
			// Not selected: db still has only its profile.
			{from: devWeb, to: db, proto: tcp, dport: 5432, want: true},
			{from: fe6, to: web6, proto: tcp, dport: 80, want: true},
			{from: db6, to: web6, proto: tcp, dport: 80, want: false},
		},
	},
	{
		name: "namespaceSelector picks sources by namespace labels",
		extra: `
kind: NetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: from-dev, namespace: prod}
spec:
  selector: app == 'web'
  ingress: [{action: Allow, source: {namespaceSelector: env == 'dev'}}]
`,
		flows: []flow{
			{from: devWeb, to: web, proto: tcp, dport: 80, want: true},
			{from: fe, to: web, proto: tcp, dport: 80, want: false},
		},
	},
	{
		name: "named port",
		extra: `
kind: NetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: named, namespace: prod}
spec:
  selector: app == 'web'
  ingress: [{action: Allow, protocol: TCP, destination: {ports: [http]}}]
`,
		flows: []flow{
			{from: fe, to: web, proto: tcp, dport: 8080, want: true},
			{from: fe, to: web, proto: tcp, dport: 80, want: false},
			{from: fe6, to: web6, proto: tcp, dport: 8080, want: true},
		},
	},
	{
		name: "nets and notNets with a global policy",
		extra: `
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: nets}
spec:
  selector: app == 'db'
  ingress:
  - {action: Allow, source: {nets: [10.65.0.0/16], notNets: [10.65.1.3/32]}}
`,
		flows: []flow{
			{from: web, to: db, proto: tcp, dport: 5432, want: true},
			{from: fe, to: db, proto: tcp, dport: 5432, want: false},
			{from: remoteFE, to: db, proto: tcp, dport: 5432, want: true},
			// IPv6 has no net in the rule: denied.
			{from: web6, to: db6, proto: tcp, dport: 5432, want: false},
		},
	},
	{
		name: "notNets of one family keep the rule out of the other",
		extra: `
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: notnets-v4}
spec:
  selector: app == 'db'
  ingress:
  - {action: Allow, source: {notNets: [10.65.1.3/32]}}
`,
		flows: []flow{
			{from: web, to: db, proto: tcp, dport: 5432, want: true},
			{from: fe, to: db, proto: tcp, dport: 5432, want: false},
			// As upstream: only IPv4 CIDRs, so no IPv6 rule at all.
			{from: web6, to: db6, proto: tcp, dport: 5432, want: false},
		},
	},
	{
		name: "network set by selector",
		extra: `
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: partners}
spec:
  selector: app == 'web'
  ingress: [{action: Allow, source: {selector: external == 'partner'}}]
`,
		flows: []flow{
			{from: "192.0.2.77", to: web, proto: tcp, dport: 443, want: true},
			{from: "198.51.100.7", to: web, proto: tcp, dport: 443, want: true},
			{from: "198.51.100.8", to: web, proto: tcp, dport: 443, want: false},
		},
	},
	{
		name: "ICMP type",
		extra: `
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: ping}
spec:
  selector: app == 'db'
  ingress: [{action: Allow, protocol: ICMP, icmp: {type: 8}}, {action: Allow, protocol: ICMPv6, icmp: {type: 128}}]
`,
		flows: []flow{
			{from: web, to: db, proto: icmp, icmpType: 8, want: true},
			{from: web, to: db, proto: icmp, icmpType: 13, want: false},
			{from: web6, to: db6, proto: icmp6, icmpType: 128, want: true},
			{from: web, to: db, proto: tcp, dport: 80, want: false},
		},
	},
	{
		name: "Pass skips the rest of the tier; profiles decide",
		extra: `
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: security.pass-fe}
spec:
  tier: security
  order: 1
  selector: app == 'web'
  ingress: [{action: Pass, source: {selector: role == 'fe'}}]
---
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: security.deny-all}
spec:
  tier: security
  order: 2
  selector: app == 'web'
  ingress: [{action: Deny}]
`,
		flows: []flow{
			{from: fe, to: web, proto: tcp, dport: 80, want: true},
			{from: db, to: web, proto: tcp, dport: 80, want: false},
		},
	},
	{
		name: "Pass to a later tier's deny",
		extra: `
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: security.pass}
spec:
  tier: security
  selector: app == 'web'
  ingress: [{action: Pass}]
---
kind: NetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: only-fe, namespace: prod}
spec:
  selector: app == 'web'
  ingress: [{action: Allow, source: {selector: role == 'fe'}}]
`,
		flows: []flow{
			{from: fe, to: web, proto: tcp, dport: 80, want: true},
			{from: db, to: web, proto: tcp, dport: 80, want: false},
		},
	},
	{
		name: "tier end deny vs tier with defaultAction Pass",
		extra: `
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: platform.nothing}
spec:
  tier: platform
  selector: app == 'db'
  ingress: [{action: Deny, source: {nets: [203.0.113.0/24]}}]
---
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: security.nothing}
spec:
  tier: security
  selector: app == 'web'
  ingress: [{action: Deny, source: {nets: [203.0.113.0/24]}}]
`,
		flows: []flow{
			// platform passes at its end: db's profile allows.
			{from: fe, to: db, proto: tcp, dport: 5432, want: true},
			// security denies at its end.
			{from: fe, to: web, proto: tcp, dport: 80, want: false},
		},
	},
	{
		name: "order within a tier: lower order first",
		extra: `
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: deny-late}
spec: {order: 20, selector: app == 'web', ingress: [{action: Deny}]}
---
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: allow-early}
spec: {order: 10, selector: app == 'web', ingress: [{action: Allow, protocol: TCP, destination: {ports: [80]}}]}
`,
		flows: []flow{
			{from: fe, to: web, proto: tcp, dport: 80, want: true},
			{from: fe, to: web, proto: tcp, dport: 81, want: false},
		},
	},
	{
		name: "Log continues",
		extra: `
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: log-then-allow}
spec: {selector: app == 'web', ingress: [{action: Log}, {action: Allow}]}
`,
		flows: []flow{{from: db, to: web, proto: tcp, dport: 80, want: true}},
	},
	{
		name: "egress policy",
		extra: `
kind: NetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: fe-out, namespace: prod}
spec:
  selector: role == 'fe'
  types: [Egress]
  egress: [{action: Allow, protocol: TCP, destination: {selector: app == 'web', ports: [80]}}]
`,
		flows: []flow{
			{from: fe, to: web, proto: tcp, dport: 80, want: true},
			{from: fe, to: db, proto: tcp, dport: 5432, want: false},
			{from: fe, to: "192.0.2.1", proto: tcp, dport: 80, want: false},
			// Ingress to fe is untouched (types: Egress only).
			{from: db, to: fe, proto: tcp, dport: 80, want: true},
		},
	},
	{
		name: "notSelector and notPorts",
		extra: `
kind: NetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: nots, namespace: prod}
spec:
  selector: app == 'db'
  ingress: [{action: Allow, protocol: TCP, source: {notSelector: role == 'fe'}, destination: {notPorts: ["1:1023"]}}]
`,
		flows: []flow{
			{from: web, to: db, proto: tcp, dport: 5432, want: true},
			{from: web, to: db, proto: tcp, dport: 22, want: false},
			{from: fe, to: db, proto: tcp, dport: 5432, want: false},
		},
	},
	{
		name: "ipVersion 6 only",
		extra: `
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: v6only}
spec: {selector: app == 'db', ingress: [{action: Allow, ipVersion: 6}]}
`,
		flows: []flow{
			{from: web6, to: db6, proto: tcp, dport: 5432, want: true},
			{from: web, to: db, proto: tcp, dport: 5432, want: false},
		},
	},
	{
		name: "anti-spoofing: a workload sends only from its own addresses",
		flows: []flow{
			{from: db, to: fe, proto: tcp, dport: 80, want: true},
			{from: web, to: fe, proto: tcp, dport: 80, want: false, viaInterface: "cali2"},
			{from: "10.65.1.99", to: fe, proto: tcp, dport: 80, want: false, viaInterface: "cali2"},
		},
	},
	{
		name:  "an interface of the prefix that no endpoint claims drops",
		flows: []flow{{from: "10.65.1.77", to: fe, proto: tcp, dport: 80, want: false, viaInterface: "cali77"}},
	},
	{
		name: "a policy whose rule cannot be enforced fails closed",
		extra: `
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: broken}
spec: {selector: app == 'db', ingress: [{action: Allow, source: {selector: "role == "}}]}
`,
		flows: []flow{{from: web, to: db, proto: tcp, dport: 5432, want: false}},
	},
}

func TestTruthTable(t *testing.T) {
	for _, tc := range truthTable {
		t.Run(tc.name, func(t *testing.T) {
			c := NewCalc("host1", nil)
			c.OnUpdates(decodeAll(t, world+"\n---\n"+tc.extra))
			rs := c.Ruleset()
			for _, f := range tc.flows {
				if got := simulate(t, rs, "forward", f.packet()); got != f.want {
					t.Errorf("%s: got through %v, want %v", f, got, f.want)
				}
			}
		})
	}
}
