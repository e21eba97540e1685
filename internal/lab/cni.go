package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/vishvananda/netns"

	"github.com/gocalico/calico/internal/nsthread"
)

// CNINetwork is the network name of the lab's CNI configuration; a
// workload's IPAM handle is "<CNINetwork>.<container ID>".
const CNINetwork = "k8s-pod-network"

// CNIOption changes the network configuration of one AddWorkloadCNI.
type CNIOption func(conf map[string]any)

// WithIPv4Pools limits the workload's IPv4 addresses to these pools (by
// CIDR or name), as ipam.ipv4_pools does.
func WithIPv4Pools(pools ...string) CNIOption {
	return func(conf map[string]any) { conf["ipam"].(map[string]any)["ipv4_pools"] = pools }
}

// WithWaitForEndpoint makes ADD wait (at most d) until the host's agent
// reports the endpoint programmed (wait_for_endpoint).
func WithWaitForEndpoint(d time.Duration) CNIOption {
	return func(conf map[string]any) { conf["wait_for_endpoint"] = d.String() }
}

// cniConfig is the network configuration a container runtime on host h
// would hand the calico plugin: Calico IPAM, the lab's datastore socket,
// files under the lab's state directory.
func (l *Lab) cniConfig(h Host, opts ...CNIOption) (*libcni.PluginConfig, error) {
	ipam := map[string]any{"type": "calico-ipam", "assign_ipv4": "true", "assign_ipv6": fmt.Sprint(l.st.IPv6)}
	conf := map[string]any{
		"cniVersion":     "1.1.0",
		"name":           CNINetwork,
		"type":           "calico",
		"nodename":       h.Name,
		"ipam_lock_file": filepath.Join(l.st.StateDir, "ipam-"+h.Name+".lock"),
		"log_level":      "info",
		"log_file_path":  filepath.Join(l.st.StateDir, "logs", "cni-"+h.Name+".log"),
		"ipam":           ipam,
	}
	if len(l.EtcdMembers()) > 0 {
		conf["etcd_endpoints"] = l.Endpoints()
	} else {
		conf["datastore_socket"] = l.st.Socket
	}
	for _, o := range opts {
		o(conf)
	}
	b, err := json.Marshal(conf)
	if err != nil {
		return nil, err
	}
	return libcni.NetworkPluginConfFromBytes(b)
}

// cniRuntime is what the runtime tells the plugin of w.
func (l *Lab) cniRuntime(w Workload) *libcni.RuntimeConf {
	return &libcni.RuntimeConf{
		ContainerID: w.ContainerID,
		NetNS:       filepath.Join("/run/netns", w.Namespace),
		IfName:      uplink,
		Args: [][2]string{
			{"IgnoreUnknown", "1"},
			{"K8S_POD_NAMESPACE", WorkloadNamespace},
			{"K8S_POD_NAME", w.Name},
			{"K8S_POD_INFRA_CONTAINER_ID", w.ContainerID},
		},
	}
}

// inHost runs f on a thread in host h's network namespace: a plugin the
// CNI library starts from there creates its interfaces there.
func (l *Lab) inHost(h Host, f func() error) error {
	ns, err := netns.GetFromName(h.Namespace)
	if err != nil {
		return fmt.Errorf("host %s: namespace %s: %w", h.Name, h.Namespace, err)
	}
	defer ns.Close()
	return nsthread.Run(ns, f)
}

func (l *Lab) cni() *libcni.CNIConfig {
	return libcni.NewCNIConfigWithCacheDir([]string{l.st.Bin}, filepath.Join(l.st.StateDir, "cni-cache"), nil)
}

// AddWorkloadCNI creates w's namespace and has the calico CNI plugin,
// with calico-ipam, wire it into its host as a container runtime would:
// the veth, addresses from the lab's IP pools, the container's routes
// and the WorkloadEndpoint. The workload returned (and recorded) has
// the plugin's interface, addresses and MAC.
func (l *Lab) AddWorkloadCNI(ctx context.Context, w Workload, opts ...CNIOption) (Workload, error) {
	w, _, err := l.addWorkloadCNI(ctx, w, opts...)
	return w, err
}

// TimedAddWorkloadCNI is AddWorkloadCNI, and says how long the CNI ADD
// itself took (the plugins' run, not the namespace's creation).
func (l *Lab) TimedAddWorkloadCNI(ctx context.Context, w Workload, opts ...CNIOption) (Workload, time.Duration, error) {
	return l.addWorkloadCNI(ctx, w, opts...)
}

