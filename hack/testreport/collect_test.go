package main

import (
	"bufio"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gocalico/calico/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

const rec = "example.com/rec/"

// replay feeds a recorded go test -json stream to a Collector, as the
// command that wrote it exited with exitCode, and returns the result
// and the progress it printed.
func replay(t *testing.T, file string, exitCode int) (*Result, string) {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var progress strings.Builder
	start := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	c := NewCollector(&progress, "test-unit", start)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		c.Line(sc.Text()+"\n", start)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return c.Finish("go test -json ./...", exitCode, time.Minute, start), progress.String()
}

// golden compares got with testdata/<name>, or rewrites it with -update.
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
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

// TestReplay: recorded streams give the counts, skips (with their
// reasons) and failures they hold, and the progress go test would print.
func TestReplay(t *testing.T) {
	for _, tc := range []struct {
		file     string
		exitCode int
		want     Result
		// in holds, for a failure (by its name), what its output must
		// contain.
		in map[string]string
	}{{
		file: "pass.json",
		want: Result{
			Status:   Passed,
			Tests:    Counts{Run: 4, Passed: 4},
			Packages: Packages{OK: 1, NoTestFiles: 1},
		},
	}, {
		file: "text.json", // a line of go's on standard error first
		want: Result{
			Status:   Passed,
			Tests:    Counts{Run: 4, Passed: 4},
			Packages: Packages{OK: 1, NoTestFiles: 1},
		},
	}, {
		file:     "mixed.json",
		exitCode: 1,
		want: Result{
			Status:   Failed,
			ExitCode: 1,
			Tests:    Counts{Run: 11, Passed: 3, Skipped: 4, Failed: 4},
			Packages: Packages{Failed: 1},
			Skips: []Skip{
				{Package: rec + "mixed", Test: "TestSkipsAfterLogging", Where: "mixed_test.go:14",
					Reason: "privileged test: needs root (creates network namespaces): run it as root"},
				{Package: rec + "mixed", Test: "TestSkipsWithoutReason"},
				{Package: rec + "mixed", Test: "TestKernelLacks", Where: "mixed_test.go:20", KernelFeature: "IPIP",
					Reason: "kernel lacks feature IPIP: ip link add type ipip: Error: Unknown device type."},
				{Package: rec + "mixed", Test: "TestSubtests/skips", Where: "mixed_test.go:26",
					Reason: "needs bird (Debian package bird2): run make deps"},
			},
			Failures: []Failure{
				{Package: rec + "mixed", Test: "TestFails", Summary: "mixed_test.go:9: routes (-want +got):"},
				{Package: rec + "mixed", Test: "TestSubtests/fails", Summary: "mixed_test.go:25: no route to 10.65.0.2"},
				{Package: rec + "mixed", Test: "TestSubtests", Summary: "a subtest failed"},
				{Package: rec + "mixed", Test: "TestFailsAfterSubtests", Summary: "mixed_test.go:31: the parent's own check"},
			},
		},
		in: map[string]string{
			rec + "mixed TestFails": "    mixed_test.go:8: progress before the failure\n    mixed_test.go:9: routes (-want +got):\n        -10.65.0.1/32\n        +10.65.0.2/32",
		},
	}, {
		file:     "build.json",
		exitCode: 1,
		want: Result{
			Status:   Failed,
			ExitCode: 1,
			Tests:    Counts{Run: 6, Passed: 4, Failed: 2},
			Packages: Packages{OK: 1, Failed: 2},
			Failures: []Failure{
				{Package: rec + "brokentest", Summary: "build failed: brokentest/b_test.go:5:28: undefined: undefinedHelper"},
				{Package: rec + "usesdep", Summary: `build failed: brokendep/dep.go:3:23: cannot use "not an int" (untyped string constant) as int value in return statement`},
			},
		},
		in: map[string]string{
			rec + "brokentest": "# example.com/rec/brokentest [example.com/rec/brokentest.test]\nbrokentest/b_test.go:5:28: undefined: undefinedHelper",
		},
	}, {
		file:     "panic.json",
		exitCode: 1,
		want: Result{
			Status:   Failed,
			ExitCode: 1,
			Tests:    Counts{Run: 2, Passed: 1, Failed: 1},
			Packages: Packages{Failed: 1},
			Failures: []Failure{
				{Package: rec + "panics", Test: "TestPanics", Summary: "panic: assignment to entry in nil map [recovered, repanicked]"},
			},
		},
		in: map[string]string{rec + "panics TestPanics": "panics.TestPanics("},
	}, {
		file:     "timeout.json",
		exitCode: 1,
		want: Result{
			Status:   Failed,
			ExitCode: 1,
			Tests:    Counts{Run: 2, Passed: 1, Failed: 1},
			Packages: Packages{Failed: 1},
			Failures: []Failure{
				{Package: rec + "hangs", Test: "TestHangs", Summary: "panic: test timed out after 3s"},
			},
		},
		in: map[string]string{rec + "hangs TestHangs": "did not finish: the package's test binary ended while it ran"},
	}, {
		file:     "testmain.json",
		exitCode: 1,
		want: Result{
			Status:   Failed,
			ExitCode: 1,
			Tests:    Counts{Run: 2, Passed: 1, Failed: 1},
			Packages: Packages{Failed: 1},
			Failures: []Failure{
				{Package: rec + "testmain", Summary: "the package failed with no failing test: FAIL: the root network namespace changed during the tests"},
			},
		},
	}, {
		file:     "parallel.json",
		exitCode: 1,
		want: Result{
			Status:   Failed,
			ExitCode: 1,
			Tests:    Counts{Run: 4, Passed: 2, Failed: 2},
			Packages: Packages{Failed: 1},
			Failures: []Failure{
				{Package: rec + "parallel", Test: "TestParallel/y", Summary: "par_test.go:11: y failed"},
				{Package: rec + "parallel", Test: "TestParallel", Summary: "a subtest failed"},
			},
		},
		in: map[string]string{rec + "parallel TestParallel/y": "    par_test.go:9: checking y\n    par_test.go:11: y failed"},
	}} {
		t.Run(tc.file, func(t *testing.T) {
			tc.want.Stage, tc.want.Command = "test-unit", "go test -json ./..."
			got, progress := replay(t, tc.file, tc.exitCode)
			if diff := cmp.Diff(&tc.want, got, cmpopts.IgnoreFields(Result{}, "Seconds"),
				cmpopts.IgnoreFields(Failure{}, "Output", "Seconds")); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
			for name, want := range tc.in {
				found := false
				for _, f := range got.Failures {
					if f.Name() == name {
						found = true
						if !strings.Contains(f.Output, want) {
							t.Errorf("output of %s does not contain %q:\n%s", name, want, f.Output)
						}
					}
				}
				if !found {
					t.Errorf("no failure %s", name)
				}
			}
			golden(t, strings.TrimSuffix(tc.file, ".json")+".progress", progress)
		})
	}
}

// TestCommandFailedWithoutTests: a command that fails with no test
// failing (a build stage, go vet) fails the stage, showing its last lines.
func TestCommandFailedWithoutTests(t *testing.T) {
	start := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	var progress strings.Builder
	c := NewCollector(&progress, "build", start)
	c.Line("build: bin/calico-node\n", start)
	c.Text("cmd/calico-node/main.go:12:2: undefined: run\n", start)
	got := c.Finish("make build", 2, time.Second, start)
	want := &Result{
		Stage: "build", Command: "make build", Status: Failed, ExitCode: 2, Seconds: 1,
		Failures: []Failure{{
			Summary: "make build exited with status 2: cmd/calico-node/main.go:12:2: undefined: run",
			Output:  "build: bin/calico-node\ncmd/calico-node/main.go:12:2: undefined: run",
		}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if want := "build: bin/calico-node\ncmd/calico-node/main.go:12:2: undefined: run\n"; progress.String() != want {
		t.Errorf("progress %q, want the command's lines as they were: %q", progress.String(), want)
	}
}

// TestUnfinishedAtTheEnd: a package whose stream stops in the middle (go
// test was killed) fails, and so does the test that was running.
func TestUnfinishedAtTheEnd(t *testing.T) {
	start := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	var progress strings.Builder
	c := NewCollector(&progress, "test-e2e", start)
	for _, l := range []string{
		`{"Time":"2026-12-07T00:00:00Z","Action":"start","Package":"p"}`,
		`{"Time":"2026-12-07T00:00:00Z","Action":"run","Package":"p","Test":"TestLab"}`,
		`{"Time":"2026-12-07T00:00:00Z","Action":"output","Package":"p","Test":"TestLab","Output":"    lab_test.go:10: bringing the lab up\n"}`,
	} {
		c.Line(l, start)
	}
	got := c.Finish("go test -json ./test/e2e/...", 130, time.Minute, start.Add(time.Minute))
	want := &Result{
		Stage: "test-e2e", Command: "go test -json ./test/e2e/...", Status: Failed, ExitCode: 130, Seconds: 60,
		Tests:    Counts{Run: 1, Failed: 1},
		Packages: Packages{Failed: 1},
		Failures: []Failure{{
			Package: "p", Test: "TestLab", Seconds: 60, Summary: "lab_test.go:10: bringing the lab up",
			Output: "    lab_test.go:10: bringing the lab up\ndid not finish: go test ended first",
		}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestHeartbeat: after a quiet minute what is running is named, not
// before, and not again until the next quiet minute.
func TestHeartbeat(t *testing.T) {
	start := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return start.Add(time.Duration(s) * time.Second) }
	var progress strings.Builder
	c := NewCollector(&progress, "test-e2e", start)
	beats := func(from, to int) {
		for s := from; s <= to; s += 10 {
			c.Heartbeat(at(s), time.Minute)
		}
	}
	beats(10, 130) // go test is building
	c.Line(`{"Time":"2026-12-07T00:02:15Z","Action":"start","Package":"e2e"}`, at(135))
	beats(140, 200) // TestMain
	c.Line(`{"Time":"2026-12-07T00:03:25Z","Action":"run","Package":"e2e","Test":"TestOutage"}`, at(205))
	c.Line(`{"Time":"2026-12-07T00:03:25Z","Action":"run","Package":"e2e","Test":"TestOutage/stop"}`, at(205))
	beats(210, 330)
	c.Line(`{"Time":"2026-12-07T00:05:40Z","Action":"pass","Package":"e2e","Test":"TestOutage/stop","Elapsed":1}`, at(340))
	c.Line(`{"Time":"2026-12-07T00:05:40Z","Action":"pass","Package":"e2e","Test":"TestOutage","Elapsed":1}`, at(340))
	c.Line(`{"Time":"2026-12-07T00:05:40Z","Action":"pass","Package":"e2e","Elapsed":300}`, at(340))
	beats(350, 400)
	want := `... still working (no output for 1m0s)
... still working (no output for 2m0s)
... running the tests of e2e (no output for 3m0s)
... running: TestOutage in e2e (35s)
... running: TestOutage in e2e (1m35s)
ok  	e2e	300.000s
... still working (no output for 1m0s)
`
	if diff := cmp.Diff(want, progress.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestKernelLacksPrefix: the skip testenv allows is the one recognised.
func TestKernelLacksPrefix(t *testing.T) {
	if kernelLacksPrefix != testenv.KernelLacksPrefix {
		t.Errorf("kernelLacksPrefix = %q, testenv.KernelLacksPrefix = %q", kernelLacksPrefix, testenv.KernelLacksPrefix)
	}
}
