package birdcfg

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/datastore/syncer"
	"github.com/gocalico/calico/internal/testenv"
)

// These tests run real BIRD with rendered configs between network
// namespaces of their own (a fabric namespace with a bridge and one
// namespace per node); nothing is done in the root namespace. They prove
// the filters with real routes: the agent's workload routes (proto 80 on a
// cali interface) are announced, nothing else is, nothing learned from a
// peer is passed on except by a route reflector, and BIRD's routes stay in
// the kernel when BIRD stops.

// labNode is one node of a privileged test lab.
type labNode struct {
	name, ns, addr string
	dir            string
	cmd            *exec.Cmd
}

type lab struct {
	t      *testing.T
	prefix string
	fabric string
	nodes  map[string]*labNode
	// affinities are confirmed block affinities folded in by start.
	affinities []syncer.Update
}

// affine gives node the IPAM block cidr (a confirmed affinity).
func (l *lab) affine(node, cidr string) {
	key := AffinityPrefix(node) + "ipv4/block/" + strings.Replace(cidr, "/", "-", 1)
	a, err := DecodeAffinity(key, []byte(`{"state":"confirmed"}`))
	if err != nil {
		l.t.Fatal(err)
	}
	l.affinities = append(l.affinities, syncer.Update{Type: syncer.UpdateNew, Key: key, Value: a, Revision: 1})
}

func requireRoot(t *testing.T) {
	t.Helper()
	testenv.RequireRoot(t, "creates network namespaces and runs BIRD in them")
	requireBIRD(t)
	testenv.RequireTools(t, "ip")
}

func run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// newLab makes a fabric namespace with a bridge and one namespace per
// node, each joined to the bridge by a veth "eth0" with the given
// address in 10.99.0.0/24, plus a workload interface pair cali0/wl0.
func newLab(t *testing.T, tag string, addrs map[string]string) *lab {
	l := &lab{t: t, prefix: fmt.Sprintf("bgprt-%d-%s", os.Getpid(), tag), nodes: map[string]*labNode{}}
	l.fabric = l.prefix + "-f"
	run(t, "ip", "netns", "add", l.fabric)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", l.fabric).Run() })
	run(t, "ip", "-n", l.fabric, "link", "add", "br0", "type", "bridge")
	run(t, "ip", "-n", l.fabric, "link", "set", "br0", "up")
	i := 0
	for _, name := range sortedKeys(addrs) {
		n := &labNode{name: name, ns: fmt.Sprintf("%s-%d", l.prefix, i), addr: addrs[name], dir: t.TempDir()}
		port := fmt.Sprintf("p%d", i)
		i++
		run(t, "ip", "netns", "add", n.ns)
		ns := n.ns
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
		run(t, "ip", "-n", n.ns, "link", "set", "lo", "up")
		run(t, "ip", "-n", n.ns, "link", "add", "eth0", "type", "veth", "peer", "name", port, "netns", l.fabric)
		run(t, "ip", "-n", l.fabric, "link", "set", port, "master", "br0", "up")
		run(t, "ip", "-n", n.ns, "addr", "add", n.addr+"/24", "dev", "eth0")
		run(t, "ip", "-n", n.ns, "link", "set", "eth0", "up")
		run(t, "ip", "-n", n.ns, "link", "add", "cali0", "type", "veth", "peer", "name", "wl0")
		run(t, "ip", "-n", n.ns, "link", "set", "wl0", "up")
		run(t, "ip", "-n", n.ns, "link", "set", "cali0", "up")
		l.nodes[name] = n
	}
	return l
}

func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }

// route adds a route in a node's namespace, e.g. "10.65.1.1/32 dev cali0 proto 80".
func (l *lab) route(node, spec string) {
	run(l.t, append([]string{"ip", "-n", l.nodes[node].ns, "route", "add"}, strings.Fields(spec)...)...)
}

