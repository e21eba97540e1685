package e2e

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/lab"
)

// Ports the policy tests' servers listen on in every workload.
var (
	policyTCPPorts = []int{80, 443, 5432, 8080, 9090}
	policyUDPPorts = []int{53, 5000}
)

// probe is one row of a truth table: traffic from one workload to
// another and whether it must get through.
type probe struct {
	what     string
	from, to string // workload names
	proto    string // "tcp", "udp" or "icmp"
	port     int
	v6       bool
	want     bool
}

func (p probe) String() string {
	fam := "v4"
	if p.v6 {
		fam = "v6"
	}
	s := fmt.Sprintf("%s -> %s %s", p.from, p.to, p.proto)
	if p.port != 0 {
		s += fmt.Sprintf("/%d", p.port)
	}
	return fmt.Sprintf("%s %s (%s)", s, fam, p.what)
}

// policyLab is a two-host lab with servers in every workload.
type policyLab struct {
	*testLab
	tr *traffic
	// unapplied are the test's writes not yet known to be applied by
	// every agent (see applied).
	unapplied []write
}

func newPolicyLab(t *testing.T) *policyLab {
	l := newLab(t, lab.Config{Hosts: 2, WorkloadsPerHost: 2})
	l.waitMatrix()
	var names []string
	for _, w := range l.Workloads() {
		names = append(names, w.Name)
	}
	return &policyLab{testLab: l, tr: l.newTraffic(names, policyTCPPorts, policyUDPPorts)}
}

// addr is a workload's address of one family.
func (l *policyLab) addr(name string, v6 bool) netip.Addr {
	w := l.workload(name)
	if v6 {
		return w.IPv6
	}
	return w.IPv4
}

// send runs one probe and reports whether it got through.
func (l *policyLab) send(p probe) (bool, error) {
	dst := l.addr(p.to, p.v6)
	switch p.proto {
	case "tcp":
		return l.tr.tcp(p.from, dst, p.port)
	case "udp":
		return l.tr.udp(p.from, netip.Addr{}, dst, p.port)
	case "icmp":
		return l.tr.icmp(p.from, dst)
	}
	return false, fmt.Errorf("unknown protocol %q", p.proto)
}

// applied waits until every agent has applied the test's writes so far.
func (l *policyLab) applied() {
	l.t.Helper()
	l.waitApplied(l.unapplied...)
	l.unapplied = nil
}

// check waits until every agent has applied the test's writes, then runs
// every probe (in parallel) until all give the wanted answer at once, or
// fails the test with those that did not. A probe that must be blocked
// and gets through fails the test at once: the agents hold the final
// state. Those that must get through may take a few rounds (neighbour
// resolution). Blocked probes cost a timeout each, so rounds run the
// probes concurrently.
func (l *policyLab) check(stage string, probes []probe) {
	l.t.Helper()
	l.applied()
	start := time.Now()
	var wrong, leaked []string
	for attempt := 0; ; attempt++ {
		wrong, leaked = wrong[:0], leaked[:0]
		var mu sync.Mutex
		var wg sync.WaitGroup
		sem := make(chan struct{}, 12)
		for _, p := range probes {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				got, err := l.send(p)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err != nil:
					wrong = append(wrong, fmt.Sprintf("%v: error %v", p, err))
				case got && !p.want:
					leaked = append(leaked, fmt.Sprintf("%v: got through", p))
				case got != p.want:
					wrong = append(wrong, fmt.Sprintf("%v: was blocked", p))
				}
			})
		}
		wg.Wait()
		if len(leaked) > 0 {
			l.t.Fatalf("%s: with the change applied by every agent, %d of %d probes that must be blocked got through:\n  %s",
				stage, len(leaked), len(probes), strings.Join(leaked, "\n  "))
		}
		if len(wrong) == 0 {
			l.t.Logf("%s: %d probes as expected after %v", stage, len(probes), time.Since(start).Round(time.Millisecond))
			return
		}
		if time.Since(start) > converge || l.ctx.Err() != nil {
			l.t.Fatalf("%s: %d of %d probes wrong after %v:\n  %s", stage, len(wrong), len(probes), time.Since(start).Round(time.Millisecond), strings.Join(wrong, "\n  "))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// apply runs `calicoctl apply -f -` on host1 with the YAML given, as an
// operator would, and records the writes for applied.
func (l *policyLab) apply(yaml string) {
	l.t.Helper()
	l.calicoctl(yaml, "apply", "-f", "-")
	for _, key := range l.keysOf(yaml) {
		l.unapplied = append(l.unapplied, l.putRevision(key))
	}
}

// delete runs `calicoctl delete` on host1 and records the delete for
// applied.
func (l *policyLab) delete(kind, namespace, name string) {
	l.t.Helper()
	key := l.resourceKey(kind, namespace, name)
	before := l.modRevision(key)
	args := []string{"delete", kind, name}
	if namespace != "" {
		args = append(args, "--namespace", namespace)
	}
	l.calicoctl("", args...)
	l.unapplied = append(l.unapplied, l.deleteRevision(key, before))
}

// patch runs `calicoctl patch` on host1 and records the write for applied.
func (l *policyLab) patch(kind, name, patch string) {
	l.t.Helper()
	l.calicoctl("", "patch", kind, name, "-p", patch)
	l.unapplied = append(l.unapplied, l.putRevision(l.resourceKey(kind, "", name)))
}

func (l *policyLab) calicoctl(stdin string, args ...string) string {
	l.t.Helper()
	cmd, err := l.Command(l.ctx, "host1", append([]string{"calicoctl"}, args...)...)
	if err != nil {
		l.t.Fatal(err)
	}
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		l.t.Fatalf("calicoctl %s: %v\n%s\ninput:\n%s", strings.Join(args, " "), err, out, stdin)
	}
	return string(out)
}

