package pool

import (
	"errors"
	"net"
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
// at start-up; every upstream's HostClient (requests and health probes alike)
// comes from it, so connections are pooled and reused per worker.
type Transport struct {
	ConnectTimeout  time.Duration
	ResponseTimeout time.Duration
	// Dials counts connections opened, for metrics and tests.
	Dials atomic.Int64
}

// writeTimeoutHook is never applied as a deadline. fasthttp calls
// SetWriteDeadline on a connection right after taking it from the pool and
// before writing the request only when HostClient.WriteTimeout is set; the
// connection wrapper uses that call as its per-request hook (stale check,
// response timer) and drops the deadline itself, so long uploads are never
// cut.
const writeTimeoutHook = time.Hour

// HostClient makes the client for one upstream address. Streaming settings
// follow research/edge-proxy-options.md: response bodies stream, no total
// read or write timeout, header names and paths left as the client sent
// them, a wait instead of an instant error when every connection is busy.
func (t *Transport) HostClient(addr string) *fasthttp.HostClient {
	return &fasthttp.HostClient{
		Addr:                          addr,
		Dial:                          t.dial,
		MaxConns:                      16384,
		MaxConnWaitTimeout:            t.ResponseTimeout,
		MaxIdleConnDuration:           30 * time.Second,
		MaxIdemponentCallAttempts:     1,
		ReadBufferSize:                32 << 10,
		WriteBufferSize:               32 << 10,
		WriteTimeout:                  writeTimeoutHook,
		StreamResponseBody:            true,
		DisableHeaderNamesNormalizing: true,
		DisablePathNormalizing:        true,
		NoDefaultUserAgentHeader:      true,
		RetryIfErr: func(*fasthttp.Request, int, error) (bool, bool) {
			return false, false // the proxy decides about retries itself
		},
	}
}

func (t *Transport) dial(addr string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, t.ConnectTimeout)
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
	return &conn{TCPConn: tc, raw: rc, respTimeout: t.ResponseTimeout}, nil
}

// conn wraps a pooled upstream connection. Per request it (1) checks that a
// reused connection is still open before anything is written, and (2) bounds
// the wait for the first byte of the response by the response timeout, then
// lifts every deadline so bodies and streams run as long as they need.
type conn struct {
	*net.TCPConn
	raw         syscall.RawConn
	respTimeout time.Duration
	used        bool // a request was sent on it before
	awaiting    bool // request written, no response byte read yet
	armedAt     time.Time
}

// SetWriteDeadline is fasthttp's per-request hook (see writeTimeoutHook).
func (c *conn) SetWriteDeadline(t time.Time) error {
	if t.IsZero() {
		return nil
	}
	if c.used && !c.alive() {
		return ErrStaleConn
	}
	c.used = true
	c.awaiting = true
	c.armedAt = time.Time{}
	return nil
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
	if c.awaiting && c.respTimeout > 0 {
		// Re-arm at most once a second while a long body is being written.
		if now := time.Now(); now.Sub(c.armedAt) > time.Second {
			c.armedAt = now
			_ = c.TCPConn.SetReadDeadline(now.Add(c.respTimeout))
		}
	}
	return c.TCPConn.Write(p)
}

func (c *conn) Read(p []byte) (int, error) {
	n, err := c.TCPConn.Read(p)
	if n > 0 && c.awaiting {
		c.awaiting = false
		if !c.armedAt.IsZero() {
			_ = c.TCPConn.SetReadDeadline(time.Time{})
		}
	}
	return n, err
}
