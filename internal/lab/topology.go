package lab

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

const (
	fabricBridge = "br0"
	// uplink is the name of a host's fabric interface and of a
	// workload's interface, each inside its own namespace.
	uplink = "eth0"
)

// buildFabric makes the fabric namespace's bridge with the fabric
// addresses on it.
func buildFabric(f Fabric) error {
	h, err := handle(f.Namespace)
	if err != nil {
		return err
	}
	defer h.Close()
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: f.Bridge}}
	if err := h.LinkAdd(br); err != nil {
		return fmt.Errorf("fabric: bridge %s: %w", f.Bridge, err)
	}
	link, err := h.LinkByName(f.Bridge)
	if err != nil {
		return fmt.Errorf("fabric: bridge %s: %w", f.Bridge, err)
	}
	if err := addAddrs(h, link, prefix(f.IPv4, fabricPrefix), prefix(f.IPv6, fabric6Bits)); err != nil {
		return fmt.Errorf("fabric: %w", err)
	}
	if err := h.LinkSetUp(link); err != nil {
		return fmt.Errorf("fabric: bridge up: %w", err)
	}
	return nil
}

// plugHost joins a host namespace to the fabric bridge: a veth named after
// the host on the fabric side, eth0 in the host, the host's fabric
// addresses and default routes through the fabric's address (the default
// route is also what makes proxy ARP for workload gateways work).
func plugHost(f Fabric, host Host) error {
	fh, err := handle(f.Namespace)
	if err != nil {
		return err
	}
	defer fh.Close()
	hostNS, err := netns.GetFromName(host.Namespace)
	if err != nil {
		return fmt.Errorf("%s: namespace %s: %w", host.Name, host.Namespace, err)
	}
	defer hostNS.Close()

	br, err := fh.LinkByName(f.Bridge)
	if err != nil {
		return fmt.Errorf("%s: fabric bridge: %w", host.Name, err)
	}
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: host.Name},
		PeerName:      uplink,
		PeerNamespace: netlink.NsFd(hostNS),
	}
	if err := fh.LinkAdd(veth); err != nil {
		return fmt.Errorf("%s: veth to fabric: %w", host.Name, err)
	}
	fl, err := fh.LinkByName(host.Name)
	if err != nil {
		return fmt.Errorf("%s: fabric end: %w", host.Name, err)
	}
	if err := fh.LinkSetMaster(fl, br); err != nil {
		return fmt.Errorf("%s: fabric end into %s: %w", host.Name, f.Bridge, err)
	}
	if err := fh.LinkSetUp(fl); err != nil {
		return fmt.Errorf("%s: fabric end up: %w", host.Name, err)
	}

	hh, err := handle(host.Namespace)
	if err != nil {
		return err
	}
	defer hh.Close()
	link, err := hh.LinkByName(uplink)
	if err != nil {
		return fmt.Errorf("%s: %s: %w", host.Name, uplink, err)
	}
	if err := addAddrs(hh, link, prefix(host.IPv4, fabricPrefix), prefix(host.IPv6, fabric6Bits)); err != nil {
		return fmt.Errorf("%s: %w", host.Name, err)
	}
	if err := hh.LinkSetUp(link); err != nil {
		return fmt.Errorf("%s: %s up: %w", host.Name, uplink, err)
	}
	gws := []netip.Addr{f.IPv4}
	if host.IPv6.IsValid() {
		gws = append(gws, f.IPv6)
	}
	for _, gw := range gws {
		r := &netlink.Route{LinkIndex: link.Attrs().Index, Gw: net.IP(gw.AsSlice())}
		if err := hh.RouteAdd(r); err != nil {
			return fmt.Errorf("%s: default route via %s: %w", host.Name, gw, err)
		}
	}
	return nil
}

