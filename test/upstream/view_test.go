package upstream

import (
	"encoding/json"
	"sort"
	"testing"
)

// view is the part of a resource both clients must agree on, as generic
// JSON: the identifying and user-visible metadata, spec and status.
// Absent, null and empty values are dropped, since Go's omitempty choices
// differ between the two type sets without changing the wire meaning.
func view(t *testing.T, obj any) map[string]any {
	t.Helper()
	m := toJSONMap(t, obj)
	out := map[string]any{}
	if md, ok := m["metadata"].(map[string]any); ok {
		keep := map[string]any{}
		for _, k := range []string{"name", "namespace", "labels", "annotations", "uid", "creationTimestamp", "resourceVersion"} {
			if v, ok := md[k]; ok {
				keep[k] = v
			}
		}
		out["metadata"] = keep
	}
	for _, k := range []string{"spec", "status"} {
		if v, ok := m[k]; ok {
			out[k] = v
		}
	}
	pruned, _ := prune(out).(map[string]any)
	return pruned
}

func toJSONMap(t *testing.T, obj any) map[string]any {
	t.Helper()
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatalf("marshal %T: %v", obj, err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("unmarshal %T: %v", obj, err)
	}
	return m
}

// prune removes nulls, empty strings and empty objects and arrays,
// recursively; it returns nil for a value that is empty after pruning.
func prune(v any) any {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		if x == "" {
			return nil
		}
	case map[string]any:
		for k, e := range x {
			if p := prune(e); p == nil {
				delete(x, k)
			} else {
				x[k] = p
			}
		}
		if len(x) == 0 {
			return nil
		}
	case []any:
		if len(x) == 0 {
			return nil
		}
		for i, e := range x {
			x[i] = prune(e)
		}
	}
	return v
}

// id names a resource in test output and maps.
func id(kind, ns, name string) string {
	if ns == "" {
		return kind + "/" + name
	}
	return kind + "/" + ns + "/" + name
}

// nameOf reads metadata.namespace and metadata.name from a view.
func nameOf(v map[string]any) (ns, name string) {
	md, _ := v["metadata"].(map[string]any)
	ns, _ = md["namespace"].(string)
	name, _ = md["name"].(string)
	return ns, name
}

// byName indexes views by namespace/name and fails on duplicates.
func byName(t *testing.T, kind string, views []map[string]any) map[string]map[string]any {
	t.Helper()
	out := make(map[string]map[string]any, len(views))
	for _, v := range views {
		ns, name := nameOf(v)
		k := id(kind, ns, name)
		if _, dup := out[k]; dup {
			t.Errorf("%s listed twice", k)
		}
		out[k] = v
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
