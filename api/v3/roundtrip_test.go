package v3

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

func goldenPath(k *KindInfo) string {
	return filepath.Join("testdata", "golden", strings.ToLower(k.Kind)+".json")
}

// TestGoldenRoundTrip checks, for every kind with every field set, that
// the encoding matches the golden file and that decoding the golden file
// and encoding it again gives the same bytes.
func TestGoldenRoundTrip(t *testing.T) {
	for _, k := range Kinds() {
		t.Run(k.Kind, func(t *testing.T) {
			want := filled(k)
			enc, err := json.MarshalIndent(want, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			enc = append(enc, '\n')
			path := goldenPath(k)
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, enc, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			golden, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if diff := cmp.Diff(string(golden), string(enc)); diff != "" {
				t.Errorf("encoding differs from %s (-golden +got):\n%s", path, diff)
			}
			for name, decode := range map[string]func([]byte) (Resource, error){"Decode": Decode, "DecodeStrict": DecodeStrict} {
				got, err := decode(golden)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("%s differs (-want +got):\n%s", name, diff)
				}
				again, err := json.MarshalIndent(got, "", "  ")
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(append(again, '\n'), golden) {
					t.Errorf("%s then encode does not give the golden bytes", name)
				}
			}
		})
	}
}

// TestFactSheetExample decodes the stored NetworkPolicy of the wire
// format reference and checks that encoding it again loses nothing.
func TestFactSheetExample(t *testing.T) {
	const stored = `{"kind":"NetworkPolicy","apiVersion":"projectcalico.org/v3",
 "metadata":{"name":"allow-web","namespace":"prod","uid":"7c9e6679-7425-40de-944b-e07fc1f90ae7","creationTimestamp":"2025-01-02T03:04:05Z",
  "labels":{"projectcalico.org/tier":"default"},"annotations":{"projectcalico.org/metadata":"{\"name\":\"allow-web\"}"}},
 "spec":{"tier":"default","order":100,"selector":"app == 'web'","types":["Ingress"],
  "ingress":[{"action":"Allow","protocol":"TCP","source":{"selector":"role == 'fe'"},"destination":{"ports":[80,"8000:8080","http"]}}]}}`
	r, err := Decode([]byte(stored))
	if err != nil {
		t.Fatal(err)
	}
	np := r.(*NetworkPolicy)
	wantPorts := []Port{SinglePort(80), PortRange(8000, 8080), NamedPort("http")}
	if diff := cmp.Diff(wantPorts, np.Spec.Ingress[0].Destination.Ports); diff != "" {
		t.Errorf("ports (-want +got):\n%s", diff)
	}
	out, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	in, _ := toGeneric([]byte(stored))
	got, _ := toGeneric(out)
	if diff := cmp.Diff(in, got); diff != "" {
		t.Errorf("re-encoded value differs (-stored +got):\n%s", diff)
	}
	if err := Validate(r); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

// TestUpstreamFixtures checks the documentation-style examples in
// testdata/upstream: each decodes strictly, validates before and after
// defaulting, and re-encodes with every input field preserved.
func TestUpstreamFixtures(t *testing.T) {
	seen := map[string]bool{}
	files, err := filepath.Glob(filepath.Join("testdata", "upstream", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			r, err := DecodeStrict(data)
			if err != nil {
				t.Fatalf("DecodeStrict: %v", err)
			}
			seen[r.GetTypeMeta().Kind] = true
			if want := strings.ToLower(r.GetTypeMeta().Kind) + ".yaml"; filepath.Base(f) != want {
				t.Errorf("file holds a %s; name it %s", r.GetTypeMeta().Kind, want)
			}
			if err := Validate(r); err != nil {
				t.Errorf("Validate before defaults: %v", err)
			}
			SetDefaults(r)
			if err := Validate(r); err != nil {
				t.Errorf("Validate after defaults: %v", err)
			}
			out, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			in, err := toGeneric(data)
			if err != nil {
				t.Fatal(err)
			}
			got, err := toGeneric(out)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range notPreserved(in, got, "") {
				t.Error(d)
			}
		})
	}
	for _, k := range Kinds() {
		if !seen[k.Kind] {
			t.Errorf("no fixture for %s in testdata/upstream", k.Kind)
		}
	}
}
