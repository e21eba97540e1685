package lab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vishvananda/netlink"

	v3 "github.com/gocalico/calico/api/v3"
)

// BGP topologies of a lab (Config.BGP).
const (
	// BGPMesh: every host's BIRD peers with every other (the default).
	BGPMesh = "mesh"
	// BGPReflector: the node-to-node mesh is off; the first
	// Config.RouteReflectors hosts are route reflectors (label
	// route-reflector=true, cluster ID 224.0.0.1) and every other host
	// peers only with them.
	BGPReflector = "rr"
	// BGPNone: no BGP (calico-node --networking-backend none).
	BGPNone = "none"
)

// The external router (Config.ExternalRouter): FRR in its own namespace
// on the fabric, as a top-of-rack router in another AS, peering with every
// host and announcing a network of its own (ext0, inside its namespace),
// so that workloads reach that network only through routes learned by BGP.
var (
	torIPv4 = netip.MustParseAddr("10.99.0.253")
	torIPv6 = netip.MustParseAddr("fd00:99::fd")
	// TORNetworkIPv4 and TORNetworkIPv6 are what the external router
	// announces; TORAddrIPv4/IPv6 answer inside them.
	TORNetworkIPv4 = netip.MustParsePrefix("10.98.0.0/24")
	TORNetworkIPv6 = netip.MustParsePrefix("fd00:98::/64")
	TORAddrIPv4    = netip.MustParseAddr("10.98.0.1")
	TORAddrIPv6    = netip.MustParseAddr("fd00:98::1")
)

// TORASNumber is the external router's AS; the hosts are in 64512.
const TORASNumber = 65001

// rrClusterID is the cluster ID of the lab's route reflectors.
const rrClusterID = "224.0.0.1"

// Router is the lab's external router.
type Router struct {
	Name      string     `json:"name"`
	Namespace string     `json:"namespace"`
	IPv4      netip.Addr `json:"ipv4"`
	IPv6      netip.Addr `json:"ipv6,omitzero"`
	ASNumber  int        `json:"asNumber"`
	// Dir holds FRR's configuration, sockets and PID files.
	Dir   string  `json:"dir"`
	Zebra Process `json:"zebra"`
	BGPD  Process `json:"bgpd"`
}

func torNamespace(lab string) string { return lab + "-tor" }

// birdDir is where host's calico-node keeps BIRD's files (and socket).
func birdDir(stateDir, host string) string { return filepath.Join(stateDir, "bird", host) }

// BIRDSocket returns the control socket of host's BIRD.
func (l *Lab) BIRDSocket(host string) string {
	return filepath.Join(birdDir(l.st.StateDir, host), "bird.ctl")
}

// Router returns the external router, if the lab has one.
func (l *Lab) Router() (Router, bool) {
	st := l.snapshot()
	if st.Router == nil {
		return Router{}, false
	}
	return *st.Router, true
}

// BGPMode returns the lab's BGP topology.
func (l *Lab) BGPMode() string {
	if l.st.BGP == "" {
		return BGPMesh
	}
	return l.st.BGP
}

// writeBGPConfig writes the BGP resources the topology needs before any
// calico-node starts: BGPConfiguration default (mesh on or off, a restart
// time), and the peerings of the reflector topology and of the external
// router.
func (l *Lab) writeBGPConfig(ctx context.Context, cfg Config) error {
	c, err := l.Client(ctx)
	if err != nil {
		return err
	}
	bc := v3.NewBGPConfiguration()
	bc.Metadata.Name = "default"
	mesh := cfg.BGP == BGPMesh
	bc.Spec.NodeToNodeMeshEnabled = &mesh
	if mesh && cfg.BGPRestartTime > 0 {
		bc.Spec.NodeMeshMaxRestartTime = &v3.Duration{Duration: cfg.BGPRestartTime}
	}
	if _, err := c.Apply(ctx, bc); err != nil {
		return fmt.Errorf("bgp configuration default: %w", err)
	}
	var peers []*v3.BGPPeer
	restart := func(p *v3.BGPPeer) {
		if cfg.BGPRestartTime > 0 {
			p.Spec.MaxRestartTime = &v3.Duration{Duration: cfg.BGPRestartTime}
		}
	}
	if cfg.BGP == BGPReflector {
		// As upstream's documentation sets it up: every node peers
		// with the reflectors (the reflectors with each other and,
		// in reverse, with every client).
		p := v3.NewBGPPeer()
		p.Metadata.Name = "lab-route-reflectors"
		p.Spec.NodeSelector = "all()"
		p.Spec.PeerSelector = "route-reflector == 'true'"
		restart(p)
		peers = append(peers, p)
	}
	if cfg.ExternalRouter {
		addrs := []netip.Addr{torIPv4}
		if l.st.IPv6 {
			addrs = append(addrs, torIPv6)
		}
		for i, a := range addrs {
			p := v3.NewBGPPeer()
			p.Metadata.Name = "lab-tor-v" + strconv.Itoa(4+2*i)
			p.Spec.PeerIP = a.String()
			p.Spec.ASNumber = v3.ASNumber(TORASNumber)
			restart(p)
			peers = append(peers, p)
		}
	}
	for _, p := range peers {
		if _, err := c.Apply(ctx, p); err != nil {
			return fmt.Errorf("bgp peer %s: %w", p.Metadata.Name, err)
		}
	}
	return nil
}

