package agent

import (
	"cmp"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/gocalico/calico/internal/agent/dataplane"
)

// objectFailure is one object the agent could not program: a dataplane
// object (see dataplane.Failure) or a policy object (a chain, set, map or
// map element of the nftables table). Each is retried on its own; the
// agent stays ready and reports itself degraded meanwhile.
type objectFailure struct {
	Kind, Name string
	Err        string // one line
}

func (f objectFailure) String() string { return fmt.Sprintf("%s %s (%s)", f.Kind, f.Name, f.Err) }

// oneLine joins the lines of a (joined) error.
func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }

func fromDataplane(fs []dataplane.Failure) []objectFailure {
	out := make([]objectFailure, len(fs))
	for i, f := range fs {
		out[i] = objectFailure{Kind: f.Kind, Name: f.Name, Err: oneLine(f.Err)}
	}
	return out
}

// healthDetailObjects is how many failed objects the health detail names.
const healthDetailObjects = 3

// failureReport follows the failed objects from one apply to the next:
// it logs each once per change of its error (and when it recovers), keeps
// the failed-objects gauge and words the degraded health.
type failureReport struct {
	log *slog.Logger
	m   *metrics
	// errs: the error each failed object was last logged with.
	errs map[[2]string]string
	// kinds: every kind the gauge was set for.
	kinds   map[string]bool
	current []objectFailure
	// endpoints: the keys of the endpoints among current.
	endpoints map[string]bool
}

func newFailureReport(log *slog.Logger, m *metrics) *failureReport {
	return &failureReport{log: log, m: m, errs: map[[2]string]string{}, kinds: map[string]bool{}, endpoints: map[string]bool{}}
}

// update takes the failures after an apply.
func (r *failureReport) update(fs []objectFailure) {
	slices.SortFunc(fs, func(a, b objectFailure) int { return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Name, b.Name)) })
	r.current = fs
	clear(r.endpoints)
	counts := map[string]int{}
	seen := make(map[[2]string]bool, len(fs))
	for _, f := range fs {
		k := [2]string{f.Kind, f.Name}
		seen[k] = true
		counts[f.Kind]++
		if f.Kind == dataplane.KindEndpoint {
			r.endpoints[f.Name] = true
		}
		if r.errs[k] == f.Err {
			continue
		}
		r.errs[k] = f.Err
		r.log.Warn("object not programmed; retrying it alone", "kind", f.Kind, "name", f.Name, "error", f.Err)
	}
	for k := range r.errs {
		if !seen[k] {
			delete(r.errs, k)
			r.log.Info("object programmed after failures", "kind", k[0], "name", k[1])
		}
	}
	for kind := range counts {
		r.kinds[kind] = true
	}
	for kind := range r.kinds {
		r.m.failed.WithLabelValues(kind).Set(float64(counts[kind]))
	}
}

// endpointFailed reports whether the endpoint key failed.
func (r *failureReport) endpointFailed(key string) bool { return r.endpoints[key] }

// health is the agent's health when it can do its job: ready, and
// degraded while objects fail, naming the first few.
func (r *failureReport) health() Health {
	h := Health{Live: true, Ready: true}
	if len(r.current) == 0 {
		return h
	}
	h.Degraded = true
	var b strings.Builder
	fmt.Fprintf(&b, "%d object", len(r.current))
	if len(r.current) > 1 {
		b.WriteString("s")
	}
	b.WriteString(" not programmed, each retried: ")
	for i, f := range r.current[:min(len(r.current), healthDetailObjects)] {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(f.String())
	}
	if n := len(r.current) - healthDetailObjects; n > 0 {
		fmt.Fprintf(&b, " and %d more", n)
	}
	h.Detail = b.String()
	return h
}
