package v3

// PolicyType is a direction a policy applies to.
type PolicyType string

// Policy types.
const (
	PolicyTypeIngress PolicyType = "Ingress"
	PolicyTypeEgress  PolicyType = "Egress"
)

// PolicyPerformanceHint is an optimisation hint on a policy.
type PolicyPerformanceHint string

// PerfHintAssumeNeededOnEveryNode tells the dataplane to program the policy
// everywhere ahead of need.
const PerfHintAssumeNeededOnEveryNode PolicyPerformanceHint = "AssumeNeededOnEveryNode"

// DefaultTierName is the tier of a policy that names none.
const DefaultTierName = "default"

// NetworkPolicy is a namespaced policy.
type NetworkPolicy struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta        `json:"metadata"`
	Spec     NetworkPolicySpec `json:"spec"`
}

// NetworkPolicySpec is the body of a NetworkPolicy.
type NetworkPolicySpec struct {
	Tier                   string                  `json:"tier,omitempty"`
	Order                  *float64                `json:"order,omitempty"`
	Ingress                []Rule                  `json:"ingress,omitempty"`
	Egress                 []Rule                  `json:"egress,omitempty"`
	Selector               string                  `json:"selector,omitempty"`
	Types                  []PolicyType            `json:"types,omitempty"`
	ServiceAccountSelector string                  `json:"serviceAccountSelector,omitempty"`
	PerformanceHints       []PolicyPerformanceHint `json:"performanceHints,omitempty"`
}

// NewNetworkPolicy returns an empty NetworkPolicy with its type set.
func NewNetworkPolicy() *NetworkPolicy {
	return &NetworkPolicy{TypeMeta: TypeMeta{Kind: KindNetworkPolicy, APIVersion: APIVersion}}
}

// GetObjectMeta implements Resource.
func (r *NetworkPolicy) GetObjectMeta() *ObjectMeta { return &r.Metadata }

// DeepCopy returns a deep copy of r.
func (r *NetworkPolicy) DeepCopy() *NetworkPolicy { return deepCopy(r) }

// DeepCopyResource implements Resource.
func (r *NetworkPolicy) DeepCopyResource() Resource { return r.DeepCopy() }

// GlobalNetworkPolicy is a cluster-wide policy.
type GlobalNetworkPolicy struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta              `json:"metadata"`
	Spec     GlobalNetworkPolicySpec `json:"spec"`
}

// GlobalNetworkPolicySpec is the body of a GlobalNetworkPolicy.
type GlobalNetworkPolicySpec struct {
	Tier                   string                  `json:"tier,omitempty"`
	Order                  *float64                `json:"order,omitempty"`
	Ingress                []Rule                  `json:"ingress,omitempty"`
	Egress                 []Rule                  `json:"egress,omitempty"`
	Selector               string                  `json:"selector,omitempty"`
	Types                  []PolicyType            `json:"types,omitempty"`
	DoNotTrack             bool                    `json:"doNotTrack,omitempty"`
	PreDNAT                bool                    `json:"preDNAT,omitempty"`
	ApplyOnForward         bool                    `json:"applyOnForward,omitempty"`
	ServiceAccountSelector string                  `json:"serviceAccountSelector,omitempty"`
	NamespaceSelector      string                  `json:"namespaceSelector,omitempty"`
	PerformanceHints       []PolicyPerformanceHint `json:"performanceHints,omitempty"`
}

// NewGlobalNetworkPolicy returns an empty GlobalNetworkPolicy with its type set.
func NewGlobalNetworkPolicy() *GlobalNetworkPolicy {
	return &GlobalNetworkPolicy{TypeMeta: TypeMeta{Kind: KindGlobalNetworkPolicy, APIVersion: APIVersion}}
}

// GetObjectMeta implements Resource.
func (r *GlobalNetworkPolicy) GetObjectMeta() *ObjectMeta { return &r.Metadata }

// DeepCopy returns a deep copy of r.
func (r *GlobalNetworkPolicy) DeepCopy() *GlobalNetworkPolicy { return deepCopy(r) }

// DeepCopyResource implements Resource.
func (r *GlobalNetworkPolicy) DeepCopyResource() Resource { return r.DeepCopy() }
