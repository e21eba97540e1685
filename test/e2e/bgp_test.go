package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/bgp/birdctl"
	"github.com/gocalico/calico/internal/lab"
)

// bgpConverge bounds waits for BGP sessions and routes: BIRD retries a
// connection every few seconds, so the first sessions take a while.
const bgpConverge = 60 * time.Second

// nodeStatus is `calicoctl node status -o json` as run on a host.
type nodeStatus struct {
	Running bool           `json:"running"`
	IPv4    []nodeStatusPe `json:"ipv4"`
	IPv6    []nodeStatusPe `json:"ipv6"`
}

type nodeStatusPe struct {
	PeerAddress string `json:"peerAddress"`
	PeerType    string `json:"peerType"`
	State       string `json:"state"`
	Since       string `json:"since"`
	Info        string `json:"info"`
}

func (l *testLab) nodeStatus(host string) (nodeStatus, string) {
	l.t.Helper()
	cmd, err := l.Command(l.ctx, host, "calicoctl", "node", "status", "-o", "json")
	if err != nil {
		l.t.Fatal(err)
	}
	out, err := cmd.CombinedOutput()
	var st nodeStatus
	if err != nil {
		return st, fmt.Sprintf("calicoctl node status: %v: %s", err, out)
	}
	if err := json.Unmarshal(out, &st); err != nil {
		l.t.Fatalf("calicoctl node status -o json: %v:\n%s", err, out)
	}
	return st, ""
}

// established reports whether host's BIRD has exactly the wanted peers
// (address -> peer type) and all of them are established.
func established(st nodeStatus, want map[string]string) (bool, string) {
	got := map[string]string{}
	for _, p := range append(slices.Clone(st.IPv4), st.IPv6...) {
		if p.Info != "Established" {
			return false, fmt.Sprintf("peer %s (%s) is %s %s", p.PeerAddress, p.PeerType, p.State, p.Info)
		}
		got[p.PeerAddress] = p.PeerType
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		return false, fmt.Sprintf("peers %v, want %v", got, want)
	}
	return true, ""
}

// meshPeers is what host i of n sees in a full mesh.
func (l *testLab) meshPeers(host string) map[string]string {
	want := map[string]string{}
	for _, h := range l.Hosts() {
		if h.Name == host {
			continue
		}
		for _, a := range l.hostAddrs(h.Name) {
			want[a.String()] = "node-to-node mesh"
		}
	}
	return want
}

func (l *testLab) waitEstablished(host string, want map[string]string) {
	l.t.Helper()
	d := l.eventually(bgpConverge, host+": BGP sessions established", func() (bool, string) {
		st, why := l.nodeStatus(host)
		if why != "" {
			return false, why
		}
		return established(st, want)
	})
	l.t.Logf("%s: %d BGP sessions established after %v", host, len(want), d.Round(time.Millisecond))
}

// waitMatrix waits until every workload reaches every other.
func (l *testLab) waitMatrix() {
	l.t.Helper()
	d := l.eventually(bgpConverge, "every workload reaches every other", func() (bool, string) {
		pairs, err := l.MatrixWith(l.ctx, lab.MatrixOptions{Timeout: time.Second, Parallel: 8})
		if err != nil {
			return false, err.Error()
		}
		var missing []string
		for _, p := range pairs {
			if !p.Reached {
				missing = append(missing, fmt.Sprintf("%s->%s %v", p.From, p.To, p.Families))
			}
		}
		return len(missing) == 0, strings.Join(missing, ", ")
	})
	l.t.Logf("full reachability after %v", d.Round(time.Millisecond))
}

// bgpRoute returns host's route to dst learned by BIRD (protocol bird).
func (l *testLab) bgpRoute(host string, dst netip.Addr) (netlink.Route, bool) {
	for _, r := range l.routesTo(host, dst) {
		if r.Protocol == 12 { // RTPROT_BIRD
			return r, true
		}
	}
	return netlink.Route{}, false
}

