package v3

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// vcase is one validation test: a resource and the paths of the errors it
// must produce (none for a valid resource).
type vcase struct {
	name  string
	r     Resource
	paths []string
}

// with applies f to r and returns r, to derive cases from a valid base.
func with[T Resource](r T, f func(T)) Resource {
	f(r)
	return r
}

// runValidation checks that each case fails exactly at the given paths.
func runValidation(t *testing.T, cases []vcase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(tc.r)
			var got []string
			if err != nil {
				var ve *ValidationError
				if !errors.As(err, &ve) {
					t.Fatalf("error %v is not a *ValidationError", err)
				}
				for _, fe := range ve.Errors {
					got = append(got, fe.Path)
				}
			}
			slices.Sort(got)
			got = slices.Compact(got)
			want := slices.Clone(tc.paths)
			slices.Sort(want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("error paths (-want +got):\n%s\nerror: %v", diff, err)
			}
		})
	}
}

func TestValidationErrorFormat(t *testing.T) {
	p := NewIPPool()
	p.Metadata.Name = "p1"
	p.Spec.CIDR = "10.0.0.0/33"
	p.Spec.IPIPMode = "Sometimes"
	err := Validate(p)
	want := `IPPool "p1": spec.cidr "10.0.0.0/33": not a valid CIDR; spec.ipipMode "Sometimes": must be one of Never, Always, CrossSubnet`
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Errors[0].Value != "10.0.0.0/33" {
		t.Errorf("first error value = %#v, want the offending CIDR", ve.Errors[0].Value)
	}
}

func TestValidateAllKindsEmpty(t *testing.T) {
	// A resource with nothing set fails cleanly (no panic), naming the
	// missing name at least.
	for _, k := range Kinds() {
		err := Validate(k.New())
		if err == nil || !strings.Contains(err.Error(), "metadata.name") {
			t.Errorf("%s: Validate(empty) = %v, want a metadata.name error", k.Kind, err)
		}
	}
	if err := Validate(nil); err == nil {
		t.Error("Validate(nil) = nil")
	}
	var p *IPPool
	if err := Validate(p); err == nil {
		t.Error("Validate(nil *IPPool) = nil")
	}
	SetDefaults(p) // must not panic
}

