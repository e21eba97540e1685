package cni

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/datastore"
	"github.com/gocalico/calico/internal/datastore/etcdtest"
	"github.com/gocalico/calico/internal/ipam"
	"github.com/gocalico/calico/internal/nsthread"
	"github.com/gocalico/calico/internal/resources"
	"github.com/gocalico/calico/internal/testenv"
)

const (
	testNode    = "node-1"
	testNetwork = "k8s-pod-network"
	testPoolV4  = "10.77.0.0/16"
	testPoolV6  = "fd00:77::/48"
)

// cniEnv is one privileged test's world: the plugin binaries, an
// embedded etcd reachable by unix socket, and a "host" network namespace
// the plugins run in.
type cniEnv struct {
	t        *testing.T
	binDir   string
	socket   string
	be       datastore.Backend
	res      *resources.Client
	prefix   string // namespace name prefix of this test
	hostNS   string // name of the host namespace
	host     *nsthread.Thread
	tmp      string
	cacheDir string
}

func newCNIEnv(t *testing.T) *cniEnv {
	t.Helper()
	testenv.RequireRoot(t, "creates network namespaces and veths")
	// The plugins refuse to program the machine's own namespace.
	t.Setenv(EnvRefuseInitNetNS, "1")
	e := &cniEnv{t: t, tmp: t.TempDir()}
	e.binDir = filepath.Join(e.tmp, "bin")
	e.cacheDir = filepath.Join(e.tmp, "cache")
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = "/usr/local/go/bin/go"
	}
	for _, name := range []string{"calico", "calico-ipam"} {
		out, err := exec.Command(goBin, "build", "-o", filepath.Join(e.binDir, name), "github.com/gocalico/calico/cmd/"+name).CombinedOutput()
		if err != nil {
			t.Fatalf("go build %s: %v\n%s", name, err, out)
		}
	}
	srv, be := etcdtest.Embedded(t)
	for _, ep := range srv.Endpoints() {
		if s, ok := strings.CutPrefix(ep, "unix://"); ok {
			e.socket = s
		}
	}
	if e.socket == "" {
		t.Fatalf("embedded etcd serves no unix socket: %v", srv.Endpoints())
	}
	e.be, e.res = be, resources.New(be)
	for name, cidr := range map[string]string{"pool-v4": testPoolV4, "pool-v6": testPoolV6} {
		p := v3.NewIPPool()
		p.Metadata.Name, p.Spec.CIDR = name, cidr
		if _, err := e.res.Create(context.Background(), p); err != nil {
			t.Fatalf("create pool %s: %v", cidr, err)
		}
	}

	var rnd [3]byte
	_, _ = rand.Read(rnd[:])
	e.prefix = "cnit" + hex.EncodeToString(rnd[:])
	e.hostNS = e.newNS("host")
	h, err := netns.GetFromName(e.hostNS)
	if err != nil {
		t.Fatal(err)
	}
	e.host, err = nsthread.Start(h)
	h.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.host.Stop)
	// The host routes between its workloads: forwarding on, and an
	// address of its own (on lo) to source ARP requests from.
	e.inHost(func() error {
		if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644); err != nil {
			return err
		}
		if err := os.WriteFile("/proc/sys/net/ipv6/conf/all/forwarding", []byte("1"), 0o644); err != nil {
			return err
		}
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		return netlink.AddrAdd(lo, &netlink.Addr{IPNet: ipNet(netip.MustParseAddr("10.99.0.1"))})
	})
	return e
}

// newNS creates a named namespace (removed by t.Cleanup) with lo up.
func (e *cniEnv) newNS(suffix string) string {
	e.t.Helper()
	name := e.prefix + "-" + suffix
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		e.t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	e.t.Cleanup(func() { delNS(name) })
	if out, err := exec.Command("ip", "-n", name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		e.t.Fatalf("ip -n %s link set lo up: %v: %s", name, err, out)
	}
	return name
}

func delNS(name string) {
	if _, err := os.Stat("/run/netns/" + name); err == nil {
		_ = exec.Command("ip", "netns", "del", name).Run()
	}
}

// inHost runs f on a thread inside the host namespace.
func (e *cniEnv) inHost(f func() error) {
	e.t.Helper()
	if err := e.host.Do(f); err != nil {
		e.t.Fatal(err)
	}
}

