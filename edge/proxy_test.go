package edge_test

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/madbase/madbase/bus"
	"github.com/madbase/madbase/bus/bustest"
	"github.com/madbase/madbase/bus/embedded"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func hashHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		fmt.Fprintf(w, "%d %s %d", n, hex.EncodeToString(h.Sum(nil)), r.ContentLength)
	})
}

func TestProxyForwardsBody(t *testing.T) {
	t.Parallel()
	e := startEdge(t)
	e.addWorker("w1", hashHandler())
	e.waitWorkers(1)

	payload := make([]byte, 1<<20)
	_, _ = rand.Read(payload)
	sum := sha256.Sum256(payload)
	want := fmt.Sprintf("%d %s", len(payload), hex.EncodeToString(sum[:]))

	// Known length.
	resp, err := http.Post(e.url+"/rest/v1/upload", "application/octet-stream", bytes.NewReader(payload))
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode, string(body))
	assert.Equal(t, want+" 1048576", string(body))

	// Unknown length: chunked on both hops.
	resp, err = http.Post(e.url+"/storage/v1/upload", "application/octet-stream", io.MultiReader(bytes.NewReader(payload[:1000]), bytes.NewReader(payload[1000:])))
	require.NoError(t, err)
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode, string(body))
	assert.Equal(t, want+" -1", string(body))
}

func TestProxyStreamsResponse(t *testing.T) {
	t.Parallel()
	e := startEdge(t)
	release := make(chan struct{})
	e.addWorker("w1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/rest/v1/sse" {
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "data: first\n\n")
			w.(http.Flusher).Flush()
			<-release
			fmt.Fprint(w, "data: second\n\n")
			return
		}
		// A large response with a known length, whose second half is only
		// written after the client has seen the first.
		w.Header().Set("Content-Length", fmt.Sprint(8<<20))
		chunk := bytes.Repeat([]byte("x"), 4<<20)
		_, _ = w.Write(chunk)
		w.(http.Flusher).Flush()
		<-release
		_, _ = w.Write(chunk)
	}))
	e.waitWorkers(1)

	resp, err := http.Get(e.url + "/storage/v1/object/big")
	require.NoError(t, err)
	defer resp.Body.Close()
	first := make([]byte, 1<<20)
	_, err = io.ReadFull(resp.Body, first) // arrives while the worker is still blocked
	require.NoError(t, err)
	assert.Equal(t, "8388608", resp.Header.Get("Content-Length"))

	sse, err := http.Get(e.url + "/rest/v1/sse")
	require.NoError(t, err)
	defer sse.Body.Close()
	assert.Equal(t, "text/event-stream", sse.Header.Get("Content-Type"))
	br := bufio.NewReader(sse.Body)
	line, err := br.ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "data: first\n", line)

	close(release)
	rest, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, 7<<20, len(rest))
	tail, err := io.ReadAll(br)
	require.NoError(t, err)
	assert.Equal(t, "\ndata: second\n\n", string(tail))
}

func TestProxyRoundRobin(t *testing.T) {
	t.Parallel()
	e := startEdge(t)
	e.addWorker("w1", echoHandler())
	e.addWorker("w2", echoHandler())
	e.waitWorkers(2)
	// The event loops serve the plain path; a percent-escaped one goes to
	// the goroutine server. Both take their turn from one round robin, so
	// consecutive requests alternate whichever serves them.
	count := map[string]int{}
	var order []string
	for i := 0; i < 8; i++ {
		path := "/rest/v1/items"
		if i%2 == 1 {
			path = "/rest/v1/it%65ms"
		}
		resp, err := http.Get(e.url + path)
		require.NoError(t, err)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode)
		worker := resp.Header.Get("X-Madbase-Worker")
		count[worker]++
		order = append(order, worker)
	}
	assert.Equal(t, map[string]int{"w1": 4, "w2": 4}, count)
	for i := 1; i < len(order); i++ {
		assert.NotEqual(t, order[i-1], order[i], "requests %d and %d went to the same worker: %v", i-1, i, order)
	}
}

func TestProxySharedClient(t *testing.T) {
	t.Parallel()
	// One worker known only from the static list (probed every second), one
	// from NATS heartbeats.
	static := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Seen-Forwarded-For", r.Header.Get("X-Forwarded-For"))
		_, _ = w.Write([]byte("ok"))
	}))
	defer static.Close()
	s := startEdge(t, withEnv("WORKER_UPSTREAM_URLS", static.URL))
	s.addWorker("w2", echoHandler())
	s.waitWorkers(2)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	deadline := time.Now().Add(2500 * time.Millisecond)
	n := 0
	for time.Now().Before(deadline) || n < 200 {
		resp, err := client.Get(s.url + "/rest/v1/items")
		require.NoError(t, err)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode)
		n++
	}
	// Two upstreams; requests and health probes share one pooled client per
	// upstream, so a handful of connections serve everything.
	assert.LessOrEqual(t, s.tr.Dials.Load(), int64(4), "connections opened for %d requests and probes", n)
	assert.GreaterOrEqual(t, s.tr.Dials.Load(), int64(2))
}

