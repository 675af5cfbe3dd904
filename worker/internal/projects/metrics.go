package projects

import (
	"errors"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/madbase/madbase/shared/apierr"
	"github.com/prometheus/client_golang/prometheus"
)

// MaxProjectLabels is how many created projects get a project label of
// their own on the worker's metrics; the others, and requests that name no
// project the worker holds, share OtherProject. The default project always
// has its own (its ref). A deleted project's label is freed.
const MaxProjectLabels = 100

// OtherProject is the project label shared beyond MaxProjectLabels.
const OtherProject = "other"

// statusClasses are the values of the status label: 1xx to 5xx.
var statusClasses = [...]string{"", "1xx", "2xx", "3xx", "4xx", "5xx"}

// metrics are the worker's instruments labelled by project: requests by
// status class (errors are 5xx), their duration, and each open runtime's
// database pool, read at scrape time.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	// defaultProject's series are made once, so its requests cost no
	// label lookup (and no allocation).
	defaultProject *series
	other          *series

	mu     sync.Mutex
	series map[string]*series // created projects with their own label
}

// series are one project label's instruments.
type series struct {
	label    string
	byClass  [len(statusClasses)]prometheus.Counter
	duration prometheus.Observer
}

func newMetrics(reg prometheus.Registerer, defaultRef string, pools *poolCollector) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "madbase_worker_project_requests_total",
			Help: "API requests answered, by project (the default project's ref, the first created projects' refs, then \"other\") and status class; errors are class 5xx.",
		}, []string{"project", "class"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "madbase_worker_project_request_duration_seconds",
			Help:    "Time to answer API requests, by project.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"project"}),
		series: map[string]*series{},
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.requests, m.duration, pools} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	m.defaultProject = m.newSeries(defaultRef)
	m.other = m.newSeries(OtherProject)
	return m, nil
}

func (m *metrics) newSeries(label string) *series {
	s := &series{label: label, duration: m.duration.WithLabelValues(label)}
	for i, class := range statusClasses {
		if class != "" {
			s.byClass[i] = m.requests.WithLabelValues(label, class)
		}
	}
	return s
}

// of returns ref's series: its own while fewer than MaxProjectLabels
// projects have one, else the shared one.
func (m *metrics) of(ref string) *series {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.series[ref]; s != nil {
		return s
	}
	if len(m.series) >= MaxProjectLabels || ref == OtherProject {
		return m.other
	}
	s := m.newSeries(ref)
	m.series[ref] = s
	return s
}

// label is the project label ref's pool is reported under.
func (m *metrics) label(ref string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.series[ref] != nil {
		return ref
	}
	return OtherProject
}

// release frees a deleted project's label and drops its series.
func (m *metrics) release(ref string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.series[ref] == nil {
		return
	}
	delete(m.series, ref)
	m.requests.DeletePartialMatch(prometheus.Labels{"project": ref})
	m.duration.DeleteLabelValues(ref)
}

// done counts one request that started at start and ended with err (which
// the app's error handler renders later), and returns err.
func (s *series) done(c *fiber.Ctx, start time.Time, err error) error {
	status := c.Response().StatusCode()
	if err != nil {
		status = statusOf(err)
	}
	if class := status / 100; class >= 1 && class <= 5 {
		s.byClass[class].Inc()
	}
	s.duration.Observe(time.Since(start).Seconds())
	return err
}

// statusOf is the status the error handler answers err with.
func statusOf(err error) int {
	var e *apierr.Error
	if errors.As(err, &e) {
		return e.Status
	}
	var fe *fiber.Error
	if errors.As(err, &fe) {
		return fe.Code
	}
	return fiber.StatusInternalServerError
}

// poolCollector exports the database pool of every open project runtime,
// labelled by project (pools beyond MaxProjectLabels are summed under
// OtherProject). A runtime's counters start again when it is rebuilt.
type poolCollector struct {
	m *Manager

	acquired, idle, total, max           *prometheus.Desc
	acquires, emptyAcquires, waitSeconds *prometheus.Desc
	// The connection budget (PROJECT_DB_TOTAL_CONNS), worker-wide.
	budgetUsed, budgetLimit, evictions *prometheus.Desc
}

