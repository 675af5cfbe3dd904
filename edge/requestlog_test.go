package edge_test

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/madbase/madbase/bus"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRequestLog: with EDGE_REQUEST_LOG, each request is one info line
// with its method, path, status, duration, worker and request id, and never
// its query string nor a key or token; off (the default), no line at info.
// Requests on one connection: one the event loops serve, then a 404, a
// /health (logged at debug only) and a 502 the goroutine server serves. The
// 502's warning comes after the lines of the others, which are written
// before the connection's next request is read.
func TestRequestLog(t *testing.T) {
	t.Parallel()
	const secret = "SECRET"
	for _, c := range []struct {
		name string
		on   bool
		opts []envOption
	}{
		{"on", true, []envOption{withEnv("EDGE_REQUEST_LOG", "true")}},
		{"off by default", false, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			// Control hangs up on every request: /admin answers 502 and
			// logs a warning.
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			t.Cleanup(func() { _ = ln.Close() })
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					_ = c.Close()
				}
			}()
			e := startEdge(t, append(c.opts, withEnv("LOG_LEVEL", "info"), withEnv("CONTROL_UPSTREAM_URL", "http://"+ln.Addr().String()))...)
			e.addWorker("w1", echoHandler())
			e.waitWorkers(1)
			got := make(chan *nats.Msg, 256)
			sub, err := e.nc.ChanSubscribe(bus.LogsOfTier("edge"), got)
			require.NoError(t, err)
			defer sub.Unsubscribe()
			require.NoError(t, e.nc.Flush())

			rc := dialRaw(t, e)
			resp, _ := rc.do("GET", request("GET", "/rest/v1/items?select=*&apikey="+secret+"-query-key&token="+secret+"-query-token", "",
				"apikey: "+secret+"-header-key", "Authorization: Bearer "+secret+"-bearer", "X-Request-Id: rlog-api"))
			require.Equal(t, 200, resp.StatusCode)
			resp, _ = rc.do("GET", request("GET", "/nope?apikey="+secret+"-query-key", "", "X-Request-Id: rlog-404"))
			require.Equal(t, 404, resp.StatusCode)
			resp, _ = rc.do("GET", request("GET", "/health", "", "X-Request-Id: rlog-health"))
			require.Equal(t, 200, resp.StatusCode)
			resp, _ = rc.do("GET", request("GET", "/admin/v1/workers", "", "X-Request-Id: rlog-end"))
			require.Equal(t, 502, resp.StatusCode)

			lines := map[string]map[string]any{}
			var seen []string
			warned := false
			timeout := time.After(waitLong)
			for !warned || (c.on && lines["rlog-end"] == nil) {
				select {
				case m := <-got:
					assert.NotContains(t, string(m.Data), secret, "a log record holds a key or token")
					rec, attrs, err := bus.ParseLogRecord(m.Data)
					require.NoError(t, err)
					seen = append(seen, string(m.Data))
					switch rec.Msg {
					case "proxy error":
						warned = warned || rec.RequestID == "rlog-end"
					case "request":
						require.False(t, lines[rec.RequestID] != nil, "two lines for %s", rec.RequestID)
						lines[rec.RequestID] = attrs
						assert.Equal(t, "INFO", rec.Level)
					}
				case <-timeout:
					t.Fatalf("no warning or no request line for rlog-end; records: %v", seen)
				}
			}
			if !c.on {
				assert.Empty(t, lines, "EDGE_REQUEST_LOG is off")
				return
			}
			assert.Nil(t, lines["rlog-health"], "/health is logged at debug only")
			for rid, want := range map[string]map[string]any{
				"rlog-api": {"method": "GET", "path": "/rest/v1/items", "status": float64(200), "worker": "w1"},
				"rlog-404": {"method": "GET", "path": "/nope", "status": float64(404), "worker": ""},
				"rlog-end": {"method": "GET", "path": "/admin/v1/workers", "status": float64(502), "worker": ""},
			} {
				line := lines[rid]
				require.NotNil(t, line, "no request line for %s", rid)
				for k, v := range want {
					assert.Equal(t, v, line[k], "%s: %s", rid, k)
				}
				assert.IsType(t, float64(0), line["duration_ms"], rid)
				assert.Equal(t, "proxy", line["component"], rid)
				for k := range line {
					assert.False(t, strings.EqualFold(k, "apikey") || strings.EqualFold(k, "authorization"), "%s logs %s", rid, k)
				}
			}
		})
	}
}

// TestNoRouteAnswer pins the edge's 404 for a path it routes nowhere:
// control answers the same words for its own unknown routes.
func TestNoRouteAnswer(t *testing.T) {
	t.Parallel()
	e := startEdge(t)
	rc := dialRaw(t, e)
	for path, want := range map[string]string{
		"/nope":                       `{"error":"no route for /nope","code":404}`,
		"/nope/x?apikey=k&token=t":    `{"error":"no route for /nope/x","code":404}`,
		"/no%20pe":                    `{"error":"no route for /no%20pe","code":404}`,
		"/healthz":                    `{"error":"no route for /healthz","code":404}`,
		"/rest/v2/items?select=*&x=y": `{"error":"no route for /rest/v2/items","code":404}`,
	} {
		resp, body := rc.do("GET", request("GET", path, ""))
		assert.Equal(t, 404, resp.StatusCode, path)
		assert.Equal(t, "application/json", resp.Header.Get("Content-Type"), path)
		assert.JSONEq(t, want, body, path)
	}
}
