// Package metrics holds the Prometheus instruments every tier shares: HTTP
// request counts and latency by route group and status.
package metrics

import (
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Route groups label requests by API surface, keeping label values bounded.
const (
	GroupAuth      = "auth"
	GroupRest      = "rest"
	GroupStorage   = "storage"
	GroupRealtime  = "realtime"
	GroupFunctions = "functions"
	GroupAdmin     = "admin"
	GroupHealth    = "health"
	GroupMetrics   = "metrics"
	GroupOther     = "other"
)

var groups = []string{GroupAuth, GroupRest, GroupStorage, GroupRealtime, GroupFunctions, GroupAdmin, GroupHealth, GroupMetrics, GroupOther}

var prefixes = []struct{ prefix, group string }{
	{"/auth/v1", GroupAuth},
	{"/rest/v1", GroupRest},
	{"/storage/v1", GroupStorage},
	{"/realtime/v1", GroupRealtime},
	{"/functions/v1", GroupFunctions},
	{"/admin", GroupAdmin},
	{"/dashboard", GroupAdmin},
	{"/health", GroupHealth},
	{"/metrics", GroupMetrics},
}

// RouteGroup names the API surface a path belongs to.
func RouteGroup(path string) string {
	for _, p := range prefixes {
		if strings.HasPrefix(path, p.prefix) && (len(path) == len(p.prefix) || path[len(p.prefix)] == '/' || path[len(p.prefix)] == '?') {
			return p.group
		}
	}
	return GroupOther
}

// HTTP counts requests and their latency. Observations are cached per
// (group, status) so the hot path does no label hashing.
type HTTP struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	InFlight prometheus.Gauge
	cache    [][]atomic.Pointer[pair] // [group][status]
	groupIdx map[string]int
	tier     string
	// The families as registered: requests and duration, plus those of
	// every shard. A shard shares its root's.
	requestsSum, durationSum *sum
}

// Durations is a registry holding only the request-duration histogram:
// what a reader of just that family (the worker's heartbeat) gathers
// without collecting every other metric of the process.
func (m *HTTP) Durations() prometheus.Gatherer {
	reg := prometheus.NewRegistry()
	reg.MustRegister(m.durationSum)
	return reg
}

type pair struct {
	c prometheus.Counter
	h prometheus.Observer
}

var httpLabels = []string{"group", "status"}

// NewHTTP registers madbase_<tier>_http_requests_total,
// madbase_<tier>_http_request_duration_seconds and
// madbase_<tier>_http_requests_in_flight on reg.
func NewHTTP(reg prometheus.Registerer, tier string) *HTTP {
	m := newHTTPVectors(tier)
	m.InFlight = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "madbase_" + tier + "_http_requests_in_flight",
		Help: "HTTP requests being answered now.",
	})
	m.requestsSum, m.durationSum = newSum(m.requests, httpLabels), newSum(m.duration, httpLabels)
	reg.MustRegister(m.requestsSum, m.durationSum, m.InFlight)
	return m
}

// newHTTPVectors makes the vectors of a tier's request metrics, not
// registered anywhere.
func newHTTPVectors(tier string) *HTTP {
	m := &HTTP{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "madbase_" + tier + "_http_requests_total",
			Help: "HTTP requests answered, by route group and status.",
		}, httpLabels),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "madbase_" + tier + "_http_request_duration_seconds",
			Help:    "Time to answer HTTP requests (to the end of the response), by route group and status.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, httpLabels),
		groupIdx: map[string]int{},
		tier:     tier,
	}
	m.cache = make([][]atomic.Pointer[pair], len(groups))
	for i, g := range groups {
		m.groupIdx[g] = i
		m.cache[i] = make([]atomic.Pointer[pair], 600)
	}
	return m
}

// Shard returns request metrics of their own for one thread (an edge
// event loop), counted into m's families when they are collected. Every
// observation writes a few counters; threads on different CPUs writing the
// same ones move their cache lines from CPU to CPU: from two CPUs at once an
// observation costs 174–219 ns shared and 26 ns in a shard
// (BenchmarkObserveParallel). A shard lasts as long as m.
func (m *HTTP) Shard() *HTTP {
	s := newHTTPVectors(m.tier)
	s.InFlight, s.requestsSum, s.durationSum = m.InFlight, m.requestsSum, m.durationSum
	m.requestsSum.add(s.requests)
	m.durationSum.add(s.duration)
	return s
}

// Observe records one answered request.
func (m *HTTP) Observe(group string, status int, d time.Duration) {
	gi, ok := m.groupIdx[group]
	if !ok {
		gi = m.groupIdx[GroupOther]
	}
	if status < 0 || status >= 600 {
		status = 0
	}
	p := m.cache[gi][status].Load()
	if p == nil {
		s := strconv.Itoa(status)
		p = &pair{c: m.requests.WithLabelValues(groups[gi], s), h: m.duration.WithLabelValues(groups[gi], s)}
		m.cache[gi][status].Store(p)
	}
	p.c.Inc()
	p.h.Observe(d.Seconds())
}

// NewRegistry makes a tier's registry with the Go runtime and process
// collectors, which every /metrics serves.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}
