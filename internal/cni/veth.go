package cni

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"

	"github.com/gocalico/calico/internal/nsguard"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// The workload's gateways: the host answers for them (proxy ARP for IPv4;
// for IPv6 the link-local address the host end's MAC gives). The
// container gets permanent neighbour entries for them, so it never needs
// to resolve them.
var (
	GatewayIPv4 = netip.MustParseAddr("169.254.1.1")
	GatewayIPv6 = netip.MustParseAddr("fe80::ecee:eeff:feee:eeee")
	// HostVethMAC is the MAC of every host end.
	HostVethMAC = net.HardwareAddr{0xee, 0xee, 0xee, 0xee, 0xee, 0xee}
)

// EnvRefuseInitNetNS, when set, makes the calico plugin refuse to touch
// the network of any namespace but a named one (the project's test
// targets set it, so no test can program the development machine's own
// namespace by mistake). Real deployments do not set it.
const EnvRefuseInitNetNS = nsguard.Env

// refuseInitNetNS fails when EnvRefuseInitNetNS is set and this thread
// is not in a named network namespace (one under /run/netns, as tests
// and the lab make them): the machine's own namespace is never named.
func refuseInitNetNS() error {
	if os.Getenv(EnvRefuseInitNetNS) == "" {
		return nil
	}
	named, err := nsguard.Named("/proc/thread-self/ns/net")
	if err != nil {
		return err
	}
	if !named {
		return fmt.Errorf("%s is set: refusing to program a network namespace that is not a named one (/run/netns); run the plugin inside a test namespace", EnvRefuseInitNetNS)
	}
	return nil
}

// veth describes one attachment's veth pair.
type veth struct {
	HostName string       // host end, in this process's namespace
	IfName   string       // container end
	NetNS    string       // path of the container's namespace
	MTU      int          // 0: kernel default
	IPs      []netip.Addr // the container's addresses
}

func (v veth) families() (v4, v6 bool) {
	for _, a := range v.IPs {
		if a.Is4() {
			v4 = true
		} else {
			v6 = true
		}
	}
	return v4, v6
}

func isNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf) || errors.Is(err, unix.ENODEV)
}

// makePair makes the pair, the container end in its namespace, both up:
// what needs no address, so that it can be done while the addresses are
// being allocated. On failure, what it made is removed.
func (v veth) makePair() (err error) {
	cns, err := netns.GetFromPath(v.NetNS)
	if err != nil {
		return fmt.Errorf("container namespace %s: %w", v.NetNS, err)
	}
	defer cns.Close()
	if self, err := netns.GetFromPath("/proc/thread-self/ns/net"); err == nil {
		same := self.Equal(cns)
		self.Close()
		if same {
			return fmt.Errorf("CNI_NETNS %s is the plugin's own network namespace", v.NetNS)
		}
	}
	ch, err := netlink.NewHandleAt(cns)
	if err != nil {
		return fmt.Errorf("container namespace %s: %w", v.NetNS, err)
	}
	defer ch.Close()

	// A host end left by an earlier attachment of the same workload.
	if err := removeLink(v.HostName); err != nil {
		return err
	}
	pair := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: v.HostName, HardwareAddr: HostVethMAC, MTU: v.MTU},
		PeerName:      v.IfName,
		PeerMTU:       uint32(v.MTU),
		PeerNamespace: netlink.NsFd(int(cns)),
	}
	if err := netlink.LinkAdd(pair); err != nil {
		return fmt.Errorf("add veth %s (container end %s in %s): %w", v.HostName, v.IfName, v.NetNS, err)
	}
	defer func() {
		if err != nil {
			_ = removeLink(v.HostName)
		}
	}()
	host, err := netlink.LinkByName(v.HostName)
	if err != nil {
		return fmt.Errorf("veth %s: %w", v.HostName, err)
	}
	if err := netlink.LinkSetUp(host); err != nil {
		return fmt.Errorf("veth %s up: %w", v.HostName, err)
	}
	cont, err := ch.LinkByName(v.IfName)
	if err != nil {
		return fmt.Errorf("container end %s: %w", v.IfName, err)
	}
	if err := ch.LinkSetUp(cont); err != nil {
		return fmt.Errorf("container end %s up: %w", v.IfName, err)
	}
	return nil
}

