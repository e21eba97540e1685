package agent

import (
	"bytes"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
)

// TestFailureReport: each failed object is logged once per change of its
// error (not on every retry) and once when it recovers; the gauge counts
// them by kind; health is ready, degraded naming the first three and how
// many more.
func TestFailureReport(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
	reg := prometheus.NewRegistry()
	r := newFailureReport(log, newMetrics(reg))
	ep := objectFailure{Kind: "endpoint", Name: "default/a", Err: "route 10.0.0.1/32 dev cali1: another route exists"}
	chain := objectFailure{Kind: "chain", Name: "pi-g-default.x", Err: "add chain pi-g-default.x rule 0: operation not supported"}
	steps := []struct {
		name   string
		fs     []objectFailure
		logs   []string
		health Health
		gauge  map[string]float64
	}{
		{
			name: "two fail",
			fs:   []objectFailure{ep, chain},
			logs: []string{
				`level=WARN msg="object not programmed; retrying it alone" kind=chain name=pi-g-default.x error="add chain pi-g-default.x rule 0: operation not supported"`,
				`level=WARN msg="object not programmed; retrying it alone" kind=endpoint name=default/a error="route 10.0.0.1/32 dev cali1: another route exists"`,
			},
			health: Health{Live: true, Ready: true, Degraded: true, Detail: "2 objects not programmed, each retried: " +
				"chain pi-g-default.x (add chain pi-g-default.x rule 0: operation not supported), " +
				"endpoint default/a (route 10.0.0.1/32 dev cali1: another route exists)"},
			gauge: map[string]float64{"endpoint": 1, "chain": 1},
		},
		{
			name: "retried, the same errors: nothing logged",
			fs:   []objectFailure{chain, ep},
			health: Health{Live: true, Ready: true, Degraded: true, Detail: "2 objects not programmed, each retried: " +
				"chain pi-g-default.x (add chain pi-g-default.x rule 0: operation not supported), " +
				"endpoint default/a (route 10.0.0.1/32 dev cali1: another route exists)"},
			gauge: map[string]float64{"endpoint": 1, "chain": 1},
		},
		{
			name: "another error for one, the other recovers, three more fail",
			fs: []objectFailure{
				{Kind: "endpoint", Name: "default/a", Err: "route 10.0.0.1/32 dev cali1: no buffer space available"},
				{Kind: "endpoint", Name: "default/b", Err: "e"}, {Kind: "endpoint", Name: "default/c", Err: "e"},
				{Kind: "sysctl", Name: "net/ipv4/ip_forward", Err: "permission denied"},
			},
			logs: []string{
				`level=WARN msg="object not programmed; retrying it alone" kind=endpoint name=default/a error="route 10.0.0.1/32 dev cali1: no buffer space available"`,
				`level=WARN msg="object not programmed; retrying it alone" kind=endpoint name=default/b error=e`,
				`level=WARN msg="object not programmed; retrying it alone" kind=endpoint name=default/c error=e`,
				`level=WARN msg="object not programmed; retrying it alone" kind=sysctl name=net/ipv4/ip_forward error="permission denied"`,
				`level=INFO msg="object programmed after failures" kind=chain name=pi-g-default.x`,
			},
			health: Health{Live: true, Ready: true, Degraded: true, Detail: "4 objects not programmed, each retried: " +
				"endpoint default/a (route 10.0.0.1/32 dev cali1: no buffer space available), endpoint default/b (e), endpoint default/c (e) and 1 more"},
			gauge: map[string]float64{"endpoint": 3, "chain": 0, "sysctl": 1},
		},
		{
			name: "all recover",
			logs: []string{
				`level=INFO msg="object programmed after failures" kind=endpoint name=default/a`,
				`level=INFO msg="object programmed after failures" kind=endpoint name=default/b`,
				`level=INFO msg="object programmed after failures" kind=endpoint name=default/c`,
				`level=INFO msg="object programmed after failures" kind=sysctl name=net/ipv4/ip_forward`,
			},
			health: Health{Live: true, Ready: true},
			gauge:  map[string]float64{"endpoint": 0, "chain": 0, "sysctl": 0},
		},
	}
	for _, s := range steps {
		buf.Reset()
		r.update(s.fs)
		var logs []string
		if out := strings.TrimSpace(buf.String()); out != "" {
			logs = strings.Split(out, "\n")
		}
		// Recoveries come from a map: compare them sorted.
		slices.Sort(logs)
		slices.Sort(s.logs)
		if diff := cmp.Diff(s.logs, logs); diff != "" {
			t.Errorf("%s: logs (-want +got):\n%s", s.name, diff)
		}
		if diff := cmp.Diff(s.health, r.health()); diff != "" {
			t.Errorf("%s: health (-want +got):\n%s", s.name, diff)
		}
		for kind, want := range s.gauge {
			if got := labelledCounter(t, reg, "calico_agent_failed_objects", map[string]string{"kind": kind}); got != want {
				t.Errorf("%s: failed objects of kind %s = %v, want %v", s.name, kind, got, want)
			}
		}
	}
}
