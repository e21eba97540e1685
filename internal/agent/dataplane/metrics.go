package dataplane

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gocalico/calico/internal/metrics"
)

// Metrics count the dataplane's kernel writes, full resyncs and retries
// of failed objects. A nil *Metrics records nothing.
type Metrics struct {
	ops     *prometheus.CounterVec
	fails   *prometheus.CounterVec
	resyncs prometheus.Counter
	retries *prometheus.CounterVec
}

// NewMetrics creates the dataplane metrics and registers them with reg
// (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		ops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "calico", Subsystem: "agent", Name: "kernel_writes_total",
			Help: "Kernel changes attempted by the agent's dataplane, by operation (route_add, route_replace, route_delete, neigh_set, neigh_delete, sysctl_write, link_up).",
		}, []string{"op"}),
		fails: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "calico", Subsystem: "agent", Name: "kernel_write_failures_total",
			Help: "Kernel changes that failed, by operation.",
		}, []string{"op"}),
		resyncs: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "calico", Subsystem: "agent", Name: "dataplane_resyncs_total",
			Help: "Full re-reads of the kernel's state by the dataplane.",
		}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "calico", Subsystem: "agent", Name: "object_retries_total",
			Help: "Retries of objects that failed to program, each on its own back-off, by kind (endpoint, sysctl, blackhole, route, neighbour; chain, set, map, map-element for policy).",
		}, []string{"kind"}),
	}
	if reg != nil {
		m.ops = metrics.Register(reg, m.ops)
		m.fails = metrics.Register(reg, m.fails)
		m.resyncs = metrics.Register(reg, m.resyncs)
		m.retries = metrics.Register(reg, m.retries)
	}
	return m
}

func (m *Metrics) op(name string) {
	if m != nil {
		m.ops.WithLabelValues(name).Inc()
	}
}

func (m *Metrics) failed(name string) {
	if m != nil {
		m.fails.WithLabelValues(name).Inc()
	}
}

func (m *Metrics) incResync() {
	if m != nil {
		m.resyncs.Inc()
	}
}

// Retried counts a retry of a failed object of a kind (KindEndpoint,
// ...; the agent's policy plane counts its own kinds here too).
func (m *Metrics) Retried(kind string) {
	if m != nil {
		m.retries.WithLabelValues(kind).Inc()
	}
}
