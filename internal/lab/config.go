package lab

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"time"

	v3 "github.com/gocalico/calico/api/v3"
)

// Limits of the lab's address plan (see the package documentation).
const (
	MaxHosts            = 253
	MaxWorkloadsPerHost = 254
	// MaxNameLen keeps namespace names and socket paths short.
	MaxNameLen = 24
)

// RunDir holds one directory per lab, named after it, with the state file
// lab.json (and, unless Config.StateDir says otherwise, everything else).
const RunDir = "/run/calico-lab"

// Addresses every lab uses. Labs are isolated from each other and from
// the machine by their namespaces, so two labs may use the same ones.
var (
	fabricIPv4 = netip.MustParseAddr("10.99.0.254")
	fabricIPv6 = netip.MustParseAddr("fd00:99::fe")
	// Gateways a workload routes through: the host answers 169.254.1.1
	// by proxy ARP; fe80::ecee:eeff:feee:eeee is the link-local address
	// the host end gets from its MAC ee:ee:ee:ee:ee:ee.
	workloadGatewayIPv4 = netip.MustParseAddr("169.254.1.1")
	workloadGatewayIPv6 = netip.MustParseAddr("fe80::ecee:eeff:feee:eeee")
	hostEndMAC          = net.HardwareAddr{0xee, 0xee, 0xee, 0xee, 0xee, 0xee}
)

// Pools the lab creates; workload addresses come from them.
const (
	PoolIPv4     = "10.65.0.0/16"
	PoolIPv6     = "fd00:65::/48"
	poolNameIPv4 = "lab-ipv4"
	poolNameIPv6 = "lab-ipv6"
	fabricPrefix = 24 // 10.99.0.0/24
	fabric6Bits  = 64 // fd00:99::/64
	// WorkloadNamespace is the Kubernetes namespace of every lab
	// workload endpoint.
	WorkloadNamespace = "default"
)

// Config describes a lab to bring up.
type Config struct {
	// Name prefixes every namespace and names the state directory
	// (default "lab"): lowercase letters, digits and '-'.
	Name string
	// Hosts is how many hosts (host1..hostN) to make, 1-253.
	Hosts int
	// WorkloadsPerHost is how many workloads (hostN-w1..) each host gets
	// at start, 0-254. More can be added later (AddWorkload).
	WorkloadsPerHost int
	// StateDir holds the datastore, its socket and the logs (default
	// RunDir/<name>). The state file is always RunDir/<name>/lab.json.
	StateDir string
	// Bin is the directory holding calico-node and calicoctl.
	Bin string
	// NoIPv6 gives workloads and hosts IPv4 addresses only. (IPv6 is on
	// by default, so the zero Config is a dual-stack lab.)
	NoIPv6 bool
	// LogLevel is calico-node's --log-level (default "info").
	LogLevel string
	// Replace tears down a running lab of the same name first; without
	// it Up refuses (a stale lab, whose processes are gone, is always
	// removed).
	Replace bool
	// FelixConfiguration, when set, is written as FelixConfiguration
	// "default" before any calico-node starts (tests use it for short
	// refresh and reporting intervals).
	FelixConfiguration *v3.FelixConfigurationSpec
	// BGP is the topology: BGPMesh (default), BGPReflector or BGPNone.
	BGP string
	// RouteReflectors is how many hosts (host1..) are route reflectors
	// with BGPReflector (default 1).
	RouteReflectors int
	// ExternalRouter adds FRR as a top-of-rack router in another AS
	// (namespace <name>-tor, 10.99.0.253), peering with every host and
	// announcing TORNetworkIPv4/IPv6.
	ExternalRouter bool
	// BGPRestartTime, when set, is the graceful-restart time of every
	// session (nodeMeshMaxRestartTime, BGPPeer maxRestartTime): how long
	// peers keep a dead host's routes. Tests shorten it.
	BGPRestartTime time.Duration
	// StartTimeout bounds each wait for a process to become ready
	// (default 60s).
	StartTimeout time.Duration
	// EtcdCluster, when set, runs an etcd cluster of that many members
	// (Debian's etcd-server, 1-7) in the fabric namespace instead of the
	// embedded datastore: every lab process is given all members, so
	// losing a minority is survived (StopEtcdMember, StartEtcdMember).
	EtcdCluster int
	// ReadyTimeout bounds Up's wait for the lab to be ready: every
	// agent ready and every host holding the routes to every other
	// host's workloads (default 2m).
	ReadyTimeout time.Duration
	// CNI creates the workloads with the calico CNI plugin and Calico
	// IPAM (AddWorkloadCNI), as a container runtime does, instead of
	// with fixed addresses: their addresses come from the pools' blocks.
	CNI bool
}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)

