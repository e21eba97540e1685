// Package nstest builds network namespaces, veth-connected workloads and
// root-namespace guards for the agent's privileged tests. Every
// namespace is named, made by `ip netns add` (never by switching a test
// thread), and deleted in t.Cleanup.
package nstest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/gocalico/calico/internal/testenv"
)

// Prefix starts the name of every namespace this package makes; the
// creating process's PID follows, so stale ones can be found.
const Prefix = "gcagt-"

// RequireRoot skips the test (fails it with CALICO_REQUIRE_PRIVILEGED=1)
// unless it runs as root with iproute2 and ping available.
func RequireRoot(t testing.TB) {
	t.Helper()
	testenv.RequireRoot(t, "creates network namespaces")
	testenv.RequireTools(t, "ip", "ping")
	removeStale(t)
}

var staleOnce sync.Once

// removeStale deletes namespaces left by test processes that died.
func removeStale(t testing.TB) {
	staleOnce.Do(func() {
		ents, _ := os.ReadDir("/run/netns")
		for _, e := range ents {
			rest, ok := strings.CutPrefix(e.Name(), Prefix)
			if !ok {
				continue
			}
			pid, err := strconv.Atoi(strings.SplitN(rest, "-", 2)[0])
			if err != nil || pid == os.Getpid() {
				continue
			}
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
				continue // its test is still running
			}
			t.Logf("removing stale namespace %s", e.Name())
			_ = exec.Command("ip", "netns", "del", e.Name()).Run()
		}
	})
}

var seq atomic.Int64

// NS is a named network namespace with a netlink handle inside it.
type NS struct {
	Name   string
	Path   string
	Handle *netlink.Handle
	ns     netns.NsHandle
}

// New makes a namespace (lo up) deleted when the test ends.
func New(t testing.TB, role string) *NS {
	t.Helper()
	name := fmt.Sprintf("%s%d-%d-%s", Prefix, os.Getpid(), seq.Add(1), role)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	n := &NS{Name: name, Path: filepath.Join("/run/netns", name)}
	t.Cleanup(func() {
		if n.Handle != nil {
			n.Handle.Close()
		}
		if n.ns.IsOpen() {
			n.ns.Close()
		}
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	var err error
	if n.ns, err = netns.GetFromPath(n.Path); err != nil {
		t.Fatalf("open %s: %v", n.Path, err)
	}
	if n.Handle, err = netlink.NewHandleAt(n.ns, unix.NETLINK_ROUTE); err != nil {
		t.Fatalf("netlink in %s: %v", name, err)
	}
	n.LinkUp(t, "lo")
	return n
}

// Fd is the namespace's file descriptor (for moving links into it).
func (n *NS) Fd() int { return int(n.ns) }

// Handle of the namespace, for subscriptions.
func (n *NS) NsHandle() netns.NsHandle { return n.ns }

// LinkUp sets a link up.
func (n *NS) LinkUp(t testing.TB, name string) {
	t.Helper()
	l, err := n.Handle.LinkByName(name)
	if err != nil {
		t.Fatalf("%s: link %s: %v", n.Name, name, err)
	}
	if err := n.Handle.LinkSetUp(l); err != nil {
		t.Fatalf("%s: set %s up: %v", n.Name, name, err)
	}
}

// AddAddr adds an address (CIDR) to a link, without duplicate address
// detection so that IPv6 addresses are usable at once.
func (n *NS) AddAddr(t testing.TB, dev, cidr string) {
	t.Helper()
	l, err := n.Handle.LinkByName(dev)
	if err != nil {
		t.Fatalf("%s: link %s: %v", n.Name, dev, err)
	}
	a, err := netlink.ParseAddr(cidr)
	if err != nil {
		t.Fatal(err)
	}
	a.Flags = unix.IFA_F_NODAD
	if err := n.Handle.AddrAdd(l, a); err != nil {
		t.Fatalf("%s: addr add %s dev %s: %v", n.Name, cidr, dev, err)
	}
}

// Run runs a command inside the namespace and returns its combined output.
func (n *NS) Run(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.Name}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// MustRun runs a command inside the namespace and fails the test on error.
func (n *NS) MustRun(t testing.TB, args ...string) string {
	t.Helper()
	out, err := n.Run(t.Context(), args...)
	if err != nil {
		t.Fatalf("%s: %s: %v: %s", n.Name, strings.Join(args, " "), err, out)
	}
	return out
}

// Uplink gives a host namespace a veth pair with addresses and default
// routes (IPv4 and IPv6) through it: proxy ARP answers for a workload's
// gateway only when the host has a route to it.
func (n *NS) Uplink(t testing.TB, v4, v6 string) {
	t.Helper()
	if err := n.Handle.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "uplink0"}, PeerName: "uplink1"}); err != nil {
		t.Fatalf("%s: add uplink: %v", n.Name, err)
	}
	n.LinkUp(t, "uplink0")
	n.LinkUp(t, "uplink1")
	n.AddAddr(t, "uplink0", v4)
	n.AddAddr(t, "uplink0", v6)
	l, _ := n.Handle.LinkByName("uplink0")
	gw4, _ := netlink.ParseAddr(v4)
	gw6, _ := netlink.ParseAddr(v6)
	for _, gw := range []net.IP{nextIP(gw4.IP), nextIP(gw6.IP)} {
		r := &netlink.Route{LinkIndex: l.Attrs().Index, Gw: gw}
		if err := n.Handle.RouteAdd(r); err != nil {
			t.Fatalf("%s: default via %s: %v", n.Name, gw, err)
		}
	}
}

