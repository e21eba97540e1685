package calicoctl_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gocalico/calico/internal/calicoctl/ctltest"
	"github.com/gocalico/calico/internal/datastore"
	"github.com/gocalico/calico/internal/datastore/etcdtest"
)

func newCtl(t *testing.T) (ctltest.Runner, datastore.Backend) {
	t.Helper()
	_, be := etcdtest.Embedded(t)
	return ctltest.Runner{Backend: be}, be
}

func pool(name, cidr string) string {
	return "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: " + name + "}\nspec: {cidr: " + cidr + "}\n"
}

func names(t *testing.T, ctl ctltest.Runner, args ...string) []string {
	t.Helper()
	out := ctl.MustRun(t, "", append(args, "-o", "name")...).Stdout
	return strings.Fields(out)
}

func TestCreateSkipExistsAndPartialSuccess(t *testing.T) {
	ctl, _ := newCtl(t)
	ctl.MustRun(t, pool("b", "10.2.0.0/16"), "create", "-f", "-")
	in := pool("a", "10.1.0.0/16") + "---\n" + pool("b", "10.2.0.0/16") + "---\n" + pool("c", "10.3.0.0/16")

	res := ctl.Run(t, in, "create", "-f", "-")
	if res.Code != 1 {
		t.Errorf("create with one existing: exit %d, want 1", res.Code)
	}
	if diff := cmp.Diff("Partial success: created 2 out of 3 'IPPool' resource(s)\n", res.Stdout); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff("Failed to create 'IPPool' resource: [resource already exists: IPPool(b)]\n", res.Stderr); diff != "" {
		t.Errorf("stderr (-want +got):\n%s", diff)
	}
	want := []string{"ippool.projectcalico.org/a", "ippool.projectcalico.org/b", "ippool.projectcalico.org/c"}
	if diff := cmp.Diff(want, names(t, ctl, "get", "ippools")); diff != "" {
		t.Errorf("pools (-want +got):\n%s", diff)
	}

	res = ctl.MustRun(t, in, "create", "-f", "-", "--skip-exists")
	if diff := cmp.Diff("Successfully created 0 'IPPool' resource(s), skipped 3 that already existed\n", res.Stdout); diff != "" {
		t.Errorf("skip-exists stdout (-want +got):\n%s", diff)
	}
}

func TestTierAndPolicyInOneFile(t *testing.T) {
	ctl, _ := newCtl(t)
	// The policy comes first but needs the tier: tiers are written first.
	in := `apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: sec.block}
spec: {tier: sec, selector: all(), ingress: [{action: Deny}]}
---
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: sec}
spec: {order: 10}
`
	res := ctl.MustRun(t, in, "apply", "-f", "-")
	if diff := cmp.Diff("Successfully applied 2 resource(s)\n", res.Stdout); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	// And deleted in the other order.
	res = ctl.MustRun(t, in, "delete", "-f", "-")
	if diff := cmp.Diff("Successfully deleted 2 resource(s)\n", res.Stdout); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
}

func TestNamespaces(t *testing.T) {
	ctl, _ := newCtl(t)
	np := func(name, ns string) string {
		meta := "{name: " + name + "}"
		if ns != "" {
			meta = "{name: " + name + ", namespace: " + ns + "}"
		}
		return "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: " + meta + "\nspec: {selector: all()}\n"
	}
	ctl.MustRun(t, np("in-default", ""), "apply", "-f", "-")
	ctl.MustRun(t, np("in-ns1", ""), "apply", "-f", "-", "-n", "ns1")
	ctl.MustRun(t, np("own-ns", "ns2"), "apply", "-f", "-")

	res := ctl.Run(t, np("mismatch", "ns2"), "apply", "-f", "-", "-n", "ns1")
	if res.Code != 1 || !strings.Contains(res.Stderr, `does not match --namespace "ns1"`) {
		t.Errorf("namespace mismatch: exit %d, stderr %q", res.Code, res.Stderr)
	}

	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"get", "networkpolicies"}, []string{"networkpolicy.projectcalico.org/in-default"}},
		{[]string{"get", "networkpolicies", "-n", "ns1"}, []string{"networkpolicy.projectcalico.org/in-ns1"}},
		{[]string{"get", "policy", "-A"}, []string{"networkpolicy.projectcalico.org/in-default",
			"networkpolicy.projectcalico.org/in-ns1", "networkpolicy.projectcalico.org/own-ns"}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, names(t, ctl, tt.args...)); diff != "" {
			t.Errorf("%v (-want +got):\n%s", tt.args, diff)
		}
	}
	out := ctl.MustRun(t, "", "get", "networkpolicies", "-A").Stdout
	if !strings.HasPrefix(out, "NAMESPACE ") || !strings.Contains(out, "ns2 ") {
		t.Errorf("-A table lacks a NAMESPACE column:\n%s", out)
	}
}

