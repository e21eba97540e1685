package main

import (
	"cmp"
	"regexp"
	"slices"
	"time"
)

// pkgDurations is what one measuring run of a package found: each
// top-level test's duration and the binary's own cost (start, TestMain).
type pkgDurations struct {
	Overhead float64            `json:"overhead"` // seconds
	Tests    map[string]float64 `json:"tests"`    // seconds; skipped tests are absent
}

// durations is pkgDurations by import path, as saved in durations.json.
type durations map[string]pkgDurations

// maxJob bounds the expected test time of one job, so that one slow group
// does not hold a package (and the results) for long.
const maxJob = 5 * time.Minute

// runsOf is how many times a pass runs a test that takes d: as many as
// fit in the budget, within [min, count], rounded down to a step of a
// short ladder so that tests of similar speed share a binary run. The cpu
// pass runs each count twice (-cpu 1,2).
func runsOf(cfg config, pass string, d time.Duration) int {
	d = max(d, time.Millisecond)
	if pass == passCPU {
		d *= 2
	}
	n := min(max(int(cfg.budget/d), cfg.min), cfg.count)
	best := cfg.min
	for _, step := range ladder {
		if step <= n && step > best {
			best = step
		}
	}
	if n == cfg.count {
		best = n
	}
	return best
}

var ladder = []int{1, 2, 3, 5, 10, 20, 30, 50, 100, 200, 300, 500, 1000, 2000, 5000, 10000}

// plan turns measured durations into the jobs of one pass: per package,
// tests grouped by their count, each group cut so that a job is expected
// to take at most maxJob; longest jobs first.
func plan(cfg config, pass string, pkgs []pkg, durs durations) []job {
	run := regexp.MustCompile(cfg.run)
	cpu := ""
	if pass == passCPU {
		cpu = "1,2"
	}
	var jobs []job
	for i := range pkgs {
		p := &pkgs[i]
		pd := durs[p.importPath]
		overhead := time.Duration(pd.Overhead * float64(time.Second))
		byCount := map[int][]string{}
		for _, name := range sortedKeys(pd.Tests) {
			if run.MatchString(name) {
				n := runsOf(cfg, pass, seconds(pd.Tests[name]))
				byCount[n] = append(byCount[n], name)
			}
		}
		for _, n := range sortedKeys(byCount) {
			per := time.Duration(n)
			if cpu != "" {
				per *= 2
			}
			var cur job
			for _, name := range byCount[n] {
				d := per * max(seconds(pd.Tests[name]), time.Millisecond)
				if len(cur.tests) > 0 && cur.expect+d > maxJob {
					jobs = append(jobs, cur)
					cur = job{}
				}
				if len(cur.tests) == 0 {
					cur = job{pass: pass, pkg: p, count: n, cpu: cpu, expect: overhead}
				}
				cur.tests = append(cur.tests, name)
				cur.expect += d
			}
			if len(cur.tests) > 0 {
				jobs = append(jobs, cur)
			}
		}
	}
	slices.SortStableFunc(jobs, func(a, b job) int { return cmp.Compare(b.expect, a.expect) })
	return jobs
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func sortedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func countTests(jobs []job) int {
	n := 0
	for _, j := range jobs {
		n += len(j.tests)
	}
	return n
}

// estimate is the jobs' expected test time, run one at a time.
func estimate(jobs []job) time.Duration {
	var d time.Duration
	for _, j := range jobs {
		d += j.expect
	}
	return d
}
