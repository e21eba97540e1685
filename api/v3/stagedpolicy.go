package v3

// StagedAction says what applying a staged policy would do.
type StagedAction string

// Staged actions.
const (
	StagedActionSet    StagedAction = "Set"
	StagedActionDelete StagedAction = "Delete"
	StagedActionLearn  StagedAction = "Learn"
	StagedActionIgnore StagedAction = "Ignore"
)

// StagedNetworkPolicy is a NetworkPolicy that is evaluated but never enforced.
type StagedNetworkPolicy struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta              `json:"metadata"`
	Spec     StagedNetworkPolicySpec `json:"spec"`
}

// StagedNetworkPolicySpec is the body of a StagedNetworkPolicy.
type StagedNetworkPolicySpec struct {
	StagedAction           StagedAction            `json:"stagedAction,omitempty"`
	Tier                   string                  `json:"tier,omitempty"`
	Order                  *float64                `json:"order,omitempty"`
	Ingress                []Rule                  `json:"ingress,omitempty"`
	Egress                 []Rule                  `json:"egress,omitempty"`
	Selector               string                  `json:"selector,omitempty"`
	Types                  []PolicyType            `json:"types,omitempty"`
	ServiceAccountSelector string                  `json:"serviceAccountSelector,omitempty"`
	PerformanceHints       []PolicyPerformanceHint `json:"performanceHints,omitempty"`
}

// NewStagedNetworkPolicy returns an empty StagedNetworkPolicy with its type set.
func NewStagedNetworkPolicy() *StagedNetworkPolicy {
	return &StagedNetworkPolicy{TypeMeta: TypeMeta{Kind: KindStagedNetworkPolicy, APIVersion: APIVersion}}
}

// GetObjectMeta implements Resource.
func (r *StagedNetworkPolicy) GetObjectMeta() *ObjectMeta { return &r.Metadata }

// DeepCopy returns a deep copy of r.
func (r *StagedNetworkPolicy) DeepCopy() *StagedNetworkPolicy { return deepCopy(r) }

// DeepCopyResource implements Resource.
func (r *StagedNetworkPolicy) DeepCopyResource() Resource { return r.DeepCopy() }

// StagedGlobalNetworkPolicy is a GlobalNetworkPolicy that is evaluated but
// never enforced.
type StagedGlobalNetworkPolicy struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta                    `json:"metadata"`
	Spec     StagedGlobalNetworkPolicySpec `json:"spec"`
}

// StagedGlobalNetworkPolicySpec is the body of a StagedGlobalNetworkPolicy.
type StagedGlobalNetworkPolicySpec struct {
	StagedAction           StagedAction            `json:"stagedAction,omitempty"`
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

// NewStagedGlobalNetworkPolicy returns an empty StagedGlobalNetworkPolicy
// with its type set.
func NewStagedGlobalNetworkPolicy() *StagedGlobalNetworkPolicy {
	return &StagedGlobalNetworkPolicy{TypeMeta: TypeMeta{Kind: KindStagedGlobalNetworkPolicy, APIVersion: APIVersion}}
}

// GetObjectMeta implements Resource.
func (r *StagedGlobalNetworkPolicy) GetObjectMeta() *ObjectMeta { return &r.Metadata }

// DeepCopy returns a deep copy of r.
func (r *StagedGlobalNetworkPolicy) DeepCopy() *StagedGlobalNetworkPolicy { return deepCopy(r) }

// DeepCopyResource implements Resource.
func (r *StagedGlobalNetworkPolicy) DeepCopyResource() Resource { return r.DeepCopy() }
