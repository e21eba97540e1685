package v3

// BGPConfiguration holds cluster-wide (name "default") or per-node
// ("node.<name>") BGP settings.
type BGPConfiguration struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta           `json:"metadata"`
	Spec     BGPConfigurationSpec `json:"spec"`
}

// BGPConfigurationSpec is the body of a BGPConfiguration.
type BGPConfigurationSpec struct {
	LogSeverityScreen              string                          `json:"logSeverityScreen,omitempty"`
	NodeToNodeMeshEnabled          *bool                           `json:"nodeToNodeMeshEnabled,omitempty"`
	ASNumber                       *ASNumber                       `json:"asNumber,omitempty"`
	ServiceLoadBalancerIPs         []ServiceIPBlock                `json:"serviceLoadBalancerIPs,omitempty"`
	ServiceExternalIPs             []ServiceIPBlock                `json:"serviceExternalIPs,omitempty"`
	ServiceClusterIPs              []ServiceIPBlock                `json:"serviceClusterIPs,omitempty"`
	Communities                    []Community                     `json:"communities,omitempty"`
	PrefixAdvertisements           []PrefixAdvertisement           `json:"prefixAdvertisements,omitempty"`
	ListenPort                     uint16                          `json:"listenPort,omitempty"`
	NodeMeshPassword               *BGPPassword                    `json:"nodeMeshPassword,omitempty"`
	NodeMeshMaxRestartTime         *Duration                       `json:"nodeMeshMaxRestartTime,omitempty"`
	BindMode                       *BindMode                       `json:"bindMode,omitempty"`
	IgnoredInterfaces              []string                        `json:"ignoredInterfaces,omitempty"`
	LocalWorkloadPeeringIPV4       string                          `json:"localWorkloadPeeringIPV4,omitempty"`
	LocalWorkloadPeeringIPV6       string                          `json:"localWorkloadPeeringIPV6,omitempty"`
	ServiceLoadBalancerAggregation *ServiceLoadBalancerAggregation `json:"serviceLoadBalancerAggregation,omitempty"`
	ProgramClusterRoutes           *string                         `json:"programClusterRoutes,omitempty"`
	IPv4NormalRoutePriority        *int                            `json:"ipv4NormalRoutePriority,omitempty"`
	IPv6NormalRoutePriority        *int                            `json:"ipv6NormalRoutePriority,omitempty"`
}

// ServiceIPBlock is a CIDR of service addresses to advertise.
type ServiceIPBlock struct {
	CIDR string `json:"cidr,omitempty"`
}

// Community names a BGP community value "aa:nn" or "aa:nn:mm".
type Community struct {
	Name  string `json:"name,omitempty"`
	Value string `json:"value,omitempty"`
}

// PrefixAdvertisement attaches communities to routes within a CIDR.
type PrefixAdvertisement struct {
	CIDR        string   `json:"cidr,omitempty"`
	Communities []string `json:"communities,omitempty"`
}

// BindMode says which address BIRD listens on.
type BindMode string

// Bind modes.
const (
	BindModeNone   BindMode = "None"
	BindModeNodeIP BindMode = "NodeIP"
)

// ServiceLoadBalancerAggregation says whether LoadBalancer IPs are
// advertised aggregated.
type ServiceLoadBalancerAggregation string

// Aggregation settings.
const (
	AggregationEnabled  ServiceLoadBalancerAggregation = "Enabled"
	AggregationDisabled ServiceLoadBalancerAggregation = "Disabled"
)

// BGPPassword refers to a BGP session password.
type BGPPassword struct {
	SecretKeyRef *SecretKeySelector `json:"secretKeyRef,omitempty"`
}

// SecretKeySelector selects a key of a Kubernetes secret.
type SecretKeySelector struct {
	Name     string `json:"name,omitempty"`
	Key      string `json:"key"`
	Optional *bool  `json:"optional,omitempty"`
}

// NewBGPConfiguration returns an empty BGPConfiguration with its type set.
func NewBGPConfiguration() *BGPConfiguration {
	return &BGPConfiguration{TypeMeta: TypeMeta{Kind: KindBGPConfiguration, APIVersion: APIVersion}}
}

// GetObjectMeta implements Resource.
func (r *BGPConfiguration) GetObjectMeta() *ObjectMeta { return &r.Metadata }

// DeepCopy returns a deep copy of r.
func (r *BGPConfiguration) DeepCopy() *BGPConfiguration { return deepCopy(r) }

// DeepCopyResource implements Resource.
func (r *BGPConfiguration) DeepCopyResource() Resource { return r.DeepCopy() }

// BGPPeer configures BGP sessions between selected nodes and a peer.
type BGPPeer struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta  `json:"metadata"`
	Spec     BGPPeerSpec `json:"spec"`
}

// BGPPeerSpec is the body of a BGPPeer.
type BGPPeerSpec struct {
	Node                     string          `json:"node,omitempty"`
	NodeSelector             string          `json:"nodeSelector,omitempty"`
	PeerIP                   string          `json:"peerIP,omitempty"`
	ASNumber                 ASNumber        `json:"asNumber,omitempty"`
	PeerSelector             string          `json:"peerSelector,omitempty"`
	KeepOriginalNextHop      bool            `json:"keepOriginalNextHop,omitempty"`
	NextHopMode              *NextHopMode    `json:"nextHopMode,omitempty"`
	Password                 *BGPPassword    `json:"password,omitempty"`
	SourceAddress            SourceAddress   `json:"sourceAddress,omitempty"`
	MaxRestartTime           *Duration       `json:"maxRestartTime,omitempty"`
	NumAllowedLocalASNumbers *int32          `json:"numAllowedLocalASNumbers,omitempty"`
	TTLSecurity              *uint8          `json:"ttlSecurity,omitempty"`
	ReachableBy              string          `json:"reachableBy,omitempty"`
	Filters                  []string        `json:"filters,omitempty"`
	LocalASNumber            *ASNumber       `json:"localASNumber,omitempty"`
	KeepaliveTime            *Duration       `json:"keepaliveTime,omitempty"`
	LocalWorkloadSelector    string          `json:"localWorkloadSelector,omitempty"`
	ReversePeering           *ReversePeering `json:"reversePeering,omitempty"`
}

// SourceAddress says which source address BGP sessions use.
type SourceAddress string

// Source address settings.
const (
	SourceAddressUseNodeIP SourceAddress = "UseNodeIP"
	SourceAddressNone      SourceAddress = "None"
)

// NextHopMode says how the next hop of advertised routes is set.
type NextHopMode string

// Next hop modes.
const (
	NextHopAuto NextHopMode = "Auto"
	NextHopSelf NextHopMode = "Self"
	NextHopKeep NextHopMode = "Keep"
)

// ReversePeering says whether the reverse session is configured for us.
type ReversePeering string

// Reverse peering settings.
const (
	ReversePeeringAuto   ReversePeering = "Auto"
	ReversePeeringManual ReversePeering = "Manual"
)

// NewBGPPeer returns an empty BGPPeer with its type set.
func NewBGPPeer() *BGPPeer {
	return &BGPPeer{TypeMeta: TypeMeta{Kind: KindBGPPeer, APIVersion: APIVersion}}
}

// GetObjectMeta implements Resource.
func (r *BGPPeer) GetObjectMeta() *ObjectMeta { return &r.Metadata }

// DeepCopy returns a deep copy of r.
func (r *BGPPeer) DeepCopy() *BGPPeer { return deepCopy(r) }

// DeepCopyResource implements Resource.
func (r *BGPPeer) DeepCopyResource() Resource { return r.DeepCopy() }
