package v3

// HostEndpoint is a host interface (or all of a host's interfaces) that
// policy applies to.
type HostEndpoint struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta       `json:"metadata"`
	Spec     HostEndpointSpec `json:"spec"`
}

// HostEndpointSpec is the body of a HostEndpoint.
type HostEndpointSpec struct {
	Node          string         `json:"node,omitempty"`
	InterfaceName string         `json:"interfaceName,omitempty"`
	ExpectedIPs   []string       `json:"expectedIPs,omitempty"`
	Profiles      []string       `json:"profiles,omitempty"`
	Ports         []EndpointPort `json:"ports,omitempty"`
}

// EndpointPort is a named port on a host endpoint.
type EndpointPort struct {
	Name     string   `json:"name"`
	Protocol Protocol `json:"protocol"`
	Port     uint16   `json:"port"`
}

// NewHostEndpoint returns an empty HostEndpoint with its type set.
func NewHostEndpoint() *HostEndpoint {
	return &HostEndpoint{TypeMeta: TypeMeta{Kind: KindHostEndpoint, APIVersion: APIVersion}}
}

// GetObjectMeta implements Resource.
func (r *HostEndpoint) GetObjectMeta() *ObjectMeta { return &r.Metadata }

// DeepCopy returns a deep copy of r.
func (r *HostEndpoint) DeepCopy() *HostEndpoint { return deepCopy(r) }

// DeepCopyResource implements Resource.
func (r *HostEndpoint) DeepCopyResource() Resource { return r.DeepCopy() }
