package control_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/madbase/madbase/bus"
	"github.com/madbase/madbase/bus/bustest"
	"github.com/madbase/madbase/bus/embedded"
	"github.com/madbase/madbase/control"
	"github.com/madbase/madbase/shared/config"
	"github.com/madbase/madbase/shared/logging/logtest"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

const testPassword = "correct horse battery staple"

type instance struct {
	url  string
	nats *embedded.Server
	pub  *nats.Conn
	out  *logtest.Buffer
	stop func() error // cancels Run and returns its error
}

// start runs control in-process on a free port against srv (a new embedded
// NATS when nil) and stops it when the test ends.
func start(t *testing.T, srv *embedded.Server, env map[string]string, opts control.Options) *instance {
	t.Helper()
	if srv == nil {
		srv = bustest.RunServer(t)
	}
	inst := startAt(t, srv.URL(), env, opts)
	inst.nats = srv
	inst.pub = bustest.Connect(t, srv)
	return inst
}

// startAt runs control against the NATS server at natsURL, which may be
// down; the instance has no publishing connection.
func startAt(t *testing.T, natsURL string, env map[string]string, opts control.Options) *instance {
	t.Helper()
	vars := map[string]string{"NATS_URL": natsURL, "ADMIN_PASSWORD": testPassword}
	for k, v := range env {
		vars[k] = v
	}
	var cfg config.Control
	require.NoError(t, config.Load(&cfg, config.Map(vars)))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	out := &logtest.Buffer{}
	if opts.LogOut == nil {
		opts.LogOut = out
	}
	opts.Listener = ln
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	ready := make(chan string, 1)
	opts.Ready = func(u string) { ready <- u }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- control.Run(ctx, cfg, opts) }()
	inst := &instance{out: out}
	var once sync.Once
	var runErr error
	inst.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(30 * time.Second):
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				runErr = fmt.Errorf("control.Run did not return within 30s of cancel\n%s\n%s", out.String(), buf)
			}
		})
		return runErr
	}
	t.Cleanup(func() { assert.NoError(t, inst.stop()) })
	select {
	case inst.url = <-ready:
	case err := <-done:
		t.Fatalf("control.Run returned early: %v\n%s", err, out.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("control not ready after 60s\n%s", out.String())
	}
	return inst
}

func (in *instance) get(t *testing.T, path string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, in.url+path, nil)
	require.NoError(t, err)
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res, body
}

func bearer(pw string) http.Header { return http.Header{"Authorization": {"Bearer " + pw}} }

func basic(user, pw string) http.Header {
	return http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))}}
}

var admin = bearer(testPassword)

func (in *instance) publish(t *testing.T, subject string, v any) {
	t.Helper()
	var b []byte
	switch x := v.(type) {
	case []byte:
		b = x
	default:
		var err error
		b, err = json.Marshal(v)
		require.NoError(t, err)
	}
	require.NoError(t, in.pub.Publish(subject, b))
	require.NoError(t, in.pub.Flush())
}

func TestAdminRequiresPassword(t *testing.T) {
	t.Parallel()
	in := start(t, nil, nil, control.Options{Dev: true})
	for _, tc := range []struct {
		name       string
		path       string
		header     http.Header
		wantStatus int
	}{
		{"health needs no auth", "/health", nil, 200},
		{"metrics need no auth", "/metrics", nil, 200},
		{"no auth", "/admin/v1/workers", nil, 401},
		{"wrong bearer", "/admin/v1/workers", bearer("wrong"), 401},
		{"empty bearer", "/admin/v1/workers", bearer(""), 401},
		{"prefix of the password", "/admin/v1/workers", bearer(testPassword[:5]), 401},
		{"wrong basic", "/admin/v1/workers", basic("admin", "wrong"), 401},
		{"garbage basic", "/admin/v1/logs", http.Header{"Authorization": {"Basic %%%"}}, 401},
		{"unknown scheme", "/admin/v1/logs", http.Header{"Authorization": {"Token " + testPassword}}, 401},
		{"unknown admin route without auth", "/admin/v1/nope", nil, 401},
		{"right bearer", "/admin/v1/workers", bearer(testPassword), 200},
		{"right basic, any user", "/admin/v1/workers", basic("whoever", testPassword), 200},
		{"right basic on logs", "/admin/v1/logs", basic("", testPassword), 200},
		{"unknown admin route with auth", "/admin/v1/nope", admin, 404},
	} {
		res, body := in.get(t, tc.path, tc.header)
		require.Equal(t, tc.wantStatus, res.StatusCode, "%s: %s", tc.name, body)
		if tc.wantStatus == 401 {
			assert.Equal(t, `Basic realm="madbase admin"`, res.Header.Get("WWW-Authenticate"), tc.name)
			assert.Contains(t, res.Header.Get("Content-Type"), "application/json", tc.name)
			var e struct {
				Error string `json:"error"`
				Code  int    `json:"code"`
			}
			require.NoError(t, json.Unmarshal(body, &e), tc.name)
			assert.Equal(t, 401, e.Code, tc.name)
			assert.NotEmpty(t, e.Error, tc.name)
			assert.NotContains(t, string(body), testPassword, tc.name)
		}
		if tc.path == "/metrics" {
			assert.Contains(t, string(body), "madbase_control_workers_live")
		}
	}
}

