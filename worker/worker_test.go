package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/madbase/madbase/bus"
	"github.com/madbase/madbase/bus/bustest"
	"github.com/madbase/madbase/shared/config"
	"github.com/madbase/madbase/shared/secretbox"
	"github.com/madbase/madbase/worker"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// fasthttp's process-wide Date header updater never stops, and a
		// stopped worker pool's cleaner exits only after its idle sleep.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
	)
}

const testSecret = "test-jwt-secret-0123456789abcdef0123456789"

// testConfig is a valid worker configuration without a database, on top of
// which env adds or overrides variables.
func testConfig(t *testing.T, natsURL string, env map[string]string) config.Worker {
	t.Helper()
	m := map[string]string{
		"NATS_URL":       natsURL,
		"WORKER_HOST":    "127.0.0.1",
		"WORKER_PORT":    "0",
		"JWT_SECRET":     testSecret,
		"STORAGE_DIR":    t.TempDir(),
		"SHUTDOWN_GRACE": "10s",
		"INSTANCE_ID":    "w-" + strings.ReplaceAll(t.Name(), "/", "-"),
	}
	for k, v := range env {
		m[k] = v
	}
	var cfg config.Worker
	require.NoError(t, config.Load(&cfg, config.Map(m)))
	return cfg
}

// running is a worker started in-process on a loopback listener.
type running struct {
	url    string
	addr   string
	cancel context.CancelFunc
	done   chan error

	once sync.Once
	err  error
}

func start(t *testing.T, cfg config.Worker, opts worker.Options) *running {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	opts.Listener = ln
	if opts.Log == nil && opts.LogOut == nil {
		opts.LogOut = io.Discard
	}
	if opts.Version == "" {
		opts.Version = "test-version"
	}
	opts.Dev = true // no DATABASE_URL in these tests
	ready := make(chan string, 1)
	opts.Ready = func(u string) { ready <- u }
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{addr: ln.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- worker.Run(ctx, cfg, opts) }()
	select {
	case r.url = <-ready:
	case err := <-r.done:
		cancel()
		t.Fatalf("worker.Run returned before ready: %v", err)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("worker not ready within 10s")
	}
	t.Cleanup(func() {
		if err := r.stop(); err != nil {
			t.Errorf("worker.Run: %v", err)
		}
	})
	return r
}

// stop cancels the worker's context and waits for Run to return.
func (r *running) stop() error {
	r.once.Do(func() {
		r.cancel()
		select {
		case r.err = <-r.done:
		case <-time.After(30 * time.Second):
			r.err = errors.New("Run did not return within 30s of cancel")
		}
	})
	return r.err
}

func newClient(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}
}

func getJSON(t *testing.T, c *http.Client, url string, into any) *http.Response {
	t.Helper()
	resp, err := c.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(body, into), "body: %s", body)
	return resp
}

// blocking is a test-only capability: GET /test/slow answers only once
// release is closed, and started receives a value when it is entered.
type blocking struct {
	started chan struct{}
	release chan struct{}
	once    sync.Once
}

func newBlocking(t *testing.T) *blocking {
	b := &blocking{started: make(chan struct{}, 16), release: make(chan struct{})}
	t.Cleanup(b.unblock)
	return b
}

func (b *blocking) unblock() { b.once.Do(func() { close(b.release) }) }

func (b *blocking) register(r fiber.Router, _ worker.Deps) {
	r.Get("/test/slow", func(c *fiber.Ctx) error {
		b.started <- struct{}{}
		<-b.release
		return c.SendString("slow done")
	})
}

type result struct {
	status int
	body   string
	err    error
}

