package node

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// kernelHost is hostNet over netlink and the socket API, in the calling
// thread's network namespace.
type kernelHost struct{}

var _ hostNet = kernelHost{}

// addrs makes one link dump (for names and up state) and one address
// dump, whatever the number of interfaces.
func (kernelHost) addrs(v4, v6 bool) ([]hostAddr, error) {
	family := netlink.FAMILY_ALL
	switch {
	case v4 && !v6:
		family = netlink.FAMILY_V4
	case v6 && !v4:
		family = netlink.FAMILY_V6
	}
	links, err := netlink.LinkList()
	if err != nil {
		return nil, fmt.Errorf("listing interfaces: %w", err)
	}
	type link struct {
		name string
		up   bool
	}
	byIndex := make(map[int]link, len(links))
	for _, l := range links {
		a := l.Attrs()
		byIndex[a.Index] = link{name: a.Name, up: a.Flags&net.FlagUp != 0}
	}
	as, err := netlink.AddrList(nil, family)
	if err != nil {
		return nil, fmt.Errorf("listing addresses: %w", err)
	}
	type indexed struct {
		index int
		addr  hostAddr
	}
	var out []indexed
	for _, a := range as {
		l, ok := byIndex[a.LinkIndex]
		if !ok || !l.up || a.IPNet == nil || a.Flags&unix.IFA_F_DADFAILED != 0 {
			continue
		}
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		ones, _ := a.Mask.Size()
		out = append(out, indexed{a.LinkIndex, hostAddr{iface: l.name, prefix: netip.PrefixFrom(ip.Unmap(), ones)}})
	}
	// Interface index order, as upstream's interface listing; the
	// kernel's order within an interface.
	slices.SortStableFunc(out, func(x, y indexed) int { return x.index - y.index })
	res := make([]hostAddr, len(out))
	for i, x := range out {
		res[i] = x.addr
	}
	return res, nil
}

// sourceFor "connects" a UDP socket to dest: the kernel chooses the
// route and the source address, and no packet is sent. A host name is
// resolved first.
func (kernelHost) sourceFor(ctx context.Context, dest string, want6 bool) (netip.Addr, error) {
	network := "ip4"
	if want6 {
		network = "ip6"
	}
	ip, err := netip.ParseAddr(dest)
	if err != nil {
		ips, lerr := net.DefaultResolver.LookupNetIP(ctx, network, dest)
		if lerr != nil {
			return netip.Addr{}, fmt.Errorf("resolving %s: %w", dest, lerr)
		}
		if len(ips) == 0 {
			return netip.Addr{}, fmt.Errorf("resolving %s: no %s address", dest, network)
		}
		ip = ips[0]
	}
	ip = ip.Unmap()
	if ip.Is6() != want6 {
		return netip.Addr{}, fmt.Errorf("%s is not an %s address", dest, map[bool]string{false: "IPv4", true: "IPv6"}[want6])
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "udp", netip.AddrPortFrom(ip, 80).String())
	if err != nil {
		return netip.Addr{}, fmt.Errorf("no route to %s: %w", dest, err)
	}
	defer conn.Close()
	src := conn.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
	return src.WithZone(""), nil
}
