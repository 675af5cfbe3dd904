package edge_test

// TestChaosEdgeSurvivesMisbehavingClientsAndWorkers throws hostile clients
// and a broken worker at one edge for a few seconds, then checks that every
// complete answer was the right one and that nothing leaked. It runs on
// both engines, like the rest of the suite. A failure prints its seed;
// MADBASE_CHAOS_SEED=<seed> replays the same choices (the timing, and so
// the interleaving, differs from run to run).

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/madbase/madbase/bus/bustest"
	"github.com/madbase/madbase/edge"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	chaosClients = 40
	// chaosBudget is how long clients keep starting actions;
	// chaosMaxActions caps how many they start in all.
	chaosBudget     = 4 * time.Second
	chaosMaxActions = 6000
	// chaosConnTimeout bounds each exchange: a well-formed request without
	// an answer by then is a hang.
	chaosConnTimeout = 15 * time.Second
	// chaosFDMargin is how many more sockets (or other descriptors) than
	// before the chaos the settled process may hold.
	chaosFDMargin = 2
	// chaosPooledPipes is how many empty splice pipes each event loop keeps
	// for reuse (loopsplice.go): they are pooled, not leaked.
	chaosPooledPipes = 16
	// chaosExamples is how many failures of each kind the report shows.
	chaosExamples = 3
	chaosTooLarge = `{"error":"too large","code":413}`
)

func TestChaosEdgeSurvivesMisbehavingClientsAndWorkers(t *testing.T) {
	seed := time.Now().UnixNano()
	if v := os.Getenv("MADBASE_CHAOS_SEED"); v != "" {
		var err error
		seed, err = strconv.ParseInt(v, 10, 64)
		require.NoError(t, err, "MADBASE_CHAOS_SEED")
	}
	t.Logf("seed %d (replay with MADBASE_CHAOS_SEED=%d)", seed, seed)

	// A short response timeout: a worker that never answers costs a client
	// 2 s, well within its own deadline. /admin goes to a control plane
	// that answers like a good worker.
	ctl := httptest.NewServer(chaosGoodHandler("control", false))
	t.Cleanup(ctl.Close)
	e := startEdge(t, withEnv("UPSTREAM_RESPONSE_TIMEOUT", "2s"), withEnv("CONTROL_UPSTREAM_URL", ctl.URL))
	w1 := e.addWorker("w1", chaosGoodHandler("w1", false))
	w2 := e.addWorker("w2", chaosGoodHandler("w2", true))
	bad := &chaosBadWorker{rng: rand.New(rand.NewSource(seed ^ 0x5eed)), conns: map[net.Conn]struct{}{}, modes: map[string]int{}}
	bad.tame.Store(true) // until the chaos begins
	rw := e.addRawWorker("bad", bad.serve)
	e.waitWorkers(3)

	addr := strings.TrimPrefix(e.url, "http://")
	ports := map[string]string{chaosPort(addr): "edge", chaosPort(w1.srv.Listener.Addr().String()): "w1",
		chaosPort(w2.srv.Listener.Addr().String()): "w2", chaosPort(rw.addr): "bad", chaosPort(ctl.Listener.Addr().String()): "control"}

	// settle brings the process to a state that does not depend on what
	// came before: no connection between the test's clients and the edge,
	// and between the edge and each upstream one pooled connection per
	// fasthttp client at most. The upstreams close their side of every
	// connection; the loops drop theirs on the hang-up event, fasthttp's
	// clients when they next pick one: requests that only the goroutine
	// path serves (a Connection header naming another header, a chunked
	// body) meet them, and the first stale one drops its client's whole
	// pool. Their answers do not matter: with every pool stale at once, a
	// request may run out of retries.
	flush := &http.Client{Timeout: waitLong, Transport: &http.Transport{DisableKeepAlives: true}}
	flushOne := func(method, uri string, body io.Reader) {
		req, err := http.NewRequest(method, e.url+uri, body)
		require.NoError(t, err)
		req.Header.Set("Connection", "x-hop")
		req.Header.Set("X-Hop", "1")
		if resp, err := flush.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	settle := func() chaosFDs {
		w1.srv.CloseClientConnections()
		w2.srv.CloseClientConnections()
		ctl.CloseClientConnections()
		bad.closeConns()
		http.DefaultClient.CloseIdleConnections() // startEdge's and waitWorkers' /health requests
		for i := range 12 {
			flushOne("GET", fmt.Sprintf("/rest/v1/flush/%d", i), nil)
			flushOne("POST", fmt.Sprintf("/rest/v1/flush/%d", i), io.MultiReader(strings.NewReader("flu"), strings.NewReader("sh")))
		}
		flushOne("GET", "/admin/v1/flush", nil)
		flushOne("POST", "/admin/v1/flush", io.MultiReader(strings.NewReader("flu"), strings.NewReader("sh")))
		// The edge closes its side of the flush connections right after
		// answering: wait until the count holds still.
		fds := openChaosFDs()
		for range 50 {
			time.Sleep(30 * time.Millisecond)
			next := openChaosFDs()
			if len(next) == len(fds) {
				return next
			}
			fds = next
		}
		return fds
	}
	settle() // pools what the flush requests leave, as every later settle does
	before := settle()
	bad.tame.Store(false)

	blob := make([]byte, 4<<20)
	rand.New(rand.NewSource(seed)).Read(blob)
	stats := &chaosStats{seed: seed, actions: map[string]int{}, outcomes: map[string]int{}, slowest: map[string]time.Duration{},
		failures: map[string]int{}, examples: map[string][]string{}}
	deadline := time.Now().Add(chaosBudget)
	var started atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for i := range chaosClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &chaosClient{id: i, addr: addr, rng: rand.New(rand.NewSource(seed + int64(i+1)*1_000_003)), blob: blob, stats: stats}
			for time.Now().Before(deadline) && started.Add(1) <= chaosMaxActions {
				c.act()
			}
		}()
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(chaosBudget + 3*chaosConnTimeout):
		buf := make([]byte, 1<<20)
		t.Fatalf("seed %d: clients still running %s after the budget ended (every exchange has a deadline):\n%s",
			seed, 3*chaosConnTimeout, buf[:runtime.Stack(buf, true)])
	}
	stats.report(t, time.Since(start), started.Load(), bad.report())

	// The edge still serves plain requests, on both paths (a chunked body
	// goes the goroutine way), from every worker.
	bad.tame.Store(true)
	plain := &http.Client{Timeout: waitLong, Transport: &http.Transport{DisableKeepAlives: true}}
	for i := range 6 {
		for _, chunked := range []bool{false, true} {
			uri := fmt.Sprintf("/rest/v1/after/%d?chunked=%v", i, chunked)
			var body io.Reader = strings.NewReader("after the chaos")
			if chunked {
				body = io.MultiReader(strings.NewReader("after the"), strings.NewReader(" chaos"))
			}
			resp, err := plain.Post(e.url+uri, "text/plain", body)
			require.NoError(t, err, "seed %d: POST %s after the chaos", seed, uri)
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.NoError(t, err)
			w := resp.Header.Get("X-Madbase-Worker")
			assert.Equal(t, 200, resp.StatusCode, "seed %d: POST %s after the chaos: %s", seed, uri, got)
			assert.Equal(t, tokenAnswer(w, "POST", uri, "after the chaos"), string(got), "seed %d: POST %s after the chaos", seed, uri)
		}
	}

	// Every descriptor the chaos opened is closed again, but for pooled
	// splice pipes, of which each loop keeps a bounded number.
	loops := testEventLoops
	if v := os.Getenv("MADBASE_TEST_EDGE_EVENT_LOOPS"); v != "" {
		n, _ := strconv.Atoi(v)
		loops = edge.EventLoops(n).Loops
	}
	var after chaosFDs
	// A socket in CLOSE_WAIT is a connection whose peer left and that
	// nobody closed: once settled, there is none.
	leaked := func() bool {
		return len(after.closeWait()) > 0 || after.count("socket") > before.count("socket")+chaosFDMargin ||
			after.count("pipe") > before.count("pipe")+2*chaosPooledPipes*loops ||
			after.count("other") > before.count("other")+chaosFDMargin
	}
	defer func() {
		if after == nil || leaked() {
			t.Logf("seed %d: descriptors before %s, after %s, %d in CLOSE_WAIT; opened since:\n%s",
				seed, before, after, len(after.closeWait()), before.describeNew(after, ports))
		} else {
			t.Logf("descriptors: before %s, after %s", before, after)
		}
	}()
	bustest.Eventually(t, waitLong, func() bool {
		after = settle()
		return !leaked()
	}, "seed %d: open descriptors back to what they were before the chaos (none in CLOSE_WAIT)", seed)
}

