package realtime

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/madbase/madbase/bus/bustest"
	"github.com/madbase/madbase/shared/apitest"
	"github.com/madbase/madbase/shared/config"
	"github.com/madbase/madbase/shared/db/dbtest"
	"github.com/madbase/madbase/shared/db/platform"
	"github.com/madbase/madbase/shared/jwtauth"
	rtmig "github.com/madbase/madbase/worker/migrations/realtime"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMain stops the test PostgreSQL once the tests are done, then fails the
// run if goroutines (a reader, a socket, a NATS subscription) are left.
func TestMain(m *testing.M) { apitest.Main(m, apitest.Teardown(dbtest.Shutdown)) }

const testSecret = "test-secret-test-secret-test-secret-0123"

// cluster is workers sharing one NATS and one database.
type cluster struct {
	t testing.TB
	// ns is the bus: an embedded server, or a restartable one.
	ns   interface{ URL() string }
	pool *pgxpool.Pool
}

type testWorker struct {
	svc    *Service
	addr   string
	nc     *nats.Conn
	cancel context.CancelFunc
}

func newCluster(t *testing.T, withDB bool) *cluster {
	c := &cluster{t: t, ns: bustest.RunServer(t)}
	if withDB {
		c.pool = dbtest.New(t, platform.Source, rtmig.Source)
	}
	return c
}

func (c *cluster) worker(id string) *testWorker {
	return c.benchWorker(c.t, id, config.Realtime{RealtimePresenceExpiry: time.Second, RealtimeMaxChannels: 3,
		RealtimeMaxMessageBytes: 4096, RealtimeMaxEventsPerSecond: 200})
}

func newBenchCluster(tb testing.TB) *cluster { return &cluster{t: tb, ns: bustest.RunServer(tb)} }

func (c *cluster) benchDB(tb testing.TB) { c.pool = dbtest.New(tb, platform.Source, rtmig.Source) }

func benchKey(tb testing.TB) string {
	tok, err := jwtauth.Sign([]byte(testSecret), map[string]any{"role": "anon", "exp": time.Now().Add(time.Hour).Unix()})
	require.NoError(tb, err)
	return tok
}

func (c *cluster) benchWorker(t testing.TB, id string, cfg config.Realtime) *testWorker {
	nc, err := nats.Connect(c.ns.URL())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	svc := New(Options{
		Config:    cfg,
		JWTSecret: testSecret, Pool: c.pool, NATS: nc, BaseContext: ctx, WorkerID: id,
	})
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	// As the worker's server (httpserver.New): sockets outlive their
	// handshake's handler. walwant_test's server does not, and serves
	// them within it.
	app.Server().KeepHijackedConns = true
	svc.Mount(app)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = app.Listener(ln) }()
	w := &testWorker{svc: svc, addr: ln.Addr().String(), nc: nc, cancel: cancel}
	t.Cleanup(func() {
		cancel()
		_ = app.ShutdownWithTimeout(2 * time.Second)
		svc.Wait()
		nc.Close()
	})
	return w
}

func token(t *testing.T, claims map[string]any) string {
	if _, ok := claims["exp"]; !ok {
		claims["exp"] = time.Now().Add(time.Hour).Unix()
	}
	tok, err := jwtauth.Sign([]byte(testSecret), claims)
	require.NoError(t, err)
	return tok
}

func anonKey(t *testing.T) string { return token(t, map[string]any{"role": "anon"}) }

// client is a raw Phoenix client on one socket.
type client struct {
	t     *testing.T
	conn  *websocket.Conn
	mu    sync.Mutex
	wmu   sync.Mutex
	text  [][]any
	bin   [][]byte
	ref   int
	close chan struct{}
	v1    bool // frames arrived as 1.0.0 objects
	vsn1  bool // send 1.0.0 objects
}

func dial(t *testing.T, w *testWorker, key string) *client {
	return dialVsn(t, w, key, "2.0.0")
}