// configure gives the pair made by makePair v.IPs: the host end's
// sysctls, the container's addresses, routes and gateway neighbours,
// the host's routes to the container; it returns the container end's
// MAC.
func (v veth) configure() (mac net.HardwareAddr, err error) {
	cns, err := netns.GetFromPath(v.NetNS)
	if err != nil {
		return nil, fmt.Errorf("container namespace %s: %w", v.NetNS, err)
	}
	defer cns.Close()
	ch, err := netlink.NewHandleAt(cns)
	if err != nil {
		return nil, fmt.Errorf("container namespace %s: %w", v.NetNS, err)
	}
	defer ch.Close()
	host, err := netlink.LinkByName(v.HostName)
	if err != nil {
		return nil, fmt.Errorf("veth %s: %w", v.HostName, err)
	}
	v4, v6 := v.families()
	if err := setHostSysctls(v.HostName, v4, v6); err != nil {
		return nil, err
	}
	cont, err := ch.LinkByName(v.IfName)
	if err != nil {
		return nil, fmt.Errorf("container end %s: %w", v.IfName, err)
	}
	idx := cont.Attrs().Index
	for _, a := range v.IPs {
		addr := &netlink.Addr{IPNet: ipNet(a)}
		if a.Is6() {
			addr.Flags = unix.IFA_F_NODAD
		}
		if err := ch.AddrAdd(cont, addr); err != nil {
			return nil, fmt.Errorf("container end %s: add address %s: %w", v.IfName, a, err)
		}
	}
	gws := map[bool]netip.Addr{true: GatewayIPv4, false: GatewayIPv6}
	for _, is4 := range []bool{true, false} {
		if (is4 && !v4) || (!is4 && !v6) {
			continue
		}
		gw := gws[is4]
		fam := netlink.FAMILY_V4
		if !is4 {
			fam = netlink.FAMILY_V6
		}
		if err := ch.NeighSet(&netlink.Neigh{LinkIndex: idx, Family: fam, State: netlink.NUD_PERMANENT,
			IP: net.IP(gw.AsSlice()), HardwareAddr: HostVethMAC}); err != nil {
			return nil, fmt.Errorf("container end %s: neighbour %s: %w", v.IfName, gw, err)
		}
		if is4 {
			if err := ch.RouteReplace(&netlink.Route{LinkIndex: idx, Dst: ipNet(gw), Scope: netlink.SCOPE_LINK}); err != nil {
				return nil, fmt.Errorf("container end %s: route to %s: %w", v.IfName, gw, err)
			}
		}
		if err := ch.RouteReplace(&netlink.Route{LinkIndex: idx, Dst: defaultNet(is4), Gw: net.IP(gw.AsSlice())}); err != nil {
			return nil, fmt.Errorf("container end %s: default route via %s: %w", v.IfName, gw, err)
		}
	}
	// Routes to the workload on the host (the agent programs them too;
	// adding them here makes the workload reachable at once).
	for _, a := range v.IPs {
		if err := netlink.RouteReplace(&netlink.Route{LinkIndex: host.Attrs().Index, Dst: ipNet(a), Scope: netlink.SCOPE_LINK}); err != nil {
			return nil, fmt.Errorf("host route %s dev %s: %w", a, v.HostName, err)
		}
	}
	return cont.Attrs().HardwareAddr, nil
}

func ipNet(a netip.Addr) *net.IPNet {
	n := hostNet(a)
	return &n
}

func defaultNet(v4 bool) *net.IPNet {
	if v4 {
		return &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}
	}
	return &net.IPNet{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)}
}

