package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	passMeasure = "measure"
	passRace    = "race"
	passCPU     = "cpu"
)

// job is one run of a test binary: some top-level tests of one package,
// count times each (twice that with cpu "1,2").
type job struct {
	pass   string
	pkg    *pkg
	tests  []string // nil: every test matching run
	run    string
	count  int
	cpu    string
	expect time.Duration
}

func (j job) args() []string {
	pattern := j.run
	if j.tests != nil {
		quoted := make([]string, len(j.tests))
		for i, t := range j.tests {
			quoted[i] = regexp.QuoteMeta(t)
		}
		pattern = "^(" + strings.Join(quoted, "|") + ")$"
	}
	a := []string{"-test.v=test2json", "-test.paniconexit0", "-test.count", strconv.Itoa(j.count),
		"-test.timeout", j.timeout().String()}
	if pattern != "" {
		a = append(a, "-test.run", pattern)
	}
	if j.cpu != "" {
		a = append(a, "-test.cpu", j.cpu)
	}
	return a
}

// timeout is generous: a test that hangs is a failure worth its goroutine
// dump, a slow machine is not.
func (j job) timeout() time.Duration {
	return (4*j.expect + 10*time.Minute).Round(time.Minute)
}

func (j job) describe() string {
	what := "all tests"
	switch {
	case len(j.tests) == 1:
		what = j.tests[0]
	case len(j.tests) > 1:
		what = fmt.Sprintf("%s (+%d)", j.tests[0], len(j.tests)-1)
	case j.run != "":
		what = "tests matching " + j.run
	}
	cpu := ""
	if j.cpu != "" {
		cpu = " -cpu " + j.cpu
	}
	return fmt.Sprintf("%s %s x%d%s", j.pkg.importPath, what, j.count, cpu)
}

// event is one line of test2json output.
type event struct {
	Time    time.Time
	Action  string
	Test    string
	Output  string
	Elapsed float64
}

// tally is what runs of one test in one pass came to.
type tally struct {
	runs, fails, skips int
	elapsed            time.Duration // of the last run that ended
	first              string        // the first failure's output
}

// collector turns one binary's events into a tally per top-level test.
type collector struct {
	tallies map[string]*tally
	output  map[string][]string  // per running top-level test
	started map[string]time.Time // per running top-level test
	tail    []string             // package-level output, last lines
}

func newCollector() *collector {
	return &collector{tallies: make(map[string]*tally), output: make(map[string][]string), started: make(map[string]time.Time)}
}

const (
	maxTestLines = 4000 // a test's output kept for its failure report
	maxTailLines = 200  // package-level output kept
)

func (c *collector) tally(test string) *tally {
	t := c.tallies[test]
	if t == nil {
		t = &tally{}
		c.tallies[test] = t
	}
	return t
}

func (c *collector) add(ev event) {
	if ev.Test == "" {
		if ev.Action == "output" {
			c.tail = append(c.tail, ev.Output)
			if len(c.tail) > maxTailLines {
				c.tail = c.tail[len(c.tail)-maxTailLines:]
			}
		}
		return
	}
	top, _, sub := strings.Cut(ev.Test, "/")
	switch {
	case ev.Action == "run" && !sub:
		c.output[top] = c.output[top][:0]
		c.started[top] = ev.Time
	case ev.Action == "output":
		lines := append(c.output[top], ev.Output)
		if len(lines) > maxTestLines {
			lines = append([]string{"[... earlier output dropped ...]\n"}, lines[len(lines)-maxTestLines/2:]...)
		}
		c.output[top] = lines
	case sub:
	case ev.Action == "pass" || ev.Action == "fail" || ev.Action == "skip":
		t := c.tally(top)
		// A test's own elapsed time leaves out its parallel subtests;
		// the time from its start to its end does not.
		t.elapsed = max(seconds(ev.Elapsed), ev.Time.Sub(c.started[top]).Round(10*time.Millisecond))
		if c.started[top].IsZero() {
			t.elapsed = seconds(ev.Elapsed)
		}
		switch ev.Action {
		case "skip":
			t.skips++
		case "fail":
			t.runs++
			t.fails++
			if t.first == "" {
				t.first = strings.Join(c.output[top], "")
			}
		default:
			t.runs++
		}
		delete(c.output, top)
		delete(c.started, top)
	}
}

// finish accounts for a binary that ended abnormally (exitErr set): tests
// still running failed with what they printed and the binary's last
// words; if none was running and none failed, the binary itself failed.
func (c *collector) finish(exitErr error) {
	if exitErr == nil {
		return
	}
	tail := strings.Join(c.tail, "")
	blamed := false
	for top, lines := range c.output {
		t := c.tally(top)
		t.runs++
		t.fails++
		if t.first == "" {
			t.first = strings.Join(lines, "") + "--- the test binary ended (" + exitErr.Error() + "):\n" + tail
		}
		blamed = true
	}
	for _, t := range c.tallies {
		if t.fails > 0 {
			blamed = true
		}
	}
	if !blamed {
		t := c.tally(binaryTest)
		t.runs++
		t.fails++
		t.first = "the test binary ended (" + exitErr.Error() + "):\n" + tail
	}
}

// binaryTest names a failure of a test binary outside any test (TestMain,
// init, a crash between tests).
const binaryTest = "(test binary)"

// test2json is the go tool that frames a test binary's -test.v=test2json
// output as JSON events; buildAll builds it beside the test binaries.
var test2json string

// runJob runs j's test binary in the package directory, its output piped
// through test2json into a collector. The binary is ours: it is stopped by
// its PID when ctx ends.
func runJob(ctx context.Context, j job) (*collector, time.Duration, error) {
	conv := test2json
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, 0, err
	}
	bin := exec.Command(j.pkg.binary, j.args()...)
	bin.Dir = j.pkg.dir
	bin.Stdout, bin.Stderr = pw, pw
	tj := exec.Command(conv, "-t", "-p", j.pkg.importPath)
	tj.Stdin = pr
	events, err := tj.StdoutPipe()
	if err != nil {
		pr.Close()
		pw.Close()
		return nil, 0, err
	}
	start := time.Now()
	if err := tj.Start(); err != nil {
		pr.Close()
		pw.Close()
		return nil, 0, fmt.Errorf("start %s: %w", conv, err)
	}
	pr.Close()
	if err := bin.Start(); err != nil {
		pw.Close()
		tj.Wait()
		return nil, 0, fmt.Errorf("start %s: %w", j.pkg.binary, err)
	}
	pw.Close()
	stopped := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			bin.Process.Signal(syscall.SIGTERM)
		case <-stopped:
		}
	}()
	c := newCollector()
	parseErr := parseEvents(events, c.add)
	binErr := bin.Wait()
	close(stopped)
	tjErr := tj.Wait()
	took := time.Since(start)
	if ctx.Err() != nil {
		return nil, took, ctx.Err()
	}
	if parseErr != nil {
		return nil, took, fmt.Errorf("%s: reading test2json output: %w", j.pkg.importPath, parseErr)
	}
	if tjErr != nil && binErr == nil {
		return nil, took, fmt.Errorf("%s: test2json: %w", j.pkg.importPath, tjErr)
	}
	c.finish(binErr)
	return c, took, nil
}

// parseEvents calls fn for each JSON event read from r.
func parseEvents(r io.Reader, fn func(event)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for sc.Scan() {
		var ev event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return fmt.Errorf("event %q: %w", sc.Text(), err)
		}
		fn(ev)
	}
	return sc.Err()
}