// chaosGoodHandler is a well-behaved worker. It answers each request with
// X-Answer: its token answer (worker, method, target, body length and hash)
// and a body made of that answer: the answer alone, or ?size= bytes of it
// repeated; framed with Content-Length, or chunked.
func chaosGoodHandler(id string, chunked bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			// Only a client that left mid-body may cause this; a text 500
			// fails the test if it ever reaches a client.
			http.Error(w, "reading the body: "+err.Error(), 500)
			return
		}
		ans := tokenAnswer(id, r.Method, r.RequestURI, string(b))
		n := chaosBodyLen(r.URL, ans)
		w.Header().Set("X-Answer", ans)
		if chunked {
			w.WriteHeader(200)
			w.(http.Flusher).Flush() // no length: the body goes chunked
		} else {
			w.Header().Set("Content-Length", strconv.Itoa(n))
		}
		_ = writeChaosBody(w, ans, n)
	})
}

// chaosBodyLen is the length of the body answering ans to a request for u.
func chaosBodyLen(u *url.URL, ans string) int {
	if n, err := strconv.Atoi(u.Query().Get("size")); err == nil && n > 0 {
		return n
	}
	return len(ans)
}

// chaosBlock is ans and a newline repeated to at least 64 KiB; a body is a
// prefix of it repeated.
func chaosBlock(ans string) []byte {
	unit := ans + "\n"
	return bytes.Repeat([]byte(unit), (64<<10)/len(unit)+1)
}