func TestProxyWebSocket(t *testing.T) {
	t.Parallel()
	e := startEdge(t)
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	e.addWorker("w1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("apikey") != "good" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(401)
			_, _ = w.Write([]byte(`{"error":"bad key","code":401}`))
			return
		}
		c, err := up.Upgrade(w, r, http.Header{"X-Upstream": {"yes"}})
		if err != nil {
			return
		}
		defer c.Close()
		for {
			mt, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			if err := c.WriteMessage(mt, append([]byte("echo:"), msg...)); err != nil {
				return
			}
		}
	}))
	e.waitWorkers(1)
	wsURL := "ws" + strings.TrimPrefix(e.url, "http") + "/realtime/v1/websocket?apikey=good&vsn=2.0.0"
	c, resp, err := websocket.DefaultDialer.Dial(wsURL, http.Header{"Origin": {"http://app.example"}})
	require.NoError(t, err)
	defer c.Close()
	assert.Equal(t, "w1", resp.Header.Get("X-Madbase-Worker"))
	assert.Equal(t, "yes", resp.Header.Get("X-Upstream"))
	for i := 0; i < 20; i++ {
		msg := fmt.Sprintf("hello %d", i)
		require.NoError(t, c.WriteMessage(websocket.TextMessage, []byte(msg)))
		_, got, err := c.ReadMessage()
		require.NoError(t, err)
		assert.Equal(t, "echo:"+msg, string(got))
	}
	big := bytes.Repeat([]byte{1, 2, 3}, 100000)
	require.NoError(t, c.WriteMessage(websocket.BinaryMessage, big))
	mt, got, err := c.ReadMessage()
	require.NoError(t, err)
	assert.Equal(t, websocket.BinaryMessage, mt)
	assert.Equal(t, append([]byte("echo:"), big...), got)

	// A refused upgrade comes back as the worker's own answer.
	_, resp, err = websocket.DefaultDialer.Dial(strings.Replace(wsURL, "good", "bad", 1), nil)
	require.Error(t, err)
	require.NotNil(t, resp)
	assert.Equal(t, 401, resp.StatusCode)
	body, _ := io.ReadAll(resp.Body)
	assert.JSONEq(t, `{"error":"bad key","code":401}`, string(body))
}

func workerOf(t *testing.T, url string) (string, int) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.Header.Get("X-Madbase-Worker"), resp.StatusCode
}

func TestProxyDiscovery(t *testing.T) {
	t.Parallel()
	e := startEdge(t)
	a := e.addWorker("wa", echoHandler())
	e.waitWorkers(1)
	id, _ := workerOf(t, e.url+"/rest/v1/x")
	assert.Equal(t, "wa", id)

	// A new worker gets traffic once its first beat arrived.
	b := e.addWorker("wb", echoHandler())
	bustest.Eventually(t, waitLong, func() bool {
		id, _ := workerOf(t, e.url+"/rest/v1/x")
		return id == "wb"
	}, "new worker got no traffic")

	// Leave: no more traffic at once.
	b.cancel()
	e.leave("wb", b.srv.URL)
	bustest.Eventually(t, waitLong, func() bool {
		for i := 0; i < 4; i++ {
			if id, _ := workerOf(t, e.url+"/rest/v1/x"); id != "wa" {
				return false
			}
		}
		return true
	}, "traffic only to wa after wb left")
	hitsB := b.hits.Load()
	for i := 0; i < 6; i++ {
		id, _ := workerOf(t, e.url+"/rest/v1/x")
		assert.Equal(t, "wa", id)
	}
	assert.Equal(t, hitsB, b.hits.Load())

	// Missed beats: a drops out after 3 intervals, and then nobody serves.
	a.cancel()
	start := time.Now()
	bustest.Eventually(t, waitLong, func() bool {
		_, status := workerOf(t, e.url+"/rest/v1/x")
		return status == 503
	}, "503 once wa stops beating")
	assert.GreaterOrEqual(t, time.Since(start), 2*time.Second, "dropped before 3 missed beats")
}

// A starting edge asks the workers' micro service who is there, and serves
// at once: here the only worker never beats.
func TestProxySeedsFromWorkerServices(t *testing.T) {
	t.Parallel()
	up := httptest.NewServer(echoHandler())
	t.Cleanup(up.Close)
	e := startEdgeAfter(t, func(ns *embedded.Server) {
		svc, err := micro.AddService(bustest.Connect(t, ns), micro.Config{
			Name: bus.WorkerService, Version: "0.0.0",
			Metadata: map[string]string{bus.ServiceMetaID: "quiet", bus.ServiceMetaURL: up.URL},
		})
		require.NoError(t, err)
		t.Cleanup(func() { _ = svc.Stop() })
	})
	// No heartbeat ever comes: only the answer to the edge's question can
	// put the worker in its pool.
	bustest.Eventually(t, waitLong, func() bool {
		id, status := workerOf(t, e.url+"/rest/v1/x")
		return status == 200 && id == "quiet"
	}, "the worker found at start serves")
}

