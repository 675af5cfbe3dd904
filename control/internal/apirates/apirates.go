// Package apirates keeps a short history of request rates, error rates and
// latency per API, computed by control from the cumulative counters the
// workers carry in their heartbeats (bus.Heartbeat.APIs): no scrape, no
// network path besides the beats. The dashboard draws it.
package apirates

import (
	"context"
	"sync"
	"time"

	"github.com/madbase/madbase/bus"
)

// APIs are the APIs a point holds, in the order they are shown.
var APIs = []string{"auth", "rest", "storage", "realtime", "functions"}

// DefaultInterval is the history's resolution and DefaultPoints its length:
// five minutes at five seconds.
const (
	DefaultInterval = 5 * time.Second
	DefaultPoints   = 60
)

// Sample is one live worker's counters as its last beat carried them.
type Sample struct {
	ID        string
	StartedAt time.Time
	// APIs is nil when the beat carried none (an older worker).
	APIs map[string]bus.APIStats
}

// Point is the platform's traffic over one interval, ending At (admin API
// contract).
type Point struct {
	At   time.Time         `json:"at"`
	APIs map[string]Figure `json:"apis"`
}

// Figure is one API's traffic over an interval, summed over the workers.
// The latencies are 0 when the interval had no request.
type Figure struct {
	// Rate and ErrorRate are requests and 5xx answers per second.
	Rate      float64 `json:"rate"`
	ErrorRate float64 `json:"error_rate"`
	// P50, P95 and Mean are latencies in milliseconds; the quantiles are
	// estimated within the buckets of bus.APILatencyBounds.
	P50  float64 `json:"p50_ms"`
	P95  float64 `json:"p95_ms"`
	Mean float64 `json:"mean_ms"`
}

// History is the rolling history. Safe for concurrent use.
type History struct {
	size int

	mu     sync.Mutex
	points []Point
	prev   map[string]Sample
	prevAt time.Time
}

// New keeps the last size points (DefaultPoints when size <= 0).
func New(size int) *History {
	if size <= 0 {
		size = DefaultPoints
	}
	return &History{size: size, prev: map[string]Sample{}}
}

// Run adds a point from source every interval until ctx is done.
func (h *History) Run(ctx context.Context, interval time.Duration, source func() []Sample) error {
	h.Add(time.Now(), source())
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			h.Add(now, source())
		}
	}
}

// Add takes the workers' counters at now and appends the point since the
// previous Add (the first Add only sets the baseline). A worker's share is
// the difference with its previous counters; a worker that restarted (a new
// start time, or a counter that went down) or that started within the
// interval counts from zero, and one already running when first seen is
// left out until its second sample.
func (h *History) Add(now time.Time, samples []Sample) {
	h.mu.Lock()
	defer h.mu.Unlock()
	next := make(map[string]Sample, len(samples))
	sums := map[string]*bus.APIStats{}
	for _, a := range APIs {
		sums[a] = &bus.APIStats{Buckets: make([]int64, len(bus.APILatencyBounds))}
	}
	for _, s := range samples {
		old, seen := h.prev[s.ID]
		if s.APIs == nil {
			if seen {
				next[s.ID] = old // keep the baseline until counters come
			}
			continue
		}
		next[s.ID] = s
		if h.prevAt.IsZero() {
			continue
		}
		var base map[string]bus.APIStats
		switch {
		case seen && old.APIs != nil && old.StartedAt.Equal(s.StartedAt) && !decreased(old.APIs, s.APIs):
			base = old.APIs
		case s.StartedAt.After(h.prevAt) || (seen && old.APIs != nil):
			base = nil // a restart or a new worker: everything counted is new
		default:
			continue
		}
		for _, a := range APIs {
			cur, b := s.APIs[a], base[a]
			sum := sums[a]
			sum.Requests += cur.Requests - b.Requests
			sum.Errors += cur.Errors - b.Errors
			sum.LatencySum += cur.LatencySum - b.LatencySum
			for i := range sum.Buckets {
				sum.Buckets[i] += at(cur.Buckets, i) - at(b.Buckets, i)
			}
		}
	}
	h.prev = next
	prevAt := h.prevAt
	h.prevAt = now
	if prevAt.IsZero() {
		return
	}
	dt := now.Sub(prevAt).Seconds()
	if dt <= 0 {
		return
	}
	p := Point{At: now.UTC(), APIs: make(map[string]Figure, len(APIs))}
	for _, a := range APIs {
		p.APIs[a] = figure(*sums[a], dt)
	}
	h.points = append(h.points, p)
	if len(h.points) > h.size {
		h.points = append(h.points[:0:0], h.points[len(h.points)-h.size:]...)
	}
}

// Points returns a copy of the history, oldest first.
func (h *History) Points() []Point {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Point{}, h.points...)
}

func figure(s bus.APIStats, dt float64) Figure {
	f := Figure{Rate: float64(s.Requests) / dt, ErrorRate: float64(s.Errors) / dt}
	if s.Requests > 0 {
		f.Mean = s.LatencySum / float64(s.Requests) * 1000
		f.P50 = quantile(0.5, s) * 1000
		f.P95 = quantile(0.95, s) * 1000
	}
	return f
}

// quantile estimates the q-quantile in seconds from cumulative buckets,
// interpolating linearly within the bucket that holds it; past the last
// bound it is the last bound.
func quantile(q float64, s bus.APIStats) float64 {
	rank := q * float64(s.Requests)
	lower, below := 0.0, int64(0)
	for i, bound := range bus.APILatencyBounds {
		c := at(s.Buckets, i)
		if float64(c) >= rank && c > below {
			return lower + (bound-lower)*(rank-float64(below))/float64(c-below)
		}
		lower, below = bound, c
	}
	return bus.APILatencyBounds[len(bus.APILatencyBounds)-1]
}

// decreased says whether any counter of cur is below prev's: the worker's
// counters were reset.
func decreased(prev, cur map[string]bus.APIStats) bool {
	for a, p := range prev {
		c := cur[a]
		if c.Requests < p.Requests || c.Errors < p.Errors || c.LatencySum < p.LatencySum-1e-9 {
			return true
		}
	}
	return false
}

func at(b []int64, i int) int64 {
	if i < len(b) {
		return b[i]
	}
	return 0
}
