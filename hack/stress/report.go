package main

import (
	"cmp"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// maxShownLines bounds a failure's output in the printed report; the whole
// output is in the failures directory.
const maxShownLines = 80

// report prints, and writes to report.txt, the runs of each pass, the
// tests that failed (how often, with their first failure's output) and
// the tests that skipped. It reports whether any test failed.
func report(stdout io.Writer, res *results) (bool, error) {
	out := filepath.Dir(res.failures)
	f, err := os.Create(filepath.Join(out, "report.txt"))
	if err != nil {
		return false, err
	}
	defer f.Close()
	w := io.MultiWriter(stdout, f)

	res.mu.Lock()
	defer res.mu.Unlock()
	type passSum struct{ tests, runs, fails int }
	sums := map[string]*passSum{}
	var failed, skipped []key
	for k, t := range res.m {
		s := sums[k.pass]
		if s == nil {
			s = &passSum{}
			sums[k.pass] = s
		}
		if t.runs > 0 {
			s.tests++
		}
		s.runs += t.runs
		s.fails += t.fails
		if t.fails > 0 {
			failed = append(failed, k)
		}
		if k.pass == passMeasure && t.skips > 0 && t.runs == 0 {
			skipped = append(skipped, k)
		}
	}
	byName := func(a, b key) int {
		return cmp.Or(cmp.Compare(passOrder(a.pass), passOrder(b.pass)), cmp.Compare(a.pkg, b.pkg), cmp.Compare(a.test, b.test))
	}
	slices.SortFunc(failed, byName)
	slices.SortFunc(skipped, byName)

	fmt.Fprintf(w, "\nstress: summary (results in %s)\n", out)
	for _, pass := range []string{passMeasure, passRace, passCPU} {
		if s := sums[pass]; s != nil {
			fmt.Fprintf(w, "  pass %-7s %4d tests %8d runs %4d failed\n", pass, s.tests, s.runs, s.fails)
		}
	}
	if len(skipped) > 0 {
		fmt.Fprintf(w, "skipped when measured, so not stressed (%d):\n", len(skipped))
		for _, k := range skipped {
			fmt.Fprintf(w, "  %s %s\n", k.pkg, k.test)
		}
	}
	if len(failed) == 0 {
		fmt.Fprintln(w, "stress: no test failed")
		return false, nil
	}
	fmt.Fprintf(w, "stress: %d tests failed:\n", len(failed))
	for _, k := range failed {
		t := res.m[k]
		fmt.Fprintf(w, "  %-7s %s %s: %d of %d runs failed\n", k.pass, k.pkg, k.test, t.fails, t.runs)
	}
	for _, k := range failed {
		t := res.m[k]
		path := res.failureFile(k)
		fmt.Fprintf(w, "\n--- %s %s %s: first failure (%d of %d runs failed; whole output in %s)\n",
			k.pass, k.pkg, k.test, t.fails, t.runs, path)
		lines := strings.SplitAfter(t.first, "\n")
		if len(lines) > maxShownLines {
			// The head says what hung, the tail what failed.
			head, tail := lines[:maxShownLines/2], lines[len(lines)-maxShownLines/2:]
			lines = append(append(head, fmt.Sprintf("[... %d lines ...]\n", len(lines)-maxShownLines)), tail...)
		}
		fmt.Fprint(w, strings.Join(lines, ""))
	}
	return true, nil
}

func passOrder(p string) int {
	return slices.Index([]string{passMeasure, passRace, passCPU}, p)
}
