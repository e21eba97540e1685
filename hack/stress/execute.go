package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// key names one test in one pass.
type key struct{ pass, pkg, test string }

// results gathers the tallies of every job. A test's first failure is
// written to the failures directory at once, to be read while the hunt
// goes on.
type results struct {
	mu       sync.Mutex
	m        map[key]*tally
	failures string // directory
}

func newResults(failures string) *results {
	return &results{m: make(map[key]*tally), failures: failures}
}

func (r *results) merge(pass, pkg string, c *collector) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for test, t := range c.tallies {
		k := key{pass, pkg, test}
		acc := r.m[k]
		if acc == nil {
			acc = &tally{}
			r.m[k] = acc
		}
		acc.runs += t.runs
		acc.fails += t.fails
		acc.skips += t.skips
		acc.elapsed = t.elapsed
		if acc.first == "" && t.first != "" {
			acc.first = t.first
			path := r.failureFile(k)
			if err := os.WriteFile(path, []byte(t.first), 0o644); err != nil {
				fmt.Fprintf(os.Stderr, "stress: %v\n", err)
			} else {
				fmt.Printf("stress: %s %s failed: %s\n", pkg, test, path)
			}
		}
	}
}

// failureFile is where the first failure of k's test is written.
func (r *results) failureFile(k key) string {
	name := strings.NewReplacer("/", "_", " ", "_", "(", "", ")", "").Replace(k.pass + "-" + k.pkg + "-" + k.test + ".txt")
	return filepath.Join(r.failures, name)
}

// measure runs each package's tests once to learn their durations, or
// takes them from cfg.durations for the packages it has. It saves them to
// durations.json in the results directory.
func measure(ctx context.Context, cfg config, pkgs []pkg, res *results, jl *jobLog) (durations, error) {
	durs := durations{}
	if cfg.durations != "" {
		b, err := os.ReadFile(cfg.durations)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(b, &durs); err != nil {
			return nil, fmt.Errorf("%s: %w", cfg.durations, err)
		}
	}
	var jobs []job
	for i := range pkgs {
		if _, ok := durs[pkgs[i].importPath]; !ok {
			jobs = append(jobs, job{pass: passMeasure, pkg: &pkgs[i], run: cfg.run, count: 1, expect: 10 * time.Minute})
		}
	}
	fmt.Printf("stress: measuring %d packages (each test run once; %d known from %s)\n",
		len(jobs), len(pkgs)-len(jobs), cmpOr(cfg.durations, "no file"))
	var mu sync.Mutex
	err := schedule(ctx, cfg.jobs, jobs, func(j job, c *collector, took time.Duration) {
		res.merge(j.pass, j.pkg.importPath, c)
		pd := pkgDurations{Tests: map[string]float64{}}
		var sum time.Duration
		for test, t := range c.tallies {
			if test == binaryTest || t.runs == 0 {
				continue // skipped: nothing to stress
			}
			pd.Tests[test] = t.elapsed.Seconds()
			sum += t.elapsed
		}
		pd.Overhead = max(took-sum, 0).Seconds()
		mu.Lock()
		durs[j.pkg.importPath] = pd
		mu.Unlock()
		jl.done(j, c, took)
	}, jl)
	if err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(durs, "", "  ")
	if err != nil {
		return nil, err
	}
	return durs, os.WriteFile(filepath.Join(cfg.out, "durations.json"), b, 0o644)
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// execute runs one pass's jobs and merges their results.
func execute(ctx context.Context, cfg config, jobs []job, res *results, jl *jobLog) error {
	return schedule(ctx, cfg.jobs, jobs, func(j job, c *collector, took time.Duration) {
		res.merge(j.pass, j.pkg.importPath, c)
		jl.done(j, c, took)
	}, jl)
}

// schedule runs jobs on n workers, in order, never two of one package at
// once, calling done after each.
func schedule(ctx context.Context, n int, jobs []job, done func(job, *collector, time.Duration), jl *jobLog) error {
	var (
		mu      sync.Mutex
		cond    = sync.NewCond(&mu)
		busy    = map[string]bool{}
		pending = jobs
		started int
		errs    []error
	)
	next := func() (job, int, bool) {
		mu.Lock()
		defer mu.Unlock()
		for {
			if len(pending) == 0 || ctx.Err() != nil || len(errs) > 0 {
				return job{}, 0, false
			}
			for i, j := range pending {
				if !busy[j.pkg.importPath] {
					pending = append(pending[:i:i], pending[i+1:]...)
					busy[j.pkg.importPath] = true
					started++
					return j, started, true
				}
			}
			cond.Wait()
		}
	}
	var wg sync.WaitGroup
	for range min(n, len(jobs)) {
		wg.Go(func() {
			for {
				j, seq, ok := next()
				if !ok {
					return
				}
				jl.start(j, seq, len(jobs))
				c, took, err := runJob(ctx, j)
				if err == nil {
					done(j, c, took)
				}
				mu.Lock()
				if err != nil && !errors.Is(err, context.Canceled) {
					errs = append(errs, err)
				}
				busy[j.pkg.importPath] = false
				cond.Broadcast()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return errors.Join(errs...)
}

// jobLog prints progress and records every job's command and outcome in
// jobs.log, so a run can be repeated and reported.
type jobLog struct {
	mu sync.Mutex
	f  *os.File
}

func newJobLog(path string) (*jobLog, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return &jobLog{f: f}, nil
}

func (l *jobLog) close() { l.f.Close() }

func (l *jobLog) start(j job, seq, total int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Printf("stress: [%s %d/%d] %s\n", j.pass, seq, total, j.describe())
	fmt.Fprintf(l.f, "%s start %s: cd %s && %s %s\n", time.Now().Format(time.DateTime), j.pass, j.pkg.dir,
		j.pkg.binary, shellQuote(j.args()))
}

func (l *jobLog) done(j job, c *collector, took time.Duration) {
	runs, fails := 0, 0
	var failed []string
	for _, test := range sortedKeys(c.tallies) {
		t := c.tallies[test]
		runs += t.runs
		fails += t.fails
		if t.fails > 0 {
			failed = append(failed, fmt.Sprintf("%s %d/%d", test, t.fails, t.runs))
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	line := fmt.Sprintf("%s: %d runs, %d failed, %s", j.describe(), runs, fails, took.Round(time.Second))
	if len(failed) > 0 {
		line += ": FAILED " + strings.Join(failed, ", ")
		fmt.Printf("stress: %s\n", line)
	}
	fmt.Fprintf(l.f, "%s done %s: %s\n", time.Now().Format(time.DateTime), j.pass, line)
}

func shellQuote(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, " |()$*?^\\'\"") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}

// spin starts n busy loops on their own threads beside the tests and
// returns the function that stops them.
func spin(n int) func() {
	if n == 0 {
		return func() {}
	}
	// Room for the driver's own goroutines beside the spinners.
	prev := runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + n)
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			runtime.LockOSThread()
			for !stop.Load() {
			}
		})
	}
	fmt.Printf("stress: %d busy loops running beside the tests\n", n)
	return func() {
		stop.Store(true)
		wg.Wait()
		runtime.GOMAXPROCS(prev)
	}
}