func (l *Lab) addWorkloadCNI(ctx context.Context, w Workload, opts ...CNIOption) (Workload, time.Duration, error) {
	h, ok := l.Host(w.Host)
	if !ok {
		return w, 0, fmt.Errorf("lab %s: no host %q", l.st.Name, w.Host)
	}
	w.CNI = true
	w.ContainerID = l.st.Name + "-" + w.Name
	w.Interface, w.IPv4, w.IPv6, w.MAC = "", netip.Addr{}, netip.Addr{}, ""
	if err := l.record(func(s *state) { s.putWorkload(w) }); err != nil {
		return w, 0, err
	}
	if err := l.addNamespace(ctx, w.Namespace); err != nil {
		return w, 0, err
	}
	net, err := l.cniConfig(h, opts...)
	if err != nil {
		return w, 0, err
	}
	var res *types100.Result
	var took time.Duration
	err = l.inHost(h, func() error {
		start := time.Now()
		defer func() { took = time.Since(start) }()
		r, err := l.cni().AddNetwork(ctx, net, l.cniRuntime(w))
		if err != nil {
			return err
		}
		res, err = types100.NewResultFromResult(r)
		return err
	})
	if err != nil {
		return w, 0, fmt.Errorf("%s: CNI ADD: %w", w.Name, err)
	}
	for _, ip := range res.IPs {
		a, ok := netip.AddrFromSlice(ip.Address.IP)
		if !ok {
			continue
		}
		if a = a.Unmap(); a.Is4() {
			w.IPv4 = a
		} else {
			w.IPv6 = a
		}
	}
	for _, i := range res.Interfaces {
		switch {
		case i.Sandbox == "":
			w.Interface = i.Name
		case i.Name == uplink:
			w.MAC = strings.ToLower(i.Mac)
		}
	}
	if !w.IPv4.IsValid() || w.Interface == "" {
		return w, 0, fmt.Errorf("%s: CNI ADD gave no IPv4 address or no host interface: %+v", w.Name, res)
	}
	if err := l.record(func(s *state) { s.putWorkload(w) }); err != nil {
		return w, 0, err
	}
	l.step("workload %s: namespace %s, eth0 %s (CNI, Calico IPAM), host end %s", w.Name, w.Namespace, joinAddrs(w.IPv4, w.IPv6), w.Interface)
	return w, took, nil
}

// RemoveWorkloadCNI has the plugin take w out (its veth, addresses and
// endpoint), then deletes w's namespace.
func (l *Lab) RemoveWorkloadCNI(ctx context.Context, w Workload) error {
	_, err := l.TimedRemoveWorkloadCNI(ctx, w)
	return err
}

// TimedRemoveWorkloadCNI is RemoveWorkloadCNI, and says how long the CNI
// DEL itself took.
func (l *Lab) TimedRemoveWorkloadCNI(ctx context.Context, w Workload) (time.Duration, error) {
	h, ok := l.Host(w.Host)
	if !ok {
		return 0, fmt.Errorf("lab %s: no host %q", l.st.Name, w.Host)
	}
	net, err := l.cniConfig(h)
	if err != nil {
		return 0, err
	}
	var took time.Duration
	if err := l.inHost(h, func() error {
		start := time.Now()
		defer func() { took = time.Since(start) }()
		return l.cni().DelNetwork(ctx, net, l.cniRuntime(w))
	}); err != nil {
		return 0, fmt.Errorf("%s: CNI DEL: %w", w.Name, err)
	}
	if err := killStray(ctx, w.Namespace); err != nil {
		return took, err
	}
	if err := deleteNamespace(w.Namespace); err != nil {
		return took, err
	}
	return took, l.record(func(s *state) { s.dropWorkload(w.Name) })
}

// CheckWorkloadCNI has the plugin check w (CNI CHECK, with the result of
// its ADD as the previous result).
func (l *Lab) CheckWorkloadCNI(ctx context.Context, w Workload) error {
	h, ok := l.Host(w.Host)
	if !ok {
		return fmt.Errorf("lab %s: no host %q", l.st.Name, w.Host)
	}
	net, err := l.cniConfig(h)
	if err != nil {
		return err
	}
	return l.inHost(h, func() error { return l.cni().CheckNetwork(ctx, net, l.cniRuntime(w)) })
}

// GCCNI has the plugins of host release what belongs to no container
// of valid (CNI GC with cni.dev/valid-attachments).
func (l *Lab) GCCNI(ctx context.Context, host string, valid []Workload) error {
	h, ok := l.Host(host)
	if !ok {
		return fmt.Errorf("lab %s: no host %q", l.st.Name, host)
	}
	net, err := l.cniConfig(h)
	if err != nil {
		return err
	}
	list, err := libcni.ConfListFromConf(net)
	if err != nil {
		return err
	}
	args := &libcni.GCArgs{}
	for _, w := range valid {
		args.ValidAttachments = append(args.ValidAttachments, types.GCAttachment{ContainerID: w.ContainerID, IfName: uplink})
	}
	return l.inHost(h, func() error { return l.cni().GCNetworkList(ctx, list, args) })
}
