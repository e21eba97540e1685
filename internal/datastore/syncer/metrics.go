package syncer

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
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
	m.invalid = register(reg, m.invalid)
	m.resyncs = register(reg, m.resyncs)
	m.watchRestarts = register(reg, m.watchRestarts)
	m.inSync = register(reg, m.inSync)
	return m
}

// register registers c, or returns the collector already registered under
// the same description. Any other registration error is a programming
// error (clashing metric names) and panics, as MustRegister does.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	panic("syncer: register metrics: " + err.Error())
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
