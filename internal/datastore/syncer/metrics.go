package syncer

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gocalico/calico/internal/metrics"
)

// Resync reasons, the values of the reason label of the resync counter.
const (
	// ReasonStart: the first list of a prefix.
	ReasonStart = "start"
	// ReasonCompacted: a running watch reported that its revision was
	// compacted away.
	ReasonCompacted = "compacted"
	// ReasonError: a watch broke (etcd restart, member loss, network)
	// and re-watching from the last revision found it compacted.
	ReasonError = "error"
)

// Metrics are the syncer's Prometheus metrics. A nil *Metrics is valid and
// records nothing. Syncers may share one Metrics; the in-sync gauge then
// reflects the syncer that changed status last, so give each component its
// own registry (or its own Metrics) when that matters.
type Metrics struct {
	invalid       *prometheus.CounterVec
	resyncs       *prometheus.CounterVec
	watchRestarts prometheus.Counter
	inSync        prometheus.Gauge
}

// NewMetrics creates the syncer metrics and registers them with reg (nil:
// not registered). Registering a second time with the same registry
// reuses the collectors already registered.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		invalid: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "calico",
			Subsystem: "syncer",
			Name:      "invalid_values_total",
			Help:      "Values read from the datastore that failed to decode and were skipped.",
		}, []string{"prefix"}),
		resyncs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "calico",
			Subsystem: "syncer",
			Name:      "resyncs_total",
			Help:      "Full lists of a prefix, by reason (start, compacted, error).",
		}, []string{"reason"}),
		watchRestarts: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "calico",
			Subsystem: "syncer",
			Name:      "watch_restarts_total",
			Help:      "Watches re-established after a broken watch stream.",
		}),
		inSync: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "calico",
			Subsystem: "syncer",
			Name:      "in_sync",
			Help:      "1 while the syncer is in sync with the datastore, 0 otherwise.",
		}),
	}
	if reg == nil {
		return m
	}
	m.invalid = metrics.Register(reg, m.invalid)
	m.resyncs = metrics.Register(reg, m.resyncs)
	m.watchRestarts = metrics.Register(reg, m.watchRestarts)
	m.inSync = metrics.Register(reg, m.inSync)
	return m
}

func (m *Metrics) incInvalid(prefix string) {
	if m != nil {
		m.invalid.WithLabelValues(prefix).Inc()
	}
}

func (m *Metrics) incResync(reason string) {
	if m != nil {
		m.resyncs.WithLabelValues(reason).Inc()
	}
}

func (m *Metrics) incWatchRestart() {
	if m != nil {
		m.watchRestarts.Inc()
	}
}

func (m *Metrics) setInSync(in bool) {
	if m == nil {
		return
	}
	if in {
		m.inSync.Set(1)
	} else {
		m.inSync.Set(0)
	}
}