func dialVsn(t *testing.T, w *testWorker, key, vsn string) *client {
	u := "ws://" + w.addr + "/realtime/v1/websocket?vsn=" + vsn + "&apikey=" + key
	conn, resp, err := websocket.DefaultDialer.Dial(u, nil)
	require.NoError(t, err)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	c := &client{t: t, conn: conn, close: make(chan struct{})}
	go func() {
		defer close(c.close)
		for {
			mt, data, err := conn.ReadMessage()
			if err != nil {
				return
			}
			c.mu.Lock()
			if mt == websocket.BinaryMessage {
				c.bin = append(c.bin, data)
			} else {
				var arr []any
				var obj struct {
					JoinRef any    `json:"join_ref"`
					Ref     any    `json:"ref"`
					Topic   string `json:"topic"`
					Event   string `json:"event"`
					Payload any    `json:"payload"`
				}
				if json.Unmarshal(data, &arr) == nil {
					c.text = append(c.text, arr)
				} else if json.Unmarshal(data, &obj) == nil {
					c.v1 = true
					c.text = append(c.text, []any{obj.JoinRef, obj.Ref, obj.Topic, obj.Event, obj.Payload})
				}
			}
			c.mu.Unlock()
		}
	}()
	t.Cleanup(func() { conn.Close() })
	return c
}

func (c *client) send(joinRef, topic, event string, payload any) string {
	c.mu.Lock()
	c.ref++
	ref := itoa(c.ref)
	c.mu.Unlock()
	var jr any
	if joinRef != "" {
		jr = joinRef
	}
	if joinRef == "self" {
		jr = ref
	}
	data, _ := json.Marshal([]any{jr, ref, topic, event, payload})
	if c.vsn1 {
		data, _ = json.Marshal(map[string]any{"join_ref": jr, "ref": ref, "topic": topic, "event": event, "payload": payload})
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	require.NoError(c.t, c.conn.WriteMessage(websocket.TextMessage, data))
	return ref
}

func (c *client) sendBinary(data []byte) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	require.NoError(c.t, c.conn.WriteMessage(websocket.BinaryMessage, data))
}

// wait returns the first text frame matching fn.
func (c *client) wait(what string, fn func(f []any) bool) []any {
	var found []any
	bustest.Eventually(c.t, 10*time.Second, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, f := range c.text {
			if fn(f) {
				found = f
				return true
			}
		}
		return false
	}, "%s", what)
	return found
}

func (c *client) frames(fn func(f []any) bool) [][]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out [][]any
	for _, f := range c.text {
		if fn(f) {
			out = append(out, f)
		}
	}
	return out
}

func (c *client) reply(ref string) map[string]any {
	f := c.wait("reply to "+ref, func(f []any) bool { return f[1] == ref && f[3] == "phx_reply" })
	return f[4].(map[string]any)
}

// join joins a topic and returns its join ref and the reply payload.
func (c *client) join(topic string, payload map[string]any) (string, map[string]any) {
	ref := c.send("self", topic, "phx_join", payload)
	return ref, c.reply(ref)
}

func (c *client) mustJoin(topic string, payload map[string]any) string {
	ref, rep := c.join(topic, payload)
	require.Equal(c.t, "ok", rep["status"], "join %s: %v", topic, rep)
	return ref
}

func event(topic, ev string) func([]any) bool {
	return func(f []any) bool { return f[2] == topic && f[3] == ev }
}