func TestProxyDrainingWorkerGetsNoTraffic(t *testing.T) {
	t.Parallel()
	e := startEdge(t)
	e.addWorker("w1", echoHandler())
	w2 := e.addWorker("w2", echoHandler())
	e.waitWorkers(2)
	w2.cancel()
	e.beat("w2", w2.srv.URL, true)
	e.waitWorkers(1)
	for i := 0; i < 4; i++ {
		id, _ := workerOf(t, e.url+"/rest/v1/x")
		assert.Equal(t, "w1", id)
	}
}

func TestProxyRetriesDialError(t *testing.T) {
	t.Parallel()
	e := startEdge(t)
	good := e.addWorker("good", hashHandler())
	// A worker that beats but refuses connections: its port is closed.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	deadURL := "http://" + ln.Addr().String()
	ln.Close()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			e.beat("dead", deadURL, false)
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	bustest.Eventually(t, waitLong, func() bool {
		r, err := http.Get(e.url + "/health")
		if err != nil {
			return false
		}
		defer r.Body.Close()
		var h struct {
			Known int `json:"workers_known"`
		}
		_ = json.NewDecoder(r.Body).Decode(&h)
		return h.Known == 2
	}, "two workers known")
	for i := 0; i < 6; i++ {
		resp, err := http.Post(e.url+"/rest/v1/x", "text/plain", strings.NewReader("payload"))
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode, string(body))
		assert.Equal(t, "good", resp.Header.Get("X-Madbase-Worker"))
		assert.True(t, hasPrefix(string(body), "7 "), string(body))
	}
	assert.Equal(t, int64(6), good.hits.Load())
	e.waitWorkers(1) // the refusing one is out of rotation despite its beats
}

func TestProxyStaleConnAfterWorkerRestart(t *testing.T) {
	t.Parallel()
	// A request with a body must never be written to a closed connection
	// (the body could not be sent again); the edge checks before writing.
	testStaleConn(t, http.MethodPost, "abc")
}

// TestProxyStaleConnGETAfterWorkerRestart covers bodyless GET and HEAD,
// which skip that check: fasthttp sends them again on a fresh connection.
func TestProxyStaleConnGETAfterWorkerRestart(t *testing.T) {
	t.Parallel()
	testStaleConn(t, http.MethodGet, "")
}

func TestProxyStaleConnHEADAfterWorkerRestart(t *testing.T) {
	t.Parallel()
	testStaleConn(t, http.MethodHead, "")
}

// TestProxyStaleConnBodylessDELETEAfterWorkerRestart: a bodyless request
// that is not idempotent still gets the check, never a second send.
func TestProxyStaleConnBodylessDELETEAfterWorkerRestart(t *testing.T) {
	t.Parallel()
	testStaleConn(t, http.MethodDelete, "")
}

func testStaleConn(t *testing.T, method, body string) {
	e := startEdge(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	var hits atomic.Int64
	serve := func(ln net.Listener) *http.Server {
		s := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/health" {
				return
			}
			hits.Add(1)
			hashHandler().ServeHTTP(w, r)
		})}
		go s.Serve(ln)
		return s
	}
	s1 := serve(ln)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			e.beat("w", "http://"+addr, false)
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	e.waitWorkers(1)
	send := func() int {
		var rb io.Reader
		if body != "" {
			rb = strings.NewReader(body)
		}
		req, err := http.NewRequest(method, e.url+"/rest/v1/x", rb)
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if method != http.MethodHead && resp.StatusCode == 200 {
			assert.True(t, hasPrefix(string(b), fmt.Sprintf("%d ", len(body))), string(b))
		}
		return resp.StatusCode
	}
	// Several pooled connections to the worker.
	done := make(chan int, 8)
	for i := 0; i < 8; i++ {
		go func() { done <- send() }()
	}
	for i := 0; i < 8; i++ {
		require.Equal(t, 200, <-done)
	}
	// Restart the worker on the same address: the edge's pooled connections
	// are now closed by the peer.
	require.NoError(t, s1.Close())
	ln2, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	s2 := serve(ln2)
	defer s2.Close()
	time.Sleep(50 * time.Millisecond) // let the FINs arrive
	for i := 0; i < 8; i++ {
		assert.Equal(t, 200, send(), "%s %d after restart", method, i)
	}
	// Each request reached the worker exactly once: a stale connection is
	// never mistaken for one that got the request.
	assert.Equal(t, int64(16), hits.Load())
	switch {
	case e.loops():
		// The event loops drop pooled connections when the worker's FIN
		// arrives, before any request is sent on them.
	case body == "" && (method == http.MethodGet || method == http.MethodHead):
		assert.Positive(t, e.tr.Retries.Load(), "the stale connections were found by sending again")
	default:
		assert.Zero(t, e.tr.Retries.Load())
	}
}

