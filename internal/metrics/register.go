// Package metrics holds what every component's Prometheus metrics share.
package metrics

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Register registers c with reg, or returns the collector already
// registered under the same description (a component re-created in the
// same process shares its metrics). Any other registration error is a
// programming error (clashing metric names) and panics, as MustRegister
// does.
func Register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
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
	panic("register metrics: " + err.Error())
}