func TestAdminLockedWithoutPassword(t *testing.T) {
	t.Parallel()
	in := start(t, nil, map[string]string{"ADMIN_PASSWORD": ""}, control.Options{Dev: true})
	res, _ := in.get(t, "/admin/v1/workers", bearer(""))
	assert.Equal(t, 401, res.StatusCode)
	res, _ = in.get(t, "/admin/v1/workers", basic("admin", ""))
	assert.Equal(t, 401, res.StatusCode, "an empty password never opens the admin API")
}

func TestRunRefusesWithoutPasswordOutsideDev(t *testing.T) {
	t.Parallel()
	var cfg config.Control
	require.NoError(t, config.Load(&cfg, config.Map(map[string]string{
		"NATS_URL": "nats://127.0.0.1:1", "DATABASE_URL": "postgres://u:p@127.0.0.1:1/db",
	})))
	err := control.Run(context.Background(), cfg, control.Options{LogOut: io.Discard})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ADMIN_PASSWORD")
}

type workersBody struct {
	Workers []struct {
		ID        string    `json:"id"`
		URL       string    `json:"url"`
		Version   string    `json:"version"`
		LastBeat  time.Time `json:"last_beat"`
		InFlight  int64     `json:"in_flight"`
		Draining  bool      `json:"draining"`
		StartedAt time.Time `json:"started_at"`
	} `json:"workers"`
}

func (in *instance) workers(t *testing.T) workersBody {
	t.Helper()
	res, body := in.get(t, "/admin/v1/workers", admin)
	require.Equal(t, 200, res.StatusCode, string(body))
	var wb workersBody
	require.NoError(t, json.Unmarshal(body, &wb), string(body))
	return wb
}

// beater publishes a worker's heartbeat every 200ms until stopped.
func beater(t *testing.T, in *instance, hb bus.Heartbeat) (stop func()) {
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tk := time.NewTicker(200 * time.Millisecond)
		defer tk.Stop()
		for {
			hb.SentAt = time.Now()
			b, _ := json.Marshal(hb)
			_ = in.pub.Publish(bus.WorkerHeartbeat(hb.ID), b)
			select {
			case <-tk.C:
			case <-quit:
				return
			}
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { close(quit); <-done }) }
	t.Cleanup(stop)
	return stop
}

// TestAdminEdgesList: an edge's beats list it on GET /admin/v1/edges with
// the documented fields; it is not a worker.
func TestAdminEdgesList(t *testing.T) {
	t.Parallel()
	in := start(t, nil, nil, control.Options{Dev: true})
	res, body := in.get(t, "/admin/v1/edges", nil)
	require.Equal(t, 401, res.StatusCode, string(body))
	edges := func() []map[string]any {
		res, body := in.get(t, "/admin/v1/edges", admin)
		require.Equal(t, 200, res.StatusCode, string(body))
		var eb struct {
			Edges []map[string]any `json:"edges"`
		}
		require.NoError(t, json.Unmarshal(body, &eb), string(body))
		require.NotNil(t, eb.Edges, "an empty list, not null: %s", body)
		return eb.Edges
	}
	assert.Empty(t, edges())
	started := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	in.publish(t, bus.EdgeHeartbeatSubject("edge-1"), bus.EdgeHeartbeat{ID: "edge-1", URL: "http://127.0.0.1:8000",
		Version: "1.2.3", Connections: 4, WorkersKnown: 2, WorkersHealthy: 1, StartedAt: started, SentAt: time.Now()})
	bustest.Eventually(t, 10*time.Second, func() bool { return len(edges()) == 1 }, "the edge listed")
	e := edges()[0]
	assert.Equal(t, "edge-1", e["id"])
	assert.Equal(t, "http://127.0.0.1:8000", e["url"])
	assert.Equal(t, "1.2.3", e["version"])
	assert.Equal(t, 4.0, e["connections"])
	assert.Equal(t, 2.0, e["workers_known"])
	assert.Equal(t, 1.0, e["workers_healthy"])
	assert.Equal(t, false, e["draining"])
	assert.Equal(t, started.Format(time.RFC3339), e["started_at"])
	assert.NotEmpty(t, e["last_beat"])
	assert.Empty(t, in.workers(t).Workers)
}

