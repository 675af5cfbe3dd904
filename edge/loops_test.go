package edge_test

// The tests in this file speak HTTP/1.1 on the wire: raw clients write the
// bytes of their requests, and raw workers the bytes of their answers,
// where those bytes matter. They pin what a production proxy must do, and
// run on both engines: the event loops (the default) and, with
// MADBASE_TEST_EDGE_EVENT_LOOPS=-1, the goroutine server alone.

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/madbase/madbase/bus/bustest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rawTimeout bounds every raw client connection, so a hanging edge fails a
// test instead of stalling the suite.
const rawTimeout = waitLong

// bulkTimeout bounds a connection that moves 64 MiB, slowly on purpose and
// maybe under the race detector.
const bulkTimeout = 4 * waitLong

// rawClient is a client connection to the edge that writes its requests
// byte for byte.
type rawClient struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, e *env) *rawClient {
	t.Helper()
	nc, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = nc.Close() })
	require.NoError(t, nc.SetDeadline(time.Now().Add(rawTimeout)))
	return &rawClient{t: t, nc: nc, br: bufio.NewReader(nc)}
}

func (c *rawClient) write(s string) {
	c.t.Helper()
	_, err := io.WriteString(c.nc, s)
	require.NoError(c.t, err)
}

// read reads one answer to a request with method, and its whole body.
func (c *rawClient) read(method string) (*http.Response, string) {
	c.t.Helper()
	resp, body, err := readAnswer(c.br, method)
	require.NoError(c.t, err)
	return resp, string(body)
}

// do writes a request and reads its answer.
func (c *rawClient) do(method, raw string) (*http.Response, string) {
	c.t.Helper()
	c.write(raw)
	return c.read(method)
}

// expectClosed checks that the edge closes the connection: the next read
// ends, and not because the deadline passed.
func (c *rawClient) expectClosed() {
	c.t.Helper()
	require.NoError(c.t, c.nc.SetReadDeadline(time.Now().Add(waitLong)))
	b, err := c.br.ReadByte()
	require.Error(c.t, err, "the edge sent %q on a connection it should have closed", b)
	var ne net.Error
	require.False(c.t, errors.As(err, &ne) && ne.Timeout(), "the edge left the connection open")
}

func readAnswer(br *bufio.Reader, method string) (*http.Response, []byte, error) {
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		return nil, nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, body, err
}

// request is the text of an HTTP/1.1 request, with a Content-Length when
// there is a body.
func request(method, target, body string, headers ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: edge.test\r\n", method, target)
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	if body != "" {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n")
	b.WriteString(body)
	return b.String()
}

// tokenHandler answers with which worker served which request, body
// included: the test recomputes the answer (tokenAnswer) to check that it
// belongs to its own request.
func tokenHandler(id string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		_, _ = io.WriteString(w, tokenAnswer(id, r.Method, r.URL.RequestURI(), string(b)))
	})
}

func tokenAnswer(id, method, uri, body string) string {
	sum := sha256.Sum256([]byte(body))
	return fmt.Sprintf("%s %s %s %d %x", id, method, uri, len(body), sum[:8])
}

// rawWorker is an upstream whose answers the test writes byte for byte.
type rawWorker struct {
	id   string
	addr string
	// done is closed when the test ends; a handler holding a connection
	// waits on it.
	done chan struct{}
}

// rawHandler serves one request other than GET /health on a raw worker's
// connection c (r's body is read from br); false closes the connection.
type rawHandler func(w *rawWorker, c net.Conn, br *bufio.Reader, r *http.Request) bool

