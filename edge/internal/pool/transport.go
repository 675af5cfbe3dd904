package pool

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// ErrStaleConn is returned when a pooled connection to a worker turned out to
// be closed by the worker (a restart, an idle timeout) before the request was
// written. No byte of the request has been sent, so it is safe to retry.
var ErrStaleConn = errors.New("pooled upstream connection was closed by the worker")

// DialError wraps a failure to connect to a worker: nothing was sent, the
// request can go to another worker.
type DialError struct{ Err error }

func (e *DialError) Error() string { return "connect to worker: " + e.Err.Error() }
func (e *DialError) Unwrap() error { return e.Err }

// Transport holds the settings every upstream client shares. It is made once
// at start-up; every upstream's clients (requests and health probes alike)
// come from it, so connections are pooled and reused per worker.
type Transport struct {
	ConnectTimeout  time.Duration
	ResponseTimeout time.Duration
	// Dials counts connections opened, for metrics and tests.
	Dials atomic.Int64
	// Retries counts bodyless GET and HEAD requests that fasthttp sent again
	// on a fresh connection after a pooled one turned out to be closed.
	Retries atomic.Int64

	// The response timeout is enforced by one sweeper goroutine instead of a
	// pair of read deadlines per request; see conn.
	mu      sync.Mutex
	conns   map[*conn]struct{}
	sweeper bool
	clock   atomic.Int64 // coarse unix nanos, advanced by the sweeper
}

// writeTimeoutHook is never applied as a deadline. fasthttp calls
// SetWriteDeadline on a connection right after taking it from the pool and
// before writing the request only when HostClient.WriteTimeout is set; the
// connection wrapper uses that call as its per-request hook (stale check,
// response timer) and drops the deadline itself, so long uploads are never
// cut.
const writeTimeoutHook = time.Hour

// maxIdempotentAttempts bounds how often a bodyless GET or HEAD is sent on
// pooled connections that turn out to be closed (after a worker restart
// every idle connection is; the first failure drops them all).
const maxIdempotentAttempts = 3

// HostClient makes the client for one upstream address. Before each request
// on a reused connection it peeks at the socket, so a request is never
// written to a connection the worker has closed: required for requests with
// a body, which cannot be sent twice. Streaming settings (docs/architecture.md,
// "The edge's fasthttp settings"): response bodies stream, no total read or
// write timeout, header names and paths left as the client sent them, a wait
// instead of an instant error when every connection is busy.
func (t *Transport) HostClient(addr string) *fasthttp.HostClient {
	c := t.hostClient(addr, true)
	c.MaxIdemponentCallAttempts = 1
	c.RetryIfErr = func(*fasthttp.Request, int, error) (bool, bool) {
		return false, false // the proxy decides about retries itself
	}
	return c
}

// IdempotentClient makes the client for bodyless GET and HEAD requests to
// one upstream address. It skips the per-request peek (a syscall) and
// instead lets fasthttp send the request again on another connection when a
// pooled one was closed before the first response byte; since the request
// has no body and is idempotent, nothing is lost by sending it twice.
func (t *Transport) IdempotentClient(addr string) *fasthttp.HostClient {
	c := t.hostClient(addr, false)
	c.MaxIdemponentCallAttempts = maxIdempotentAttempts
	c.RetryIfErr = func(req *fasthttp.Request, _ int, err error) (bool, bool) {
		if req.IsBodyStream() || len(req.Body()) > 0 || !(req.Header.IsGet() || req.Header.IsHead()) || !closedBeforeAnswer(err) {
			return false, false
		}
		t.Retries.Add(1)
		// Usually the worker restarted: its other idle connections are dead
		// too, so drop them all rather than finding out one by one.
		c.CloseIdleConnections()
		return false, true
	}
	return c
}

// closedBeforeAnswer reports whether err means the worker closed the
// connection before answering, as it does with an idle connection when it
// restarts, rather than a timeout or a refused dial.
func closedBeforeAnswer(err error) bool {
	var de *DialError
	if errors.As(err, &de) {
		return false
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, fasthttp.ErrConnectionClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, ErrStaleConn)
}

func (t *Transport) hostClient(addr string, peek bool) *fasthttp.HostClient {
	return &fasthttp.HostClient{
		Addr:                          addr,
		Dial:                          func(addr string) (net.Conn, error) { return t.dial(addr, peek) },
		MaxConns:                      16384,
		MaxConnWaitTimeout:            t.ResponseTimeout,
		MaxIdleConnDuration:           30 * time.Second,
		ReadBufferSize:                32 << 10,
		WriteBufferSize:               32 << 10,
		WriteTimeout:                  writeTimeoutHook,
		StreamResponseBody:            true,
		DisableHeaderNamesNormalizing: true,
		DisablePathNormalizing:        true,
		NoDefaultUserAgentHeader:      true,
	}
}

func (t *Transport) dial(addr string, peek bool) (net.Conn, error) {
	d := net.Dialer{Timeout: t.ConnectTimeout, Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { SetLocalCongestion(int(fd)) })
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, &DialError{Err: err}
	}
	t.Dials.Add(1)
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c, nil
	}
	_ = tc.SetNoDelay(true)
	rc, err := tc.SyscallConn()
	if err != nil {
		return c, nil
	}
	pc := &conn{TCPConn: tc, raw: rc, tr: t, peek: peek}
	if t.ResponseTimeout > 0 {
		t.track(pc)
	}
	return pc, nil
}

