package v3

// EncapMode is an IPIP or VXLAN encapsulation mode of a pool.
type EncapMode string

// Encapsulation modes.
const (
	EncapNever       EncapMode = "Never"
	EncapAlways      EncapMode = "Always"
	EncapCrossSubnet EncapMode = "CrossSubnet"
)

// IPPoolAllowedUse is something addresses from a pool may be used for.
type IPPoolAllowedUse string

// Allowed uses of a pool.
const (
	AllowedUseWorkload     IPPoolAllowedUse = "Workload"
	AllowedUseTunnel       IPPoolAllowedUse = "Tunnel"
	AllowedUseLoadBalancer IPPoolAllowedUse = "LoadBalancer"
)

// AssignmentMode says whether IPAM may pick addresses from a pool on its own.
type AssignmentMode string

// Assignment modes.
const (
	AssignmentAutomatic AssignmentMode = "Automatic"
	AssignmentManual    AssignmentMode = "Manual"
)

// IPPool is a range of addresses that IPAM hands out in blocks.
type IPPool struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta `json:"metadata"`
	Spec     IPPoolSpec `json:"spec"`
}

// IPPoolSpec is the body of an IPPool.
type IPPoolSpec struct {
	CIDR              string             `json:"cidr"`
	VXLANMode         EncapMode          `json:"vxlanMode,omitempty"`
	IPIPMode          EncapMode          `json:"ipipMode,omitempty"`
	NATOutgoing       bool               `json:"natOutgoing,omitempty"`
	Disabled          bool               `json:"disabled,omitempty"`
	DisableBGPExport  bool               `json:"disableBGPExport,omitempty"`
	BlockSize         int                `json:"blockSize,omitempty"`
	NodeSelector      string             `json:"nodeSelector,omitempty"`
	NamespaceSelector string             `json:"namespaceSelector,omitempty"`
	IPIP              *IPIPConfiguration `json:"ipip,omitempty"`
	NATOutgoingV1     bool               `json:"nat-outgoing,omitempty"`
	AllowedUses       []IPPoolAllowedUse `json:"allowedUses,omitempty"`
	AssignmentMode    *AssignmentMode    `json:"assignmentMode,omitempty"`
}

// IPIPConfiguration is the API v1 form of ipipMode, kept only so that old
// values still read; users may not set it.
type IPIPConfiguration struct {
	Enabled bool   `json:"enabled,omitempty"`
	Mode    string `json:"mode,omitempty"`
}

// NewIPPool returns an empty IPPool with its type set.
func NewIPPool() *IPPool {
	return &IPPool{TypeMeta: TypeMeta{Kind: KindIPPool, APIVersion: APIVersion}}
}

// GetObjectMeta implements Resource.
func (r *IPPool) GetObjectMeta() *ObjectMeta { return &r.Metadata }

// DeepCopy returns a deep copy of r.
func (r *IPPool) DeepCopy() *IPPool { return deepCopy(r) }

// DeepCopyResource implements Resource.
func (r *IPPool) DeepCopyResource() Resource { return r.DeepCopy() }

// IPReservation lists addresses that IPAM must not hand out.
type IPReservation struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta        `json:"metadata"`
	Spec     IPReservationSpec `json:"spec"`
}

// IPReservationSpec is the body of an IPReservation.
type IPReservationSpec struct {
	ReservedCIDRs []string `json:"reservedCIDRs,omitempty"`
}

// NewIPReservation returns an empty IPReservation with its type set.
func NewIPReservation() *IPReservation {
	return &IPReservation{TypeMeta: TypeMeta{Kind: KindIPReservation, APIVersion: APIVersion}}
}

// GetObjectMeta implements Resource.
func (r *IPReservation) GetObjectMeta() *ObjectMeta { return &r.Metadata }

// DeepCopy returns a deep copy of r.
func (r *IPReservation) DeepCopy() *IPReservation { return deepCopy(r) }

// DeepCopyResource implements Resource.
func (r *IPReservation) DeepCopyResource() Resource { return r.DeepCopy() }
