package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"reflect"
	"regexp"
	"slices"
	"strings"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/datastore"
	"github.com/gocalico/calico/internal/resources"
)

// Addresses says how calico-node finds this host's addresses for its Node
// resource: an explicit CIDR (host bits set, e.g. "10.0.0.5/24"),
// "autodetect" (the first global address on an interface that is not a
// workload, tunnel, bridge or loopback interface, as upstream's
// first-found method) or "none".
type Addresses struct {
	IPv4 string
	IPv6 string
}

// Interfaces that never carry the host's own address.
var skipInterfaces = regexp.MustCompile(`^(lo|docker.*|cbr.*|dummy.*|virbr.*|lxcbr.*|veth.*|cali.*|tap.*|tunl.*|flannel.*|kube-ipvs.*|cni.*|vxlan.*|vxlan-v6.*|wireguard.*|nodelocaldns.*|br-.*)$`)

// hostAddr is one address of this host, with its interface.
type hostAddr struct {
	iface  string
	prefix netip.Prefix // address with the interface's prefix length
}

// detect picks the first global address of the wanted family.
func detect(addrs []hostAddr, want6 bool) (netip.Prefix, bool) {
	for _, a := range addrs {
		ip := a.prefix.Addr()
		if skipInterfaces.MatchString(a.iface) || ip.Is6() != want6 || !ip.IsGlobalUnicast() {
			continue
		}
		return a.prefix, true
	}
	return netip.Prefix{}, false
}

func localAddrs() ([]hostAddr, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("listing interfaces: %w", err)
	}
	var out []hostAddr
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 {
			continue
		}
		as, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range as {
			if p, err := netip.ParsePrefix(a.String()); err == nil {
				out = append(out, hostAddr{iface: ifc.Name, prefix: p})
			}
		}
	}
	return out, nil
}

func isAutodetect(setting string) bool {
	return strings.EqualFold(strings.TrimSpace(setting), "autodetect")
}

// resolve turns one family's setting into the CIDR to record ("" = none).
func resolve(setting string, addrs []hostAddr, want6 bool) (string, error) {
	flag := "--ip"
	if want6 {
		flag = "--ip6"
	}
	switch strings.ToLower(strings.TrimSpace(setting)) {
	case "", "none":
		return "", nil
	case "autodetect":
		p, ok := detect(addrs, want6)
		if !ok {
			return "", nil
		}
		return p.String(), nil
	}
	p, err := netip.ParsePrefix(setting)
	if err != nil {
		a, aerr := netip.ParseAddr(setting)
		if aerr != nil {
			return "", fmt.Errorf("%s %q: want an address with prefix length (10.0.0.5/24), autodetect or none", flag, setting)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if p.Addr().Is6() != want6 {
		return "", fmt.Errorf("%s %q: wrong address family", flag, setting)
	}
	return p.String(), nil
}

// RegisterNode creates or updates this host's Node resource: its BGP
// addresses and its CalicoNodeIP addresses. Everything else in the Node
// (AS number, route reflector cluster ID, other writers' fields) is kept,
// and no other Node is touched.
func RegisterNode(ctx context.Context, c *resources.Client, name string, want Addresses, log *slog.Logger) error {
	// Listing every interface's addresses is slow on a host with many
	// workload interfaces: only do it when asked to autodetect.
	var addrs []hostAddr
	if isAutodetect(want.IPv4) || isAutodetect(want.IPv6) {
		var err error
		if addrs, err = localAddrs(); err != nil {
			return err
		}
	}
	v4, err := resolve(want.IPv4, addrs, false)
	if err != nil {
		return err
	}
	v6, err := resolve(want.IPv6, addrs, true)
	if err != nil {
		return err
	}
	for attempt := 0; attempt < 5; attempt++ {
		cur, err := c.Get(ctx, "Node", "", name)
		var n *v3.Node
		switch {
		case errors.Is(err, datastore.ErrNotFound):
			n = v3.NewNode()
			n.Metadata.Name = name
		case err != nil:
			return err
		default:
			n = cur.(*v3.Node)
		}
		if !setAddresses(n, v4, v6) && cur != nil {
			return nil
		}
		if cur == nil {
			_, err = c.Create(ctx, n)
		} else {
			_, err = c.Update(ctx, n)
		}
		if errors.Is(err, datastore.ErrExists) || errors.Is(err, datastore.ErrConflict) {
			continue
		}
		if err == nil {
			log.Info("node registered", "node", name, "ipv4", v4, "ipv6", v6)
		}
		return err
	}
	return fmt.Errorf("Node %s: too many concurrent updates", name)
}

// setAddresses records v4 and v6 in n and reports whether n changed.
func setAddresses(n *v3.Node, v4, v6 string) bool {
	before := n.DeepCopy().Spec
	if v4 != "" || v6 != "" || n.Spec.BGP != nil {
		if n.Spec.BGP == nil {
			n.Spec.BGP = &v3.NodeBGPSpec{}
		}
		n.Spec.BGP.IPv4Address = v4
		n.Spec.BGP.IPv6Address = v6
		if *n.Spec.BGP == (v3.NodeBGPSpec{}) {
			n.Spec.BGP = nil
		}
	}
	n.Spec.Addresses = slices.DeleteFunc(n.Spec.Addresses, func(a v3.NodeAddress) bool { return a.Type == "CalicoNodeIP" })
	for _, cidr := range []string{v4, v6} {
		if cidr != "" {
			n.Spec.Addresses = append(n.Spec.Addresses, v3.NodeAddress{Address: cidr, Type: "CalicoNodeIP"})
		}
	}
	if len(n.Spec.Addresses) == 0 {
		n.Spec.Addresses = nil
	}
	return !reflect.DeepEqual(before, n.Spec)
}
