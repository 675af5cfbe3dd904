package edge_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/madbase/madbase/bus"
	"github.com/madbase/madbase/bus/bustest"
	"github.com/madbase/madbase/bus/embedded"
	"github.com/madbase/madbase/edge"
	"github.com/madbase/madbase/edge/internal/pool"
	"github.com/madbase/madbase/shared/config"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"
)

// waitLong bounds every wait for an event that should come soon (the edge
// up, a worker known, a connection closed): generous, so that a loaded
// machine (the race detector, other test binaries on the same cores) does
// not fail a test; only a failing test waits that long.
const waitLong = 30 * time.Second

// env is one test's platform: an embedded NATS server and a running edge.
type env struct {
	t     *testing.T
	nats  *embedded.Server
	nc    *nats.Conn
	url   string
	tr    *pool.Transport
	stop  context.CancelFunc
	done  chan error
	extra map[string]string
}

type envOption func(map[string]string)

func withEnv(k, v string) envOption { return func(m map[string]string) { m[k] = v } }

func startEdge(t *testing.T, opts ...envOption) *env {
	t.Helper()
	return startEdgeAfter(t, nil, opts...)
}

// startEdgeAfter is startEdge with before run on the NATS server first.
func startEdgeAfter(t *testing.T, before func(ns *embedded.Server), opts ...envOption) *env {
	t.Helper()
	ns := bustest.RunServer(t)
	if before != nil {
		before(ns)
	}
	e := startEdgeOn(t, ns.URL(), bustest.Connect(t, ns), opts...)
	e.nats = ns
	return e
}

// startEdgeOn starts an edge against the NATS server at natsURL, with nc as
// the test's own connection (for beats and leaves).
func startEdgeOn(t *testing.T, natsURL string, nc *nats.Conn, opts ...envOption) *env {
	t.Helper()
	e := &env{t: t, nc: nc, tr: &pool.Transport{}, done: make(chan error, 1)}
	vars := map[string]string{"NATS_URL": natsURL, "LOG_LEVEL": "warn", "CONTROL_UPSTREAM_URL": ""}
	// The suite runs with two event loops, both serving (at the tests'
	// light load the default has one serving, and what passes between
	// loops is tested too), again with MADBASE_TEST_EDGE_EVENT_LOOPS=-1,
	// the goroutine engine alone, and with =0, the default.
	vars["EDGE_EVENT_LOOPS"] = strconv.Itoa(testEventLoops)
	if v := os.Getenv("MADBASE_TEST_EDGE_EVENT_LOOPS"); v != "" {
		vars["EDGE_EVENT_LOOPS"] = v
	}
	for _, o := range opts {
		o(vars)
	}
	var cfg config.Edge
	require.NoError(t, config.Load(&cfg, config.Map(vars)))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	e.url = "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	e.stop = cancel
	go func() {
		e.done <- edge.Run(ctx, cfg, edge.Options{Listener: ln, Transport: e.tr, LogOut: discard{}})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-e.done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("edge.Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("edge did not stop")
		}
	})
	bustest.Eventually(t, waitLong, func() bool {
		r, err := healthClient.Get(e.url + "/health")
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == 200
	}, "edge /health")
	return e
}

// loops reports whether the edge serves API requests with its event loops.
func (e *env) loops() bool { return loopsEngine() }

// testEventLoops is how many loops the tests' edges run unless
// MADBASE_TEST_EDGE_EVENT_LOOPS says otherwise.
const testEventLoops = 2

// loopsEngine reports whether this run's edges use their event loops
// (Linux, unless MADBASE_TEST_EDGE_EVENT_LOOPS=-1).
func loopsEngine() bool {
	return runtime.GOOS == "linux" && os.Getenv("MADBASE_TEST_EDGE_EVENT_LOOPS") != "-1"
}

// healthClient asks the edge for /health on a new connection each time, so
// that the harness leaves no connection open that a test's own counts.
var healthClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// fakeWorker is an upstream that beats on NATS like a real worker.
type fakeWorker struct {
	id     string
	srv    *httptest.Server
	hits   atomic.Int64
	cancel context.CancelFunc
	// quiet holds its beats back while set.
	quiet atomic.Bool
}

// addWorker starts an HTTP server with handler h and beats for it every
// 200 ms until the test ends or stopBeats is called.
func (e *env) addWorker(id string, h http.Handler) *fakeWorker {
	e.t.Helper()
	w := &fakeWorker{id: id}
	w.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			rw.WriteHeader(200)
			return
		}
		w.hits.Add(1)
		h.ServeHTTP(rw, r)
	}))
	e.t.Cleanup(w.srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	e.t.Cleanup(cancel)
	go func() {
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			if !w.quiet.Load() {
				e.beat(w.id, w.srv.URL, false)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return w
}

func (e *env) beat(id, url string, draining bool) {
	b, _ := json.Marshal(bus.Heartbeat{ID: id, URL: url, Version: "test", Draining: draining, SentAt: time.Now()})
	_ = e.nc.Publish(bus.WorkerHeartbeat(id), b)
}

func (e *env) leave(id, url string) {
	b, _ := json.Marshal(bus.Leave{ID: id, URL: url})
	_ = e.nc.Publish(bus.WorkerLeave(id), b)
	_ = e.nc.Flush()
}

// waitWorkers waits until the edge reports n healthy workers.
func (e *env) waitWorkers(n int) {
	e.t.Helper()
	bustest.Eventually(e.t, waitLong, func() bool {
		r, err := healthClient.Get(e.url + "/health")
		if err != nil {
			return false
		}
		defer r.Body.Close()
		var h struct {
			Healthy int `json:"workers_healthy"`
		}
		_ = json.NewDecoder(r.Body).Decode(&h)
		return h.Healthy == n
	}, "%d healthy workers", n)
}

func echoHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Seen-Forwarded-For", r.Header.Get("X-Forwarded-For"))
		w.Header().Set("X-Seen-Request-Id", r.Header.Get("X-Request-Id"))
		w.Header().Set("X-Seen-Connection", r.Header.Get("Connection")+"|"+r.Header.Get("Keep-Alive")+"|"+r.Header.Get("X-Hop"))
		_, _ = w.Write([]byte("ok " + r.Method + " " + r.URL.RequestURI()))
	})
}

func jsonError(t *testing.T, body []byte) (string, int) {
	t.Helper()
	var e struct {
		Error string `json:"error"`
		Code  int    `json:"code"`
	}
	require.NoError(t, json.Unmarshal(body, &e), "body: %s", body)
	require.NotEmpty(t, e.Error)
	return e.Error, e.Code
}

func hasPrefix(s, p string) bool { return strings.HasPrefix(s, p) }
