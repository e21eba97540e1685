package nft

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("Render differs from %s (-want +got):\n%s", path, diff)
	}
}

func TestRenderGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		rs   *Ruleset
	}{
		{"representative.nft", representative()},
		{"empty.nft", &Ruleset{Table: "calico"}},
		{"invalid.nft", invalidRuleset()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			golden(t, tc.name, Render(tc.rs))
		})
	}
}

// TestRenderDeterministic: map iteration order must not leak into the
// output.
func TestRenderDeterministic(t *testing.T) {
	want := Render(representative())
	for range 20 {
		if got := Render(representative()); got != want {
			t.Fatalf("Render is not deterministic:\n%s", cmp.Diff(want, got))
		}
	}
}

// invalidRuleset has one of most kinds of mistake the validator knows.
func invalidRuleset() *Ruleset {
	return &Ruleset{
		Table: "calico",
		Sets: map[string]*Set{
			"bad-elem": {Type: TypeIPv4Addr, Elements: addrElems("10.0.0.0/8")},
		},
		Chains: map[string]*Chain{
			"c": {Rules: []Rule{
				{Match: []Match{{Kind: MatchSAddr, Set: "missing"}}},
				{Verdict: Verdict{Kind: VerdictJump, Chain: "base"}},
				{Match: []Match{{Kind: MatchMark, Num: 0x3, Mask: 0x1}}},
			}},
			"base": {Base: &Hook{Hook: "forward"}},
		},
	}
}
