package v3

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPolicyStorageTransforms(t *testing.T) {
	tests := []struct {
		name   string
		in     Resource
		stored ObjectMeta // after PolicyToStorage
	}{
		{
			name:   "default tier",
			in:     &NetworkPolicy{Metadata: ObjectMeta{Name: "allow-web", Namespace: "prod"}},
			stored: ObjectMeta{Name: "default.allow-web", Namespace: "prod", Labels: map[string]string{LabelTier: "default"}, Annotations: map[string]string{AnnotationMetadata: `{"name":"allow-web"}`}},
		},
		{
			name: "named tier keeps other metadata",
			in: &GlobalNetworkPolicy{Metadata: ObjectMeta{Name: "sec.block", Labels: map[string]string{"a": "b"}, Annotations: map[string]string{"n": "v"}},
				Spec: GlobalNetworkPolicySpec{Tier: "sec"}},
			stored: ObjectMeta{Name: "sec.block", Labels: map[string]string{"a": "b", LabelTier: "sec"}, Annotations: map[string]string{"n": "v", AnnotationMetadata: `{"name":"sec.block"}`}},
		},
		{
			name:   "staged",
			in:     &StagedGlobalNetworkPolicy{Metadata: ObjectMeta{Name: "s"}},
			stored: ObjectMeta{Name: "default.s", Labels: map[string]string{LabelTier: "default"}, Annotations: map[string]string{AnnotationMetadata: `{"name":"s"}`}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := *tt.in.GetObjectMeta().DeepCopy()
			PolicyToStorage(tt.in)
			if diff := cmp.Diff(tt.stored, *tt.in.GetObjectMeta()); diff != "" {
				t.Errorf("PolicyToStorage (-want +got):\n%s", diff)
			}
			PolicyFromStorage(tt.in)
			want := orig
			want.Labels = tt.stored.Labels // the tier label stays
			if tier := tierOf(tt.in); tier != "default" && tier != "sec" {
				t.Errorf("tier after PolicyFromStorage = %q", tier)
			}
			if diff := cmp.Diff(want, *tt.in.GetObjectMeta()); diff != "" {
				t.Errorf("PolicyFromStorage (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPolicyFromStorageLegacyNames(t *testing.T) {
	tests := []struct {
		name string
		in   Resource
		want string
	}{
		{"default prefix stripped", &NetworkPolicy{Metadata: ObjectMeta{Name: "default.allow"}}, "allow"},
		{"explicit default tier", &GlobalNetworkPolicy{Metadata: ObjectMeta{Name: "default.allow"}, Spec: GlobalNetworkPolicySpec{Tier: "default"}}, "allow"},
		{"other tier untouched", &GlobalNetworkPolicy{Metadata: ObjectMeta{Name: "default.allow"}, Spec: GlobalNetworkPolicySpec{Tier: "sec"}}, "default.allow"},
		{"annotation wins", &NetworkPolicy{Metadata: ObjectMeta{Name: "default.x", Annotations: map[string]string{AnnotationMetadata: `{"name":"default.x"}`}}}, "default.x"},
		{"no prefix", &NetworkPolicy{Metadata: ObjectMeta{Name: "allow"}}, "allow"},
		{"upstream stored form", &GlobalNetworkPolicy{Metadata: ObjectMeta{Name: "default.allow", Annotations: map[string]string{AnnotationMetadata: `{"name":"allow"}`}}}, "allow"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			PolicyFromStorage(tt.in)
			if got := tt.in.GetObjectMeta().Name; got != tt.want {
				t.Errorf("name = %q, want %q", got, tt.want)
			}
			if _, ok := tt.in.GetObjectMeta().Annotations[AnnotationMetadata]; ok {
				t.Error("metadata annotation not removed")
			}
		})
	}
}

func TestPolicyTransformsIgnoreOtherKinds(t *testing.T) {
	p := &IPPool{Metadata: ObjectMeta{Name: "default.x"}}
	PolicyToStorage(p)
	PolicyFromStorage(p)
	if diff := cmp.Diff(&IPPool{Metadata: ObjectMeta{Name: "default.x"}}, p); diff != "" {
		t.Errorf("IPPool changed (-want +got):\n%s", diff)
	}
}

func TestDefaultAllowProfile(t *testing.T) {
	p := DefaultAllowProfile()
	if err := Validate(p); err != nil {
		t.Fatal(err)
	}
	b := p.DeepCopyResource().(*Profile)
	if b.Metadata.Name != DefaultAllowProfileName || b.Metadata.ResourceVersion != "1" {
		t.Errorf("metadata = %+v", b.Metadata)
	}
	want := []Rule{{Action: Allow}}
	if diff := cmp.Diff(want, p.Spec.Ingress); diff != "" {
		t.Errorf("ingress (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, p.Spec.Egress); diff != "" {
		t.Errorf("egress (-want +got):\n%s", diff)
	}
}

func tierOf(r Resource) string {
	_, tier, _ := policyParts(r)
	return *tier
}

// Upstream's reader fills a missing spec.tier from the stored name and a
// missing tier label; ours must too, or selectors on the label miss
// policies upstream wrote.
func TestPolicyFromStorageFillsTier(t *testing.T) {
	tests := []struct {
		in       Resource
		wantTier string
	}{
		{&GlobalNetworkPolicy{Metadata: ObjectMeta{Name: "default.allow"}}, "default"},
		{&GlobalNetworkPolicy{Metadata: ObjectMeta{Name: "security.allow"}}, "security"},
		{&NetworkPolicy{Metadata: ObjectMeta{Name: "knp.default.web"}}, "default"},
		{&NetworkPolicy{Metadata: ObjectMeta{Name: "ossg.default.sg1"}}, "default"},
		{&GlobalNetworkPolicy{Metadata: ObjectMeta{Name: "kanp.adminnetworkpolicy.x"}}, "adminnetworkpolicy"},
		{&GlobalNetworkPolicy{Metadata: ObjectMeta{Name: "security.allow"}, Spec: GlobalNetworkPolicySpec{Tier: "security"}}, "security"},
	}
	for _, tt := range tests {
		PolicyFromStorage(tt.in)
		if got := tierOf(tt.in); got != tt.wantTier {
			t.Errorf("%s: spec.tier = %q, want %q", tt.in.GetObjectMeta().Name, got, tt.wantTier)
		}
		if got := tt.in.GetObjectMeta().Labels[LabelTier]; got != tt.wantTier {
			t.Errorf("%s: tier label = %q, want %q", tt.in.GetObjectMeta().Name, got, tt.wantTier)
		}
	}
}

func TestStoragePolicyName(t *testing.T) {
	for in, want := range map[string]string{
		"allow":            "default.allow",
		"default.allow":    "default.allow",
		"security.allow":   "security.allow",
		"knp.default.web":  "knp.default.web",
		"ossg.default.sg1": "ossg.default.sg1",
		"":                 "",
	} {
		if got := StoragePolicyName(in); got != want {
			t.Errorf("StoragePolicyName(%q) = %q, want %q", in, got, want)
		}
	}
}
