package datastore_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestReadForeignValues writes values as other writers might have left
// them, straight into etcd, and checks that calicoctl get shows the good
// ones, warns about the bad ones and never fails because of them.
func TestReadForeignValues(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const gns = "/calico/resources/v3/projectcalico.org/globalnetworksets/"
	const np = "/calico/resources/v3/projectcalico.org/networkpolicies/ns1/"
	raw := map[string]string{
		// Upstream-style value from a newer writer: an unknown field.
		gns + "newer": `{"kind":"GlobalNetworkSet","apiVersion":"projectcalico.org/v3",
			"metadata":{"name":"newer","uid":"0d9c3b4e-1111-4c4c-8a8a-000000000001","creationTimestamp":"2024-01-02T03:04:05Z"},
			"spec":{"nets":["10.9.0.0/16"],"someFutureField":{"x":1}}}`,
		// Garbage.
		gns + "garbage": `{{{ not json`,
		// Kind does not match the key.
		gns + "wrongkind": `{"kind":"IPPool","apiVersion":"projectcalico.org/v3","metadata":{"name":"wrongkind"},"spec":{"cidr":"10.10.0.0/16"}}`,
		// A plain good value.
		gns + "plain": `{"kind":"GlobalNetworkSet","apiVersion":"projectcalico.org/v3","metadata":{"name":"plain"},"spec":{"nets":["10.8.0.0/16"]}}`,
		// Policy stored by an older writer: default.<name>, no annotation.
		np + "default.legacy": `{"kind":"NetworkPolicy","apiVersion":"projectcalico.org/v3",
			"metadata":{"name":"default.legacy","namespace":"ns1"},
			"spec":{"tier":"default","selector":"all()","types":["Ingress"]}}`,
	}
	for k, v := range raw {
		if _, err := e.be.Create(ctx, k, []byte(v), 0); err != nil {
			t.Fatalf("write %s: %v", k, err)
		}
	}

	res := e.ctl.Run(t, "", "get", "globalnetworksets", "-o", "name")
	if res.Code != 0 {
		t.Fatalf("get globalnetworksets: exit %d\n%s", res.Code, res.Stderr)
	}
	want := "globalnetworkset.projectcalico.org/newer\nglobalnetworkset.projectcalico.org/plain\n"
	if diff := cmp.Diff(want, res.Stdout); diff != "" {
		t.Errorf("get output (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"garbage", "wrongkind"} {
		if !strings.Contains(res.Stderr, gns+bad) {
			t.Errorf("no warning naming %s%s on stderr:\n%s", gns, bad, res.Stderr)
		}
	}
	if strings.Contains(res.Stderr, "newer") || strings.Contains(res.Stderr, "plain") {
		t.Errorf("warning about a good value:\n%s", res.Stderr)
	}

	// The newer writer's value reads back with its own fields.
	obj := yamlObject(t, e.ctl.MustRun(t, "", "get", "globalnetworkset", "newer", "-o", "yaml").Stdout)
	if path(obj, "metadata", "uid") != "0d9c3b4e-1111-4c4c-8a8a-000000000001" ||
		path(obj, "metadata", "creationTimestamp") != "2024-01-02T03:04:05Z" {
		t.Errorf("metadata of foreign value = %v", obj["metadata"])
	}
	if d := subsetDiff([]any{"10.9.0.0/16"}, path(obj, "spec", "nets"), "spec.nets"); d != nil {
		t.Errorf("%v", d)
	}

	// The legacy policy shows under its real name.
	res = e.ctl.MustRun(t, "", "get", "networkpolicies", "-n", "ns1", "-o", "name")
	if diff := cmp.Diff("networkpolicy.projectcalico.org/legacy\n", res.Stdout); diff != "" {
		t.Errorf("legacy policy (-want +got):\n%s", diff)
	}

	// Asking for a bad value by name is an error, not a crash.
	res = e.ctl.Run(t, "", "get", "globalnetworkset", "garbage")
	if res.Code != 1 || !strings.Contains(res.Stderr, "Failed to get 'GlobalNetworkSet' resource") {
		t.Errorf("get garbage: exit %d, stderr %q", res.Code, res.Stderr)
	}

	// Every output format copes with the mix.
	for _, o := range []string{"", "wide", "yaml", "json"} {
		res := e.ctl.Run(t, "", "get", "gns", "-o", o)
		if res.Code != 0 || !strings.Contains(res.Stdout, "newer") || strings.Contains(res.Stdout, "wrongkind") {
			t.Errorf("get -o %q: exit %d\nstdout:\n%s\nstderr:\n%s", o, res.Code, res.Stdout, res.Stderr)
		}
	}
}