// setHostSysctls sets what the host end needs (as upstream's plugin
// does; the agent sets the same): forwarding, proxy ARP with no delay,
// and for IPv6 forwarding, proxy NDP and no router advertisements. Only
// ever in this process's namespace, on the interface just made.
func setHostSysctls(name string, v4, v6 bool) error {
	var s [][2]string
	if v4 {
		s = append(s,
			[2]string{"net/ipv4/conf/" + name + "/forwarding", "1"},
			[2]string{"net/ipv4/conf/" + name + "/proxy_arp", "1"},
			[2]string{"net/ipv4/neigh/" + name + "/proxy_delay", "0"},
		)
	}
	if v6 {
		s = append(s,
			[2]string{"net/ipv6/conf/" + name + "/accept_ra", "0"},
			[2]string{"net/ipv6/conf/" + name + "/forwarding", "1"},
			[2]string{"net/ipv6/conf/" + name + "/proxy_ndp", "1"},
		)
	}
	for _, kv := range s {
		p := filepath.Join("/proc/sys", kv[0])
		if err := os.WriteFile(p, []byte(kv[1]), 0o644); err != nil {
			return fmt.Errorf("sysctl %s=%s: %w", kv[0], kv[1], err)
		}
	}
	return nil
}

// removeLink deletes a link of this namespace (with a veth, its peer
// goes too). Already gone is success.
func removeLink(name string) error {
	l, err := netlink.LinkByName(name)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("look up %s: %w", name, err)
	}
	if err := netlink.LinkDel(l); err != nil && !isNotFound(err) {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	return nil
}

// check verifies both ends: the host end exists and is up; the container
// end exists, is up, holds every address and has its default routes.
func (v veth) check() error {
	host, err := netlink.LinkByName(v.HostName)
	if err != nil {
		return fmt.Errorf("host end %s: %w", v.HostName, err)
	}
	if host.Type() != "veth" {
		return fmt.Errorf("host end %s: is a %s, not a veth", v.HostName, host.Type())
	}
	if host.Attrs().Flags&net.FlagUp == 0 {
		return fmt.Errorf("host end %s: down", v.HostName)
	}
	cns, err := netns.GetFromPath(v.NetNS)
	if err != nil {
		return fmt.Errorf("container namespace %s: %w", v.NetNS, err)
	}
	defer cns.Close()
	ch, err := netlink.NewHandleAt(cns)
	if err != nil {
		return fmt.Errorf("container namespace %s: %w", v.NetNS, err)
	}
	defer ch.Close()
	cont, err := ch.LinkByName(v.IfName)
	if err != nil {
		return fmt.Errorf("container end %s: %w", v.IfName, err)
	}
	if cont.Attrs().Flags&net.FlagUp == 0 {
		return fmt.Errorf("container end %s: down", v.IfName)
	}
	if host.Attrs().ParentIndex != 0 && cont.Attrs().ParentIndex != 0 && host.Attrs().ParentIndex != cont.Attrs().Index {
		return fmt.Errorf("host end %s is not the peer of %s in %s", v.HostName, v.IfName, v.NetNS)
	}
	addrs, err := ch.AddrList(cont, netlink.FAMILY_ALL)
	if err != nil {
		return fmt.Errorf("container end %s: list addresses: %w", v.IfName, err)
	}
	var have []netip.Addr
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			have = append(have, ip.Unmap())
		}
	}
	for _, a := range v.IPs {
		if !slices.Contains(have, a) {
			return fmt.Errorf("container end %s: address %s missing (has %v)", v.IfName, a, have)
		}
	}
	v4, v6 := v.families()
	for _, want := range []struct {
		on  bool
		fam int
		gw  netip.Addr
	}{{v4, netlink.FAMILY_V4, GatewayIPv4}, {v6, netlink.FAMILY_V6, GatewayIPv6}} {
		if !want.on {
			continue
		}
		routes, err := ch.RouteList(cont, want.fam)
		if err != nil {
			return fmt.Errorf("container end %s: list routes: %w", v.IfName, err)
		}
		ok := false
		for _, r := range routes {
			if (r.Dst == nil || isDefault(r.Dst)) && r.Gw != nil && r.Gw.Equal(net.IP(want.gw.AsSlice())) {
				ok = true
			}
		}
		if !ok {
			return fmt.Errorf("container end %s: no default route via %s", v.IfName, want.gw)
		}
	}
	return nil
}

func isDefault(n *net.IPNet) bool {
	ones, _ := n.Mask.Size()
	return ones == 0 && n.IP.IsUnspecified()
}
