package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gocalico/calico/internal/lab"
)

func TestMain(m *testing.M) {
	privileged := os.Geteuid() == 0
	var before rootSnapshot
	if privileged {
		sweepStaleLabs()
		var err error
		if before, err = takeRootSnapshot(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: root namespace snapshot:", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	if labBinary != "" {
		os.RemoveAll(filepath.Dir(labBinary))
	}
	if privileged {
		after, err := takeRootSnapshot()
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e: root namespace snapshot:", err)
			code = 1
		} else if diff := cmp.Diff(before, after); diff != "" {
			fmt.Fprintf(os.Stderr, "e2e: FAIL: the root network namespace changed during the suite (-before +after):\n%s", diff)
			code = 1
		}
	}
	os.Exit(code)
}

var e2eLabName = regexp.MustCompile(`^e2e([0-9]+)-[0-9]+$`)

// sweepStaleLabs removes labs left by an e2e run that no longer runs (its
// PID is in the lab's name). Labs of a run still going are left alone.
func sweepStaleLabs() {
	names, err := lab.Names()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: listing labs:", err)
		return
	}
	for _, name := range names {
		m := e2eLabName.FindStringSubmatch(name)
		if m == nil {
			continue
		}
		pid, _ := strconv.Atoi(m[1])
		if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil && strings.TrimSpace(string(comm)) == "e2e.test" {
			continue // another run of this suite, still going
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if _, err := lab.Destroy(ctx, name, os.Stderr); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: removing stale lab %s: %v\n", name, err)
		}
		cancel()
	}
}
