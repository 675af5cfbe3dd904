package realtime

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/madbase/madbase/bus/bustest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const privatePolicies = `
create policy r on realtime.messages for select to authenticated using (realtime.topic() = 'room:' || (auth.jwt()->>'sub'));
create policy w on realtime.messages for insert to authenticated with check (realtime.topic() = 'room:' || (auth.jwt()->>'sub') and extension = 'broadcast');
create policy ro on realtime.messages for select to authenticated using (realtime.topic() = 'readonly');
`

func TestPrivateChannels(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, true)
	cl.exec(t, privatePolicies)
	w := cl.worker("a")
	key := anonKey(t)
	alice := token(t, map[string]any{"role": "authenticated", "sub": "alice"})
	priv := func(tok string, extra map[string]any) map[string]any {
		cfg := map[string]any{"private": true, "broadcast": map[string]any{"self": true, "ack": true}}
		for k, v := range extra {
			cfg[k] = v
		}
		return map[string]any{"config": cfg, "access_token": tok}
	}

	for _, tc := range []struct {
		name, topic, token string
		ok                 bool
	}{
		{"own room", "room:alice", alice, true},
		{"other room", "room:bob", alice, false},
		{"anon", "room:alice", key, false},
		{"read-only topic", "readonly", alice, true},
		{"service role", "room:bob", token(t, map[string]any{"role": "service_role"}), true},
	} {
		c := dial(t, w, key)
		_, rep := c.join("realtime:"+tc.topic, priv(tc.token, nil))
		if tc.ok {
			assert.Equal(t, "ok", rep["status"], tc.name)
		} else {
			assert.Equal(t, "error", rep["status"], tc.name)
			assert.Equal(t, "Unauthorized: You do not have permissions to read from this Channel topic: "+tc.topic, rep["response"].(map[string]any)["reason"], tc.name)
		}
	}

	// Writes: alice's room accepts her broadcasts; the read-only topic drops them.
	c := dial(t, w, key)
	jr := c.mustJoin("realtime:room:alice", priv(alice, nil))
	ro := c.mustJoin("realtime:readonly", priv(alice, nil))
	r1 := c.send(jr, "realtime:room:alice", "broadcast", map[string]any{"type": "broadcast", "event": "e", "payload": map[string]any{}})
	r2 := c.send(ro, "realtime:readonly", "broadcast", map[string]any{"type": "broadcast", "event": "e", "payload": map[string]any{}})
	assert.Equal(t, "ok", c.reply(r1)["status"])
	assert.Equal(t, "ok", c.reply(r2)["status"])
	c.wait("own private broadcast", event("realtime:room:alice", "broadcast"))
	// A presence track is refused by the write policy (broadcast only).
	tr := c.send(jr, "realtime:room:alice", "presence", map[string]any{"type": "presence", "event": "track", "payload": map[string]any{}})
	assert.Equal(t, "error", c.reply(tr)["status"])
	assert.Empty(t, c.frames(event("realtime:readonly", "broadcast")))

	// Policies are re-checked while joined: dropping the read policy closes the readonly channel.
	w.svc.recheck.Store(0)
	cl.exec(t, `drop policy ro on realtime.messages`)
	f0 := c.wait("revoked", event("realtime:readonly", "system"))
	assert.Equal(t, "You no longer have permission to read from this Channel topic: readonly", f0[4].(map[string]any)["message"])

	// access_token refresh to a user without access closes the channel.
	c.send(jr, "realtime:room:alice", "access_token", map[string]any{"access_token": token(t, map[string]any{"role": "authenticated", "sub": "bob"})})
	f := c.wait("system error", event("realtime:room:alice", "system"))
	assert.Equal(t, "You no longer have permission to read from this Channel topic: room:alice", f[4].(map[string]any)["message"])
	c.wait("phx_close", event("realtime:room:alice", "phx_close"))
}

func TestTokenExpiryClosesChannel(t *testing.T) {
	t.Parallel()
	w := newCluster(t, false).worker("a")
	c := dial(t, w, anonKey(t))
	short := token(t, map[string]any{"role": "authenticated", "sub": "u", "exp": time.Now().Add(2 * time.Second).Unix()})
	jr := c.mustJoin("realtime:exp", map[string]any{"access_token": short})
	// sb_ keys and identical tokens are ignored.
	c.send(jr, "realtime:exp", "access_token", map[string]any{"access_token": "sb_publishable_x"})
	f := c.wait("system error", event("realtime:exp", "system"))
	assert.Contains(t, f[4].(map[string]any)["message"], "Token has expired")
	assert.Equal(t, "error", f[4].(map[string]any)["status"])
	cl := c.wait("phx_close", event("realtime:exp", "phx_close"))
	assert.Equal(t, jr, cl[0])
}

