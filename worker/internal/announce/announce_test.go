package announce_test

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/madbase/madbase/bus"
	"github.com/madbase/madbase/bus/bustest"
	"github.com/madbase/madbase/worker/internal/announce"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestAnnouncerBeatsAndLeaves(t *testing.T) {
	s := bustest.RunServer(t)
	sub := bustest.Connect(t, s)
	beats := make(chan *nats.Msg, 256)
	leaves := make(chan *nats.Msg, 4)
	_, err := sub.ChanSubscribe(bus.WorkerHeartbeat("w.1"), beats)
	require.NoError(t, err)
	_, err = sub.ChanSubscribe(bus.WorkerLeave("w.1"), leaves)
	require.NoError(t, err)
	require.NoError(t, sub.Flush())

	pub := bustest.Connect(t, s)
	var inFlight atomic.Int64
	var draining atomic.Bool
	inFlight.Store(3)
	a := announce.New(announce.Options{
		Conn: pub, ID: "w.1", URL: "http://127.0.0.1:9", Version: "v",
		InFlight: inFlight.Load, Draining: draining.Load,
		Interval: 20 * time.Millisecond,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()

	decode := func(m *nats.Msg) bus.Heartbeat {
		var hb bus.Heartbeat
		require.NoError(t, json.Unmarshal(m.Data, &hb))
		return hb
	}
	hb := decode(<-beats)
	assert.Equal(t, bus.Heartbeat{ID: "w.1", URL: "http://127.0.0.1:9", Version: "v", InFlight: 3,
		StartedAt: hb.StartedAt, SentAt: hb.SentAt}, hb)
	bustest.Eventually(t, 2*time.Second, func() bool { return len(beats) >= 2 }, "beats every interval")

	draining.Store(true)
	require.NoError(t, a.Leave(time.Second))
	require.NoError(t, a.Leave(time.Second), "a second Leave is a no-op")
	select {
	case m := <-leaves:
		var l bus.Leave
		require.NoError(t, json.Unmarshal(m.Data, &l))
		assert.Equal(t, bus.Leave{ID: "w.1", URL: "http://127.0.0.1:9"}, l)
	case <-time.After(2 * time.Second):
		t.Fatal("no leave")
	}
	require.NoError(t, sub.Flush())
	var last bus.Heartbeat
	for len(beats) > 0 {
		last = decode(<-beats)
	}
	assert.True(t, last.Draining, "the last beat before leaving says draining")

	// No beat after leaving, even though Run still ticks.
	a.Beat()
	time.Sleep(100 * time.Millisecond) // five intervals: proving an absence needs a wait
	require.NoError(t, pub.Flush())
	require.NoError(t, sub.Flush())
	assert.Empty(t, beats)
	assert.Len(t, leaves, 0)

	cancel()
	require.NoError(t, <-done)
}

// The worker is a NATS micro service: `nats micro ls/info` list it, a
// starting edge finds it with one request, its endpoint answers with the
// current heartbeat, and after Leave it answers no more.
func TestAnnouncerMicroService(t *testing.T) {
	s := bustest.RunServer(t)
	nc := bustest.Connect(t, s)
	var inFlight atomic.Int64
	inFlight.Store(7)
	mk := func(id, url string) (*announce.Announcer, func()) {
		a := announce.New(announce.Options{Conn: bustest.Connect(t, s), ID: id, URL: url, Version: "dev",
			InFlight: inFlight.Load, Interval: time.Hour})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		return a, func() { cancel(); require.NoError(t, <-done) }
	}
	a1, stop1 := mk("w1", "http://127.0.0.1:1001")
	_, stop2 := mk("w2", "http://127.0.0.1:1002")
	defer stop2()

	var found []bus.DiscoveredWorker
	discover := func() []bus.DiscoveredWorker {
		var ws []bus.DiscoveredWorker
		bus.DiscoverWorkers(context.Background(), nc, 200*time.Millisecond, func(w bus.DiscoveredWorker) { ws = append(ws, w) })
		return ws
	}
	bustest.Eventually(t, 2*time.Second, func() bool {
		found = discover()
		return len(found) == 2
	}, "both workers answer discovery")
	assert.ElementsMatch(t, []bus.DiscoveredWorker{
		{ID: "w1", URL: "http://127.0.0.1:1001", Version: "dev"},
		{ID: "w2", URL: "http://127.0.0.1:1002", Version: "dev"},
	}, found)

	m, err := nc.Request(bus.WorkerInfo("w1"), nil, time.Second)
	require.NoError(t, err)
	var hb bus.Heartbeat
	require.NoError(t, json.Unmarshal(m.Data, &hb))
	assert.Equal(t, "w1", hb.ID)
	assert.Equal(t, int64(7), hb.InFlight)

	require.NoError(t, a1.Leave(time.Second))
	bustest.Eventually(t, 2*time.Second, func() bool {
		found = discover()
		return len(found) == 1 && found[0].ID == "w2"
	}, "a worker that left no longer answers")
	stop1()
}

// With NATS away, Leave does not wait for a confirmation that cannot come.
func TestLeaveWithNATSDown(t *testing.T) {
	ns := bustest.RunRestartable(t)
	nc, err := bus.Connect(ns.URL(), "test", nil)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	ns.Stop()
	bustest.Eventually(t, 5*time.Second, func() bool { return !nc.IsConnected() }, "disconnected")
	a := announce.New(announce.Options{Conn: nc, ID: "w.2", URL: "http://127.0.0.1:9"})
	left := make(chan error, 1)
	go func() { left <- a.Leave(time.Minute) }()
	select {
	case err := <-left:
		assert.ErrorIs(t, err, nats.ErrDisconnected)
	case <-time.After(10 * time.Second):
		t.Fatal("Leave waited for NATS")
	}
}

// Beats carry what the worker runs of each project, read at every beat;
// a worker without created projects says null.
func TestAnnouncerCarriesProjects(t *testing.T) {
	s := bustest.RunServer(t)
	sub := bustest.Connect(t, s)
	beats := make(chan *nats.Msg, 256)
	_, err := sub.ChanSubscribe(bus.AllHeartbeats, beats)
	require.NoError(t, err)
	require.NoError(t, sub.Flush())

	var revision atomic.Int64
	revision.Store(2)
	projects := func() (map[string]bus.ProjectRevision, bool) {
		return map[string]bus.ProjectRevision{
			"shop": {Revision: revision.Load()},
			"blog": {Revision: 1, Refused: 2, Reason: "DB_MAX_ROWS: not a number"},
		}, true
	}
	pub := bustest.Connect(t, s)
	with := announce.New(announce.Options{Conn: pub, ID: "w-p", URL: "http://127.0.0.1:9", Projects: projects, Interval: 20 * time.Millisecond})
	without := announce.New(announce.Options{Conn: pub, ID: "w-none", URL: "http://127.0.0.1:10"})
	without.Beat()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- with.Run(ctx) }()
	defer func() { cancel(); <-done }()

	next := func(id string) (bus.Heartbeat, string) {
		for {
			select {
			case m := <-beats:
				var hb bus.Heartbeat
				require.NoError(t, json.Unmarshal(m.Data, &hb))
				if hb.ID == id {
					return hb, string(m.Data)
				}
			case <-time.After(2 * time.Second):
				t.Fatalf("no beat of %s", id)
			}
		}
	}
	_, raw := next("w-none")
	assert.Contains(t, raw, `"projects":null`)
	hb, _ := next("w-p")
	assert.Equal(t, map[string]bus.ProjectRevision{
		"shop": {Revision: 2}, "blog": {Revision: 1, Refused: 2, Reason: "DB_MAX_ROWS: not a number"},
	}, hb.Projects)
	assert.True(t, hb.ProjectsTruncated)

	revision.Store(3)
	bustest.Eventually(t, 2*time.Second, func() bool {
		hb, _ := next("w-p")
		return hb.Projects["shop"].Revision == 3
	}, "a later beat carries the new revision")
}