// addRawWorker starts a raw worker and beats for it until the test ends.
func (e *env) addRawWorker(id string, h rawHandler) *rawWorker {
	e.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(e.t, err)
	w := &rawWorker{id: id, addr: ln.Addr().String(), done: make(chan struct{})}
	var (
		mu     sync.Mutex
		conns  = map[net.Conn]bool{}
		closed bool
		wg     sync.WaitGroup
	)
	e.t.Cleanup(func() {
		close(w.done)
		_ = ln.Close()
		mu.Lock()
		closed = true
		for c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	serve := func(c net.Conn) {
		defer wg.Done()
		defer func() {
			_ = c.Close()
			mu.Lock()
			delete(conns, c)
			mu.Unlock()
		}()
		br := bufio.NewReader(c)
		for {
			r, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			if r.URL.Path == "/health" {
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
				continue
			}
			if !h(w, c, br, r) {
				return
			}
			_, _ = io.Copy(io.Discard, r.Body)
		}
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			if closed {
				mu.Unlock()
				_ = c.Close()
				return
			}
			conns[c] = true
			wg.Add(1)
			mu.Unlock()
			go serve(c)
		}
	}()
	go func() {
		defer wg.Done()
		for {
			e.beat(id, "http://"+w.addr, false)
			select {
			case <-w.done:
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	return w
}

// TestWirePipelinedRequestsAnsweredInOrder: requests written in one go on
// one keep-alive connection, some with bodies, get their answers in order.
func TestWirePipelinedRequestsAnsweredInOrder(t *testing.T) {
	t.Parallel()
	e := startEdge(t)
	e.addWorker("w1", tokenHandler("w1"))
	e.waitWorkers(1)
	reqs := []struct{ method, target, body string }{
		{"GET", "/rest/v1/items?n=1", ""},
		{"POST", "/rest/v1/items?n=2", "second"},
		{"HEAD", "/storage/v1/object/b/x?n=3", ""},
		{"DELETE", "/auth/v1/user?n=4", ""},
		{"PATCH", "/functions/v1/f?n=5", strings.Repeat("p", 100<<10)}, // spans read buffers
		{"GET", "/rest/v1/items?n=6", ""},
	}
	var all strings.Builder
	for _, r := range reqs {
		all.WriteString(request(r.method, r.target, r.body))
	}
	c := dialRaw(t, e)
	c.write(all.String())
	for i, r := range reqs {
		resp, body := c.read(r.method)
		require.Equal(t, 200, resp.StatusCode, "answer %d", i)
		want := tokenAnswer("w1", r.method, r.target, r.body)
		if r.method == "HEAD" {
			want = ""
		}
		assert.Equal(t, want, body, "answer %d", i)
	}
}

// TestWireRequestHeadOneByteAtATime: a head (and body) trickling in one
// byte per packet is served, and the connection then serves the next one.
func TestWireRequestHeadOneByteAtATime(t *testing.T) {
	t.Parallel()
	e := startEdge(t)
	e.addWorker("w1", tokenHandler("w1"))
	e.waitWorkers(1)
	c := dialRaw(t, e)
	raw := request("POST", "/rest/v1/slow?x=1", "hello", "X-Custom: yes")
	for i := range len(raw) {
		c.write(raw[i : i+1])
		time.Sleep(time.Millisecond) // one byte per segment, not a wait for a condition
	}
	resp, body := c.read("POST")
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, tokenAnswer("w1", "POST", "/rest/v1/slow?x=1", "hello"), body)

	resp, body = c.do("GET", request("GET", "/rest/v1/next", ""))
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, tokenAnswer("w1", "GET", "/rest/v1/next", ""), body)
}

// TestWireHandoverAfterFastPathRequest: after a plain API request, a request
// on the same connection that only the full server serves is answered
// correctly, and the connection goes on serving (unless HTTP/1.0 ends it).
func TestWireHandoverAfterFastPathRequest(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		exchange func(t *testing.T, c *rawClient)
		// closes: the exchange ends the connection.
		closes bool
	}{
		{name: "expect 100-continue with a body", exchange: func(t *testing.T, c *rawClient) {
			c.write("POST /rest/v1/up HTTP/1.1\r\nHost: edge.test\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
			interim, _ := c.read("POST")
			require.Equal(t, 100, interim.StatusCode)
			resp, body := c.do("POST", "hello")
			assert.Equal(t, 200, resp.StatusCode)
			assert.Equal(t, tokenAnswer("w1", "POST", "/rest/v1/up", "hello"), body)
		}},
		{name: "chunked request body", exchange: func(t *testing.T, c *rawClient) {
			resp, body := c.do("POST", "POST /rest/v1/up HTTP/1.1\r\nHost: edge.test\r\nTransfer-Encoding: chunked\r\n\r\n"+
				"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
			assert.Equal(t, 200, resp.StatusCode)
			assert.Equal(t, tokenAnswer("w1", "POST", "/rest/v1/up", "hello world"), body)
		}},
		{name: "GET /health", exchange: func(t *testing.T, c *rawClient) {
			resp, body := c.do("GET", request("GET", "/health", ""))
			assert.Equal(t, 200, resp.StatusCode)
			var h struct {
				Healthy int `json:"workers_healthy"`
			}
			require.NoError(t, json.Unmarshal([]byte(body), &h), body)
			assert.Equal(t, 1, h.Healthy)
		}},
		{name: "HTTP/1.0 request", closes: true, exchange: func(t *testing.T, c *rawClient) {
			resp, body := c.do("GET", "GET /rest/v1/old HTTP/1.0\r\nHost: edge.test\r\n\r\n")
			assert.Equal(t, 200, resp.StatusCode)
			assert.Equal(t, tokenAnswer("w1", "GET", "/rest/v1/old", ""), body)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := startEdge(t)
			e.addWorker("w1", tokenHandler("w1"))
			e.waitWorkers(1)
			c := dialRaw(t, e)
			resp, body := c.do("GET", request("GET", "/rest/v1/first", ""))
			require.Equal(t, 200, resp.StatusCode)
			require.Equal(t, tokenAnswer("w1", "GET", "/rest/v1/first", ""), body)

			tc.exchange(t, c)

			if tc.closes {
				c.expectClosed()
				return
			}
			resp, body = c.do("POST", request("POST", "/rest/v1/after", "more"))
			assert.Equal(t, 200, resp.StatusCode)
			assert.Equal(t, tokenAnswer("w1", "POST", "/rest/v1/after", "more"), body)
		})
	}
}

// TestWireClientConnectionCloseIsHonoured: a client's "Connection: close"
// gets an answer saying so, and then the edge closes the connection.
func TestWireClientConnectionCloseIsHonoured(t *testing.T) {
	t.Parallel()
	e := startEdge(t)
	e.addWorker("w1", tokenHandler("w1"))
	e.waitWorkers(1)
	for _, method := range []string{"GET", "POST"} {
		t.Run(method, func(t *testing.T) {
			body := ""
			if method == "POST" {
				body = "payload"
			}
			c := dialRaw(t, e)
			resp, got := c.do(method, request(method, "/rest/v1/bye", body, "Connection: close"))
			assert.Equal(t, 200, resp.StatusCode)
			assert.Equal(t, tokenAnswer("w1", method, "/rest/v1/bye", body), got)
			assert.True(t, resp.Close, "no Connection: close in the answer: %v", resp.Header)
			c.expectClosed()
		})
	}
}

// TestWireChunkedResponseStreamsEventByEvent: a chunked answer written
// event by event (server-sent events) reaches the client event by event, and
// the connection then serves the next request. The worker sends event N+1
// only once the client has acknowledged event N: a proxy that holds events
// back deadlocks that exchange, which the worker sees as a missing
// acknowledgement. No timing window is involved.
func TestWireChunkedResponseStreamsEventByEvent(t *testing.T) {
	t.Parallel()
	const events = 5
	sent := make(chan time.Time, events)
	acked := make(chan int, events)
	missed := make(chan int, events) // events whose acknowledgement never came
	e := startEdge(t)
	e.addRawWorker("w1", func(w *rawWorker, c net.Conn, _ *bufio.Reader, r *http.Request) bool {
		if r.URL.Path != "/rest/v1/events" {
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext")
			return true
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
		for i := range events {
			ev := fmt.Sprintf("data: %d\n\n", i)
			sent <- time.Now()
			if _, err := fmt.Fprintf(c, "%x\r\n%s\r\n", len(ev), ev); err != nil {
				return false
			}
			select {
			case <-acked:
			case <-time.After(waitLong):
				missed <- i // the edge held event i back: send on, so the test ends
			case <-w.done:
				return false
			}
		}
		_, _ = io.WriteString(c, "0\r\n\r\n")
		return true
	})
	e.waitWorkers(1)

	c := dialRaw(t, e)
	require.NoError(t, c.nc.SetDeadline(time.Now().Add(bulkTimeout)))
	c.write(request("GET", "/rest/v1/events", ""))
	resp, err := http.ReadResponse(c.br, nil)
	require.NoError(t, err)
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	br := bufio.NewReader(resp.Body)
	var got [events]time.Time
	for i := range events {
		line, err := br.ReadString('\n')
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("data: %d\n", i), line)
		blank, err := br.ReadString('\n')
		require.NoError(t, err)
		require.Equal(t, "\n", blank)
		got[i] = time.Now()
		acked <- i
	}
	rest, err := io.ReadAll(br)
	require.NoError(t, err)
	assert.Empty(t, rest)
	resp.Body.Close()
	close(missed)
	for i := range missed {
		t.Errorf("event %d did not reach the client until the worker sent more", i)
	}
	var at [events]time.Time
	for i := range events {
		at[i] = <-sent
	}
	for i := 0; i+1 < events; i++ {
		assert.True(t, got[i].Before(at[i+1]), "event %d reached the client only after event %d was sent", i, i+1)
	}
	assert.True(t, got[0].Before(at[events-1]), "the first event was held back")

	resp, body := c.do("GET", request("GET", "/rest/v1/next", ""))
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "next", body)
}

// TestWireUnframedResponseRelayedUntilClose: a worker answer with neither
// Content-Length nor chunked framing, ended by the worker closing, reaches
// the client whole, and the client can tell where it ends: relayed as it
// came, the edge closes the client's connection after it; framed anew
// (chunked), the connection must go on serving.
func TestWireUnframedResponseRelayedUntilClose(t *testing.T) {
	t.Parallel()
	payload := make([]byte, 200<<10) // more than one read buffer
	_, _ = rand.Read(payload)
	heads := map[string]string{
		"/rest/v1/http10":        "HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n",
		"/rest/v1/http11-closes": "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
	}
	e := startEdge(t)
	e.addRawWorker("w1", func(w *rawWorker, c net.Conn, _ *bufio.Reader, r *http.Request) bool {
		head, ok := heads[r.URL.Path]
		if !ok {
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext")
			return true
		}
		_, _ = io.WriteString(c, head)
		for p := payload; len(p) > 0; p = p[min(len(p), 50<<10):] {
			if _, err := c.Write(p[:min(len(p), 50<<10)]); err != nil {
				break
			}
		}
		return false
	})
	e.waitWorkers(1)
	for path := range heads {
		t.Run(strings.TrimPrefix(path, "/rest/v1/"), func(t *testing.T) {
			c := dialRaw(t, e)
			c.write(request("GET", path, ""))
			resp, err := http.ReadResponse(c.br, nil)
			require.NoError(t, err)
			// The edge answers in its own version: "HTTP/1.0" would tell the
			// client to ignore chunked framing and wait for the close.
			assert.Equal(t, "HTTP/1.1", resp.Proto)
			b, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			body := string(b)
			assert.Equal(t, 200, resp.StatusCode)
			assert.Equal(t, len(payload), len(body))
			assert.True(t, string(payload) == body, "the body differs from the worker's")
			if resp.ContentLength < 0 && len(resp.TransferEncoding) == 0 {
				c.expectClosed()
				return
			}
			resp, body = c.do("GET", request("GET", "/rest/v1/next", ""))
			assert.Equal(t, 200, resp.StatusCode)
			assert.Equal(t, "next", body)
		})
	}
}

// TestWireMalformedWorkerHeadGets502JSON: a worker answer the edge cannot
// parse gets the client a 502 in the JSON error shape, with the request id.
func TestWireMalformedWorkerHeadGets502JSON(t *testing.T) {
	t.Parallel()
	answers := map[string]string{
		"/rest/v1/not-http":          "hello there\r\n\r\n",
		"/rest/v1/status-not-number": "HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\nok",
		"/rest/v1/header-no-colon":   "HTTP/1.1 200 OK\r\nContent-Length 2\r\n\r\nok",
		"/rest/v1/bad-length":        "HTTP/1.1 200 OK\r\nContent-Length: two\r\n\r\nok",
	}
	e := startEdge(t)
	e.addRawWorker("w1", func(w *rawWorker, c net.Conn, _ *bufio.Reader, r *http.Request) bool {
		_, _ = io.WriteString(c, answers[r.URL.Path])
		return false
	})
	e.waitWorkers(1)
	for path := range answers {
		t.Run(strings.TrimPrefix(path, "/rest/v1/"), func(t *testing.T) {
			c := dialRaw(t, e)
			resp, body := c.do("GET", request("GET", path, ""))
			assert.Equal(t, 502, resp.StatusCode, body)
			assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			_, code := jsonError(t, []byte(body))
			assert.Equal(t, 502, code)
			rid := resp.Header.Get("X-Request-Id")
			assert.NotEmpty(t, rid)
			var withID struct {
				RequestID string `json:"request_id"`
			}
			require.NoError(t, json.Unmarshal([]byte(body), &withID))
			assert.Equal(t, rid, withID.RequestID)
		})
	}
}

// TestWireWorkerBreakOffMidBodyNeverLooksComplete: a worker that closes its
// connection in the middle of its body never gives the client a clean,
// complete answer: the client sees a read error, a short body, or a 502.
func TestWireWorkerBreakOffMidBodyNeverLooksComplete(t *testing.T) {
	t.Parallel()
	cuts := map[string]struct {
		head     string
		sent     int
		chunked  bool
		announce int
	}{
		"/rest/v1/small-length":   {head: "Content-Length: 10000", sent: 1000},
		"/storage/v1/long-length": {head: "Content-Length: 8388608", sent: 3 << 20},
		"/rest/v1/chunked":        {head: "Transfer-Encoding: chunked", sent: 1000, chunked: true},
		"/storage/v1/chunked-big": {head: "Transfer-Encoding: chunked", sent: 1 << 20, chunked: true},
	}
	e := startEdge(t)
	e.addRawWorker("w1", func(w *rawWorker, c net.Conn, _ *bufio.Reader, r *http.Request) bool {
		cut := cuts[r.URL.Path]
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\n"+cut.head+"\r\n\r\n")
		data := strings.Repeat("d", cut.sent)
		if cut.chunked {
			// A whole chunk and the start of the next one, never the last.
			_, _ = fmt.Fprintf(c, "%x\r\n%s\r\n%x\r\n%s", len(data), data, 100, "partial")
		} else {
			_, _ = io.WriteString(c, data)
		}
		return false
	})
	e.waitWorkers(1)
	for path := range cuts {
		t.Run(strings.TrimPrefix(path, "/"), func(t *testing.T) {
			c := dialRaw(t, e)
			c.write(request("GET", path, ""))
			resp, body, err := readAnswer(c.br, "GET")
			if err != nil {
				return // broken transfer: what the client must see
			}
			assert.NotEqual(t, 200, resp.StatusCode, "a clean %d-byte answer after the worker broke off", len(body))
			if resp.StatusCode != 200 {
				assert.Equal(t, 502, resp.StatusCode, string(body))
			}
		})
	}
}

// TestWireInterimWorkerAnswerNotRelayed: a worker's interim 1xx answer
// before its real one is not passed on; the client gets the real answer
// only, and the connection stays in step for the next request.
func TestWireInterimWorkerAnswerNotRelayed(t *testing.T) {
	t.Parallel()
	final := "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nfinal"
	e := startEdge(t)
	e.addRawWorker("w1", func(w *rawWorker, c net.Conn, _ *bufio.Reader, r *http.Request) bool {
		_, _ = io.Copy(io.Discard, r.Body)
		switch r.URL.Path {
		case "/rest/v1/continue-same-write":
			_, _ = io.WriteString(c, "HTTP/1.1 100 Continue\r\n\r\n"+final)
		case "/rest/v1/continue-then-answer":
			_, _ = io.WriteString(c, "HTTP/1.1 100 Continue\r\n\r\n")
			time.Sleep(20 * time.Millisecond) // two packets, not a wait for a condition
			_, _ = io.WriteString(c, final)
		case "/rest/v1/early-hints":
			_, _ = io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </app.css>; rel=preload\r\n\r\n"+final)
		default:
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext")
		}
		return true
	})
	e.waitWorkers(1)
	for _, path := range []string{"/rest/v1/continue-same-write", "/rest/v1/continue-then-answer", "/rest/v1/early-hints"} {
		t.Run(strings.TrimPrefix(path, "/rest/v1/"), func(t *testing.T) {
			c := dialRaw(t, e)
			resp, body := c.do("POST", request("POST", path, "upload"))
			assert.Equal(t, 200, resp.StatusCode)
			assert.Equal(t, "final", body)
			assert.Empty(t, resp.Header.Get("Link"))
			resp, body = c.do("GET", request("GET", "/rest/v1/next", ""))
			assert.Equal(t, 200, resp.StatusCode)
			assert.Equal(t, "next", body)
		})
	}
}

// TestWireLargeDownloadToSlowReaderIntact: 64 MiB read by a client that
// keeps pausing arrive byte-identical.
func TestWireLargeDownloadToSlowReaderIntact(t *testing.T) {
	t.Parallel()
	payload := make([]byte, 64<<20)
	_, _ = rand.Read(payload)
	want := sha256.Sum256(payload)
	e := startEdge(t)
	e.addWorker("w1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(payload)))
		_, _ = w.Write(payload)
	}))
	e.waitWorkers(1)
	c := dialRaw(t, e)
	require.NoError(t, c.nc.SetDeadline(time.Now().Add(bulkTimeout)))
	c.write(request("GET", "/storage/v1/object/b/big", ""))
	resp, err := http.ReadResponse(c.br, nil)
	require.NoError(t, err)
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, int64(len(payload)), resp.ContentLength)
	// Let every buffer on the way fill up, then read slowly.
	time.Sleep(200 * time.Millisecond)
	h := sha256.New()
	buf := make([]byte, 256<<10)
	var n int64
	for i := 0; ; i++ {
		m, err := resp.Body.Read(buf)
		h.Write(buf[:m])
		n += int64(m)
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		if i%4 == 0 {
			time.Sleep(time.Millisecond) // the client's pace
		}
	}
	assert.Equal(t, int64(len(payload)), n)
	assert.Equal(t, hex.EncodeToString(want[:]), hex.EncodeToString(h.Sum(nil)))
}