// endpointYAML is the lab's endpoint for a workload with labels, named
// ports, profiles and a namespace of the test's choosing.
func (l *policyLab) endpointYAML(name, namespace string, labels map[string]string, profiles []string, ports string) string {
	w := l.workload(name)
	wep := lab.WorkloadEndpoint(w)
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: projectcalico.org/v3\nkind: WorkloadEndpoint\nmetadata:\n  name: %s\n  namespace: %s\n", wep.Metadata.Name, namespace)
	if len(labels) > 0 {
		b.WriteString("  labels:\n")
		for k, v := range labels {
			fmt.Fprintf(&b, "    %s: %q\n", k, v)
		}
	}
	fmt.Fprintf(&b, "spec:\n  orchestrator: k8s\n  node: %s\n  pod: %s\n  endpoint: %s\n  interfaceName: %s\n  mac: %q\n",
		wep.Spec.Node, wep.Spec.Pod, wep.Spec.Endpoint, wep.Spec.InterfaceName, wep.Spec.MAC)
	fmt.Fprintf(&b, "  ipNetworks: [%s]\n", strings.Join(wep.Spec.IPNetworks, ", "))
	fmt.Fprintf(&b, "  profiles: [%s]\n", strings.Join(profiles, ", "))
	if ports != "" {
		b.WriteString("  ports:\n" + ports)
	}
	return b.String()
}

const (
	wA = "host1-w1" // app=client, namespace default
	wB = "host1-w2" // app=db, namespace default, named port pg=5432
	wC = "host2-w1" // app=web, namespace default, named port http=80
	wD = "host2-w2" // app=client, namespace prod (profile kns.prod)
)