func writeChaosBody(w io.Writer, ans string, n int) error {
	block := chaosBlock(ans)
	for n > 0 {
		k := min(n, len(block))
		if _, err := w.Write(block[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

func chaosBody(ans string, n int) []byte {
	var b bytes.Buffer
	_ = writeChaosBody(&b, ans, n)
	return b.Bytes()
}

// chaosBodyCheck compares a body with the one that answers ans as it
// streams in.
type chaosBodyCheck struct {
	block    []byte
	n, pos   int
	total    int
	mismatch bool
}

func newChaosBodyCheck(ans string, n int) *chaosBodyCheck {
	return &chaosBodyCheck{block: chaosBlock(ans), n: n}
}

func (b *chaosBodyCheck) Write(p []byte) (int, error) {
	n := len(p)
	b.total += n
	for !b.mismatch && len(p) > 0 {
		if b.pos >= b.n {
			b.mismatch = true
			break
		}
		off := b.pos % len(b.block)
		k := min(len(p), len(b.block)-off, b.n-b.pos)
		if !bytes.Equal(p[:k], b.block[off:off+k]) {
			for i := range k {
				if p[i] != b.block[off+i] {
					b.pos += i
					break
				}
			}
			b.mismatch = true
			break
		}
		p = p[k:]
		b.pos += k
	}
	return n, nil
}

func (b *chaosBodyCheck) ok() bool { return !b.mismatch && b.pos == b.n && b.total == b.n }

// chaosBadWorker is a raw worker that answers right only some of the time:
// it may cut its body, send a malformed head, answer 413 before reading the
// body, take its time, or close the connection after answering without
// saying so. Tame, it always answers right.
type chaosBadWorker struct {
	tame  atomic.Bool
	mu    sync.Mutex
	rng   *rand.Rand
	conns map[net.Conn]struct{}
	modes map[string]int
}

// chaosBadMode is a way the bad worker answers, drawn with its weight.
type chaosBadMode struct {
	name   string
	weight int
}

func (m chaosBadMode) chance() int { return m.weight }

var chaosBadModes = []chaosBadMode{
	{"ok", 6}, {"slow", 3}, {"cut-body", 3}, {"malformed", 3}, {"early-413", 2}, {"close-after", 3}, {"close-before", 1},
}

// chaosBadPlan is what the bad worker does with one request, drawn at once.
type chaosBadPlan struct {
	mode    string
	variant int
	chunked bool
	cut     float64
	delay   time.Duration
}

func (b *chaosBadWorker) plan(hasBody bool) chaosBadPlan {
	p := chaosBadPlan{mode: "ok", chunked: b.rng.Intn(2) == 0, cut: b.rng.Float64(), variant: b.rng.Intn(9),
		delay: time.Duration(20+b.rng.Intn(380)) * time.Millisecond}
	if !b.tame.Load() {
		p.mode = chaosPick(b.rng, chaosBadModes).name
	}
	if p.mode == "early-413" && !hasBody {
		p.mode = "ok"
	}
	return p
}

func (b *chaosBadWorker) serve(_ *rawWorker, c net.Conn, _ *bufio.Reader, r *http.Request) bool {
	b.mu.Lock()
	b.conns[c] = struct{}{}
	p := b.plan(r.ContentLength != 0)
	b.modes[p.mode]++
	b.mu.Unlock()
	if p.mode == "early-413" {
		_, _ = fmt.Fprintf(c, "HTTP/1.1 413 Request Entity Too Large\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"+
			"Connection: close\r\n\r\n%s", len(chaosTooLarge), chaosTooLarge)
		return false
	}
	body, err := io.ReadAll(r.Body)
	if err != nil || p.mode == "close-before" {
		return false
	}
	ans := tokenAnswer("bad", r.Method, r.RequestURI, string(body))
	n := chaosBodyLen(r.URL, ans)
	head := r.Method == http.MethodHead
	switch p.mode {
	case "malformed":
		_, _ = c.Write(chaosMalformed(p.variant, ans, n, head))
		return false
	case "slow":
		time.Sleep(p.delay) // the worker's pace
	}
	full := chaosBody(ans, n)
	if head {
		full = nil
	}
	var out bytes.Buffer
	fmt.Fprintf(&out, "HTTP/1.1 200 OK\r\nX-Answer: %s\r\n", ans)
	if p.chunked {
		out.WriteString("Transfer-Encoding: chunked\r\n\r\n")
		for rest := full; len(rest) > 0; {
			k := min(len(rest), 1+(len(rest)*7)%(48<<10))
			fmt.Fprintf(&out, "%x\r\n%s\r\n", k, rest[:k])
			rest = rest[k:]
		}
		if !head {
			out.WriteString("0\r\n\r\n")
		}
	} else {
		fmt.Fprintf(&out, "Content-Length: %d\r\n\r\n", n)
		out.Write(full)
	}
	wire := out.Bytes()
	if p.mode == "cut-body" && !head {
		headLen := bytes.Index(wire, []byte("\r\n\r\n")) + 4
		wire = wire[:headLen+int(p.cut*float64(len(wire)-headLen))]
	}
	pieces := 1
	if p.mode == "slow" {
		pieces = 4
	}
	for i := range pieces {
		piece := wire[i*len(wire)/pieces : (i+1)*len(wire)/pieces]
		if i > 0 {
			time.Sleep(p.delay / 8) // the worker's pace
		}
		if _, err := c.Write(piece); err != nil {
			return false
		}
	}
	return p.mode == "ok" || p.mode == "slow"
}

// chaosMalformed is an answer with a head the edge must not relay as it
// is. Each carries the right body, so an edge that makes sense of it
// anyway relays the right answer.
func chaosMalformed(variant int, ans string, n int, head bool) []byte {
	body := chaosBody(ans, n)
	if head {
		body = nil
	}
	xa := "X-Answer: " + ans + "\r\n"
	cl := "Content-Length: " + strconv.Itoa(n) + "\r\n"
	var s string
	switch variant {
	case 0:
		s = "HTTP/1.1 2x0 OK\r\n" + xa + cl + "\r\n" + string(body)
	case 1:
		s = "HTTP/1.1 200 OK\r\n" + xa + "this is no header line\r\n" + cl + "\r\n" + string(body)
	case 2:
		s = "220 smtp.example ESMTP ready\r\n\r\n"
	case 3:
		s = "HTTP/1.1 200 OK\r\n" + xa + "Content-Length: -5\r\n\r\n" + string(body)
	case 4:
		s = "HTTP/1.1 200 OK\r\n" + xa + "Transfer-Encoding: chunked\r\n\r\nzz\r\n" + string(body)
	case 5:
		s = "HTTP/1.1 200 OK\nX-Answer: " + ans + "\nContent-Length: " + strconv.Itoa(n) + "\n\n" + string(body)
	case 6:
		s = "HTTP/1.1 200 OK\r\n" + xa + cl + "Content-Length: " + strconv.Itoa(n+1) + "\r\n\r\n" + string(body)
	case 7:
		s = "HTTP/1.1 200 OK\r\n" + xa + "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
		if !head {
			s += fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(body), body)
		}
	default:
		s = "HTTP/1.1 200 OK\r\n" + xa + "X-Huge: " + strings.Repeat("h", 70<<10) + "\r\n" + cl + "\r\n" + string(body)
	}
	return []byte(s)
}

// closeConns closes the worker's side of every connection it served.
func (b *chaosBadWorker) closeConns() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for c := range b.conns {
		_ = c.Close()
	}
	clear(b.conns)
}

func (b *chaosBadWorker) report() map[string]int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return maps.Clone(b.modes)
}

// chaosStats counts what the clients did and saw, and keeps the first
// failures.
type chaosStats struct {
	seed     int64
	mu       sync.Mutex
	actions  map[string]int
	outcomes map[string]int
	slowest  map[string]time.Duration
	// failures counts failures by kind, in the order kinds first came, with
	// a few examples each.
	kinds    []string
	failures map[string]int
	examples map[string][]string
}

func (s *chaosStats) action(name string, took time.Duration) {
	s.mu.Lock()
	s.actions[name]++
	s.slowest[name] = max(s.slowest[name], took)
	s.mu.Unlock()
}

func (s *chaosStats) outcome(name string, n int) {
	s.mu.Lock()
	s.outcomes[name] += n
	s.mu.Unlock()
}

func (s *chaosStats) fail(kind, format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failures[kind] == 0 {
		s.kinds = append(s.kinds, kind)
	}
	s.failures[kind]++
	if len(s.examples[kind]) < chaosExamples {
		s.examples[kind] = append(s.examples[kind], fmt.Sprintf(format, args...))
	}
}

func (s *chaosStats) report(t *testing.T, took time.Duration, started int64, modes map[string]int) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	engine := "event loops"
	if os.Getenv("MADBASE_TEST_EDGE_EVENT_LOOPS") == "-1" {
		engine = "goroutines"
	}
	t.Logf("chaos (%s engine): %d clients, %d actions in %s, seed %d", engine, chaosClients, min(started, chaosMaxActions), took.Round(time.Millisecond), s.seed)
	t.Logf("actions:  %s", chaosCounts(s.actions))
	t.Logf("outcomes: %s", chaosCounts(s.outcomes))
	slowest := map[string]int{}
	for k, v := range s.slowest {
		slowest[k] = int(v.Milliseconds())
	}
	t.Logf("slowest action, ms: %s", chaosCounts(slowest))
	t.Logf("bad worker: %s", chaosCounts(modes))
	for _, kind := range s.kinds {
		t.Errorf("seed %d: %s: %d times, e.g.\n    %s", s.seed, kind, s.failures[kind], strings.Join(s.examples[kind], "\n    "))
	}
}