// confList is the network configuration with the given ipam section.
func (e *cniEnv) confList(cniVersion string, ipamConf map[string]any, extra ...map[string]any) *libcni.NetworkConfigList {
	e.t.Helper()
	plugin := map[string]any{
		"type":             "calico",
		"nodename":         testNode,
		"datastore_socket": e.socket,
		"ipam_lock_file":   filepath.Join(e.tmp, "ipam.lock"),
		"log_level":        "info",
		"log_file_path":    filepath.Join(e.tmp, "cni.log"),
		"ipam":             ipamConf,
	}
	for _, m := range extra {
		maps.Copy(plugin, m)
	}
	b, err := json.Marshal(map[string]any{"cniVersion": cniVersion, "name": testNetwork, "plugins": []any{plugin}})
	if err != nil {
		e.t.Fatal(err)
	}
	l, err := libcni.NetworkConfFromBytes(b)
	if err != nil {
		e.t.Fatal(err)
	}
	return l
}

func (e *cniEnv) calicoIPAM(assign6 bool, extra ...map[string]any) *libcni.NetworkConfigList {
	return e.confList("1.1.0", map[string]any{
		"type": "calico-ipam", "assign_ipv4": "true", "assign_ipv6": fmt.Sprint(assign6),
		"ipv4_pools": []string{testPoolV4}, "ipv6_pools": []string{testPoolV6},
	}, extra...)
}

func (e *cniEnv) cni() *libcni.CNIConfig {
	return libcni.NewCNIConfigWithCacheDir([]string{e.binDir, "/usr/lib/cni"}, e.cacheDir, nil)
}

// container is one container's namespace and runtime config.
type container struct {
	ns string
	rt *libcni.RuntimeConf
}

func (e *cniEnv) newContainer(suffix, podNamespace, pod string) container {
	ns := e.newNS(suffix)
	var id [8]byte
	_, _ = rand.Read(id[:])
	rt := &libcni.RuntimeConf{ContainerID: hex.EncodeToString(id[:]), NetNS: "/run/netns/" + ns, IfName: "eth0"}
	if pod != "" {
		rt.Args = [][2]string{{"K8S_POD_NAMESPACE", podNamespace}, {"K8S_POD_NAME", pod}, {"K8S_POD_INFRA_CONTAINER_ID", rt.ContainerID}}
	}
	return container{ns: ns, rt: rt}
}

// add runs ADD in the host namespace.
func (e *cniEnv) add(cfg *libcni.NetworkConfigList, c container) *types100.Result {
	e.t.Helper()
	var res *types100.Result
	e.inHost(func() error {
		r, err := e.cni().AddNetworkList(context.Background(), cfg, c.rt)
		if err != nil {
			return fmt.Errorf("ADD %s: %w", c.rt.ContainerID, err)
		}
		res, err = types100.NewResultFromResult(r)
		return err
	})
	return res
}

func (e *cniEnv) del(cfg *libcni.NetworkConfigList, c container) {
	e.t.Helper()
	e.inHost(func() error {
		if err := e.cni().DelNetworkList(context.Background(), cfg, c.rt); err != nil {
			return fmt.Errorf("DEL %s: %w", c.rt.ContainerID, err)
		}
		return nil
	})
}

func (e *cniEnv) check(cfg *libcni.NetworkConfigList, c container) error {
	var err error
	_ = e.host.Do(func() error {
		err = e.cni().CheckNetworkList(context.Background(), cfg, c.rt)
		return nil
	})
	return err
}

func (e *cniEnv) handleIPs(containerID string) []netip.Addr {
	e.t.Helper()
	ips, err := ipam.New(e.be, nil).IPsByHandle(context.Background(), HandleID(testNetwork, containerID))
	if err != nil && !errors.Is(err, datastore.ErrNotFound) {
		e.t.Fatal(err)
	}
	return ips
}

func (e *cniEnv) wep(namespace, name string) *v3.WorkloadEndpoint {
	e.t.Helper()
	w, err := getWEP(context.Background(), e.res, namespace, name)
	if err != nil {
		e.t.Fatal(err)
	}
	return w
}

// hostLink returns the host namespace's link, nil when absent.
func (e *cniEnv) hostLink(name string) netlink.Link {
	e.t.Helper()
	var l netlink.Link
	e.inHost(func() error {
		var err error
		l, err = netlink.LinkByName(name)
		if isNotFound(err) {
			l, err = nil, nil
		}
		return err
	})
	return l
}

