package worker

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
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

// busy is how many open connections read or wrote within quiet: a
// connection whose handler just returned is still writing its answer.
func (l *trackingListener) busy(quiet time.Duration) int {
	since := time.Now().Add(-quiet).UnixNano()
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for c := range l.conns {
		if c.last.Load() > since {
			n++
		}
	}
	return n
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
	// last is when the connection last read or wrote (Unix nanoseconds).
	last atomic.Int64
}

func (c *trackedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.last.Store(time.Now().UnixNano())
	return n, err
}

func (c *trackedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.last.Store(time.Now().UnixNano())
	return n, err
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}
