package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"strings"
	"time"
)

// stageRow is one stage of the summary: its result, or why there is none.
type stageRow struct {
	stage  string
	result *Result
	err    error // reading its result
}

// loadStages reads the results of stages from dir; a stage without a
// result is reported, not an error.
func loadStages(dir string, stages []string) []stageRow {
	rows := make([]stageRow, 0, len(stages))
	for _, s := range stages {
		r, err := readResult(dir, s)
		rows = append(rows, stageRow{stage: s, result: r, err: err})
	}
	return rows
}

// writeSummary prints the table of stages, every skip with its reason
// and every failure, and reports whether everything passed.
func writeSummary(w io.Writer, dir string, rows []stageRow) (ok bool) {
	ok = true
	width := len("stage")
	for _, row := range rows {
		width = max(width, len(row.stage))
	}
	line := func(stage, status, tests, passed, skipped, failed, took string) {
		fmt.Fprintf(w, "%-*s  %-6s  %6s  %6s  %7s  %6s  %8s\n", width, stage, status, tests, passed, skipped, failed, took)
	}
	line("stage", "result", "tests", "passed", "skipped", "failed", "time")
	var total Counts
	var totalTime float64
	var skips, failures []string
	var allowed int
	for _, row := range rows {
		r := row.result
		if r == nil {
			ok = false
			why := "recorded no result (it did not run to the end)"
			if row.err != nil && !errors.Is(row.err, fs.ErrNotExist) {
				why = "its result is unreadable: " + row.err.Error()
			}
			line(row.stage, "FAILED", "-", "-", "-", "-", "-")
			failures = append(failures, fmt.Sprintf("  %-*s  %s", width, row.stage, why))
			continue
		}
		status := "passed"
		if r.Status != Passed {
			status, ok = "FAILED", false
		}
		if r.Tests.Run == 0 && r.Packages == (Packages{}) {
			line(row.stage, status, "-", "-", "-", "-", duration(r.Seconds))
		} else {
			line(row.stage, status, strconv.Itoa(r.Tests.Run), strconv.Itoa(r.Tests.Passed),
				strconv.Itoa(r.Tests.Skipped), strconv.Itoa(r.Tests.Failed), duration(r.Seconds))
		}
		total.Run += r.Tests.Run
		total.Passed += r.Tests.Passed
		total.Skipped += r.Tests.Skipped
		total.Failed += r.Tests.Failed
		totalTime += r.Seconds
		for _, s := range r.Skips {
			l := fmt.Sprintf("  %-*s  %s %s: %s", width, row.stage, s.Package, s.Test, oneLine(s.Reason, "(no reason given)"))
			if s.Where != "" {
				l += " (" + s.Where + ")"
			}
			if s.KernelFeature != "" {
				allowed++
				l += " [allowed: the kernel lacks " + s.KernelFeature + "]"
			}
			skips = append(skips, l)
		}
		for _, f := range r.Failures {
			failures = append(failures, fmt.Sprintf("  %-*s  %s: %s", width, row.stage, f.Name(), oneLine(f.Summary, "(see its output)")))
		}
	}
	status := "passed"
	if !ok {
		status = "FAILED"
	}
	line("all", status, strconv.Itoa(total.Run), strconv.Itoa(total.Passed), strconv.Itoa(total.Skipped),
		strconv.Itoa(total.Failed), duration(totalTime))

	fmt.Fprintln(w)
	switch {
	case len(skips) == 0:
		fmt.Fprintln(w, "skipped: none")
	case allowed > 0:
		fmt.Fprintf(w, "skipped (%d, of which %d for a kernel feature this kernel lacks):\n", len(skips), allowed)
	default:
		fmt.Fprintf(w, "skipped (%d):\n", len(skips))
	}
	for _, s := range skips {
		fmt.Fprintln(w, s)
	}
	if len(failures) == 0 {
		fmt.Fprintln(w, "failed: none")
	} else {
		fmt.Fprintf(w, "failed (%d; the whole output of each is above, and in %s/<stage>.json):\n", len(failures), dir)
		for _, f := range failures {
			fmt.Fprintln(w, f)
		}
	}
	return ok
}

// oneLine is s on one line and at most 200 characters, or none when empty.
func oneLine(s, none string) string {
	if s == "" {
		return none
	}
	s = strings.ReplaceAll(s, "\n", " / ")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// duration prints seconds as 4s, 2m05s or 1h02m03s.
func duration(seconds float64) string {
	d := time.Duration(seconds * float64(time.Second)).Round(time.Second)
	h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	switch {
	case h > 0:
		return fmt.Sprintf("%dh%02dm%02ds", h, m, s)
	case m > 0:
		return fmt.Sprintf("%dm%02ds", m, s)
	}
	return fmt.Sprintf("%ds", s)
}