// TestWireSplicedBodiesThenSmallExchanges: after a body long enough to be
// spliced, which the loop waits for in large amounts, the same client
// connection and the same pooled worker connection carry small exchanges,
// whose few bytes still wake the loop: downloads, and uploads from a client
// slower than the worker (the loop waits on the client).
func TestWireSplicedBodiesThenSmallExchanges(t *testing.T) {
	t.Parallel()
	const size = 3<<20 + 7
	e := startEdge(t)
	e.addWorker("w1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Worker-Conn", r.RemoteAddr)
		switch r.URL.Path {
		case "/storage/v1/object/b/big":
			w.Header().Set("Content-Length", fmt.Sprint(size))
			for left := size; left > 0; left -= min(left, 100_000) {
				_, _ = w.Write(make([]byte, min(left, 100_000)))
				w.(http.Flusher).Flush()
			}
		case "/storage/v1/object/b/up":
			n, _ := io.Copy(io.Discard, r.Body)
			fmt.Fprint(w, n)
		default:
			_, _ = io.WriteString(w, "ok")
		}
	}))
	e.waitWorkers(1)
	// small checks that a small exchange follows on both connections.
	small := func(t *testing.T, c *rawClient, worker string) {
		t.Helper()
		resp, body := c.do("GET", request("GET", "/rest/v1/small", ""))
		assert.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, "ok", body)
		if loopsEngine() {
			assert.Equal(t, worker, resp.Header.Get("X-Worker-Conn"), "the worker connection is reused")
		}
	}
	t.Run("download", func(t *testing.T) {
		c := dialRaw(t, e)
		for range 3 {
			resp, body := c.do("GET", request("GET", "/storage/v1/object/b/big", ""))
			require.Equal(t, 200, resp.StatusCode)
			require.Equal(t, size, len(body))
			small(t, c, resp.Header.Get("X-Worker-Conn"))
		}
	})
	t.Run("upload", func(t *testing.T) {
		c := dialRaw(t, e)
		for range 3 {
			c.write(fmt.Sprintf("POST /storage/v1/object/b/up HTTP/1.1\r\nHost: edge.test\r\nContent-Length: %d\r\n\r\n", size))
			for left := size; left > 0; left -= min(left, 100_000) {
				time.Sleep(time.Millisecond) // the client's pace: the edge waits for its bytes
				_, err := c.nc.Write(make([]byte, min(left, 100_000)))
				require.NoError(t, err)
			}
			resp, body := c.read("POST")
			require.Equal(t, 200, resp.StatusCode)
			require.Equal(t, fmt.Sprint(size), body)
			small(t, c, resp.Header.Get("X-Worker-Conn"))
		}
	})
}