func TestProtocolBasics(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, false)
	w := cl.worker("a")
	c := dial(t, w, anonKey(t))

	hb := c.send("", "phoenix", "heartbeat", map[string]any{})
	assert.Equal(t, map[string]any{"status": "ok", "response": map[string]any{}}, c.reply(hb))

	for _, tc := range []struct {
		name, topic string
		payload     map[string]any
		reason      string
	}{
		{"empty topic name", "realtime:", map[string]any{}, "TopicNameRequired"},
		{"bad access token", "realtime:x", map[string]any{"access_token": "nope"}, "InvalidJWTToken"},
		{"expired token", "realtime:y", map[string]any{"access_token": token(t, map[string]any{"role": "authenticated", "exp": time.Now().Add(-time.Hour).Unix()})}, "InvalidJWTToken: Token has expired"},
		{"changes without a database", "realtime:z", map[string]any{"config": map[string]any{"postgres_changes": []any{map[string]any{"event": "*", "schema": "public"}}}}, "UnableToConnectToProject"},
	} {
		_, rep := c.join(tc.topic, tc.payload)
		assert.Equal(t, "error", rep["status"], tc.name)
		assert.Contains(t, rep["response"].(map[string]any)["reason"], tc.reason, tc.name)
	}

	// Limit: 3 channels per socket in this cluster.
	for _, n := range []string{"a", "b", "c"} {
		c.mustJoin("realtime:lim-"+n, map[string]any{})
	}
	_, rep := c.join("realtime:lim-d", map[string]any{})
	assert.Contains(t, rep["response"].(map[string]any)["reason"], "ChannelRateLimitReached")

	// Leave: reply then phx_close with the join ref.
	jr := c.frames(func(f []any) bool { return f[2] == "realtime:lim-a" && f[3] == "phx_reply" })[0][0].(string)
	lv := c.send(jr, "realtime:lim-a", "phx_leave", map[string]any{})
	assert.Equal(t, "ok", c.reply(lv)["status"])
	cl2 := c.wait("phx_close", event("realtime:lim-a", "phx_close"))
	assert.Equal(t, jr, cl2[0])

	// Unknown topic gets an error reply.
	u := c.send("9", "realtime:never", "broadcast", map[string]any{})
	assert.Equal(t, "error", c.reply(u)["status"])

	// Duplicate join closes the old instance.
	jr2 := c.mustJoin("realtime:lim-b", map[string]any{})
	assert.NotEmpty(t, c.frames(func(f []any) bool { return f[2] == "realtime:lim-b" && f[3] == "phx_close" }))
	_ = jr2

	// Oversized payload with ack: error reply.
	jr3 := c.mustJoin("realtime:big", map[string]any{"config": map[string]any{"broadcast": map[string]any{"ack": true}}})
	_ = jr3
	big := c.send(jr3, "realtime:big", "broadcast", map[string]any{"type": "broadcast", "event": "e", "payload": map[string]any{"x": strings.Repeat("a", 5000)}})
	assert.Equal(t, "error", c.reply(big)["status"])

	// Flood: beyond 200 messages per second the channel is closed.
	f := dial(t, w, anonKey(t))
	fj := f.mustJoin("realtime:flood", map[string]any{})
	for i := 0; i < 300; i++ {
		f.send(fj, "realtime:flood", "broadcast", map[string]any{"type": "broadcast", "event": "e", "payload": map[string]any{}})
	}
	sys := f.wait("flood error", event("realtime:flood", "system"))
	assert.Equal(t, "Too many messages per second", sys[4].(map[string]any)["message"])
	f.wait("flood close", event("realtime:flood", "phx_close"))

	// replication_ready without a database: system error and close.
	r := dial(t, w, anonKey(t))
	r.mustJoin("realtime:repl", map[string]any{"config": map[string]any{"broadcast": map[string]any{"replication_ready": true}}})
	sys = r.wait("replication error", event("realtime:repl", "system"))
	assert.Equal(t, "error", sys[4].(map[string]any)["status"])
	r.wait("replication close", event("realtime:repl", "phx_close"))
}

