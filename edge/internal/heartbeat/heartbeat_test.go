package heartbeat_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/madbase/madbase/bus"
	"github.com/madbase/madbase/bus/bustest"
	"github.com/madbase/madbase/edge/internal/heartbeat"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/nats-io/nats.go.(*Conn).doReconnect"))
}

func TestPublisherBeats(t *testing.T) {
	s := bustest.RunServer(t)
	sub := bustest.Connect(t, s)
	beats := make(chan *nats.Msg, 256)
	_, err := sub.ChanSubscribe(bus.AllEdgeHeartbeats, beats)
	require.NoError(t, err)
	require.NoError(t, sub.Flush())

	var conns atomic.Int64
	var draining atomic.Bool
	conns.Store(5)
	p := heartbeat.New(heartbeat.Options{
		Conn: bustest.Connect(t, s), ID: "e.1", URL: "http://127.0.0.1:8000", Version: "v",
		Connections: conns.Load, Workers: func() (int, int) { return 2, 1 }, Draining: draining.Load,
		Interval: 20 * time.Millisecond,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()

	decode := func(m *nats.Msg) bus.EdgeHeartbeat {
		var hb bus.EdgeHeartbeat
		require.NoError(t, json.Unmarshal(m.Data, &hb))
		return hb
	}
	m := <-beats
	assert.Equal(t, bus.EdgeHeartbeatSubject("e.1"), m.Subject)
	hb := decode(m)
	assert.Equal(t, bus.EdgeHeartbeat{ID: "e.1", URL: "http://127.0.0.1:8000", Version: "v", Connections: 5,
		WorkersKnown: 2, WorkersHealthy: 1, StartedAt: hb.StartedAt, SentAt: hb.SentAt}, hb)
	assert.False(t, hb.StartedAt.IsZero())

	draining.Store(true)
	conns.Store(0)
	bustest.Eventually(t, 2*time.Second, func() bool {
		select {
		case m := <-beats:
			hb := decode(m)
			return hb.Draining && hb.Connections == 0
		default:
			return false
		}
	}, "later beats read the edge's state again")
	cancel()
	require.NoError(t, <-done)
}

// TestPublisherLastBeat: when Run ends (after the edge's HTTP server), it
// beats once more, so control sees the edge draining without waiting for
// the next tick.
func TestPublisherLastBeat(t *testing.T) {
	s := bustest.RunServer(t)
	sub := bustest.Connect(t, s)
	beats := make(chan *nats.Msg, 16)
	_, err := sub.ChanSubscribe(bus.EdgeHeartbeatSubject("e1"), beats)
	require.NoError(t, err)
	require.NoError(t, sub.Flush())
	var draining atomic.Bool
	p := heartbeat.New(heartbeat.Options{Conn: bustest.Connect(t, s), ID: "e1", Draining: draining.Load, Interval: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	bustest.Eventually(t, 5*time.Second, func() bool { return len(beats) == 1 }, "the first beat at once")
	draining.Store(true)
	cancel()
	require.NoError(t, <-done)
	bustest.Eventually(t, 5*time.Second, func() bool { return len(beats) == 2 }, "a last beat as Run ends")
	<-beats
	var last bus.EdgeHeartbeat
	require.NoError(t, json.Unmarshal((<-beats).Data, &last))
	assert.True(t, last.Draining)
}

// TestPublisherWithoutNATS: with the server gone a beat returns at once
// (the client buffers or drops), and beats resume when it is back.
func TestPublisherWithoutNATS(t *testing.T) {
	r := bustest.RunRestartable(t)
	nc, err := bus.Connect(r.URL(), "edge-test", slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	p := heartbeat.New(heartbeat.Options{Conn: nc, ID: "e1", Interval: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()

	r.Stop()
	bustest.Eventually(t, 5*time.Second, func() bool { return !nc.IsConnected() }, "client sees NATS gone")
	for range 100 {
		p.Beat() // must not block
	}
	r.Start()
	sub := bustest.Connect(t, r.Server())
	beats := make(chan *nats.Msg, 256)
	_, err = sub.ChanSubscribe(bus.EdgeHeartbeatSubject("e1"), beats)
	require.NoError(t, err)
	require.NoError(t, sub.Flush())
	bustest.Eventually(t, 10*time.Second, func() bool { return len(beats) > 0 }, "beats resume after NATS returns")
	cancel()
	require.NoError(t, <-done)
}
