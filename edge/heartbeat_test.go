package edge_test

import (
	"encoding/json"
	"net"
	"strings"
	"testing"

	"github.com/madbase/madbase/bus"
	"github.com/madbase/madbase/bus/bustest"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEdgeHeartbeat: a running edge beats on its own subject with its URL,
// the workers it routes to and the client connections it holds.
func TestEdgeHeartbeat(t *testing.T) {
	t.Parallel()
	e := startEdge(t)
	beats := make(chan *nats.Msg, 64)
	sub, err := e.nc.ChanSubscribe(bus.AllEdgeHeartbeats, beats)
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	require.NoError(t, e.nc.Flush())
	e.addWorker("wa", echoHandler())
	e.waitWorkers(1)
	c, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })

	var hb bus.EdgeHeartbeat
	bustest.Eventually(t, waitLong, func() bool {
		select {
		case m := <-beats:
			require.NoError(t, json.Unmarshal(m.Data, &hb))
			assert.Equal(t, bus.EdgeHeartbeatSubject(hb.ID), m.Subject)
			return hb.WorkersHealthy == 1 && hb.Connections >= 1
		default:
			return false
		}
	}, "a beat with the worker and the open connection")
	assert.Equal(t, e.url, hb.URL)
	assert.Equal(t, 1, hb.WorkersKnown)
	assert.False(t, hb.Draining)
	assert.NotEmpty(t, hb.ID)
	assert.False(t, hb.StartedAt.IsZero())
}
