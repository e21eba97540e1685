package calicoctl

import (
	"context"
	"fmt"
	"sort"
	"sync"

	v3 "github.com/gocalico/calico/api/v3"
)

// outcome is what happened to one item.
type outcome struct {
	res     v3.Resource // as stored (or as it was, for delete); may be nil
	err     error
	skipped bool // --skip-exists / --skip-not-exists applied
	// notTried: the command was interrupted before this item's turn.
	notTried bool
}

// runBatch runs op on every item with at most n calls in flight and
// returns the outcomes in item order, so output does not depend on
// scheduling. Items of the same group (the same resource, or every IP
// pool) run one after another in input order. Items of a lower phase all
// finish before any item of a higher phase starts: tiers are written
// before the policies that name them.
func runBatch(ctx context.Context, items []item, n int, phase func(item) int, op func(context.Context, item) outcome) []outcome {
	outs := make([]outcome, len(items))
	byPhase := map[int][][]int{}
	groupAt := map[string]int{} // group name -> index in its phase's list
	for i, it := range items {
		p := phase(it)
		key := fmt.Sprintf("%d/%s", p, it.group)
		if it.group == "" {
			key = fmt.Sprintf("%d/#%d", p, i)
		}
		g, ok := groupAt[key]
		if !ok {
			g = len(byPhase[p])
			groupAt[key] = g
			byPhase[p] = append(byPhase[p], nil)
		}
		byPhase[p][g] = append(byPhase[p][g], i)
	}
	phases := make([]int, 0, len(byPhase))
	for p := range byPhase {
		phases = append(phases, p)
	}
	sort.Ints(phases)
	for _, p := range phases {
		groups := byPhase[p]
		jobs := make(chan []int)
		var wg sync.WaitGroup
		for range min(max(n, 1), len(groups)) {
			wg.Go(func() {
				for g := range jobs {
					for _, i := range g {
						if err := ctx.Err(); err != nil {
							outs[i] = outcome{err: err, notTried: true}
							continue
						}
						outs[i] = op(ctx, items[i])
					}
				}
			})
		}
		for _, g := range groups {
			jobs <- g
		}
		close(jobs)
		wg.Wait()
	}
	return outs
}

// writePhase puts tiers first, so policies in the same input find them.
func writePhase(it item) int {
	if it.kind == "Tier" {
		return 0
	}
	return 1
}

// deletePhase deletes tiers last, after the policies in them.
func deletePhase(it item) int { return 1 - writePhase(it) }

// verb is an operation as it appears in messages.
type verb struct {
	do, done string // "create", "created"
	// skipped says why --skip-exists / --skip-not-exists skipped a
	// resource: "that already existed".
	skipped string
}

// summarize prints the result of a batch the way calicoctl users expect
// and returns a reportedError if anything failed.
func (a *app) summarize(v verb, items []item, outs []outcome) error {
	var ok, skipped, notTried int
	var failures []string
	for i, o := range outs {
		switch {
		case o.notTried:
			notTried++
		case o.err == nil && o.skipped:
			skipped++
		case o.err == nil:
			ok++
		default:
			failures = append(failures, fmt.Sprintf("Failed to %s '%s' resource: [%v]", v.do, items[i].kind, o.err))
		}
	}
	what := kindPhrase(items)
	note := ""
	if skipped > 0 {
		note = fmt.Sprintf(", skipped %d %s", skipped, v.skipped)
	}
	if len(failures) == 0 && notTried == 0 {
		fmt.Fprintf(a.stdout, "Successfully %s %d %s%s\n", v.done, ok, what, note)
		return nil
	}
	if ok+skipped > 0 {
		fmt.Fprintf(a.stdout, "Partial success: %s %d out of %d %s%s\n", v.done, ok, len(items), what, note)
	}
	for _, f := range failures {
		fmt.Fprintln(a.stderr, f)
	}
	if notTried > 0 {
		fmt.Fprintf(a.stderr, "Interrupted: %d resource(s) not %s\n", notTried, v.done)
	}
	return failed("%d of %d resource(s) failed to %s", len(failures)+notTried, len(items), v.do)
}

// kindPhrase is "'IPPool' resource(s)" when every item has the same kind,
// else "resource(s)".
func kindPhrase(items []item) string {
	if len(items) == 0 {
		return "resource(s)"
	}
	k := items[0].kind
	for _, it := range items[1:] {
		if it.kind != k {
			return "resource(s)"
		}
	}
	return "'" + k + "' resource(s)"
}

// reportProblems prints input problems and returns the command's error:
// nothing has been written.
func (a *app) reportProblems(v verb, problems []string) error {
	for _, p := range problems {
		fmt.Fprintln(a.stderr, p)
	}
	noun := "problem"
	if len(problems) > 1 {
		noun = "problems"
	}
	fmt.Fprintf(a.stderr, "Failed to %s resources: %d %s in the input; nothing was %s\n",
		v.do, len(problems), noun, v.done)
	return failed("invalid input")
}