func getAsync(c *http.Client, url string) <-chan result {
	out := make(chan result, 1)
	go func() {
		resp, err := c.Get(url)
		if err != nil {
			out <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		out <- result{status: resp.StatusCode, body: string(b), err: err}
	}()
	return out
}

func TestWorkerHealth(t *testing.T) {
	t.Parallel()
	s := bustest.RunServer(t)
	cfg := testConfig(t, s.URL(), nil)
	w := start(t, cfg, worker.Options{Version: "1.2.3"})
	c := newClient(t)

	var h struct {
		Status   string `json:"status"`
		ID       string `json:"id"`
		Version  string `json:"version"`
		Draining bool   `json:"draining"`
	}
	resp := getJSON(t, c, w.url+"/health", &h)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("Content-Type"), "application/json")
	assert.NotEmpty(t, resp.Header.Get("X-Request-Id"))
	assert.Equal(t, "ok", h.Status)
	assert.Equal(t, cfg.InstanceID, h.ID)
	assert.Equal(t, "1.2.3", h.Version)
	assert.False(t, h.Draining)

	resp, err := c.Get(w.url + "/metrics")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(body), `madbase_worker_http_requests_total{group="health",status="200"} 1`)
	assert.Contains(t, string(body), "go_goroutines")
	assert.Contains(t, string(body), "process_")
}

func TestWorkerUnknownRouteJSON(t *testing.T) {
	t.Parallel()
	s := bustest.RunServer(t)
	w := start(t, testConfig(t, s.URL(), nil), worker.Options{})
	c := newClient(t)

	// Paths no capability owns: the capabilities answer their own in their
	// surface's error shape (docs/api/*.md; e.g. {"message"} for auth).
	for _, path := range []string{"/nothing/here", "/"} {
		t.Run(path, func(t *testing.T) {
			var body map[string]any
			resp := getJSON(t, c, w.url+path, &body)
			assert.Equal(t, http.StatusNotFound, resp.StatusCode)
			assert.Contains(t, resp.Header.Get("Content-Type"), "application/json")
			assert.Len(t, body, 2, "only error and code: %v", body)
			assert.NotEmpty(t, body["error"])
			assert.EqualValues(t, 404, body["code"])
		})
	}
	// An unknown function gets the edge functions runtime's shape
	// (docs/api/functions.md §2.2).
	var body map[string]any
	resp := getJSON(t, c, w.url+"/functions/v1/anything", &body)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Equal(t, map[string]any{"code": "NOT_FOUND", "message": "Requested function was not found"}, body)
}

func TestWorkerHeartbeats(t *testing.T) {
	t.Parallel()
	s := bustest.RunServer(t)
	nc := bustest.Connect(t, s)
	beats := make(chan *nats.Msg, 1024)
	leaves := make(chan *nats.Msg, 16)
	_, err := nc.ChanSubscribe(bus.AllHeartbeats, beats)
	require.NoError(t, err)
	_, err = nc.ChanSubscribe(bus.AllLeaves, leaves)
	require.NoError(t, err)
	require.NoError(t, nc.Flush())

	slow := newBlocking(t)
	cfg := testConfig(t, s.URL(), nil)
	w := start(t, cfg, worker.Options{Version: "hb-1", Capabilities: []worker.Capability{slow.register}})
	require.True(t, strings.HasPrefix(w.url, "http://127.0.0.1:"), w.url)
	_, port, _ := net.SplitHostPort(w.addr)
	assert.Equal(t, "http://127.0.0.1:"+port, w.url)

	decode := func(m *nats.Msg) bus.Heartbeat {
		var hb bus.Heartbeat
		require.NoError(t, json.Unmarshal(m.Data, &hb))
		return hb
	}

	// The first beat comes at once.
	var first bus.Heartbeat
	select {
	case m := <-beats:
		first = decode(m)
		assert.Equal(t, bus.WorkerHeartbeat(cfg.InstanceID), m.Subject)
	case <-time.After(2 * time.Second):
		t.Fatal("no heartbeat within 2s")
	}
	assert.Equal(t, cfg.InstanceID, first.ID)
	assert.Equal(t, w.url, first.URL)
	assert.Equal(t, "hb-1", first.Version)
	assert.Zero(t, first.InFlight)
	assert.False(t, first.Draining)
	assert.False(t, first.StartedAt.IsZero())

	// A slow request shows in the in-flight count.
	c := newClient(t)
	res := getAsync(c, w.url+"/test/slow")
	<-slow.started
	bustest.Eventually(t, 5*time.Second, func() bool {
		for {
			select {
			case m := <-beats:
				if decode(m).InFlight == 1 {
					return true
				}
			default:
				return false
			}
		}
	}, "a heartbeat with in_flight=1")
	slow.unblock()
	r := <-res
	require.NoError(t, r.err)
	assert.Equal(t, http.StatusOK, r.status)

	// Beats carry the worker's request counters per API.
	assert.Zero(t, first.APIs["rest"].Requests)
	rr, err := c.Get(w.url + "/rest/v1/nothing")
	require.NoError(t, err)
	rr.Body.Close()
	bustest.Eventually(t, 5*time.Second, func() bool {
		for {
			select {
			case m := <-beats:
				if rest := decode(m).APIs["rest"]; rest.Requests == 1 && len(rest.Buckets) == len(bus.APILatencyBounds) {
					return true
				}
			default:
				return false
			}
		}
	}, "a heartbeat counting the REST request")

	// On shutdown: a draining beat, then a leave.
	require.NoError(t, w.stop())
	select {
	case m := <-leaves:
		var l bus.Leave
		require.NoError(t, json.Unmarshal(m.Data, &l))
		assert.Equal(t, bus.WorkerLeave(cfg.InstanceID), m.Subject)
		assert.Equal(t, bus.Leave{ID: cfg.InstanceID, URL: w.url}, l)
	case <-time.After(2 * time.Second):
		t.Fatal("no leave message within 2s of shutdown")
	}
	// The draining beat was published before the leave on the same
	// connection, so it has been delivered by now.
	var sawDraining bool
	for len(beats) > 0 {
		if decode(<-beats).Draining {
			sawDraining = true
		}
	}
	assert.True(t, sawDraining, "a draining heartbeat before leaving")
}