func (e *cniEnv) hostSysctl(path string) string {
	e.t.Helper()
	var v string
	e.inHost(func() error {
		b, err := os.ReadFile(filepath.Join("/proc/sys", path))
		v = strings.TrimSpace(string(b))
		return err
	})
	return v
}

// rootCaliLinks lists cali* links of the test process's own namespace
// (every thread but nsthread's is in it), which the plugins must never
// touch.
func rootCaliLinks(t *testing.T) []string {
	t.Helper()
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range links {
		if strings.HasPrefix(l.Attrs().Name, "cali") {
			out = append(out, l.Attrs().Name)
		}
	}
	slices.Sort(out)
	return out
}

// containerState is what a container namespace holds on eth0.
type containerState struct {
	addrs  []netip.Addr
	routes []string // "dst via gw"
	neighs []string // "ip lladdr mac permanent"
	mac    string
	mtu    int
}

func (e *cniEnv) containerState(ns string) containerState {
	e.t.Helper()
	h, err := netns.GetFromName(ns)
	if err != nil {
		e.t.Fatal(err)
	}
	defer h.Close()
	nh, err := netlink.NewHandleAt(h)
	if err != nil {
		e.t.Fatal(err)
	}
	defer nh.Close()
	l, err := nh.LinkByName("eth0")
	if err != nil {
		e.t.Fatalf("%s: eth0: %v", ns, err)
	}
	var s containerState
	s.mac, s.mtu = l.Attrs().HardwareAddr.String(), l.Attrs().MTU
	addrs, _ := nh.AddrList(l, netlink.FAMILY_ALL)
	for _, a := range addrs {
		ip, _ := netip.AddrFromSlice(a.IP)
		if ip.Unmap().IsLinkLocalUnicast() {
			continue
		}
		ones, _ := a.Mask.Size()
		if ones != ip.Unmap().BitLen() {
			e.t.Errorf("%s: address %s has prefix length %d, want a host address", ns, a.IPNet, ones)
		}
		s.addrs = append(s.addrs, ip.Unmap())
	}
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		routes, _ := nh.RouteList(l, fam)
		for _, r := range routes {
			if r.Gw == nil {
				continue
			}
			dst := "default"
			if r.Dst != nil && !isDefault(r.Dst) {
				dst = r.Dst.String()
			}
			s.routes = append(s.routes, dst+" via "+r.Gw.String())
		}
		neighs, _ := nh.NeighList(l.Attrs().Index, fam)
		for _, n := range neighs {
			if n.State&netlink.NUD_PERMANENT != 0 {
				s.neighs = append(s.neighs, n.IP.String()+" lladdr "+n.HardwareAddr.String()+" permanent")
			}
		}
	}
	return s
}

