package datastore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/calicoctl"
	"github.com/gocalico/calico/internal/calicoctl/ctltest"
	ds "github.com/gocalico/calico/internal/datastore"
	"github.com/gocalico/calico/internal/datastore/etcdtest"
	"github.com/gocalico/calico/internal/resources"
)

// env is an embedded etcd with a calicoctl runner on it.
type env struct {
	be  ds.Backend
	ctl ctltest.Runner
}

func newEnv(t *testing.T, opts ...calicoctl.Option) *env {
	t.Helper()
	_, be := etcdtest.Embedded(t)
	return &env{be: be, ctl: ctltest.Runner{Backend: be, Options: opts}}
}

// rawKV reads a key straight from etcd; nil when absent.
func (e *env) rawKV(t *testing.T, key string) *ds.KV {
	t.Helper()
	kv, err := e.be.Get(context.Background(), key)
	if errors.Is(err, ds.ErrNotFound) {
		return nil
	}
	if err != nil {
		t.Fatalf("etcd get %s: %v", key, err)
	}
	return kv
}

// rawObject reads a key straight from etcd and decodes its JSON value.
func (e *env) rawObject(t *testing.T, key string) (map[string]any, *ds.KV) {
	t.Helper()
	kv := e.rawKV(t, key)
	if kv == nil {
		t.Fatalf("etcd has no key %s", key)
	}
	var obj map[string]any
	if err := json.Unmarshal(kv.Value, &obj); err != nil {
		t.Fatalf("value of %s is not a JSON object: %v\n%s", key, err, kv.Value)
	}
	return obj, kv
}

// allKeys lists every key under the v3 resource prefix.
func (e *env) allKeys(t *testing.T) map[string]int64 {
	t.Helper()
	kvs, _, err := e.be.List(context.Background(), resources.Prefix)
	if err != nil {
		t.Fatalf("etcd list: %v", err)
	}
	out := map[string]int64{}
	for _, kv := range kvs {
		out[kv.Key] = kv.ModRevision
	}
	return out
}

// keyFor is the etcd key a resource must be stored at, spelled out from
// the wire format rather than computed by the code under test. Upstream
// stores policies under their tiered name: a plain name is in the default
// tier and gets "default.".
func keyFor(info *v3.KindInfo, ns, name string) string {
	switch info.Kind {
	case "NetworkPolicy", "GlobalNetworkPolicy", "StagedNetworkPolicy", "StagedGlobalNetworkPolicy":
		if !strings.Contains(name, ".") {
			name = "default." + name
		}
	}
	if info.Namespaced {
		return "/calico/resources/v3/projectcalico.org/" + info.Plural + "/" + ns + "/" + name
	}
	return "/calico/resources/v3/projectcalico.org/" + info.Plural + "/" + name
}

// yamlObject decodes a YAML (or JSON) document into generic JSON values.
func yamlObject(t *testing.T, doc string) map[string]any {
	t.Helper()
	j, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		t.Fatalf("not YAML: %v\n%s", err, doc)
	}
	var obj map[string]any
	if err := json.Unmarshal(j, &obj); err != nil {
		t.Fatalf("not an object: %v\n%s", err, doc)
	}
	return obj
}

func path(obj map[string]any, p ...string) any {
	var cur any = obj
	for _, k := range p {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[k]
	}
	return cur
}

// subsetDiff lists where got differs from want, ignoring what got has in
// addition (defaults): every map member of want must be in got with an
// equal value (or be a zero value, which the wire format omits), lists
// must have the same length and match element-wise.
func subsetDiff(want, got any, at string) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want an object, got %v", at, got)}
		}
		var out []string
		keys := make([]string, 0, len(w))
		for k := range w {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			gv, ok := g[k]
			if !ok && isZero(w[k]) {
				continue // omitempty: a zero value is written by leaving it out
			}
			if !ok {
				out = append(out, fmt.Sprintf("%s.%s: missing (want %v)", at, k, w[k]))
				continue
			}
			out = append(out, subsetDiff(w[k], gv, at+"."+k)...)
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return []string{fmt.Sprintf("%s: want %v, got %v", at, w, got)}
		}
		var out []string
		for i := range w {
			out = append(out, subsetDiff(w[i], g[i], fmt.Sprintf("%s[%d]", at, i))...)
		}
		return out
	}
	if !reflect.DeepEqual(want, got) {
		return []string{fmt.Sprintf("%s: want %v (%T), got %v (%T)", at, want, want, got, got)}
	}
	return nil
}

func mustContain(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s does not contain %q:\n%s", what, sub, s)
		}
	}
}

// isZero reports whether a JSON value is one that omitempty leaves out.
func isZero(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case bool:
		return !x
	case string:
		return x == ""
	case float64:
		return x == 0
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}
