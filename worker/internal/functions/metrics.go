package functions

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes of an invocation, the label of madbase_worker_function_invocations_total.
const (
	outcomeOK      = "ok"
	outcomeError   = "error"    // the function threw or answered no Response (500)
	outcomeBoot    = "boot"     // the bundle did not load or start (503)
	outcomeLimit   = "limit"    // CPU, memory or response size (546)
	outcomeTimeout = "timeout"  // wall time (504)
	outcomeRefused = "refused"  // verify_jwt refused the caller (401)
	outcomeMissing = "notfound" // no such function (404)
)

// fnMetrics count the worker's invocations (never labelled by function or
// project: their number is unbounded).
type fnMetrics struct {
	invocations *prometheus.CounterVec
	coldStart   prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*fnMetrics, error) {
	m := &fnMetrics{
		invocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "madbase_worker_function_invocations_total",
			Help: "Edge function invocations by outcome: ok, error, boot, limit, timeout, refused, notfound.",
		}, []string{"outcome"}),
		coldStart: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "madbase_worker_function_cold_start_seconds",
			Help:    "Time to make a new instance of a function version (run the prelude and the bundle).",
			Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, 1},
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.invocations, m.coldStart} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *fnMetrics) count(outcome string) { m.invocations.WithLabelValues(outcome).Inc() }