// The truth table: policies are added stage by stage, and after each
// stage every probe of the table so far is checked with real packets
// between workloads on two hosts (IPv4 and IPv6, TCP, UDP, ICMP).
func TestPrivilegedPolicyTruthTable(t *testing.T) {
	l := newPolicyLab(t)

	// Labels, named ports, a second namespace with its profile.
	l.apply(`apiVersion: projectcalico.org/v3
kind: Profile
metadata:
  name: kns.prod
spec:
  labelsToApply:
    pcns.projectcalico.org/name: prod
    pcns.env: prod
  ingress:
  - action: Deny
    protocol: TCP
    destination:
      ports: [8080]
  - action: Allow
  egress:
  - action: Allow
`)
	l.apply(l.endpointYAML(wA, "default", map[string]string{"app": "client"}, []string{v3.DefaultAllowProfileName}, ""))
	l.apply(l.endpointYAML(wB, "default", map[string]string{"app": "db"}, []string{v3.DefaultAllowProfileName},
		"  - name: pg\n    protocol: TCP\n    port: 5432\n"))
	l.apply(l.endpointYAML(wC, "default", map[string]string{"app": "web"}, []string{v3.DefaultAllowProfileName},
		"  - name: http\n    protocol: TCP\n    port: 80\n"))
	// D moves to namespace prod: its default endpoint goes.
	wd := lab.WorkloadEndpoint(l.workload(wD))
	l.delete("workloadendpoint", "default", wd.Metadata.Name)
	l.apply(l.endpointYAML(wD, "prod", map[string]string{"app": "client"}, []string{"kns.prod"}, ""))

	var table []probe
	add := func(stage string, ps ...probe) {
		t.Helper()
		table = append(table, ps...)
		l.check(stage, table)
	}
	p := func(what, from, to, proto string, port int, v6, want bool) probe {
		return probe{what: what, from: from, to: to, proto: proto, port: port, v6: v6, want: want}
	}

	// Stage 0: no policy. Profiles decide: default-allow, and kns.prod
	// denies TCP 8080 inbound.
	add("profiles only",
		p("profile allows", wA, wC, "tcp", 443, false, true),
		p("profile allows, IPv6", wC, wA, "tcp", 443, true, true),
		p("profile rule denies", wA, wD, "tcp", 8080, false, false),
		p("profile allows other ports", wA, wD, "tcp", 9090, false, true),
	)

	// Stage 1: ingress policy on web.
	l.apply(`apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: web-ingress
spec:
  order: 100
  selector: app == 'web'
  types: [Ingress]
  ingress:
  - action: Allow
    protocol: TCP
    source:
      selector: app == 'client'
    destination:
      ports: [http]
  - action: Allow
    protocol: TCP
    source:
      nets: [10.65.1.1/32]
    destination:
      ports: ["8000:8100"]
  - action: Allow
    protocol: TCP
    source:
      nets: ["fd00:65::1:1/128"]
    destination:
      ports: ["8000:8100"]
  - action: Allow
    protocol: UDP
    source:
      notNets: [10.65.1.2/32]
    destination:
      ports: [53]
  - action: Allow
    protocol: UDP
    source:
      notNets: ["fd00:65::1:2/128"]
    destination:
      ports: [53]
  - action: Allow
    protocol: ICMP
    icmp: {type: 8}
    source:
      selector: app == 'client'
  - action: Allow
    protocol: ICMPv6
    icmp: {type: 128}
    source:
      selector: app == 'client'
`)
	// The profiles-only rows that web's policy now overrides.
	for i := range table {
		if table[i].to == wC && table[i].proto == "tcp" && table[i].port == 443 {
			table[i].want, table[i].what = false, "web's policy now applies: no rule for 443"
		}
	}
	add("ingress policy on web",
		p("selector + named port", wA, wC, "tcp", 80, false, true),
		p("selector + named port, IPv6", wA, wC, "tcp", 80, true, true),
		p("selector does not match: tier default deny", wB, wC, "tcp", 80, false, false),
		p("selector does not match, IPv6", wB, wC, "tcp", 80, true, false),
		p("GlobalNetworkPolicy selector spans namespaces", wD, wC, "tcp", 80, false, true),
		p("port range + nets", wA, wC, "tcp", 8080, false, true),
		p("port range + nets, IPv6", wA, wC, "tcp", 8080, true, true),
		p("nets do not match", wB, wC, "tcp", 8080, false, false),
		p("notNets allows others", wA, wC, "udp", 53, false, true),
		p("notNets excludes", wB, wC, "udp", 53, false, false),
		p("notNets excludes, IPv6", wB, wC, "udp", 53, true, false),
		p("no rule for the port", wA, wC, "tcp", 443, false, false),
		p("ICMP type 8 from a client", wA, wC, "icmp", 0, false, true),
		p("ICMPv6 type 128 from a client", wA, wC, "icmp", 0, true, true),
		p("ICMP from a non-client", wB, wC, "icmp", 0, false, false),
		p("ingress-only policy leaves web's egress to its profile", wC, wA, "tcp", 80, false, true),
		p("an endpoint no policy selects keeps its profile", wA, wB, "tcp", 5432, false, true),
	)

	// Stage 2: a NetworkPolicy for the database, with a namespace
	// selector and a named port.
	l.apply(`apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: db-access
  namespace: default
spec:
  selector: app == 'db'
  ingress:
  - action: Allow
    protocol: TCP
    source:
      namespaceSelector: env == 'prod'
    destination:
      ports: [pg]
  - action: Allow
    protocol: TCP
    source:
      selector: app == 'client'
    destination:
      ports: [9090]
`)
	for i := range table {
		if table[i].to == wB && table[i].port == 5432 && table[i].from == wA {
			table[i].want, table[i].what = false, "db's policy: default namespace is not prod"
		}
	}
	add("namespaced policy on db",
		p("namespaceSelector + named port", wD, wB, "tcp", 5432, false, true),
		p("namespaceSelector + named port, IPv6", wD, wB, "tcp", 5432, true, true),
		p("selector in a NetworkPolicy: own namespace", wA, wB, "tcp", 9090, false, true),
		p("selector in a NetworkPolicy does not reach another namespace", wD, wB, "tcp", 9090, false, false),
		p("not allowed by the db policy", wC, wB, "tcp", 80, false, false),
		p("UDP not allowed by the db policy", wA, wB, "udp", 5000, false, false),
	)

	// Stage 3: a tier before default, with Log, Deny, Pass and Allow.
	l.apply(`apiVersion: projectcalico.org/v3
kind: Tier
metadata:
  name: security
spec:
  order: 10
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: security.web
spec:
  tier: security
  order: 1
  selector: app == 'web'
  ingress:
  - action: Log
  - action: Deny
    protocol: TCP
    source:
      selector: app == 'client' && projectcalico.org/namespace == 'prod'
  - action: Pass
    protocol: TCP
    destination:
      ports: [80, 8080]
  - action: Allow
    protocol: UDP
    destination:
      ports: [5000]
  - action: Pass
    protocol: ICMP
  - action: Pass
    protocol: ICMPv6
`)
	for i := range table {
		pr := &table[i]
		switch {
		case pr.to == wC && pr.proto == "udp" && pr.port == 53:
			pr.want, pr.what = false, "security tier: no Pass for UDP 53, tier default deny"
		case pr.to == wC && pr.from == wD && pr.proto == "tcp":
			pr.want, pr.what = false, "security tier denies prod clients before the default tier"
		}
	}
	add("security tier",
		p("Log continues, Pass goes on to the default tier's allow", wA, wC, "tcp", 80, false, true),
		p("Pass then allowed by range + nets, IPv6", wA, wC, "tcp", 8080, true, true),
		p("Allow in the first tier wins over the next tier", wA, wC, "udp", 5000, false, true),
		p("Allow in the first tier, IPv6", wB, wC, "udp", 5000, true, true),
		p("Pass to the next tier, which denies", wB, wC, "tcp", 80, false, false),
	)

	// Stage 4: a tier whose default action is Pass, then profiles.
	l.apply(`apiVersion: projectcalico.org/v3
kind: Tier
metadata:
  name: platform
spec:
  order: 20
  defaultAction: Pass
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: platform.prod-clients
spec:
  tier: platform
  selector: projectcalico.org/namespace == 'prod'
  ingress:
  - action: Deny
    protocol: TCP
    destination:
      ports: [9090]
  - action: Pass
    protocol: TCP
    destination:
      ports: [443]
`)
	for i := range table {
		if pr := &table[i]; pr.to == wD && pr.port == 9090 {
			pr.want, pr.what = false, "platform tier denies 9090 before the profile"
		}
	}
	add("pass tier then profiles",
		p("Pass rule, no later tier applies: the profile allows", wA, wD, "tcp", 443, false, true),
		p("tier default Pass: the profile allows", wA, wD, "tcp", 80, false, true),
		p("tier default Pass: the profile allows, IPv6", wA, wD, "tcp", 80, true, true),
		p("tier default Pass, the profile denies", wA, wD, "tcp", 8080, false, false),
	)

	// Stage 5: egress policy on clients, with a notSelector.
	l.apply(`apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: client-egress
spec:
  order: 200
  selector: app == 'client'
  types: [Egress]
  egress:
  - action: Allow
    protocol: TCP
    destination:
      selector: app == 'web'
  - action: Allow
    protocol: TCP
    destination:
      notSelector: app == 'web'
      ports: [9090, 443, 80, 5432]
  - action: Allow
    protocol: UDP
    destination:
      ports: [53, 5000]
  - action: Allow
    protocol: ICMP
  - action: Allow
    protocol: ICMPv6
`)
	for i := range table {
		pr := &table[i]
		if (pr.from == wA || pr.from == wD) && pr.proto == "tcp" && pr.port == 8080 && pr.to != wC {
			pr.want, pr.what = false, "client egress: 8080 only to web"
		}
	}
	add("egress policy on clients",
		p("egress allows to web, web's ingress allows", wA, wC, "tcp", 80, false, true),
		p("egress allows to web on any port, web's ingress does not", wA, wC, "tcp", 443, false, false),
		p("egress notSelector + ports", wA, wB, "tcp", 9090, false, true),
		p("egress does not allow this port", wA, wB, "tcp", 8080, false, false),
		p("egress does not allow this port, IPv6", wA, wB, "tcp", 8080, true, false),
		p("egress UDP 53 allowed, the profile allows ingress", wA, wD, "udp", 53, false, true),
		p("egress UDP 5000 allowed, the profile allows ingress", wD, wA, "udp", 5000, false, true),
		p("egress ICMPv6", wD, wA, "icmp", 0, true, true),
	)

	// Stage 6: an endpoint with no profile and no policy is default
	// deny, both ways.
	l.apply(l.endpointYAML(wB, "default", map[string]string{"app": "db"}, nil,
		"  - name: pg\n    protocol: TCP\n    port: 5432\n"))
	l.delete("networkpolicy", "default", "db-access")
	var rest []probe
	for _, pr := range table {
		if pr.to != wB && pr.from != wB {
			rest = append(rest, pr)
		}
	}
	table = rest
	add("default deny",
		p("no policy, no profile: ingress denied", wA, wB, "tcp", 9090, false, false),
		p("no policy, no profile: ingress denied, IPv6", wD, wB, "tcp", 5432, true, false),
		p("no policy, no profile: egress denied", wB, wA, "tcp", 80, false, false),
		p("no policy, no profile: ICMP denied", wB, wA, "icmp", 0, false, false),
	)
	t.Logf("truth table: %d probes", len(table))
}