// TestWireSlowUploadMovesOn: a long upload from a client slower than the
// low-water mark a spliced body waits for still reaches the worker as it
// comes: the worker, waiting for the body, is never taken for one that
// does not answer (the response timeout counts from the edge's last write
// to it, here shorter than the time the client takes to send 256 KiB).
func TestWireSlowUploadMovesOn(t *testing.T) {
	t.Parallel()
	const size, piece = 300 << 10, 8 << 10
	e := startEdge(t, withEnv("UPSTREAM_RESPONSE_TIMEOUT", "1s"))
	e.addWorker("w1", hashHandler())
	e.waitWorkers(1)
	payload := make([]byte, size)
	_, _ = rand.Read(payload)
	sum := sha256.Sum256(payload)
	c := dialRaw(t, e)
	c.write(fmt.Sprintf("POST /storage/v1/object/b/slow HTTP/1.1\r\nHost: edge.test\r\nContent-Length: %d\r\n\r\n", size))
	for p := payload; len(p) > 0; p = p[min(len(p), piece):] {
		time.Sleep(50 * time.Millisecond) // the client's pace: 160 KiB/s
		_, err := c.nc.Write(p[:min(len(p), piece)])
		require.NoError(t, err)
	}
	resp, body := c.read("POST")
	assert.Equal(t, 200, resp.StatusCode, body)
	assert.Equal(t, fmt.Sprintf("%d %s %d", size, hex.EncodeToString(sum[:]), size), body)
}