func chaosCounts(m map[string]int) string {
	keys := slices.Sorted(maps.Keys(m))
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s=%d", k, m[k])
	}
	return b.String()
}

// chaosClient is one misbehaving client; its random choices come from its
// own source, seeded from the test's seed.
type chaosClient struct {
	id    int
	addr  string
	rng   *rand.Rand
	seq   int
	blob  []byte
	stats *chaosStats
	// action is the one being done, prev the last answer on its
	// connection and next the requests pipelined after the one being
	// answered, for failure messages.
	action, prev, next string
}

// chaosAction is a thing a client does, drawn with its weight.
type chaosAction struct {
	name   string
	weight int
	run    func(c *chaosClient, nc *chaosConn, br *bufio.Reader) // on a connection of its own
}

func (a chaosAction) chance() int { return a.weight }

var chaosActions = []chaosAction{
	{"pipelined", 30, (*chaosClient).pipelined},
	{"partial-head", 6, (*chaosClient).partialHead},
	{"close-mid-body", 7, (*chaosClient).closeMidBody},
	{"close-mid-response", 7, (*chaosClient).closeMidResponse},
	{"slow-read", 4, (*chaosClient).slowRead},
	{"trickle-write", 3, (*chaosClient).trickleWrite},
	{"garbage", 4, (*chaosClient).garbage},
	{"garbage-header", 3, (*chaosClient).garbageHeader},
	{"oversize-head", 2, (*chaosClient).oversizeHead},
	{"bare-lf", 4, (*chaosClient).bareLF},
	{"chunked-body", 6, (*chaosClient).chunkedBody},
	{"expect-continue", 5, (*chaosClient).expectContinue},
	{"http10", 4, (*chaosClient).http10},
	{"health-admin", 4, (*chaosClient).healthAdmin},
}

func (c *chaosClient) act() {
	a := chaosPick(c.rng, chaosActions)
	start := time.Now()
	c.action = a.name
	if nc, br, ok := c.dial(); ok {
		a.run(c, nc, br)
		nc.close()
	}
	c.stats.action(a.name, time.Since(start))
}

// chaosPick draws one of choices, each as likely as its chance() says.
func chaosPick[T interface{ chance() int }](rng *rand.Rand, choices []T) T {
	total := 0
	for _, ch := range choices {
		total += ch.chance()
	}
	x := rng.Intn(total)
	for _, ch := range choices {
		if x -= ch.chance(); x < 0 {
			return ch
		}
	}
	return choices[len(choices)-1] // not reached: x < total
}

// chaosKind says what answers a request: a worker, control, or the edge.
type chaosKind int

const (
	kindAPI chaosKind = iota
	kindHealth
	kindAdmin
)

// chaosReq is a request a client sends, and what it takes to check its
// answer.
type chaosReq struct {
	kind    chaosKind
	method  string
	uri     string
	proto   string // HTTP/1.1 when empty
	headers []string
	body    []byte
	chunked bool // send the body chunked
}

func (r *chaosReq) String() string { return r.method + " " + r.uri }

// askSize sets the ?size= of an API request's target: the answer's body
// length.
func (r *chaosReq) askSize(n int) {
	r.uri = r.uri[:strings.LastIndexByte(r.uri, '=')+1] + strconv.Itoa(n)
}

// wire is the request's bytes, and where its body begins.
func (r *chaosReq) wire(rng *rand.Rand) ([]byte, int) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s %s\r\nHost: edge.test\r\n", r.method, r.uri, cmp.Or(r.proto, "HTTP/1.1"))
	for _, h := range r.headers {
		b.WriteString(h + "\r\n")
	}
	switch {
	case r.chunked:
		b.WriteString("Transfer-Encoding: chunked\r\n")
	case len(r.body) > 0 || r.method == "POST" || r.method == "PUT" || r.method == "PATCH":
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(r.body))
	}
	b.WriteString("\r\n")
	headLen := b.Len()
	if !r.chunked {
		b.Write(r.body)
		return b.Bytes(), headLen
	}
	for rest := r.body; len(rest) > 0; {
		k := min(len(rest), 1+rng.Intn(64<<10))
		ext := ""
		if rng.Intn(8) == 0 {
			ext = ";chaos=1"
		}
		fmt.Fprintf(&b, "%x%s\r\n%s\r\n", k, ext, rest[:k])
		rest = rest[k:]
	}
	b.WriteString("0\r\n\r\n")
	return b.Bytes(), headLen
}

var chaosPrefixes = []string{"/rest/v1/items", "/auth/v1/user", "/storage/v1/object/b", "/functions/v1/fn", "/realtime/v1/api"}

// large is 256 KiB to 4 MiB, past the loops' splice threshold, the
// smaller sizes likelier (log-uniform).
func (c *chaosClient) large() int { return int(float64(256<<10) * math.Pow(16, c.rng.Float64())) }

func (c *chaosClient) bodySize(allowLarge bool) int {
	switch x := c.rng.Intn(20); {
	case allowLarge && x == 0:
		return c.large()
	case x < 12:
		return c.rng.Intn(64)
	default:
		return c.rng.Intn(64 << 10)
	}
}

// respSize is the ?size= of a request: 0 asks for the answer line alone.
func (c *chaosClient) respSize(allowLarge bool) int {
	switch x := c.rng.Intn(20); {
	case allowLarge && x >= 18:
		return c.large()
	case x < 12:
		return 0
	default:
		return 1 + c.rng.Intn(64<<10)
	}
}

func (c *chaosClient) bytesOf(n int) []byte {
	off := c.rng.Intn(len(c.blob) - n + 1)
	return c.blob[off : off+n : off+n]
}

