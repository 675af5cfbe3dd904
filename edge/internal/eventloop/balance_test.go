//go:build linux

package eventloop

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/madbase/madbase/edge/internal/pool"
	"github.com/madbase/madbase/edge/internal/proxy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseSchedstat(t *testing.T) {
	for _, tc := range []struct {
		in        string
		run, wait int64
		ok        bool
	}{
		{"123 456 7\n", 123, 456, true},
		{"0 0 0\n", 0, 0, true},
		{"9223372036854775807 1 2\n", 1<<63 - 1, 1, true},
		{"", 0, 0, false},
		{"123", 0, 0, false},
		{"123 456", 0, 0, false},
		{"12a 456 7\n", 0, 0, false},
		{" 123 456 7\n", 0, 0, false},
		{"99999999999999999999 1 2\n", 0, 0, false},
	} {
		run, wait, ok := parseSchedstat([]byte(tc.in))
		assert.Equal(t, tc.ok, ok, "%q", tc.in)
		assert.Equal(t, tc.run, run, "%q", tc.in)
		assert.Equal(t, tc.wait, wait, "%q", tc.in)
	}
}

// TestSchedstatLoadMeasuresTheThread: a thread that spins through a window
// is measured as running, or waiting for a CPU, through much of it (the
// kernel updates the figures at its ticks, and a busy machine may take the
// CPU away for a while: the bound is loose).
func TestSchedstatLoadMeasuresTheThread(t *testing.T) {
	done := make(chan threadLoad)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		lp := &loop{}
		lp.bal.statfd = openSchedstat()
		if lp.bal.statfd < 0 {
			close(done)
			return
		}
		defer syscall.Close(lp.bal.statfd)
		lp.now = time.Now().UnixNano()
		_, first := schedstatLoad(lp)
		for start := time.Now(); time.Since(start) < 100*time.Millisecond; {
		}
		lp.now = time.Now().UnixNano()
		load, ok := schedstatLoad(lp)
		if first || !ok {
			load = threadLoad{run: -1}
		}
		done <- load
	}()
	load, ok := <-done
	require.True(t, ok, "/proc/thread-self/schedstat cannot be read here")
	require.NotEqual(t, -1.0, load.run, "the first sample sets the window, the second measures it")
	assert.Greater(t, load.busy, 0.25, "spinning, the thread ran or waited through much of the window")
	assert.GreaterOrEqual(t, load.busy, load.run)
}

// TestLoopsStartAndRestAsTheLoadAsks drives the adaptive loops with a load
// the test sets: saturated, the serving loop puts the second to work and
// moves half of its clients there; light again, the second rests and its
// clients come back. Clients make requests all along, some of them two at
// a time on one connection, and every answer must be the one asked for.
func TestLoopsStartAndRestAsTheLoadAsks(t *testing.T) {
	ls, addr := balanceHarness(t)
	var hot atomic.Bool
	ls.loadOf = func(*loop) (threadLoad, bool) {
		if hot.Load() {
			return saturated, true
		}
		return light, true
	}
	runLoops(t, ls)

	const clients = 8
	finish := askAll(t, addr, clients)
	require.Eventually(t, func() bool { a, b := clientsOf(ls); return a == clients && b == 0 }, 10*time.Second, time.Millisecond,
		"one loop serves at first")
	assert.Equal(t, 1, ls.Serving())

	hot.Store(true)
	require.Eventually(t, func() bool { a, b := clientsOf(ls); return ls.Serving() == 2 && a == clients/2 && b == clients/2 },
		10*time.Second, time.Millisecond, "saturated, the first loop moves half of its clients to the second")

	hot.Store(false)
	require.Eventually(t, func() bool { a, b := clientsOf(ls); return ls.Serving() == 1 && a == clients && b == 0 },
		10*time.Second, time.Millisecond, "light again, the second loop rests and its clients go back")

	finish()
	assert.Equal(t, int64(clients), ls.Clients())
}

// TestSaturatedLoopSharesWithACalmOne: with every loop serving, a saturated
// loop moves a quarter of its clients to one that runs less than half as
// much, and no more once a quarter of what it holds rounds to none.
func TestSaturatedLoopSharesWithACalmOne(t *testing.T) {
	ls, addr := balanceHarness(t)
	var shared atomic.Bool
	ls.loadOf = func(lp *loop) (threadLoad, bool) {
		if lp.index == 0 {
			return saturated, true
		}
		if shared.Load() {
			return threadLoad{run: 0.1, busy: 0.2}, true
		}
		return saturated, true
	}
	runLoops(t, ls)

	const clients = 8
	finish := askAll(t, addr, clients)
	require.Eventually(t, func() bool { a, b := clientsOf(ls); return ls.Serving() == 2 && a == 4 && b == 4 },
		10*time.Second, time.Millisecond, "saturated, the first loop starts the second and moves half")

	// The second loop's clients go quiet; the first stays saturated.
	shared.Store(true)
	require.Eventually(t, func() bool { a, b := clientsOf(ls); return a == 3 && b == 5 },
		10*time.Second, time.Millisecond, "a quarter of the first loop's 4 moves to the calm loop")
	// Four more windows of the first loop (two chances to move more): a
	// quarter of 3 is none, and the calm loop, beside a saturated one,
	// does not rest.
	for range 4 {
		ls.loops[0].ran.Store(0)
		require.Eventually(t, func() bool { return ls.loops[0].ran.Load() == 700 }, 10*time.Second, time.Millisecond)
	}
	a, b := clientsOf(ls)
	assert.Equal(t, []int64{3, 5}, []int64{a, b})
	assert.Equal(t, 2, ls.Serving())

	finish()
	assert.Equal(t, int64(clients), ls.Clients())
}