// TestAdminMetricsSummary: a worker's per-API counters in its beats become
// a point of GET /admin/v1/metrics/summary.
func TestAdminMetricsSummary(t *testing.T) {
	t.Parallel()
	in := start(t, nil, nil, control.Options{Dev: true})
	type summary struct {
		IntervalSeconds float64  `json:"interval_seconds"`
		APIs            []string `json:"apis"`
		Points          []struct {
			At   time.Time `json:"at"`
			APIs map[string]struct {
				Rate      float64 `json:"rate"`
				ErrorRate float64 `json:"error_rate"`
				P50       float64 `json:"p50_ms"`
				P95       float64 `json:"p95_ms"`
				Mean      float64 `json:"mean_ms"`
			} `json:"apis"`
		} `json:"points"`
	}
	get := func() summary {
		res, body := in.get(t, "/admin/v1/metrics/summary", admin)
		require.Equal(t, 200, res.StatusCode, string(body))
		var s summary
		require.NoError(t, json.Unmarshal(body, &s), string(body))
		require.NotNil(t, s.Points, string(body))
		return s
	}
	s := get()
	assert.Equal(t, 5.0, s.IntervalSeconds)
	assert.Equal(t, []string{"auth", "rest", "storage", "realtime", "functions"}, s.APIs)
	// The worker serves 50 REST requests (5 of them 5xx, 10 ms each)
	// between two beats: whether control first sees it before or after
	// its first sample, the counters grow from one sample to the next.
	started := time.Now().UTC()
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tk := time.NewTicker(200 * time.Millisecond)
		defer tk.Stop()
		for k := int64(1); ; k++ {
			buckets := make([]int64, len(bus.APILatencyBounds))
			for i := range buckets {
				buckets[i] = 50 * k
			}
			hb := bus.Heartbeat{ID: "worker-m", URL: "http://127.0.0.1:9003", StartedAt: started, SentAt: time.Now(),
				APIs: map[string]bus.APIStats{"rest": {Requests: 50 * k, Errors: 5 * k, LatencySum: 0.5 * float64(k), Buckets: buckets}}}
			b, _ := json.Marshal(hb)
			_ = in.pub.Publish(bus.WorkerHeartbeat(hb.ID), b)
			select {
			case <-tk.C:
			case <-quit:
				return
			}
		}
	}()
	t.Cleanup(func() { close(quit); <-done })
	bustest.Eventually(t, 20*time.Second, func() bool {
		for _, p := range get().Points {
			if p.APIs["rest"].Rate > 0 {
				return true
			}
		}
		return false
	}, "a point with the worker's REST traffic")
	for _, p := range get().Points {
		if r := p.APIs["rest"]; r.Rate > 0 {
			assert.Greater(t, r.ErrorRate, 0.0)
			assert.InDelta(t, 10, r.Mean, 1e-6, "0.5 s over 50 requests")
			assert.Greater(t, r.P95, 0.0)
			assert.Equal(t, 0.0, p.APIs["auth"].Rate)
		}
	}
}