func TestPrivilegedAddCheckDel(t *testing.T) {
	e := newCNIEnv(t)
	rootBefore := rootCaliLinks(t)
	// The runtime's labels (args.cni.labels, as the CNI conventions have
	// them) become the endpoint's.
	cfg := e.calicoIPAM(false, map[string]any{"args": map[string]any{"cni": map[string]any{
		"labels": []map[string]string{{"key": "app", "value": "web"}, {"key": "tier", "value": "frontend"}}}}})
	c := e.newContainer("c1", "prod", "web-1")

	res := e.add(cfg, c)
	if len(res.IPs) != 1 || res.IPs[0].Interface == nil || *res.IPs[0].Interface != 1 {
		t.Fatalf("ADD result IPs = %v, want one address on interface 1", res.IPs)
	}
	ip, _ := netip.AddrFromSlice(res.IPs[0].Address.IP)
	ip = ip.Unmap()
	if ones, _ := res.IPs[0].Address.Mask.Size(); ones != 32 || !netip.MustParsePrefix(testPoolV4).Contains(ip) {
		t.Errorf("ADD result address %s: want a /32 in %s", &res.IPs[0].Address, testPoolV4)
	}
	veth := VethNameForPod("prod", "web-1")
	if len(res.Interfaces) != 2 || res.Interfaces[0].Name != veth || res.Interfaces[1].Name != "eth0" || res.Interfaces[1].Sandbox != c.rt.NetNS {
		t.Errorf("ADD result interfaces: %v", res.Interfaces)
	}
	if len(res.Routes) != 1 || res.Routes[0].String() != (&types.Route{Dst: *defaultNet(true), GW: net.ParseIP("169.254.1.1")}).String() {
		t.Errorf("ADD result routes: %v, want default via 169.254.1.1", res.Routes)
	}

	// The host end: up, ee:ee:ee:ee:ee:ee, a route to the workload, the
	// sysctls set.
	hl := e.hostLink(veth)
	if hl == nil {
		t.Fatalf("host namespace has no %s", veth)
	}
	if hl.Attrs().HardwareAddr.String() != "ee:ee:ee:ee:ee:ee" || hl.Attrs().Flags&net.FlagUp == 0 {
		t.Errorf("%s: mac %s flags %v, want ee:ee:ee:ee:ee:ee and up", veth, hl.Attrs().HardwareAddr, hl.Attrs().Flags)
	}
	e.inHost(func() error {
		routes, err := netlink.RouteList(hl, netlink.FAMILY_V4)
		for _, r := range routes {
			if r.Dst != nil && r.Dst.String() == ip.String()+"/32" {
				return err
			}
		}
		return fmt.Errorf("host: no route %s/32 dev %s (routes %v, %v)", ip, veth, routes, err)
	})
	for _, s := range []string{"ipv4/conf/" + veth + "/proxy_arp", "ipv4/conf/" + veth + "/forwarding"} {
		if v := e.hostSysctl("net/" + s); v != "1" {
			t.Errorf("host sysctl %s = %s, want 1", s, v)
		}
	}
	if v := e.hostSysctl("net/ipv4/neigh/" + veth + "/proxy_delay"); v != "0" {
		t.Errorf("host proxy_delay = %s, want 0", v)
	}

	// The container end.
	st := e.containerState(c.ns)
	if !slices.Equal(st.addrs, []netip.Addr{ip}) {
		t.Errorf("container eth0 addresses %v, want [%s]", st.addrs, ip)
	}
	if !slices.Contains(st.routes, "default via 169.254.1.1") {
		t.Errorf("container routes %v: no default via 169.254.1.1", st.routes)
	}
	if !slices.Contains(st.neighs, "169.254.1.1 lladdr ee:ee:ee:ee:ee:ee permanent") {
		t.Errorf("container neighbours %v: no permanent 169.254.1.1", st.neighs)
	}

	// The WorkloadEndpoint and the allocation.
	wepName := "node--1-k8s-web--1-eth0"
	w := e.wep("prod", wepName)
	if w == nil {
		t.Fatalf("no WorkloadEndpoint prod/%s", wepName)
	}
	want := v3.WorkloadEndpointSpec{
		Orchestrator: "k8s", Node: testNode, ContainerID: c.rt.ContainerID, Pod: "web-1", Endpoint: "eth0",
		InterfaceName: veth, MAC: st.mac, IPNetworks: []string{ip.String() + "/32"}, Profiles: []string{"kns.prod"},
	}
	if diff := cmp.Diff(want, w.Spec); diff != "" {
		t.Errorf("WorkloadEndpoint spec (-want +got)\n%s", diff)
	}
	if w.Metadata.Labels[v3.LabelNamespace] != "prod" || w.Metadata.Labels[v3.LabelOrchestrator] != "k8s" ||
		w.Metadata.Labels["app"] != "web" || w.Metadata.Labels["tier"] != "frontend" {
		t.Errorf("WorkloadEndpoint labels %v", w.Metadata.Labels)
	}
	if got := e.handleIPs(c.rt.ContainerID); !slices.Equal(got, []netip.Addr{ip}) {
		t.Errorf("IPAM handle holds %v, want [%s]", got, ip)
	}

	if err := e.check(cfg, c); err != nil {
		t.Errorf("CHECK after ADD: %v", err)
	}
	// CHECK notices a missing container interface.
	if out, err := exec.Command("ip", "-n", c.ns, "addr", "flush", "dev", "eth0").CombinedOutput(); err != nil {
		t.Fatalf("flush: %v %s", err, out)
	}
	if err := e.check(cfg, c); err == nil || !strings.Contains(err.Error(), "address") {
		t.Errorf("CHECK with eth0's address gone: %v, want an error about the address", err)
	}

	e.del(cfg, c)
	if e.hostLink(veth) != nil {
		t.Errorf("DEL left %s in the host namespace", veth)
	}
	if e.wep("prod", wepName) != nil {
		t.Errorf("DEL left the WorkloadEndpoint")
	}
	if got := e.handleIPs(c.rt.ContainerID); len(got) != 0 {
		t.Errorf("DEL left the allocation %v", got)
	}
	e.del(cfg, c) // again: nothing left to do is success
	delNS(c.ns)
	e.del(cfg, c) // and without the namespace

	if after := rootCaliLinks(t); !slices.Equal(rootBefore, after) {
		t.Errorf("the root namespace's cali links changed: %v -> %v", rootBefore, after)
	}
}

