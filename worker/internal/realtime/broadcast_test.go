package realtime

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/madbase/madbase/bus"
	"github.com/madbase/madbase/bus/bustest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBroadcastDeliveredLocally: the sender's worker delivers to its own
// sockets itself, so they get a broadcast while the bus is away, and skip
// the copy the bus brings back; another service of the same project on
// that worker (a runtime being replaced) still gets its copy from the bus.
func TestBroadcastDeliveredLocally(t *testing.T) {
	t.Parallel()
	ns := bustest.RunRestartable(t)
	cl := &cluster{t: t, ns: ns}
	wa, wa2, wb := cl.worker("a"), cl.worker("a"), cl.worker("b")
	key := anonKey(t)
	const topic = "realtime:local"
	s, r, r2, rb := dial(t, wa, key), dial(t, wa, key), dial(t, wa2, key), dial(t, wb, key)
	jrS := s.mustJoin(topic, map[string]any{"config": map[string]any{"broadcast": map[string]any{"self": true}}})
	r.mustJoin(topic, map[string]any{})
	r2.mustJoin(topic, map[string]any{})
	jrB := rb.mustJoin(topic, map[string]any{})
	send := func(c *client, joinRef, ev string) {
		c.send(joinRef, topic, "broadcast", map[string]any{"type": "broadcast", "event": ev, "payload": map[string]any{}})
	}
	count := func(c *client, ev string) int {
		return len(c.frames(func(f []any) bool {
			p, ok := f[4].(map[string]any)
			return f[3] == "broadcast" && ok && p["event"] == ev
		}))
	}
	got := func(c *client, ev, what string) {
		t.Helper()
		bustest.Eventually(t, 10*time.Second, func() bool { return count(c, ev) > 0 }, "%s", what)
	}

	ns.Stop()
	bustest.Eventually(t, 10*time.Second, func() bool { return !wa.nc.IsConnected() }, "worker a lost the bus")
	send(s, jrS, "away")
	got(s, "away", "the sender's own broadcast (self) while the bus is away")
	got(r, "away", "a broadcast on the sender's worker while the bus is away")

	ns.Start()
	bustest.Eventually(t, 15*time.Second, func() bool {
		return wa.nc.IsConnected() && wa2.nc.IsConnected() && wb.nc.IsConnected()
	}, "workers back on the bus")
	// Worker a resent what it published while away: the bus routed it back.
	// A flush on each connection: the server has its subscriptions again.
	for _, w := range []*testWorker{wa, wa2, wb} {
		require.NoError(t, w.nc.Flush())
	}
	send(s, jrS, "back")
	got(rb, "back", "a broadcast on the other worker")
	got(r2, "back", "a broadcast on the other service of the sender's worker")
	// Sent once rb got "back": when r has it, worker a has seen the bus's
	// copies of "away" and "back".
	send(rb, jrB, "marker")
	got(r, "marker", "a broadcast from the other worker")
	for _, c := range []*client{s, r} {
		assert.Equal(t, 1, count(c, "away"))
		assert.Equal(t, 1, count(c, "back"))
	}
	assert.Equal(t, 1, count(r2, "back"))
	assert.Equal(t, 1, count(rb, "back"))
}