func TestProxyNoWorkers(t *testing.T) {
	t.Parallel()
	e := startEdge(t)
	client := &http.Client{Timeout: waitLong}
	resp, err := client.Get(e.url + "/rest/v1/items")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, 503, resp.StatusCode)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	_, code := jsonError(t, body)
	assert.Equal(t, 503, code)
	assert.Contains(t, string(body), `"request_id"`)

	resp, err = client.Get(e.url + "/nope")
	require.NoError(t, err)
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, 404, resp.StatusCode)
	_, code = jsonError(t, body)
	assert.Equal(t, 404, code)
}

func TestProxyBodyLimit(t *testing.T) {
	t.Parallel()
	e := startEdge(t, withEnv("MAX_BODY_BYTES", "1024"))
	w := e.addWorker("w1", hashHandler())
	e.waitWorkers(1)
	post := func(r io.Reader) (int, string) {
		resp, err := http.Post(e.url+"/storage/v1/object/b/x", "application/octet-stream", r)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(body)
	}
	status, body := post(bytes.NewReader(make([]byte, 2048)))
	assert.Equal(t, 413, status)
	assert.JSONEq(t, `{"error":"request body is larger than the limit","code":413}`, body)
	assert.Equal(t, int64(0), w.hits.Load(), "a body known to be too large never reaches a worker")

	status, body = post(io.MultiReader(bytes.NewReader(make([]byte, 1000)), bytes.NewReader(make([]byte, 1048))))
	assert.Equal(t, 413, status)
	assert.JSONEq(t, `{"error":"request body is larger than the limit","code":413}`, body)

	status, _ = post(bytes.NewReader(make([]byte, 1000)))
	assert.Equal(t, 200, status)
}

func TestProxyHeaders(t *testing.T) {
	t.Parallel()
	e := startEdge(t)
	e.addWorker("w1", echoHandler())
	e.waitWorkers(1)

	req, _ := http.NewRequest("GET", e.url+"/rest/v1/items?select=a,b&id=eq.1", nil)
	req.Header.Set("Connection", "X-Hop")
	req.Header.Set("X-Hop", "secret")
	req.Header.Set("Keep-Alive", "timeout=5")
	req.Header.Set("X-Request-Id", "client-id-123")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, "ok GET /rest/v1/items?select=a,b&id=eq.1", string(body))
	assert.Equal(t, "||", resp.Header.Get("X-Seen-Connection"), "hop-by-hop headers reached the worker")
	assert.Equal(t, "127.0.0.1", resp.Header.Get("X-Seen-Forwarded-For"))
	assert.Equal(t, "client-id-123", resp.Header.Get("X-Seen-Request-Id"))
	assert.Equal(t, "client-id-123", resp.Header.Get("X-Request-Id"))

	resp, err = http.Get(e.url + "/rest/v1/items")
	require.NoError(t, err)
	resp.Body.Close()
	assert.NotEmpty(t, resp.Header.Get("X-Request-Id"))
	assert.Equal(t, resp.Header.Get("X-Request-Id"), resp.Header.Get("X-Seen-Request-Id"))
}

func TestProxyCORS(t *testing.T) {
	t.Parallel()
	e := startEdge(t, withEnv("ALLOWED_ORIGINS", "https://app.example, http://localhost:3000"))
	e.addWorker("w1", echoHandler())
	e.waitWorkers(1)
	pre := func(origin string) *http.Response {
		req, _ := http.NewRequest("OPTIONS", e.url+"/rest/v1/items", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "apikey, authorization, x-client-info, content-type, prefer")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp
	}
	resp := pre("https://app.example")
	assert.Equal(t, 204, resp.StatusCode)
	assert.Equal(t, "https://app.example", resp.Header.Get("Access-Control-Allow-Origin"))
	assert.Contains(t, resp.Header.Get("Access-Control-Allow-Headers"), "apikey")
	assert.Contains(t, resp.Header.Get("Access-Control-Allow-Methods"), "PATCH")
	assert.Equal(t, 403, pre("https://evil.example").StatusCode)

	req, _ := http.NewRequest("GET", e.url+"/rest/v1/items", nil)
	req.Header.Set("Origin", "http://localhost:3000")
	r, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	r.Body.Close()
	assert.Equal(t, "http://localhost:3000", r.Header.Get("Access-Control-Allow-Origin"))
	assert.Contains(t, r.Header.Get("Access-Control-Expose-Headers"), "Content-Range")
}