// TestWireLargeUploadReachesWorkerIntact: a 64 MiB body with a
// Content-Length reaches a worker that starts reading late byte-identical,
// and the connection then serves the next request.
func TestWireLargeUploadReachesWorkerIntact(t *testing.T) {
	t.Parallel()
	payload := make([]byte, 64<<20)
	_, _ = rand.Read(payload)
	sum := sha256.Sum256(payload)
	e := startEdge(t)
	e.addWorker("w1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(200 * time.Millisecond) // the worker's pace: every buffer fills first
		hashHandler().ServeHTTP(w, r)
	}))
	e.waitWorkers(1)
	c := dialRaw(t, e)
	require.NoError(t, c.nc.SetDeadline(time.Now().Add(bulkTimeout)))
	written := make(chan error, 1)
	go func() {
		_, err := io.WriteString(c.nc, fmt.Sprintf("POST /storage/v1/object/b/up HTTP/1.1\r\nHost: edge.test\r\nContent-Length: %d\r\n\r\n", len(payload)))
		for p := payload; err == nil && len(p) > 0; p = p[min(len(p), 1<<20):] {
			_, err = c.nc.Write(p[:min(len(p), 1<<20)])
		}
		written <- err
	}()
	resp, body := c.read("POST")
	require.NoError(t, <-written)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, fmt.Sprintf("%d %s %d", len(payload), hex.EncodeToString(sum[:]), len(payload)), body)

	resp, body = c.do("POST", request("POST", "/storage/v1/object/b/small", "tiny"))
	assert.Equal(t, 200, resp.StatusCode)
	assert.True(t, strings.HasPrefix(body, "4 "), body)
}

// TestWireClientAbortMidDownloadClosesUpstream: a client that goes away in
// the middle of a large download makes the worker's writes fail (the edge
// closes its connection to the worker), and the edge serves the next
// request.
func TestWireClientAbortMidDownloadClosesUpstream(t *testing.T) {
	t.Parallel()
	writeErr := make(chan error, 1)
	e := startEdge(t)
	e.addWorker("w1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/storage/v1/object/b/endless" {
			_, _ = io.WriteString(w, "ok")
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(1<<30))
		buf := make([]byte, 64<<10)
		for {
			if _, err := w.Write(buf); err != nil {
				writeErr <- err
				return
			}
		}
	}))
	e.waitWorkers(1)
	c := dialRaw(t, e)
	c.write(request("GET", "/storage/v1/object/b/endless", ""))
	resp, err := http.ReadResponse(c.br, nil)
	require.NoError(t, err)
	require.Equal(t, 200, resp.StatusCode)
	_, err = io.ReadFull(resp.Body, make([]byte, 1<<20))
	require.NoError(t, err)
	require.NoError(t, c.nc.Close())

	select {
	case err := <-writeErr:
		assert.Error(t, err)
	case <-time.After(waitLong):
		t.Fatal("the worker is still writing: the edge kept its connection after the client left")
	}

	assertServesOK(t, e, "/rest/v1/after")
}

// assertServesOK checks that a new connection to the edge gets path
// answered 200 "ok" (the edge serves on after a misbehaving exchange).
func assertServesOK(t *testing.T, e *env, path string) {
	t.Helper()
	resp, body := dialRaw(t, e).do("GET", request("GET", path, ""))
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "ok", body)
}