func TestAdminWorkersList(t *testing.T) {
	t.Parallel()
	in := start(t, nil, nil, control.Options{Dev: true})
	assert.Empty(t, in.workers(t).Workers)
	startedA := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	startedB := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	stopA := beater(t, in, bus.Heartbeat{ID: "worker-a", URL: "http://127.0.0.1:9001", Version: "1.2.3", InFlight: 7, StartedAt: startedA})
	stopB := beater(t, in, bus.Heartbeat{ID: "worker-b", URL: "http://127.0.0.1:9002", Version: "1.2.4", Draining: true, StartedAt: startedB})

	bustest.Eventually(t, 10*time.Second, func() bool { return len(in.workers(t).Workers) == 2 }, "both workers listed")
	ws := in.workers(t).Workers
	a, b := ws[0], ws[1]
	assert.Equal(t, "worker-a", a.ID, "sorted by id")
	assert.Equal(t, "http://127.0.0.1:9001", a.URL)
	assert.Equal(t, "1.2.3", a.Version)
	assert.Equal(t, int64(7), a.InFlight)
	assert.False(t, a.Draining)
	assert.True(t, a.StartedAt.Equal(startedA))
	assert.WithinDuration(t, time.Now(), a.LastBeat, 5*time.Second)
	assert.Equal(t, "worker-b", b.ID)
	assert.Equal(t, "http://127.0.0.1:9002", b.URL)
	assert.Equal(t, "1.2.4", b.Version)
	assert.True(t, b.Draining)
	assert.True(t, b.StartedAt.Equal(startedB))

	// The raw JSON uses the documented field names.
	_, raw := in.get(t, "/admin/v1/workers", admin)
	for _, f := range []string{`"id"`, `"url"`, `"version"`, `"last_beat"`, `"in_flight"`, `"draining"`, `"started_at"`} {
		assert.Contains(t, string(raw), f)
	}

	// A leave removes a worker at once.
	stopA()
	in.publish(t, bus.WorkerLeave("worker-a"), bus.Leave{ID: "worker-a", URL: "http://127.0.0.1:9001"})
	bustest.Eventually(t, 2*time.Second, func() bool {
		ws := in.workers(t).Workers
		return len(ws) == 1 && ws[0].ID == "worker-b"
	}, "worker-a gone after its leave")

	// A worker whose beats stop disappears after MissedBeatsLimit intervals.
	stopB()
	stopped := time.Now()
	bustest.Eventually(t, 3*bus.HeartbeatInterval+3*time.Second, func() bool { return len(in.workers(t).Workers) == 0 }, "worker-b expired")
	assert.GreaterOrEqual(t, time.Since(stopped), 2*bus.HeartbeatInterval, "not dropped before its beats were missed")

	_, metricsBody := in.get(t, "/metrics", nil)
	assert.Contains(t, string(metricsBody), "madbase_control_workers_live 0")
}

// record is one log line as slog's JSON handler writes it.
func record(at time.Time, level, tier, rid, msg string) []byte {
	m := map[string]any{"time": at.Format(time.RFC3339Nano), "level": level, "msg": msg, "tier": tier, "instance": tier + "-1"}
	if rid != "" {
		m["request_id"] = rid
	}
	b, _ := json.Marshal(m)
	return b
}

func (in *instance) logMsgs(t *testing.T, query url.Values) []string {
	t.Helper()
	res, body := in.get(t, "/admin/v1/logs?"+query.Encode(), admin)
	require.Equal(t, 200, res.StatusCode, string(body))
	var lb struct {
		Logs []map[string]any `json:"logs"`
	}
	require.NoError(t, json.Unmarshal(body, &lb), string(body))
	var out []string
	for _, r := range lb.Logs {
		if msg, _ := r["msg"].(string); strings.HasPrefix(msg, "t:") {
			out = append(out, msg)
		}
	}
	return out
}

