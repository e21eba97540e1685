package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestCollector(t *testing.T) {
	// Two runs of TestA (the second fails in a subtest), a skip, and
	// TestC running when the binary dies.
	stream := `{"Action":"start"}
{"Action":"run","Test":"TestA"}
{"Action":"output","Test":"TestA","Output":"=== RUN   TestA\n"}
{"Action":"pass","Test":"TestA","Elapsed":0.5}
{"Time":"2026-01-02T10:00:00Z","Action":"run","Test":"TestA"}
{"Action":"output","Test":"TestA","Output":"=== RUN   TestA\n"}
{"Action":"run","Test":"TestA/sub"}
{"Action":"output","Test":"TestA/sub","Output":"    a_test.go:9: got 2, want 1\n"}
{"Action":"fail","Test":"TestA/sub","Elapsed":0.1}
{"Action":"output","Test":"TestA","Output":"--- FAIL: TestA (0.20s)\n"}
{"Time":"2026-01-02T10:00:03Z","Action":"fail","Test":"TestA","Elapsed":0.2}
{"Action":"run","Test":"TestB"}
{"Action":"skip","Test":"TestB"}
{"Action":"run","Test":"TestC"}
{"Action":"output","Test":"TestC","Output":"=== RUN   TestC\n"}
{"Action":"output","Output":"panic: test timed out after 10m0s\n"}
`
	c := newCollector()
	if err := parseEvents(strings.NewReader(stream), c.add); err != nil {
		t.Fatal(err)
	}
	c.finish(errors.New("exit status 2"))
	want := map[string]tally{
		"TestA": {runs: 2, fails: 1, elapsed: 3 * time.Second, // parallel subtests: more than its own 0.2s
			first: "=== RUN   TestA\n    a_test.go:9: got 2, want 1\n--- FAIL: TestA (0.20s)\n"},
		"TestB": {skips: 1},
		"TestC": {runs: 1, fails: 1,
			first: "=== RUN   TestC\n--- the test binary ended (exit status 2):\npanic: test timed out after 10m0s\n"},
	}
	got := map[string]tally{}
	for k, v := range c.tallies {
		got[k] = *v
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(tally{})); diff != "" {
		t.Errorf("tallies (-want +got):\n%s", diff)
	}
}

func TestCollectorBinaryFailsOutsideTests(t *testing.T) {
	c := newCollector()
	stream := `{"Action":"output","Output":"TestMain: cannot build\n"}` + "\n"
	if err := parseEvents(strings.NewReader(stream), c.add); err != nil {
		t.Fatal(err)
	}
	c.finish(errors.New("exit status 1"))
	want := map[string]tally{binaryTest: {runs: 1, fails: 1, first: "the test binary ended (exit status 1):\nTestMain: cannot build\n"}}
	got := map[string]tally{}
	for k, v := range c.tallies {
		got[k] = *v
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(tally{})); diff != "" {
		t.Errorf("tallies (-want +got):\n%s", diff)
	}
}

func TestRunsOf(t *testing.T) {
	cfg := config{count: 200, min: 3, budget: 10 * time.Second}
	tests := []struct {
		pass string
		d    time.Duration
		want int
	}{
		{passRace, 0, 200},                     // capped at count
		{passRace, 40 * time.Millisecond, 200}, // 250 fit
		{passRace, 50 * time.Millisecond, 200}, // 200 fit
		{passRace, 60 * time.Millisecond, 100}, // 166 fit: the step below
		{passRace, 201 * time.Millisecond, 30}, // 49 fit
		{passRace, time.Second, 10},            // 10 fit
		{passRace, 1500 * time.Millisecond, 5}, // 6 fit
		{passRace, 10 * time.Second / 7, 5},    // 7 fit
		{passRace, 30 * time.Second, 3},        // none fit: the minimum
		{passCPU, 40 * time.Millisecond, 100},  // runs twice per count: 125 fit
		{passCPU, 200 * time.Millisecond, 20},  // 25 fit
		{passCPU, 2 * time.Second, 3},          // 2 fit: the minimum
	}
	for _, tt := range tests {
		if got := runsOf(cfg, tt.pass, tt.d); got != tt.want {
			t.Errorf("runsOf(%s, %s) = %d, want %d", tt.pass, tt.d, got, tt.want)
		}
	}
	odd := config{count: 7, min: 2, budget: time.Second}
	if got := runsOf(odd, passRace, time.Millisecond); got != 7 {
		t.Errorf("runsOf with count 7, a fast test = %d, want 7", got)
	}
}

func TestPlan(t *testing.T) {
	cfg := config{count: 200, min: 3, budget: 10 * time.Second, run: "^Test[A-E]"}
	pkgs := []pkg{{importPath: "p"}, {importPath: "q"}}
	durs := durations{
		"p": {Overhead: 1, Tests: map[string]float64{
			"TestA": 0.001, "TestB": 0.002, // 200 runs each
			"TestC": 1,   // 10 runs
			"TestD": 200, // 3 runs: 10 min, over maxJob, alone
			"TestE": 150, // 3 runs, alone
			"TestZ": 0,   // not matched by run
		}},
		"q": {Tests: map[string]float64{"TestA": 0.01}},
	}
	type row struct {
		Pkg    string
		Tests  []string
		Count  int
		CPU    string
		Expect time.Duration
	}
	rows := func(jobs []job) []row {
		var out []row
		for _, j := range jobs {
			out = append(out, row{j.pkg.importPath, j.tests, j.count, j.cpu, j.expect})
		}
		return out
	}
	want := []row{
		{"p", []string{"TestD"}, 3, "", 601 * time.Second},
		{"p", []string{"TestE"}, 3, "", 451 * time.Second},
		{"p", []string{"TestC"}, 10, "", 11 * time.Second},
		{"q", []string{"TestA"}, 200, "", 2 * time.Second},
		{"p", []string{"TestA", "TestB"}, 200, "", 1600 * time.Millisecond},
	}
	if diff := cmp.Diff(want, rows(plan(cfg, passRace, pkgs, durs))); diff != "" {
		t.Errorf("race pass jobs (-want +got):\n%s", diff)
	}
	wantCPU := []row{
		{"p", []string{"TestD"}, 3, "1,2", 1201 * time.Second},
		{"p", []string{"TestE"}, 3, "1,2", 901 * time.Second},
		{"p", []string{"TestC"}, 5, "1,2", 11 * time.Second},
		{"q", []string{"TestA"}, 200, "1,2", 4 * time.Second},
		{"p", []string{"TestA", "TestB"}, 200, "1,2", 2200 * time.Millisecond},
	}
	if diff := cmp.Diff(wantCPU, rows(plan(cfg, passCPU, pkgs, durs))); diff != "" {
		t.Errorf("cpu pass jobs (-want +got):\n%s", diff)
	}
}

func TestJobArgs(t *testing.T) {
	j := job{pkg: &pkg{}, tests: []string{"TestA", "FuzzB"}, count: 50, cpu: "1,2", expect: time.Minute}
	want := []string{"-test.v=test2json", "-test.paniconexit0", "-test.count", "50", "-test.timeout", "14m0s",
		"-test.run", "^(TestA|FuzzB)$", "-test.cpu", "1,2"}
	if diff := cmp.Diff(want, j.args()); diff != "" {
		t.Errorf("args (-want +got):\n%s", diff)
	}
}
