package main

import (
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// event is one line of `go test -json` (cmd/test2json's TestEvent, plus
// the build events of go test).
type event struct {
	Time        time.Time // when the test binary wrote it; zero for build events
	Action      string
	Package     string
	Test        string
	Elapsed     float64
	Output      string
	ImportPath  string // build-output, build-fail
	FailedBuild string // fail of a package whose build failed
}

// kernelLacksPrefix is testenv.KernelLacksPrefix (a test checks they
// agree): the start of the one allowed skip's reason.
const kernelLacksPrefix = "kernel lacks feature "

// textTail is how many lines of output that is not a test event (a
// command's own output, go vet's errors) are kept for a failure.
const textTail = 60

// Collector turns the lines of `go test -json` (and any other output of
// the stage's command) into progress on w and a Result. It is safe for
// concurrent use (stdout and stderr are read at once).
type Collector struct {
	mu        sync.Mutex
	w         io.Writer
	res       Result
	pkgs      map[string]*pkgState
	pkgOrder  []string
	builds    map[string][]string // build output by import path
	text      []string            // the last textTail lines that were not test events
	lastPrint time.Time           // of anything
	lastOut   time.Time           // of anything but a heartbeat
}

type pkgState struct {
	name   string
	tests  map[string]*testState // tests that have not ended
	output []string              // the package's own lines (no Test)
	failed int                   // its tests that failed
	ended  bool
}

type testState struct {
	name  string
	since time.Time // when its run event arrived
	lines []string
}

// NewCollector returns a Collector for stage printing progress to w.
func NewCollector(w io.Writer, stage string, now time.Time) *Collector {
	return &Collector{
		w:         w,
		res:       Result{Stage: stage},
		pkgs:      map[string]*pkgState{},
		builds:    map[string][]string{},
		lastPrint: now,
		lastOut:   now,
	}
}

// Line handles one line of the command's standard output: a test event,
// or text printed as it is.
func (c *Collector) Line(line string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	line = strings.TrimSuffix(line, "\n")
	if strings.HasPrefix(line, "{") {
		var e event
		if err := json.Unmarshal([]byte(line), &e); err == nil && e.Action != "" {
			c.event(e, now)
			return
		}
	}
	c.textLine(line, now)
}

// Text handles one line known not to be a test event (standard error).
func (c *Collector) Text(line string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.textLine(strings.TrimSuffix(line, "\n"), now)
}

func (c *Collector) textLine(line string, now time.Time) {
	c.text = append(c.text, line)
	if len(c.text) > textTail {
		c.text = c.text[len(c.text)-textTail:]
	}
	c.println(now, line)
}

func (c *Collector) println(now time.Time, format string, args ...any) {
	if len(args) == 0 {
		fmt.Fprintln(c.w, format)
	} else {
		fmt.Fprintf(c.w, format+"\n", args...)
	}
	c.lastPrint, c.lastOut = now, now
}

func (c *Collector) pkg(name string) *pkgState {
	p := c.pkgs[name]
	if p == nil {
		p = &pkgState{name: name, tests: map[string]*testState{}}
		c.pkgs[name] = p
		c.pkgOrder = append(c.pkgOrder, name)
	}
	return p
}

func (c *Collector) event(e event, now time.Time) {
	switch e.Action {
	case "build-output":
		c.builds[e.ImportPath] = append(c.builds[e.ImportPath], strings.TrimSuffix(e.Output, "\n"))
		return
	case "build-fail":
		for _, l := range c.builds[e.ImportPath] {
			c.println(now, "%s", l)
		}
		return
	}
	if e.Package == "" {
		return
	}
	p := c.pkg(e.Package)
	if e.Test == "" {
		switch e.Action {
		case "output":
			p.output = append(p.output, strings.TrimSuffix(e.Output, "\n"))
		case "pass", "fail", "skip":
			c.endPackage(p, e, now)
		}
		return
	}
	t := p.tests[e.Test]
	if t == nil {
		t = &testState{name: e.Test, since: now}
		if !e.Time.IsZero() {
			t.since = e.Time
		}
		p.tests[e.Test] = t
	}
	switch e.Action {
	case "output":
		t.lines = append(t.lines, strings.TrimSuffix(e.Output, "\n"))
	case "pass":
		delete(p.tests, e.Test)
		c.res.Tests.Run++
		c.res.Tests.Passed++
	case "skip":
		delete(p.tests, e.Test)
		c.res.Tests.Run++
		c.res.Tests.Skipped++
		s := skipOf(p.name, t)
		c.res.Skips = append(c.res.Skips, s)
		reason := s.Reason
		if reason == "" {
			reason = "(no reason given)"
		}
		c.println(now, "--- SKIP: %s in %s: %s", s.Test, s.Package, strings.ReplaceAll(reason, "\n", "\n    "))
	case "fail":
		delete(p.tests, e.Test)
		c.testFailed(p, t, e.Elapsed, "", now)
	}
}

// testFailed records and prints the failure of t; note, when not empty,
// says why it failed when its output does not.
func (c *Collector) testFailed(p *pkgState, t *testState, seconds float64, note string, now time.Time) {
	c.res.Tests.Run++
	c.res.Tests.Failed++
	p.failed++
	body := testBody(t)
	if note != "" {
		body = append(body, note)
	}
	f := Failure{Package: p.name, Test: t.name, Seconds: seconds, Output: strings.Join(body, "\n"), Summary: failureMessage(body)}
	if f.Summary == "" && slices.ContainsFunc(c.res.Failures, func(g Failure) bool {
		return g.Package == p.name && strings.HasPrefix(g.Test, t.name+"/")
	}) {
		f.Summary = "a subtest failed"
	}
	c.res.Failures = append(c.res.Failures, f)
	c.println(now, "--- FAIL: %s (%.2fs) in %s", t.name, seconds, p.name)
	for _, l := range body {
		c.println(now, "%s", l)
	}
}

func (c *Collector) endPackage(p *pkgState, e event, now time.Time) {
	p.ended = true
	switch e.Action {
	case "skip":
		c.res.Packages.NoTestFiles++
		c.println(now, "?   \t%s\t[no test files]", p.name)
		return
	case "pass":
		c.res.Packages.OK++
		c.println(now, "ok  \t%s\t%.3fs", p.name, e.Elapsed)
		return
	}
	c.res.Packages.Failed++
	end := now
	if !e.Time.IsZero() {
		end = e.Time
	}
	c.unfinished(p, "did not finish: the package's test binary ended while it ran (a timeout, a panic elsewhere or an exit)", end)
	if e.FailedBuild != "" {
		build := c.builds[e.FailedBuild]
		c.packageFailed(p, "build failed: "+firstMessage(build), build, now)
		c.println(now, "FAIL\t%s [build failed]", p.name)
		return
	}
	if p.failed == 0 {
		var own []string
		for _, l := range p.output {
			if l == "PASS" || l == "FAIL" || strings.HasPrefix(l, "FAIL\t"+p.name) || strings.HasPrefix(l, "ok  \t"+p.name) {
				continue
			}
			own = append(own, l)
		}
		for _, l := range own {
			c.println(now, "%s", l)
		}
		c.packageFailed(p, "the package failed with no failing test: "+firstMessage(own), own, now)
	}
	c.println(now, "FAIL\t%s\t%.3fs", p.name, e.Elapsed)
}

// unfinished fails every test of p that started and did not end by end.
func (c *Collector) unfinished(p *pkgState, note string, end time.Time) {
	names := make([]string, 0, len(p.tests))
	for n := range p.tests {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		t := p.tests[n]
		delete(p.tests, n)
		c.testFailed(p, t, end.Sub(t.since).Seconds(), note, end)
	}
}

func (c *Collector) packageFailed(p *pkgState, summary string, output []string, now time.Time) {
	c.res.Tests.Run++
	c.res.Tests.Failed++
	p.failed++
	c.res.Failures = append(c.res.Failures, Failure{Package: p.name, Summary: summary, Output: strings.Join(output, "\n")})
}

// Finish ends the stage: the command exited with exitCode after
// elapsed. Packages and tests that never ended fail, and so does a
// command that failed with no failure of its own to show.
func (c *Collector) Finish(command string, exitCode int, elapsed time.Duration, now time.Time) *Result {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, name := range c.pkgOrder {
		p := c.pkgs[name]
		if p.ended {
			continue
		}
		c.res.Packages.Failed++
		c.unfinished(p, "did not finish: go test ended first", now)
		if p.failed == 0 {
			c.packageFailed(p, "the package did not finish", p.output, now)
		}
		c.println(now, "FAIL\t%s\t(did not finish)", p.name)
	}
	c.res.Command = command
	c.res.ExitCode = exitCode
	c.res.Seconds = elapsed.Seconds()
	if exitCode != 0 && len(c.res.Failures) == 0 {
		// Not a test: the stage's tests (if any) are counted as they ran.
		c.res.Failures = append(c.res.Failures, Failure{
			Summary: fmt.Sprintf("%s exited with status %d: %s", command, exitCode, lastLine(c.text)),
			Output:  strings.Join(c.text, "\n"),
		})
	}
	c.res.Status = Passed
	if exitCode != 0 || len(c.res.Failures) > 0 {
		c.res.Status = Failed
	}
	r := c.res
	return &r
}

// Heartbeat prints which tests are running when nothing was printed for
// quiet, so that a long stage is never silent.
func (c *Collector) Heartbeat(now time.Time, quiet time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now.Sub(c.lastPrint) < quiet {
		return
	}
	var running, pkgs []string
	for _, name := range c.pkgOrder {
		p := c.pkgs[name]
		if p.ended {
			continue
		}
		pkgs = append(pkgs, p.name)
		for _, t := range p.tests {
			if !strings.Contains(t.name, "/") {
				running = append(running, fmt.Sprintf("%s in %s (%s)", t.name, p.name, now.Sub(t.since).Round(time.Second)))
			}
		}
	}
	slices.Sort(running)
	quietFor := now.Sub(c.lastOut).Round(time.Second)
	switch {
	case len(running) > 0:
		fmt.Fprintf(c.w, "... running: %s\n", strings.Join(running, ", "))
	case len(pkgs) > 0:
		fmt.Fprintf(c.w, "... running the tests of %s (no output for %s)\n", strings.Join(pkgs, ", "), quietFor)
	default:
		fmt.Fprintf(c.w, "... still working (no output for %s)\n", quietFor)
	}
	c.lastPrint = now
}

var (
	// logEntry is the first line of a t.Log, t.Error or t.Skip message.
	logEntry = regexp.MustCompile(`^    ([^ \t]+\.go:[0-9]+): (.*)$`)
	// framing lines test2json's output has around a test's own.
	framing = regexp.MustCompile(`^=== (RUN|PAUSE|CONT|NAME) `)
	// verdict is the --- PASS/FAIL/SKIP line of a test.
	verdict = regexp.MustCompile(`^\s*--- (PASS|FAIL|SKIP): (\S+) \(`)
)

// testBody is t's output without the framing lines and its own verdict.
func testBody(t *testState) []string {
	var body []string
	for _, l := range t.lines {
		if framing.MatchString(l) {
			continue
		}
		if m := verdict.FindStringSubmatch(l); m != nil && m[2] == t.name {
			continue
		}
		body = append(body, l)
	}
	return body
}

// skipOf is the skip of t: its reason is its last logged message (t.Skip
// logs its arguments last).
func skipOf(pkg string, t *testState) Skip {
	s := Skip{Package: pkg, Test: t.name}
	var msg []string
	for _, l := range testBody(t) {
		if m := logEntry.FindStringSubmatch(l); m != nil {
			s.Where, msg = m[1], []string{m[2]}
		} else if rest, ok := strings.CutPrefix(l, "        "); ok && msg != nil {
			msg = append(msg, rest)
		} else {
			msg = nil // output of its own after the message: not a reason
		}
	}
	s.Reason = strings.Join(msg, "\n")
	if s.Reason == "" {
		s.Where = ""
	}
	if rest, ok := strings.CutPrefix(s.Reason, kernelLacksPrefix); ok {
		s.KernelFeature, _, _ = strings.Cut(rest, ":")
	}
	return s
}

// failureMessage is the line of a failed test's output that says best
// why it failed: a panic, else its last logged message (t.Fatal ends a
// test), else its first line.
func failureMessage(body []string) string {
	last := ""
	for _, l := range body {
		if strings.HasPrefix(l, "panic: ") {
			return l
		}
		if m := logEntry.FindStringSubmatch(l); m != nil {
			last = m[1] + ": " + m[2]
		}
	}
	if last != "" {
		return last
	}
	return firstMessage(body)
}

// firstMessage is the first line of output worth showing in a one-line
// summary: a logged message without its indentation, or a build error.
func firstMessage(lines []string) string {
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "# ") || verdict.MatchString(l) {
			continue
		}
		return t
	}
	return ""
}

func lastLine(lines []string) string {
	for i := len(lines) - 1; i >= 0; i-- {
		if t := strings.TrimSpace(lines[i]); t != "" {
			return t
		}
	}
	return ""
}
