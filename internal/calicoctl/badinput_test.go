package calicoctl_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gocalico/calico/internal/calicoctl/ctltest"
	"github.com/gocalico/calico/internal/datastore"
	"github.com/gocalico/calico/internal/datastore/etcdtest"
)

const (
	goodPool1 = "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: good-1}\nspec: {cidr: 10.1.0.0/16}\n"
	goodPool3 = "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: good-3}\nspec: {cidr: 10.3.0.0/16}\n"
)

// TestBadInputWritesNothing: a file whose second document is bad, between
// two good ones, is refused as a whole: exit 1, an error naming file,
// document and field, and no key written.
func TestBadInputWritesNothing(t *testing.T) {
	_, be := etcdtest.Embedded(t)
	ctl := ctltest.Runner{Backend: be}

	tests := []struct {
		name string
		doc  string   // document 2 of ippools.yaml
		want []string // in stderr, after "ippools.yaml doc 2: "
	}{
		{
			name: "unknown kind",
			doc:  "apiVersion: projectcalico.org/v3\nkind: IPPoool\nmetadata: {name: p2}\nspec: {cidr: 10.2.0.0/16}\n",
			want: []string{`unknown kind "IPPoool"`},
		},
		{
			name: "unsupported apiVersion",
			doc:  "apiVersion: projectcalico.org/v2\nkind: IPPool\nmetadata: {name: p2}\nspec: {cidr: 10.2.0.0/16}\n",
			want: []string{"apiVersion"},
		},
		{
			name: "invalid yaml",
			doc:  "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: p2\n   cidr: x\n",
			// The bad line is the 5th of the document, line 10 of the file.
			want: []string{"invalid YAML", "line 10"},
		},
		{
			name: "duplicate key",
			doc:  "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: p2}\nspec: {cidr: 10.2.0.0/16}\nspec: {cidr: 10.4.0.0/16}\n",
			want: []string{"spec"},
		},
		{
			name: "wrong field type",
			doc:  "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: p2}\nspec: {cidr: 10.2.0.0/16, natOutgoing: \"yes\"}\n",
			want: []string{"spec.natOutgoing"},
		},
		{
			name: "unknown field",
			doc:  "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: p2}\nspec: {cidr: 10.2.0.0/16, natOutgoin: true}\n",
			want: []string{"spec.natOutgoin", "unknown field"},
		},
		{
			name: "invalid cidr",
			doc:  "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: p1}\nspec: {cidr: 10.0.0.0/33}\n",
			want: []string{`IPPool "p1": spec.cidr "10.0.0.0/33"`},
		},
		{
			name: "out of range block size",
			doc:  "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: p2}\nspec: {cidr: 10.2.0.0/16, blockSize: 33}\n",
			want: []string{`IPPool "p2": spec.blockSize`},
		},
		{
			name: "out of range integer",
			doc:  "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: p2}\nspec: {cidr: 10.2.0.0/16, blockSize: 99999999999}\n",
			want: []string{"spec.blockSize"},
		},
		{
			name: "label value too long",
			doc:  "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: p2, labels: {a: " + strings.Repeat("x", 64) + "}}\nspec: {cidr: 10.2.0.0/16}\n",
			want: []string{"metadata.labels"},
		},
		{
			name: "oversize annotations",
			doc:  "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: p2\n  annotations:\n    note: " + strings.Repeat("x", 300*1024) + "\nspec: {cidr: 10.2.0.0/16}\n",
			want: []string{`IPPool "p2": metadata.annotations`},
		},
		{
			name: "name with a slash",
			doc:  "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: a/b}\nspec: {cidr: 10.2.0.0/16}\n",
			want: []string{"metadata.name"},
		},
		{
			name: "name not a DNS name",
			doc:  "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: Bad_Name}\nspec: {cidr: 10.2.0.0/16}\n",
			want: []string{"metadata.name"},
		},
		{
			name: "missing name",
			doc:  "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {}\nspec: {cidr: 10.2.0.0/16}\n",
			want: []string{"metadata.name"},
		},
		{
			name: "namespace on a cluster-wide kind",
			doc:  "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: p2, namespace: ns1}\nspec: {cidr: 10.2.0.0/16}\n",
			want: []string{"namespace"},
		},
		{
			name: "not an object",
			doc:  "- just\n- a list\n",
			want: []string{"not an object"},
		},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(dir, "ippools.yaml")
			content := goodPool1 + "---\n" + tt.doc + "---\n" + goodPool3
			if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, cmd := range []string{"create", "apply", "replace"} {
				res := ctl.Run(t, "", cmd, "-f", file)
				if res.Code != 1 {
					t.Errorf("%s: exit %d, want 1\nstdout:\n%s", cmd, res.Code, res.Stdout)
				}
				prefix := file + " doc 2: "
				line := lineWith(res.Stderr, prefix)
				if line == "" {
					t.Errorf("%s: no error line starting %q:\n%s", cmd, prefix, res.Stderr)
				}
				for _, w := range tt.want {
					if !strings.Contains(res.Stderr, w) {
						t.Errorf("%s: stderr does not mention %q:\n%s", cmd, w, res.Stderr)
					}
				}
				if strings.Contains(res.Stderr, "doc 1:") || strings.Contains(res.Stderr, "doc 3:") {
					t.Errorf("%s: good documents reported as bad:\n%s", cmd, res.Stderr)
				}
				if !strings.Contains(res.Stderr, "nothing was") {
					t.Errorf("%s: stderr does not say nothing was written:\n%s", cmd, res.Stderr)
				}
				assertEmpty(t, be)
			}
		})
	}
}

