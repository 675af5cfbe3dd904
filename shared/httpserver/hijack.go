package httpserver

import (
	"errors"
	"net"
	"syscall"
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
// bytes the wrappers had read from it and not handed on yet, which its Read
// returns first. It takes them through c with the connection's read
// deadline in the past, so nothing waits and nothing is taken from the
// kernel. Its Close goes through the wrappers (not fasthttp's, which holds
// the server's read buffer): they may count the connection (the edge's
// per-address limit) and must see it closed. With fasthttp's
// KeepHijackedConns the caller may return from the hijack handler and keep
// the connection alone: the server's request context and read buffer go,
// so an idle upgraded connection costs little more than its descriptor.
func Detach(c net.Conn) (*Conn, error) {
	raw := c
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
	// Close goes through the wrappers under fasthttp's own: its hijacked
	// connection holds the server's read buffer, which must not stay with
	// the connection.
	outer := c
	for {
		u, ok := outer.(interface{ UnsafeConn() net.Conn })
		if !ok {
			break
		}
		outer = u.UnsafeConn()
	}
	d := &Conn{Conn: raw, outer: outer}
	if raw == c {
		return d, nil
	}
	if err := raw.SetReadDeadline(time.Unix(1, 0)); err != nil {
		return nil, err
	}
	var buf [512]byte
	for {
		n, rerr := c.Read(buf[:])
		d.early = append(d.early, buf[:n]...)
		if len(d.early) > MaxEarlyBytes {
			return nil, ErrTooEarly
		}
		if rerr != nil {
			var ne net.Error
			if errors.As(rerr, &ne) && ne.Timeout() {
				break
			}
			return nil, rerr
		}
	}
	return d, raw.SetReadDeadline(time.Time{})
}

// Conn is a detached connection: reads and writes go to the socket, after
// the bytes the wrappers held; Close goes through the wrappers.
type Conn struct {
	net.Conn
	early []byte
	outer net.Conn
}

// Read returns the held bytes first.
func (c *Conn) Read(p []byte) (int, error) {
	if len(c.early) > 0 {
		n := copy(p, c.early)
		c.early = c.early[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// TakeEarly hands the held bytes over, for a caller that reads the socket
// itself (SyscallConn).
func (c *Conn) TakeEarly() []byte {
	b := c.early
	c.early = nil
	return b
}

// Close closes the connection through the wrappers Detach looked under.
func (c *Conn) Close() error { return c.outer.Close() }

// SyscallConn is the socket's, when it has one.
func (c *Conn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.ErrUnsupported
	}
	return sc.SyscallConn()
}
