package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// Result is what one stage of a test run recorded: the file
// <dir>/<stage>.json that the summary reads.
type Result struct {
	Stage    string    `json:"stage"`
	Command  string    `json:"command,omitempty"`
	Status   string    `json:"status"` // passed or failed
	Seconds  float64   `json:"seconds"`
	ExitCode int       `json:"exitCode"`
	Tests    Counts    `json:"tests"`
	Packages Packages  `json:"packages"`
	Skips    []Skip    `json:"skips,omitempty"`
	Failures []Failure `json:"failures,omitempty"`
}

// Statuses of a stage.
const (
	Passed = "passed"
	Failed = "failed"
)

// Counts counts tests and subtests: Run = Passed + Skipped + Failed.
// Failed also counts each package that failed with no failing test of its
// own (a build failure, a TestMain that failed) as one.
type Counts struct {
	Run     int `json:"run"`
	Passed  int `json:"passed"`
	Skipped int `json:"skipped"`
	Failed  int `json:"failed"`
}

// Packages counts test packages by how they ended.
type Packages struct {
	OK          int `json:"ok"`
	Failed      int `json:"failed"`
	NoTestFiles int `json:"noTestFiles"`
}

// Skip is one skipped test and the reason it gave.
type Skip struct {
	Package string `json:"package"`
	Test    string `json:"test"`
	Reason  string `json:"reason"`          // the t.Skip message, "" when none
	Where   string `json:"where,omitempty"` // file:line of the t.Skip call
	// KernelFeature names the kernel feature the machine lacks when the
	// skip is testenv.SkipKernelLacks's, the one allowed skip.
	KernelFeature string `json:"kernelFeature,omitempty"`
}

// Failure is one failed test, or with no Test a package or a command that
// failed without a failing test.
type Failure struct {
	Package string  `json:"package,omitempty"`
	Test    string  `json:"test,omitempty"`
	Summary string  `json:"summary"` // one line: what failed
	Output  string  `json:"output"`  // the test's whole output
	Seconds float64 `json:"seconds,omitempty"`
}

// Name is how the failure is listed: package and test, or what failed.
func (f Failure) Name() string {
	switch {
	case f.Package != "" && f.Test != "":
		return f.Package + " " + f.Test
	case f.Package != "":
		return f.Package
	}
	return "(the stage's command)"
}

func resultPath(dir, stage string) string { return filepath.Join(dir, stage+".json") }

// writeResult writes r to <dir>/<stage>.json (through a temporary file, so
// that a reader never sees half of it).
func writeResult(dir string, r *Result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	path := resultPath(dir, r.Stage)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// readResult reads the result of stage from dir; os.ErrNotExist (wrapped)
// when the stage recorded none.
func readResult(dir, stage string) (*Result, error) {
	path := resultPath(dir, stage)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}