var _ prometheus.Collector = (*poolCollector)(nil)

func newPoolCollector(m *Manager) *poolCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("madbase_worker_project_db_pool_"+name, help, []string{"project"}, nil)
	}
	return &poolCollector{
		m:             m,
		acquired:      d("acquired_conns", "Connections of a project's pool lent out now."),
		idle:          d("idle_conns", "Connections open and waiting in a project's pool."),
		total:         d("total_conns", "Connections a project's pool holds."),
		max:           d("max_conns", "Most connections a project's pool will open."),
		acquires:      d("acquire_total", "Successful acquisitions of a connection from a project's pool."),
		emptyAcquires: d("empty_acquire_total", "Acquisitions from a project's pool that found no idle connection."),
		waitSeconds:   d("acquire_wait_seconds_total", "Time spent waiting for a connection of a project's pool when none was idle."),
		budgetUsed: prometheus.NewDesc("madbase_worker_project_db_budget_used_conns",
			"Connections the open projects' runtimes hold or may open (pools' most and schema listeners), counted against PROJECT_DB_TOTAL_CONNS.", nil, nil),
		budgetLimit: prometheus.NewDesc("madbase_worker_project_db_budget_limit_conns",
			"PROJECT_DB_TOTAL_CONNS: the bound on budget_used_conns (0: none).", nil, nil),
		evictions: prometheus.NewDesc("madbase_worker_project_db_budget_evictions_total",
			"Idle projects closed to make room in the connection budget for another.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (pc *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{pc.acquired, pc.idle, pc.total, pc.max, pc.acquires, pc.emptyAcquires, pc.waitSeconds,
		pc.budgetUsed, pc.budgetLimit, pc.evictions} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (pc *poolCollector) Collect(ch chan<- prometheus.Metric) {
	used, limit, evictions := pc.m.budget.snapshot()
	ch <- prometheus.MustNewConstMetric(pc.budgetUsed, prometheus.GaugeValue, float64(used))
	ch <- prometheus.MustNewConstMetric(pc.budgetLimit, prometheus.GaugeValue, float64(limit))
	ch <- prometheus.MustNewConstMetric(pc.evictions, prometheus.CounterValue, float64(evictions))
	type stats struct{ acquired, idle, total, max, acquires, empty, wait float64 }
	by := map[string]*stats{}
	for ref, p := range pc.m.state.Load().projects {
		rt := p.rt.Load()
		if rt == nil {
			continue
		}
		label := pc.m.metrics.label(ref)
		s := by[label]
		if s == nil {
			s = &stats{}
			by[label] = s
		}
		st := rt.pool.Stat()
		s.acquired += float64(st.AcquiredConns())
		s.idle += float64(st.IdleConns())
		s.total += float64(st.TotalConns())
		s.max += float64(st.MaxConns())
		s.acquires += float64(st.AcquireCount())
		s.empty += float64(st.EmptyAcquireCount())
		s.wait += st.EmptyAcquireWaitTime().Seconds()
	}
	for label, s := range by {
		for _, v := range []struct {
			d   *prometheus.Desc
			t   prometheus.ValueType
			val float64
		}{
			{pc.acquired, prometheus.GaugeValue, s.acquired}, {pc.idle, prometheus.GaugeValue, s.idle},
			{pc.total, prometheus.GaugeValue, s.total}, {pc.max, prometheus.GaugeValue, s.max},
			{pc.acquires, prometheus.CounterValue, s.acquires}, {pc.emptyAcquires, prometheus.CounterValue, s.empty},
			{pc.waitSeconds, prometheus.CounterValue, s.wait},
		} {
			ch <- prometheus.MustNewConstMetric(v.d, v.t, v.val, label)
		}
	}
}