func TestWorkerGracefulShutdown(t *testing.T) {
	t.Parallel()
	s := bustest.RunServer(t)
	slow := newBlocking(t)
	w := start(t, testConfig(t, s.URL(), nil), worker.Options{Capabilities: []worker.Capability{slow.register}})
	c := newClient(t)

	res := getAsync(c, w.url+"/test/slow")
	<-slow.started

	w.cancel()
	// New connections are refused while the slow request is still running.
	bustest.Eventually(t, 5*time.Second, func() bool {
		conn, err := net.DialTimeout("tcp", w.addr, time.Second)
		if err != nil {
			return true
		}
		conn.Close()
		return false
	}, "the listener to be closed")
	select {
	case err := <-w.done:
		t.Fatalf("Run returned while a request was in flight: %v", err)
	default:
	}

	slow.unblock()
	r := <-res
	require.NoError(t, r.err)
	assert.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, "slow done", r.body)
	require.NoError(t, w.stop())

	_, err := c.Get(w.url + "/health")
	assert.Error(t, err, "the worker is gone")
}

func TestLogLevelDebugWorker(t *testing.T) {
	t.Parallel()
	s := bustest.RunServer(t)
	nc := bustest.Connect(t, s)
	logs := make(chan *nats.Msg, 4096)
	_, err := nc.ChanSubscribe(bus.LogsOfTier(worker.Tier), logs)
	require.NoError(t, err)
	require.NoError(t, nc.Flush())

	cfg := testConfig(t, s.URL(), map[string]string{
		"LOG_LEVEL":    "debug",
		"DATABASE_URL": "", // the worker runs without one here
		"REDIS_URL":    "redis://:redis-secret-password@127.0.0.1:6379/0",
	})
	w := start(t, cfg, worker.Options{})
	resp, err := newClient(t).Get(w.url + "/health")
	require.NoError(t, err)
	resp.Body.Close()

	var sawConfig, sawAccess bool
	bustest.Eventually(t, 5*time.Second, func() bool {
		for {
			select {
			case m := <-logs:
				assert.NotContains(t, string(m.Data), testSecret)
				assert.NotContains(t, string(m.Data), "redis-secret-password")
				rec, all, err := bus.ParseLogRecord(m.Data)
				require.NoError(t, err)
				assert.Equal(t, bus.Logs(worker.Tier, cfg.InstanceID), m.Subject)
				assert.Equal(t, "worker", rec.Tier)
				assert.Equal(t, cfg.InstanceID, rec.Instance)
				if rec.Level != "DEBUG" {
					continue
				}
				switch rec.Msg {
				case "worker configuration":
					sawConfig = true
					assert.Equal(t, "debug", all["LOG_LEVEL"])
				case "request":
					sawAccess = sawAccess || all["path"] == "/health"
				}
			default:
				return sawConfig && sawAccess
			}
		}
	}, "debug records (configuration and access log) over NATS")
}

