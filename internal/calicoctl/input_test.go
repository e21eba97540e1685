package calicoctl

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestReadSources(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, content string) {
		t.Helper()
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("b.yaml", "b")
	write("a.json", "a")
	write("c.yml", "c")
	write("notes.txt", "ignored")
	write("sub/d.yaml", "d")
	file := filepath.Join(dir, "b.yaml")

	tests := []struct {
		name      string
		names     []string
		recursive bool
		stdin     string
		want      []string // name=content
		wantErr   string
	}{
		{name: "file", names: []string{file}, want: []string{file + "=b"}},
		{name: "stdin", names: []string{"-"}, stdin: "s", want: []string{"<stdin>=s"}},
		{name: "order kept", names: []string{file, "-"}, stdin: "s", want: []string{file + "=b", "<stdin>=s"}},
		{
			name:  "directory sorted, manifests only",
			names: []string{dir},
			want:  []string{filepath.Join(dir, "a.json") + "=a", file + "=b", filepath.Join(dir, "c.yml") + "=c"},
		},
		{
			name: "directory recursive", names: []string{dir}, recursive: true,
			want: []string{filepath.Join(dir, "a.json") + "=a", file + "=b", filepath.Join(dir, "c.yml") + "=c",
				filepath.Join(dir, "sub", "d.yaml") + "=d"},
		},
		{name: "missing file", names: []string{filepath.Join(dir, "nope.yaml")}, wantErr: "nope.yaml: no such file or directory"},
		{name: "stdin twice", names: []string{"-", "-"}, wantErr: "only once"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srcs, err := readSources(strings.NewReader(tt.stdin), tt.names, tt.recursive)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range srcs {
				got = append(got, s.name+"="+string(s.data))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("sources (-want +got):\n%s", diff)
			}
		})
	}
}