// TestWireWorkerAnswerBeforeBodyReachesClient: a worker that answers a
// large upload without reading it (413 at once) gets that answer to the
// client, whatever it does with its connection next, and the edge neither
// hangs nor suffers.
func TestWireWorkerAnswerBeforeBodyReachesClient(t *testing.T) {
	t.Parallel()
	if !loopsEngine() {
		// Known gap, listed in the README: fasthttp's client writes the
		// whole body before it reads an answer, so the goroutine engine
		// (EDGE_EVENT_LOOPS=-1, and requests handed to it such as chunked
		// uploads) answers 502 or waits for the response timeout instead.
		t.Skip("the goroutine engine does not relay answers sent before the request body was read")
	}
	const tooLarge = `{"error":"too large","code":413}`
	answer := fmt.Sprintf("HTTP/1.1 413 Request Entity Too Large\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(tooLarge), tooLarge)
	for _, tc := range []struct {
		name  string
		after func(w *rawWorker, c net.Conn)
	}{
		// As a fasthttp (fiber) worker does past its body limit.
		{"worker closes at once", func(*rawWorker, net.Conn) {}},
		// As net/http does: no more sending, then a pause before closing.
		{"worker half-closes then closes", func(_ *rawWorker, c net.Conn) {
			_ = c.(*net.TCPConn).CloseWrite()
			time.Sleep(500 * time.Millisecond) // the worker's linger
		}},
		{"worker keeps the connection without reading", func(w *rawWorker, _ net.Conn) { <-w.done }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := startEdge(t)
			e.addRawWorker("w1", func(w *rawWorker, c net.Conn, _ *bufio.Reader, r *http.Request) bool {
				if r.URL.Path != "/storage/v1/object/b/up" {
					_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
					return true
				}
				_, _ = io.WriteString(c, answer)
				tc.after(w, c)
				return false
			})
			e.waitWorkers(1)
			c := dialRaw(t, e)
			go func() {
				// Write errors are expected: the edge may stop reading.
				_, err := io.WriteString(c.nc, fmt.Sprintf("POST /storage/v1/object/b/up HTTP/1.1\r\nHost: edge.test\r\nContent-Length: %d\r\n\r\n", 10<<20))
				chunk := make([]byte, 256<<10)
				for i := 0; err == nil && i < 40; i++ {
					_, err = c.nc.Write(chunk)
				}
			}()
			start := time.Now()
			resp, body, err := readAnswer(c.br, "POST")
			require.NoError(t, err, "after %s", time.Since(start))
			assert.Equal(t, 413, resp.StatusCode, string(body))
			assert.JSONEq(t, tooLarge, string(body))
			assert.Less(t, time.Since(start), waitLong, "the answer waited for the worker to take the body or time out")

			assertServesOK(t, e, "/storage/v1/object/b/ok")
		})
	}
}

// TestWireOversizeRequestHeadGets431JSON: a request head larger than 64 KiB
// gets a 431 in the JSON error shape, on a fresh connection and after a
// served request alike.
func TestWireOversizeRequestHeadGets431JSON(t *testing.T) {
	t.Parallel()
	e := startEdge(t)
	w := e.addWorker("w1", tokenHandler("w1"))
	e.waitWorkers(1)
	huge := request("GET", "/rest/v1/items", "", "X-Big: "+strings.Repeat("b", 70<<10))
	for _, after := range []bool{false, true} {
		t.Run(fmt.Sprintf("after a request=%v", after), func(t *testing.T) {
			c := dialRaw(t, e)
			if after {
				resp, _ := c.do("GET", request("GET", "/rest/v1/first", ""))
				require.Equal(t, 200, resp.StatusCode)
			}
			hits := w.hits.Load()
			go func() { _, _ = io.WriteString(c.nc, huge) }() // the edge may stop reading
			resp, body := c.read("GET")
			assert.Equal(t, 431, resp.StatusCode, body)
			assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			_, code := jsonError(t, []byte(body))
			assert.Equal(t, 431, code)
			assert.Equal(t, hits, w.hits.Load(), "the oversize request reached the worker")
		})
	}
}

// TestWireResponseHopHeadersStrippedAndIDsSet: a worker's hop-by-hop
// headers do not reach the client (nor end the client's connection); the
// edge sets X-Madbase-Worker and its own X-Request-Id over the worker's.
func TestWireResponseHopHeadersStrippedAndIDsSet(t *testing.T) {
	t.Parallel()
	for _, clientID := range []string{"", "client-rid-1"} {
		t.Run(fmt.Sprintf("client id=%q", clientID), func(t *testing.T) {
			t.Parallel()
			seen := make(chan string, 2)
			e := startEdge(t)
			e.addRawWorker("w1", func(w *rawWorker, c net.Conn, _ *bufio.Reader, r *http.Request) bool {
				seen <- r.Header.Get("X-Request-Id")
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nConnection: close\r\nKeep-Alive: timeout=5, max=100\r\n"+
					"Proxy-Connection: keep-alive\r\nX-Request-Id: worker-made-id\r\nX-Madbase-Worker: forged\r\n"+
					"X-Kept: yes\r\nContent-Length: 2\r\n\r\nok")
				return false
			})
			e.waitWorkers(1)
			var headers []string
			if clientID != "" {
				headers = append(headers, "X-Request-Id: "+clientID)
			}
			c := dialRaw(t, e)
			for i := range 2 { // the worker's Connection: close is not the client's
				resp, body := c.do("GET", request("GET", "/rest/v1/hop", "", headers...))
				require.Equal(t, 200, resp.StatusCode, "request %d", i)
				assert.Equal(t, "ok", body)
				assert.Equal(t, "yes", resp.Header.Get("X-Kept"))
				assert.False(t, resp.Close, "the worker's Connection: close reached the client")
				assert.Empty(t, resp.Header.Values("Connection"))
				assert.Empty(t, resp.Header.Values("Keep-Alive"))
				assert.Empty(t, resp.Header.Values("Proxy-Connection"))
				assert.Equal(t, []string{"w1"}, resp.Header.Values("X-Madbase-Worker"))
				rid := <-seen
				assert.NotEmpty(t, rid)
				if clientID != "" {
					assert.Equal(t, clientID, rid)
				}
				assert.Equal(t, []string{rid}, resp.Header.Values("X-Request-Id"), "the worker's own id was not replaced")
			}
		})
	}
}

