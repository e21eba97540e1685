package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// Address families as Pair.Families keys.
const (
	FamilyIPv4 = "ipv4"
	FamilyIPv6 = "ipv6"
)

// Pair is one ordered pair of workloads in a reachability matrix.
//
// IPv4 and IPv6 are pinged separately, and both are recorded in
// Families; Reached is true only when every family the lab uses got an
// answer, so one Pair per direction says whether the pair fully works.
type Pair struct {
	From    string `json:"from"`
	To      string `json:"to"`
	Reached bool   `json:"reached"`
	// Families maps "ipv4" (and "ipv6" in a dual-stack lab) to whether
	// a ping to To's address of that family was answered.
	Families map[string]bool `json:"families"`
}

// MatrixOptions tune Matrix.
type MatrixOptions struct {
	// Timeout bounds each ping (default 2s; whole seconds, at least 1).
	// A ping sends every 200ms until the first answer.
	Timeout time.Duration
	// Parallel is how many pings run at once (default 8).
	Parallel int
}

// Matrix pings from every workload to every other workload, over each
// family, from inside the source workload's namespace, and returns the
// pairs sorted by From and To.
func (l *Lab) Matrix(ctx context.Context) ([]Pair, error) {
	return l.MatrixWith(ctx, MatrixOptions{})
}

// MatrixWith is Matrix with options.
func (l *Lab) MatrixWith(ctx context.Context, opts MatrixOptions) ([]Pair, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 2 * time.Second
	}
	if opts.Parallel <= 0 {
		opts.Parallel = 8
	}
	ws := l.Workloads()
	for _, w := range ws {
		if !namespaceExists(w.Namespace) {
			return nil, fmt.Errorf("lab %s: workload %s has no namespace %s (unplugged?)", l.st.Name, w.Name, w.Namespace)
		}
	}
	type job struct {
		pair   int
		family string
		from   string
		to     netip.Addr
	}
	var pairs []Pair
	var jobs []job
	for _, a := range ws {
		for _, b := range ws {
			if a.Name == b.Name {
				continue
			}
			pairs = append(pairs, Pair{From: a.Name, To: b.Name, Families: map[string]bool{}})
			jobs = append(jobs, job{len(pairs) - 1, FamilyIPv4, a.Name, b.IPv4})
			if l.st.IPv6 && b.IPv6.IsValid() {
				jobs = append(jobs, job{len(pairs) - 1, FamilyIPv6, a.Name, b.IPv6})
			}
		}
	}
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, opts.Parallel)
	)
	for _, j := range jobs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ok, err := l.Ping(ctx, j.from, j.to, opts.Timeout)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			pairs[j.pair].Families[j.family] = ok
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for i := range pairs {
		pairs[i].Reached = len(pairs[i].Families) > 0
		for _, ok := range pairs[i].Families {
			pairs[i].Reached = pairs[i].Reached && ok
		}
	}
	sort.SliceStable(pairs, func(i, j int) bool {
		if pairs[i].From != pairs[j].From {
			return lessName(pairs[i].From, pairs[j].From)
		}
		return lessName(pairs[i].To, pairs[j].To)
	})
	return pairs, nil
}

// Ping reports whether to answers a ping sent from inside target's
// namespace within timeout. Only failing to run ping at all (or ctx
// ending) is an error.
func (l *Lab) Ping(ctx context.Context, target string, to netip.Addr, timeout time.Duration) (bool, error) {
	secs := max(1, int(math.Ceil(timeout.Seconds())))
	fam := "-4"
	if to.Is6() {
		fam = "-6"
	}
	cmd, err := l.Command(ctx, target, "ping", fam, "-n", "-q", "-c", "1", "-i", "0.2", "-w", strconv.Itoa(secs), to.String())
	if err != nil {
		return false, err
	}
	out, err := cmd.CombinedOutput()
	if err == nil {
		return true, nil
	}
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	var ee *exec.ExitError
	// ping exits 1 when nothing answered and 2 on a send error such as
	// "network is unreachable": both mean not reached.
	if errors.As(err, &ee) && (ee.ExitCode() == 1 || ee.ExitCode() == 2) && !strings.Contains(string(out), "Cannot open network namespace") {
		return false, nil
	}
	return false, fmt.Errorf("ping %s from %s: %v: %s", to, target, err, strings.TrimSpace(string(out)))
}

// AllReached reports whether every pair reached.
func AllReached(pairs []Pair) bool {
	for _, p := range pairs {
		if !p.Reached {
			return false
		}
	}
	return true
}

// WriteMatrix prints pairs as a grid, sources down and destinations
// across: "ok" (every family answered), "v4 only", "v6 only" or "FAIL",
// then a summary line.
func WriteMatrix(w io.Writer, pairs []Pair) error {
	var names []string
	seen := map[string]bool{}
	cell := map[[2]string]string{}
	families := map[string]bool{}
	for _, p := range pairs {
		for _, n := range []string{p.From, p.To} {
			if !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
		cell[[2]string{p.From, p.To}] = cellText(p)
		for f := range p.Families {
			families[f] = true
		}
	}
	sort.Slice(names, func(i, j int) bool { return lessName(names[i], names[j]) })
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "FROM \\ TO")
	for _, n := range names {
		fmt.Fprint(tw, "\t", n)
	}
	fmt.Fprintln(tw)
	for _, a := range names {
		fmt.Fprint(tw, a)
		for _, b := range names {
			c, ok := cell[[2]string{a, b}]
			if !ok {
				c = "-"
			}
			fmt.Fprint(tw, "\t", c)
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	reached := 0
	for _, p := range pairs {
		if p.Reached {
			reached++
		}
	}
	var fams []string
	for _, f := range []string{FamilyIPv4, FamilyIPv6} {
		if families[f] {
			fams = append(fams, strings.Replace(f, "ip", "IP", 1))
		}
	}
	_, err := fmt.Fprintf(w, "%d/%d pairs reached (%s)\n", reached, len(pairs), strings.Join(fams, " and "))
	return err
}

func cellText(p Pair) string {
	if p.Reached {
		return "ok"
	}
	var ok []string
	for _, f := range []string{FamilyIPv4, FamilyIPv6} {
		if p.Families[f] {
			ok = append(ok, strings.TrimPrefix(f, "ip"))
		}
	}
	if len(ok) == 0 {
		return "FAIL"
	}
	return strings.Join(ok, "+") + " only"
}

// lessName orders names with numbers numerically: host2-w10 after
// host2-w9, host10 after host9.
func lessName(a, b string) bool {
	for a != "" && b != "" {
		ai, bi := numPrefix(a), numPrefix(b)
		if ai > 0 && bi > 0 {
			na, _ := strconv.Atoi(a[:ai])
			nb, _ := strconv.Atoi(b[:bi])
			if na != nb {
				return na < nb
			}
			a, b = a[ai:], b[bi:]
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func numPrefix(s string) int {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}
