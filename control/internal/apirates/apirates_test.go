package apirates

import (
	"testing"
	"time"

	"github.com/madbase/madbase/bus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stats makes counters whose requests all took within bound index i.
func stats(requests, errors int64, latencySum float64, i int) bus.APIStats {
	b := make([]int64, len(bus.APILatencyBounds))
	for j := i; j < len(b); j++ {
		b[j] = requests
	}
	return bus.APIStats{Requests: requests, Errors: errors, LatencySum: latencySum, Buckets: b}
}

func TestRatesFromCounterDeltas(t *testing.T) {
	h := New(3)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	started := t0.Add(-time.Hour)
	// bound index 4 is 10 ms, index 3 is 5 ms.
	h.Add(t0, []Sample{
		{ID: "a", StartedAt: started, APIs: map[string]bus.APIStats{"rest": stats(100, 1, 1, 4)}},
		{ID: "b", StartedAt: started, APIs: map[string]bus.APIStats{"rest": stats(50, 0, 0.5, 4)}},
	})
	assert.Empty(t, h.Points(), "the first sample is the baseline")

	h.Add(t0.Add(5*time.Second), []Sample{
		{ID: "a", StartedAt: started, APIs: map[string]bus.APIStats{"rest": stats(150, 6, 1.4, 4), "auth": stats(10, 0, 0.03, 3)}},
		{ID: "b", StartedAt: started, APIs: map[string]bus.APIStats{"rest": stats(100, 0, 0.6, 4)}},
		{ID: "old", StartedAt: started, APIs: map[string]bus.APIStats{"rest": stats(1000, 1000, 10, 4)}}, // first seen now: left out
	})
	ps := h.Points()
	require.Len(t, ps, 1)
	rest := ps[0].APIs["rest"]
	assert.InDelta(t, 20, rest.Rate, 1e-9, "(50+50) requests in 5 s")
	assert.InDelta(t, 1, rest.ErrorRate, 1e-9, "5 errors in 5 s")
	assert.InDelta(t, 5, rest.Mean, 1e-9, "0.5 s over 100 requests")
	assert.InDelta(t, 7.5, rest.P50, 1e-9, "half way through the 5–10 ms bucket")
	assert.InDelta(t, 9.75, rest.P95, 1e-9)
	assert.InDelta(t, 2, ps[0].APIs["auth"].Rate, 1e-9, "a's auth counters were 0 before")
	assert.Equal(t, Figure{}, ps[0].APIs["storage"], "no traffic, no latency")
	assert.Len(t, ps[0].APIs, len(APIs))

	// a restarts (a new start time: its counters, though higher than
	// before, are all new); b's counters go down under the same start time
	// (reset too); "old" is now known.
	h.Add(t0.Add(10*time.Second), []Sample{
		{ID: "a", StartedAt: t0.Add(7 * time.Second), APIs: map[string]bus.APIStats{"rest": stats(200, 6, 2, 4), "auth": stats(10, 0, 0.03, 3)}},
		{ID: "b", StartedAt: started, APIs: map[string]bus.APIStats{"rest": stats(5, 5, 0.05, 4)}},
		{ID: "old", StartedAt: started, APIs: map[string]bus.APIStats{"rest": stats(1010, 1000, 10.1, 4)}},
	})
	ps = h.Points()
	require.Len(t, ps, 2)
	rest = ps[1].APIs["rest"]
	assert.InDelta(t, 43, rest.Rate, 1e-9, "(200+5+10) requests in 5 s, never negative")
	assert.InDelta(t, 2.2, rest.ErrorRate, 1e-9, "(6+5) errors in 5 s")

	// A worker without counters keeps its baseline; a new worker started
	// within the interval counts from zero; the history keeps 3 points.
	h.Add(t0.Add(15*time.Second), []Sample{
		{ID: "a", StartedAt: t0.Add(7 * time.Second)},
		{ID: "c", StartedAt: t0.Add(12 * time.Second), APIs: map[string]bus.APIStats{"storage": stats(15, 0, 0.15, 4)}},
	})
	h.Add(t0.Add(20*time.Second), []Sample{
		{ID: "a", StartedAt: t0.Add(7 * time.Second), APIs: map[string]bus.APIStats{"rest": stats(250, 6, 2.5, 4), "auth": stats(10, 0, 0.03, 3)}},
		{ID: "c", StartedAt: t0.Add(12 * time.Second), APIs: map[string]bus.APIStats{"storage": stats(15, 0, 0.15, 4)}},
	})
	ps = h.Points()
	require.Len(t, ps, 3, "bounded")
	assert.Equal(t, t0.Add(10*time.Second), ps[0].At)
	assert.InDelta(t, 3, ps[1].APIs["storage"].Rate, 1e-9, "c started in the interval")
	assert.InDelta(t, 10, ps[2].APIs["rest"].Rate, 1e-9, "a's 50 since its kept baseline")
	assert.InDelta(t, 0, ps[2].APIs["storage"].Rate, 1e-9)
}

func TestQuantileBeyondLastBound(t *testing.T) {
	s := bus.APIStats{Requests: 4, Buckets: make([]int64, len(bus.APILatencyBounds))}
	assert.Equal(t, 30.0, quantile(0.5, s), "every request slower than the last bound")
}