// start renders the config of every node from resources and starts BIRD.
func (l *lab) start(resources string) {
	t := l.t
	v := NewView()
	var us []syncer.Update
	docs, err := v3.SplitDocuments([]byte(resources))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range docs {
		r, err := v3.Decode(d.Raw)
		if err != nil {
			t.Fatal(err)
		}
		us = append(us, put(t, r))
	}
	v.OnUpdates(append(us, l.affinities...))
	for _, name := range sortedKeys(map[string]string{"a": "", "b": "", "c": ""}) {
		n := l.nodes["node-"+name]
		if n == nil {
			continue
		}
		res := Render(v.Input(n.name), Options{})
		for _, p := range res.Problems {
			t.Logf("%s: problem: %s", n.name, p)
		}
		conf := filepath.Join(n.dir, "bird.conf")
		if err := os.WriteFile(conf, []byte(res.Config), 0o644); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		n.cmd = exec.CommandContext(ctx, "ip", "netns", "exec", n.ns, birdPath, "-f", "-c", conf,
			"-s", filepath.Join(n.dir, "bird.ctl"), "-P", filepath.Join(n.dir, "bird.pid"))
		logf, err := os.Create(filepath.Join(n.dir, "bird.log"))
		if err != nil {
			t.Fatal(err)
		}
		n.cmd.Stdout, n.cmd.Stderr = logf, logf
		if err := n.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmd, dir := n.cmd, n.dir
		t.Cleanup(func() {
			cancel()
			cmd.Wait()
			logf.Close()
			if t.Failed() {
				b, _ := os.ReadFile(filepath.Join(dir, "bird.log"))
				t.Logf("BIRD log of %s:\n%s", filepath.Base(dir), b)
			}
		})
	}
}

// routes returns a node's IPv4 main table as "ip route" prints it.
func (l *lab) routes(node string) string {
	return run(l.t, "ip", "-n", l.nodes[node].ns, "-4", "route", "show")
}

func (l *lab) birdc(node string, args ...string) string {
	n := l.nodes[node]
	out, _ := exec.Command("ip", append([]string{"netns", "exec", n.ns, "birdc", "-s", filepath.Join(n.dir, "bird.ctl")}, args...)...).CombinedOutput()
	return string(out)
}