// now is the sweeper's coarse clock: good to a tick, without a clock read.
func (t *Transport) now() int64 { return t.clock.Load() }

// sweepTick is how often the sweeper looks for answers that are overdue; a
// response timeout fires up to one tick late.
func (t *Transport) sweepTick() time.Duration {
	return min(max(t.ResponseTimeout/16, 10*time.Millisecond), 500*time.Millisecond)
}

func (t *Transport) track(c *conn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.conns == nil {
		t.conns = map[*conn]struct{}{}
	}
	t.conns[c] = struct{}{}
	if !t.sweeper {
		t.sweeper = true
		t.clock.Store(time.Now().UnixNano())
		go t.sweep()
	}
}

func (t *Transport) untrack(c *conn) {
	t.mu.Lock()
	delete(t.conns, c)
	t.mu.Unlock()
}

// sweep advances the coarse clock and cuts the read side of every connection
// whose worker has not started to answer within the response timeout. It
// ends when no connection is left (and starts again with the next dial), so
// an idle edge or a test has no goroutine left behind.
func (t *Transport) sweep() {
	tick := time.NewTicker(t.sweepTick())
	defer tick.Stop()
	var overdue []*conn
	for now := range tick.C {
		ns := now.UnixNano()
		t.clock.Store(ns)
		limit := ns - int64(t.ResponseTimeout)
		overdue = overdue[:0]
		t.mu.Lock()
		if len(t.conns) == 0 {
			t.sweeper = false
			t.mu.Unlock()
			return
		}
		for c := range t.conns {
			if since := c.waitingSince.Load(); since != 0 && since < limit {
				overdue = append(overdue, c)
			}
		}
		t.mu.Unlock()
		for _, c := range overdue {
			c.expire(limit)
		}
	}
}

// conn wraps a pooled upstream connection. Per request it (1) checks that a
// reused connection is still open before anything is written (only on the
// clients for requests with a body), and (2) bounds the wait for the first
// byte of the response by the response timeout: the request marks the
// connection as waiting with a coarse timestamp (refreshed while a long body
// is being written), the first response byte clears it, and the transport's
// sweeper expires connections that wait too long by setting a read deadline
// in the past, so the read fails with a timeout. Bodies and streams then run
// as long as they need.
type conn struct {
	*net.TCPConn
	raw  syscall.RawConn
	tr   *Transport
	peek bool
	used bool // a request was sent on it before
	// waitingSince is the coarse time the request was (last) written while
	// no response byte has been read, or 0.
	waitingSince atomic.Int64
	// expired is set while the sweeper's past read deadline is on the
	// connection. Both change only under mu.
	expired   atomic.Bool
	mu        sync.Mutex
	closeOnce sync.Once
}

// SetWriteDeadline is fasthttp's per-request hook (see writeTimeoutHook).
func (c *conn) SetWriteDeadline(t time.Time) error {
	if t.IsZero() {
		return nil
	}
	if c.peek && c.used && !c.alive() {
		return ErrStaleConn
	}
	c.used = true
	if c.tr.ResponseTimeout > 0 {
		c.setWaiting(c.tr.now())
	}
	return nil
}

// expire makes a pending read fail with a timeout if the connection still
// waits since before limit (the answer may have started meanwhile).
func (c *conn) expire(limit int64) {
	c.mu.Lock()
	if since := c.waitingSince.Load(); since != 0 && since < limit && !c.expired.Load() {
		c.expired.Store(true)
		_ = c.TCPConn.SetReadDeadline(time.Unix(1, 0))
	}
	c.mu.Unlock()
}

// setWaiting records (under mu, against the sweeper) that the connection
// waits for an answer since ns, or no longer waits (0), lifting an expired
// deadline: the answer has started, or more of the body is being sent.
func (c *conn) setWaiting(ns int64) {
	c.mu.Lock()
	c.waitingSince.Store(ns)
	if c.expired.Load() {
		c.expired.Store(false)
		_ = c.TCPConn.SetReadDeadline(time.Time{})
	}
	c.mu.Unlock()
}

// alive peeks at the socket without blocking: an idle connection that reads
// EOF (or has unexpected bytes) must not carry a request.
func (c *conn) alive() bool {
	var buf [1]byte
	ok := true
	err := c.raw.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case err == syscall.EAGAIN || err == syscall.EWOULDBLOCK:
		case err != nil || n == 0 || n > 0:
			ok = false
		}
		return true
	})
	return err == nil && ok
}

func (c *conn) Write(p []byte) (int, error) {
	if since := c.waitingSince.Load(); since != 0 {
		// A long request body: the timeout counts from its last write.
		if now := c.tr.now(); now != since {
			c.setWaiting(now)
		}
	}
	return c.TCPConn.Write(p)
}

func (c *conn) Read(p []byte) (int, error) {
	n, err := c.TCPConn.Read(p)
	if n > 0 && c.waitingSince.Load() != 0 {
		c.setWaiting(0)
	}
	return n, err
}

func (c *conn) Close() error {
	c.closeOnce.Do(func() {
		if c.tr.ResponseTimeout > 0 {
			c.tr.untrack(c)
		}
	})
	return c.TCPConn.Close()
}
