package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
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
