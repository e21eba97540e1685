package calicoctl

import (
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSplitSource(t *testing.T) {
	tests := []struct {
		name string
		in   string
		// want lists, per resource document, "number/item:first line of raw".
		want []string
	}{
		{
			name: "single yaml",
			in:   "kind: A\n",
			want: []string{"1/0:kind: A"},
		},
		{
			name: "leading separator does not count",
			in:   "---\nkind: A\n---\nkind: B\n",
			want: []string{"1/0:kind: A", "2/0:kind: B"},
		},
		{
			name: "empty documents keep their numbers",
			in:   "kind: A\n---\n# nothing\n---\nkind: C\n",
			want: []string{"1/0:kind: A", "3/0:kind: C"},
		},
		{
			name: "comment before leading separator",
			in:   "# header\n---\nkind: A\n",
			want: []string{"1/0:kind: A"},
		},
		{
			name: "json array",
			in:   `[{"kind":"A"},{"kind":"B"}]`,
			want: []string{`1/0:{"kind":"A"}`, `2/0:{"kind":"B"}`},
		},
		{
			name: "yaml list kind",
			in:   "kind: X\n---\napiVersion: projectcalico.org/v3\nkind: List\nitems:\n- kind: A\n- kind: B\n",
			want: []string{"1/0:kind: X", `2/1:{"kind":"A"}`, `2/2:{"kind":"B"}`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, ch := range splitSource([]byte(tt.in)) {
				docs, err := ch.documents()
				if err != nil {
					t.Fatalf("documents of chunk %d: %v", ch.number, err)
				}
				for _, d := range docs {
					first, _, _ := strings.Cut(strings.TrimSpace(string(d.raw)), "\n")
					got = append(got, strconv.Itoa(d.number)+"/"+strconv.Itoa(d.listItem)+":"+first)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("documents (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSplitSourceYAMLErrorLine(t *testing.T) {
	in := "kind: A\n---\nkind: B\nmetadata:\n  name: x\n   bad: indent\n"
	chunks := splitSource([]byte(in))
	if len(chunks) != 2 {
		t.Fatalf("got %d chunks, want 2", len(chunks))
	}
	if _, err := chunks[0].documents(); err != nil {
		t.Fatalf("first document: %v", err)
	}
	_, err := chunks[1].documents()
	if err == nil {
		t.Fatal("second document: no error for bad YAML")
	}
	// The bad line is line 6 of the file.
	msg := chunks[1].fileLines(err.Error())
	if !strings.Contains(msg, "invalid YAML") || !strings.Contains(msg, "line 6") {
		t.Errorf("error %q: want 'invalid YAML' at line 6 of the file", msg)
	}
}

func FuzzSplitSource(f *testing.F) {
	f.Add("kind: A\n---\nkind: B\n")
	f.Add(`[{"kind":"A"}]`)
	f.Add("---\n---\n")
	f.Add("items: [1, 2]\nkind: FooList\n")
	f.Fuzz(func(t *testing.T, s string) {
		last := 0
		for _, ch := range splitSource([]byte(s)) {
			if ch.number <= last || ch.line < 1 {
				t.Fatalf("chunk number %d after %d, line %d", ch.number, last, ch.line)
			}
			last = ch.number
			_, _ = ch.documents() // must not panic
		}
	})
}