// httpPost posts body to w's /realtime/v1 path with key as the apikey
// header, and returns the status, the headers and the body.
func httpPost(t *testing.T, w *testWorker, path, ctype, key string, body []byte) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+w.addr+"/realtime/v1"+path, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", ctype)
	if key != "" {
		req.Header.Set("apikey", key)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, string(b)
}

func TestHTTPBroadcast(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, false)
	wa, wb := cl.worker("a"), cl.worker("b")
	key := anonKey(t)
	c := dial(t, wb, key)
	c.mustJoin("realtime:h", map[string]any{})
	for _, tc := range []struct {
		name, path, ctype, key, body string
		status                       int
		wantBody                     string // "" = empty
	}{
		{"batch", "/api/broadcast", "application/json", key, `{"messages":[{"topic":"h","event":"a","payload":{"n":1}},{"topic":"h","event":"b","payload":{"n":2},"id":"6f1c1a52-0000-4000-8000-000000000001"}]}`, 202, ""},
		{"single", "/api/broadcast/h/events/c", "application/json", key, `{"n":3}`, 202, ""},
		{"single bytes", "/api/broadcast/h/events/d", "application/octet-stream", key, "\x01\x02", 202, ""},
		{"no key", "/api/broadcast", "application/json", "", `{"messages":[]}`, 401, `{"message":"Unauthorized"}`},
		{"bad key", "/api/broadcast", "application/json", "bad", `{"messages":[]}`, 401, `{"message":"Unauthorized"}`},
		{"no messages", "/api/broadcast", "application/json", key, `{}`, 422, `{"message":"body must be {\"messages\": [...]}","error":"body must be {\"messages\": [...]}"}`},
		{"missing event", "/api/broadcast", "application/json", key, `{"messages":[{"topic":"h"}]}`, 422, `{"message":"messages[0]: topic and event are required","error":"messages[0]: topic and event are required"}`},
		{"bad id", "/api/broadcast", "application/json", key, `{"messages":[{"topic":"h","event":"x","id":"1"}]}`, 422, `{"message":"messages[0]: id must be a UUID","error":"messages[0]: id must be a UUID"}`},
		{"bad json", "/api/broadcast/h/events/c", "application/json", key, `{`, 422, `{"message":"the body is not valid JSON","error":"the body is not valid JSON"}`},
		{"bad type", "/api/broadcast/h/events/c", "text/plain", key, `x`, 415, `{"message":"Content-Type must be application/json or application/octet-stream"}`},
		{"too large", "/api/broadcast/h/events/c", "application/json", key, `"` + string(bytes.Repeat([]byte("a"), 5000)) + `"`, 413, `{"message":"Payload too large"}`},
	} {
		status, _, body := httpPost(t, wa, tc.path, tc.ctype, tc.key, []byte(tc.body))
		assert.Equal(t, tc.status, status, tc.name)
		if tc.wantBody == "" {
			assert.Empty(t, body, tc.name)
		} else {
			assert.JSONEq(t, tc.wantBody, body, tc.name)
		}
	}
	bustest.Eventually(t, 10*time.Second, func() bool { return len(c.frames(event("realtime:h", "broadcast"))) == 3 }, "three JSON broadcasts")
	got := c.frames(event("realtime:h", "broadcast"))
	assert.Equal(t, map[string]any{"type": "broadcast", "event": "a", "payload": map[string]any{"n": float64(1)}}, got[0][4])
	assert.Equal(t, map[string]any{"id": "6f1c1a52-0000-4000-8000-000000000001"}, got[1][4].(map[string]any)["meta"])
	assert.Equal(t, "c", got[2][4].(map[string]any)["event"])
	bustest.Eventually(t, 10*time.Second, func() bool { c.mu.Lock(); defer c.mu.Unlock(); return len(c.bin) == 1 }, "one binary broadcast")
}

func TestShutdownEndsSockets(t *testing.T) {
	t.Parallel()
	w := newCluster(t, false).worker("a")
	c := dial(t, w, anonKey(t))
	c.mustJoin("realtime:bye", map[string]any{})
	w.cancel()
	select {
	case <-c.close:
	case <-time.After(10 * time.Second):
		t.Fatal("socket still open after the worker's base context ended")
	}
}

