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

// policyParts returns the metadata and the tier field of a policy kind.
func policyParts(r Resource) (*ObjectMeta, *string, bool) {
	if isNil(r) {
		return nil, nil, false
	}
	switch o := r.(type) {
	case *NetworkPolicy:
		return &o.Metadata, &o.Spec.Tier, true
	case *GlobalNetworkPolicy:
		return &o.Metadata, &o.Spec.Tier, true
	case *StagedNetworkPolicy:
		return &o.Metadata, &o.Spec.Tier, true
	case *StagedGlobalNetworkPolicy:
		return &o.Metadata, &o.Spec.Tier, true
	}
	return nil, nil, false
}

// IsPolicyKind reports whether kind is one of the four policy kinds whose
// names are stored in tiered form.
func IsPolicyKind(kind string) bool {
	switch kind {
	case KindNetworkPolicy, KindGlobalNetworkPolicy, KindStagedNetworkPolicy, KindStagedGlobalNetworkPolicy:
		return true
	}
	return false
}

// Prefixes of policy names that are already in stored form whatever their
// tier: policies converted from Kubernetes and OpenStack objects.
var formattedPolicyPrefixes = []string{"knp.default.", "kanp.adminnetworkpolicy.", "kbanp.baselineadminnetworkpolicy.", "ossg."}

func policyNameIsFormatted(name string) bool {
	for _, p := range formattedPolicyPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// StoragePolicyName is the name a policy is stored under, in its etcd key
// and in the stored metadata.name, as upstream does: a name without a dot
// is in the default tier and gets the prefix "default."; a name with a
// dot already carries its tier ("security.allow-dns"), and converted
// names (knp.default.*, ossg.*) are kept as they are.
func StoragePolicyName(name string) string {
	if name == "" || policyNameIsFormatted(name) || strings.Contains(name, ".") {
		return name
	}
	return DefaultTierName + "." + name
}

// tierFromPolicyName is the tier a stored policy name implies.
func tierFromPolicyName(name string) string {
	if policyNameIsFormatted(name) {
		if strings.HasPrefix(name, "kanp.") {
			return "adminnetworkpolicy"
		}
		if strings.HasPrefix(name, "kbanp.") {
			return "baselineadminnetworkpolicy"
		}
		return DefaultTierName
	}
	if tier, _, found := strings.Cut(name, "."); found {
		return tier
	}
	return DefaultTierName
}

// PolicyToStorage prepares a policy for writing as upstream does: it
// records the name in the projectcalico.org/metadata annotation, stores
// the policy under StoragePolicyName and sets the projectcalico.org/tier
// label. Other kinds are left alone.
func PolicyToStorage(r Resource) {
	m, tierp, ok := policyParts(r)
	if !ok {
		return
	}
	tier := *tierp
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
	m.Name = StoragePolicyName(m.Name)
	if m.Labels == nil {
		m.Labels = map[string]string{}
	}
	m.Labels[LabelTier] = tier
}

// PolicyFromStorage reverses PolicyToStorage after a read: the name comes
// from the projectcalico.org/metadata annotation, which is dropped; without
// it, a leading "default." is stripped from policies in the default tier
// (names written by older versions). As upstream's reader does, a missing
// spec.tier is taken from the stored name and a missing
// projectcalico.org/tier label is added. Other kinds are left alone.
func PolicyFromStorage(r Resource) {
	m, tierp, ok := policyParts(r)
	if !ok {
		return
	}
	if *tierp == "" {
		*tierp = tierFromPolicyName(m.Name)
	}
	tier := *tierp
	if _, has := m.Labels[LabelTier]; !has {
		if m.Labels == nil {
			m.Labels = map[string]string{}
		}
		m.Labels[LabelTier] = tier
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
