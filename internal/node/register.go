package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
// "autodetect" or "none". Autodetection follows the family's method,
// upstream's IP_AUTODETECTION_METHOD / IP6_AUTODETECTION_METHOD:
// first-found (the default: the first global address on an interface
// that is not a workload, tunnel, bridge or loopback interface),
// interface=REGEX,..., skip-interface=REGEX,..., can-reach=DEST or
// cidr=CIDR,....
type Addresses struct {
	IPv4       string
	IPv6       string
	IPv4Method string // "" = first-found
	IPv6Method string // "" = first-found
}

// Validate checks the autodetection methods, naming the flag and
// environment variable of a bad one.
func (a Addresses) Validate() error {
	_, _, err := a.methods()
	return err
}

func (a Addresses) methods() (v4, v6 autodetectMethod, err error) {
	if v4, err = parseAutodetectMethod(a.IPv4Method); err != nil {
		return v4, v6, fmt.Errorf("--ip-autodetection-method (env IP_AUTODETECTION_METHOD) %q: %w", a.IPv4Method, err)
	}
	if v6, err = parseAutodetectMethod(a.IPv6Method); err != nil {
		return v4, v6, fmt.Errorf("--ip6-autodetection-method (env IP6_AUTODETECTION_METHOD) %q: %w", a.IPv6Method, err)
	}
	return v4, v6, nil
}

// Interfaces that never carry the host's own address (first-found and
// skip-interface= skip them).
var skipInterfaces = regexp.MustCompile(`^(lo|docker.*|cbr.*|dummy.*|virbr.*|lxcbr.*|veth.*|cali.*|tap.*|tunl.*|flannel.*|kube-ipvs.*|cni.*|vxlan.*|vxlan-v6.*|wireguard.*|nodelocaldns.*|br-.*)$`)

// hostAddr is one address of this host, with its interface.
type hostAddr struct {
	iface  string
	prefix netip.Prefix // address with the interface's prefix length
}

func isAutodetect(setting string) bool {
	return strings.EqualFold(strings.TrimSpace(setting), "autodetect")
}

// resolve turns one family's setting into the CIDR to record ("" = none).
// detected is the autodetected address, used when the setting is
// "autodetect" (ok false: none found).
func resolve(setting string, detected netip.Prefix, ok, want6 bool) (string, error) {
	flag := "--ip"
	if want6 {
		flag = "--ip6"
	}
	switch strings.ToLower(strings.TrimSpace(setting)) {
	case "", "none":
		return "", nil
	case "autodetect":
		if !ok {
			return "", nil
		}
		return detected.String(), nil
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

// hostAddresses resolves both families' settings, autodetecting through h
// when asked to.
func hostAddresses(ctx context.Context, want Addresses, h hostNet, log *slog.Logger) (v4, v6 string, err error) {
	m4, m6, err := want.methods()
	if err != nil {
		return "", "", err
	}
	auto4, auto6 := isAutodetect(want.IPv4), isAutodetect(want.IPv6)
	// One address dump, and only when asked to autodetect: listing is
	// slow on a host with many workload interfaces.
	var addrs []hostAddr
	if auto4 || auto6 {
		if addrs, err = h.addrs(auto4, auto6); err != nil {
			return "", "", err
		}
	}
	for _, fam := range []struct {
		want6   bool
		auto    bool
		setting string
		m       autodetectMethod
		out     *string
	}{{false, auto4, want.IPv4, m4, &v4}, {true, auto6, want.IPv6, m6, &v6}} {
		var found hostAddr
		var ok bool
		if fam.auto {
			var derr error
			found, ok, derr = autodetect(ctx, h, addrs, fam.m, fam.want6)
			family := map[bool]string{false: "IPv4", true: "IPv6"}[fam.want6]
			switch {
			case derr != nil:
				log.Warn("address autodetection failed", "family", family, "method", fam.m.String(), "err", derr)
			case !ok:
				log.Warn("no address found by autodetection", "family", family, "method", fam.m.String())
			default:
				log.Info("address autodetected", "family", family, "method", fam.m.String(), "address", found.prefix.String(), "interface", found.iface)
			}
		}
		if *fam.out, err = resolve(fam.setting, found.prefix, ok, fam.want6); err != nil {
			return "", "", err
		}
	}
	return v4, v6, nil
}

// RegisterNode creates or updates this host's Node resource: its BGP
// addresses and its CalicoNodeIP addresses. Everything else in the Node
// (AS number, route reflector cluster ID, other writers' fields) is kept,
// and no other Node is touched.
func RegisterNode(ctx context.Context, c *resources.Client, name string, want Addresses, log *slog.Logger) error {
	v4, v6, err := hostAddresses(ctx, want, kernelHost{}, log)
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
