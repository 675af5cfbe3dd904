package announce_test

import (
	"testing"
	"time"

	"github.com/madbase/madbase/bus"
	"github.com/madbase/madbase/shared/metrics"
	"github.com/madbase/madbase/worker/internal/announce"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAPIsFrom: the heartbeat's per-API counters are the worker's own
// request metrics, summed over statuses, 5xx counted as errors, with the
// latency buckets of bus.APILatencyBounds.
func TestAPIsFrom(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.NewHTTP(reg, "worker")
	m.Observe(metrics.GroupRest, 200, 2*time.Millisecond)
	m.Observe(metrics.GroupRest, 201, 20*time.Millisecond)
	m.Observe(metrics.GroupRest, 503, 2*time.Second)
	m.Observe(metrics.GroupAuth, 400, 300*time.Microsecond)
	m.Observe(metrics.GroupHealth, 200, time.Millisecond) // not an API

	apis := announce.APIsFrom(reg, "madbase_worker_http_request_duration_seconds")()
	require.Len(t, apis, 5)
	rest := apis["rest"]
	assert.Equal(t, int64(3), rest.Requests)
	assert.Equal(t, int64(1), rest.Errors)
	assert.InDelta(t, 2.022, rest.LatencySum, 1e-9)
	require.Len(t, rest.Buckets, len(bus.APILatencyBounds))
	at := func(bound float64) int64 {
		for i, b := range bus.APILatencyBounds {
			if b == bound {
				return rest.Buckets[i]
			}
		}
		t.Fatalf("no bound %v", bound)
		return 0
	}
	assert.Equal(t, int64(0), at(.001))
	assert.Equal(t, int64(1), at(.0025))
	assert.Equal(t, int64(2), at(.025))
	assert.Equal(t, int64(3), at(2.5))
	assert.Equal(t, int64(3), at(30))
	assert.Equal(t, bus.APIStats{Requests: 1, LatencySum: 0.0003, Buckets: apis["auth"].Buckets}, apis["auth"])
	assert.Equal(t, int64(1), apis["auth"].Buckets[0])
	assert.Equal(t, int64(0), apis["storage"].Requests)
}
