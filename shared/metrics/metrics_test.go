package metrics

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRouteGroup(t *testing.T) {
	for path, want := range map[string]string{
		"/rest/v1/todos": GroupRest, "/rest/v1": GroupRest, "/rest/v10": GroupOther,
		"/auth/v1/token": GroupAuth, "/storage/v1/object/a/b": GroupStorage,
		"/realtime/v1/websocket": GroupRealtime, "/functions/v1/x": GroupFunctions,
		"/admin/v1/workers": GroupAdmin, "/dashboard/": GroupAdmin, "/health": GroupHealth, "/metrics": GroupMetrics, "/": GroupOther,
	} {
		assert.Equal(t, want, RouteGroup(path), path)
	}
}

func TestHTTPObserve(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewHTTP(reg, "edge")
	m.Observe(GroupRest, 200, time.Millisecond)
	m.Observe(GroupRest, 200, time.Millisecond)
	m.Observe("nonsense", 503, time.Millisecond)
	m.Observe(GroupAuth, 9999, time.Millisecond)
	assert.Equal(t, 2.0, testutil.ToFloat64(m.requests.WithLabelValues(GroupRest, "200")))
	assert.Equal(t, 1.0, testutil.ToFloat64(m.requests.WithLabelValues(GroupOther, "503")))
	assert.Equal(t, 1.0, testutil.ToFloat64(m.requests.WithLabelValues(GroupAuth, "0")))
}

// TestHTTPShards: what shards record is collected as one family with the
// root's, summed per label set, from the registry and from Durations.
func TestHTTPShards(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewHTTP(reg, "edge")
	a, b := m.Shard(), m.Shard()
	m.Observe(GroupRest, 200, 300*time.Microsecond)
	a.Observe(GroupRest, 200, 2*time.Millisecond)
	b.Observe(GroupRest, 200, 20*time.Second)
	b.Observe(GroupAuth, 401, time.Millisecond)

	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP madbase_edge_http_requests_total HTTP requests answered, by route group and status.
# TYPE madbase_edge_http_requests_total counter
madbase_edge_http_requests_total{group="auth",status="401"} 1
madbase_edge_http_requests_total{group="rest",status="200"} 3
`), "madbase_edge_http_requests_total"))

	want := `
# HELP madbase_edge_http_request_duration_seconds Time to answer HTTP requests (to the end of the response), by route group and status.
# TYPE madbase_edge_http_request_duration_seconds histogram
` +
		durationSeries("auth", "401", []int{0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, "0.001", 1) +
		durationSeries("rest", "200", []int{1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3}, "20.0023", 3)
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(want), "madbase_edge_http_request_duration_seconds"))
	require.NoError(t, testutil.GatherAndCompare(m.Durations(), strings.NewReader(want)))
	assert.Same(t, m.InFlight, a.InFlight)
}

// durationSeries is the exposition of one label set of the edge's duration
// histogram: cumulative holds the count at each bound, +Inf's last.
func durationSeries(group, status string, cumulative []int, sum string, count int) string {
	bounds := []string{"0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "30", "+Inf"}
	labels := fmt.Sprintf(`group=%q,status=%q`, group, status)
	var b strings.Builder
	for i, le := range bounds {
		fmt.Fprintf(&b, "madbase_edge_http_request_duration_seconds_bucket{%s,le=%q} %d\n", labels, le, cumulative[i])
	}
	fmt.Fprintf(&b, "madbase_edge_http_request_duration_seconds_sum{%s} %s\n", labels, sum)
	fmt.Fprintf(&b, "madbase_edge_http_request_duration_seconds_count{%s} %d\n", labels, count)
	return b.String()
}
