package nft

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestMain checks, when run as root, that the tests left the root
// network namespace's nftables ruleset as they found it: they must only
// ever work in namespaces of their own. It only reads the root ruleset.
func TestMain(m *testing.M) {
	flag.Parse()
	before, ok := rootRuleset()
	code := m.Run()
	if ok {
		after, _ := rootRuleset()
		if diff := cmp.Diff(before, after); diff != "" {
			fmt.Fprintf(os.Stderr, "FAIL: the root namespace's nftables ruleset changed during the tests (-before +after):\n%s", diff)
			code = 1
		}
	}
	os.Exit(code)
}

func rootRuleset() (string, bool) {
	if os.Geteuid() != 0 {
		return "", false
	}
	out, err := exec.Command("nft", "list", "ruleset").Output()
	if err != nil {
		return "", false
	}
	// Counters elsewhere on the host move with traffic.
	return counterValues.ReplaceAllString(string(out), "counter"), true
}
