package fleet

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/madbase/madbase/bus"
	"github.com/madbase/madbase/bus/bustest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func ids(ws []Worker) []string {
	out := []string{}
	for _, w := range ws {
		out = append(out, w.ID)
	}
	return out
}

func TestFleetBeatLeaveExpire(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	reg := prometheus.NewRegistry()
	f := New(slog.New(slog.DiscardHandler), reg, Options{Now: clk.Now})
	started := clk.Now().Add(-time.Hour)
	f.Beat(bus.Heartbeat{ID: "w2", URL: "http://b", Version: "v1", InFlight: 3, Draining: true, StartedAt: started})
	f.Beat(bus.Heartbeat{ID: "w1", URL: "http://a", Version: "v1", StartedAt: started})
	f.Beat(bus.Heartbeat{ID: "w3", URL: "http://c", Version: "v1", StartedAt: started})
	ws := f.Workers()
	assert.Equal(t, []string{"w1", "w2", "w3"}, ids(ws), "sorted by id")
	assert.Equal(t, Worker{ID: "w2", URL: "http://b", Version: "v1", LastBeat: clk.Now(), InFlight: 3, Draining: true, StartedAt: started}, ws[1])
	assert.Equal(t, 3.0, testutil.ToFloat64(f.live))

	f.Leave("w3")
	f.Leave("unknown")
	assert.Equal(t, []string{"w1", "w2"}, ids(f.Workers()))

	clk.Add(2 * time.Second)
	f.Beat(bus.Heartbeat{ID: "w1", URL: "http://a"})
	clk.Add(DefaultExpiry - time.Second)
	f.Sweep()
	assert.Equal(t, []string{"w1"}, ids(f.Workers()), "w2 missed its beats")
	assert.Equal(t, 1.0, testutil.ToFloat64(f.live))
	clk.Add(2 * time.Second)
	assert.Empty(t, f.Workers(), "expired workers are hidden before the sweep")
	assert.Equal(t, 0.0, testutil.ToFloat64(f.live), "and not counted")
	f.Sweep()
	f.mu.Lock()
	assert.Empty(t, f.workers, "the sweep forgets them")
	f.mu.Unlock()
}

func TestFleetOverNATS(t *testing.T) {
	t.Parallel()
	srv := bustest.RunServer(t)
	nc := bustest.Connect(t, srv)
	f := New(slog.New(slog.DiscardHandler), nil, Options{Expiry: 500 * time.Millisecond})
	require.NoError(t, f.Subscribe(nc))
	require.NoError(t, nc.Flush())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()

	pub := bustest.Connect(t, srv)
	send := func(subject string, v any) {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		require.NoError(t, pub.Publish(subject, b))
		require.NoError(t, pub.Flush())
	}
	send(bus.WorkerHeartbeat("a"), bus.Heartbeat{ID: "a", URL: "http://a"})
	send(bus.WorkerHeartbeat("b"), bus.Heartbeat{ID: "b", URL: "http://b"})
	require.NoError(t, pub.Publish(bus.WorkerHeartbeat("c"), []byte("not json")))
	bustest.Eventually(t, 5*time.Second, func() bool { return len(f.Workers()) == 2 }, "two workers")
	send(bus.WorkerLeave("a"), bus.Leave{ID: "a"})
	bustest.Eventually(t, 5*time.Second, func() bool {
		ws := f.Workers()
		return len(ws) == 1 && ws[0].ID == "b"
	}, "a left")
	bustest.Eventually(t, 5*time.Second, func() bool { return len(f.Workers()) == 0 }, "b expired")

	send(bus.EdgeHeartbeatSubject("e1"), bus.EdgeHeartbeat{ID: "e1", URL: "http://e1", WorkersHealthy: 2})
	require.NoError(t, pub.Publish(bus.EdgeHeartbeatSubject("e2"), []byte("not json")))
	bustest.Eventually(t, 5*time.Second, func() bool {
		es := f.Edges()
		return len(es) == 1 && es[0].ID == "e1" && es[0].WorkersHealthy == 2
	}, "the edge is listed")
	assert.Empty(t, f.Workers(), "an edge is not a worker")
	bustest.Eventually(t, 10*time.Second, func() bool { return len(f.Edges()) == 0 }, "e1 expired")
	cancel()
	require.NoError(t, <-done)
}

// TestProjectWorkers: each live worker's revision of a project and how it
// compares with the project's current one, from the last beats.
func TestProjectWorkers(t *testing.T) {
	t.Parallel()
	f := New(slog.New(slog.DiscardHandler), nil, Options{})
	held := func(m map[string]bus.ProjectRevision) bus.Heartbeat { return bus.Heartbeat{Projects: m} }
	for id, hb := range map[string]bus.Heartbeat{
		"w1": held(map[string]bus.ProjectRevision{"shop": {Revision: 3}}),
		"w2": held(map[string]bus.ProjectRevision{"shop": {Revision: 2}}),
		"w3": held(map[string]bus.ProjectRevision{"shop": {Revision: 2, Refused: 3, Reason: "DB_MAX_ROWS: must not be negative"}}),
		"w4": held(map[string]bus.ProjectRevision{"shop": {Revision: 1, Refused: 2, Reason: "database: cannot connect"}}),
		"w5": held(map[string]bus.ProjectRevision{}),
		"w6": {},
		"w7": {Projects: map[string]bus.ProjectRevision{"blog": {Revision: 1}}, ProjectsTruncated: true},
	} {
		hb.ID, hb.URL = id, "http://"+id
		f.Beat(hb)
	}
	assert.Equal(t, []ProjectWorker{
		{ID: "w1", URL: "http://w1", Revision: 3, Status: StatusCurrent},
		{ID: "w2", URL: "http://w2", Revision: 2, Status: StatusBehind},
		{ID: "w3", URL: "http://w3", Revision: 2, Status: StatusRefused, RefusedRevision: 3, Reason: "DB_MAX_ROWS: must not be negative"},
		{ID: "w4", URL: "http://w4", Revision: 1, Status: StatusBehind, RefusedRevision: 2, Reason: "database: cannot connect"},
		{ID: "w5", URL: "http://w5", Revision: 0, Status: StatusBehind},
		{ID: "w6", URL: "http://w6", Revision: 0, Status: StatusUnknown},
		{ID: "w7", URL: "http://w7", Revision: 0, Status: StatusUnknown},
	}, f.ProjectWorkers("shop", 3))
	b, err := json.Marshal(f.ProjectWorkers("shop", 3)[2])
	require.NoError(t, err)
	assert.JSONEq(t, `{"id":"w3","url":"http://w3","revision":2,"status":"refused","refused_revision":3,"reason":"DB_MAX_ROWS: must not be negative"}`, string(b))
	b, err = json.Marshal(f.Workers()[0])
	require.NoError(t, err)
	assert.NotContains(t, string(b), "shop", "the workers list stays as it was")
}
