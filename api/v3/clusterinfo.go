package v3

// ClusterInformation (name "default") describes the Calico cluster.
type ClusterInformation struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta             `json:"metadata"`
	Spec     ClusterInformationSpec `json:"spec"`
}

// ClusterInformationSpec is the body of a ClusterInformation.
type ClusterInformationSpec struct {
	ClusterGUID    string `json:"clusterGUID,omitempty"`
	ClusterType    string `json:"clusterType,omitempty"`
	CalicoVersion  string `json:"calicoVersion,omitempty"`
	DatastoreReady *bool  `json:"datastoreReady,omitempty"`
	Variant        string `json:"variant,omitempty"`
}

// NewClusterInformation returns an empty ClusterInformation with its type set.
func NewClusterInformation() *ClusterInformation {
	return &ClusterInformation{TypeMeta: TypeMeta{Kind: KindClusterInformation, APIVersion: APIVersion}}
}

// GetObjectMeta implements Resource.
func (r *ClusterInformation) GetObjectMeta() *ObjectMeta { return &r.Metadata }

// DeepCopy returns a deep copy of r.
func (r *ClusterInformation) DeepCopy() *ClusterInformation { return deepCopy(r) }

// DeepCopyResource implements Resource.
func (r *ClusterInformation) DeepCopyResource() Resource { return r.DeepCopy() }
