package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestSummary: every stage's row, every skip with its reason (the
// kernel-feature one marked as allowed) and every failure, a stage with
// no result among them; the run fails.
func TestSummary(t *testing.T) {
	dir := t.TempDir()
	for _, r := range []*Result{
		{Stage: "deps", Status: Passed, Seconds: 4.2},
		{Stage: "build", Status: Passed, Seconds: 171},
		{Stage: "lint", Status: Failed, ExitCode: 2, Seconds: 40,
			Failures: []Failure{{Summary: "make lint exited with status 2: gofmt needed: internal/x.go"}}},
		{Stage: "test-unit", Status: Failed, ExitCode: 1, Seconds: 3725,
			Tests:    Counts{Run: 120, Passed: 115, Skipped: 2, Failed: 3},
			Packages: Packages{OK: 30, Failed: 2, NoTestFiles: 4},
			Skips: []Skip{
				{Package: "p/tunnel", Test: "TestPrivilegedIPIP", Where: "ipip_test.go:20", KernelFeature: "IPIP",
					Reason: "kernel lacks feature IPIP: ip link add type ipip: Error: Unknown device type."},
				{Package: "p/mixed", Test: "TestSkipsWithoutReason"},
			},
			Failures: []Failure{
				{Package: "p/syncer", Test: "TestProgressNotifyAdvancesRevision", Summary: "syncer_test.go:80: watch start revisions (-want +got):\n-5\n+6"},
				{Package: "p/syncer", Test: "TestParent", Summary: "a subtest failed"},
				{Package: "p/broken", Summary: "build failed: broken/b_test.go:5:28: undefined: undefinedHelper"},
			},
		},
	} {
		if err := writeResult(dir, r); err != nil {
			t.Fatal(err)
		}
	}
	var out strings.Builder
	ok := writeSummary(&out, "test-results", loadStages(dir, []string{"deps", "build", "lint", "test-unit", "test-e2e"}))
	if ok {
		t.Error("writeSummary reported success with failed stages")
	}
	golden(t, "summary.txt", out.String())
}

// TestSummaryAllPassed: nothing skipped, nothing failed, and the run
// passes.
func TestSummaryAllPassed(t *testing.T) {
	dir := t.TempDir()
	for _, r := range []*Result{
		{Stage: "build", Status: Passed, Seconds: 3},
		{Stage: "test-e2e", Status: Passed, Seconds: 330, Tests: Counts{Run: 40, Passed: 40}, Packages: Packages{OK: 1}},
	} {
		if err := writeResult(dir, r); err != nil {
			t.Fatal(err)
		}
	}
	var out strings.Builder
	if !writeSummary(&out, "test-results", loadStages(dir, []string{"build", "test-e2e"})) {
		t.Errorf("writeSummary reported a failure:\n%s", out.String())
	}
	want := `stage     result   tests  passed  skipped  failed      time
build     passed       -       -        -       -        3s
test-e2e  passed      40      40        0       0     5m30s
all       passed      40      40        0       0     5m33s

skipped: none
failed: none
`
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestUnreadableResult: a result file that is not JSON fails its stage,
// naming the file.
func TestUnreadableResult(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "build.json"), []byte("{half"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if writeSummary(&out, dir, loadStages(dir, []string{"build"})) {
		t.Error("writeSummary reported success with an unreadable result")
	}
	if want := "build  its result is unreadable: " + filepath.Join(dir, "build.json"); !strings.Contains(out.String(), want) {
		t.Errorf("summary does not say %q:\n%s", want, out.String())
	}
}

func TestDuration(t *testing.T) {
	for _, tc := range []struct {
		seconds float64
		want    string
	}{{0.2, "0s"}, {4.6, "5s"}, {125, "2m05s"}, {3725, "1h02m05s"}} {
		if got := duration(tc.seconds); got != tc.want {
			t.Errorf("duration(%v) = %q, want %q", tc.seconds, got, tc.want)
		}
	}
}

// TestRunCommand: a command's standard output is read as test events and
// its standard error as text; its exit status, or the signal that ended
// it, is the stage's.
func TestRunCommand(t *testing.T) {
	for _, tc := range []struct {
		name    string
		command []string
		want    int
		output  string // what the progress must contain
	}{{
		name: "events and text",
		command: []string{"sh", "-c", `echo '{"Action":"start","Package":"p"}'; echo '{"Action":"run","Package":"p","Test":"TestA"}'; ` +
			`echo '{"Action":"fail","Package":"p","Test":"TestA","Elapsed":0.5}'; echo '{"Action":"fail","Package":"p","Elapsed":1}'; echo 'on stderr' >&2; exit 3`},
		want:   3,
		output: "--- FAIL: TestA (0.50s) in p\n",
	}, {
		name:    "killed by a signal",
		command: []string{"sh", "-c", "kill -TERM $$"},
		want:    128 + 15,
	}, {
		name:    "no such command",
		command: []string{filepath.Join(t.TempDir(), "nothing-here")},
		want:    127,
		output:  "nothing-here: fork/exec",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			var progress strings.Builder
			c := NewCollector(&progress, "s", time.Now())
			if got := runCommand(tc.command, c); got != tc.want {
				t.Errorf("exit status %d, want %d", got, tc.want)
			}
			if !strings.Contains(progress.String(), tc.output) {
				t.Errorf("progress does not contain %q:\n%s", tc.output, progress.String())
			}
			if tc.name == "events and text" {
				r := c.Finish("sh", 3, time.Second, time.Now())
				if r.Tests != (Counts{Run: 1, Failed: 1}) || !strings.Contains(progress.String(), "on stderr\n") {
					t.Errorf("tests %+v, progress:\n%s", r.Tests, progress.String())
				}
			}
		})
	}
}