func TestAdminLogsFilterAndStream(t *testing.T) {
	t.Parallel()
	in := start(t, nil, nil, control.Options{Dev: true})
	now := time.Now().UTC()
	old := now.Add(-2 * time.Hour)
	recs := []struct {
		tier, level, rid, msg string
		at                    time.Time
	}{
		{"worker", "DEBUG", "r1", "t:worker-debug-r1", old},
		{"worker", "INFO", "r1", "t:worker-info-r1", now},
		{"worker", "WARN", "r2", "t:worker-warn-r2", now},
		{"edge", "INFO", "r2", "t:edge-info-r2", old},
		{"edge", "ERROR", "r3", "t:edge-error-r3", now},
	}
	for _, r := range recs {
		in.publish(t, bus.Logs(r.tier, r.tier+"-1"), record(r.at, r.level, r.tier, r.rid, r.msg))
	}
	in.publish(t, bus.Logs("worker", "w-1"), []byte("not json at all"))
	bustest.Eventually(t, 10*time.Second, func() bool { return len(in.logMsgs(t, nil)) == len(recs) }, "all records collected")
	assert.Equal(t, []string{"t:worker-debug-r1", "t:worker-info-r1", "t:worker-warn-r2", "t:edge-info-r2", "t:edge-error-r3"},
		in.logMsgs(t, nil), "oldest first, in arrival order")

	for _, tc := range []struct {
		name  string
		query url.Values
		want  []string
	}{
		{"tier", url.Values{"tier": {"edge"}}, []string{"t:edge-info-r2", "t:edge-error-r3"}},
		{"level is a minimum", url.Values{"level": {"warn"}}, []string{"t:worker-warn-r2", "t:edge-error-r3"}},
		{"tier and level", url.Values{"tier": {"worker"}, "level": {"info"}}, []string{"t:worker-info-r1", "t:worker-warn-r2"}},
		{"request id", url.Values{"request_id": {"r2"}}, []string{"t:worker-warn-r2", "t:edge-info-r2"}},
		{"since duration", url.Values{"since": {"1h"}, "request_id": {"r1"}}, []string{"t:worker-info-r1"}},
		{"since time", url.Values{"since": {now.Add(-time.Hour).Format(time.RFC3339)}, "tier": {"edge"}}, []string{"t:edge-error-r3"}},
	} {
		assert.Equal(t, tc.want, in.logMsgs(t, tc.query), tc.name)
	}
	res, body := in.get(t, "/admin/v1/logs?tier=worker&limit=1", admin)
	require.Equal(t, 200, res.StatusCode)
	assert.Contains(t, string(body), "t:worker-warn-r2", "limit keeps the newest")
	assert.NotContains(t, string(body), "t:worker-info-r1")
	for _, bad := range []string{"level=loud", "since=yesterday", "limit=-1"} {
		res, body := in.get(t, "/admin/v1/logs?"+bad, admin)
		assert.Equal(t, 400, res.StatusCode, bad)
		assert.Contains(t, string(body), `"code":400`, bad)
	}

	// Stream: only new records matching the filter arrive, as SSE events.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, in.url+"/admin/v1/logs/stream?tier=worker&level=warn", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testPassword)
	res, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, 200, res.StatusCode)
	assert.Contains(t, res.Header.Get("Content-Type"), "text/event-stream")
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	next := func() string {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("stream ended")
			}
			return l
		case <-time.After(10 * time.Second):
			t.Fatal("no line from the stream within 10s")
		}
		return ""
	}
	require.True(t, strings.HasPrefix(next(), ":"), "the stream opens with a comment")
	in.publish(t, bus.Logs("edge", "edge-1"), record(time.Now(), "ERROR", "edge", "", "t:stream-other-tier"))
	in.publish(t, bus.Logs("worker", "worker-1"), record(time.Now(), "INFO", "worker", "", "t:stream-too-low"))
	in.publish(t, bus.Logs("worker", "worker-1"), record(time.Now(), "ERROR", "worker", "r9", "t:stream-match"))
	var data string
	for data == "" {
		l := next()
		if strings.HasPrefix(l, "data: ") {
			data = strings.TrimPrefix(l, "data: ")
		}
	}
	var ev map[string]any
	require.NoError(t, json.Unmarshal([]byte(data), &ev), data)
	assert.Equal(t, "t:stream-match", ev["msg"], "the first event is the matching record: the others were filtered out")
	assert.Equal(t, "r9", ev["request_id"])
	assert.Equal(t, "", next(), "an event ends with a blank line")
}

