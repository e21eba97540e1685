package birdcfg

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	v3 "github.com/gocalico/calico/api/v3"
)

// nodeInfo is what the renderer needs of a Node.
type nodeInfo struct {
	name   string
	labels map[string]string
	// addr4 and addr6 are the node's BGP addresses (invalid when absent).
	addr4, addr6 netip.Addr
	// asn is the node's own AS, or the default AS.
	asn uint32
	// clusterID is the route reflector cluster id; "" when the node is
	// not a route reflector.
	clusterID string
	// port is the node's BGP listen port.
	port int
}

func (n *nodeInfo) addr(family int) netip.Addr {
	if family == 4 {
		return n.addr4
	}
	return n.addr6
}

// parseNodes reads every Node, reporting bad fields, and returns them by
// name plus the sorted names.
func (r *renderer) parseNodes() {
	r.nodes = map[string]*nodeInfo{}
	nodes := slices.DeleteFunc(slices.Clone(r.in.Nodes), func(n *v3.Node) bool { return n == nil })
	slices.SortFunc(nodes, func(a, b *v3.Node) int { return strings.Compare(a.Metadata.Name, b.Metadata.Name) })
	for _, n := range nodes {
		if n.Metadata.Name == "" {
			continue
		}
		if _, dup := r.nodes[n.Metadata.Name]; dup {
			continue
		}
		ni := &nodeInfo{name: n.Metadata.Name, labels: n.Metadata.Labels, asn: r.globalAS, port: r.listenPort(n.Metadata.Name)}
		what := fmt.Sprintf("Node %q", n.Metadata.Name)
		if b := n.Spec.BGP; b != nil {
			ni.addr4 = r.nodeAddr(what+": spec.bgp.ipv4Address", b.IPv4Address, 4)
			ni.addr6 = r.nodeAddr(what+": spec.bgp.ipv6Address", b.IPv6Address, 6)
			if b.ASNumber != nil {
				if *b.ASNumber == 0 {
					r.problem("%s: spec.bgp.asNumber 0 is not a valid AS number; using %d", what, r.globalAS)
				} else {
					ni.asn = uint32(*b.ASNumber)
				}
			}
			if id := strings.TrimSpace(b.RouteReflectorClusterID); id != "" {
				if a, err := netip.ParseAddr(id); err != nil || !a.Is4() {
					r.problem("%s: spec.bgp.routeReflectorClusterID %q is not an IPv4 address; node not treated as a route reflector", what, b.RouteReflectorClusterID)
				} else {
					ni.clusterID = a.String()
				}
			}
		}
		r.nodes[ni.name] = ni
		r.nodeNames = append(r.nodeNames, ni.name)
	}
}

// nodeAddr parses a node's BGP address: a CIDR (host bits allowed) or a
// bare address of the given family.
func (r *renderer) nodeAddr(what, s string, family int) netip.Addr {
	s = strings.TrimSpace(s)
	if s == "" {
		return netip.Addr{}
	}
	var a netip.Addr
	if p, err := netip.ParsePrefix(s); err == nil {
		a = p.Addr()
	} else if b, err := netip.ParseAddr(s); err == nil {
		a = b
	}
	a = a.Unmap()
	if !a.IsValid() || a.Zone() != "" || familyOf(a) != family || !a.IsGlobalUnicast() {
		r.problem("%s %q is not a usable IPv%d address or CIDR; ignored", what, s, family)
		return netip.Addr{}
	}
	return a
}

// listenPort returns the BGP port of the named node: its per-node
// BGPConfiguration's listenPort, else the default one's, else 179.
func (r *renderer) listenPort(node string) int {
	if c := r.in.NodeConfigs[node]; c != nil && c.ListenPort != 0 {
		return int(c.ListenPort)
	}
	if node == r.in.NodeName && r.in.PerNode != nil && r.in.PerNode.ListenPort != 0 {
		return int(r.in.PerNode.ListenPort)
	}
	if r.in.Global != nil && r.in.Global.ListenPort != 0 {
		return int(r.in.Global.ListenPort)
	}
	return DefaultPort
}

// nodeByAddr returns the node whose BGP address is a, or nil.
func (r *renderer) nodeByAddr(a netip.Addr) *nodeInfo {
	for _, name := range r.nodeNames {
		n := r.nodes[name]
		if n.addr4 == a || n.addr6 == a {
			return n
		}
	}
	return nil
}

func familyOf(a netip.Addr) int {
	if a.Is4() {
		return 4
	}
	return 6
}
