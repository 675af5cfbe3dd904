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
}

// Durations is a registry holding only the request-duration histogram:
// what a reader of just that family (the worker's heartbeat) gathers
// without collecting every other metric of the process.
func (m *HTTP) Durations() prometheus.Gatherer {
	reg := prometheus.NewRegistry()
	reg.MustRegister(m.duration)
	return reg
}

type pair struct {
	c prometheus.Counter
	h prometheus.Observer
}

// NewHTTP registers madbase_<tier>_http_requests_total,
// madbase_<tier>_http_request_duration_seconds and
// madbase_<tier>_http_requests_in_flight on reg.
func NewHTTP(reg prometheus.Registerer, tier string) *HTTP {
	m := &HTTP{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "madbase_" + tier + "_http_requests_total",
			Help: "HTTP requests answered, by route group and status.",
		}, []string{"group", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "madbase_" + tier + "_http_request_duration_seconds",
			Help:    "Time to answer HTTP requests (to the end of the response), by route group and status.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"group", "status"}),
		InFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "madbase_" + tier + "_http_requests_in_flight",
			Help: "HTTP requests being answered now.",
		}),
		groupIdx: map[string]int{},
	}
	m.cache = make([][]atomic.Pointer[pair], len(groups))
	for i, g := range groups {
		m.groupIdx[g] = i
		m.cache[i] = make([]atomic.Pointer[pair], 600)
	}
	reg.MustRegister(m.requests, m.duration, m.InFlight)
	return m
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
