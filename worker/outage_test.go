package worker_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/madbase/madbase/bus"
	"github.com/madbase/madbase/bus/bustest"
	"github.com/madbase/madbase/worker"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"
)

// A worker started while NATS is away serves at once, and announces itself
// as soon as NATS is back.
func TestWorkerStartsWithNATSDown(t *testing.T) {
	t.Parallel()
	ns := bustest.RunRestartable(t)
	ns.Stop()

	cfg := testConfig(t, ns.URL(), nil)
	w := start(t, cfg, worker.Options{})
	c := newClient(t)
	var health map[string]any
	resp := getJSON(t, c, w.url+"/health", &health)
	require.Equal(t, http.StatusOK, resp.StatusCode, "served while NATS is still down")

	ns.Start()
	nc := bustest.Connect(t, ns.Server())
	beats := make(chan *nats.Msg, 64)
	_, err := nc.ChanSubscribe(bus.WorkerHeartbeat(cfg.InstanceID), beats)
	require.NoError(t, err)
	require.NoError(t, nc.Flush())
	select {
	case m := <-beats:
		var hb bus.Heartbeat
		require.NoError(t, json.Unmarshal(m.Data, &hb))
		require.Equal(t, w.url, hb.URL)
	case <-time.After(10 * time.Second):
		t.Fatal("no heartbeat within 10s of NATS coming back")
	}
}
