package worker

import (
	"net"
	"sync"
	"sync/atomic"

	"github.com/valyala/fasthttp"
)

// trackingListener remembers the connections it accepted, so that those
// still open when the grace period and the base context are over can be
// closed: fasthttp's Shutdown only waits for them, and leaves them served
// after its deadline.
type trackingListener struct {
	net.Listener
	mu    sync.Mutex
	conns map[*trackedConn]struct{}
}

func newTrackingListener(ln net.Listener) *trackingListener {
	return &trackingListener{Listener: ln, conns: map[*trackedConn]struct{}{}}
}

// Accept wraps each accepted connection so that closing it forgets it.
func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, l: l}
	l.mu.Lock()
	l.conns[tc] = struct{}{}
	l.mu.Unlock()
	return tc, nil
}

// busy is how many open connections are between a request's first byte and
// the end of its answer's write, as the server reports them (connState).
func (l *trackingListener) busy() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for c := range l.conns {
		if fasthttp.ConnState(c.state.Load()) == fasthttp.StateActive {
			n++
		}
	}
	return n
}

// connState is the server's ConnState hook: it records each connection's
// state, so that shutdown can tell a connection still writing its answer
// from an idle one without a cost per read or write.
func connState(c net.Conn, state fasthttp.ConnState) {
	if tc, ok := c.(*trackedConn); ok {
		tc.state.Store(int32(state))
	}
}

// closeAll closes every connection still open and says how many there were.
func (l *trackingListener) closeAll() int {
	l.mu.Lock()
	open := make([]*trackedConn, 0, len(l.conns))
	for c := range l.conns {
		open = append(open, c)
	}
	l.mu.Unlock()
	for _, c := range open {
		_ = c.Close()
	}
	return len(open)
}

type trackedConn struct {
	net.Conn
	l    *trackingListener
	once sync.Once
	// state is the fasthttp.ConnState the server last reported.
	state atomic.Int32
}

// NetConn is the accepted connection, for those that use its socket
// directly (httpserver.Detach: realtime writes frames to it without
// waiting). Close still goes through trackedConn, as Detach closes through
// the wrappers.
func (c *trackedConn) NetConn() net.Conn { return c.Conn }

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}
