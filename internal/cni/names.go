package cni

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"github.com/containernetworking/cni/pkg/types"

	v3 "github.com/gocalico/calico/api/v3"
)

// RuntimeArgs are the CNI_ARGS keys the plugins read. Other keys are
// ignored.
type RuntimeArgs struct {
	PodNamespace     string // K8S_POD_NAMESPACE
	PodName          string // K8S_POD_NAME
	InfraContainerID string // K8S_POD_INFRA_CONTAINER_ID
	// IPs are the addresses the runtime asks for (IP=a[,b]), as
	// upstream's calico-ipam reads them.
	IPs []netip.Addr
}

// envErr is a CNI "invalid environment variables" error.
func envErr(format string, a ...any) *types.Error {
	return types.NewError(types.ErrInvalidEnvironmentVariables, "calico: "+fmt.Sprintf(format, a...), "")
}

// ParseRuntimeArgs reads CNI_ARGS: "KEY=value;KEY=value".
func ParseRuntimeArgs(s string) (RuntimeArgs, error) {
	var a RuntimeArgs
	if strings.TrimSpace(s) == "" {
		return a, nil
	}
	for i, pair := range strings.Split(s, ";") {
		if pair == "" {
			continue
		}
		k, v, ok := strings.Cut(pair, "=")
		if !ok || k == "" {
			return a, envErr("CNI_ARGS entry %d %q: want KEY=value", i, pair)
		}
		switch k {
		case "K8S_POD_NAMESPACE":
			a.PodNamespace = v
		case "K8S_POD_NAME":
			a.PodName = v
		case "K8S_POD_INFRA_CONTAINER_ID":
			a.InfraContainerID = v
		case "IP":
			for _, f := range strings.Split(v, ",") {
				ip, err := netip.ParseAddr(strings.TrimSpace(f))
				if err != nil {
					return a, envErr("CNI_ARGS IP %q: not an IP address", f)
				}
				a.IPs = append(a.IPs, ip)
			}
		}
	}
	if (a.PodName == "") != (a.PodNamespace == "") {
		return a, envErr("CNI_ARGS: K8S_POD_NAME and K8S_POD_NAMESPACE must be given together (got name %q, namespace %q)", a.PodName, a.PodNamespace)
	}
	return a, nil
}

// Identity names one attachment: which workload endpoint, which handle,
// which host interface.
type Identity struct {
	Network      string // network name (NetConf.Name)
	Node         string
	Orchestrator string // v3.OrchestratorKubernetes or v3.OrchestratorCNI
	Namespace    string // the endpoint's namespace
	Pod          string // k8s only
	ContainerID  string
	IfName       string // the interface inside the container
	// Requested are the addresses the runtime asked for (CNI_ARGS IP=,
	// args.cni.ips): calico-ipam hands out exactly these.
	Requested []netip.Addr
}

// containerIDRE is the WorkloadEndpoint containerID rule.
var containerIDRE = regexp.MustCompile(`^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$`)

// dnsLabelRE and dnsSubdomainRE are Kubernetes' namespace and pod name
// rules.
var (
	dnsLabelRE     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	dnsSubdomainRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
)

// ifNameRE is what the kernel (and WorkloadEndpoint.endpoint) accepts.
var ifNameRE = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,15}$`)

// NewIdentity builds and checks the identity of an attachment. Errors
// are CNI errors naming the variable at fault.
func NewIdentity(cfg *Config, containerID, ifName string, ra RuntimeArgs) (Identity, error) {
	id := Identity{Network: cfg.Name, Node: cfg.Node, ContainerID: containerID, IfName: ifName}
	if !containerIDRE.MatchString(containerID) {
		return id, envErr("CNI_CONTAINERID %q: want letters, digits and '-' (not first or last)", containerID)
	}
	if !ifNameRE.MatchString(ifName) {
		return id, envErr("CNI_IFNAME %q: want 1-15 letters, digits, '_', '.' or '-'", ifName)
	}
	if ra.PodName != "" {
		id.Orchestrator, id.Namespace, id.Pod = v3.OrchestratorKubernetes, ra.PodNamespace, ra.PodName
		if !dnsSubdomainRE.MatchString(id.Pod) || len(id.Pod) > 253 {
			return id, envErr("CNI_ARGS K8S_POD_NAME %q: not a valid pod name (lower-case DNS subdomain)", id.Pod)
		}
		if !dnsLabelRE.MatchString(id.Namespace) || len(id.Namespace) > 63 {
			return id, envErr("CNI_ARGS K8S_POD_NAMESPACE %q: not a valid namespace name (lower-case DNS label)", id.Namespace)
		}
	} else {
		id.Orchestrator, id.Namespace = v3.OrchestratorCNI, "default"
	}
	if _, err := id.WEPName(); err != nil {
		return id, configErr("nodename %q: %v", id.Node, err)
	}
	id.Requested = append(id.Requested, ra.IPs...)
	for i, s := range cfg.Args.CNI.IPs {
		ip, err := netip.ParseAddr(s)
		if err != nil {
			p, perr := netip.ParsePrefix(s)
			if perr != nil {
				return id, configErr("args.cni.ips[%d] %q: not an IP address", i, s)
			}
			ip = p.Addr()
		}
		if !slices.Contains(id.Requested, ip) {
			id.Requested = append(id.Requested, ip)
		}
	}
	return id, nil
}

// WEPName is the WorkloadEndpoint's name: <node>-k8s-<pod>-<iface> for
// Kubernetes, <node>-cni-<containerID>-<iface> otherwise (each '-' in a
// segment doubled).
func (id Identity) WEPName() (string, error) {
	wl := id.ContainerID
	if id.Orchestrator == v3.OrchestratorKubernetes {
		wl = id.Pod
	}
	return v3.WorkloadEndpointName(id.Node, id.Orchestrator, wl, id.IfName)
}

// HandleID is the IPAM handle of the attachment: "<network>.<containerID>".
func (id Identity) HandleID() string { return HandleID(id.Network, id.ContainerID) }

// HandleID is "<network>.<containerID>", as upstream names CNI handles.
func HandleID(network, containerID string) string { return network + "." + containerID }

// HostVethName is the host end of the attachment's veth: "cali" and 11
// hex digits of sha1("<namespace>.<pod>") for Kubernetes (the name the
// agent and upstream compute), "cali" and the first 11 characters of the
// container ID otherwise.
func (id Identity) HostVethName() string {
	if id.Orchestrator == v3.OrchestratorKubernetes {
		return VethNameForPod(id.Namespace, id.Pod)
	}
	cid := id.ContainerID
	if len(cid) > 11 {
		cid = cid[:11]
	}
	return "cali" + cid
}

// VethNameForPod is the host interface name of a Kubernetes pod.
func VethNameForPod(namespace, pod string) string {
	sum := sha1.Sum([]byte(namespace + "." + pod))
	return "cali" + hex.EncodeToString(sum[:])[:11]
}

// Profiles are the profiles the endpoint lists: kns.<namespace> for
// Kubernetes (the namespace's profile), the network's name otherwise.
func (id Identity) Profiles() []string {
	if id.Orchestrator == v3.OrchestratorKubernetes {
		return []string{"kns." + id.Namespace}
	}
	return []string{id.Network}
}