func TestProtocolVersion1(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, false)
	w := cl.worker("a")
	a := dialVsn(t, w, anonKey(t), "1.0.0")
	a.vsn1 = true
	b := dial(t, w, anonKey(t))
	jr := a.mustJoin("realtime:v1", map[string]any{"config": map[string]any{"broadcast": map[string]any{"self": true}}})
	b.mustJoin("realtime:v1", map[string]any{})
	a.send(jr, "realtime:v1", "broadcast", map[string]any{"type": "broadcast", "event": "e", "payload": map[string]any{"x": 1}})
	f := a.wait("own broadcast as an object", event("realtime:v1", "broadcast"))
	assert.True(t, a.v1)
	assert.Equal(t, "e", f[4].(map[string]any)["event"])
	b.wait("broadcast as an array", event("realtime:v1", "broadcast"))
	// Raw bytes from a 2.0.0 client cannot reach a 1.0.0 client.
	jrB := b.frames(event("realtime:v1", "phx_reply"))[0][0].(string)
	b.sendBinary(kind3(jrB, "", "realtime:v1", "raw", "", 0, []byte{1}))
	b.send(jrB, "realtime:v1", "broadcast", map[string]any{"type": "broadcast", "event": "after", "payload": map[string]any{}})
	a.wait("later broadcast", func(f []any) bool { return f[3] == "broadcast" && f[4].(map[string]any)["event"] == "after" })
	assert.Len(t, a.frames(event("realtime:v1", "broadcast")), 2)
	// Binary frames on a 1.0.0 socket are malformed: the socket closes.
	a.sendBinary(kind3(jr, "", "realtime:v1", "raw", "", 0, []byte{1}))
	select {
	case <-a.close:
	case <-time.After(10 * time.Second):
		t.Fatal("binary frame on a 1.0.0 socket did not close it")
	}
}

func TestHandshakeRejectsBadKeys(t *testing.T) {
	t.Parallel()
	w := newCluster(t, false).worker("a")
	noExp, err := jwtauth.Sign([]byte(testSecret), map[string]any{"role": "anon"})
	require.NoError(t, err)
	for _, tc := range []struct{ name, key, body string }{
		{"none", "", `{"error":"No apikey or access token provided"}`},
		{"garbage", "abc", `{"error":"Invalid token: signature or format is invalid"}`},
		{"no exp", noExp, `{"error":"Fields ` + "`role` and `exp`" + ` are required in JWT"}`},
		{"expired", token(t, map[string]any{"role": "anon", "exp": time.Now().Add(-time.Hour).Unix()}), `{"error":"Token has expired"}`},
	} {
		_, resp, err := websocket.DefaultDialer.Dial("ws://"+w.addr+"/realtime/v1/websocket?vsn=2.0.0&apikey="+tc.key, nil)
		require.Error(t, err, tc.name)
		require.NotNil(t, resp, tc.name)
		assert.Equal(t, 401, resp.StatusCode, tc.name)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.JSONEq(t, tc.body, string(body), tc.name)
	}
	// A plain GET of the socket's route: the upgrade is required.
	resp, err := http.Get("http://" + w.addr + "/realtime/v1/websocket?vsn=2.0.0&apikey=" + anonKey(t))
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, 426, resp.StatusCode)
	assert.JSONEq(t, `{"error":"WebSocket upgrade required"}`, string(body))
}