func TestWorkerConfigInvalid(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		env  map[string]string
		dev  bool
		want []string
	}{
		{
			name: "several problems at once",
			env:  map[string]string{"LOG_LEVEL": "loud", "WORKER_PORT": "70000", "STORAGE_BACKEND": "ftp"},
			dev:  true,
			want: []string{"LOG_LEVEL", "WORKER_PORT", "STORAGE_BACKEND"},
		},
		{
			name: "production needs NATS, database and secret",
			env:  map[string]string{"NATS_URL": "", "JWT_SECRET": ""},
			want: []string{"NATS_URL", "DATABASE_URL", "JWT_SECRET"},
		},
		{
			name: "bad advertise URL and short secret",
			env:  map[string]string{"WORKER_ADVERTISE_URL": "ftp://x", "JWT_SECRET": "short"},
			dev:  true,
			want: []string{"WORKER_ADVERTISE_URL", "JWT_SECRET"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig(t, "nats://127.0.0.1:1", tc.env)
			var err error
			require.NotPanics(t, func() {
				err = worker.Run(context.Background(), cfg, worker.Options{Dev: tc.dev, LogOut: io.Discard})
			})
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}

	t.Run("no NATS URL in dev", func(t *testing.T) {
		t.Parallel()
		cfg := testConfig(t, "", nil)
		err := worker.Run(context.Background(), cfg, worker.Options{Dev: true, LogOut: io.Discard})
		require.ErrorIs(t, err, bus.ErrNoURL)
	})
}

// zeros is an endless reader of zero bytes, so the client holds no body.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// Not parallel: it measures the process heap.
func TestWorkerStreamsLargeBody(t *testing.T) {
	const size = 64 << 20
	s := bustest.RunServer(t)

	var (
		mu       sync.Mutex
		peakHeap uint64
	)
	counter := func(r fiber.Router, _ worker.Deps) {
		r.Post("/test/count", func(c *fiber.Ctx) error {
			stream := c.Context().RequestBodyStream()
			if stream == nil {
				return fiber.NewError(fiber.StatusInternalServerError, "no body stream")
			}
			buf := make([]byte, 64<<10)
			var n, sinceSample int64
			sample := func() {
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				mu.Lock()
				peakHeap = max(peakHeap, ms.HeapInuse)
				mu.Unlock()
			}
			for {
				k, err := stream.Read(buf)
				n += int64(k)
				sinceSample += int64(k)
				if sinceSample >= 4<<20 {
					sample()
					sinceSample = 0
				}
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					return err
				}
			}
			sample()
			return c.SendString(strconv.FormatInt(n, 10))
		})
	}
	cfg := testConfig(t, s.URL(), nil)
	w := start(t, cfg, worker.Options{Capabilities: []worker.Capability{counter}})
	c := newClient(t)

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	req, err := http.NewRequest(http.MethodPost, w.url+"/test/count", io.LimitReader(zeros{}, size))
	require.NoError(t, err)
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := c.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	assert.Equal(t, strconv.Itoa(size), string(body))

	mu.Lock()
	defer mu.Unlock()
	growth := int64(peakHeap) - int64(before.HeapInuse)
	t.Logf("heap in use before %d MiB, peak while reading %d MiB", before.HeapInuse>>20, peakHeap>>20)
	assert.Less(t, growth, int64(32<<20), "the body must be streamed, not buffered")
}