// TestBadInputSecondFile: a bad document in the second file stops the
// first file from being written too; every problem is listed.
func TestBadInputSecondFile(t *testing.T) {
	_, be := etcdtest.Embedded(t)
	ctl := ctltest.Runner{Backend: be}
	dir := t.TempDir()
	a := filepath.Join(dir, "a.yaml")
	b := filepath.Join(dir, "b.json")
	writeFile(t, a, goodPool1)
	writeFile(t, b, `[{"apiVersion":"projectcalico.org/v3","kind":"IPPool","metadata":{"name":"ok"},"spec":{"cidr":"10.5.0.0/16"}},
		{"apiVersion":"projectcalico.org/v3","kind":"IPPool","metadata":{"name":"bad"},"spec":{"cidr":"10.6.0.1/16"}},
		{"apiVersion":"projectcalico.org/v3","kind":"Tier","metadata":{"name":"t"},"spec":{"order":"high"}}]`)
	for _, args := range [][]string{{"apply", "-f", a, "-f", b}, {"apply", "-f", dir}} {
		res := ctl.Run(t, "", args...)
		if res.Code != 1 {
			t.Errorf("%v: exit %d, want 1", args, res.Code)
		}
		for _, w := range []string{b + " doc 2: ", "spec.cidr", b + " doc 3: ", "spec.order"} {
			if !strings.Contains(res.Stderr, w) {
				t.Errorf("%v: stderr does not mention %q:\n%s", args, w, res.Stderr)
			}
		}
		assertEmpty(t, be)
	}
}

// TestOversizeResource: a resource whose encoding would pass etcd's
// request size limit is refused before anything is written.
func TestOversizeResource(t *testing.T) {
	_, be := etcdtest.Embedded(t)
	ctl := ctltest.Runner{Backend: be}
	nets := strings.Repeat(`"ffff:ffff:ffff:ffff:ffff:ffff:ffff:0/112",`, 40_000)
	doc := `[` + goodPoolJSON + `,{"apiVersion":"projectcalico.org/v3","kind":"GlobalNetworkSet","metadata":{"name":"huge"},` +
		`"spec":{"nets":[` + nets + `"10.0.0.0/8"]}}]`
	file := filepath.Join(t.TempDir(), "sets.json")
	writeFile(t, file, doc)
	res := ctl.Run(t, "", "apply", "-f", file)
	if res.Code != 1 || !strings.Contains(res.Stderr, file+` doc 2: GlobalNetworkSet "huge": `) ||
		!strings.Contains(res.Stderr, "exceeds the limit") {
		t.Errorf("exit %d, stderr:\n%s", res.Code, res.Stderr)
	}
	assertEmpty(t, be)
}

const goodPoolJSON = `{"apiVersion":"projectcalico.org/v3","kind":"IPPool","metadata":{"name":"ok"},"spec":{"cidr":"10.5.0.0/16"}}`

func lineWith(s, prefix string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// assertEmpty checks that etcd holds no resource at all.
func assertEmpty(t *testing.T, be datastore.Backend) {
	t.Helper()
	kvs, _, err := be.List(context.Background(), "/calico/")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, kv := range kvs {
		keys = append(keys, kv.Key)
	}
	if diff := cmp.Diff([]string(nil), keys); diff != "" {
		t.Errorf("etcd is not empty (-want +got):\n%s", diff)
	}
}