func TestGetSelectorAndErrors(t *testing.T) {
	ctl, _ := newCtl(t)
	in := `apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: {name: a, labels: {team: web, env: prod}}
spec: {nets: [10.0.0.0/24]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: {name: b, labels: {team: db, env: prod}}
spec: {nets: [10.0.1.0/24]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: {name: c}
spec: {nets: [10.0.2.0/24]}
`
	ctl.MustRun(t, in, "apply", "-f", "-")
	tests := []struct {
		sel  string
		want []string
	}{
		{"env=prod", []string{"a", "b"}},
		{"team in (web,db),team!=db", []string{"a"}},
		{"!team", []string{"c"}},
		{"env notin (prod)", []string{"c"}},
	}
	for _, tt := range tests {
		var want []string
		for _, n := range tt.want {
			want = append(want, "globalnetworkset.projectcalico.org/"+n)
		}
		if diff := cmp.Diff(want, names(t, ctl, "get", "globalnetworksets", "-l", tt.sel)); diff != "" {
			t.Errorf("-l %q (-want +got):\n%s", tt.sel, diff)
		}
	}

	errTests := []struct {
		args []string
		want string
	}{
		{[]string{"get", "gns", "a", "nope"}, "Failed to get 'GlobalNetworkSet' resource: [resource does not exist: GlobalNetworkSet(nope)]"},
		{[]string{"get", "frobs"}, `unknown resource kind "frobs"`},
		{[]string{"get", "gns", "-o", "xml"}, `unknown output format "xml"`},
		{[]string{"get", "gns", "-l", "a in (b"}, "-l"},
		{[]string{"get", "gns", "a", "-l", "x=y"}, "cannot be combined"},
		{[]string{"get"}, "name what to show"},
		{[]string{"frobnicate"}, "unknown command"},
		{[]string{"get", "gns", "--bogus"}, "unknown flag"},
		{[]string{"replace", "-f", "-"}, "resource does not exist: IPPool(nope)"},
	}
	for _, tt := range errTests {
		res := ctl.Run(t, pool("nope", "10.9.0.0/16"), tt.args...)
		if res.Code != 1 || !strings.Contains(res.Stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 1 and %q", tt.args, res.Code, res.Stderr, tt.want)
		}
	}
	// The resource that exists is still printed.
	res := ctl.Run(t, "", "get", "gns", "a", "nope", "-o", "name")
	if res.Stdout != "globalnetworkset.projectcalico.org/a\n" {
		t.Errorf("partial get printed %q", res.Stdout)
	}
}

func TestListOutputAppliesBack(t *testing.T) {
	ctl, _ := newCtl(t)
	ctl.MustRun(t, pool("a", "10.1.0.0/16")+"---\n"+pool("b", "10.2.0.0/16"), "create", "-f", "-")
	want := []string{"ippool.projectcalico.org/a", "ippool.projectcalico.org/b"}
	for _, f := range []string{"yaml", "json"} {
		// A List as printed applies back as it is...
		out := ctl.MustRun(t, "", "get", "ippools", "-o", f).Stdout
		if !strings.Contains(out, "List") {
			t.Errorf("-o %s of several pools is not a List:\n%s", f, out)
		}
		ctl.MustRun(t, out, "apply", "-f", "-")
		// ...and an exported one creates the pools afresh.
		exported := ctl.MustRun(t, "", "get", "ippools", "-o", f, "--export").Stdout
		for _, field := range []string{"resourceVersion", "uid", "creationTimestamp"} {
			if strings.Contains(exported, field) {
				t.Errorf("--export output has %s:\n%s", field, exported)
			}
		}
		ctl.MustRun(t, "", "delete", "ippools", "a", "b")
		res := ctl.Run(t, out, "create", "-f", "-")
		if res.Code != 1 || !strings.Contains(res.Stderr, "resourceVersion") {
			t.Errorf("create with resourceVersion: exit %d, stderr %q", res.Code, res.Stderr)
		}
		ctl.MustRun(t, exported, "create", "-f", "-")
		if diff := cmp.Diff(want, names(t, ctl, "get", "ippools")); diff != "" {
			t.Errorf("pools (-want +got):\n%s", diff)
		}
	}
}

func TestApplyDirectory(t *testing.T) {
	ctl, _ := newCtl(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "2.yaml"), pool("two", "10.2.0.0/16"))
	writeFile(t, filepath.Join(dir, "1.json"), `{"apiVersion":"projectcalico.org/v3","kind":"IPPool","metadata":{"name":"one"},"spec":{"cidr":"10.1.0.0/16"}}`)
	writeFile(t, filepath.Join(dir, "README.md"), "not a manifest")
	res := ctl.MustRun(t, "", "apply", "-f", dir)
	if diff := cmp.Diff("Successfully applied 2 'IPPool' resource(s)\n", res.Stdout); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
}