func TestWorkerCancelledBeforeStart(t *testing.T) {
	t.Parallel()
	s := bustest.RunServer(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = worker.Run(ctx, testConfig(t, s.URL(), nil), worker.Options{Listener: ln, LogOut: io.Discard, Dev: true})
	require.NoError(t, err)
	_, err = ln.Accept() // not through its port, which another test may have taken since
	assert.ErrorIs(t, err, net.ErrClosed, "the listener is closed")
}

func TestWorkerSharedRegistryIsAnError(t *testing.T) {
	t.Parallel()
	s := bustest.RunServer(t)
	reg := prometheus.NewRegistry()
	start(t, testConfig(t, s.URL(), nil), worker.Options{Registry: reg})
	cfg := testConfig(t, s.URL(), map[string]string{"INSTANCE_ID": "second"})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	err = worker.Run(context.Background(), cfg, worker.Options{Listener: ln, Registry: reg, LogOut: io.Discard, Dev: true})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "registry")
}

// A stream that never ends on its own (WebSocket, SSE) hangs on
// Deps.BaseContext: it outlives the grace period's start and is cancelled
// once the grace period is over, so Run still returns.
func TestWorkerBaseContextEndsStreams(t *testing.T) {
	t.Parallel()
	s := bustest.RunServer(t)
	entered := make(chan struct{}, 1)
	stream := func(r fiber.Router, deps worker.Deps) {
		r.Get("/test/stream", func(c *fiber.Ctx) error {
			entered <- struct{}{}
			<-deps.BaseContext.Done()
			return c.SendString("stream ended")
		})
	}
	w := start(t, testConfig(t, s.URL(), map[string]string{"SHUTDOWN_GRACE": "300ms"}),
		worker.Options{Capabilities: []worker.Capability{stream}})
	res := getAsync(newClient(t), w.url+"/test/stream")
	<-entered
	require.NoError(t, w.stop())
	r := <-res
	require.NoError(t, r.err)
	assert.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, "stream ended", r.body)
}

// A request that outlives the grace period and ignores the base context does
// not keep Run (or its connection) alive.
func TestWorkerGraceExpiredClosesConnections(t *testing.T) {
	t.Parallel()
	s := bustest.RunServer(t)
	stuck := newBlocking(t)
	w := start(t, testConfig(t, s.URL(), map[string]string{"SHUTDOWN_GRACE": "200ms"}),
		worker.Options{Capabilities: []worker.Capability{stuck.register}})
	res := getAsync(newClient(t), w.url+"/test/slow")
	<-stuck.started
	require.NoError(t, w.stop())
	select {
	case r := <-res:
		assert.Error(t, r.err, "the connection was closed under the stuck request")
	case <-time.After(10 * time.Second):
		t.Fatal("the stuck request's connection is still open after Run returned")
	}
}

// TestWorkerReportsProjects: a worker that serves created projects says
// so in its beats (an empty map while it holds none), and its /metrics
// counts requests under the default project's ref.
func TestWorkerReportsProjects(t *testing.T) {
	t.Parallel()
	s := bustest.RunServer(t)
	nc := bustest.Connect(t, s)
	beats := make(chan *nats.Msg, 1024)
	cfg := testConfig(t, s.URL(), map[string]string{"MADBASE_ENCRYPTION_KEY": secretbox.EncodeKey(secretbox.NewKey())})
	_, err := nc.ChanSubscribe(bus.WorkerHeartbeat(cfg.InstanceID), beats)
	require.NoError(t, err)
	require.NoError(t, nc.Flush())
	w := start(t, cfg, worker.Options{})

	select {
	case m := <-beats:
		assert.Contains(t, string(m.Data), `"projects":{}`)
	case <-time.After(5 * time.Second):
		t.Fatal("no heartbeat")
	}
	c := newClient(t)
	res, err := c.Get(w.url + "/rest/v1/nothing-here")
	require.NoError(t, err)
	res.Body.Close()
	res, err = c.Get(w.url + "/metrics")
	require.NoError(t, err)
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	assert.Regexp(t, `madbase_worker_project_requests_total\{class="[45]xx",project="`+cfg.DefaultProjectRef+`"\} 1`, string(body))
}
