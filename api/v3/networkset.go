package v3

// NetworkSet is a namespaced, labelled set of networks that selectors match.
type NetworkSet struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta     `json:"metadata"`
	Spec     NetworkSetSpec `json:"spec"`
}

// NetworkSetSpec is the body of a NetworkSet.
type NetworkSetSpec struct {
	Nets []string `json:"nets,omitempty"`
}

// NewNetworkSet returns an empty NetworkSet with its type set.
func NewNetworkSet() *NetworkSet {
	return &NetworkSet{TypeMeta: TypeMeta{Kind: KindNetworkSet, APIVersion: APIVersion}}
}

// GetObjectMeta implements Resource.
func (r *NetworkSet) GetObjectMeta() *ObjectMeta { return &r.Metadata }

// DeepCopy returns a deep copy of r.
func (r *NetworkSet) DeepCopy() *NetworkSet { return deepCopy(r) }

// DeepCopyResource implements Resource.
func (r *NetworkSet) DeepCopyResource() Resource { return r.DeepCopy() }

// GlobalNetworkSet is a cluster-wide, labelled set of networks.
type GlobalNetworkSet struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta           `json:"metadata"`
	Spec     GlobalNetworkSetSpec `json:"spec"`
}

// GlobalNetworkSetSpec is the body of a GlobalNetworkSet.
type GlobalNetworkSetSpec struct {
	Nets []string `json:"nets,omitempty"`
}

// NewGlobalNetworkSet returns an empty GlobalNetworkSet with its type set.
func NewGlobalNetworkSet() *GlobalNetworkSet {
	return &GlobalNetworkSet{TypeMeta: TypeMeta{Kind: KindGlobalNetworkSet, APIVersion: APIVersion}}
}

// GetObjectMeta implements Resource.
func (r *GlobalNetworkSet) GetObjectMeta() *ObjectMeta { return &r.Metadata }

// DeepCopy returns a deep copy of r.
func (r *GlobalNetworkSet) DeepCopy() *GlobalNetworkSet { return deepCopy(r) }

// DeepCopyResource implements Resource.
func (r *GlobalNetworkSet) DeepCopyResource() Resource { return r.DeepCopy() }