// TestPrivilegedRepeatedAddAndNewSandbox: a repeated ADD returns the
// attachment as it is; a new sandbox of the same pod takes the endpoint
// over, and the old sandbox's DEL then leaves the new one alone.
func TestPrivilegedRepeatedAddAndNewSandbox(t *testing.T) {
	e := newCNIEnv(t)
	cfg := e.calicoIPAM(false)
	old := e.newContainer("old", "prod", "web")
	r1, r2 := e.add(cfg, old), e.add(cfg, old)
	if r1.IPs[0].Address.String() != r2.IPs[0].Address.String() {
		t.Errorf("repeated ADD: %s then %s, want the same address", &r1.IPs[0].Address, &r2.IPs[0].Address)
	}
	if got := e.handleIPs(old.rt.ContainerID); len(got) != 1 {
		t.Errorf("after a repeated ADD the handle holds %v, want one address", got)
	}

	nw := e.newContainer("new", "prod", "web")
	e.add(cfg, nw)
	const wepName = "node--1-k8s-web-eth0"
	if w := e.wep("prod", wepName); w == nil || w.Spec.ContainerID != nw.rt.ContainerID {
		t.Fatalf("after the new sandbox's ADD the endpoint is %+v, want container %s", w, nw.rt.ContainerID)
	}
	e.del(cfg, old)
	if got := e.handleIPs(old.rt.ContainerID); len(got) != 0 {
		t.Errorf("old sandbox's DEL left its allocation %v", got)
	}
	if w := e.wep("prod", wepName); w == nil || w.Spec.ContainerID != nw.rt.ContainerID {
		t.Errorf("old sandbox's DEL changed the new one's endpoint: %+v", w)
	}
	if err := e.check(cfg, nw); err != nil {
		t.Errorf("CHECK of the new sandbox after the old one's DEL: %v", err)
	}
	e.del(cfg, nw)
	if e.wep("prod", wepName) != nil || e.hostLink(VethNameForPod("prod", "web")) != nil {
		t.Error("the new sandbox's DEL left its endpoint or interface")
	}
}

// TestPrivilegedAddFailureUndone: an ADD that fails half-way (the
// container already has an eth0) leaves no allocation, interface or
// endpoint behind.
func TestPrivilegedAddFailureUndone(t *testing.T) {
	e := newCNIEnv(t)
	cfg := e.calicoIPAM(false)
	c := e.newContainer("busy", "prod", "busy")
	if out, err := exec.Command("ip", "-n", c.ns, "link", "add", "eth0", "type", "veth", "peer", "name", "other").CombinedOutput(); err != nil {
		t.Fatalf("ip link add: %v %s", err, out)
	}
	err := e.host.Do(func() error {
		_, err := e.cni().AddNetworkList(context.Background(), cfg, c.rt)
		return err
	})
	if err == nil {
		t.Fatal("ADD into a namespace that already has eth0 succeeded")
	}
	t.Logf("ADD failed as expected: %v", err)
	if got := e.handleIPs(c.rt.ContainerID); len(got) != 0 {
		t.Errorf("failed ADD left the allocation %v", got)
	}
	if e.hostLink(VethNameForPod("prod", "busy")) != nil {
		t.Error("failed ADD left the host interface")
	}
	if e.wep("prod", "node--1-k8s-busy-eth0") != nil {
		t.Error("failed ADD left the endpoint")
	}
}

func TestPrivilegedDelAfterNetnsGone(t *testing.T) {
	e := newCNIEnv(t)
	cfg := e.calicoIPAM(false)
	c := e.newContainer("gone", "prod", "web-2")
	e.add(cfg, c)
	delNS(c.ns)
	e.del(cfg, c)
	if e.wep("prod", "node--1-k8s-web--2-eth0") != nil {
		t.Error("DEL left the WorkloadEndpoint")
	}
	if got := e.handleIPs(c.rt.ContainerID); len(got) != 0 {
		t.Errorf("DEL left the allocation %v", got)
	}
	if e.hostLink(VethNameForPod("prod", "web-2")) != nil {
		t.Error("the host end outlived its namespace and DEL")
	}
}

