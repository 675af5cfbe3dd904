package bus_test

import (
	"log/slog"
	"net"
	"strings"
	"sync"
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

// An unreachable NATS is said once, with its URL but not its credentials,
// however often the connection retries; and so is its return.
func TestConnectSaysOnceWhenNATSIsAway(t *testing.T) {
	// Something that is not NATS: it takes each attempt and hangs up.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	var attempts atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			attempts.Add(1)
			_ = c.Close()
		}
	}()
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	nc, err := bus.Connect("nats://madbase:s3cret@"+ln.Addr().String(), "test", log)
	require.NoError(t, err, "the first connection is retried, not refused")
	defer nc.Close()
	bustest.Eventually(t, 30*time.Second, func() bool { return attempts.Load() >= 4 }, "several attempts")
	bustest.Eventually(t, 5*time.Second, func() bool { return strings.Contains(logs.String(), "cannot reach NATS") }, "said")
	assert.Equal(t, 1, strings.Count(logs.String(), "cannot reach NATS"), logs.String())
	assert.Contains(t, logs.String(), "nats=nats://"+ln.Addr().String())
	assert.NotContains(t, logs.String(), "s3cret")
	assert.NotContains(t, logs.String(), "madbase@")

	// A server that goes away and comes back: one line each way.
	ns := bustest.RunRestartable(t)
	var logs2 syncBuffer
	nc2, err := bus.Connect(ns.URL(), "test", slog.New(slog.NewTextHandler(&logs2, nil)))
	require.NoError(t, err)
	defer nc2.Close()
	bustest.Eventually(t, 10*time.Second, nc2.IsConnected, "connected")
	assert.Empty(t, logs2.String(), "nothing to say while NATS answers")
	ns.Stop()
	bustest.Eventually(t, 10*time.Second, func() bool { return strings.Contains(logs2.String(), "cannot reach NATS") }, "said")
	ns.Start()
	bustest.Eventually(t, 10*time.Second, func() bool { return strings.Contains(logs2.String(), "connected to NATS again") }, "its return said")
	assert.Equal(t, 1, strings.Count(logs2.String(), "cannot reach NATS"), logs2.String())
	assert.Contains(t, logs2.String(), "nats="+ns.URL())
}

func TestRedactServers(t *testing.T) {
	assert.Equal(t, "nats://a:4222,nats://b:4222", bus.RedactServers("nats://u:p@a:4222, nats://tok@b:4222"))
	assert.Equal(t, "localhost:4222", bus.RedactServers("tok@localhost:4222"))
}

// syncBuffer is a buffer a logger writes to while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