func nextIP(ip net.IP) net.IP {
	out := slices.Clone(ip)
	out[len(out)-1]++
	return out
}

// HostMAC is the MAC upstream gives the host side of every workload
// interface; its IPv6 link-local address is HostLinkLocal.
var HostMAC = net.HardwareAddr{0xee, 0xee, 0xee, 0xee, 0xee, 0xee}

// HostLinkLocal is the workloads' IPv6 gateway.
const HostLinkLocal = "fe80::ecee:eeff:feee:eeee"

// Workload is a workload namespace joined to its host by a veth.
type Workload struct {
	NS    *NS
	Iface string // host side
	MAC   net.HardwareAddr
	V4    string // address, no prefix length
	V6    string
}

// NewWorkload makes a workload namespace with the given addresses; its
// veth is created with Attach.
func NewWorkload(t testing.TB, role, iface string, mac net.HardwareAddr, v4, v6 string) *Workload {
	return &Workload{NS: New(t, role), Iface: iface, MAC: mac, V4: v4, V6: v6}
}

// Attach creates the veth pair: host side named w.Iface in host (left
// down, with HostMAC: the agent sets it up), workload side eth0 in the
// workload namespace with its addresses and routes, as a CNI plugin
// would: default via 169.254.1.1 onlink and via the host's link-local.
func (w *Workload) Attach(t testing.TB, host *NS) {
	t.Helper()
	v := &netlink.Veth{
		LinkAttrs:        netlink.LinkAttrs{Name: w.Iface, HardwareAddr: HostMAC},
		PeerName:         "eth0",
		PeerHardwareAddr: w.MAC,
		PeerNamespace:    netlink.NsFd(w.NS.Fd()),
	}
	if err := host.Handle.LinkAdd(v); err != nil {
		t.Fatalf("add veth %s: %v", w.Iface, err)
	}
	h := w.NS.Handle
	w.NS.LinkUp(t, "eth0")
	w.NS.AddAddr(t, "eth0", w.V4+"/32")
	w.NS.AddAddr(t, "eth0", w.V6+"/128")
	eth0, err := h.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	idx := eth0.Attrs().Index
	for _, r := range []*netlink.Route{
		{LinkIndex: idx, Dst: mustCIDR("169.254.1.1/32"), Scope: netlink.SCOPE_LINK},
		{LinkIndex: idx, Gw: net.ParseIP("169.254.1.1"), Flags: int(netlink.FLAG_ONLINK)},
		{LinkIndex: idx, Gw: net.ParseIP(HostLinkLocal)},
	} {
		if err := h.RouteAdd(r); err != nil {
			t.Fatalf("%s: route %v: %v", w.NS.Name, r, err)
		}
	}
}

// Detach deletes the veth pair (from the host side).
func (w *Workload) Detach(t testing.TB, host *NS) {
	t.Helper()
	l, err := host.Handle.LinkByName(w.Iface)
	if err != nil {
		t.Fatalf("link %s: %v", w.Iface, err)
	}
	if err := host.Handle.LinkDel(l); err != nil {
		t.Fatalf("delete %s: %v", w.Iface, err)
	}
}

func mustCIDR(s string) *net.IPNet {
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		panic(err)
	}
	return n
}