// TestPrivilegedDualStackTraffic: two plain-CNI containers with IPv4 and
// IPv6 addresses reach each other through the host.
func TestPrivilegedDualStackTraffic(t *testing.T) {
	e := newCNIEnv(t)
	cfg := e.calicoIPAM(true, map[string]any{"mtu": 1400})
	a, b := e.newContainer("a", "", ""), e.newContainer("b", "", "")
	ra, rb := e.add(cfg, a), e.add(cfg, b)
	for _, r := range []*types100.Result{ra, rb} {
		if len(r.IPs) != 2 || len(r.Routes) != 2 {
			t.Fatalf("dual-stack ADD result: IPs %v routes %v, want two of each", r.IPs, r.Routes)
		}
	}
	st := e.containerState(a.ns)
	if st.mtu != 1400 {
		t.Errorf("container eth0 MTU %d, want 1400", st.mtu)
	}
	if hl := e.hostLink("cali" + a.rt.ContainerID[:11]); hl == nil || hl.Attrs().MTU != 1400 {
		t.Errorf("host end of a: %v, want MTU 1400", hl)
	}
	if !slices.Contains(st.routes, "default via fe80::ecee:eeff:feee:eeee") ||
		!slices.Contains(st.neighs, "fe80::ecee:eeff:feee:eeee lladdr ee:ee:ee:ee:ee:ee permanent") {
		t.Errorf("container IPv6 gateway: routes %v neighbours %v", st.routes, st.neighs)
	}
	name := "node--1-cni-" + a.rt.ContainerID + "-eth0"
	w := e.wep("default", name)
	if w == nil || w.Spec.Orchestrator != "cni" || len(w.Spec.IPNetworks) != 2 || !slices.Equal(w.Spec.Profiles, []string{testNetwork}) {
		t.Fatalf("WorkloadEndpoint default/%s: %+v", name, w)
	}
	if !strings.HasSuffix(w.Spec.IPNetworks[1], "/128") {
		t.Errorf("IPv6 ipNetwork %q: want a /128", w.Spec.IPNetworks[1])
	}
	if _, err := e.res.Get(context.Background(), v3.KindProfile, "", testNetwork); err != nil {
		t.Errorf("network profile: %v", err)
	}
	if err := e.check(cfg, a); err != nil {
		t.Errorf("CHECK: %v", err)
	}
	for _, ipc := range rb.IPs {
		dst := ipc.Address.IP.String()
		out, err := exec.Command("ip", "netns", "exec", a.ns, "ping", "-c", "1", "-W", "3", dst).CombinedOutput()
		if err != nil {
			t.Errorf("ping %s from a: %v\n%s", dst, err, out)
		}
	}
	e.del(cfg, a)
	e.del(cfg, b)
}

