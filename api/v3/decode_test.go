package v3

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDecodeLenient(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		kind    string
		wantErr string
	}{
		{"ippool", `{"kind":"IPPool","apiVersion":"projectcalico.org/v3","metadata":{"name":"p"},"spec":{"cidr":"10.0.0.0/16"}}`, "IPPool", ""},
		{"unknown fields ignored", `{"kind":"Tier","apiVersion":"projectcalico.org/v3","metadata":{"name":"t","future":1},"spec":{"newField":true}}`, "Tier", ""},
		{"yaml", "kind: BGPPeer\napiVersion: projectcalico.org/v3\nmetadata:\n  name: p\n", "BGPPeer", ""},
		{"missing kind", `{"apiVersion":"projectcalico.org/v3"}`, "", "missing kind"},
		{"unknown kind", `{"kind":"Pool","apiVersion":"projectcalico.org/v3"}`, "", `unknown kind "Pool"`},
		{"wrong case kind", `{"kind":"ippool","apiVersion":"projectcalico.org/v3"}`, "", `did you mean "IPPool"`},
		{"old api version", `{"kind":"IPPool","apiVersion":"v1"}`, "", `apiVersion "v1" is not supported`},
		{"missing api version", `{"kind":"IPPool"}`, "", "missing apiVersion"},
		{"wrong type", `{"kind":"IPPool","apiVersion":"projectcalico.org/v3","spec":{"blockSize":"big"}}`, "", "decode IPPool"},
		{"not json", `{`, "", "decode resource"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Decode([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Decode error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if got := r.GetTypeMeta().Kind; got != tt.kind {
				t.Errorf("kind = %q, want %q", got, tt.kind)
			}
		})
	}
}

func TestDecodeStrictErrors(t *testing.T) {
	const head = "apiVersion: projectcalico.org/v3\n"
	tests := []struct {
		name string
		in   string
		want []FieldError // compared by Path and Reason prefix
	}{
		{
			name: "unknown nested field",
			in:   head + "kind: GlobalNetworkPolicy\nmetadata:\n  name: p\nspec:\n  ingress:\n  - action: Allow\n    destination:\n      port: [80]\n",
			want: []FieldError{{Path: "spec.ingress[0].destination.port", Reason: "unknown field"}},
		},
		{
			name: "wrong case field suggests the right one",
			in:   head + "kind: IPPool\nmetadata:\n  name: p\nspec:\n  CIDR: 10.0.0.0/8\n",
			want: []FieldError{{Path: "spec.CIDR", Reason: `unknown field (did you mean "cidr"?)`}},
		},
		{
			name: "wrong types are all reported",
			in:   head + "kind: IPPool\nmetadata:\n  name: p\n  labels:\n    a: 1\nspec:\n  cidr: [1]\n  blockSize: x\n  natOutgoing: yes please\n",
			want: []FieldError{
				{Path: `metadata.labels["a"]`, Reason: "must be a string"},
				{Path: "spec.blockSize", Reason: "must be an integer"},
				{Path: "spec.cidr", Reason: "must be a string"},
				{Path: "spec.natOutgoing", Reason: "must be true or false"},
			},
		},
		{
			name: "integer out of range",
			in:   head + "kind: BGPConfiguration\nmetadata:\n  name: default\nspec:\n  listenPort: 70000\n",
			want: []FieldError{{Path: "spec.listenPort", Reason: "must be an integer 0-65535"}},
		},
		{
			name: "custom types name the field",
			in:   head + "kind: NetworkPolicy\nmetadata:\n  name: p\n  namespace: ns\nspec:\n  ingress:\n  - action: Allow\n    protocol: TCP\n    destination:\n      ports: [80, 99999]\n",
			want: []FieldError{{Path: "spec.ingress[0].destination.ports[1]", Reason: "port 99999"}},
		},
		{
			name: "bad duration",
			in:   head + "kind: BGPPeer\nmetadata:\n  name: p\nspec:\n  keepaliveTime: 30\n",
			want: []FieldError{{Path: "spec.keepaliveTime", Reason: "duration must be a string"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeStrict([]byte(tt.in))
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("DecodeStrict error = %v, want a *DecodeError", err)
			}
			if len(de.Errors) != len(tt.want) {
				t.Fatalf("got %d errors, want %d: %v", len(de.Errors), len(tt.want), err)
			}
			for i, w := range tt.want {
				g := de.Errors[i]
				if g.Path != w.Path || !strings.HasPrefix(g.Reason, w.Reason) {
					t.Errorf("error %d = %q %q, want %q %q...", i, g.Path, g.Reason, w.Path, w.Reason)
				}
			}
		})
	}
}

func TestDecodeStrictDocumentErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"duplicate yaml key", "kind: Tier\napiVersion: projectcalico.org/v3\nmetadata:\n  name: a\n  name: b\n", "already set"},
		{"duplicate json key", `{"kind":"Tier","apiVersion":"projectcalico.org/v3","metadata":{"name":"a","name":"b"}}`, `duplicate key "name"`},
		{"two json documents", `{"kind":"Tier","apiVersion":"projectcalico.org/v3"} {}`, "more than one document"},
		{"a list", `[1,2]`, "not an object"},
		{"a scalar", `hello`, "not an object"},
		{"empty", ``, "not an object"},
		{"no kind", "apiVersion: projectcalico.org/v3\n", "missing kind"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeStrict([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("DecodeStrict error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestDecodeStrictAcceptsJSONAndYAML(t *testing.T) {
	yml := "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: p\nspec:\n  cidr: 10.0.0.0/16\n  blockSize: 24\n"
	js := `{"apiVersion":"projectcalico.org/v3","kind":"IPPool","metadata":{"name":"p"},"spec":{"cidr":"10.0.0.0/16","blockSize":24}}`
	a, err := DecodeStrict([]byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	b, err := DecodeStrict([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("YAML and JSON decode differently (-yaml +json):\n%s", diff)
	}
}

func TestDecodeErrorMessage(t *testing.T) {
	_, err := DecodeStrict([]byte("apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: p1\nspec:\n  cidr: 10.0.0.0/8\n  foo: 1\n"))
	want := `IPPool "p1": spec.foo: unknown field`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
}
