package v3

// DefaultAllowProfileName is the virtual profile that allows everything.
const DefaultAllowProfileName = "projectcalico-default-allow"

// Profile holds rules and labels that endpoints inherit by listing it.
type Profile struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta  `json:"metadata"`
	Spec     ProfileSpec `json:"spec"`
}

// ProfileSpec is the body of a Profile.
type ProfileSpec struct {
	Ingress       []Rule            `json:"ingress,omitempty"`
	Egress        []Rule            `json:"egress,omitempty"`
	LabelsToApply map[string]string `json:"labelsToApply,omitempty"`
}

// NewProfile returns an empty Profile with its type set.
func NewProfile() *Profile {
	return &Profile{TypeMeta: TypeMeta{Kind: KindProfile, APIVersion: APIVersion}}
}

// DefaultAllowProfile returns the virtual profile that is never stored but
// is always readable: it allows all traffic in both directions.
func DefaultAllowProfile() *Profile {
	p := NewProfile()
	p.Metadata.Name = DefaultAllowProfileName
	p.Metadata.ResourceVersion = "1"
	p.Spec.Ingress = []Rule{{Action: Allow}}
	p.Spec.Egress = []Rule{{Action: Allow}}
	return p
}

// GetObjectMeta implements Resource.
func (r *Profile) GetObjectMeta() *ObjectMeta { return &r.Metadata }

// DeepCopy returns a deep copy of r.
func (r *Profile) DeepCopy() *Profile { return deepCopy(r) }

// DeepCopyResource implements Resource.
func (r *Profile) DeepCopyResource() Resource { return r.DeepCopy() }