// waitRoute waits until node's table has a line starting with dst and
// holding every one of want.
func (l *lab) waitRoute(node, dst string, want ...string) {
	l.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if line := routeLine(l.routes(node), dst); line != "" && containsAll(line, want) {
			return
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("%s: no route %s with %q after 30 s; routes:\n%s\nBIRD:\n%s", node, dst, want, l.routes(node), l.birdc(node, "show", "protocols", "all"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func routeLine(table, dst string) string {
	for _, l := range strings.Split(table, "\n") {
		if strings.HasPrefix(l, dst+" ") || l == dst {
			return l
		}
	}
	return ""
}

func containsAll(s string, subs []string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}

// session is the name of node's BGP protocol whose neighbor is addr.
func (l *lab) session(node, addr string) string {
	l.t.Helper()
	out := l.birdc(node, "show", "protocols", "all")
	name := ""
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) >= 2 && line[0] != ' ' && line[0] != '\t' {
			name = ""
			if f[1] == "BGP" {
				name = f[0]
			}
			continue
		}
		if f := strings.Fields(line); name != "" && len(f) == 3 && f[0] == "Neighbor" && f[1] == "address:" && f[2] == addr {
			return name
		}
	}
	l.t.Fatalf("%s: no BGP protocol with neighbor %s:\n%s", node, addr, out)
	return ""
}

// networks lists the networks of birdc "show route" output, sorted.
func networks(out string) []string {
	var nets []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || line[0] == ' ' || line[0] == '\t' {
			continue
		}
		if _, err := netip.ParsePrefix(f[0]); err == nil {
			nets = append(nets, f[0])
		}
	}
	slices.Sort(nets)
	return nets
}

// waitExchanged is the barrier before a check that something was not
// announced from one node to another. It waits until to's BIRD holds,
// from its session with from, exactly the routes from's BIRD exports on
// that session (birdc show route export: the export filter run on from's
// table as it is now), and returns that export list. Then everything
// from announces to to has arrived (BIRD writes a route to the kernel as
// it takes it in), so a route missing from to's kernel was not
// announced, and a route a wrong filter would announce is in the export
// list and in to's table, where the caller's checks find it. The caller
// first waits until from holds the routes the check is about.
func (l *lab) waitExchanged(from, to string) []string {
	l.t.Helper()
	out, in := l.session(from, l.nodes[to].addr), l.session(to, l.nodes[from].addr)
	deadline := time.Now().Add(30 * time.Second)
	for {
		exported := networks(l.birdc(from, "show", "route", "export", out))
		imported := networks(l.birdc(to, "show", "route", "protocol", in))
		if slices.Equal(exported, imported) {
			l.t.Logf("%s holds what %s exports to it: %v", to, from, exported)
			return exported
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("%s has not received what %s exports to it after 30 s: exported %v, received %v", to, from, exported, imported)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// notExported fails the test if from's export to to holds any of nets.
func (l *lab) notExported(from, to string, exported []string, nets ...string) {
	l.t.Helper()
	for _, n := range nets {
		if slices.Contains(exported, n) {
			l.t.Errorf("%s exports %s to %s (must not be announced): exports %v", from, n, to, exported)
		}
	}
}

func (l *lab) noRoute(node string, dsts ...string) {
	l.t.Helper()
	table := l.routes(node)
	for _, d := range dsts {
		if line := routeLine(table, d); strings.Contains(line, "proto bird") {
			l.t.Errorf("%s: unexpected route %q (must not be announced)", node, line)
		}
	}
}

const labPools = `
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: pool}
spec: {cidr: 10.65.0.0/16}
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: private}
spec: {cidr: 10.66.0.0/16, disableBGPExport: true}
`

func labNodes(extra map[string]string) string {
	var b strings.Builder
	for i, name := range []string{"node-a", "node-b", "node-c"} {
		fmt.Fprintf(&b, "---\napiVersion: projectcalico.org/v3\nkind: Node\nmetadata:\n  name: %s\n  labels: {name: %s}\nspec:\n  bgp: {ipv4Address: 10.99.0.%d/24%s}\n", name, name, i+1, extra[name])
	}
	return b.String()
}

var labAddrs = map[string]string{"node-a": "10.99.0.1", "node-b": "10.99.0.2", "node-c": "10.99.0.3"}

// TestPrivilegedMesh: a three-node mesh. Only node-a's workload route in
// an exported pool reaches the others; BIRD's routes survive BIRD.
func TestPrivilegedMesh(t *testing.T) {
	requireRoot(t)
	l := newLab(t, "m", labAddrs)
	l.route("node-a", "10.65.1.1/32 dev cali0 proto 80 scope link")
	l.route("node-a", "10.66.1.1/32 dev cali0 proto 80 scope link")  // disableBGPExport pool
	l.route("node-a", "10.200.0.1/32 dev cali0 proto 80 scope link") // outside every pool
	l.route("node-a", "10.65.9.0/24 via 10.99.0.3 proto static")     // not the agent's
	l.route("node-a", "10.65.8.0/24 dev eth0 proto 80")              // the agent's, but not via a workload interface
	l.route("node-c", "10.65.3.1/32 dev cali0 proto 80 scope link")
	l.start(labNodes(nil) + labPools)

	l.waitRoute("node-b", "10.65.1.1", "via 10.99.0.1", "proto bird")
	l.waitRoute("node-c", "10.65.1.1", "via 10.99.0.1", "proto bird")
	l.waitRoute("node-b", "10.65.3.1", "via 10.99.0.3", "proto bird")
	l.waitRoute("node-a", "10.65.3.1", "via 10.99.0.3", "proto bird")
	l.noRoute("node-b", "10.66.1.1", "10.200.0.1", "10.65.9.0/24", "10.65.8.0/24", "10.99.0.0/24")
	if line := routeLine(l.routes("node-a"), "10.65.1.1"); !strings.Contains(line, "dev cali0 proto 80") {
		t.Errorf("node-a: own workload route changed: %q", line)
	}
	// How BIRD 2 holds a learned kernel route: source inherit and the
	// kernel's protocol in krt_source (what the filters rely on).
	show := l.birdc("node-a", "show", "route", "10.65.1.1/32", "all")
	t.Logf("node-a: birdc show route 10.65.1.1/32 all:\n%s", show)
	if !containsAll(show, []string{"kernel_v4", "inherit", "Kernel.source: 80"}) {
		t.Errorf("node-a: kernel-learned route not shown as source inherit with Kernel.source 80:\n%s", show)
	}

	// BIRD stops, its routes stay in the kernel: on SIGTERM (a plain
	// shutdown) because of persist; on SIGINT (a graceful-restart
	// shutdown, as calico-node stops it) BIRD keeps them in any case. No
	// wait is needed: "ip
	// netns exec" execs BIRD, so Wait returns once BIRD has exited, and
	// BIRD removes the routes it does not keep before it exits.
	for node, sig := range map[string]os.Signal{"node-b": syscall.SIGTERM, "node-c": os.Interrupt} {
		n := l.nodes[node]
		n.cmd.Process.Signal(sig)
		n.cmd.Wait()
		if line := routeLine(l.routes(node), "10.65.1.1"); !strings.Contains(line, "proto bird") {
			t.Errorf("%s: route 10.65.1.1 gone after BIRD stopped on %v; routes:\n%s", node, sig, l.routes(node))
		}
	}
}

// TestPrivilegedNoReexport: mesh off, eBGP (a node AS each); node-a peers
// with node-b and node-c, which do not peer with each other. node-a must
// learn both, and pass on neither; its own workload route it announces
// to both.
func TestPrivilegedNoReexport(t *testing.T) {
	requireRoot(t)
	l := newLab(t, "x", labAddrs)
	l.route("node-a", "10.65.1.1/32 dev cali0 proto 80 scope link")
	l.route("node-b", "10.65.2.1/32 dev cali0 proto 80 scope link")
	l.route("node-c", "10.65.3.1/32 dev cali0 proto 80 scope link")
	res := labNodes(map[string]string{"node-a": ", asNumber: 65001", "node-b": ", asNumber: 65002", "node-c": ", asNumber: 65003"}) + labPools + `
---
apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata: {name: default}
spec: {nodeToNodeMeshEnabled: false}
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: {name: a-to-b-and-c}
spec:
  node: node-a
  peerSelector: name in {'node-b', 'node-c'}
`
	l.start(res)
	l.waitRoute("node-a", "10.65.2.1", "via 10.99.0.2", "proto bird")
	l.waitRoute("node-a", "10.65.3.1", "via 10.99.0.3", "proto bird")
	// node-a holds both: node-b and node-c now have everything node-a
	// exports to them, which is its own route only.
	for _, to := range []string{"node-b", "node-c"} {
		exported := l.waitExchanged("node-a", to)
		if !slices.Contains(exported, "10.65.1.1/32") {
			t.Errorf("node-a does not export its workload route to %s: exports %v", to, exported)
		}
		l.notExported("node-a", to, exported, "10.65.2.1/32", "10.65.3.1/32")
	}
	l.noRoute("node-b", "10.65.3.1")
	l.noRoute("node-c", "10.65.2.1")
}

// TestPrivilegedRouteReflector: mesh off, one AS; node-a is a route
// reflector and node-b and node-c are its clients (one BGPPeer, reverse
// sessions on the reflector). Each client learns the other's route
// through the reflector, with the original next hop.
func TestPrivilegedRouteReflector(t *testing.T) {
	requireRoot(t)
	l := newLab(t, "r", labAddrs)
	l.route("node-b", "10.65.2.1/32 dev cali0 proto 80 scope link")
	l.route("node-c", "10.65.3.1/32 dev cali0 proto 80 scope link")
	res := labNodes(map[string]string{"node-a": ", routeReflectorClusterID: 224.0.0.1"}) + labPools + `
---
apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata: {name: default}
spec: {nodeToNodeMeshEnabled: false}
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: {name: peer-with-rr}
spec:
  nodeSelector: all()
  peerSelector: name == 'node-a'
`
	l.start(res)
	l.waitRoute("node-b", "10.65.3.1", "via 10.99.0.3", "proto bird")
	l.waitRoute("node-c", "10.65.2.1", "via 10.99.0.2", "proto bird")
	l.waitRoute("node-a", "10.65.2.1", "via 10.99.0.2", "proto bird")
}

// TestPrivilegedAggregation: node-a owns block 10.65.0.0/26 and node-b
// owns 10.65.0.64/26 and has borrowed 10.65.0.10 from node-a's block. Each
// block is announced as one route; node-a's workload inside its block is
// not announced by itself, node-b's borrowed address is, and wins by
// longest-prefix match everywhere, on node-a too, over node-a's blackhole
// (programmed here by hand, as the agent does). BIRD writes no block route
// of its own into the kernel.
func TestPrivilegedAggregation(t *testing.T) {
	requireRoot(t)
	l := newLab(t, "g", labAddrs)
	l.route("node-a", "10.65.0.5/32 dev cali0 proto 80 scope link")
	l.route("node-a", "blackhole 10.65.0.0/26 proto 80")
	l.route("node-a", "10.65.7.1/32 dev cali0 proto 80 scope link") // outside its blocks: announced
	l.route("node-b", "10.65.0.70/32 dev cali0 proto 80 scope link")
	l.route("node-b", "blackhole 10.65.0.64/26 proto 80")
	l.route("node-b", "10.65.0.10/32 dev cali0 proto 80 scope link") // borrowed from node-a's block
	l.affine("node-a", "10.65.0.0/26")
	l.affine("node-a", "10.66.0.0/26") // disableBGPExport pool: not announced
	l.affine("node-b", "10.65.0.64/26")
	l.start(labNodes(nil) + labPools)

	l.waitRoute("node-c", "10.65.0.0/26", "via 10.99.0.1", "proto bird")
	l.waitRoute("node-c", "10.65.0.64/26", "via 10.99.0.2", "proto bird")
	l.waitRoute("node-c", "10.65.0.10", "via 10.99.0.2", "proto bird")
	l.waitRoute("node-c", "10.65.7.1", "via 10.99.0.1", "proto bird")
	l.waitRoute("node-a", "10.65.0.10", "via 10.99.0.2", "proto bird")
	l.waitRoute("node-a", "10.65.0.64/26", "via 10.99.0.2", "proto bird")
	l.waitRoute("node-b", "10.65.0.0/26", "via 10.99.0.1", "proto bird")
	// Every route node-a and node-b announce has arrived: what is not
	// there was not announced.
	for _, x := range [][2]string{{"node-a", "node-c"}, {"node-b", "node-c"}, {"node-a", "node-b"}, {"node-b", "node-a"}} {
		exported := l.waitExchanged(x[0], x[1])
		l.notExported(x[0], x[1], exported, "10.65.0.5/32", "10.65.0.70/32", "10.66.0.0/26")
	}
	l.noRoute("node-c", "10.65.0.5", "10.65.0.70", "10.66.0.0/26")
	l.noRoute("node-b", "10.65.0.5", "10.66.0.0/26")
	l.noRoute("node-a", "10.65.0.70")

	// Forwarding follows: node-a sends the borrowed address to node-b,
	// and drops an unallocated address of its block.
	if got := run(t, "ip", "-n", l.nodes["node-a"].ns, "route", "get", "10.65.0.10"); !strings.Contains(got, "via 10.99.0.2") {
		t.Errorf("node-a: route get 10.65.0.10 = %q, want via node-b", got)
	}
	if got := run(t, "ip", "-n", l.nodes["node-a"].ns, "-4", "route", "show", "10.65.0.0/26"); strings.TrimSpace(got) != "blackhole 10.65.0.0/26 proto 80" {
		t.Errorf("node-a: routes to its own block = %q, want only the agent's blackhole", got)
	}
	for _, n := range []string{"node-a", "node-b"} {
		for _, line := range strings.Split(l.routes(n), "\n") {
			if strings.HasPrefix(line, "blackhole") && strings.Contains(line, "proto bird") {
				t.Errorf("%s: BIRD wrote a blackhole route into the kernel: %q", n, line)
			}
		}
		// The filters meet the agent's blackhole routes (no interface)
		// without a runtime error.
		if b, _ := os.ReadFile(filepath.Join(l.nodes[n].dir, "bird.log")); strings.Contains(string(b), "error") {
			t.Errorf("%s: BIRD logged an error:\n%s", n, b)
		}
	}
	show := l.birdc("node-a", "show", "route", "export", "Mesh_10_99_0_3")
	t.Logf("node-a: birdc show route export Mesh_10_99_0_3:\n%s", show)
	if strings.Contains(show, "10.65.0.5/32") || !strings.Contains(show, "10.65.0.0/26") {
		t.Errorf("node-a exports to node-c: want 10.65.0.0/26 and not 10.65.0.5/32:\n%s", show)
	}
}