// makeReflectors labels the first n hosts' Node resources as route
// reflectors. It runs after they registered (calico-node keeps labels and
// BGP fields it does not own).
func (l *Lab) makeReflectors(ctx context.Context, n int) error {
	c, err := l.Client(ctx)
	if err != nil {
		return err
	}
	hosts := l.Hosts()
	for i := 0; i < n && i < len(hosts); i++ {
		name := hosts[i].Name
		for attempt := 0; ; attempt++ {
			res, err := c.Get(ctx, v3.KindNode, "", name)
			if err != nil {
				return fmt.Errorf("node %s: %w", name, err)
			}
			node := res.(*v3.Node)
			if node.Metadata.Labels == nil {
				node.Metadata.Labels = map[string]string{}
			}
			node.Metadata.Labels["route-reflector"] = "true"
			if node.Spec.BGP == nil {
				return fmt.Errorf("node %s has no BGP addresses", name)
			}
			node.Spec.BGP.RouteReflectorClusterID = rrClusterID
			if _, err = c.Update(ctx, node); err == nil {
				break
			}
			if attempt >= 5 {
				return fmt.Errorf("node %s: making it a route reflector: %w", name, err)
			}
		}
		l.step("host %s: route reflector (cluster %s)", name, rrClusterID)
	}
	return nil
}

// startRouter makes the external router's namespace (on the fabric
// bridge, with the network it announces on a veth pair inside it) and
// starts FRR's zebra and bgpd there.
func (l *Lab) startRouter(ctx context.Context) error {
	st := l.snapshot()
	r := &Router{
		Name:      "tor",
		Namespace: torNamespace(st.Name),
		IPv4:      torIPv4,
		ASNumber:  TORASNumber,
		Dir:       filepath.Join(st.StateDir, "tor"),
	}
	if st.IPv6 {
		r.IPv6 = torIPv6
	}
	for _, b := range []string{frrZebra, frrBGPD} {
		if _, err := os.Stat(b); err != nil {
			return fmt.Errorf("external router: %s not found: install frr (make deps)", b)
		}
	}
	if err := l.record(func(s *state) { s.Router = r }); err != nil {
		return err
	}
	if err := l.addNamespace(ctx, r.Namespace); err != nil {
		return err
	}
	// Plugged like a host: a veth into the fabric bridge.
	if err := plugHost(st.Fabric, Host{Name: "tor", Namespace: r.Namespace, IPv4: r.IPv4, IPv6: r.IPv6}); err != nil {
		return err
	}
	if err := addExternalNetwork(r); err != nil {
		return err
	}
	if err := os.MkdirAll(r.Dir, 0o750); err != nil {
		return fmt.Errorf("external router: %w", err)
	}
	if err := writeFRRConfig(r, st.IPv6); err != nil {
		return err
	}
	if err := chownFRR(r.Dir); err != nil {
		return err
	}
	// FRR's user must reach r.Dir: let others through the directories
	// above it (not list them).
	for _, d := range []string{RunDir, defaultDir(st.Name), st.StateDir} {
		if err := os.Chmod(d, 0o711); err != nil {
			return fmt.Errorf("external router: %w", err)
		}
	}
	zebra, err := l.startProcess(r.Namespace, frrArgv(r, frrZebra, "zebra"), l.env(), filepath.Join(st.StateDir, "logs", "tor-zebra.log"))
	if err != nil {
		return fmt.Errorf("external router: %w", err)
	}
	r.Zebra = zebra
	if err := l.record(func(s *state) { s.Router.Zebra = zebra }); err != nil {
		return err
	}
	// bgpd connects to zebra's socket: wait for it.
	if err := l.waitFor(ctx, zebra, "zebra", l.startTimeout, func(context.Context) (bool, error) {
		_, err := os.Stat(filepath.Join(r.Dir, "zserv.api"))
		return err == nil, err
	}); err != nil {
		return err
	}
	bgpd, err := l.startProcess(r.Namespace, frrArgv(r, frrBGPD, "bgpd"), l.env(), filepath.Join(st.StateDir, "logs", "tor-bgpd.log"))
	if err != nil {
		return fmt.Errorf("external router: %w", err)
	}
	if err := l.record(func(s *state) { s.Router.BGPD = bgpd }); err != nil {
		return err
	}
	l.step("external router: FRR in %s (%s, AS %d), announcing %s", r.Namespace, joinAddrs(r.IPv4, r.IPv6), r.ASNumber, TORNetworkIPv4)
	return nil
}

const (
	frrZebra = "/usr/lib/frr/zebra"
	frrBGPD  = "/usr/lib/frr/bgpd"
	frrVTYSH = "/usr/bin/vtysh"
)

