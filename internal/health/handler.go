package health

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// probeBody is the answer to /liveness and /readiness: the overall
// result and the components that count for that probe.
type probeBody struct {
	// Status is "ok", "degraded" (ok, but some component does its job
	// only in part; the probe still answers 200) or "fail".
	Status     string       `json:"status"`
	Components []probeEntry `json:"components"`
}

type probeEntry struct {
	Name     string `json:"name"`
	OK       bool   `json:"ok"`
	Degraded bool   `json:"degraded,omitempty"`
	Detail   string `json:"detail,omitempty"`
}

// verboseBody is the answer with ?verbose: every component in full.
type verboseBody struct {
	Status     string            `json:"status"`
	Live       bool              `json:"live"`
	Ready      bool              `json:"ready"`
	Degraded   bool              `json:"degraded,omitempty"`
	Components []ComponentStatus `json:"components"`
}

// Handler serves GET (and HEAD) /liveness, /readiness and, when reg is
// not nil, /metrics from reg. The probes answer 200 when every component
// that counts is ok and 503 otherwise, with a JSON summary; ?verbose adds
// every component's full state. A probe that is ok while a component is
// degraded answers 200 with status "degraded", naming what in that
// component's detail.
func Handler(agg *Aggregator, reg prometheus.Gatherer, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /liveness", probe(agg, true))
	mux.HandleFunc("GET /readiness", probe(agg, false))
	if reg != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
			ErrorLog:      promLog{log},
			ErrorHandling: promhttp.ContinueOnError,
		}))
	}
	return mux
}

func probe(agg *Aggregator, liveness bool) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		s := agg.Summary()
		ok := s.Ready
		if liveness {
			ok = s.Live
		}
		status, code := "ok", http.StatusOK
		switch {
		case !ok:
			status, code = "fail", http.StatusServiceUnavailable
		case s.Degraded:
			status = "degraded"
		}
		var body any
		if req.URL.Query().Has("verbose") {
			body = verboseBody{Status: status, Live: s.Live, Ready: s.Ready, Degraded: s.Degraded, Components: nonNil(s.Components)}
		} else {
			pb := probeBody{Status: status, Components: []probeEntry{}}
			for _, c := range s.Components {
				switch {
				case liveness && c.ReportsLive:
					pb.Components = append(pb.Components, probeEntry{c.Name, c.Live, c.Degraded, detailIf(!c.Live || c.Degraded, c.Detail)})
				case !liveness && c.ReportsReady:
					pb.Components = append(pb.Components, probeEntry{c.Name, c.Ready, c.Degraded, detailIf(!c.Ready || c.Degraded, c.Detail)})
				case c.Degraded:
					// Counts for neither probe, but says why the status is
					// degraded.
					pb.Components = append(pb.Components, probeEntry{c.Name, true, true, c.Detail})
				}
			}
			body = pb
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(code)
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(body) // a failed write means the client went away
	}
}

// detailIf shows a component's detail only where it explains a failure.
func detailIf(failing bool, d string) string {
	if failing {
		return d
	}
	return ""
}

func nonNil(cs []ComponentStatus) []ComponentStatus {
	if cs == nil {
		return []ComponentStatus{}
	}
	return cs
}

// promLog routes promhttp's error log to slog.
type promLog struct{ log *slog.Logger }

func (l promLog) Println(v ...any) { l.log.Warn("serving metrics", "err", fmt.Sprint(v...)) }