// Ping reports whether one echo from ns to dst is answered, trying a few
// times: neighbour discovery and IPv6 DAD on the host side take a moment
// after an interface comes up.
func Ping(ctx context.Context, ns *NS, dst string) error {
	var out string
	var err error
	for range 15 {
		out, err = ns.Run(ctx, "ping", "-c", "1", "-W", "1", dst)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("ping %s from %s: %v: %s", dst, ns.Name, err, out)
}

// NoPing reports whether an echo from ns to dst goes unanswered.
func NoPing(ctx context.Context, ns *NS, dst string) error {
	out, err := ns.Run(ctx, "ping", "-c", "1", "-W", "1", dst)
	if err == nil {
		return fmt.Errorf("ping %s from %s answered: %s", dst, ns.Name, out)
	}
	return nil
}

// GuardRoot records the test process's own network namespace (its links,
// routes of every table and forwarding sysctls) and fails the test if it
// is different when the test ends.
func GuardRoot(t testing.TB) {
	t.Helper()
	before, err := rootSnapshot()
	if err != nil {
		t.Fatalf("snapshot of the root namespace: %v", err)
	}
	t.Cleanup(func() {
		after, err := rootSnapshot()
		if err != nil {
			t.Errorf("snapshot of the root namespace: %v", err)
			return
		}
		if before != after {
			t.Errorf("the root network namespace changed:\nbefore:\n%s\nafter:\n%s", before, after)
		}
	})
}

func rootSnapshot() (string, error) {
	ns, err := netns.GetFromPath("/proc/thread-self/ns/net")
	if err != nil {
		return "", err
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		return "", err
	}
	defer h.Close()
	var lines []string
	links, err := h.LinkList()
	if err != nil {
		return "", err
	}
	for _, l := range links {
		a := l.Attrs()
		lines = append(lines, fmt.Sprintf("link %s %d up=%v", a.Name, a.Index, a.Flags&net.FlagUp != 0))
	}
	routes, err := h.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return "", err
	}
	for _, r := range routes {
		lines = append(lines, fmt.Sprintf("route %v dev %d gw %v proto %d table %d type %d prio %d", r.Dst, r.LinkIndex, r.Gw, r.Protocol, r.Table, r.Type, r.Priority))
	}
	for _, p := range []string{"net/ipv4/ip_forward", "net/ipv6/conf/all/forwarding"} {
		b, _ := os.ReadFile("/proc/sys/" + p)
		lines = append(lines, "sysctl "+p+" "+string(bytes.TrimSpace(b)))
	}
	// The nftables tables and their chains (the agent's policy table
	// must never appear here).
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		return "", err
	}
	tables, err := c.ListTables()
	if err != nil {
		return "", fmt.Errorf("nftables tables: %w", err)
	}
	for _, tb := range tables {
		chains, err := c.ListChainsOfTableFamily(tb.Family)
		if err != nil {
			return "", fmt.Errorf("nftables chains: %w", err)
		}
		n := 0
		for _, ch := range chains {
			if ch.Table.Name == tb.Name {
				n++
			}
		}
		lines = append(lines, fmt.Sprintf("nftables table %d %s chains %d", tb.Family, tb.Name, n))
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n"), nil
}

// Routes lists the main table's routes of one protocol as "dst dev name",
// sorted.
func (n *NS) Routes(t testing.TB, proto int) []string {
	t.Helper()
	rs, err := n.Handle.RouteListFiltered(netlink.FAMILY_ALL,
		&netlink.Route{Table: unix.RT_TABLE_MAIN, Protocol: netlink.RouteProtocol(proto)},
		netlink.RT_FILTER_TABLE|netlink.RT_FILTER_PROTOCOL)
	if err != nil {
		t.Fatalf("%s: list routes: %v", n.Name, err)
	}
	var out []string
	for _, r := range rs {
		name := "?"
		if l, err := n.Handle.LinkByIndex(r.LinkIndex); err == nil {
			name = l.Attrs().Name
		}
		out = append(out, fmt.Sprintf("%s dev %s", r.Dst, name))
	}
	slices.Sort(out)
	return out
}

// AddRoute adds a device route (by hand, as an operator would).
func (n *NS) AddRoute(t testing.TB, dst, dev string, proto int) {
	t.Helper()
	l, err := n.Handle.LinkByName(dev)
	if err != nil {
		t.Fatalf("%s: link %s: %v", n.Name, dev, err)
	}
	scope := netlink.SCOPE_LINK
	if strings.Contains(dst, ":") {
		scope = netlink.SCOPE_UNIVERSE
	}
	r := &netlink.Route{LinkIndex: l.Attrs().Index, Dst: mustCIDR(dst), Protocol: netlink.RouteProtocol(proto), Scope: scope}
	if err := n.Handle.RouteAdd(r); err != nil {
		t.Fatalf("%s: route add %s dev %s: %v", n.Name, dst, dev, err)
	}
}

// DelRoute deletes a device route by hand.
func (n *NS) DelRoute(t testing.TB, dst, dev string) {
	t.Helper()
	l, err := n.Handle.LinkByName(dev)
	if err != nil {
		t.Fatalf("%s: link %s: %v", n.Name, dev, err)
	}
	scope := netlink.SCOPE_LINK
	if strings.Contains(dst, ":") {
		scope = netlink.SCOPE_UNIVERSE
	}
	if err := n.Handle.RouteDel(&netlink.Route{LinkIndex: l.Attrs().Index, Dst: mustCIDR(dst), Scope: scope}); err != nil {
		t.Fatalf("%s: route del %s dev %s: %v", n.Name, dst, dev, err)
	}
}

// RouteEvents streams the namespace's route changes until the test ends.
func (n *NS) RouteEvents(t testing.TB) <-chan netlink.RouteUpdate {
	t.Helper()
	ch := make(chan netlink.RouteUpdate, 1000)
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	if err := netlink.RouteSubscribeWithOptions(ch, done, netlink.RouteSubscribeOptions{Namespace: &n.ns}); err != nil {
		t.Fatalf("%s: subscribe to routes: %v", n.Name, err)
	}
	return ch
}

// Deadline is how long a privileged test may wait for the kernel before
// giving up; it only keeps a broken test from hanging.
const Deadline = 2 * time.Minute