// frrArgv is the command line of one FRR daemon of r: its own
// configuration and PID file in r.Dir, zebra's socket and the vty sockets
// there too (not /var/run/frr, so several labs can run at once), no TCP
// vty. They drop root for FRR's own user, which owns r.Dir.
func frrArgv(r *Router, bin, name string) []string {
	return []string{bin, "-f", filepath.Join(r.Dir, name+".conf"), "-i", filepath.Join(r.Dir, name+".pid"),
		"-z", filepath.Join(r.Dir, "zserv.api"), "--vty_socket", r.Dir, "-P", "0"}
}

// addExternalNetwork puts the network the router announces on a veth
// pair inside its namespace (no dummy devices on these kernels).
func addExternalNetwork(r *Router) error {
	h, err := handle(r.Namespace)
	if err != nil {
		return err
	}
	defer h.Close()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "ext0"}, PeerName: "ext1"}
	if err := h.LinkAdd(veth); err != nil {
		return fmt.Errorf("external router: veth ext0: %w", err)
	}
	var ext0 netlink.Link
	for _, name := range []string{"ext1", "ext0"} {
		link, err := h.LinkByName(name)
		if err != nil {
			return fmt.Errorf("external router: %s: %w", name, err)
		}
		if err := h.LinkSetUp(link); err != nil {
			return fmt.Errorf("external router: %s up: %w", name, err)
		}
		ext0 = link
	}
	pfx := []netip.Prefix{netip.PrefixFrom(TORAddrIPv4, TORNetworkIPv4.Bits())}
	if r.IPv6.IsValid() {
		pfx = append(pfx, netip.PrefixFrom(TORAddrIPv6, TORNetworkIPv6.Bits()))
	}
	if err := addAddrs(h, ext0, pfx...); err != nil {
		return fmt.Errorf("external router: %w", err)
	}
	return nil
}

// writeFRRConfig writes zebra's and bgpd's configuration: bgpd accepts
// sessions from any host on the fabric (a listen range, so hosts added
// later peer too) and announces the external network.
func writeFRRConfig(r *Router, ipv6 bool) error {
	zebra := "hostname tor\nlog stdout informational\n"
	var b strings.Builder
	fmt.Fprintf(&b, `frr defaults datacenter
hostname tor
log stdout informational
!
router bgp %d
 bgp router-id %s
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 bgp graceful-restart
 neighbor hosts peer-group
 neighbor hosts remote-as external
 neighbor hosts timers connect 1
 bgp listen range %s peer-group hosts
`, r.ASNumber, r.IPv4, netip.PrefixFrom(fabricIPv4, fabricPrefix).Masked())
	if ipv6 {
		fmt.Fprintf(&b, ` neighbor hosts6 peer-group
 neighbor hosts6 remote-as external
 neighbor hosts6 timers connect 1
 bgp listen range %s peer-group hosts6
`, netip.PrefixFrom(fabricIPv6, fabric6Bits).Masked())
	}
	fmt.Fprintf(&b, ` address-family ipv4 unicast
  network %s
  neighbor hosts activate
 exit-address-family
`, TORNetworkIPv4)
	if ipv6 {
		fmt.Fprintf(&b, ` address-family ipv6 unicast
  network %s
  neighbor hosts6 activate
 exit-address-family
`, TORNetworkIPv6)
	}
	b.WriteString("!\n")
	if err := os.WriteFile(filepath.Join(r.Dir, "zebra.conf"), []byte(zebra), 0o640); err != nil {
		return fmt.Errorf("external router: %w", err)
	}
	if err := os.WriteFile(filepath.Join(r.Dir, "bgpd.conf"), []byte(b.String()), 0o640); err != nil {
		return fmt.Errorf("external router: %w", err)
	}
	return nil
}

// chownFRR gives FRR's user the router's directory: its daemons drop
// root and write their sockets and PID files there.
func chownFRR(dir string) error {
	u, err := user.Lookup("frr")
	if err != nil {
		return fmt.Errorf("external router: user frr: %w (install frr: make deps)", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chown(p, uid, gid)
	})
}

// RouterCommand runs vtysh against the external router (e.g. "show bgp
// summary") and returns its output.
func (l *Lab) RouterCommand(ctx context.Context, command string) (string, error) {
	r, ok := l.Router()
	if !ok {
		return "", errors.New("this lab has no external router (calico-lab up --external-router)")
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", "netns", "exec", r.Namespace, frrVTYSH, "--vty_socket", r.Dir, "-c", command).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("vtysh %q: %w: %s", command, err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// BackendNone is calico-node's networking backend without BGP.
const BackendNone = "none"

func describeBGP(cfg Config) string {
	var s string
	switch cfg.BGP {
	case BGPReflector:
		s = fmt.Sprintf("node-to-node mesh off; %d route reflector(s), every other host their client", cfg.RouteReflectors)
	default:
		s = "node-to-node mesh"
	}
	if cfg.ExternalRouter {
		s += fmt.Sprintf("; every host peers with the external router %s (AS %d)", torIPv4, TORASNumber)
	}
	if cfg.BGPRestartTime > 0 {
		s += fmt.Sprintf("; restart time %s", cfg.BGPRestartTime)
	}
	return s
}