func TestValidateMeta(t *testing.T) {
	pool := func() *IPPool {
		p := NewIPPool()
		p.Metadata.Name = "pool-1"
		p.Spec.CIDR = "10.0.0.0/16"
		return p
	}
	np := func(name string) *NetworkPolicy {
		p := NewNetworkPolicy()
		p.Metadata = ObjectMeta{Name: name, Namespace: "prod"}
		return p
	}
	gnp := func(name string) *GlobalNetworkPolicy {
		p := NewGlobalNetworkPolicy()
		p.Metadata.Name = name
		return p
	}
	named := func(k, name string) Resource {
		info, _ := LookupKind(k)
		r := info.New()
		r.GetObjectMeta().Name = name
		return r
	}
	long := strings.Repeat("a", 63)
	runValidation(t, []vcase{
		{"valid", pool(), nil},
		{"empty name", with(pool(), func(p *IPPool) { p.Metadata.Name = "" }), []string{"metadata.name"}},
		{"uppercase name", with(pool(), func(p *IPPool) { p.Metadata.Name = "Pool" }), []string{"metadata.name"}},
		{"slash in name", with(pool(), func(p *IPPool) { p.Metadata.Name = "a/b" }), []string{"metadata.name"}},
		{"name too long", with(pool(), func(p *IPPool) { p.Metadata.Name = strings.Repeat(long+".", 4) + "a" }), []string{"metadata.name"}},
		{"dotted name", with(pool(), func(p *IPPool) { p.Metadata.Name = "my.pool-1" }), nil},
		{"generateName", with(pool(), func(p *IPPool) { p.Metadata.GenerateName = "p-" }), []string{"metadata.generateName"}},
		{"namespace on cluster kind", with(pool(), func(p *IPPool) { p.Metadata.Namespace = "ns" }), []string{"metadata.namespace"}},
		{"missing namespace", with(np("p"), func(p *NetworkPolicy) { p.Metadata.Namespace = "" }), []string{"metadata.namespace"}},
		{"bad namespace", with(np("p"), func(p *NetworkPolicy) { p.Metadata.Namespace = "Prod" }), []string{"metadata.namespace"}},
		{"labels ok", with(pool(), func(p *IPPool) {
			p.Metadata.Labels = map[string]string{"app": "", "projectcalico.org/tier": "default", "a.b/c_d": "v-1.2_3", "X": long}
		}), nil},
		{"label key space", with(pool(), func(p *IPPool) { p.Metadata.Labels = map[string]string{"a b": "x"} }), []string{`metadata.labels["a b"]`}},
		{"label key bad prefix", with(pool(), func(p *IPPool) { p.Metadata.Labels = map[string]string{"Foo/x": "x"} }), []string{`metadata.labels["Foo/x"]`}},
		{"label key empty name", with(pool(), func(p *IPPool) { p.Metadata.Labels = map[string]string{"a.com/": "x"} }), []string{`metadata.labels["a.com/"]`}},
		{"label value too long", with(pool(), func(p *IPPool) { p.Metadata.Labels = map[string]string{"a": long + "a"} }), []string{`metadata.labels["a"]`}},
		{"label value bad", with(pool(), func(p *IPPool) { p.Metadata.Labels = map[string]string{"a": "-x"} }), []string{`metadata.labels["a"]`}},
		{"annotation any value", with(pool(), func(p *IPPool) { p.Metadata.Annotations = map[string]string{"Note": "any text / at all"} }), nil},
		{"annotation bad key", with(pool(), func(p *IPPool) { p.Metadata.Annotations = map[string]string{"bad key": "x"} }), []string{`metadata.annotations["bad key"]`}},
		{"annotations too big", with(pool(), func(p *IPPool) { p.Metadata.Annotations = map[string]string{"big": strings.Repeat("x", 256*1024)} }), []string{"metadata.annotations"}},
		{"tier name", named("tier", "security"), nil},
		{"tier dotted name", named("tier", "a.b"), []string{"metadata.name"}},
		{"np two labels", with(np("sec.allow"), func(p *NetworkPolicy) { p.Spec.Tier = "sec" }), nil},
		{"np default prefix", np("default.allow"), nil},
		{"np prefix is not the tier", np("sec.allow"), []string{"metadata.name"}},
		{"np plain name outside default tier", with(np("allow"), func(p *NetworkPolicy) { p.Spec.Tier = "sec" }), []string{"metadata.name"}},
		{"np knp form in default tier", with(np("knp.default.x"), func(p *NetworkPolicy) { p.Spec.Tier = "default" }), nil},
		{"np three labels", np("a.b.c"), []string{"metadata.name"}},
		{"np knp form", np("knp.default.allow.web.x"), nil},
		{"np ossg form", np("ossg.default.x"), nil},
		{"np knp empty", np("knp.default."), []string{"metadata.name"}},
		{"np label too long", np(long + "a.b"), []string{"metadata.name"}},
		{"gnp two labels", with(gnp("sec.allow"), func(p *GlobalNetworkPolicy) { p.Spec.Tier = "sec" }), nil},
		{"gnp prefix is not the tier", with(gnp("other.allow"), func(p *GlobalNetworkPolicy) { p.Spec.Tier = "sec" }), []string{"metadata.name"}},
		{"gnp knp form", gnp("knp.default.x"), []string{"metadata.name"}},
		{"clusterinfo default", named("ClusterInformation", "default"), nil},
		{"clusterinfo other", named("ClusterInformation", "other"), []string{"metadata.name"}},
		{"kcc other", named("KubeControllersConfiguration", "x"), []string{"metadata.name"}},
		{"felix node", named("FelixConfiguration", "node.host-1"), nil},
		{"felix selector scoped", named("FelixConfiguration", "zone-a"), nil},
		{"bgpconfig node", named("BGPConfiguration", "node.host-1"), nil},
		{"wrong kind in type meta", with(pool(), func(p *IPPool) { p.Kind = "Pool" }), []string{"kind"}},
		{"wrong api version", with(pool(), func(p *IPPool) { p.APIVersion = "v1" }), []string{"apiVersion"}},
	})
}

func TestValidateOversize(t *testing.T) {
	s := NewGlobalNetworkSet()
	s.Metadata.Name = "big"
	for i := range 120000 {
		s.Spec.Nets = append(s.Spec.Nets, fmt.Sprintf("100.%d.%d.%d/32", i>>16&255, i>>8&255, i&255))
	}
	runValidation(t, []vcase{{"oversize", s, []string{""}}})
}
