// Package birdcfg turns the datastore's BGP view (Nodes, BGPPeers,
// BGPConfigurations, IPPools, the node's IPAM block affinities) into one
// BIRD 2 configuration file for one node, covering IPv4 and IPv6.
//
// It is pure: no files, no processes, no sockets. View folds syncer
// updates; Render is a function of its Input and Options, and the same
// Input always gives a byte-identical config. docs/bgp.md explains the
// config and its filters for operators.
package birdcfg

import (
	"net/netip"

	v3 "github.com/gocalico/calico/api/v3"
)

// DefaultASNumber is the AS of a node when neither the node nor the
// default BGPConfiguration names one.
const DefaultASNumber = 64512

// DefaultRouteProtocol is the kernel route protocol of the agent's
// workload routes.
const DefaultRouteProtocol = 80

// DefaultPort is the BGP port.
const DefaultPort = 179

// Input is everything Render needs, as a snapshot that shares nothing
// mutable with the View it came from. Slices are sorted by name.
type Input struct {
	// NodeName is the node the config is for.
	NodeName string
	// Global and PerNode are the specs of the BGPConfigurations "default"
	// and "node.<NodeName>"; nil when absent.
	Global, PerNode *v3.BGPConfigurationSpec
	// NodeConfigs are the per-node BGPConfigurations of every node
	// ("node.<name>", keyed by node name), for the listen ports of peers.
	// NodeConfigs[NodeName] is PerNode.
	NodeConfigs map[string]*v3.BGPConfigurationSpec

	Nodes []*v3.Node
	Peers []*v3.BGPPeer
	Pools []*v3.IPPool

	// Blocks are the IPAM blocks affine to this node (confirmed
	// affinities), sorted, IPv4 first. Those inside an IP pool are
	// announced as one route each (a static protocol of blackhole routes
	// that never reaches the kernel: the agent programs the blackholes);
	// the node's workload routes inside them are not announced, only
	// those of addresses borrowed from another node's block.
	Blocks []netip.Prefix
}

// Options are the host-side settings that do not come from the datastore.
type Options struct {
	// RouteProtocol is the kernel route protocol number of the agent's
	// workload routes (DefaultRouteProtocol when 0): BIRD learns these
	// from the kernel and announces them.
	RouteProtocol int
	// InterfacePrefixes are the name prefixes of workload interfaces
	// (["cali"] when empty). Only kernel routes through such interfaces
	// are announced, and these interfaces are left out of the direct
	// protocol.
	InterfacePrefixes []string
	// Password resolves a BGPPassword secretKeyRef. When nil, or when it
	// fails, a session that needs a password is not configured at all
	// (never without its password) and a problem is reported.
	Password func(secretName, key string) (string, error)
}

// Result is a rendered config and what was learned on the way.
type Result struct {
	// Config is the whole bird.conf.
	Config string
	// Problems are sentences naming the resource and field, e.g.
	// `BGPPeer "rack1-tor": peerIP "10.0.0.300" is not an IP address; peer skipped`.
	// They are also written as comments at the top of Config.
	Problems []string
	// Peers are the BGP protocols in Config, in Config order.
	Peers []Peer
	// RouterID is the BGP router id.
	RouterID string
}

// Peer is one BGP protocol (session) of the config.
type Peer struct {
	// Protocol is the BIRD protocol name, e.g. "Mesh_10_99_0_2".
	Protocol string
	// Address and Port are the neighbor's.
	Address netip.Addr
	Port    int
	// Type is "node-to-node mesh", "global" or "node specific", as
	// calicoctl node status prints it.
	Type string
	// Family is 4 or 6.
	Family int
	// ASN is the neighbor's AS.
	ASN uint32
}

// Peer types, as upstream calicoctl node status prints them.
const (
	TypeMesh   = "node-to-node mesh"
	TypeGlobal = "global"
	TypeNode   = "node specific"
)
