package realtime

import "github.com/prometheus/client_golang/prometheus"

// metrics of one worker's realtime service.
type metrics struct {
	sockets    prometheus.Gauge
	channels   prometheus.Gauge
	broadcasts prometheus.Counter
	changes    prometheus.Counter
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		sockets: prometheus.NewGauge(prometheus.GaugeOpts{Name: "madbase_worker_realtime_sockets",
			Help: "Open realtime WebSockets on this worker."}),
		channels: prometheus.NewGauge(prometheus.GaugeOpts{Name: "madbase_worker_realtime_channels",
			Help: "Joined realtime channels on this worker."}),
		broadcasts: prometheus.NewCounter(prometheus.CounterOpts{Name: "madbase_worker_realtime_broadcasts_total",
			Help: "Broadcasts to topics joined on this worker, from the bus or its own sockets."}),
		changes: prometheus.NewCounter(prometheus.CounterOpts{Name: "madbase_worker_realtime_changes_total",
			Help: "Database changes received from the bus by this worker."}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.sockets, m.channels, m.broadcasts, m.changes} {
			_ = reg.Register(c) // a second service on one registry (tests) keeps its own
		}
	}
	return m
}