// TestPrivilegedGC: GC releases this node's allocations and endpoints
// whose containers are not in the valid list, and nothing else.
func TestPrivilegedGC(t *testing.T) {
	e := newCNIEnv(t)
	cfg := e.calicoIPAM(false)
	live, stale := e.newContainer("live", "prod", "live"), e.newContainer("stale", "prod", "stale")
	e.add(cfg, live)
	e.add(cfg, stale)
	ctx := context.Background()
	c := ipam.New(e.be, nil)
	for handle, host := range map[string]string{
		HandleID(testNetwork, "leaked1"): testNode, // ours: released
		HandleID(testNetwork, "leaked2"): "node-2", // another host's: kept
		"other-network.leaked3":          testNode, // another network's: kept
	} {
		if _, _, err := c.AutoAssign(ctx, ipam.AssignArgs{Num4: 1, HandleID: handle, Host: host, Attrs: map[string]string{"node": host}}); err != nil {
			t.Fatal(err)
		}
	}

	// A fresh cache, so libcni itself DELs nothing: GC alone must clean.
	cni := libcni.NewCNIConfigWithCacheDir([]string{e.binDir}, t.TempDir(), nil)
	e.inHost(func() error {
		return cni.GCNetworkList(ctx, cfg, &libcni.GCArgs{ValidAttachments: []types.GCAttachment{{ContainerID: live.rt.ContainerID, IfName: "eth0"}}})
	})

	for _, tc := range []struct {
		handle string
		kept   bool
	}{
		{HandleID(testNetwork, live.rt.ContainerID), true},
		{HandleID(testNetwork, stale.rt.ContainerID), false},
		{HandleID(testNetwork, "leaked1"), false},
		{HandleID(testNetwork, "leaked2"), true},
		{"other-network.leaked3", true},
	} {
		ips, err := c.IPsByHandle(ctx, tc.handle)
		if err != nil && !errors.Is(err, datastore.ErrNotFound) {
			t.Fatal(err)
		}
		if (len(ips) > 0) != tc.kept {
			t.Errorf("after GC handle %s holds %v; want kept=%v", tc.handle, ips, tc.kept)
		}
	}
	if e.wep("prod", "node--1-k8s-live-eth0") == nil {
		t.Error("GC removed the live endpoint")
	}
	if e.wep("prod", "node--1-k8s-stale-eth0") != nil {
		t.Error("GC left the stale endpoint")
	}
	if e.hostLink(VethNameForPod("prod", "stale")) != nil {
		t.Error("GC left the stale host interface")
	}
	if e.hostLink(VethNameForPod("prod", "live")) == nil {
		t.Error("GC removed the live host interface")
	}
	if err := e.check(cfg, live); err != nil {
		t.Errorf("CHECK of the live container after GC: %v", err)
	}
}