// withDefaults fills in defaults and checks the fields that need no OS.
func (c Config) withDefaults() (Config, error) {
	if c.Name == "" {
		c.Name = "lab"
	}
	if err := ValidateName(c.Name); err != nil {
		return c, err
	}
	if c.Hosts < 1 || c.Hosts > MaxHosts {
		return c, fmt.Errorf("hosts %d: must be 1-%d", c.Hosts, MaxHosts)
	}
	if c.WorkloadsPerHost < 0 || c.WorkloadsPerHost > MaxWorkloadsPerHost {
		return c, fmt.Errorf("workloads per host %d: must be 0-%d", c.WorkloadsPerHost, MaxWorkloadsPerHost)
	}
	if c.StateDir == "" {
		c.StateDir = defaultDir(c.Name)
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
	switch c.BGP {
	case "":
		c.BGP = BGPMesh
	case BGPMesh, BGPReflector, BGPNone:
	default:
		return c, fmt.Errorf("bgp %q: want %s, %s or %s", c.BGP, BGPMesh, BGPReflector, BGPNone)
	}
	if c.BGP == BGPReflector {
		if c.RouteReflectors == 0 {
			c.RouteReflectors = 1
		}
		if c.RouteReflectors < 1 || c.RouteReflectors >= c.Hosts {
			return c, fmt.Errorf("route reflectors %d: want 1 to hosts-1 (%d)", c.RouteReflectors, c.Hosts-1)
		}
	}
	if c.ExternalRouter && c.BGP == BGPNone {
		return c, fmt.Errorf("an external router needs BGP: bgp %q", c.BGP)
	}
	if c.EtcdCluster < 0 || c.EtcdCluster > MaxEtcdMembers {
		return c, fmt.Errorf("etcd cluster of %d members: want 1-%d (0 for the embedded datastore)", c.EtcdCluster, MaxEtcdMembers)
	}
	if c.ReadyTimeout <= 0 {
		c.ReadyTimeout = 2 * time.Minute
	}
	if c.StartTimeout <= 0 {
		c.StartTimeout = time.Minute
	}
	if c.Bin == "" {
		return c, fmt.Errorf("no binary directory: set Config.Bin to the directory holding calico-node and calicoctl")
	}
	// The socket path must fit a sockaddr_un (107 bytes and a NUL).
	if s := socketPath(c.StateDir); len(s) > 107 {
		return c, fmt.Errorf("state directory %s: socket path %s is longer than 107 bytes; choose a shorter directory", c.StateDir, s)
	}
	return c, nil
}

// ValidateName checks a lab name.
func ValidateName(name string) error {
	if len(name) > MaxNameLen || !nameRE.MatchString(name) {
		return fmt.Errorf("lab name %q: want at most %d lowercase letters, digits and '-', starting with a letter", name, MaxNameLen)
	}
	return nil
}

func defaultDir(name string) string     { return RunDir + "/" + name }
func stateFile(name string) string      { return defaultDir(name) + "/lab.json" }
func socketPath(stateDir string) string { return stateDir + "/etcd.sock" }

// HostName is the node name of host i (1-based): "host1".
func HostName(i int) string { return "host" + strconv.Itoa(i) }

// WorkloadName is the name of workload j on host i: "host1-w2". It is
// also the pod name of its endpoint.
func WorkloadName(i, j int) string { return HostName(i) + "-w" + strconv.Itoa(j) }

func fabricNamespace(lab string) string             { return lab + "-fabric" }
func hostNamespace(lab string, i int) string        { return lab + "-" + HostName(i) }
func workloadNamespace(lab string, i, j int) string { return lab + "-" + WorkloadName(i, j) }

// namespaceRE matches every namespace name a lab called name may own.
func namespaceRE(name string) *regexp.Regexp {
	return regexp.MustCompile(`^` + regexp.QuoteMeta(name) + `-(fabric|tor|host[0-9]+(-w[0-9]+)?)$`)
}

// HostIPv4 and HostIPv6 are host i's addresses on the fabric.
func hostIPv4(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 99, 0, byte(i)}) }
func hostIPv6(i int) netip.Addr {
	b := fabricIPv6.As16()
	b[14], b[15] = byte(i>>8), byte(i)
	return netip.AddrFrom16(b)
}

// workloadIPv4 and workloadIPv6 are workload j of host i's addresses:
// 10.65.i.j and fd00:65::i:j.
func workloadIPv4(i, j int) netip.Addr { return netip.AddrFrom4([4]byte{10, 65, byte(i), byte(j)}) }
func workloadIPv6(i, j int) netip.Addr {
	b := netip.MustParseAddr("fd00:65::").As16()
	b[12], b[13] = byte(i>>8), byte(i)
	b[14], b[15] = byte(j>>8), byte(j)
	return netip.AddrFrom16(b)
}

// workloadMAC is the MAC of a workload's eth0, fixed in advance so that
// its endpoint can be written before the interface exists: locally
// administered, and spelling 10.65.i.j.
func workloadMAC(i, j int) net.HardwareAddr {
	return net.HardwareAddr{0x02, 0x00, 10, 65, byte(i), byte(j)}
}

// InterfaceName is the host-side interface name upstream Calico's CNI
// plugin gives a Kubernetes pod: "cali" and the first 11 hex digits of
// the SHA-1 of "<namespace>.<pod>".
func InterfaceName(namespace, pod string) string {
	sum := sha1.Sum([]byte(namespace + "." + pod))
	return "cali" + hex.EncodeToString(sum[:])[:11]
}
