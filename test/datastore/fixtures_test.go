package datastore_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	v3 "github.com/gocalico/calico/api/v3"
)

// fixtureDir holds one upstream-docs-style YAML file per kind.
const fixtureDir = "../../api/v3/testdata/upstream"

// TestUpstreamFixtures applies each upstream example with calicoctl and
// reads it back: every field of the input must come back unchanged (the
// defaults may add fields), both from calicoctl get and in etcd's raw JSON.
func TestUpstreamFixtures(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(fixtureDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no fixtures in %s", fixtureDir)
	}
	// Tiers first: policies in other files may name them.
	sort.SliceStable(files, func(i, j int) bool {
		return filepath.Base(files[i]) == "tier.yaml" && filepath.Base(files[j]) != "tier.yaml"
	})
	e := newEnv(t)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			res := e.ctl.Run(t, "", "apply", "-f", f)
			if res.Code != 0 {
				t.Fatalf("apply -f %s: exit %d\n%s%s", f, res.Code, res.Stdout, res.Stderr)
			}
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			docs, err := v3.SplitDocuments(data)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range docs {
				checkFixtureDoc(t, e, d)
			}
		})
	}
}

func checkFixtureDoc(t *testing.T, e *env, d v3.Document) {
	t.Helper()
	j, err := yaml.YAMLToJSON(d.Raw)
	if err != nil {
		t.Fatal(err)
	}
	var in map[string]any
	if err := json.Unmarshal(j, &in); err != nil {
		t.Fatal(err)
	}
	kind, _ := in["kind"].(string)
	info, ok := v3.LookupKind(kind)
	if !ok {
		t.Fatalf("%s: unknown kind %q", d.Location(), kind)
	}
	name, _ := path(in, "metadata", "name").(string)
	ns, _ := path(in, "metadata", "namespace").(string)
	if info.Namespaced && ns == "" {
		ns = "default"
	}
	if name == "" {
		t.Logf("%s: %s without a name: not read back", d.Location(), kind)
		return
	}
	args := []string{"get", kind, name, "-o", "yaml"}
	if info.Namespaced {
		args = append(args, "-n", ns)
	}
	got := yamlObject(t, e.ctl.MustRun(t, "", args...).Stdout)
	if diff := subsetDiff(in, got, kind+"("+name+")"); len(diff) > 0 {
		t.Errorf("%s: get -o yaml differs from the input:\n%s", d.Location(), strings.Join(diff, "\n"))
	}
	raw, _ := e.rawObject(t, keyFor(info, ns, name))
	if diff := subsetDiff(in["spec"], raw["spec"], "spec"); len(diff) > 0 {
		t.Errorf("%s: etcd JSON spec differs from the input:\n%s", d.Location(), strings.Join(diff, "\n"))
	}
}
