package node

import (
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
)

// Autodetection methods, as upstream's IP_AUTODETECTION_METHOD.
const (
	methodFirstFound    = "first-found"
	methodInterface     = "interface"
	methodSkipInterface = "skip-interface"
	methodCanReach      = "can-reach"
	methodCIDR          = "cidr"
)

// autodetectMethod is a parsed IP_AUTODETECTION_METHOD.
type autodetectMethod struct {
	kind   string
	ifaces []*regexp.Regexp // interface=, skip-interface=
	cidrs  []netip.Prefix   // cidr=
	dest   string           // can-reach=: an address or a host name
}

func (m autodetectMethod) String() string {
	switch m.kind {
	case methodInterface, methodSkipInterface:
		var rs []string
		for _, r := range m.ifaces {
			rs = append(rs, r.String())
		}
		return m.kind + "=" + strings.Join(rs, ",")
	case methodCIDR:
		var cs []string
		for _, c := range m.cidrs {
			cs = append(cs, c.String())
		}
		return m.kind + "=" + strings.Join(cs, ",")
	case methodCanReach:
		return m.kind + "=" + m.dest
	}
	return m.kind
}

const methodUsage = "want first-found, interface=REGEX[,REGEX...], skip-interface=REGEX[,REGEX...], can-reach=ADDRESS-OR-HOSTNAME or cidr=CIDR[,CIDR...]"

// parseAutodetectMethod parses a method; "" is first-found. Regexes
// match whole interface names only if anchored, as upstream's.
func parseAutodetectMethod(s string) (autodetectMethod, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == methodFirstFound {
		return autodetectMethod{kind: methodFirstFound}, nil
	}
	kind, arg, ok := strings.Cut(s, "=")
	if !ok {
		return autodetectMethod{}, fmt.Errorf("unknown method; %s", methodUsage)
	}
	m := autodetectMethod{kind: kind}
	var parts []string
	for _, p := range strings.Split(arg, ",") {
		if p = strings.TrimSpace(p); p != "" {
			parts = append(parts, p)
		}
	}
	if len(parts) == 0 {
		return autodetectMethod{}, fmt.Errorf("%s= needs a value; %s", kind, methodUsage)
	}
	switch kind {
	case methodInterface, methodSkipInterface:
		for _, p := range parts {
			re, err := regexp.Compile(p)
			if err != nil {
				return autodetectMethod{}, fmt.Errorf("%s=: bad interface regex %q: %v", kind, p, err)
			}
			m.ifaces = append(m.ifaces, re)
		}
	case methodCIDR:
		for _, p := range parts {
			c, err := netip.ParsePrefix(p)
			if err != nil {
				return autodetectMethod{}, fmt.Errorf("cidr=: %q is not a CIDR (10.0.0.0/24)", p)
			}
			m.cidrs = append(m.cidrs, c.Masked())
		}
	case methodCanReach:
		if len(parts) != 1 {
			return autodetectMethod{}, fmt.Errorf("can-reach= takes one address or host name, not %d", len(parts))
		}
		m.dest = parts[0]
	default:
		return autodetectMethod{}, fmt.Errorf("unknown method %q; %s", kind, methodUsage)
	}
	return m, nil
}

// eligible reports whether a is a global unicast address of the wanted
// family (no loopback, link-local or multicast).
func eligible(a hostAddr, want6 bool) bool {
	ip := a.prefix.Addr()
	return ip.Is6() == want6 && ip.IsGlobalUnicast()
}

// pick chooses an address from addrs (in the kernel's interface order)
// by a method other than can-reach.
func pick(addrs []hostAddr, m autodetectMethod, want6 bool) (hostAddr, bool) {
	matchAny := func(res []*regexp.Regexp, name string) bool {
		return slices.ContainsFunc(res, func(re *regexp.Regexp) bool { return re.MatchString(name) })
	}
	switch m.kind {
	case methodInterface:
		// Matching interfaces in name order; no default exclusions: the
		// operator named them.
		sorted := slices.Clone(addrs)
		slices.SortStableFunc(sorted, func(x, y hostAddr) int { return strings.Compare(x.iface, y.iface) })
		for _, a := range sorted {
			if matchAny(m.ifaces, a.iface) && eligible(a, want6) {
				return a, true
			}
		}
	case methodSkipInterface:
		for _, a := range addrs {
			if !skipInterfaces.MatchString(a.iface) && !matchAny(m.ifaces, a.iface) && eligible(a, want6) {
				return a, true
			}
		}
	case methodCIDR:
		for _, a := range addrs {
			if eligible(a, want6) && slices.ContainsFunc(m.cidrs, func(c netip.Prefix) bool { return c.Contains(a.prefix.Addr()) }) {
				return a, true
			}
		}
	default: // first-found
		for _, a := range addrs {
			if !skipInterfaces.MatchString(a.iface) && eligible(a, want6) {
				return a, true
			}
		}
	}
	return hostAddr{}, false
}

// hostNet is how autodetection sees the host. The kernel one is in
// autodetect_linux.go; tests use a fake.
type hostNet interface {
	// addrs lists the addresses of interfaces that are up, in interface
	// index order, of one family or both.
	addrs(v4, v6 bool) ([]hostAddr, error)
	// sourceFor is the source address the kernel would use to reach
	// dest (an address or a host name), sending nothing.
	sourceFor(ctx context.Context, dest string, want6 bool) (netip.Addr, error)
}

// autodetect finds this host's address of one family by m. ok is false
// when no address qualifies.
func autodetect(ctx context.Context, h hostNet, addrs []hostAddr, m autodetectMethod, want6 bool) (hostAddr, bool, error) {
	if m.kind != methodCanReach {
		a, ok := pick(addrs, m, want6)
		return a, ok, nil
	}
	src, err := h.sourceFor(ctx, m.dest, want6)
	if err != nil {
		return hostAddr{}, false, err
	}
	// The interface address (with its prefix length) that is the source.
	for _, a := range addrs {
		if a.prefix.Addr() == src {
			return a, true, nil
		}
	}
	return hostAddr{}, false, fmt.Errorf("source address %s to reach %s is on no interface that is up", src, m.dest)
}