// newRequest makes a well-formed API request with a target no other
// request has; allowLarge lets its body or its answer be large.
func (c *chaosClient) newRequest(allowLarge bool, methods ...string) *chaosReq {
	if len(methods) == 0 {
		methods = []string{"GET", "GET", "HEAD", "POST", "POST", "PUT", "PATCH", "DELETE"}
	}
	c.seq++
	r := &chaosReq{kind: kindAPI, method: methods[c.rng.Intn(len(methods))]}
	if r.method == "POST" || r.method == "PUT" || r.method == "PATCH" {
		r.body = c.bytesOf(c.bodySize(allowLarge))
	}
	size := c.respSize(allowLarge && len(r.body) < 256<<10)
	r.uri = fmt.Sprintf("%s/c%d-%d?size=%d", chaosPrefixes[c.rng.Intn(len(chaosPrefixes))], c.id, c.seq, size)
	if c.rng.Intn(4) == 0 {
		r.headers = append(r.headers, fmt.Sprintf("X-Request-Id: chaos-%d-%d", c.id, c.seq))
	}
	if c.rng.Intn(6) == 0 {
		r.headers = append(r.headers, "Origin: http://app.example")
	}
	if c.rng.Intn(6) == 0 {
		r.headers = append(r.headers, "x-forwarded-for: 6.6.6.6")
	}
	if c.rng.Intn(8) == 0 {
		r.headers = append(r.headers, "Connection: keep-alive")
	}
	return r
}

// newAdminRequest makes a request for control, which answers like a good
// worker.
func (c *chaosClient) newAdminRequest() *chaosReq {
	c.seq++
	r := &chaosReq{kind: kindAdmin, method: []string{"GET", "HEAD", "POST"}[c.rng.Intn(3)]}
	if r.method == "POST" {
		r.body = c.bytesOf(c.bodySize(false))
	}
	r.uri = fmt.Sprintf("/admin/v1/chaos/c%d-%d?size=%d", c.id, c.seq, c.respSize(false))
	return r
}

// fail records a failure with the client and the action it was doing.
func (c *chaosClient) fail(kind, format string, args ...any) {
	c.stats.fail(kind, "client %d, %s: "+format, append([]any{c.id, c.action}, args...)...)
}

// dial connects to the edge for an action; act closes the connection.
func (c *chaosClient) dial() (*chaosConn, *bufio.Reader, bool) {
	conn, err := net.DialTimeout("tcp", c.addr, chaosConnTimeout)
	if err != nil {
		c.fail("the edge refused a connection", "the edge refused a connection: %v", err)
		return nil, nil, false
	}
	_ = conn.SetDeadline(time.Now().Add(chaosConnTimeout))
	c.prev, c.next = "", ""
	return &chaosConn{Conn: conn}, bufio.NewReader(conn), true
}

// chaosConn is a client's connection to the edge.
type chaosConn struct {
	net.Conn
	writing sync.WaitGroup
}

// send writes b in the background: the edge may answer, or stop reading,
// before the last byte. close waits for it.
func (nc *chaosConn) send(b []byte) <-chan error {
	done := make(chan error, 1)
	nc.writing.Go(func() {
		_, err := nc.Write(b)
		done <- err
	})
	return done
}

// close closes the connection, then waits for the writes sent on it.
func (nc *chaosConn) close() {
	_ = nc.Close()
	nc.writing.Wait()
}

func (c *chaosClient) sleep(max time.Duration) {
	time.Sleep(time.Duration(c.rng.Int63n(int64(max) + 1))) // the client's pace
}

// judge reads the answer to r and checks it; false means the connection
// carries no further answer.
func (c *chaosClient) judge(br *bufio.Reader, r *chaosReq, lenient, slow bool) bool {
	resp, ok := c.readHead(br, r, "before the head")
	if !ok {
		return false
	}
	return c.judgeResponse(resp, r, lenient, slow)
}

// readHead reads the head of the answer to r; when none comes, it records
// the cut, where, and returns false.
func (c *chaosClient) readHead(br *bufio.Reader, r *chaosReq, where string) (*http.Response, bool) {
	resp, err := http.ReadResponse(br, &http.Request{Method: r.method})
	if err != nil {
		c.cut(r, where, "", err)
		return nil, false
	}
	return resp, true
}

// judgeResponse checks an answer: from a worker or control (the right
// one), or an error from the edge in its JSON shape (the bad worker's 413
// relayed too). lenient also accepts a 4xx (requests a parser may reject).
func (c *chaosClient) judgeResponse(resp *http.Response, r *chaosReq, lenient, slow bool) bool {
	defer resp.Body.Close()
	defer func() { c.prev = fmt.Sprintf("%s answered %d", r, resp.StatusCode) }()
	worker := resp.Header.Get("X-Madbase-Worker")
	from := worker
	if r.kind == kindAdmin && worker == "" {
		from = "control"
	}
	if r.proto == "HTTP/1.0" && len(resp.TransferEncoding) > 0 {
		c.fail("a chunked answer to an HTTP/1.0 request", "%s HTTP/1.0: answered with Transfer-Encoding %v, which an HTTP/1.0 client cannot read (from %s)",
			r, resp.TransferEncoding, from)
	}
	switch {
	case r.kind == kindHealth:
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			c.cut(r, "in the body", "edge", err)
			return false
		}
		var h struct {
			Status string `json:"status"`
		}
		if resp.StatusCode != 200 || json.Unmarshal(body, &h) != nil || h.Status != "ok" {
			c.fail("a wrong /health answer", "%s: %d %q", r, resp.StatusCode, chaosClip(body))
			return false
		}
		c.stats.outcome("200 from the edge (health)", 1)

	case resp.StatusCode == 200 && (r.kind == kindAdmin && from == "control" || r.kind == kindAPI && (from == "w1" || from == "w2" || from == "bad")):
		ans := tokenAnswer(from, r.method, r.uri, string(r.body))
		if got := resp.Header.Get("X-Answer"); got != ans {
			c.fail("the answer to another request", "%s: the answer to another request: X-Answer %q, want %q", r, got, ans)
			return false
		}
		n := chaosBodyLen(chaosURL(r.uri), ans)
		if r.method == "HEAD" {
			n = 0
		}
		check := newChaosBodyCheck(ans, n)
		var err error
		if slow {
			err = c.slowCopy(check, resp.Body)
		} else {
			_, err = io.Copy(check, resp.Body)
		}
		if err != nil {
			c.cut(r, "in the body", from, err)
			return false
		}
		if !check.ok() {
			c.fail("a complete wrong body", "%s: a complete wrong body from %s: %d bytes, want %d, first difference at byte %d",
				r, from, check.total, n, check.pos)
			return false
		}
		c.stats.outcome("200 from "+from, 1)

	case resp.StatusCode == 413 && worker == "bad":
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			c.cut(r, "in the body", worker, err)
			return false
		}
		want := chaosTooLarge
		if r.method == "HEAD" {
			want = ""
		}
		if string(body) != want {
			c.fail("the bad worker's 413 altered", "%s: the bad worker's 413 arrived as %q", r, chaosClip(body))
			return false
		}
		c.stats.outcome("413 from bad", 1)

	case resp.StatusCode >= 500 && resp.StatusCode < 600 || lenient && resp.StatusCode >= 400 && resp.StatusCode < 500:
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			c.cut(r, "in the body", worker, err)
			return false
		}
		// A lenient 4xx may come from a worker's parser, in its own shape.
		if (resp.StatusCode >= 500 || worker == "") && !chaosJSONError(resp, r.method, body) {
			c.fail("an error without the JSON shape", "%s: %d without the JSON error shape (worker %q): %q", r, resp.StatusCode, worker, chaosClip(body))
			return false
		}
		c.stats.outcome(strconv.Itoa(resp.StatusCode), 1)

	default:
		body, _ := io.ReadAll(resp.Body)
		c.fail("an unexpected status", "%s: unexpected %d from %q: %q", r, resp.StatusCode, from, chaosClip(body))
		return false
	}
	return !resp.Close
}

