package bus_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/madbase/madbase/bus"
	"github.com/madbase/madbase/bus/bustest"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Drain lets a subscription finish the messages it has, then closes.
func TestDrainFinishesMessages(t *testing.T) {
	ns := bustest.RunServer(t)
	nc, err := bus.Connect(ns.URL(), "test", nil)
	require.NoError(t, err)
	release := make(chan struct{})
	var handled atomic.Int64
	_, err = nc.Subscribe("drain.test", func(*nats.Msg) { <-release; handled.Add(1) })
	require.NoError(t, err)
	require.NoError(t, nc.Flush())
	pub := bustest.Connect(t, ns)
	for range 3 {
		require.NoError(t, pub.Publish("drain.test", nil))
	}
	require.NoError(t, pub.Flush())
	close(release)
	require.NoError(t, bus.Drain(nc, 10*time.Second))
	assert.True(t, nc.IsClosed())
	assert.Equal(t, int64(3), handled.Load())
}

// A connection whose server is away is closed, not drained.
func TestDrainWithoutServer(t *testing.T) {
	ns := bustest.RunRestartable(t)
	nc, err := bus.Connect(ns.URL(), "test", nil)
	require.NoError(t, err)
	ns.Stop()
	bustest.Eventually(t, 5*time.Second, func() bool { return !nc.IsConnected() }, "disconnected")
	require.NoError(t, bus.Drain(nc, time.Hour))
	assert.True(t, nc.IsClosed())
	assert.NoError(t, bus.Drain(nc, time.Hour), "a closed connection drains at once")
}