// TestWireHeadAnswerWithLengthKeepsConnectionInStep: a HEAD answered with
// Content-Length: 1000 and no body gives the client the headers, and both
// the client's and the worker's connections serve the next requests.
func TestWireHeadAnswerWithLengthKeepsConnectionInStep(t *testing.T) {
	t.Parallel()
	e := startEdge(t)
	e.addRawWorker("w1", func(w *rawWorker, c net.Conn, _ *bufio.Reader, r *http.Request) bool {
		if r.Method == "HEAD" {
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nETag: \"v1\"\r\n\r\n")
		} else {
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
		}
		return true
	})
	e.waitWorkers(1)
	c := dialRaw(t, e)
	for i := range 2 {
		resp, body := c.do("HEAD", request("HEAD", "/storage/v1/object/b/f", ""))
		assert.Equal(t, 200, resp.StatusCode, "HEAD %d", i)
		assert.Equal(t, int64(1000), resp.ContentLength)
		assert.Equal(t, `"v1"`, resp.Header.Get("ETag"))
		assert.Empty(t, body)
	}
	resp, body := c.do("GET", request("GET", "/storage/v1/object/b/f", ""))
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "hello", body)
}

// TestWireForwardedHeaders: X-Forwarded-For gets the client's address
// appended to what the client sent; X-Forwarded-Host and -Proto are the
// edge's unless EDGE_TRUST_FORWARDED keeps the client's.
func TestWireForwardedHeaders(t *testing.T) {
	t.Parallel()
	for _, trust := range []bool{false, true} {
		t.Run(fmt.Sprintf("trust=%v", trust), func(t *testing.T) {
			t.Parallel()
			e := startEdge(t, withEnv("EDGE_TRUST_FORWARDED", fmt.Sprint(trust)))
			seen := make(chan http.Header, 2)
			e.addWorker("w1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen <- r.Header.Clone() }))
			e.waitWorkers(1)
			c := dialRaw(t, e)
			resp, _ := c.do("GET", "GET /rest/v1/fwd HTTP/1.1\r\nHost: api.example.test\r\nX-Forwarded-For: 6.6.6.6\r\n"+
				"X-Forwarded-Host: evil.example\r\nX-Forwarded-Proto: https\r\n\r\n")
			require.Equal(t, 200, resp.StatusCode)
			h := <-seen
			assert.Equal(t, []string{"6.6.6.6, 127.0.0.1"}, h.Values("X-Forwarded-For"))
			if trust {
				assert.Equal(t, []string{"evil.example"}, h.Values("X-Forwarded-Host"))
				assert.Equal(t, []string{"https"}, h.Values("X-Forwarded-Proto"))
			} else {
				assert.Equal(t, []string{"api.example.test"}, h.Values("X-Forwarded-Host"))
				assert.Equal(t, []string{"http"}, h.Values("X-Forwarded-Proto"))
			}

			// Without client values, the edge's own in both modes.
			resp, _ = c.do("GET", "GET /rest/v1/fwd HTTP/1.1\r\nHost: api.example.test\r\n\r\n")
			require.Equal(t, 200, resp.StatusCode)
			h = <-seen
			assert.Equal(t, []string{"127.0.0.1"}, h.Values("X-Forwarded-For"))
			assert.Equal(t, []string{"api.example.test"}, h.Values("X-Forwarded-Host"))
			assert.Equal(t, []string{"http"}, h.Values("X-Forwarded-Proto"))
		})
	}
}

// TestWireConcurrentClientsGetTheirOwnAnswers: 50 clients with 20 requests
// each on their own keep-alive connections, spread over two workers, each
// get the answer to their own request.
func TestWireConcurrentClientsGetTheirOwnAnswers(t *testing.T) {
	t.Parallel()
	const clients, perClient = 50, 20
	e := startEdge(t)
	w1 := e.addWorker("w1", tokenHandler("w1"))
	w2 := e.addWorker("w2", tokenHandler("w2"))
	e.waitWorkers(2)
	var served [2]atomic.Int64
	errs := make(chan error, clients)
	for n := range clients {
		go func() {
			errs <- func() error {
				nc, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
				if err != nil {
					return err
				}
				defer nc.Close()
				_ = nc.SetDeadline(time.Now().Add(waitLong))
				br := bufio.NewReader(nc)
				for i := range perClient {
					method, target, body := "GET", fmt.Sprintf("/rest/v1/t?client=%d&i=%d", n, i), ""
					if i%2 == 1 {
						method, target, body = "POST", "/storage/v1/t", fmt.Sprintf("client %d request %d", n, i)
					}
					if _, err := io.WriteString(nc, request(method, target, body)); err != nil {
						return err
					}
					resp, got, err := readAnswer(br, method)
					if err != nil {
						return fmt.Errorf("client %d request %d: %w", n, i, err)
					}
					id := resp.Header.Get("X-Madbase-Worker")
					if want := tokenAnswer(id, method, target, body); resp.StatusCode != 200 || string(got) != want {
						return fmt.Errorf("client %d request %d: got %d %q, want %q", n, i, resp.StatusCode, got, want)
					}
					served[map[string]int{"w1": 0, "w2": 1}[id]].Add(1)
				}
				return nil
			}()
		}()
	}
	for range clients {
		assert.NoError(t, <-errs)
	}
	total := int64(clients * perClient)
	assert.Equal(t, total, served[0].Load()+served[1].Load())
	assert.Equal(t, total, w1.hits.Load()+w2.hits.Load())
	for i, w := range []*fakeWorker{w1, w2} {
		assert.InDelta(t, total/2, w.hits.Load(), float64(total/10), "%s got an unfair share", w.id)
		assert.Equal(t, w.hits.Load(), served[i].Load(), "answers labelled %s", w.id)
	}
}

// TestWireHTTP10ClientGetsUnframedStream: an HTTP/1.0 client cannot read
// chunked framing, so a worker's answer of unknown length reaches it
// unframed, ended by the edge closing the connection.
func TestWireHTTP10ClientGetsUnframedStream(t *testing.T) {
	t.Parallel()
	e := startEdge(t)
	e.addWorker("w1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i := range 3 {
			fmt.Fprintf(w, "part %d;", i)
			w.(http.Flusher).Flush() // no Content-Length: the worker sends it chunked
		}
	}))
	e.waitWorkers(1)
	c := dialRaw(t, e)
	c.write("GET /rest/v1/stream HTTP/1.0\r\nHost: edge.test\r\n\r\n")
	raw, err := io.ReadAll(c.br) // to the end of the connection
	require.NoError(t, err)
	head, body, ok := strings.Cut(string(raw), "\r\n\r\n")
	require.True(t, ok, "%q", raw)
	assert.True(t, strings.HasPrefix(head, "HTTP/1.1 200 "), head)
	assert.NotContains(t, strings.ToLower(head), "transfer-encoding", head)
	assert.Contains(t, strings.ToLower(head), "connection: close", head)
	assert.Equal(t, "part 0;part 1;part 2;", body)
}