// cut records an answer that broke off. A connection cut short is a fair
// end of an exchange with a broken worker; silence past the deadline, bytes
// that make no answer, or a good upstream's answer lost are not.
func (c *chaosClient) cut(r *chaosReq, where, from string, err error) {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		c.fail("no answer in time (a hang)", "%s: no answer within %s (%s, from %q): %v", r, chaosConnTimeout, where, from, err)
		return
	case !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, syscall.ECONNRESET) &&
		!errors.Is(err, syscall.EPIPE) && !errors.Is(err, net.ErrClosed) &&
		!strings.Contains(err.Error(), "unexpected EOF"): // net/http's "unexpected EOF reading trailer"
		c.fail("a garbled answer stream", "%s: a garbled answer (%s, from %q; the answer before on this connection: %s): %v",
			r, where, from, cmp.Or(c.prev, "none"), err)
		return
	case from == "w1" || from == "w2" || from == "control":
		// The edge had the whole answer: it must not lose it, whatever
		// happens to the requests after it on the connection.
		c.fail("a good upstream's answer cut short", "%s: the answer from %s broke off (%s; the answer before on this connection: %s; pipelined after it: %s): %v",
			r, from, where, cmp.Or(c.prev, "none"), cmp.Or(c.next, "none"), err)
		return
	}
	c.stats.outcome("cut "+where, 1)
}

func (c *chaosClient) slowCopy(dst io.Writer, src io.Reader) error {
	buf := make([]byte, 1<<10+c.rng.Intn(16<<10))
	for i := 0; ; i++ {
		n, err := src.Read(buf)
		_, _ = dst.Write(buf[:n])
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if i%4 == 3 {
			time.Sleep(time.Millisecond) // the client's pace
		}
	}
}

func chaosURL(uri string) *url.URL {
	u, _ := url.ParseRequestURI(uri)
	if u == nil {
		return &url.URL{}
	}
	return u
}

// chaosJSONError tells whether an error answer has the edge's JSON shape
// (an answer to HEAD only its type: it has no body).
func chaosJSONError(resp *http.Response, method string, body []byte) bool {
	if method == "HEAD" {
		return resp.Header.Get("Content-Type") == "application/json" && len(body) == 0
	}
	var e struct {
		Error string `json:"error"`
		Code  int    `json:"code"`
	}
	return resp.Header.Get("Content-Type") == "application/json" && json.Unmarshal(body, &e) == nil &&
		e.Error != "" && e.Code == resp.StatusCode
}

func chaosClip(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}

// pipelined sends one to four requests in one write, up to three times on
// one connection, and checks every answer in order.
func (c *chaosClient) pipelined(nc *chaosConn, br *bufio.Reader) {
	for range 1 + c.rng.Intn(3) {
		_ = nc.SetDeadline(time.Now().Add(chaosConnTimeout))
		reqs := make([]*chaosReq, 1+c.rng.Intn(4))
		large := c.rng.Intn(len(reqs)) // one request at most may be large
		var wire []byte
		for i := range reqs {
			switch c.rng.Intn(24) {
			case 0:
				reqs[i] = &chaosReq{kind: kindHealth, method: "GET", uri: "/health"}
			case 1:
				reqs[i] = c.newAdminRequest()
			default:
				reqs[i] = c.newRequest(i == large)
			}
			if i == len(reqs)-1 && c.rng.Intn(10) == 0 {
				reqs[i].headers = append(reqs[i].headers, "Connection: close")
			}
			b, _ := reqs[i].wire(c.rng)
			wire = append(wire, b...)
		}
		nc.send(wire)
		for i, r := range reqs {
			var after []string
			for _, r := range reqs[i+1:] {
				after = append(after, r.String())
			}
			c.next = strings.Join(after, ", ")
			if !c.judge(br, r, false, false) {
				if left := len(reqs) - i - 1; left > 0 {
					c.stats.outcome("unanswered after the connection ended", left)
				}
				return
			}
		}
	}
}

// partialHead sends part of a head, maybe after a whole exchange, and
// leaves.
func (c *chaosClient) partialHead(nc *chaosConn, br *bufio.Reader) {
	if c.rng.Intn(3) == 0 {
		r := c.newRequest(false)
		b, _ := r.wire(c.rng)
		done := nc.send(b)
		alive := c.judge(br, r, false, false)
		if err := <-done; err != nil || !alive {
			return
		}
	}
	r := c.newRequest(false)
	b, headLen := r.wire(c.rng)
	cut := 1 + c.rng.Intn(headLen-1)
	for off := 0; off < cut; {
		k := min(cut-off, 1+c.rng.Intn(cut))
		if _, err := nc.Write(b[off : off+k]); err != nil {
			return
		}
		off += k
		c.sleep(10 * time.Millisecond)
	}
	c.sleep(50 * time.Millisecond)
}

// uploadSize is a body length: 1 to 64 KiB, or large() one time in
// largeOneIn.
func (c *chaosClient) uploadSize(largeOneIn int) int {
	n := 1 + c.rng.Intn(64<<10)
	if c.rng.Intn(largeOneIn) == 0 {
		n = c.large()
	}
	return n
}

// closeMidBody sends a head and part of its body, and leaves.
func (c *chaosClient) closeMidBody(nc *chaosConn, _ *bufio.Reader) {
	r := c.newRequest(false, "POST", "PUT")
	r.body = c.bytesOf(c.uploadSize(3))
	r.chunked = c.rng.Intn(4) == 0
	b, headLen := r.wire(c.rng)
	nc.send(b[:headLen+c.rng.Intn(len(b)-headLen)])
	c.sleep(50 * time.Millisecond)
}

