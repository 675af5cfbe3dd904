package proxy

import (
	"sync"

	"github.com/madbase/madbase/shared/metrics"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the edge's instruments.
type Metrics struct {
	HTTP           *metrics.HTTP
	upstreamErrors *prometheus.CounterVec
	cache          sync.Map // kind -> prometheus.Counter
	// handoffs counts connections the event loops passed to the goroutine
	// server (WebSockets, /health, heads outside the loops' subset).
	handoffs prometheus.Counter
}

// NewMetrics registers the edge's metrics, including gauges of known and
// healthy workers read from counts.
func NewMetrics(reg prometheus.Registerer, counts func() (known, healthy int)) *Metrics {
	m := &Metrics{
		HTTP: metrics.NewHTTP(reg, "edge"),
		upstreamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "madbase_edge_upstream_errors_total",
			Help: "Failed attempts to reach a worker or control, by kind (dial, stale_conn, upstream, no_worker, body_too_large, client_abort, websocket, panic: a bug contained by the event loops).",
		}, []string{"kind"}),
		handoffs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "madbase_edge_loop_handoffs_total",
			Help: "Connections the event loops handed to the goroutine server (WebSocket upgrades, /health, /admin, requests outside the loops' HTTP subset).",
		}),
	}
	reg.MustRegister(m.upstreamErrors, m.handoffs,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "madbase_edge_workers_known", Help: "Workers the edge knows of."},
			func() float64 { k, _ := counts(); return float64(k) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "madbase_edge_workers_healthy", Help: "Workers the edge routes requests to."},
			func() float64 { _, h := counts(); return float64(h) }),
	)
	return m
}

// Handoff counts a connection the event loops passed to the goroutine server.
func (m *Metrics) Handoff() { m.handoffs.Inc() }

func (m *Metrics) upstreamError(kind string) {
	c, ok := m.cache.Load(kind)
	if !ok {
		c, _ = m.cache.LoadOrStore(kind, m.upstreamErrors.WithLabelValues(kind))
	}
	c.(prometheus.Counter).Inc()
}
