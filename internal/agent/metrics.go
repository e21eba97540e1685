package agent

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gocalico/calico/internal/agent/dataplane"
	sharedmetrics "github.com/gocalico/calico/internal/metrics"
)

// metrics are the agent's Prometheus metrics.
type metrics struct {
	programmed  prometheus.Gauge
	endpoints   *prometheus.GaugeVec
	latency     prometheus.Histogram
	polLatency  prometheus.Histogram
	applyErrors prometheus.Counter
	failed      *prometheus.GaugeVec
	dataplane   *dataplane.Metrics
	// appliedRev: see appliedRevisions.
	appliedRev *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		programmed: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "calico", Subsystem: "agent", Name: "endpoints_programmed",
			Help: "Local endpoints whose interface exists and whose routes are programmed.",
		}),
		endpoints: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "calico", Subsystem: "agent", Name: "endpoints",
			Help: "Local endpoints by reported status (up, down, error).",
		}, []string{"status"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "calico", Subsystem: "agent", Name: "programming_latency_seconds",
			Help:    "Time from a local endpoint update arriving from the datastore to the kernel matching it.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16), // 0.5 ms to about 16 s
		}),
		polLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "calico", Subsystem: "agent", Name: "policy_programming_latency_seconds",
			Help: "Time from a datastore update that changes the policy table arriving to the kernel holding the new table " +
				"(one observation per apply, from the earliest update it carries).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
		applyErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "calico", Subsystem: "agent", Name: "dataplane_apply_errors_total",
			Help: "Applies that failed as a whole: the kernel could not be read or the policy table not committed (retried with backoff; the agent is not ready meanwhile).",
		}),
		failed: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "calico", Subsystem: "agent", Name: "failed_objects",
			Help: "Objects that failed to program at their last attempt, each retried on its own back-off, by kind " +
				"(endpoint, sysctl, blackhole, route, neighbour; chain, set, map, map-element for policy).",
		}, []string{"kind"}),
		dataplane: dataplane.NewMetrics(nil),
		appliedRev: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "calico", Subsystem: "agent", Name: "applied_revision",
			Help: "Per datastore prefix the agent follows, the highest revision (a resource's resourceVersion) whose update " +
				"is in the kernel: every update of the prefix up to it was in a dataplane apply that completed.",
		}, []string{"prefix"}),
	}
	if reg != nil {
		m.programmed = sharedmetrics.Register(reg, m.programmed)
		m.endpoints = sharedmetrics.Register(reg, m.endpoints)
		m.latency = sharedmetrics.Register(reg, m.latency)
		m.polLatency = sharedmetrics.Register(reg, m.polLatency)
		m.applyErrors = sharedmetrics.Register(reg, m.applyErrors)
		m.appliedRev = sharedmetrics.Register(reg, m.appliedRev)
		m.failed = sharedmetrics.Register(reg, m.failed)
		m.dataplane = dataplane.NewMetrics(reg)
	}
	return m
}

func (m *metrics) setEndpoints(programmed int, st []dataplane.EndpointStatus) {
	m.programmed.Set(float64(programmed))
	counts := map[string]int{dataplane.StatusUp: 0, dataplane.StatusDown: 0, dataplane.StatusError: 0}
	for _, s := range st {
		counts[s.Status]++
	}
	for s, n := range counts {
		m.endpoints.WithLabelValues(s).Set(float64(n))
	}
}