// plugWorkload does what a CNI plugin does for a pod: a veth from the host
// namespace (host end named w.Interface, MAC ee:ee:ee:ee:ee:ee, up) to
// eth0 in the workload namespace, with the workload's /32 and /128, and
// default routes through the gateways the host answers for.
func plugWorkload(host Host, w Workload) error {
	mac, err := net.ParseMAC(w.MAC)
	if err != nil {
		return fmt.Errorf("%s: mac %q: %w", w.Name, w.MAC, err)
	}
	wlNS, err := netns.GetFromName(w.Namespace)
	if err != nil {
		return fmt.Errorf("%s: namespace %s: %w", w.Name, w.Namespace, err)
	}
	defer wlNS.Close()
	hh, err := handle(host.Namespace)
	if err != nil {
		return err
	}
	defer hh.Close()
	veth := &netlink.Veth{
		LinkAttrs:        netlink.LinkAttrs{Name: w.Interface, HardwareAddr: hostEndMAC},
		PeerName:         uplink,
		PeerHardwareAddr: mac,
		PeerNamespace:    netlink.NsFd(wlNS),
	}
	if err := hh.LinkAdd(veth); err != nil {
		return fmt.Errorf("%s: veth %s: %w", w.Name, w.Interface, err)
	}
	hl, err := hh.LinkByName(w.Interface)
	if err != nil {
		return fmt.Errorf("%s: %s: %w", w.Name, w.Interface, err)
	}
	if err := hh.LinkSetUp(hl); err != nil {
		return fmt.Errorf("%s: %s up: %w", w.Name, w.Interface, err)
	}

	wh, err := handle(w.Namespace)
	if err != nil {
		return err
	}
	defer wh.Close()
	link, err := wh.LinkByName(uplink)
	if err != nil {
		return fmt.Errorf("%s: %s: %w", w.Name, uplink, err)
	}
	if err := wh.LinkSetUp(link); err != nil {
		return fmt.Errorf("%s: %s up: %w", w.Name, uplink, err)
	}
	if err := addAddrs(wh, link, prefix(w.IPv4, 32), prefix(w.IPv6, 128)); err != nil {
		return fmt.Errorf("%s: %w", w.Name, err)
	}
	idx := link.Attrs().Index
	routes := []*netlink.Route{{
		LinkIndex: idx,
		Gw:        net.IP(workloadGatewayIPv4.AsSlice()),
		Flags:     int(netlink.FLAG_ONLINK),
	}}
	if w.IPv6.IsValid() {
		routes = append(routes, &netlink.Route{LinkIndex: idx, Gw: net.IP(workloadGatewayIPv6.AsSlice())})
	}
	for _, r := range routes {
		if err := wh.RouteAdd(r); err != nil {
			return fmt.Errorf("%s: default route via %s: %w", w.Name, r.Gw, err)
		}
	}
	return nil
}

// unplugWorkload deletes the host end of a workload's veth (its peer goes
// with it). Already gone is success.
func unplugWorkload(host Host, w Workload) error {
	hh, err := handle(host.Namespace)
	if err != nil {
		return err
	}
	defer hh.Close()
	link, err := hh.LinkByName(w.Interface)
	var notFound netlink.LinkNotFoundError
	if errors.As(err, &notFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %s: %w", w.Name, w.Interface, err)
	}
	if err := hh.LinkDel(link); err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("%s: delete %s: %w", w.Name, w.Interface, err)
	}
	return nil
}

// prefix returns a/bits, or an invalid prefix for an invalid address.
func prefix(a netip.Addr, bits int) netip.Prefix {
	if !a.IsValid() {
		return netip.Prefix{}
	}
	return netip.PrefixFrom(a, bits)
}

// addAddrs adds the valid prefixes to link; IPv6 without duplicate address
// detection.
func addAddrs(h *netlink.Handle, link netlink.Link, pfxs ...netip.Prefix) error {
	for _, p := range pfxs {
		if !p.IsValid() {
			continue
		}
		a := &netlink.Addr{IPNet: &net.IPNet{
			IP:   net.IP(p.Addr().AsSlice()),
			Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen()),
		}}
		if p.Addr().Is6() {
			a.Flags = unix.IFA_F_NODAD
		}
		if err := h.AddrAdd(link, a); err != nil {
			return fmt.Errorf("address %s on %s: %w", p, link.Attrs().Name, err)
		}
	}
	return nil
}