// Three hosts in a mesh: sessions established, every workload reaches
// every other across hosts over IPv4 and IPv6, remote workloads are
// routed through their host, and a peer change reconfigures BIRD without
// dropping the other sessions.
func TestPrivilegedBGPMesh(t *testing.T) {
	l := newLab(t, lab.Config{Hosts: 3, WorkloadsPerHost: 2})
	for _, h := range l.Hosts() {
		l.waitEstablished(h.Name, l.meshPeers(h.Name))
	}
	l.waitMatrix()

	// host1 routes host2's workloads through host2, learned by BGP.
	h2, _ := l.Host("host2")
	for _, a := range l.workload("host2-w1").Addrs() {
		r, ok := l.bgpRoute("host1", a)
		if !ok {
			t.Fatalf("host1 has no BGP route to %s", a)
		}
		want := h2.IPv4
		if a.Is6() {
			want = h2.IPv6
		}
		if gw, _ := netip.AddrFromSlice(r.Gw); gw.Unmap() != want {
			t.Errorf("host1: route to %s via %v, want via host2 %s", a, r.Gw, want)
		}
	}
	// Local workloads are not re-learned from BGP.
	for _, a := range l.workload("host1-w1").Addrs() {
		if r, ok := l.bgpRoute("host1", a); ok {
			t.Errorf("host1 has a BGP route to its own workload: %+v", r)
		}
	}

	// A peer change reconfigures BIRD everywhere without dropping the
	// mesh sessions: compare each session's "since" before and after.
	before := map[string]string{}
	for _, h := range l.Hosts() {
		st, _ := l.nodeStatus(h.Name)
		for _, p := range append(st.IPv4, st.IPv6...) {
			before[h.Name+" "+p.PeerAddress] = p.Since
		}
	}
	c, err := l.Client(l.ctx)
	if err != nil {
		t.Fatal(err)
	}
	// An address on the fabric that nobody has: the session stays down
	// and nothing leaves the lab.
	p := v3.NewBGPPeer()
	p.Metadata.Name = "nobody"
	p.Spec.PeerIP = "10.99.0.200"
	p.Spec.ASNumber = 65010
	if _, err := c.Create(l.ctx, p); err != nil {
		t.Fatal(err)
	}
	for _, h := range l.Hosts() {
		l.eventually(bgpConverge, h.Name+": new global peer configured", func() (bool, string) {
			st, why := l.nodeStatus(h.Name)
			if why != "" {
				return false, why
			}
			for _, p := range st.IPv4 {
				if p.PeerAddress == "10.99.0.200" && p.PeerType == "global" {
					return true, ""
				}
			}
			return false, fmt.Sprintf("%+v", st.IPv4)
		})
	}
	for _, h := range l.Hosts() {
		st, _ := l.nodeStatus(h.Name)
		for _, p := range append(st.IPv4, st.IPv6...) {
			k := h.Name + " " + p.PeerAddress
			if was, ok := before[k]; ok && (!sameSince(was, p.Since) || p.Info != "Established") {
				t.Errorf("%s: session to %s was re-established by the peer change (since %s -> %s, %s)", h.Name, p.PeerAddress, was, p.Since, p.Info)
			}
		}
	}
	l.waitMatrix()
}

// sameSince reports whether two "since" times BIRD printed for a session
// are the same moment. BIRD derives the printed time from its monotonic
// clock and the current wall-clock offset, so the same session can be
// printed a millisecond apart; a re-established session is printed at
// least the reconfiguration delay (well over 50 ms) later.
func sameSince(a, b string) bool {
	if a == b {
		return true
	}
	const layout = "15:04:05.000"
	ta, errA := time.Parse(layout, a)
	tb, errB := time.Parse(layout, b)
	if errA != nil || errB != nil {
		return false
	}
	d := tb.Sub(ta)
	return d > -50*time.Millisecond && d < 50*time.Millisecond
}

// Five hosts, mesh off, one route reflector: clients peer only with the
// reflector, and every workload still reaches every other.
func TestPrivilegedBGPRouteReflector(t *testing.T) {
	l := newLab(t, lab.Config{Hosts: 5, WorkloadsPerHost: 1, BGP: lab.BGPReflector})
	rr := map[string]string{}
	for _, a := range l.hostAddrs("host1") {
		rr[a.String()] = "node specific"
	}
	for _, h := range l.Hosts()[1:] {
		l.waitEstablished(h.Name, rr)
	}
	clients := map[string]string{}
	for _, h := range l.Hosts()[1:] {
		for _, a := range l.hostAddrs(h.Name) {
			clients[a.String()] = "node specific"
		}
	}
	l.waitEstablished("host1", clients)
	l.waitMatrix()
	// host2 learned host3's workloads through the reflector, with host3
	// as the next hop (reflection keeps it).
	h3, _ := l.Host("host3")
	r, ok := l.bgpRoute("host2", l.workload("host3-w1").IPv4)
	if !ok {
		t.Fatal("host2 has no BGP route to host3-w1")
	}
	if gw, _ := netip.AddrFromSlice(r.Gw); gw.Unmap() != h3.IPv4 {
		t.Errorf("host2: route to host3-w1 via %v, want via host3 %s", r.Gw, h3.IPv4)
	}
}

// FRR as an external router in another AS: it learns the workload routes,
// and a network it announces reaches the workloads (only through BGP:
// the fabric's gateway has no route to it).
func TestPrivilegedBGPExternalRouter(t *testing.T) {
	l := newLab(t, lab.Config{Hosts: 2, WorkloadsPerHost: 1, ExternalRouter: true})
	r, ok := l.Router()
	if !ok {
		t.Fatal("no external router")
	}
	for _, h := range l.Hosts() {
		want := l.meshPeers(h.Name)
		want[r.IPv4.String()] = "global"
		want[r.IPv6.String()] = "global"
		l.waitEstablished(h.Name, want)
	}
	for _, w := range l.Workloads() {
		h, _ := l.Host(w.Host)
		for _, a := range w.Addrs() {
			l.eventually(bgpConverge, fmt.Sprintf("the router learns %s", a), func() (bool, string) {
				for _, rt := range l.routesTo(r.Name, a) {
					gw, _ := netip.AddrFromSlice(rt.Gw)
					if gw.Unmap() == h.IPv4 || gw.Unmap() == h.IPv6 {
						return true, ""
					}
				}
				out, _ := l.RouterCommand(l.ctx, "show bgp summary")
				return false, "routes: " + fmt.Sprint(l.routesTo(r.Name, a)) + "\n" + out
			})
		}
		l.waitReach(w.Name, lab.TORAddrIPv4, lab.TORAddrIPv6)
	}
	// Host routes to the announced network are BGP routes via the router.
	if _, ok := l.bgpRouteTo("host1", lab.TORNetworkIPv4); !ok {
		t.Errorf("host1 has no BGP route to %s", lab.TORNetworkIPv4)
	}
}