func TestProxyAdminGoesToControl(t *testing.T) {
	t.Parallel()
	var got atomic.Value
	ctl := http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.URL.RequestURI())
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"workers":[]}`))
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go ctl.Serve(ln)
	defer ctl.Close()
	e := startEdge(t, withEnv("CONTROL_UPSTREAM_URL", "http://"+ln.Addr().String()))
	resp, err := http.Get(e.url + "/admin/v1/workers?x=1")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, `{"workers":[]}`, string(body))
	assert.Equal(t, "/admin/v1/workers?x=1", got.Load())

	// The dashboard is control's too, at the same path.
	resp, err = http.Get(e.url + "/dashboard/assets/app.js")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "/dashboard/assets/app.js", got.Load())
}

func TestEdgeMetrics(t *testing.T) {
	t.Parallel()
	e := startEdge(t)
	e.addWorker("w1", echoHandler())
	e.waitWorkers(1)
	workerOf(t, e.url+"/rest/v1/x")
	resp, err := http.Get(e.url + "/metrics")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`madbase_edge_http_requests_total{group="rest",status="200"}`,
		"madbase_edge_http_request_duration_seconds_bucket",
		"madbase_edge_workers_known 1",
		"madbase_edge_workers_healthy 1",
	} {
		assert.Contains(t, string(body), want)
	}
}

func TestLogLevelDebugEdge(t *testing.T) {
	t.Parallel()
	e := startEdge(t, withEnv("LOG_LEVEL", "debug"))
	got := make(chan *nats.Msg, 64)
	sub, err := e.nc.ChanSubscribe(bus.LogsOfTier("edge"), got)
	require.NoError(t, err)
	defer sub.Unsubscribe()
	require.NoError(t, e.nc.Flush())
	workerOf(t, e.url+"/rest/v1/x")
	timeout := time.After(waitLong)
	for {
		select {
		case m := <-got:
			rec, _, err := bus.ParseLogRecord(m.Data)
			require.NoError(t, err)
			if rec.Level == "DEBUG" && rec.Msg == "request" {
				assert.Equal(t, "edge", rec.Tier)
				assert.NotEmpty(t, rec.RequestID)
				return
			}
		case <-timeout:
			t.Fatal("no debug record from the edge over NATS")
		}
	}
}

func TestProxyHeadNoContentAndAbort(t *testing.T) {
	t.Parallel()
	e := startEdge(t)
	e.addWorker("w1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/storage/v1/object/file":
			w.Header().Set("Content-Length", "12345")
			w.Header().Set("ETag", `"abc"`)
			if r.Method == "HEAD" {
				return
			}
			_, _ = w.Write(make([]byte, 12345))
		case "/rest/v1/nocontent":
			w.WriteHeader(204)
		case "/rest/v1/notmodified":
			w.WriteHeader(304)
		case "/storage/v1/object/abort":
			w.Header().Set("Content-Length", "100000")
			_, _ = w.Write(make([]byte, 1000))
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler) // the worker dies mid-body
		}
	}))
	e.waitWorkers(1)

	resp, err := http.Head(e.url + "/storage/v1/object/file")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, int64(12345), resp.ContentLength)
	assert.Equal(t, `"abc"`, resp.Header.Get("ETag"))

	for path, status := range map[string]int{"/rest/v1/nocontent": 204, "/rest/v1/notmodified": 304} {
		resp, err = http.Get(e.url + path)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, status, resp.StatusCode)
		assert.Empty(t, body)
	}

	// The same connection keeps working after HEAD, 204 and 304.
	resp, err = http.Get(e.url + "/storage/v1/object/file")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Len(t, body, 12345)

	// A worker that dies mid-body gives the client a broken transfer, not a
	// short body that looks complete.
	// (The error shows either before the headers, still buffered in the edge,
	// or while reading the body.)
	resp, err = http.Get(e.url + "/storage/v1/object/abort")
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	assert.Error(t, err)
}

// TestProxyHeadersAnyCase sends header names in lower case, as Node's fetch
// does: hop-by-hop headers must still be stripped, and a client's
// x-forwarded-for and x-request-id extended or kept, never duplicated.
func TestProxyHeadersAnyCase(t *testing.T) {
	t.Parallel()
	e := startEdge(t)
	seen := make(chan http.Header, 1)
	e.addWorker("w1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Clone()
	}))
	e.waitWorkers(1)
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	_, err = fmt.Fprint(conn, "GET /rest/v1/items HTTP/1.1\r\nhost: example.test\r\n"+
		"connection: keep-alive, x-secret\r\nx-secret: s3cr3t\r\nkeep-alive: timeout=5\r\n"+
		"proxy-authorization: Basic eDp5\r\nte: trailers\r\nupgrade: h2c\r\n"+
		"x-forwarded-for: 6.6.6.6\r\nx-request-id: rid-lower\r\n\r\n")
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	h := <-seen
	for _, k := range []string{"X-Secret", "Keep-Alive", "Proxy-Authorization", "Te", "Upgrade"} {
		assert.Empty(t, h.Values(k), "%s reached the worker", k)
	}
	assert.Equal(t, []string{"6.6.6.6, 127.0.0.1"}, h.Values("X-Forwarded-For"))
	assert.Equal(t, []string{"rid-lower"}, h.Values("X-Request-Id"))
	assert.Equal(t, []string{"example.test"}, h.Values("X-Forwarded-Host"))
	assert.Equal(t, "rid-lower", resp.Header.Get("X-Request-Id"))
}

// TestProxyResponseTimeout: a worker that does not start answering within
// UPSTREAM_RESPONSE_TIMEOUT gets a 504; one that answers in time may take as
// long as it needs for the body, however long the pauses in it.
func TestProxyResponseTimeout(t *testing.T) {
	t.Parallel()
	e := startEdge(t, withEnv("UPSTREAM_RESPONSE_TIMEOUT", "300ms"))
	release := make(chan struct{})
	defer close(release)
	e.addWorker("w1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/rest/v1/hang":
			select {
			case <-release:
			case <-r.Context().Done():
			}
		case "/rest/v1/slowbody":
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "text/event-stream")
			for i := 0; i < 3; i++ {
				fmt.Fprintf(w, "data: %d\n\n", i)
				w.(http.Flusher).Flush()
				time.Sleep(400 * time.Millisecond) // longer than the timeout
			}
		}
	}))
	e.waitWorkers(1)

	resp, err := http.Get(e.url + "/rest/v1/hang")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, 504, resp.StatusCode, string(body))

	for _, method := range []string{http.MethodGet, http.MethodPost} {
		var rb io.Reader
		if method == http.MethodPost {
			rb = strings.NewReader("x")
		}
		req, _ := http.NewRequest(method, e.url+"/rest/v1/slowbody", rb)
		resp, err = http.DefaultClient.Do(req)
		require.NoError(t, err)
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		assert.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, "data: 0\n\ndata: 1\n\ndata: 2\n\n", string(body), method)
	}

	// An upload that pauses longer than the timeout is not cut: the wait
	// for the answer starts after its last byte. The connection that timed
	// out above is gone; this one works.
	pr, pw := io.Pipe()
	go func() {
		_, _ = pw.Write([]byte("first "))
		time.Sleep(500 * time.Millisecond)
		_, _ = pw.Write([]byte("second"))
		_ = pw.Close()
	}()
	resp, err = http.Post(e.url+"/rest/v1/slowbody", "text/plain", pr)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
}

// TestProxyForwardedProtoAndHost: a client's X-Forwarded-Proto/Host are
// replaced by what the edge saw (and its Forwarded header dropped), unless EDGE_TRUST_FORWARDED says a proxy
// the operator runs sets them.
func TestProxyForwardedProtoAndHost(t *testing.T) {
	t.Parallel()
	for _, trust := range []bool{false, true} {
		t.Run(fmt.Sprintf("trust=%v", trust), func(t *testing.T) {
			e := startEdge(t, withEnv("EDGE_TRUST_FORWARDED", fmt.Sprint(trust)))
			seen := make(chan http.Header, 1)
			e.addWorker("w1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen <- r.Header.Clone() }))
			e.waitWorkers(1)
			req, _ := http.NewRequest("GET", e.url+"/auth/v1/settings", nil)
			req.Header.Set("X-Forwarded-Proto", "https")
			req.Header.Set("X-Forwarded-Host", "evil.example")
			req.Header.Set("Forwarded", "for=6.6.6.6;host=evil.example;proto=https")
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			h := <-seen
			if trust {
				assert.Equal(t, "https", h.Get("X-Forwarded-Proto"))
				assert.Equal(t, "evil.example", h.Get("X-Forwarded-Host"))
				assert.Equal(t, "for=6.6.6.6;host=evil.example;proto=https", h.Get("Forwarded"))
			} else {
				assert.Empty(t, h.Values("Forwarded"))
				assert.Equal(t, "http", h.Get("X-Forwarded-Proto"))
				assert.Equal(t, strings.TrimPrefix(e.url, "http://"), h.Get("X-Forwarded-Host"))
			}
		})
	}
}

// TestProxyUnparsableRequestJSON: a request the edge cannot parse gets the
// JSON error shape, like every other error.
func TestProxyUnparsableRequestJSON(t *testing.T) {
	t.Parallel()
	e := startEdge(t)
	for name, raw := range map[string]string{
		"broken header line": "GET /rest/v1/x HTTP/1.1\r\nHost: a\r\nbad header line\r\n\r\n",
		"huge header":        "GET /rest/v1/x HTTP/1.1\r\nHost: a\r\nX-Big: " + strings.Repeat("a", 64<<10) + "\r\n\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			conn, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
			require.NoError(t, err)
			defer conn.Close()
			_, _ = fmt.Fprint(conn, raw)
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			require.NoError(t, err)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			assert.GreaterOrEqual(t, resp.StatusCode, 400)
			assert.Less(t, resp.StatusCode, 500)
			assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			_, code := jsonError(t, body)
			assert.Equal(t, resp.StatusCode, code)
		})
	}
}

// TestProxyRetriesIdempotentOnBrokenWorker: a worker that takes a request
// and closes the connection without a byte of answer (as a worker killed
// with kill -9 does) costs an idempotent request nothing: the edge sends it
// to another worker. A POST is never sent twice: it gets a 502 in the JSON
// shape.
func TestProxyRetriesIdempotentOnBrokenWorker(t *testing.T) {
	t.Parallel()
	e := startEdge(t)
	var mu sync.Mutex
	broken := map[string]int{} // requests the broken worker took, by method
	e.addRawWorker("broken", func(w *rawWorker, c net.Conn, _ *bufio.Reader, r *http.Request) bool {
		mu.Lock()
		broken[r.Method]++
		broken[r.Method+" "+r.URL.Path]++
		mu.Unlock()
		return false // closes without answering
	})
	e.addWorker("good", tokenHandler("good"))
	e.waitWorkers(2)
	brokenHits := func(method string) int {
		mu.Lock()
		defer mu.Unlock()
		return broken[method]
	}

	for _, tc := range []struct{ method, body string }{
		{"GET", ""}, {"HEAD", ""}, {"OPTIONS", ""}, {"PUT", ""}, {"DELETE", ""},
	} {
		for i := range 4 {
			target := fmt.Sprintf("/rest/v1/items?i=%d", i)
			resp, body := dialRaw(t, e).do(tc.method, request(tc.method, target, tc.body))
			require.Equal(t, 200, resp.StatusCode, "%s %d: %s", tc.method, i, body)
			assert.Equal(t, "good", resp.Header.Get("X-Madbase-Worker"), "%s %d", tc.method, i)
			if tc.method != "HEAD" {
				assert.Equal(t, tokenAnswer("good", tc.method, target, tc.body), body)
			}
		}
		assert.Positive(t, brokenHits(tc.method), "no %s reached the broken worker: the test tests nothing", tc.method)
	}

	failed := 0
	for i := range 6 {
		resp, body := dialRaw(t, e).do("POST", request("POST", "/rest/v1/items", fmt.Sprintf("row %d", i)))
		if resp.StatusCode == 200 {
			assert.Equal(t, "good", resp.Header.Get("X-Madbase-Worker"))
			continue
		}
		failed++
		assert.Equal(t, 502, resp.StatusCode, body)
		assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
		_, code := jsonError(t, []byte(body))
		assert.Equal(t, 502, code)
	}
	assert.Positive(t, failed, "no POST reached the broken worker")
	assert.Equal(t, brokenHits("POST"), failed, "a POST was sent twice")

	// A PUT whose body the event loops hold whole (it came with the head) is
	// replayed by them; the goroutine engine streams every body, so it
	// never sends one twice.
	failed = 0
	for i := range 6 {
		resp, body := dialRaw(t, e).do("PUT", request("PUT", "/rest/v1/put-body", fmt.Sprintf("row %d", i)))
		if resp.StatusCode == 200 {
			assert.Equal(t, tokenAnswer("good", "PUT", "/rest/v1/put-body", fmt.Sprintf("row %d", i)), body)
			continue
		}
		failed++
		assert.Equal(t, 502, resp.StatusCode, body)
	}
	assert.Positive(t, brokenHits("PUT /rest/v1/put-body"), "no PUT with a body reached the broken worker")
	if e.loops() {
		assert.Zero(t, failed, "a PUT with a buffered body was not replayed")
	} else {
		assert.Equal(t, brokenHits("PUT /rest/v1/put-body"), failed, "a streamed body was sent twice")
	}
}

// TestProxyRoutesOnThePathAsSent: the route group is decided on the path
// the client sent; a path a worker's or control's router could read as
// another resource (an encoded slash, a dot segment, a backslash, a merge of
// empty segments that changes the group) is refused with 400 JSON before it
// reaches anyone, and an accepted path reaches the worker byte for byte.
func TestProxyRoutesOnThePathAsSent(t *testing.T) {
	t.Parallel()
	var controlHits atomic.Int64
	ctl := http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		controlHits.Add(1)
		_, _ = w.Write([]byte(`{"workers":[]}`))
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go ctl.Serve(ln)
	t.Cleanup(func() { _ = ctl.Close() })
	e := startEdge(t, withEnv("CONTROL_UPSTREAM_URL", "http://"+ln.Addr().String()))
	seen := make(chan string, 1)
	w := e.addWorker("w1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case seen <- r.RequestURI:
		default: // a refused request that got through: the hit counter tells
		}
	}))
	e.waitWorkers(1)

	for _, tc := range []struct {
		method, target string
		ok             bool
	}{
		{"GET", "/rest/v1/..%2f..%2fadmin/v1/workers", false},
		{"GET", "/rest/v1/..%2F..%2Fadmin/v1/workers", false},
		{"GET", "/rest/v1/%2e%2e/%2e%2e/admin/v1/workers", false},
		{"GET", "/rest/v1/%2E%2E/%2E%2E/admin/v1/workers?x=1", false},
		{"GET", "/rest/v1/../../admin/v1/workers", false},
		{"GET", "/rest/v1/./items", false},
		{"POST", "/storage/v1/object/b1/%2e%2e%2fb2%2fsecret.txt", false},
		{"POST", "/storage/v1/object/b1/..%5Cb2%5Csecret.txt", false},
		{"POST", "/storage/v1/object/b1\\..\\b2\\secret.txt", false},
		{"GET", "//admin/v1/workers", false},
		{"GET", "/rest//v1/items", false},
		{"GET", "/%72est/v1/items", false},
		{"GET", "/rest/v1/items%zz", false},

		{"GET", "/rest/v1/items?select=*&path=..%2f..%2fadmin", true},
		{"POST", "/storage/v1/object/b1/a%20b%2Bc.txt", true},
		{"POST", "/storage/v1/object/b1/caf%C3%A9/a..b/.hidden", true},
		{"GET", "/storage/v1/object/b1/%252e%252e%252fb2", true},
		{"GET", "/rest/v1//items", true},
	} {
		t.Run(tc.method+" "+tc.target, func(t *testing.T) {
			body := ""
			if tc.method == "POST" {
				body = "secret"
			}
			hits, admin := w.hits.Load(), controlHits.Load()
			resp, got := dialRaw(t, e).do(tc.method, request(tc.method, tc.target, body))
			if !tc.ok {
				assert.Equal(t, 400, resp.StatusCode, got)
				assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
				_, code := jsonError(t, []byte(got))
				assert.Equal(t, 400, code)
				assert.Equal(t, hits, w.hits.Load(), "a refused path reached the worker")
				assert.Equal(t, admin, controlHits.Load(), "a refused path reached control")
				return
			}
			require.Equal(t, 200, resp.StatusCode, got)
			select {
			case uri := <-seen:
				assert.Equal(t, tc.target, uri, "the worker got another path than the client sent")
			case <-time.After(waitLong):
				t.Fatal("the worker never got the request")
			}
		})
	}
}

// TestWebSocketsReleaseTheirAddressCount: a relayed WebSocket counts in the
// per-address limit while open and gives its place back when it closes,
// from either side, many times over.
func TestWebSocketsReleaseTheirAddressCount(t *testing.T) {
	t.Parallel()
	const limit = 4
	e := startEdge(t, withEnv("EDGE_MAX_CONNS_PER_IP", fmt.Sprint(limit)))
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	e.addWorker("w1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			mt, msg, err := c.ReadMessage()
			if err != nil || string(msg) == "bye" {
				return // the worker ends the socket
			}
			if err := c.WriteMessage(mt, msg); err != nil {
				return
			}
		}
	}))
	e.waitWorkers(1)
	wsURL := "ws" + strings.TrimPrefix(e.url, "http") + "/realtime/v1/websocket"
	dial := func() *websocket.Conn {
		var c *websocket.Conn
		// The harness's own connections (health checks) close on their own.
		bustest.Eventually(t, waitLong, func() bool {
			var err error
			c, _, err = websocket.DefaultDialer.Dial(wsURL, nil)
			return err == nil
		}, "a WebSocket within the limit")
		require.NoError(t, c.WriteMessage(websocket.TextMessage, []byte("ping")))
		_, got, err := c.ReadMessage()
		require.NoError(t, err)
		require.Equal(t, "ping", string(got))
		return c
	}
	for round := range 3 {
		var open []*websocket.Conn
		for range limit - 1 {
			open = append(open, dial())
		}
		for i, c := range open {
			if i%2 == 0 {
				require.NoError(t, c.Close(), "round %d", round) // the client leaves
			} else {
				require.NoError(t, c.WriteMessage(websocket.TextMessage, []byte("bye"))) // the worker ends it
				_, _, err := c.ReadMessage()
				require.Error(t, err)
				_ = c.Close()
			}
		}
	}
}

// TestWebSocketBackpressure: a worker that sends far more than the client
// takes at once (its receive buffer is made tiny) loses nothing: the relay
// keeps what the client cannot take yet and stops reading the worker
// meanwhile.
func TestWebSocketBackpressure(t *testing.T) {
	t.Parallel()
	e := startEdge(t)
	const messages, size = 128, 32 << 10
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	e.addWorker("w1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for i := range messages {
			if err := c.WriteMessage(websocket.BinaryMessage, bytes.Repeat([]byte{byte(i)}, size)); err != nil {
				return
			}
		}
		_, _, _ = c.ReadMessage() // until the client closes
	}))
	e.waitWorkers(1)
	nd := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return errors.Join(err, serr)
	}}
	d := websocket.Dialer{NetDialContext: nd.DialContext, ReadBufferSize: 1024}
	c, _, err := d.Dial("ws"+strings.TrimPrefix(e.url, "http")+"/realtime/v1/websocket", nil)
	require.NoError(t, err)
	defer c.Close()
	for i := range messages {
		_ = c.SetReadDeadline(time.Now().Add(waitLong))
		mt, got, err := c.ReadMessage()
		require.NoError(t, err, "message %d", i)
		require.Equal(t, websocket.BinaryMessage, mt)
		require.Equal(t, bytes.Repeat([]byte{byte(i)}, size), got, "message %d", i)
	}
}