// TestWireSlowHeadIsCut: a client that trickles its request head a byte at
// a time and never finishes it (slow loris) has its connection answered 408
// and closed once EDGE_HEADER_TIMEOUT has passed, however steady the
// trickle; the edge goes on serving.
func TestWireSlowHeadIsCut(t *testing.T) {
	t.Parallel()
	e := startEdge(t, withEnv("EDGE_HEADER_TIMEOUT", "300ms"))
	w := e.addWorker("w1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }))
	e.waitWorkers(1)
	for _, after := range []bool{false, true} {
		t.Run(fmt.Sprintf("after a request=%v", after), func(t *testing.T) {
			c := dialRaw(t, e)
			if after {
				resp, body := c.do("GET", request("GET", "/rest/v1/first", ""))
				require.Equal(t, 200, resp.StatusCode, body)
			}
			hits := w.hits.Load()
			ended := make(chan struct{})
			go func() {
				defer close(ended)
				_, _ = io.WriteString(c.nc, "GET /rest/v1/loris HTTP/1.1\r\nHost: edge.test\r\nX-Pad: ")
				for { // until the edge or the test closes the connection
					time.Sleep(20 * time.Millisecond) // the loris's pace, not a wait for a condition
					if _, err := io.WriteString(c.nc, "a"); err != nil {
						return
					}
				}
			}()
			resp, body, err := readAnswer(c.br, "GET")
			var ne net.Error
			require.False(t, errors.As(err, &ne) && ne.Timeout(), "the edge kept the trickling connection open")
			if err == nil {
				assert.Equal(t, 408, resp.StatusCode, string(body))
				_, code := jsonError(t, body)
				assert.Equal(t, 408, code)
				c.expectClosed()
			}
			_ = c.nc.Close()
			<-ended
			assert.Equal(t, hits, w.hits.Load(), "the unfinished request reached the worker")
		})
	}
	assertServesOK(t, e, "/rest/v1/after")
}

// TestWireConnectionsPerAddressLimited: with EDGE_MAX_CONNS_PER_IP=3, a
// fourth connection from the same address is refused (429 JSON, or closed)
// while the three are served; once one closes, a new one is served.
func TestWireConnectionsPerAddressLimited(t *testing.T) {
	t.Parallel()
	const limit = 3
	e := startEdge(t, withEnv("EDGE_MAX_CONNS_PER_IP", fmt.Sprint(limit)))
	w := e.addWorker("w1", tokenHandler("w1"))
	e.waitWorkers(1)
	addr := strings.TrimPrefix(e.url, "http://")
	// serve opens a connection and has a request answered on it; on a
	// refusal it returns nil.
	serve := func() net.Conn {
		nc, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		_ = nc.SetDeadline(time.Now().Add(waitLong))
		br := bufio.NewReader(nc)
		if _, err := io.WriteString(nc, request("GET", "/rest/v1/held", "")); err == nil {
			if resp, _, err := readAnswer(br, "GET"); err == nil && resp.StatusCode == 200 {
				return nc
			}
		}
		_ = nc.Close()
		return nil
	}
	var held []net.Conn
	t.Cleanup(func() {
		for _, nc := range held {
			_ = nc.Close()
		}
	})
	// The harness's own connections (health checks) close on their own.
	bustest.Eventually(t, waitLong, func() bool {
		if nc := serve(); nc != nil {
			held = append(held, nc)
		}
		return len(held) == limit
	}, "%d connections from one address served", limit)

	hits := w.hits.Load()
	nc, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer nc.Close()
	require.NoError(t, nc.SetDeadline(time.Now().Add(waitLong)))
	_, _ = io.WriteString(nc, request("GET", "/rest/v1/one-too-many", ""))
	resp, body, err := readAnswer(bufio.NewReader(nc), "GET")
	var ne net.Error
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "the connection over the limit was left open without an answer")
	if err == nil {
		assert.Equal(t, 429, resp.StatusCode, string(body))
		_, code := jsonError(t, body)
		assert.Equal(t, 429, code)
	}
	assert.Equal(t, hits, w.hits.Load(), "the refused connection's request reached the worker")

	for i, nc := range held { // the others are served on
		_, _ = io.WriteString(nc, request("GET", "/rest/v1/again", ""))
		resp, got, err := readAnswer(bufio.NewReader(nc), "GET")
		require.NoError(t, err, "connection %d", i)
		assert.Equal(t, tokenAnswer("w1", "GET", "/rest/v1/again", ""), string(got))
		assert.Equal(t, 200, resp.StatusCode)
	}

	_ = held[0].Close()
	held = held[1:]
	bustest.Eventually(t, waitLong, func() bool {
		if nc := serve(); nc != nil {
			held = append(held, nc)
			return true
		}
		return false
	}, "a closed connection makes room for a new one")
}
