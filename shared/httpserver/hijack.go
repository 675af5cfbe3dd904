package httpserver

import (
	"errors"
	"io"
	"net"
	"time"
)

// MaxEarlyBytes bounds what Detach keeps of bytes a client sent before its
// upgrade was answered (a WebSocket client must wait for the 101, RFC 6455
// §4.1): kept and passed on, never dropped, but not without end.
const MaxEarlyBytes = 64 << 10

// ErrTooEarly is Detach's error for more than MaxEarlyBytes.
var ErrTooEarly = errors.New("too many bytes before the upgrade was answered")

// Detach returns the connection under c, a hijacked connection (fasthttp's
// wraps its reader, the edge's event loops replay what they read), with the
// bytes the wrappers had read from it and not handed on yet. It reads them
// through c with the connection's read deadline in the past, so nothing
// waits and nothing is taken from the kernel. With fasthttp's
// KeepHijackedConns the caller may then return from the hijack handler and
// keep the connection alone: the server's request context and read buffer
// go, so an idle upgraded connection costs little more than its descriptor.
func Detach(c net.Conn) (raw net.Conn, early []byte, err error) {
	raw = c
	for {
		if u, ok := raw.(interface{ UnsafeConn() net.Conn }); ok {
			raw = u.UnsafeConn()
			continue
		}
		if u, ok := raw.(interface{ NetConn() net.Conn }); ok {
			raw = u.NetConn()
			continue
		}
		break
	}
	if raw == c {
		return c, nil, nil
	}
	if err := raw.SetReadDeadline(time.Unix(1, 0)); err != nil {
		return nil, nil, err
	}
	var buf [512]byte
	for {
		n, rerr := c.Read(buf[:])
		early = append(early, buf[:n]...)
		if len(early) > MaxEarlyBytes {
			return nil, nil, ErrTooEarly
		}
		if rerr != nil {
			var ne net.Error
			if errors.As(rerr, &ne) && ne.Timeout() {
				break
			}
			return nil, nil, rerr
		}
	}
	return raw, early, raw.SetReadDeadline(time.Time{})
}

// Prefixed is c reading first, when set, early.
func Prefixed(c net.Conn, early []byte) net.Conn {
	if len(early) == 0 {
		return c
	}
	return &prefixedConn{Conn: c, early: early}
}

type prefixedConn struct {
	net.Conn
	early []byte
}

func (c *prefixedConn) Read(p []byte) (int, error) {
	if len(c.early) > 0 {
		n := copy(p, c.early)
		c.early = c.early[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

var _ io.Reader = (*prefixedConn)(nil)
