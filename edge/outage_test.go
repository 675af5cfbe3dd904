package edge_test

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/madbase/madbase/bus"
	"github.com/madbase/madbase/bus/bustest"
	"github.com/madbase/madbase/shared/logging"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// edgeHealth is the part of the edge's /health these tests read.
type edgeHealth struct {
	NATS    string `json:"nats"`
	Known   int    `json:"workers_known"`
	Healthy int    `json:"workers_healthy"`
}

func (e *env) health() edgeHealth {
	e.t.Helper()
	var h edgeHealth
	r, err := http.Get(e.url + "/health")
	if err != nil {
		return h
	}
	defer r.Body.Close()
	_ = json.NewDecoder(r.Body).Decode(&h)
	return h
}

// startOutageEdge starts an edge and a beating connection (one that
// reconnects, as a worker's does) against a NATS server the test can stop.
func startOutageEdge(t *testing.T) (*env, *bustest.Restartable) {
	t.Helper()
	ns := bustest.RunRestartable(t)
	nc, err := bus.Connect(ns.URL(), "test workers", logging.Discard())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	return startEdgeOn(t, ns.URL(), nc), ns
}

// outage stops NATS and waits until the edge has noticed.
func outage(e *env, ns *bustest.Restartable) {
	e.t.Helper()
	ns.Stop()
	bustest.Eventually(e.t, 10*time.Second, func() bool { return e.health().NATS == "disconnected" }, "the edge sees NATS gone")
}

// restore starts NATS again and waits until the edge is connected.
func restore(e *env, ns *bustest.Restartable) {
	e.t.Helper()
	ns.Start()
	bustest.Eventually(e.t, 10*time.Second, func() bool { return e.health().NATS == "connected" }, "the edge reconnected to NATS")
}

// requester sends requests through the edge one after another and counts
// the answers that are not 200.
type requester struct {
	e        *env
	sent     int
	failures []string
}

func (r *requester) once() {
	r.sent++
	resp, err := http.Get(r.e.url + "/rest/v1/items")
	if err != nil {
		r.failures = append(r.failures, err.Error())
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		r.failures = append(r.failures, resp.Status+" "+string(body))
	}
}

// until sends requests, one every few milliseconds, until done says so.
func (r *requester) until(done func() bool) {
	pace := time.NewTicker(2 * time.Millisecond)
	defer pace.Stop()
	for !done() {
		r.once()
		<-pace.C
	}
}

// heartbeatTimeout is how long the edge waits for a worker's beats before
// dropping it, and so how long an outage must last to have mattered.
const heartbeatTimeout = bus.MissedBeatsLimit * bus.HeartbeatInterval

// An outage of NATS longer than the heartbeat timeout does not cost a
// single request: the edge keeps the workers it knows while its bus is
// away, and follows their beats again once it is back.
func TestEdgeServesThroughNATSOutage(t *testing.T) {
	e, ns := startOutageEdge(t)
	a := e.addWorker("w-a", echoHandler())
	b := e.addWorker("w-b", echoHandler())
	e.waitWorkers(2)

	r := &requester{e: e}
	outage(e, ns)
	down := time.Now()
	r.until(func() bool { return time.Since(down) > 2*heartbeatTimeout })
	h := e.health()
	assert.Equal(t, 2, h.Known, "workers kept through the outage")
	assert.Equal(t, 2, h.Healthy)

	restore(e, ns)
	back := time.Now()
	r.until(func() bool { return time.Since(back) > 2*heartbeatTimeout })
	assert.Empty(t, r.failures, "%d of %d requests failed", len(r.failures), r.sent)
	assert.Equal(t, edgeHealth{NATS: "connected", Known: 2, Healthy: 2}, e.health(), "both workers still beat")
	assert.Positive(t, a.hits.Load())
	assert.Positive(t, b.hits.Load())
}

// A worker that dies while NATS is away stops getting requests once the
// edge's probes find it gone, and is dropped when NATS is back and its
// beats stay missing. The live worker is not dropped meanwhile, although its
// first beat after the outage comes a heartbeat interval after the edge is
// back on NATS: heartbeat judgement resumes with a fresh grace period.
func TestEdgeDropsWorkerKilledDuringNATSOutage(t *testing.T) {
	e, ns := startOutageEdge(t)
	a := e.addWorker("w-a", echoHandler())
	b := e.addWorker("w-b", echoHandler())
	e.waitWorkers(2)

	a.quiet.Store(true) // no beats buffered by its connection meanwhile
	outage(e, ns)
	down := time.Now()
	b.cancel()
	b.srv.Close()
	hitsB := b.hits.Load()
	r := &requester{e: e}
	r.until(func() bool { return e.health().Healthy == 1 })
	r.until(func() bool { return time.Since(down) > 2*heartbeatTimeout })
	assert.Equal(t, 2, e.health().Known, "the dead worker is only out of rotation while NATS is away")

	restore(e, ns)
	resume := time.AfterFunc(bus.HeartbeatInterval, func() { a.quiet.Store(false) })
	defer resume.Stop()
	r.until(func() bool { return e.health().Known == 1 })
	assert.Empty(t, r.failures, "%d of %d requests failed", len(r.failures), r.sent)
	assert.Equal(t, hitsB, b.hits.Load(), "no request reached the dead worker")
	assert.Positive(t, a.hits.Load())
	assert.Equal(t, edgeHealth{NATS: "connected", Known: 1, Healthy: 1}, e.health())
}