// TestLogStreamEndsOnShutdown is not parallel so that it can check that Run
// leaves no goroutine behind (parallel tests wait while it runs).
func TestLogStreamEndsOnShutdown(t *testing.T) {
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { // registered first: runs last
		goleak.VerifyNone(t, before,
			// fasthttp's process-wide date updater, and its worker pool cleaner,
			// which notices the stop after its current sleep.
			goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
			goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"))
	})
	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)
	in := start(t, nil, nil, control.Options{Dev: true})
	stopBeats := beater(t, in, bus.Heartbeat{ID: "w", URL: "http://127.0.0.1:9"})
	bustest.Eventually(t, 10*time.Second, func() bool { return len(in.workers(t).Workers) == 1 }, "worker listed")
	stopBeats()
	req, err := http.NewRequest(http.MethodGet, in.url+"/admin/v1/logs/stream", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testPassword)
	res, err := client.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, 200, res.StatusCode)
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		_, _ = io.Copy(io.Discard, res.Body)
	}()
	start := time.Now()
	require.NoError(t, in.stop(), "Run returns cleanly with a stream open")
	assert.Less(t, time.Since(start), 20*time.Second, "an open stream does not hold up shutdown")
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the stream did not end with the server")
	}
}

func TestLogLevelDebugControl(t *testing.T) {
	t.Parallel()
	srv := bustest.RunServer(t)
	sub := bustest.Connect(t, srv)
	got := make(chan *nats.Msg, 1000)
	s, err := sub.ChanSubscribe(bus.LogsOfTier("control"), got)
	require.NoError(t, err)
	require.NoError(t, sub.Flush())
	defer func() { _ = s.Unsubscribe() }()

	in := start(t, srv, map[string]string{"LOG_LEVEL": "debug", "INSTANCE_ID": "ctl-debug",
		"DATABASE_URL": ""}, control.Options{Dev: true})
	var config map[string]any
	deadline := time.After(10 * time.Second)
	for config == nil {
		select {
		case m := <-got:
			assert.NotContains(t, string(m.Data), testPassword, "secrets are never logged")
			rec, all, err := bus.ParseLogRecord(m.Data)
			require.NoError(t, err)
			if rec.Level == "DEBUG" && rec.Msg == "control configuration" {
				assert.Equal(t, "control", rec.Tier)
				assert.Equal(t, "ctl-debug", rec.Instance)
				assert.Equal(t, bus.Logs("control", "ctl-debug"), m.Subject)
				config = all
			}
		case <-deadline:
			t.Fatalf("no debug record from control on NATS\n%s", in.out.String())
		}
	}
	assert.Equal(t, true, config["ADMIN_PASSWORD_SET"])
	assert.NotContains(t, in.out.String(), testPassword)

	// Requests are logged at debug level too, with their request id.
	res, _ := in.get(t, "/health", http.Header{"X-Request-Id": {"rid-debug-1"}})
	require.Equal(t, 200, res.StatusCode)
	bustest.Eventually(t, 10*time.Second, func() bool {
		res, body := in.get(t, "/admin/v1/logs?tier=control&level=debug&request_id=rid-debug-1", admin)
		return res.StatusCode == 200 && strings.Contains(string(body), `"msg":"request"`)
	}, "control's own access log comes back through NATS into the sink")
}

// TestRunStopsRightAfterReady cancels Run as soon as it is ready, when the
// HTTP server may not have taken the listener yet: Run must still return.
func TestRunStopsRightAfterReady(t *testing.T) {
	t.Parallel()
	srv := bustest.RunServer(t)
	for range 20 {
		in := start(t, srv, nil, control.Options{Dev: true})
		require.NoError(t, in.stop())
	}
}

// TestDashboardWired: a running control serves the dashboard, and the
// session its sign-in opens is accepted by the admin API.
func TestDashboardWired(t *testing.T) {
	t.Parallel()
	in := start(t, nil, nil, control.Options{Dev: true})
	res, body := in.get(t, "/dashboard/", nil)
	require.Equal(t, 200, res.StatusCode, string(body))
	assert.Contains(t, res.Header.Get("Content-Security-Policy"), "script-src 'self'")
	assert.Contains(t, string(body), `type="module"`)

	res, err := http.Post(in.url+"/dashboard/session", "application/json", strings.NewReader(`{"password":"`+testPassword+`"}`))
	require.NoError(t, err)
	session, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, 201, res.StatusCode, string(session))
	var cookie *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == "madbase_session" {
			cookie = c
		}
	}
	require.NotNil(t, cookie)
	res, body = in.get(t, "/admin/v1/workers", http.Header{"Cookie": {cookie.String()}})
	assert.Equal(t, 200, res.StatusCode, string(body))
	res, _ = in.get(t, "/admin/v1/workers", http.Header{"Cookie": {"madbase_session=forged"}})
	assert.Equal(t, 401, res.StatusCode)
}
