package v3

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// addSeeds adds every golden and upstream fixture file to f's corpus.
func addSeeds(f *testing.F) {
	for _, pattern := range []string{"testdata/golden/*.json", "testdata/upstream/*.yaml"} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Add([]byte(`{"kind":"IPPool","apiVersion":"projectcalico.org/v3","spec":{"cidr":"10.0.0.0/8","blockSize":26}}`))
	f.Add([]byte("kind: List\nitems:\n- kind: Tier\n---\n[1]\n"))
}

// FuzzDecodeStrict feeds arbitrary user input through the whole user path:
// split, strict decode, default, validate. Nothing may panic, and a
// decoded resource must encode and decode again.
func FuzzDecodeStrict(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, err := SplitDocuments(data)
		if err != nil {
			return
		}
		for _, d := range docs {
			r, err := DecodeStrict(d.Raw)
			if err != nil {
				continue
			}
			_ = Validate(r)
			SetDefaults(r)
			_ = Validate(r)
			b, err := json.Marshal(r)
			if err != nil {
				t.Fatalf("encode decoded resource: %v", err)
			}
			if _, err := Decode(b); err != nil {
				t.Fatalf("decode of our own encoding failed: %v\n%s", err, b)
			}
		}
	})
}

// FuzzDecode feeds arbitrary values as if read from etcd: decoding may
// fail but must not panic, and what decodes must re-encode stably.
func FuzzDecode(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Decode(data)
		if err != nil {
			return
		}
		b1, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		r2, err := Decode(b1)
		if err != nil {
			t.Fatalf("decode of our own encoding failed: %v\n%s", err, b1)
		}
		b2, _ := json.Marshal(r2)
		if string(b1) != string(b2) {
			t.Fatalf("encoding not stable:\n%s\n%s", b1, b2)
		}
	})
}

// FuzzValidate checks Validate and SetDefaults on whatever Decode accepts:
// no panics, SetDefaults idempotent, PolicyToStorage/FromStorage safe.
func FuzzValidate(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Decode(data)
		if err != nil {
			return
		}
		_ = Validate(r)
		cp := r.DeepCopyResource()
		SetDefaults(r)
		once, _ := json.Marshal(r)
		SetDefaults(r)
		twice, _ := json.Marshal(r)
		if string(once) != string(twice) {
			t.Fatalf("SetDefaults not idempotent:\n%s\n%s", once, twice)
		}
		_ = Validate(r)
		PolicyToStorage(cp)
		PolicyFromStorage(cp)
		if w, ok := cp.(*WorkloadEndpoint); ok {
			_ = CompleteWorkloadEndpoint(w)
			_ = Validate(w)
		}
	})
}