func TestBroadcastAcrossWorkers(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, false)
	wa, wb := cl.worker("a"), cl.worker("b")
	key := anonKey(t)
	a, b := dial(t, wa, key), dial(t, wb, key)
	const topic = "realtime:room"
	jrA := a.mustJoin(topic, map[string]any{"config": map[string]any{"broadcast": map[string]any{"self": true, "ack": true}}})
	b.mustJoin(topic, map[string]any{"config": map[string]any{}})
	private := dial(t, wb, key)
	// A private channel with the same name is a different bus (service role passes policies).
	private.mustJoin(topic, map[string]any{"config": map[string]any{"private": true}, "access_token": token(t, map[string]any{"role": "service_role"})})

	// 50 binary broadcasts from A arrive in order on B and back on A (self).
	for i := 0; i < 50; i++ {
		a.sendBinary(kind3(jrA, "", topic, "msg", "", 1, []byte(`{"i":`+itoa(i)+`}`)))
	}
	// A text broadcast with ack.
	ref := a.send(jrA, topic, "broadcast", map[string]any{"type": "broadcast", "event": "msg", "payload": map[string]any{"i": 50}})
	assert.Equal(t, "ok", a.reply(ref)["status"])
	for _, c := range []*client{a, b} {
		bustest.Eventually(t, 10*time.Second, func() bool { return len(c.frames(event(topic, "broadcast"))) == 51 }, "51 broadcasts")
		for i, f := range c.frames(event(topic, "broadcast")) {
			p := f[4].(map[string]any)
			assert.Equal(t, "msg", p["event"])
			assert.Equal(t, float64(i), p["payload"].(map[string]any)["i"])
			assert.Nil(t, f[0])
		}
	}
	assert.Empty(t, private.frames(event(topic, "broadcast")))

	// Raw bytes come back as binary kind 4.
	a.sendBinary(kind3(jrA, "", topic, "raw", "", 0, []byte{1, 2, 3}))
	bustest.Eventually(t, 10*time.Second, func() bool { b.mu.Lock(); defer b.mu.Unlock(); return len(b.bin) == 1 }, "binary frame")
	assert.Equal(t, append([]byte{4, byte(len(topic)), 3, 0, 0}, append([]byte(topic+"raw"), 1, 2, 3)...), b.bin[0])
}

func TestPresenceAcrossWorkers(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, false)
	wa, wb := cl.worker("a"), cl.worker("b")
	key := anonKey(t)
	a, b := dial(t, wa, key), dial(t, wb, key)
	const topic = "realtime:lobby"
	cfg := func(k string) map[string]any {
		return map[string]any{"config": map[string]any{"presence": map[string]any{"key": k, "enabled": true}}}
	}
	jrA := a.mustJoin(topic, cfg("alice"))
	st := a.wait("presence_state", event(topic, "presence_state"))
	assert.Equal(t, map[string]any{}, st[4])
	assert.Equal(t, jrA, st[0])
	tr := a.send(jrA, topic, "presence", map[string]any{"type": "presence", "event": "track", "payload": map[string]any{"name": "Alice"}})
	assert.Equal(t, "ok", a.reply(tr)["status"])
	bad := a.send(jrA, topic, "presence", map[string]any{"type": "presence", "event": "track", "payload": "x"})
	assert.Equal(t, "Presence track payload must be a map", a.reply(bad)["response"].(map[string]any)["reason"])

	// B joins later on the other worker and gets Alice in its state.
	bustest.Eventually(t, 10*time.Second, func() bool {
		wb.svc.mu.Lock()
		defer wb.svc.mu.Unlock()
		return len(wb.svc.presence[topicKey{"lobby", false}]) == 1
	}, "alice replicated to worker b")
	jrB := b.mustJoin(topic, cfg("bob"))
	st = b.wait("presence_state", event(topic, "presence_state"))
	metas := st[4].(map[string]any)["alice"].(map[string]any)["metas"].([]any)
	assert.Equal(t, "Alice", metas[0].(map[string]any)["name"])
	assert.NotEmpty(t, metas[0].(map[string]any)["phx_ref"])
	tb := b.send(jrB, topic, "presence", map[string]any{"type": "presence", "event": "track", "payload": map[string]any{"name": "Bob"}})
	assert.Equal(t, "ok", b.reply(tb)["status"])
	a.wait("bob's join diff", func(f []any) bool {
		return f[3] == "presence_diff" && f[4].(map[string]any)["joins"].(map[string]any)["bob"] != nil
	})

	// Worker B dies without saying goodbye: its presences expire on A.
	wb.nc.Close()
	a.wait("bob's leave diff", func(f []any) bool {
		return f[3] == "presence_diff" && f[4].(map[string]any)["leaves"].(map[string]any)["bob"] != nil
	})
}
