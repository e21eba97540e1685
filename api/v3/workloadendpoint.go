package v3

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// Orchestrator names with their own workload endpoint name rules.
const (
	OrchestratorKubernetes = "k8s"
	OrchestratorCNI        = "cni"
	OrchestratorLibnetwork = "libnetwork"
	OrchestratorOpenStack  = "openstack"
)

// Labels Calico adds to workload endpoints.
const (
	LabelNamespace      = "projectcalico.org/namespace"
	LabelOrchestrator   = "projectcalico.org/orchestrator"
	LabelServiceAccount = "projectcalico.org/serviceaccount"
)

// WorkloadEndpoint is the interface of a VM or container on a host.
type WorkloadEndpoint struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta           `json:"metadata"`
	Spec     WorkloadEndpointSpec `json:"spec"`
}

// WorkloadEndpointSpec is the body of a WorkloadEndpoint.
type WorkloadEndpointSpec struct {
	Orchestrator               string                 `json:"orchestrator,omitempty"`
	Workload                   string                 `json:"workload,omitempty"`
	Node                       string                 `json:"node,omitempty"`
	ContainerID                string                 `json:"containerID,omitempty"`
	Pod                        string                 `json:"pod,omitempty"`
	Endpoint                   string                 `json:"endpoint,omitempty"`
	ServiceAccountName         string                 `json:"serviceAccountName,omitempty"`
	IPNetworks                 []string               `json:"ipNetworks,omitempty"`
	IPNATs                     []IPNAT                `json:"ipNATs,omitempty"`
	IPv4Gateway                string                 `json:"ipv4Gateway,omitempty"`
	IPv6Gateway                string                 `json:"ipv6Gateway,omitempty"`
	Profiles                   []string               `json:"profiles,omitempty"`
	InterfaceName              string                 `json:"interfaceName,omitempty"`
	MAC                        string                 `json:"mac,omitempty"`
	Ports                      []WorkloadEndpointPort `json:"ports,omitempty"`
	AllowSpoofedSourcePrefixes []string               `json:"allowSpoofedSourcePrefixes,omitempty"`
	QoSControls                *QoSControls           `json:"qosControls,omitempty"`
}

// WorkloadEndpointPort is a named port, or a host port mapping.
type WorkloadEndpointPort struct {
	Name     string   `json:"name"`
	Protocol Protocol `json:"protocol"`
	Port     uint16   `json:"port"`
	HostPort uint16   `json:"hostPort"`
	HostIP   string   `json:"hostIP"`
}

// IPNAT is a 1:1 NAT mapping onto one of the endpoint's addresses.
type IPNAT struct {
	InternalIP string `json:"internalIP"`
	ExternalIP string `json:"externalIP"`
}

// QoSControls limits an endpoint's bandwidth, packet rate and connections.
type QoSControls struct {
	IngressBandwidth      int64 `json:"ingressBandwidth,omitempty"`
	IngressBurst          int64 `json:"ingressBurst,omitempty"`
	IngressPeakrate       int64 `json:"ingressPeakrate,omitempty"`
	IngressMinburst       int64 `json:"ingressMinburst,omitempty"`
	EgressBandwidth       int64 `json:"egressBandwidth,omitempty"`
	EgressBurst           int64 `json:"egressBurst,omitempty"`
	EgressPeakrate        int64 `json:"egressPeakrate,omitempty"`
	EgressMinburst        int64 `json:"egressMinburst,omitempty"`
	IngressPacketRate     int64 `json:"ingressPacketRate,omitempty"`
	IngressPacketBurst    int64 `json:"ingressPacketBurst,omitempty"`
	EgressPacketRate      int64 `json:"egressPacketRate,omitempty"`
	EgressPacketBurst     int64 `json:"egressPacketBurst,omitempty"`
	IngressMaxConnections int64 `json:"ingressMaxConnections,omitempty"`
	EgressMaxConnections  int64 `json:"egressMaxConnections,omitempty"`
	DSCP                  *DSCP `json:"dscp,omitempty"`
}

// DSCP is a differentiated services code point, 0-63 or a name such as
// "AF11" or "EF". Numbers are written as JSON numbers.
type DSCP struct {
	Num  uint8
	Name string
}

var dscpNames = map[string]uint8{
	"DF": 0, "EF": 46,
	"AF11": 10, "AF12": 12, "AF13": 14, "AF21": 18, "AF22": 20, "AF23": 22,
	"AF31": 26, "AF32": 28, "AF33": 30, "AF41": 34, "AF42": 36, "AF43": 38,
	"CS0": 0, "CS1": 8, "CS2": 16, "CS3": 24, "CS4": 32, "CS5": 40, "CS6": 48, "CS7": 56,
}

// Value returns the code point, resolving names.
func (d DSCP) Value() (uint8, bool) {
	if d.Name == "" {
		return d.Num, d.Num <= 63
	}
	n, ok := dscpNames[d.Name]
	return n, ok
}

// String returns the name or the number.
func (d DSCP) String() string {
	if d.Name != "" {
		return d.Name
	}
	return strconv.Itoa(int(d.Num))
}

// MarshalJSON writes a number or the name.
func (d DSCP) MarshalJSON() ([]byte, error) {
	if d.Name == "" {
		return []byte(strconv.Itoa(int(d.Num))), nil
	}
	return json.Marshal(d.Name)
}

// UnmarshalJSON reads a number or a name; a quoted number reads as a number.
func (d *DSCP) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if n, err := strconv.ParseUint(s, 10, 8); err == nil && isDigits(s) {
			*d = DSCP{Num: uint8(n)}
		} else {
			*d = DSCP{Name: s}
		}
		return nil
	}
	var n uint8
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("dscp %s: must be 0-63 or a name such as \"EF\"", b)
	}
	*d = DSCP{Num: n}
	return nil
}

// NewWorkloadEndpoint returns an empty WorkloadEndpoint with its type set.
func NewWorkloadEndpoint() *WorkloadEndpoint {
	return &WorkloadEndpoint{TypeMeta: TypeMeta{Kind: KindWorkloadEndpoint, APIVersion: APIVersion}}
}

// GetObjectMeta implements Resource.
func (r *WorkloadEndpoint) GetObjectMeta() *ObjectMeta { return &r.Metadata }

// DeepCopy returns a deep copy of r.
func (r *WorkloadEndpoint) DeepCopy() *WorkloadEndpoint { return deepCopy(r) }

// DeepCopyResource implements Resource.
func (r *WorkloadEndpoint) DeepCopyResource() Resource { return r.DeepCopy() }