func TestPatch(t *testing.T) {
	ctl, _ := newCtl(t)
	ctl.MustRun(t, pool("p", "10.1.0.0/16"), "create", "-f", "-")
	ctl.MustRun(t, "", "patch", "ippool", "p", "-p", "spec: {natOutgoing: true, ipipMode: Always}")
	out := ctl.MustRun(t, "", "get", "ippool", "p", "-o", "wide").Stdout
	if !strings.Contains(out, "true") || !strings.Contains(out, "Always") {
		t.Errorf("patch not applied:\n%s", out)
	}
	before := ctl.MustRun(t, "", "get", "ippool", "p", "-o", "yaml").Stdout
	bad := []struct{ patch, want string }{
		{`{"spec":{"cidr":"10.1.0.0/33"}}`, "spec.cidr"},
		{`{"spec":{"natOutgoing":"maybe"}}`, "spec.natOutgoing"},
		{`{"spec":{"bogus":1}}`, "spec.bogus"},
		{`{"metadata":{"name":"q"}}`, "metadata.name"},
		{`[1]`, "must be an object"},
	}
	for _, b := range bad {
		res := ctl.Run(t, "", "patch", "ippool", "p", "-p", b.patch)
		if res.Code != 1 || !strings.Contains(res.Stderr, b.want) {
			t.Errorf("patch %s: exit %d, stderr %q; want exit 1 and %q", b.patch, res.Code, res.Stderr, b.want)
		}
	}
	if after := ctl.MustRun(t, "", "get", "ippool", "p", "-o", "yaml").Stdout; after != before {
		t.Errorf("failed patches changed the pool:\n%s\nwas:\n%s", after, before)
	}
	res := ctl.Run(t, "", "patch", "ippool", "nope", "-p", `{"spec":{}}`)
	if res.Code != 1 || !strings.Contains(res.Stderr, "does not exist") {
		t.Errorf("patch of missing pool: exit %d, stderr %q", res.Code, res.Stderr)
	}
}

func TestVersion(t *testing.T) {
	srv, be := etcdtest.Embedded(t)
	ctl := ctltest.Runner{Backend: be}
	out := ctl.MustRun(t, "", "version").Stdout
	mustLines(t, out, "Client Version:", "Git commit:", "Cluster Version:   unknown", "Cluster Type:      unknown")

	ctl.MustRun(t, `apiVersion: projectcalico.org/v3
kind: ClusterInformation
metadata: {name: default}
spec: {calicoVersion: v3.30.1, clusterType: "etcd,bgp"}
`, "apply", "-f", "-")
	// Through the real flags rather than an injected backend.
	flags := ctltest.Runner{}
	out = flags.MustRun(t, "", "--etcd-endpoints", strings.Join(srv.Endpoints(), ","), "version").Stdout
	mustLines(t, out, "Cluster Version:   v3.30.1", "Cluster Type:      etcd,bgp")

	out = flags.MustRun(t, "", "version", "--client", "--etcd-endpoints", "unix:///nonexistent/etcd.sock").Stdout
	if strings.Contains(out, "Cluster") {
		t.Errorf("version --client contacted the cluster:\n%s", out)
	}

	res := flags.Run(t, "", "version", "--etcd-endpoints", "unix:///nonexistent/etcd.sock", "--request-timeout", "300ms")
	if res.Code != 1 {
		t.Errorf("unreachable: exit %d, want 1", res.Code)
	}
	mustLines(t, res.Stdout, "Client Version:")
	if !strings.Contains(res.Stderr, "unix:///nonexistent/etcd.sock") {
		t.Errorf("unreachable: stderr does not name the endpoint:\n%s", res.Stderr)
	}
}

func TestUnreachableWrite(t *testing.T) {
	res := ctltest.Runner{}.Run(t, pool("p", "10.1.0.0/16"), "apply", "-f", "-",
		"--etcd-endpoints", "http://127.0.0.1:1", "--request-timeout", "300ms")
	if res.Code != 1 || !strings.Contains(res.Stderr, "http://127.0.0.1:1") {
		t.Errorf("exit %d, stderr %q; want exit 1 naming the endpoint", res.Code, res.Stderr)
	}
}

func TestHelp(t *testing.T) {
	for _, cmd := range []string{"create", "apply", "replace", "patch", "get", "delete", "version"} {
		res := ctltest.Runner{}.MustRun(t, "", cmd, "--help")
		if !strings.Contains(res.Stdout, "Examples:") || !strings.Contains(res.Stdout, "calicoctl "+cmd) {
			t.Errorf("%s --help lacks examples:\n%s", cmd, res.Stdout)
		}
	}
}

func mustLines(t *testing.T, out string, prefixes ...string) {
	t.Helper()
	for _, p := range prefixes {
		if lineWith(out, p) == "" {
			t.Errorf("no line starting %q in:\n%s", p, out)
		}
	}
}