// closeMidResponse asks for answers and leaves before they are all read.
func (c *chaosClient) closeMidResponse(nc *chaosConn, br *bufio.Reader) {
	var wire []byte
	var first *chaosReq
	for range 1 + c.rng.Intn(3) {
		r := c.newRequest(false, "GET", "POST")
		size := c.large()
		if c.rng.Intn(3) == 0 {
			size = 1 + c.rng.Intn(200<<10)
		}
		r.askSize(size)
		b, _ := r.wire(c.rng)
		wire = append(wire, b...)
		if first == nil {
			first = r
		}
	}
	nc.send(wire)
	switch c.rng.Intn(3) {
	case 0: // leave at once
		c.sleep(5 * time.Millisecond)
	case 1: // leave after the head
		resp, err := http.ReadResponse(br, &http.Request{Method: first.method})
		if err == nil {
			resp.Body.Close()
		}
	default: // leave in the body
		resp, err := http.ReadResponse(br, &http.Request{Method: first.method})
		if err == nil {
			_, _ = io.CopyN(io.Discard, resp.Body, int64(c.rng.Intn(512<<10)))
		}
	}
}

// slowRead reads a large answer in small pieces.
func (c *chaosClient) slowRead(nc *chaosConn, br *bufio.Reader) {
	r := c.newRequest(false, "GET", "POST")
	r.askSize(256<<10 + c.rng.Intn(1792<<10))
	b, _ := r.wire(c.rng)
	nc.send(b)
	if c.judge(br, r, false, true) && c.rng.Intn(2) == 0 {
		r := c.newRequest(false)
		b, _ := r.wire(c.rng)
		nc.send(b)
		c.judge(br, r, false, false)
	}
}

// trickleWrite sends a request a few bytes at a time.
func (c *chaosClient) trickleWrite(nc *chaosConn, br *bufio.Reader) {
	r := c.newRequest(false)
	if len(r.body) > 256 {
		r.body = r.body[:256]
	}
	b, _ := r.wire(c.rng)
	step := max(1, len(b)/40)
	for off := 0; off < len(b); {
		k := min(len(b)-off, 1+c.rng.Intn(step))
		if _, err := nc.Write(b[off : off+k]); err != nil {
			break // the edge answered early (the bad worker's 413) and closed: judge what came
		}
		off += k
		time.Sleep(time.Millisecond) // the client's pace
	}
	c.judge(br, r, false, false)
}

// garbage sends random bytes; the edge may answer 400 in its JSON shape,
// close, or wait for more.
func (c *chaosClient) garbage(nc *chaosConn, br *bufio.Reader) {
	g := make([]byte, 1+c.rng.Intn(4096))
	c.rng.Read(g)
	if c.rng.Intn(2) == 0 {
		g = append(g, "\r\n\r\n"...)
	}
	nc.send(g)
	_ = nc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	resp, err := http.ReadResponse(br, nil)
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		c.stats.outcome("garbage: no answer yet", 1)
	case err != nil:
		c.stats.outcome("garbage: closed", 1)
	default:
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil && (resp.StatusCode < 400 || resp.StatusCode >= 500 || !chaosJSONError(resp, "GET", body)) {
			c.fail("garbage answered wrong", "garbage %q answered %d %q", chaosClip(g), resp.StatusCode, chaosClip(body))
			return
		}
		c.stats.outcome(fmt.Sprintf("garbage: %d", resp.StatusCode), 1)
	}
}

// garbageHeader sends a request with one random header line: rejected, or
// served right.
func (c *chaosClient) garbageHeader(nc *chaosConn, br *bufio.Reader) {
	r := c.newRequest(false, "GET")
	line := make([]byte, 1+c.rng.Intn(200))
	c.rng.Read(line)
	for i, x := range line {
		if x == '\r' || x == '\n' {
			line[i] = 'x'
		}
	}
	r.headers = append(r.headers, string(line))
	b, _ := r.wire(c.rng)
	nc.send(b)
	c.judge(br, r, true, false)
}

// oversizeHead sends a head larger than any buffer: 431 or a cut.
func (c *chaosClient) oversizeHead(nc *chaosConn, br *bufio.Reader) {
	r := c.newRequest(false, "GET", "POST")
	r.headers = append(r.headers, "X-Big: "+strings.Repeat("b", 65<<10+c.rng.Intn(40<<10)))
	b, _ := r.wire(c.rng)
	nc.send(b)
	resp, ok := c.readHead(br, r, "before the head (oversize head)")
	if !ok {
		return
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		c.cut(r, "in the body (oversize head)", "", err)
		return
	}
	if resp.StatusCode != 431 || !chaosJSONError(resp, r.method, body) {
		c.fail("an oversize head not answered 431", "%s with a %d-byte head: %d %q, want 431 in the JSON shape", r, len(b), resp.StatusCode, chaosClip(body))
		return
	}
	c.stats.outcome("431", 1)
}

// bareLF sends a head with some lines ended by a bare LF. Parsers may
// take it, reject it, or (when no CRLF CRLF ends it) wait for the rest of
// it; a head that a CRLF CRLF ends gets an answer.
func (c *chaosClient) bareLF(nc *chaosConn, br *bufio.Reader) {
	r := c.newRequest(false)
	b, headLen := r.wire(c.rng)
	lines := strings.Split(strings.TrimSuffix(string(b[:headLen]), "\r\n\r\n"), "\r\n")
	lines = append(lines, "", "")
	lf := c.rng.Intn(len(lines) - 1)
	var head strings.Builder
	for i, l := range lines[:len(lines)-1] {
		head.WriteString(l)
		if i == lf || c.rng.Intn(2) == 0 {
			head.WriteString("\n")
		} else {
			head.WriteString("\r\n")
		}
	}
	complete := strings.Contains(head.String(), "\r\n\r\n")
	nc.send(append([]byte(head.String()), b[headLen:]...))
	if !complete {
		_ = nc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if _, err := br.Peek(1); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				c.stats.outcome("bare-lf: waits for CRLF CRLF", 1)
			} else {
				c.stats.outcome("bare-lf: closed", 1)
			}
			return
		}
		_ = nc.SetReadDeadline(time.Now().Add(chaosConnTimeout))
	}
	c.judge(br, r, true, false)
}

// chunkedBody sends a body in chunks, then maybe a plain request on the
// same connection.
func (c *chaosClient) chunkedBody(nc *chaosConn, br *bufio.Reader) {
	for i := range 1 + c.rng.Intn(2) {
		r := c.newRequest(false, "POST", "PUT", "PATCH")
		if i == 0 {
			n := c.rng.Intn(64 << 10)
			if c.rng.Intn(10) == 0 {
				n = c.large()
			}
			r.body, r.chunked = c.bytesOf(n), true
		}
		b, _ := r.wire(c.rng)
		nc.send(b)
		if !c.judge(br, r, false, false) {
			return
		}
	}
}

