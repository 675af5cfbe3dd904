// Package connlimit bounds the connections the edge holds open from one
// client address (EDGE_MAX_CONNS_PER_IP), across both of its engines: a
// connection the event loops accept counts once, also after they hand it to
// the goroutine server.
package connlimit

import (
	"net"
	"net/netip"
	"strconv"
	"sync"
)

// Refusal is what a refused connection is told before it is closed.
var Refusal = func() []byte {
	body := `{"error":"too many connections from this address","code":429}`
	return []byte("HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\nConnection: close\r\n\r\n" + body)
}()

// PerAddr counts open connections by client address. A nil *PerAddr
// limits nothing.
type PerAddr struct {
	max  int
	mu   sync.Mutex
	open map[netip.Addr]int
}

// New limits each address to max connections; max <= 0 is no limit (nil).
func New(max int) *PerAddr {
	if max <= 0 {
		return nil
	}
	return &PerAddr{max: max, open: map[netip.Addr]int{}}
}

// Acquire counts a new connection from a, or reports false when a already
// has the most it may.
func (l *PerAddr) Acquire(a netip.Addr) bool {
	if l == nil {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[a] >= l.max {
		return false
	}
	l.open[a]++
	return true
}

// Release uncounts a connection from a.
func (l *PerAddr) Release(a netip.Addr) {
	if l == nil {
		return
	}
	l.mu.Lock()
	if n := l.open[a]; n <= 1 {
		delete(l.open, a)
	} else {
		l.open[a] = n - 1
	}
	l.mu.Unlock()
}

// AddrOf is the client address of c.
func AddrOf(c net.Conn) netip.Addr {
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// Listener counts the connections ln accepts; one over the limit is told
// so (429 in the JSON error shape) and closed.
func (l *PerAddr) Listener(ln net.Listener) net.Listener {
	if l == nil {
		return ln
	}
	return &listener{Listener: ln, l: l}
}

type listener struct {
	net.Listener
	l *PerAddr
}

func (ln *listener) Accept() (net.Conn, error) {
	for {
		c, err := ln.Listener.Accept()
		if err != nil {
			return nil, err
		}
		a := AddrOf(c)
		if ln.l.Acquire(a) {
			return ln.l.Track(c, a), nil
		}
		_, _ = c.Write(Refusal)
		_ = c.Close()
	}
}

// Track wraps a counted connection from a so that closing it releases it,
// once.
func (l *PerAddr) Track(c net.Conn, a netip.Addr) net.Conn {
	if l == nil {
		return c
	}
	return &conn{Conn: c, l: l, a: a}
}

type conn struct {
	net.Conn
	l    *PerAddr
	a    netip.Addr
	once sync.Once
}

// NetConn returns the connection under the count.
func (c *conn) NetConn() net.Conn { return c.Conn }

func (c *conn) Close() error {
	c.once.Do(func() { c.l.Release(c.a) })
	return c.Conn.Close()
}
