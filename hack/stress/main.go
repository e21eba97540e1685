// Command stress hunts flaky tests: it runs every test of the unit suites
// many times under -race, then again under CPU contention (-cpu 1,2 with
// busy loops beside), each test's count scaled to a time budget, and
// reports every test that failed even once. `make stress` runs it.
//
// It builds each package's test binary once, measures each top-level
// test's duration from one run, then runs tests in groups of the same
// count, at most -jobs binaries at once and never two of one package
// (its tests may share fixed names: namespaces, sockets). Results, the
// command of every run and each first failure's output go to -out.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// config is what the flags say.
type config struct {
	count     int           // most runs of a test in a pass
	min       int           // fewest runs of a test in a pass
	budget    time.Duration // time a pass may spend on one test
	jobs      int           // test binaries running at once
	spin      int           // busy loops during the contention pass
	run       string        // regexp of top-level tests
	pkgs      []string      // package patterns of the main module
	upstream  bool          // also test/upstream (its own module)
	passes    []string      // "race", "cpu"
	out       string        // results directory
	durations string        // durations file of an earlier run to reuse
}

func main() {
	var cfg config
	var pkgs, passes string
	flag.IntVar(&cfg.count, "count", 200, "most runs of each test per pass")
	flag.IntVar(&cfg.min, "min", 3, "fewest runs of each test per pass, whatever its duration")
	flag.DurationVar(&cfg.budget, "budget", 10*time.Second, "time each pass may spend on one test (its count is budget/duration, within -min and -count)")
	flag.IntVar(&cfg.jobs, "jobs", 2, "test binaries running at once")
	flag.IntVar(&cfg.spin, "spin", 2, "busy loops beside the tests during the contention pass")
	flag.StringVar(&cfg.run, "run", "", "regexp: only top-level tests whose name matches")
	flag.StringVar(&pkgs, "pkgs", "./...", "space-separated package patterns of the main module (test/e2e is left out)")
	flag.BoolVar(&cfg.upstream, "upstream", false, "also stress test/upstream (its own module)")
	flag.StringVar(&passes, "passes", "race,cpu", "passes to run: race (-race -count), cpu (-race -cpu 1,2 with busy loops beside)")
	flag.StringVar(&cfg.out, "out", "", "results directory (default: a new one under $TMPDIR)")
	flag.StringVar(&cfg.durations, "durations", "", "durations.json of an earlier run: its packages are not measured again")
	flag.Parse()
	cfg.pkgs = strings.Fields(pkgs)
	cfg.passes = strings.FieldsFunc(passes, func(r rune) bool { return r == ',' || r == ' ' })

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	failed, err := run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "stress:", err)
		os.Exit(2)
	}
	if failed {
		os.Exit(1)
	}
}

func (c *config) validate() error {
	if c.count < 1 || c.min < 1 || c.min > c.count {
		return fmt.Errorf("-count %d and -min %d: want 1 <= min <= count", c.count, c.min)
	}
	if c.jobs < 1 || c.spin < 0 || c.budget <= 0 {
		return fmt.Errorf("-jobs %d, -spin %d, -budget %s: want jobs >= 1, spin >= 0, budget > 0", c.jobs, c.spin, c.budget)
	}
	if _, err := regexp.Compile(c.run); err != nil {
		return fmt.Errorf("-run %q: %w", c.run, err)
	}
	for _, p := range c.passes {
		if p != passRace && p != passCPU {
			return fmt.Errorf("-passes: unknown pass %q (want race, cpu)", p)
		}
	}
	return nil
}

// run does the whole hunt and reports whether any test failed.
func run(ctx context.Context, cfg config) (bool, error) {
	if err := cfg.validate(); err != nil {
		return false, err
	}
	if cfg.out == "" {
		dir, err := os.MkdirTemp("", "calico-stress-")
		if err != nil {
			return false, err
		}
		cfg.out = dir
	}
	for _, dir := range []string{"bin", "failures"} {
		if err := os.MkdirAll(filepath.Join(cfg.out, dir), 0o755); err != nil {
			return false, err
		}
	}
	jl, err := newJobLog(filepath.Join(cfg.out, "jobs.log"))
	if err != nil {
		return false, err
	}
	defer jl.close()
	fmt.Printf("stress: results in %s\n", cfg.out)

	pkgs, err := listPackages(ctx, cfg)
	if err != nil {
		return false, err
	}
	fmt.Printf("stress: building %d race-enabled test binaries\n", len(pkgs))
	if err := buildAll(ctx, pkgs, filepath.Join(cfg.out, "bin")); err != nil {
		return false, err
	}

	res := newResults(filepath.Join(cfg.out, "failures"))
	durs, err := measure(ctx, cfg, pkgs, res, jl)
	if err != nil {
		return false, err
	}
	for _, pass := range cfg.passes {
		jobs := plan(cfg, pass, pkgs, durs)
		fmt.Printf("stress: pass %s: %d tests in %d runs of test binaries, about %s of test time\n",
			pass, countTests(jobs), len(jobs), estimate(jobs).Round(time.Second))
		stopSpin := func() {}
		if pass == passCPU {
			stopSpin = spin(cfg.spin)
		}
		err := execute(ctx, cfg, jobs, res, jl)
		stopSpin()
		if err != nil {
			return false, err
		}
	}
	return report(os.Stdout, res)
}