// Established flows survive a policy change that denies new ones;
// anti-spoofing drops traffic from addresses and MACs the endpoint does
// not own, unless allowSpoofedSourcePrefixes allows the address.
func TestPrivilegedPolicyFlowsAndSpoofing(t *testing.T) {
	l := newPolicyLab(t)
	l.apply(l.endpointYAML(wC, "default", map[string]string{"app": "web"}, []string{v3.DefaultAllowProfileName}, ""))
	c := l.workload(wC)

	t.Run("an update mid-flow keeps established allowed flows", func(t *testing.T) {
		var conns []net.Conn
		for _, dst := range c.Addrs() {
			conn, err := l.tr.dial(wA, dst, 80)
			if err != nil {
				t.Fatalf("connect to %s: %v", dst, err)
			}
			defer conn.Close()
			conns = append(conns, conn)
		}
		l.apply(`apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: web-closed
spec:
  selector: app == 'web'
  types: [Ingress]
  ingress:
  - action: Deny
`)
		l.check("web closed", []probe{
			{what: "new connections denied", from: wA, to: wC, proto: "tcp", port: 80},
			{what: "new connections denied", from: wA, to: wC, proto: "tcp", port: 80, v6: true},
		})
		for i, conn := range conns {
			if err := echo(conn); err != nil {
				t.Errorf("established connection to %s cut by the policy change: %v", c.Addrs()[i], err)
			}
		}
		l.delete("globalnetworkpolicy", "", "web-closed")
		l.check("web open again", []probe{{what: "policy deleted", from: wA, to: wC, proto: "tcp", port: 80, want: true}})
	})

	t.Run("a spoofed source is dropped unless allowed", func(t *testing.T) {
		spoofed := netip.MustParseAddr("fd00:65::1:99")
		h, err := l.Handle(wA)
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		link, err := h.LinkByName("eth0")
		if err != nil {
			t.Fatal(err)
		}
		// In the workload's own namespace: the workload claims an
		// address that is not its endpoint's.
		addr := &netlink.Addr{IPNet: &net.IPNet{IP: net.IP(spoofed.AsSlice()), Mask: net.CIDRMask(128, 128)}, Flags: unix.IFA_F_NODAD}
		if err := h.AddrAdd(link, addr); err != nil {
			t.Fatal(err)
		}
		udpFrom := func(src netip.Addr) func() (bool, string) {
			return func() (bool, string) {
				ok, err := l.tr.udp(wA, src, c.IPv6, 5000)
				if err != nil {
					t.Fatal(err)
				}
				return ok, fmt.Sprintf("from %s: reached=%v", src, ok)
			}
		}
		// Its own address gets through, the other does not.
		l.applied()
		l.eventually(converge, "UDP from the endpoint's own address", udpFrom(l.workload(wA).IPv6))
		for range 3 {
			if ok, why := udpFrom(spoofed)(); ok {
				t.Fatalf("a spoofed source got through: %s", why)
			}
		}
		// Allowed by the endpoint, but workloadSourceSpoofing is not Any:
		// ignored, as upstream.
		y := l.endpointYAML(wA, "default", nil, []string{v3.DefaultAllowProfileName}, "")
		l.apply(y + "  allowSpoofedSourcePrefixes: [\"fd00:65::1:99/128\", \"10.77.0.0/24\"]\n")
		l.applied()
		for range 3 {
			if ok, why := udpFrom(spoofed)(); ok {
				t.Fatalf("a spoofed source got through with workloadSourceSpoofing Disabled: %s", why)
			}
		}
		// With workloadSourceSpoofing Any, both families: for IPv4 the
		// interface's strict reverse-path filtering is off too.
		l.patch("felixconfiguration", "default", `{"spec":{"workloadSourceSpoofing":"Any"}}`)
		l.eventually(converge, "UDP from an allowed spoofed prefix", udpFrom(spoofed))
		spoofed4 := netip.MustParseAddr("10.77.0.5")
		addr4 := &netlink.Addr{IPNet: &net.IPNet{IP: net.IP(spoofed4.AsSlice()), Mask: net.CIDRMask(32, 32)}}
		if err := h.AddrAdd(link, addr4); err != nil {
			t.Fatal(err)
		}
		udpFrom4 := func() (bool, string) {
			ok, err := l.tr.udp(wA, spoofed4, c.IPv4, 5000)
			if err != nil {
				t.Fatal(err)
			}
			return ok, fmt.Sprintf("from %s: reached=%v", spoofed4, ok)
		}
		l.eventually(converge, "UDP from an allowed spoofed IPv4 prefix", udpFrom4)
		// No longer allowed by the endpoint.
		l.apply(y)
		l.applied()
		for range 3 {
			if ok, why := udpFrom(spoofed)(); ok {
				t.Fatalf("the spoofed address no longer allowed got through: %s", why)
			}
			if ok, why := udpFrom4(); ok {
				t.Fatalf("the spoofed IPv4 address no longer allowed got through: %s", why)
			}
		}
		l.patch("felixconfiguration", "default", `{"spec":{"workloadSourceSpoofing":"Disabled"}}`)
	})

	t.Run("a MAC other than the endpoint's is dropped", func(t *testing.T) {
		w := l.workload(wA)
		y := l.endpointYAML(wA, "default", nil, []string{v3.DefaultAllowProfileName}, "")
		l.apply(strings.Replace(y, fmt.Sprintf("mac: %q", w.MAC), `mac: "02:00:00:00:00:99"`, 1))
		l.check("endpoint MAC changed", []probe{
			{what: "the workload's MAC is not the endpoint's", from: wA, to: wC, proto: "tcp", port: 80},
			{what: "the workload's MAC is not the endpoint's", from: wA, to: wC, proto: "udp", port: 5000, v6: true},
		})
		l.apply(y)
		l.check("endpoint MAC restored", []probe{
			{what: "MAC matches again", from: wA, to: wC, proto: "tcp", port: 80, want: true},
		})
	})
}