// askAll starts n clients that make requests on their own connection
// (askUntil, every third pipelining), and returns the function that stops
// them and checks that each was answered, and rightly.
func askAll(t *testing.T, addr string, n int) (finish func()) {
	t.Helper()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	served := make([]atomic.Int64, n)
	errs := make(chan error, n)
	for i := range n {
		conn, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		t.Cleanup(func() { _ = conn.Close() })
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := askUntil(conn, i, i%3 == 0, stop, &served[i]); err != nil {
				errs <- err
			}
		}()
	}
	return func() {
		t.Helper()
		close(stop)
		wg.Wait()
		close(errs)
		for err := range errs {
			assert.NoError(t, err)
		}
		for i := range served {
			assert.Positive(t, served[i].Load(), "client %d was answered", i)
		}
	}
}

// TestRestingLoopHandsOverAcceptedClients: a connection the resting loop
// happens to accept is served by a serving loop.
func TestRestingLoopHandsOverAcceptedClients(t *testing.T) {
	ls, addr := balanceHarness(t)
	ls.loadOf = func(*loop) (threadLoad, bool) { return threadLoad{}, false }
	ls.loops[0].listening = false // only the resting loop accepts
	require.NoError(t, syscall.EpollCtl(ls.loops[0].epfd, syscall.EPOLL_CTL_DEL, ls.lnfd, nil))
	runLoops(t, ls)

	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	var served atomic.Int64
	stop := make(chan struct{})
	close(stop)
	require.NoError(t, askUntil(conn, 0, false, stop, &served))
	assert.Equal(t, int64(1), ls.loops[0].clients.Load())
	assert.Equal(t, int64(0), ls.loops[1].clients.Load())
}

// Loads the tests have the loops measure.
var (
	saturated = threadLoad{run: 0.7, busy: 0.95}
	light     = threadLoad{run: 0.01, busy: 0.02}
)

// runLoops runs ls until the test ends.
func runLoops(t *testing.T, ls *Loops) {
	t.Helper()
	done := make(chan struct{})
	go func() { ls.Run(); close(done) }()
	t.Cleanup(func() { ls.Shutdown(context.Background()); <-done })
}

// clientsOf is how many clients each of the harness's two loops holds.
func clientsOf(ls *Loops) (int64, int64) {
	return ls.loops[0].clients.Load(), ls.loops[1].clients.Load()
}

// balanceHarness is two adaptive loops with one serving, in front of a
// worker that answers each request with its path, and the loops' address.
func balanceHarness(t *testing.T) (*Loops, string) {
	t.Helper()
	worker := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.URL.Path)
	})}
	wln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = worker.Serve(wln) }()
	t.Cleanup(func() { _ = worker.Close() })

	log := slog.New(slog.DiscardHandler)
	workers := pool.New(&pool.Transport{}, log)
	workers.Beat("w1", "http://"+wln.Addr().String(), false, time.Now())
	p := proxy.New(proxy.Config{Selector: pool.NewRoundRobin(workers), Pool: workers, Log: log, MaxBodyBytes: 1 << 20})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	ls, err := New(p, ln, Size{Loops: 2}, time.Minute)
	require.NoError(t, err)
	ls.adaptive = true
	ls.servingLoops.Store(1)
	return ls, ln.Addr().String()
}

// askUntil makes requests on conn until stop is closed (at least one),
// two at a time when pipelined, and checks every answer.
func askUntil(conn net.Conn, client int, pipelined bool, stop <-chan struct{}, served *atomic.Int64) error {
	r := bufio.NewReader(conn)
	for n := 0; ; n++ {
		paths := []string{fmt.Sprintf("/rest/v1/c%d/r%d", client, n)}
		if pipelined {
			paths = append(paths, paths[0]+"b")
		}
		var req strings.Builder
		for _, p := range paths {
			fmt.Fprintf(&req, "GET %s HTTP/1.1\r\nHost: edge\r\n\r\n", p)
		}
		if _, err := io.WriteString(conn, req.String()); err != nil {
			return fmt.Errorf("client %d: %w", client, err)
		}
		for _, p := range paths {
			resp, err := http.ReadResponse(r, nil)
			if err != nil {
				return fmt.Errorf("client %d, %s: %w", client, p, err)
			}
			body, err := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK || string(body) != p {
				return fmt.Errorf("client %d asked for %s: status %d, %q, %v", client, p, resp.StatusCode, body, err)
			}
			served.Add(1)
		}
		select {
		case <-stop:
			return nil
		default:
		}
	}
}
