// Package calc turns the datastore's update stream into the desired state
// of this host. It is pure: no OS access, and the same updates in any
// order give the same HostState.
package calc

import (
	"slices"

	"net/netip"

	"github.com/gocalico/calico/internal/agent/config"
)

// HostState is what the dataplane should make true on this host.
type HostState struct {
	// Config is the effective agent configuration.
	Config config.Config
	// ConfigProblems are FelixConfiguration values that were ignored.
	ConfigProblems []string
	// Endpoints are this node's workload endpoints, sorted by Key,
	// including those that cannot be programmed (Program false) so that
	// their status can be reported.
	Endpoints []Endpoint
	// Blackholes are the IPAM blocks affine to this node that lie inside
	// an IP pool (IPv6 ones only with IPv6 support), sorted, IPv4 first:
	// each gets a blackhole route, so that an address of a local block
	// that no workload holds is dropped here rather than sent back to
	// the network. BGP announces the same blocks; BIRD leaves the kernel
	// routes to the agent.
	Blackholes []netip.Prefix
}

// Endpoint is one local workload endpoint as the dataplane sees it.
type Endpoint struct {
	// Key is "<namespace>/<name>" of the WorkloadEndpoint.
	Key       string
	Namespace string
	Name      string
	// Orchestrator, Workload and EndpointID identify the endpoint as
	// upstream's status keys do: Workload is the workload segment of the
	// endpoint's name (the pod for k8s, the container ID for cni, the
	// workload otherwise).
	Orchestrator string
	Workload     string
	EndpointID   string
	// InterfaceName is the host-side interface.
	InterfaceName string
	// Addrs are the addresses to route to the interface (/32 and /128),
	// sorted, IPv4 first. Addresses lost to another endpoint, invalid
	// ones, and IPv6 ones when IPv6 is off are not here.
	Addrs []netip.Prefix
	// MAC is the workload's MAC in canonical form ("ee:ee:ee:ee:ee:ee"),
	// or "" for none: then no neighbour entries are programmed.
	MAC string
	// IPv4Gateway and IPv6Gateway are the gateways the workload was told
	// to use (informational; proxy ARP/NDP answers for any address).
	IPv4Gateway netip.Addr
	IPv6Gateway netip.Addr
	// SpoofsIPv4: the workload may send from IPv4 prefixes not its own
	// (allowSpoofedSourcePrefixes, with workloadSourceSpoofing Any), so
	// its interface cannot have strict reverse-path filtering; the
	// policy table's anti-spoofing rule (own addresses and those
	// prefixes only) does that filtering instead.
	SpoofsIPv4 bool
	// Program is false when nothing may be programmed for the endpoint:
	// its interface name is missing, invalid, outside the configured
	// prefixes, or claimed by an older endpoint.
	Program bool
	// Problems say what is wrong with the endpoint's data, one sentence
	// each. An endpoint with problems is reported with status "error".
	Problems []string
}

// clone returns a copy of e that shares no slices with it.
func (e *Endpoint) clone() Endpoint {
	cp := *e
	cp.Addrs = slices.Clone(e.Addrs)
	cp.Problems = slices.Clone(e.Problems)
	return cp
}

// equal reports whether e and o describe the same desired state.
func (e *Endpoint) equal(o *Endpoint) bool {
	return e.Key == o.Key && e.Namespace == o.Namespace && e.Name == o.Name &&
		e.Orchestrator == o.Orchestrator && e.Workload == o.Workload && e.EndpointID == o.EndpointID &&
		e.InterfaceName == o.InterfaceName && e.MAC == o.MAC &&
		e.IPv4Gateway == o.IPv4Gateway && e.IPv6Gateway == o.IPv6Gateway && e.Program == o.Program &&
		e.SpoofsIPv4 == o.SpoofsIPv4 &&
		slices.Equal(e.Addrs, o.Addrs) && slices.Equal(e.Problems, o.Problems)
}
