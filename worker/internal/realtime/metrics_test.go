package realtime

import (
	"testing"
	"time"

	"github.com/madbase/madbase/bus/bustest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
)

func TestMetrics(t *testing.T) {
	t.Parallel()
	w := newCluster(t, false).worker("a")
	reg := prometheus.NewRegistry()
	w.svc.metrics = newMetrics(reg)
	c := dial(t, w, anonKey(t))
	c.mustJoin("realtime:m", map[string]any{})
	assert.Equal(t, 1.0, testutil.ToFloat64(w.svc.metrics.sockets))
	assert.Equal(t, 1.0, testutil.ToFloat64(w.svc.metrics.channels))
	n, err := testutil.GatherAndCount(reg)
	assert.NoError(t, err)
	assert.Equal(t, 4, n)
	c.conn.Close()
	bustest.Eventually(t, 10*time.Second, func() bool {
		return testutil.ToFloat64(w.svc.metrics.sockets) == 0 && testutil.ToFloat64(w.svc.metrics.channels) == 0
	}, "gauges back to zero")
}
