package calc

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/agent/config"
)

// interfaceNameRE is upstream's rule for spec.interfaceName.
var interfaceNameRE = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,15}$`)

// candidate is an Endpoint being built, with what conflict resolution
// needs to pick winners.
type candidate struct {
	Endpoint
	created time.Time // zero when unknown
}

func (c *candidate) problem(format string, args ...any) {
	c.Problems = append(c.Problems, fmt.Sprintf(format, args...))
}

// newCandidate validates one local WorkloadEndpoint. Nothing it finds is
// fatal to the agent: bad fields are reported as problems and left out.
func newCandidate(key string, w *v3.WorkloadEndpoint, cfg *config.Config) candidate {
	s := &w.Spec
	c := candidate{
		Endpoint: Endpoint{
			Key:           key,
			Namespace:     w.Metadata.Namespace,
			Name:          w.Metadata.Name,
			Orchestrator:  s.Orchestrator,
			Workload:      workloadSegment(s),
			EndpointID:    s.Endpoint,
			InterfaceName: s.InterfaceName,
			Program:       true,
		},
		created: w.Metadata.CreationTimestamp.Time,
	}
	if ns, name, ok := strings.Cut(key, "/"); ok && c.Namespace == "" && c.Name == "" {
		c.Namespace, c.Name = ns, name
	}
	switch name := s.InterfaceName; {
	case name == "":
		c.problem("spec.interfaceName is empty; nothing programmed")
		c.Program = false
	case !interfaceNameRE.MatchString(name) || name == "." || name == "..":
		c.problem("spec.interfaceName %q is not a valid interface name; nothing programmed", name)
		c.Program = false
	case !cfg.MatchesInterface(name):
		c.problem("spec.interfaceName %q does not start with a configured interface prefix (%s); nothing programmed",
			name, strings.Join(cfg.InterfacePrefixes, ","))
		c.Program = false
	}
	for i, n := range s.IPNetworks {
		a, err := singleAddress(n)
		if err != nil {
			c.problem("spec.ipNetworks[%d] %q: %v; not routed", i, n, err)
			continue
		}
		if a.Addr().Is6() && !cfg.IPv6Support {
			continue
		}
		if !slices.Contains(c.Addrs, a) {
			c.Addrs = append(c.Addrs, a)
		}
	}
	sortPrefixes(c.Addrs)
	if s.MAC != "" {
		if mac, err := parseMAC(s.MAC); err != nil {
			c.problem("spec.mac %q: %v; no neighbour entries programmed", s.MAC, err)
		} else {
			c.MAC = mac
		}
	}
	if cfg.WorkloadSourceSpoofing {
		for _, p := range s.AllowSpoofedSourcePrefixes {
			if a, err := netip.ParsePrefix(strings.TrimSpace(p)); err == nil && a.Addr().Is4() {
				c.SpoofsIPv4 = true
			} else if a, err := netip.ParseAddr(strings.TrimSpace(p)); err == nil && a.Is4() {
				c.SpoofsIPv4 = true
			}
		}
	}
	c.IPv4Gateway = c.gateway("spec.ipv4Gateway", s.IPv4Gateway, true)
	c.IPv6Gateway = c.gateway("spec.ipv6Gateway", s.IPv6Gateway, false)
	return c
}

func (c *candidate) gateway(path, s string, v4 bool) netip.Addr {
	if s == "" {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil || a.Zone() != "" || a.Is4() != v4 || a.Is4In6() {
		c.problem("%s %q: not an IPv%s address; ignored", path, s, map[bool]string{true: "4", false: "6"}[v4])
		return netip.Addr{}
	}
	return a
}

// workloadSegment is the spec field that forms the workload segment of a
// WorkloadEndpoint's name (see v3.WorkloadEndpointName).
func workloadSegment(s *v3.WorkloadEndpointSpec) string {
	switch s.Orchestrator {
	case v3.OrchestratorKubernetes:
		return s.Pod
	case v3.OrchestratorCNI:
		return s.ContainerID
	case v3.OrchestratorLibnetwork:
		return s.Orchestrator
	}
	return s.Workload
}

// singleAddress parses one spec.ipNetworks entry: a /32 or /128 (a bare
// address is accepted as such) that can be routed to a workload.
func singleAddress(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return netip.Prefix{}, fmt.Errorf("not an address")
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("not an address")
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	a := p.Addr()
	switch {
	case !p.IsSingleIP():
		return netip.Prefix{}, fmt.Errorf("not a single address (/32 or /128)")
	case a.Is4In6():
		return netip.Prefix{}, fmt.Errorf("IPv4-mapped IPv6 address")
	case a.IsUnspecified(), a.IsLoopback(), a.IsMulticast(), a.IsLinkLocalUnicast(),
		a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return netip.Prefix{}, fmt.Errorf("a special address (unspecified, loopback, multicast, link-local or broadcast)")
	}
	return p, nil
}

// parseMAC accepts a unicast EUI-48 address and returns it canonically.
func parseMAC(s string) (string, error) {
	mac, err := net.ParseMAC(strings.TrimSpace(s))
	switch {
	case err != nil:
		return "", fmt.Errorf("not a MAC address")
	case len(mac) != 6:
		return "", fmt.Errorf("not a 6-byte Ethernet MAC address")
	case mac[0]&1 == 1:
		return "", fmt.Errorf("a multicast or broadcast MAC address")
	case slices.Equal(mac, net.HardwareAddr{0, 0, 0, 0, 0, 0}):
		return "", fmt.Errorf("the all-zero MAC address")
	}
	return mac.String(), nil
}

// sortPrefixes orders IPv4 before IPv6, then by address.
func sortPrefixes(ps []netip.Prefix) {
	slices.SortFunc(ps, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
}
