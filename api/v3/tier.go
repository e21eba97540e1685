package v3

// Names and orders of the tiers Calico creates at start-up.
const (
	KubeAdminTierName    = "kube-admin"
	KubeBaselineTierName = "kube-baseline"

	DefaultTierOrder      = 1e6
	KubeAdminTierOrder    = 1000
	KubeBaselineTierOrder = 1e7
)

// Tier groups policies; tiers are evaluated in order.
type Tier struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta `json:"metadata"`
	Spec     TierSpec   `json:"spec"`
}

// TierSpec is the body of a Tier.
type TierSpec struct {
	Order         *float64 `json:"order,omitempty"`
	DefaultAction *Action  `json:"defaultAction,omitempty"`
}

// NewTier returns an empty Tier with its type set.
func NewTier() *Tier {
	return &Tier{TypeMeta: TypeMeta{Kind: KindTier, APIVersion: APIVersion}}
}

// GetObjectMeta implements Resource.
func (r *Tier) GetObjectMeta() *ObjectMeta { return &r.Metadata }

// DeepCopy returns a deep copy of r.
func (r *Tier) DeepCopy() *Tier { return deepCopy(r) }

// DeepCopyResource implements Resource.
func (r *Tier) DeepCopyResource() Resource { return r.DeepCopy() }
