package db

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// PoolCollector exports a pool's statistics. It reads pool.Stat() at scrape time, which
// costs nothing between scrapes and cannot drift from the pool, unlike gauges updated by
// hand. The counters are pgxpool's own running totals since the pool was made.
type PoolCollector struct {
	pool  *pgxpool.Pool
	descs poolDescs
}

type poolDescs struct {
	acquired, idle, constructing, total, max                  *prometheus.Desc
	acquires, emptyAcquires, canceledAcquires, acquireSeconds *prometheus.Desc
	waitSeconds, newConns, lifetimeDestroyed, idleDestroyed   *prometheus.Desc
}

var _ prometheus.Collector = (*PoolCollector)(nil)

// NewPoolCollector returns a collector for pool whose metrics carry constLabels (for
// example tier="worker").
func NewPoolCollector(pool *pgxpool.Pool, constLabels prometheus.Labels) *PoolCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("madbase_db_pool_"+name, help, nil, constLabels)
	}
	return &PoolCollector{pool: pool, descs: poolDescs{
		acquired:          d("acquired_conns", "Connections currently lent out of the pool."),
		idle:              d("idle_conns", "Connections open and waiting in the pool."),
		constructing:      d("constructing_conns", "Connections being opened."),
		total:             d("total_conns", "Connections the pool holds: acquired, idle and being opened."),
		max:               d("max_conns", "Most connections the pool will open."),
		acquires:          d("acquire_total", "Successful acquisitions of a connection."),
		emptyAcquires:     d("empty_acquire_total", "Acquisitions that found no idle connection and had to wait or open one."),
		canceledAcquires:  d("canceled_acquire_total", "Acquisitions abandoned because their context ended."),
		acquireSeconds:    d("acquire_duration_seconds_total", "Time spent acquiring connections, successful acquisitions only."),
		waitSeconds:       d("acquire_wait_seconds_total", "Time spent waiting for a connection when none was idle."),
		newConns:          d("new_conns_total", "Connections opened."),
		lifetimeDestroyed: d("max_lifetime_destroy_total", "Connections closed for reaching their maximum lifetime."),
		idleDestroyed:     d("max_idle_destroy_total", "Connections closed for being idle too long."),
	}}
}

// Describe implements prometheus.Collector.
func (c *PoolCollector) Describe(ch chan<- *prometheus.Desc) {
	d := c.descs
	for _, desc := range []*prometheus.Desc{d.acquired, d.idle, d.constructing, d.total, d.max,
		d.acquires, d.emptyAcquires, d.canceledAcquires, d.acquireSeconds, d.waitSeconds,
		d.newConns, d.lifetimeDestroyed, d.idleDestroyed} {
		ch <- desc
	}
}

// Collect implements prometheus.Collector.
func (c *PoolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.pool.Stat()
	d := c.descs
	gauge := func(desc *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v)
	}
	counter := func(desc *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, v)
	}
	gauge(d.acquired, float64(s.AcquiredConns()))
	gauge(d.idle, float64(s.IdleConns()))
	gauge(d.constructing, float64(s.ConstructingConns()))
	gauge(d.total, float64(s.TotalConns()))
	gauge(d.max, float64(s.MaxConns()))
	counter(d.acquires, float64(s.AcquireCount()))
	counter(d.emptyAcquires, float64(s.EmptyAcquireCount()))
	counter(d.canceledAcquires, float64(s.CanceledAcquireCount()))
	counter(d.acquireSeconds, s.AcquireDuration().Seconds())
	counter(d.waitSeconds, s.EmptyAcquireWaitTime().Seconds())
	counter(d.newConns, float64(s.NewConnsCount()))
	counter(d.lifetimeDestroyed, float64(s.MaxLifetimeDestroyCount()))
	counter(d.idleDestroyed, float64(s.MaxIdleDestroyCount()))
}