// Host endpoints: policy on the host's own interface, for traffic to and
// from the host itself, with the failsafe ports always open; "*" covers
// every interface; workloads' forwarded traffic is not host policy's.
// Then doNotTrack and preDNAT policies on the named endpoint: run before
// conntrack and before DNAT, ahead of normal policy.
func TestPrivilegedHostEndpointFailsafes(t *testing.T) {
	l := newPolicyLab(t)
	hosts := []string{"host1", "host2"}
	tr := l.newTraffic(hosts, []int{22, 2379, 7070, 8080, 9090}, nil)
	h1, _ := l.Host("host1")
	h2, _ := l.Host("host2")
	type hp struct {
		what     string
		from     string
		to       netip.Addr
		port     int
		want     bool
		isIPv6   bool
		workload bool
	}
	// As policyLab.check: the agents have applied the test's writes, so
	// a probe that must be blocked and gets through fails at once.
	check := func(stage string, ps []hp) {
		t.Helper()
		l.applied()
		start := time.Now()
		for {
			var wrong []string
			for _, p := range ps {
				got, err := tr.tcp(p.from, p.to, p.port)
				if err != nil {
					t.Fatal(err)
				}
				if got && !p.want {
					t.Fatalf("%s: with the change applied by every agent, %s -> %s:%d (%s) got through", stage, p.from, p.to, p.port, p.what)
				}
				if got != p.want {
					wrong = append(wrong, fmt.Sprintf("%s -> %s:%d (%s): reached=%v", p.from, p.to, p.port, p.what, got))
				}
			}
			if len(wrong) == 0 {
				t.Logf("%s: %d probes as expected after %v", stage, len(ps), time.Since(start).Round(time.Millisecond))
				return
			}
			if time.Since(start) > converge {
				t.Fatalf("%s:\n  %s", stage, strings.Join(wrong, "\n  "))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	open := []hp{
		{what: "no host endpoint: not policed", from: "host2", to: h1.IPv4, port: 9090, want: true},
		{what: "no host endpoint: not policed", from: "host1", to: h2.IPv4, port: 9090, want: true},
	}
	check("no host endpoint", open)

	l.apply(`apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: edge
spec:
  selector: role == 'edge'
  types: [Ingress, Egress]
  ingress:
  - action: Allow
    protocol: TCP
    destination:
      ports: [8080]
  egress:
  - action: Allow
    protocol: TCP
    destination:
      ports: [8080]
`)
	policed := func(iface string) []hp {
		return []hp{
			{what: iface + ": allowed by policy", from: "host2", to: h1.IPv4, port: 8080, want: true},
			{what: iface + ": allowed by policy, IPv6", from: "host2", to: h1.IPv6, port: 8080, want: true},
			{what: iface + ": denied inbound", from: "host2", to: h1.IPv4, port: 9090},
			{what: iface + ": denied inbound, IPv6", from: "host2", to: h1.IPv6, port: 9090},
			{what: iface + ": failsafe inbound SSH despite the policy", from: "host2", to: h1.IPv4, port: 22, want: true},
			{what: iface + ": failsafe inbound SSH, IPv6", from: "host2", to: h1.IPv6, port: 22, want: true},
			{what: iface + ": failsafe inbound etcd", from: "host2", to: h1.IPv4, port: 2379, want: true},
			{what: iface + ": allowed outbound", from: "host1", to: h2.IPv4, port: 8080, want: true},
			{what: iface + ": denied outbound", from: "host1", to: h2.IPv4, port: 9090},
			{what: iface + ": failsafe outbound etcd", from: "host1", to: h2.IPv4, port: 2379, want: true},
			{what: iface + ": other hosts not policed", from: "host2", to: h1.IPv4, port: 8080, want: true},
		}
	}
	workloads := func(iface string) {
		t.Helper()
		l.check(iface+": workloads' forwarded traffic", []probe{
			{what: "forwarded through the policed interface", from: wA, to: wC, proto: "tcp", port: 9090, want: true},
			{what: "forwarded through the policed interface, IPv6", from: wC, to: wA, proto: "tcp", port: 9090, v6: true, want: true},
		})
	}
	// eth0 by name, every interface, and eth0 by its addresses (no
	// interfaceName: the agent finds the interface that has them).
	for _, iface := range []string{"eth0", "*", ""} {
		name := ""
		if iface != "" {
			name = fmt.Sprintf("  interfaceName: %q\n", iface)
		}
		l.apply(fmt.Sprintf(`apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata:
  name: host1-edge
  labels:
    role: edge
spec:
  node: host1
%s  expectedIPs: [%s, %q]
`, name, h1.IPv4, h1.IPv6.String()))
		if iface == "" {
			iface = "by expectedIPs"
		}
		check("host endpoint "+iface, policed(iface))
		workloads(iface)
		// The BGP sessions stay up: 179 is a failsafe both ways.
		l.waitEstablished("host1", l.meshPeers("host1"))
		// Deleted: back to not policed (so that the next stage's
		// results are its own).
		l.delete("hostendpoint", "", "host1-edge")
		check("host endpoint "+iface+" deleted", open)
	}

	// doNotTrack and preDNAT. host1 redirects TCP 30080 to its own 7070
	// (a NodePort, as kube-proxy would do it), in a table of its own.
	l.exec("host1", "nft", "add table ip e2e-nodeport")
	l.exec("host1", "nft", "add chain ip e2e-nodeport prerouting { type nat hook prerouting priority dstnat; policy accept; }")
	l.exec("host1", "nft", "add rule ip e2e-nodeport prerouting tcp dport 30080 redirect to :7070")
	hep := fmt.Sprintf(`apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata:
  name: host1-edge
  labels:
    role: edge
spec:
  node: host1
  interfaceName: eth0
  expectedIPs: [%s, %q]
`, h1.IPv4, h1.IPv6.String())
	untracked := func(egress string) string {
		return `apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: untracked
spec:
  selector: role == 'edge'
  doNotTrack: true
  applyOnForward: true
  types: [Ingress, Egress]
  ingress:
  - {action: Allow, protocol: TCP, destination: {ports: [9090]}}
  - {action: Deny, protocol: TCP, destination: {ports: [22, 8080]}}
  egress:` + egress + "\n"
	}
	l.apply(hep + "---\n" + untracked(`
  - {action: Allow, protocol: TCP, source: {ports: [9090]}}`) + `---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: nodeports
spec:
  selector: role == 'edge'
  preDNAT: true
  applyOnForward: true
  ingress:
  - {action: Allow, protocol: TCP, destination: {ports: [30080]}}
  - {action: Deny, protocol: TCP, destination: {ports: [7070]}}
`)
	check("doNotTrack and preDNAT policies", []hp{
		{what: "untracked Allow, which normal policy would deny", from: "host2", to: h1.IPv4, port: 9090, want: true},
		{what: "untracked Allow, IPv6", from: "host2", to: h1.IPv6, port: 9090, want: true},
		{what: "untracked Deny, which normal policy would allow", from: "host2", to: h1.IPv4, port: 8080},
		{what: "failsafe SSH despite the untracked Deny", from: "host2", to: h1.IPv4, port: 22, want: true},
		{what: "failsafe etcd", from: "host2", to: h1.IPv4, port: 2379, want: true},
		{what: "preDNAT Deny", from: "host2", to: h1.IPv4, port: 7070},
		{what: "preDNAT Allow of the port before DNAT (redirected to the denied 7070)", from: "host2", to: h1.IPv4, port: 30080, want: true},
		{what: "outbound: normal policy, the untracked egress does not match", from: "host1", to: h2.IPv4, port: 8080, want: true},
		{what: "outbound: normal policy denies", from: "host1", to: h2.IPv4, port: 9090},
	})
	l.waitEstablished("host1", l.meshPeers("host1"))
	// Without its egress Allow the replies from 9090 meet normal policy,
	// which denies them: no conntrack state lets them out, so the
	// untracked Allow really did take the connection out of conntrack.
	l.apply(untracked(" []"))
	check("doNotTrack without the egress Allow", []hp{
		{what: "untracked replies are not established", from: "host2", to: h1.IPv4, port: 9090},
		{what: "preDNAT Allow still", from: "host2", to: h1.IPv4, port: 30080, want: true},
		{what: "failsafe SSH", from: "host2", to: h1.IPv4, port: 22, want: true},
	})
	l.delete("globalnetworkpolicy", "", "untracked")
	l.delete("globalnetworkpolicy", "", "nodeports")
	check("doNotTrack and preDNAT policies deleted", []hp{
		{what: "normal policy again", from: "host2", to: h1.IPv4, port: 8080, want: true},
		{what: "normal policy denies", from: "host2", to: h1.IPv4, port: 9090},
		{what: "normal policy denies the redirected port", from: "host2", to: h1.IPv4, port: 30080},
	})
}