// TestPrivilegedConcurrentAdds: 20 ADDs at once on one host get 20
// different addresses; 20 DELs at once release them all.
func TestPrivilegedConcurrentAdds(t *testing.T) {
	e := newCNIEnv(t)
	cfg := e.calicoIPAM(false)
	const n = 20
	cs := make([]container, n)
	for i := range cs {
		cs[i] = e.newContainer(fmt.Sprintf("p%d", i), "load", fmt.Sprintf("pod-%d", i))
	}
	ips := make([]netip.Addr, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range cs {
		wg.Go(func() {
			errs[i] = runInNS(e.hostNS, func() error {
				r, err := e.cni().AddNetworkList(context.Background(), cfg, cs[i].rt)
				if err != nil {
					return err
				}
				res, err := types100.NewResultFromResult(r)
				if err != nil {
					return err
				}
				ip, _ := netip.AddrFromSlice(res.IPs[0].Address.IP)
				ips[i] = ip.Unmap()
				return nil
			})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent ADDs: %v", err)
	}
	seen := map[netip.Addr]int{}
	for i, ip := range ips {
		if j, dup := seen[ip]; dup {
			t.Errorf("containers %d and %d both got %s", j, i, ip)
		}
		seen[ip] = i
		if got := e.handleIPs(cs[i].rt.ContainerID); !slices.Equal(got, []netip.Addr{ip}) {
			t.Errorf("container %d: handle holds %v, want [%s]", i, got, ip)
		}
	}
	for i := range cs {
		wg.Go(func() {
			errs[i] = runInNS(e.hostNS, func() error {
				return e.cni().DelNetworkList(context.Background(), cfg, cs[i].rt)
			})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent DELs: %v", err)
	}
	for i := range cs {
		if got := e.handleIPs(cs[i].rt.ContainerID); len(got) != 0 {
			t.Errorf("container %d: DEL left %v", i, got)
		}
	}
}

// TestPrivilegedHostLocalIPAM: the calico plugin delegates to another
// IPAM plugin (Debian's host-local, which speaks CNI up to 1.0.0).
func TestPrivilegedHostLocalIPAM(t *testing.T) {
	e := newCNIEnv(t) // skips unless root
	if _, err := os.Stat("/usr/lib/cni/host-local"); err != nil {
		t.Fatal("host-local not installed: the Debian package containernetworking-plugins (make deps installs it)")
	}
	dataDir := filepath.Join(e.tmp, "host-local")
	cfg := e.confList("1.0.0", map[string]any{
		"type": "host-local", "dataDir": dataDir,
		"ranges": [][]map[string]string{{{"subnet": "10.88.0.0/24"}}},
	})
	c := e.newContainer("hl", "prod", "hl")
	res := e.add(cfg, c)
	if len(res.IPs) != 1 || !strings.HasPrefix(res.IPs[0].Address.String(), "10.88.0.") || !strings.HasSuffix(res.IPs[0].Address.String(), "/32") {
		t.Fatalf("ADD result IPs %v: want one 10.88.0.x/32", res.IPs)
	}
	ip := res.IPs[0].Address.IP.String()
	w := e.wep("prod", "node--1-k8s-hl-eth0")
	if w == nil || !slices.Equal(w.Spec.IPNetworks, []string{ip + "/32"}) {
		t.Fatalf("WorkloadEndpoint: %+v", w)
	}
	if err := e.check(cfg, c); err != nil {
		t.Errorf("CHECK: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, testNetwork, ip)); err != nil {
		t.Errorf("host-local has no record of %s: %v", ip, err)
	}
	e.del(cfg, c)
	if _, err := os.Stat(filepath.Join(dataDir, testNetwork, ip)); !os.IsNotExist(err) {
		t.Errorf("DEL did not release %s in host-local: %v", ip, err)
	}
}

func TestPrivilegedStatus(t *testing.T) {
	e := newCNIEnv(t)
	cfg := e.calicoIPAM(false)
	e.inHost(func() error { return e.cni().GetStatusNetworkList(context.Background(), cfg) })
}

// runInNS runs f on a new thread inside the named namespace.
func runInNS(name string, f func() error) error {
	h, err := netns.GetFromName(name)
	if err != nil {
		return err
	}
	defer h.Close()
	return nsthread.Run(h, f)
}

// TestPrivilegedAddMissingNetNS: ADD into a network namespace that does
// not exist fails with code 8 (invalid network namespace), naming it,
// and allocates nothing.
func TestPrivilegedAddMissingNetNS(t *testing.T) {
	e := newCNIEnv(t)
	cfg := e.calicoIPAM(false)
	c := e.newContainer("gone", "prod", "ghost")
	c.rt.NetNS = "/run/netns/no-such-namespace-here"
	var err error
	e.inHost(func() error {
		_, err = e.cni().AddNetworkList(context.Background(), cfg, c.rt)
		return nil
	})
	var te *types.Error
	if !errors.As(err, &te) || te.Code != types.ErrInvalidNetNS || !strings.Contains(te.Msg, "no-such-namespace-here") {
		t.Fatalf("ADD into a missing namespace: %v; want code %d naming it", err, types.ErrInvalidNetNS)
	}
	if got := e.handleIPs(c.rt.ContainerID); len(got) != 0 {
		t.Errorf("the failed ADD allocated %v", got)
	}
}

// TestPrivilegedRequestedIP: the runtime asks for an address (CNI_ARGS
// IP=, or args.cni.ips): ADD gives exactly that one; a second container
// asking for it fails, naming it, and holds nothing.
func TestPrivilegedRequestedIP(t *testing.T) {
	e := newCNIEnv(t)
	want := netip.MustParseAddr("10.77.200.7")
	a := e.newContainer("req-a", "prod", "fixed-a")
	a.rt.Args = append(a.rt.Args, [2]string{"IP", want.String()})
	res := e.add(e.calicoIPAM(false), a)
	if len(res.IPs) != 1 || res.IPs[0].Address.IP.String() != want.String() {
		t.Fatalf("ADD with IP=%s gave %v", want, res.IPs)
	}
	if got := e.handleIPs(a.rt.ContainerID); !slices.Equal(got, []netip.Addr{want}) {
		t.Errorf("handle holds %v, want [%s]", got, want)
	}
	b := e.newContainer("req-b", "prod", "fixed-b")
	cfg := e.calicoIPAM(false, map[string]any{"args": map[string]any{"cni": map[string]any{"ips": []string{want.String() + "/16"}}}})
	var err error
	e.inHost(func() error {
		_, err = e.cni().AddNetworkList(context.Background(), cfg, b.rt)
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), want.String()) || !strings.Contains(err.Error(), "already in use") {
		t.Fatalf("second ADD asking for %s: %v; want it refused, naming the address", want, err)
	}
	if got := e.handleIPs(b.rt.ContainerID); len(got) != 0 {
		t.Errorf("the refused ADD holds %v", got)
	}
	e.del(e.calicoIPAM(false), a)
	if got := e.handleIPs(a.rt.ContainerID); len(got) != 0 {
		t.Errorf("after DEL the handle holds %v", got)
	}
}