// TestFanoutHeldWhileMoreWait: while more of a topic's messages wait on the
// bus, the fan-out holds each socket's frames (at most maxHeld messages)
// and writes them together once none waits; every client, one compressing,
// one reading nothing until the end (its frames go out in parts), gets
// every message whole and in order.
func TestFanoutHeldWhileMoreWait(t *testing.T) {
	t.Parallel()
	w, key := wireWorker(t)
	const topic = "realtime:held"
	plain := wireClient(t, w, key, false, 0, nil)
	deflated := wireClient(t, w, key, true, 0, nil)
	slow := wireClient(t, w, key, false, 4096, nil)
	clients := []*websocket.Conn{plain, deflated, slow}
	for _, c := range clients {
		joinWire(t, c, topic)
	}
	w.svc.mu.Lock()
	ts := w.svc.topics["held"]
	w.svc.mu.Unlock()
	require.NotNil(t, ts)
	held := func() (sockets, msgs int) {
		ts.fanout.Lock()
		defer ts.fanout.Unlock()
		return len(ts.held), ts.heldMsgs
	}

	var want []string
	for i := 0; i < maxHeld+10; i++ {
		pad := strconv.Itoa(i) + strings.Repeat("h", i*1373%100000)
		want = append(want, pad)
		b := &bus.RealtimeBroadcast{Topic: "held", Event: "m", Payload: json.RawMessage(`{"pad":"` + pad + `"}`)}
		w.svc.deliver(ts, b, true)
		sockets, msgs := held()
		if i+1 == maxHeld {
			assert.Equal(t, 0, msgs, "written once maxHeld are held")
			assert.Equal(t, 0, sockets)
		} else {
			assert.Equal(t, (i+1)%maxHeld, msgs)
			assert.Equal(t, len(clients), sockets)
		}
	}
	ts.release()
	sockets, msgs := held()
	assert.Equal(t, 0, msgs)
	assert.Equal(t, 0, sockets)
	for _, c := range clients {
		assert.Equal(t, want, readBroadcasts(t, c, len(want)))
	}
}

// TestSocketBatchHeld: broadcasts a socket's handler takes from one batch
// of its inbox are fanned out together at the batch's last message, or
// before a message of another kind (a join may wait on the database), so
// the sender's own copies (self) follow the acks of the earlier ones.
func TestSocketBatchHeld(t *testing.T) {
	t.Parallel()
	w := newCluster(t, false).worker("a")
	c := dial(t, w, anonKey(t))
	const topic = "realtime:batch"
	jr := c.mustJoin(topic, map[string]any{"config": map[string]any{"broadcast": map[string]any{"self": true, "ack": true}}})
	// The bus's copies of these broadcasts, skipped here, would release
	// what is held when they arrive: the topic's subscription ends.
	w.svc.mu.Lock()
	require.NoError(t, w.svc.topics["batch"].sub.Unsubscribe())
	w.svc.mu.Unlock()
	var sock *socket
	w.svc.sockMu.Lock()
	for s := range w.svc.sockets {
		sock = s
	}
	w.svc.sockMu.Unlock()
	var batch []inFrame
	for i := 1; i <= 4; i++ {
		data, _ := json.Marshal([]any{jr, "b" + itoa(i), topic, "broadcast", map[string]any{"type": "broadcast", "event": "e", "payload": map[string]any{"i": i}}})
		batch = append(batch, inFrame{data: data})
		if i == 2 {
			batch = append(batch, inFrame{data: []byte(`[null,"hb","phoenix","heartbeat",{}]`)})
		}
	}
	// The batch is put in the inbox as the reader would, all at once.
	bustest.Eventually(t, 10*time.Second, func() bool {
		sock.inMu.Lock()
		defer sock.inMu.Unlock()
		if sock.handling {
			return false
		}
		sock.handling = true
		sock.handlers.Add(1)
		sock.inbox = batch
		return true
	}, "the socket's handler idle")
	sock.handleAll()
	mine := func(f []any) bool {
		return f[2] == topic && (f[3] == "broadcast" || f[3] == "phx_reply" && f[1] != jr)
	}
	bustest.Eventually(t, 10*time.Second, func() bool { return len(c.frames(mine)) == 8 }, "4 acks and 4 broadcasts")
	var got []string
	for _, f := range c.frames(mine) {
		if f[3] == "broadcast" {
			got = append(got, "broadcast "+itoa(int(f[4].(map[string]any)["payload"].(map[string]any)["i"].(float64))))
		} else {
			got = append(got, "ack "+f[1].(string))
		}
	}
	assert.Equal(t, []string{"ack b1", "ack b2", "broadcast 1", "broadcast 2",
		"ack b3", "broadcast 3", "broadcast 4", "ack b4"}, got)
}
