package calicoctl_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gocalico/calico/internal/calicoctl/ctltest"
	"github.com/gocalico/calico/internal/datastore"
	"github.com/gocalico/calico/internal/datastore/etcdtest"
	"github.com/gocalico/calico/internal/resources"
)

// listCounter records the prefixes a command lists, relative to the
// resources prefix.
type listCounter struct {
	datastore.Backend
	mu    sync.Mutex
	lists []string
}

func (b *listCounter) List(ctx context.Context, prefix string) ([]*datastore.KV, int64, error) {
	b.mu.Lock()
	b.lists = append(b.lists, strings.TrimPrefix(prefix, resources.Prefix))
	b.mu.Unlock()
	return b.Backend.List(ctx, prefix)
}

// take returns the prefixes listed since the last call, sorted.
func (b *listCounter) take() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.lists
	b.lists = nil
	slices.Sort(out)
	return out
}

func newPoliciesCtl(t *testing.T) (ctltest.Runner, *listCounter) {
	t.Helper()
	_, be := etcdtest.Embedded(t)
	lc := &listCounter{Backend: be}
	ctl := ctltest.Runner{Backend: lc}
	ctl.MustRun(t, "", "create", "-f", "testdata/endpoint-policies-input.yaml")
	lc.take()
	return ctl, lc
}

// TestEndpointPoliciesGolden: -o wide shows, per endpoint, the policies
// that select it in evaluation order (tier security, then platform, then
// default), never a NetworkPolicy of another namespace.
func TestEndpointPoliciesGolden(t *testing.T) {
	ctl, _ := newPoliciesCtl(t)
	tests := []struct {
		golden string
		args   []string
	}{
		{"endpoint-policies-weps", []string{"get", "workloadendpoints", "-A", "-o", "wide"}},
		{"endpoint-policies-weps-prod", []string{"get", "wep", "-n", "prod", "-o", "wide"}},
		{"endpoint-policies-wep", []string{"get", "workloadendpoint", "host1-k8s-web-eth0", "-n", "prod", "-o", "wide"}},
		{"endpoint-policies-heps", []string{"get", "hostendpoints", "-o", "wide"}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			checkGolden(t, tt.golden, ctl.MustRun(t, "", tt.args...).Stdout)
		})
	}
}

// TestEndpointPoliciesReads: the policies are read for -o wide only,
// each kind once per command, and NetworkPolicies only from the
// namespace that is shown.
func TestEndpointPoliciesReads(t *testing.T) {
	ctl, lc := newPoliciesCtl(t)
	policies := []string{"globalnetworkpolicies/", "profiles/", "tiers/"}
	with := func(extra ...string) []string {
		out := append(slices.Clone(policies), extra...)
		slices.Sort(out)
		return out
	}
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"get", "wep", "-A"}, []string{"workloadendpoints/"}},
		{[]string{"get", "wep", "-A", "-o", "yaml"}, []string{"workloadendpoints/"}},
		{[]string{"get", "wep", "-A", "-o", "wide"}, with("networkpolicies/", "workloadendpoints/")},
		{[]string{"get", "wep", "-n", "dev", "-o", "wide"}, with("networkpolicies/dev/", "workloadendpoints/dev/")},
		{[]string{"get", "wep", "host1-k8s-web-eth0", "host1-k8s-api-eth0", "-n", "prod", "-o", "wide"},
			with("networkpolicies/prod/")},
		{[]string{"get", "hep", "-o", "wide"}, with("hostendpoints/")},
		{[]string{"get", "wep", "-n", "nowhere", "-o", "wide"}, []string{"workloadendpoints/nowhere/"}},
		{[]string{"get", "gnp", "-o", "wide"}, []string{"globalnetworkpolicies/"}},
	}
	for _, tt := range tests {
		ctl.MustRun(t, "", tt.args...)
		if diff := cmp.Diff(tt.want, lc.take()); diff != "" {
			t.Errorf("calicoctl %s lists (-want +got):\n%s", strings.Join(tt.args, " "), diff)
		}
	}
}

// TestEndpointPoliciesInvalid: a policy whose selector cannot be parsed
// (written by something that does not validate) is listed for every
// endpoint of its namespace, marked as failing closed.
func TestEndpointPoliciesInvalid(t *testing.T) {
	_, be := etcdtest.Embedded(t)
	ctl := ctltest.Runner{Backend: be}
	ctl.MustRun(t, "", "create", "-f", "testdata/endpoint-policies-input.yaml")
	key := resources.Prefix + "networkpolicies/dev/default.broken"
	val := `{"kind":"NetworkPolicy","apiVersion":"projectcalico.org/v3",` +
		`"metadata":{"name":"default.broken","namespace":"dev"},"spec":{"tier":"default","selector":"app ==","types":["Ingress"]}}`
	if _, err := be.Create(context.Background(), key, []byte(val), 0); err != nil {
		t.Fatal(err)
	}
	out := ctl.MustRun(t, "", "get", "wep", "-A", "-o", "wide").Stdout
	var cells []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		f := strings.Fields(line)
		cells = append(cells, f[0]+" "+f[len(f)-1])
	}
	want := []string{
		"dev platform/platform.dns,default/health,default/dev/allow-web,default/dev/broken(invalid),default/dev/deny-all",
		"prod security/security.production,platform/platform.dns,default/health,default/prod/api-account",
		"prod security/security.production,platform/platform.dns,default/health,default/prod/allow-web",
	}
	if diff := cmp.Diff(want, cells); diff != "" {
		t.Errorf("POLICIES by namespace (-want +got):\n%s\n%s", diff, out)
	}
}
