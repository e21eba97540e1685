package calicoctl

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMergePatch(t *testing.T) {
	tests := []struct {
		name, target, patch, want string
	}{
		{"add member", `{"a":1}`, `{"b":2}`, `{"a":1,"b":2}`},
		{"replace scalar", `{"a":"x"}`, `{"a":"y"}`, `{"a":"y"}`},
		{"null deletes", `{"a":1,"b":2}`, `{"a":null}`, `{"b":2}`},
		{"null for absent member is a no-op", `{"a":1}`, `{"z":null}`, `{"a":1}`},
		{"nested merge", `{"spec":{"a":1,"b":{"c":2,"d":3}}}`, `{"spec":{"b":{"d":null,"e":4}}}`, `{"spec":{"a":1,"b":{"c":2,"e":4}}}`},
		{"arrays are replaced whole", `{"l":[1,2,3]}`, `{"l":[4]}`, `{"l":[4]}`},
		{"object replaces scalar", `{"a":"x"}`, `{"a":{"b":1}}`, `{"a":{"b":1}}`},
		{"scalar replaces object", `{"a":{"b":1}}`, `{"a":true}`, `{"a":true}`},
		{"nulls inside a new object are dropped", `{}`, `{"a":{"b":null,"c":1}}`, `{"a":{"c":1}}`},
		{"empty patch changes nothing", `{"a":[1,{"b":2}]}`, `{}`, `{"a":[1,{"b":2}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var target, patch, want any
			mustJSON(t, tt.target, &target)
			mustJSON(t, tt.patch, &patch)
			mustJSON(t, tt.want, &want)
			before := mustMarshal(t, target)
			got := mergePatch(target, patch)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("mergePatch(%s, %s) (-want +got):\n%s", tt.target, tt.patch, diff)
			}
			if after := mustMarshal(t, target); after != before {
				t.Errorf("target modified: %s, was %s", after, before)
			}
		})
	}
}

func TestParsePatch(t *testing.T) {
	tests := []struct {
		name, in string
		want     map[string]any
		wantErr  bool
	}{
		{name: "json", in: `{"spec":{"natOutgoing":true}}`, want: map[string]any{"spec": map[string]any{"natOutgoing": true}}},
		{name: "yaml", in: "spec:\n  natOutgoing: true\n  nodeSelector: null\n", want: map[string]any{"spec": map[string]any{"natOutgoing": true, "nodeSelector": nil}}},
		{name: "numbers kept exact", in: `{"spec":{"order":100.5}}`, want: map[string]any{"spec": map[string]any{"order": json.Number("100.5")}}},
		{name: "empty", in: "  ", wantErr: true},
		{name: "array", in: `[{"op":"add"}]`, wantErr: true},
		{name: "scalar", in: `42`, wantErr: true},
		{name: "broken", in: `{"spec":`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parsePatch(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parsePatch(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); !tt.wantErr && diff != "" {
				t.Errorf("parsePatch(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func FuzzParsePatch(f *testing.F) {
	f.Add(`{"spec":{"a":1}}`)
	f.Add("spec:\n  a: [1, 2]\n")
	f.Add(`null`)
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parsePatch(s)
		if err != nil {
			return
		}
		// Any accepted patch merges into any object without panicking,
		// and merging it twice gives the same result (idempotence).
		target := map[string]any{"spec": map[string]any{"a": "x"}, "metadata": map[string]any{"name": "n"}}
		once := mergePatch(target, p)
		twice := mergePatch(once, p)
		if diff := cmp.Diff(once, twice); diff != "" {
			t.Errorf("merge patch not idempotent (-once +twice):\n%s", diff)
		}
	})
}

func mustJSON(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("bad test JSON %s: %v", s, err)
	}
}

func mustMarshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
