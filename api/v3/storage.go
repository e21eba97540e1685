package v3

import (
	"encoding/json"
	"strings"
)

// Metadata keys used when storing policies.
const (
	LabelTier          = "projectcalico.org/tier"
	AnnotationMetadata = "projectcalico.org/metadata"
)

// policyParts returns the metadata and tier of a policy kind.
func policyParts(r Resource) (*ObjectMeta, string, bool) {
	if isNil(r) {
		return nil, "", false
	}
	switch o := r.(type) {
	case *NetworkPolicy:
		return &o.Metadata, o.Spec.Tier, true
	case *GlobalNetworkPolicy:
		return &o.Metadata, o.Spec.Tier, true
	case *StagedNetworkPolicy:
		return &o.Metadata, o.Spec.Tier, true
	case *StagedGlobalNetworkPolicy:
		return &o.Metadata, o.Spec.Tier, true
	}
	return nil, "", false
}

// PolicyToStorage prepares a policy for writing as upstream does: it
// records the name in the projectcalico.org/metadata annotation and sets
// the projectcalico.org/tier label. Other kinds are left alone.
func PolicyToStorage(r Resource) {
	m, tier, ok := policyParts(r)
	if !ok {
		return
	}
	if tier == "" {
		tier = DefaultTierName
	}
	b, _ := json.Marshal(struct {
		Name string `json:"name"`
	}{m.Name}) // marshalling a string field cannot fail
	if m.Annotations == nil {
		m.Annotations = map[string]string{}
	}
	m.Annotations[AnnotationMetadata] = string(b)
	if m.Labels == nil {
		m.Labels = map[string]string{}
	}
	m.Labels[LabelTier] = tier
}

// PolicyFromStorage reverses PolicyToStorage after a read: the name comes
// from the projectcalico.org/metadata annotation, which is dropped; without
// it, a leading "default." is stripped from policies in the default tier
// (names written by older versions). Other kinds are left alone.
func PolicyFromStorage(r Resource) {
	m, tier, ok := policyParts(r)
	if !ok {
		return
	}
	if a, ok := m.Annotations[AnnotationMetadata]; ok {
		var md struct {
			Name string `json:"name"`
		}
		if json.Unmarshal([]byte(a), &md) == nil && md.Name != "" {
			m.Name = md.Name
		}
		delete(m.Annotations, AnnotationMetadata)
		if len(m.Annotations) == 0 {
			m.Annotations = nil
		}
		return
	}
	if tier == "" || tier == DefaultTierName {
		m.Name = strings.TrimPrefix(m.Name, DefaultTierName+".")
	}
}