// expectContinue sends a head with Expect: 100-continue and the body after
// the interim answer (or at once, as some clients do).
func (c *chaosClient) expectContinue(nc *chaosConn, br *bufio.Reader) {
	r := c.newRequest(false, "POST", "PUT")
	r.body = c.bytesOf(c.uploadSize(10))
	r.headers = append(r.headers, "Expect: 100-continue")
	b, headLen := r.wire(c.rng)
	eager := c.rng.Intn(3) == 0
	if eager {
		nc.send(b)
	} else {
		nc.send(b[:headLen])
	}
	for {
		resp, ok := c.readHead(br, r, "before the head (expect)")
		if !ok {
			return
		}
		if resp.StatusCode == 100 {
			if !eager {
				eager = true
				nc.send(b[headLen:])
			}
			continue
		}
		c.judgeResponse(resp, r, false, false)
		return
	}
}

// http10 sends an HTTP/1.0 request: answered, then closed.
func (c *chaosClient) http10(nc *chaosConn, br *bufio.Reader) {
	r := c.newRequest(false, "GET", "HEAD", "POST")
	r.proto = "HTTP/1.0"
	r.headers = slices.DeleteFunc(r.headers, func(h string) bool { return h == "Connection: keep-alive" })
	b, _ := r.wire(c.rng)
	nc.send(b)
	resp, ok := c.readHead(br, r, "before the head (HTTP/1.0)")
	if !ok {
		return
	}
	resp.Close = false // judged below, not by judgeResponse
	if !c.judgeResponse(resp, r, false, false) {
		return
	}
	_ = nc.SetReadDeadline(time.Now().Add(chaosConnTimeout))
	x, err := br.ReadByte()
	var ne net.Error
	switch {
	case err == nil:
		c.fail("bytes after an HTTP/1.0 answer", "%s HTTP/1.0: bytes after the answer: %q", r, x)
	case errors.As(err, &ne) && ne.Timeout():
		c.fail("an HTTP/1.0 connection left open", "%s HTTP/1.0: the connection stayed open after the answer", r)
	}
}

// healthAdmin mixes the edge's own routes with API and control requests
// on one connection, one exchange at a time.
func (c *chaosClient) healthAdmin(nc *chaosConn, br *bufio.Reader) {
	for range 1 + c.rng.Intn(4) {
		var r *chaosReq
		switch c.rng.Intn(3) {
		case 0:
			r = &chaosReq{kind: kindHealth, method: "GET", uri: "/health"}
		case 1:
			r = c.newAdminRequest()
		default:
			r = c.newRequest(false)
		}
		b, _ := r.wire(c.rng)
		if _, err := nc.Write(b); err != nil {
			c.stats.outcome("cut before the request was sent", 1)
			return
		}
		if !c.judge(br, r, false, false) {
			return
		}
	}
}

// chaosFDs are the process's open descriptors: number -> readlink target.
type chaosFDs map[int]string

func openChaosFDs() chaosFDs {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil
	}
	fds := chaosFDs{}
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		target, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil || strings.HasPrefix(target, "/proc/") {
			continue // the directory being read
		}
		fds[n] = target
	}
	return fds
}

// closeWait returns the sockets in CLOSE_WAIT: their peer closed, this
// process did not.
func (f chaosFDs) closeWait() []int {
	tcp := chaosTCPSockets(nil)
	var fds []int
	for fd, target := range f {
		if s, ok := tcp[chaosInode(target)]; ok && strings.HasSuffix(s, " CLOSE_WAIT") {
			fds = append(fds, fd)
		}
	}
	return fds
}

func chaosInode(target string) string {
	return strings.TrimSuffix(strings.TrimPrefix(target, "socket:["), "]")
}

func fdKind(target string) string {
	switch {
	case strings.HasPrefix(target, "socket:"):
		return "socket"
	case strings.HasPrefix(target, "pipe:"):
		return "pipe"
	}
	return "other"
}

func (f chaosFDs) count(kind string) int {
	n := 0
	for _, target := range f {
		if fdKind(target) == kind {
			n++
		}
	}
	return n
}

func (f chaosFDs) String() string {
	return fmt.Sprintf("%d (sockets %d, pipes %d, other %d)", len(f), f.count("socket"), f.count("pipe"), f.count("other"))
}

// describeNew lists the descriptors in after that were not open before (or
// are in CLOSE_WAIT), sockets with their TCP endpoints (ports named: edge,
// w1, w2, bad, control) and state.
func (f chaosFDs) describeNew(after chaosFDs, ports map[string]string) string {
	tcp := chaosTCPSockets(ports)
	var fds []int
	for fd, target := range after {
		if f[fd] != target || strings.HasSuffix(tcp[chaosInode(target)], " CLOSE_WAIT") {
			fds = append(fds, fd)
		}
	}
	slices.Sort(fds)
	var b strings.Builder
	for _, fd := range fds {
		target := after[fd]
		fmt.Fprintf(&b, "  fd %d -> %s", fd, target)
		if s, ok := tcp[chaosInode(target)]; ok {
			b.WriteString("  " + s)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// chaosTCPSockets maps socket inodes to "local -> remote STATE" from
// /proc/self/net/tcp{,6}.
func chaosTCPSockets(ports map[string]string) map[string]string {
	states := map[string]string{"01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1", "05": "FIN_WAIT2",
		"06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT", "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING"}
	addr := func(s string) string {
		host, port, ok := strings.Cut(s, ":")
		if !ok {
			return s
		}
		p, _ := strconv.ParseUint(port, 16, 16)
		ps := strconv.Itoa(int(p))
		if name, ok := ports[ps]; ok {
			ps += "(" + name + ")"
		}
		if raw, err := hex.DecodeString(host); err == nil && len(raw) == 4 {
			return fmt.Sprintf("%d.%d.%d.%d:%s", raw[3], raw[2], raw[1], raw[0], ps)
		}
		return "[" + host + "]:" + ps
	}
	m := map[string]string{}
	for _, file := range []string{"/proc/self/net/tcp", "/proc/self/net/tcp6"} {
		data, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 10 {
				continue
			}
			m[f[9]] = fmt.Sprintf("%s -> %s %s", addr(f[1]), addr(f[2]), cmp.Or(states[f[3]], f[3]))
		}
	}
	return m
}

func chaosPort(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return port
}
