package lab

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files")

func pair(from, to string, v4, v6 bool) Pair {
	return Pair{From: from, To: to, Reached: v4 && v6, Families: map[string]bool{FamilyIPv4: v4, FamilyIPv6: v6}}
}

func TestWriteMatrixGolden(t *testing.T) {
	pairs := []Pair{
		pair("host1-w1", "host1-w2", true, true),
		pair("host1-w1", "host2-w10", true, false),
		pair("host1-w2", "host1-w1", true, true),
		pair("host1-w2", "host2-w10", false, true),
		pair("host2-w10", "host1-w1", false, false),
		pair("host2-w10", "host1-w2", false, false),
	}
	var buf bytes.Buffer
	if err := WriteMatrix(&buf, pairs); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "matrix.golden")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), buf.String()); diff != "" {
		t.Errorf("matrix (-want +got):\n%s", diff)
	}
	if AllReached(pairs) || !AllReached(pairs[:1]) || !AllReached(nil) {
		t.Error("AllReached wrong")
	}
}

// The JSON a script reads: from, to, reached (and the per-family detail).
func TestPairJSON(t *testing.T) {
	b, err := json.Marshal([]Pair{pair("host1-w1", "host1-w2", true, false)})
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"from":"host1-w1","to":"host1-w2","reached":false,"families":{"ipv4":true,"ipv6":false}}]`
	if string(b) != want {
		t.Errorf("JSON = %s, want %s", b, want)
	}
}

func TestLessName(t *testing.T) {
	got := []string{"host10-w1", "host2-w10", "host2-w9", "host1-w2", "fabric", "host1"}
	sort.Slice(got, func(i, j int) bool { return lessName(got[i], got[j]) })
	want := []string{"fabric", "host1", "host1-w2", "host2-w9", "host2-w10", "host10-w1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
}