func TestReplayAndUnavailableChanges(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, true)
	cl.exec(t, privatePolicies)
	w := cl.worker("a")
	waitLeader(t, w)
	cl.exec(t, `select realtime.send('{"n":1}', 'old', 'room:alice'); select realtime.send('{"n":2}', 'other', 'room:bob')`)
	alice := token(t, map[string]any{"role": "authenticated", "sub": "alice"})
	c := dial(t, w, anonKey(t))
	c.mustJoin("realtime:room:alice", map[string]any{"access_token": alice, "config": map[string]any{
		"private": true, "broadcast": map[string]any{"replay": map[string]any{"since": 0, "limit": 10}}}})
	f := c.wait("replayed broadcast", func(f []any) bool {
		p, _ := f[4].(map[string]any)
		meta, _ := p["meta"].(map[string]any)
		return f[3] == "broadcast" && meta["replayed"] == true
	})
	p := f[4].(map[string]any)
	assert.Equal(t, "old", p["event"])
	assert.Equal(t, true, p["meta"].(map[string]any)["replayed"])

	_, rep := c.join("realtime:pub", map[string]any{"config": map[string]any{"broadcast": map[string]any{"replay": map[string]any{"since": 0}}}})
	assert.Contains(t, rep["response"].(map[string]any)["reason"], "InvalidReplayConfig")

	// When logical replication is unavailable, a join asking for changes says so.
	w.svc.changes.setUnavailable("the database runs with wal_level=replica")
	_, rep = c.join("realtime:pg", map[string]any{"config": map[string]any{"postgres_changes": []any{map[string]any{"event": "*", "schema": "public"}}}})
	assert.Equal(t, "error", rep["status"])
	assert.Equal(t, "UnableToConnectToProject: postgres_changes are unavailable: the database runs with wal_level=replica", rep["response"].(map[string]any)["reason"])
}

// TestHTTPBroadcastUnreachableDatabase: a private broadcast needs the
// database's policies; while it cannot be reached the batch is a 503 with
// Retry-After, and none of its messages is sent.
func TestHTTPBroadcastUnreachableDatabase(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there now
	pool, err := pgxpool.New(context.Background(), "postgres://madbase@"+addr+"/madbase?connect_timeout=5")
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	cl := newCluster(t, false)
	cl.pool = pool
	w := cl.worker("a")
	c := dial(t, w, anonKey(t))
	c.mustJoin("realtime:h", map[string]any{})
	user := token(t, map[string]any{"role": "authenticated", "sub": "alice"})

	status, header, body := httpPost(t, w, "/api/broadcast", "application/json", user,
		[]byte(`{"messages":[{"topic":"h","event":"public","payload":{}},{"topic":"room:alice","event":"private","payload":{},"private":true}]}`))
	assert.Equal(t, 503, status)
	assert.Equal(t, "1", header.Get("Retry-After"))
	assert.JSONEq(t, `{"message":"Database unavailable, try again shortly"}`, body)
	status, header, body = httpPost(t, w, "/api/broadcast/room:alice/events/private?private=true", "application/json", user, []byte(`{}`))
	assert.Equal(t, 503, status)
	assert.Equal(t, "1", header.Get("Retry-After"))
	assert.JSONEq(t, `{"message":"Database unavailable, try again shortly"}`, body)

	// A public broadcast needs no database; it is the only one delivered.
	status, _, _ = httpPost(t, w, "/api/broadcast/h/events/later", "application/json", user, []byte(`{}`))
	assert.Equal(t, 202, status)
	f := c.wait("the public broadcast", event("realtime:h", "broadcast"))
	assert.Equal(t, "later", f[4].(map[string]any)["event"])
	assert.Len(t, c.frames(event("realtime:h", "broadcast")), 1)
}

// TestHTTPBroadcastErrors: what the broadcast API answers when it cannot
// publish, and on a route it does not have, in realtime's shape.
func TestHTTPBroadcastErrors(t *testing.T) {
	t.Parallel()
	w := newCluster(t, false).worker("a")
	status, _, body := httpPost(t, w, "/api/nope", "application/json", anonKey(t), []byte(`{}`))
	assert.Equal(t, 404, status)
	assert.JSONEq(t, `{"message":"Cannot POST /realtime/v1/api/nope"}`, body)
	w.nc.Close() // the bus is gone: nothing can be published
	status, _, body = httpPost(t, w, "/api/broadcast/h/events/e", "application/json", anonKey(t), []byte(`{}`))
	assert.Equal(t, 500, status)
	assert.JSONEq(t, `{"message":"Unable to broadcast"}`, body)
}
