package v3

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSplitDocuments(t *testing.T) {
	type doc struct {
		Index, Item int
		Kind        string // kind inside Raw, or the trimmed Raw if it has none
	}
	tests := []struct {
		name string
		in   string
		want []doc
	}{
		{
			name: "single yaml",
			in:   "kind: Tier\nmetadata:\n  name: a\n",
			want: []doc{{0, -1, "Tier"}},
		},
		{
			name: "multi yaml with empty documents keeps user numbering",
			in:   "kind: Tier\n---\n# just a comment\n---\nkind: IPPool\n--- \n\n---\nkind: BGPPeer\n---\n",
			want: []doc{{0, -1, "Tier"}, {2, -1, "IPPool"}, {4, -1, "BGPPeer"}},
		},
		{
			name: "leading separator does not count",
			in:   "---\nkind: Tier\n---\nkind: IPPool\n",
			want: []doc{{0, -1, "Tier"}, {1, -1, "IPPool"}},
		},
		{
			name: "comment then leading separator does not count",
			in:   "# header\n---\nkind: Tier\n",
			want: []doc{{0, -1, "Tier"}},
		},
		{
			name: "separator with comment",
			in:   "kind: Tier\n--- # next\nkind: IPPool\n",
			want: []doc{{0, -1, "Tier"}, {1, -1, "IPPool"}},
		},
		{
			name: "json object",
			in:   `{"kind":"Tier"}`,
			want: []doc{{0, -1, "Tier"}},
		},
		{
			name: "json array",
			in:   ` [{"kind":"Tier"}, null, {"kind":"IPPool"}]`,
			want: []doc{{0, -1, "Tier"}, {2, -1, "IPPool"}},
		},
		{
			name: "yaml list",
			in:   "kind: Tier\n---\napiVersion: projectcalico.org/v3\nkind: IPPoolList\nitems:\n- kind: IPPool\n- kind: IPPool\n  spec: {}\n",
			want: []doc{{0, -1, "Tier"}, {1, 0, "IPPool"}, {1, 1, "IPPool"}},
		},
		{
			name: "json List",
			in:   `{"kind":"List","items":[{"kind":"Tier"},{"kind":"Profile"}]}`,
			want: []doc{{0, 0, "Tier"}, {0, 1, "Profile"}},
		},
		{
			name: "empty input",
			in:   "\n# nothing\n",
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs, err := SplitDocuments([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			var got []doc
			for _, d := range docs {
				v, err := toGeneric(d.Raw)
				if err != nil {
					t.Fatalf("%s: %v", d.Location(), err)
				}
				kind, _ := v.(map[string]any)["kind"].(string)
				got = append(got, doc{d.Index, d.Item, kind})
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestSplitDocumentsErrors(t *testing.T) {
	for _, in := range []string{"[1, 2", "kind: Tier\n---\nkind: [unclosed\n"} {
		if _, err := SplitDocuments([]byte(in)); err == nil {
			t.Errorf("SplitDocuments(%q): want an error", in)
		}
	}
	_, err := SplitDocuments([]byte("kind: Tier\n---\nkind: [unclosed\n"))
	if err == nil || !strings.Contains(err.Error(), "document 1") {
		t.Errorf("error %v should name document 1", err)
	}
}

func TestDocumentLocation(t *testing.T) {
	if got := (Document{Index: 2, Item: -1}).Location(); got != "document 2" {
		t.Errorf("got %q", got)
	}
	if got := (Document{Index: 0, Item: 3}).Location(); got != "document 0 item 3" {
		t.Errorf("got %q", got)
	}
}