func (l *testLab) bgpRouteTo(host string, dst netip.Prefix) (netlink.Route, bool) {
	l.t.Helper()
	h, err := l.Handle(host)
	if err != nil {
		l.t.Fatal(err)
	}
	defer h.Close()
	fam := netlink.FAMILY_V4
	if dst.Addr().Is6() {
		fam = netlink.FAMILY_V6
	}
	rs, err := h.RouteList(nil, fam)
	if err != nil {
		l.t.Fatal(err)
	}
	for _, r := range rs {
		if r.Dst != nil && r.Dst.String() == dst.String() && r.Protocol == 12 {
			return r, true
		}
	}
	return netlink.Route{}, false
}

// A calico-node killed with its BIRD has its routes withdrawn by its
// peers once the restart time has passed, and they come back when it is
// started again; one restarted gracefully keeps its routes in its peers
// throughout.
func TestPrivilegedBGPHostDownAndBack(t *testing.T) {
	const restart = 5 * time.Second
	l := newLab(t, lab.Config{Hosts: 3, WorkloadsPerHost: 1, NoIPv6: true, BGPRestartTime: restart})
	for _, h := range l.Hosts() {
		l.waitEstablished(h.Name, l.meshPeers(h.Name))
	}
	l.waitMatrix()
	w3 := l.workload("host3-w1")
	hasRoute := func() bool { _, ok := l.bgpRoute("host1", w3.IPv4); return ok }

	// Killed: calico-node with SIGKILL takes its BIRD with it; host1
	// withdraws the route after the restart time.
	l.eventually(bgpConverge, "host3's routes learned", func() (bool, string) { return l.recovered("host1", "Mesh_10_99_0_3") })
	if err := l.StopNode(l.ctx, "host3", syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	l.eventually(restart+bgpConverge, "host1 withdraws host3's routes", func() (bool, string) {
		return !hasRoute(), "route still there"
	})
	t.Logf("route withdrawn %v after the kill (restart time %v)", time.Since(killed).Round(time.Millisecond), restart)
	if err := l.StartNode(l.ctx, "host3"); err != nil {
		t.Fatal(err)
	}
	l.eventually(bgpConverge, "host1 learns host3's routes again", func() (bool, string) {
		return hasRoute(), "no route"
	})
	l.waitReach("host1-w1", w3.IPv4)
	l.waitReach(w3.Name, l.workload("host2-w1").IPv4)

	// Graceful: SIGTERM and start again; host1 never loses the route.
	// (Once host3's routes are fresh again: a session that fails while
	// its peer is still recovering from a restart loses the stale
	// routes, as RFC 4724 says.)
	l.eventually(bgpConverge, "host3 recovered", func() (bool, string) { return l.recovered("host1", "Mesh_10_99_0_3") })
	stop := make(chan struct{})
	lost := make(chan bool, 1)
	go func() {
		missing := false
		for {
			select {
			case <-stop:
				lost <- missing
				return
			case <-time.After(50 * time.Millisecond):
			}
			if !hasRoute() {
				missing = true
			}
		}
	}()
	if err := l.StopNode(l.ctx, "host3", syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := l.StartNode(l.ctx, "host3"); err != nil {
		t.Fatal(err)
	}
	l.waitEstablished("host3", l.meshPeers("host3"))
	close(stop)
	if <-lost {
		t.Error("host1 lost its route to host3-w1 while host3's calico-node restarted gracefully")
	}
	l.waitReach("host1-w1", w3.IPv4)
}

// recovered reports whether host's BGP session proto is established, not
// in graceful-restart recovery, and has imported routes.
func (l *testLab) recovered(host, proto string) (bool, string) {
	ctx, cancel := context.WithTimeout(l.ctx, 5*time.Second)
	defer cancel()
	c, err := birdctl.Dial(ctx, l.BIRDSocket(host))
	if err != nil {
		return false, err.Error()
	}
	defer c.Close()
	lines, err := c.Command(ctx, "show protocols all "+proto)
	if err != nil {
		return false, err.Error()
	}
	ps := birdctl.ParseProtocols(lines)
	if len(ps) != 1 {
		return false, fmt.Sprintf("%d protocols named %s", len(ps), proto)
	}
	var text []string
	for _, ln := range lines {
		text = append(text, ln.Text)
	}
	all := strings.Join(text, "\n")
	imported, _, _ := ps[0].Routes()
	if ps[0].Info != "Established" || imported == 0 || strings.Contains(all, "graceful restart active") {
		return false, all
	}
	return true, ""
}
