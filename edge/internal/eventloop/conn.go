//go:build linux

package eventloop

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"

	fw "github.com/madbase/madbase/edge/internal/forwarding"
	"github.com/madbase/madbase/edge/internal/pool"
	"github.com/madbase/madbase/shared/apierr"
	"github.com/valyala/fasthttp"
)

// connState is where a client connection's exchange stands.
type connState int

const (
	stIdle    connState = iota // reading a request head
	stConnect                  // waiting for a new connection to a worker
	stSend                     // writing the request head upstream
	stBody                     // relaying the rest of the request body
	stWait                     // waiting for the response head
	stRelay                    // writing the response to the client
	stLinger                   // answered early: dropping the rest of the request body
	stClosed
)

// bodyMode says how the end of a response body is found.
type bodyMode int

const (
	bodyNone bodyMode = iota
	bodyLength
	bodyChunked
	bodyUntilClose
)

// maxLoopAttempts bounds the workers tried for one request.
const maxLoopAttempts = fw.MaxAttempts

// clientConn is a client's connection served by a loop, with the exchange
// in flight on it.
type clientConn struct {
	sock
	sa         syscall.Sockaddr
	addr       netip.Addr // counted in the per-address limit
	remote     []byte
	remoteBuf  [48]byte
	lastActive int64
	// headSince is when the request head being read began: the
	// connection's opening for its first request, the first byte for the
	// next ones; 0 between requests.
	headSince int64
	state     connState

	// The exchange in flight.
	method []byte
	group  string
	start  int64
	rid    []byte
	origin []byte
	// cors is the CORS of the request's project when it allows origin,
	// else nil.
	cors *fw.CORS
	// path is the request's path without its query string, kept for the
	// request's log line when one is written (logged).
	path       []byte
	logged     bool
	isHead     bool
	idempotent bool
	// replayable says the request may go to another worker when its
	// connection breaks before any byte of the answer: an idempotent method
	// and a body that is all in the read buffer, from bodyStart on.
	replayable bool
	bodyStart  int
	bodyLen    int64
	bodyLeft   int64 // request body bytes not yet sent upstream
	tried      [maxLoopAttempts]*pool.Upstream
	ntried     int
	attempts   int
	upstream   *pool.Upstream
	up         *upstreamConn
	req        []byte // the request head for the worker
	reqOff     int
	resp       []byte // the response head for the client (or an error answer)
	out1, out2 []byte // still to write to the client
	sent       bool   // the client has got a byte of the answer
	status     int
	closeAfter bool
	done       bool // the answer is complete once out1 and out2 are written
	mode       bodyMode
	left       int64 // bodyLength: bytes of the response body still to come
	chunks     chunkedScanner
	reusable   bool // the worker's connection may serve another request
	// abortAfter cuts the client's connection after what was relayed: the
	// worker's body was malformed, so it must not look complete.
	abortAfter bool
	// pipe carries a long body of known length with splice(2) (loopsplice.go);
	// pipeLeft counts what is still to read into it.
	pipe     *bodyPipe
	pipeLeft int64
	// lingerSince is when a lingering close began (stLinger).
	lingerSince int64
}

// sock is what both ends of an exchange keep of their socket: the
// descriptor, the read buffer, and what the edge-triggered events said.
type sock struct {
	lp   *loop
	fd   int
	buf  []byte // read buffer, from the loop's pool; buf[r:w] is read and not yet used
	r, w int

	readiness
	// lowat is the socket's SO_RCVLOWAT while a long body is spliced from
	// it (splice.go); 0 is the default, one byte.
	lowat int
}

// readiness is what a socket's edge-triggered events said of it, kept by
// the exchanges' sockets and the tunnels' ends alike.
type readiness struct {
	readable, writable bool
	rdhup, hup         bool // the peer closed its side; the connection failed
}

// note records what an event says of the socket.
func (r *readiness) note(mask uint32) {
	if mask&(evIn|evRDHup|evHup|evErr) != 0 {
		r.readable = true
	}
	if mask&evRDHup != 0 {
		r.rdhup = true
	}
	if mask&(evHup|evErr) != 0 {
		r.hup = true
	}
	if mask&evOut != 0 {
		r.writable = true
	}
}

// read records a read of n > 0 bytes into space bytes. A short read means
// the socket is drained, so readable is cleared without a read that would
// only say EAGAIN: the next bytes come with an event of their own. Not
// after a hang-up, whose EOF no later event announces and must still be
// read.
func (r *readiness) read(n, space int) {
	if n < space && !r.rdhup {
		r.readable = false
	}
}

// release closes the socket and gives its buffer back to the loop.
func (s *sock) release() {
	s.lp.unregister(s.fd)
	_ = syscall.Close(s.fd)
	s.lp.putBuf(s.buf)
	s.buf = nil
}

// errBufferFull: readOnce has no room left to read into.
var errBufferFull = errors.New("read buffer full")

// readOnce reads once into the free end of the buffer, moving unread bytes
// to its start first. (0, nil) is EOF.
func (s *sock) readOnce() (int, error) {
	if s.buf == nil {
		s.buf = s.lp.getBuf()
	}
	if s.r == s.w {
		s.r, s.w = 0, 0
	} else if s.w == len(s.buf) && s.r > 0 {
		s.w = copy(s.buf, s.buf[s.r:s.w])
		s.r = 0
	}
	space := len(s.buf) - s.w
	if space == 0 {
		return 0, errBufferFull
	}
	n, err := readFD(s.fd, s.buf[s.w:])
	if n > 0 {
		s.w += n
		s.read(n, space)
		return n, nil
	}
	s.readable = false
	return 0, err
}

// sockaddrAddr is the address in sa, as the per-address limit counts it.
func sockaddrAddr(sa syscall.Sockaddr) netip.Addr {
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		return netip.AddrFrom4(a.Addr)
	case *syscall.SockaddrInet6:
		return netip.AddrFrom16(a.Addr).Unmap()
	}
	return netip.Addr{}
}

// headerTimeoutAnswer is the 408 for a head that took too long.
var headerTimeoutAnswer = func() []byte {
	body := apierr.New(fasthttp.StatusRequestTimeout, apierr.CodeBadRequest, fw.HeaderTimeoutMessage).JSON("")
	return []byte("HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\nConnection: close\r\n\r\n" + string(body))
}()

// appendSockaddrIP appends the address in sa as X-Forwarded-For shows it.
func appendSockaddrIP(b []byte, sa syscall.Sockaddr) []byte {
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		return netip.AddrFrom4(a.Addr).AppendTo(b)
	case *syscall.SockaddrInet6:
		ip := netip.AddrFrom16(a.Addr)
		if ip.Is4In6() {
			ip = ip.Unmap()
		}
		return ip.AppendTo(b)
	}
	return b
}

func (c *clientConn) event(mask uint32) {
	c.note(mask)
	c.run()
}

func (c *clientConn) expire(now int64) {
	if c.pipe != nil && now-c.lastActive > lowatPatience {
		// A slow sender's bytes of a long body move on within the
		// patience, short of the low-water mark.
		c.setLowat(1)
		if c.up != nil {
			c.up.setLowat(1)
		}
	}
	switch c.state {
	case stIdle:
		ls := c.lp.ls
		switch {
		case ls.headerTimeout > 0 && c.headSince != 0 && now-c.headSince > ls.headerTimeout:
			// A head trickling in (or never coming) holds a connection
			// and a buffer: answer 408 and close, as the full server does.
			_, _ = writeFD(c.fd, headerTimeoutAnswer)
			c.close()
		case ls.idleTimeout > 0 && now-c.lastActive > ls.idleTimeout:
			c.close()
		}
	case stConnect:
		if up := c.up; up != nil && now-up.started > c.lp.ls.connectTimeout {
			c.dialFailed(errors.New("connect timeout"))
			c.run()
		}
	case stWait, stBody, stSend:
		if up := c.up; up != nil && up.waiting != 0 && c.lp.ls.responseTimeout > 0 && now-up.waiting > c.lp.ls.responseTimeout {
			c.ls().countError("upstream")
			c.failUpstream(apierr.New(fasthttp.StatusGatewayTimeout, apierr.CodeGatewayTimeout, "the upstream did not answer in time").
				WithInternal(errors.New("response timeout")))
			c.run()
		}
	case stLinger:
		if now-c.lingerSince > lingerTime {
			c.close()
		}
	case stRelay:
		if c.lp.ls.idleTimeout > 0 && now-c.lastActive > c.lp.ls.idleTimeout && !c.writable {
			// A client that takes nothing for this long is gone.
			c.close()
		}
	}
}

func (c *clientConn) ls() *Loops { return c.lp.ls }

func (c *clientConn) run() {
	for c.state != stClosed && c.step() {
	}
}

// step makes one move; false means it waits for an event.
func (c *clientConn) step() bool {
	switch c.state {
	case stIdle:
		return c.readHead()
	case stConnect:
		return c.connected()
	case stSend:
		return c.sendHead()
	case stBody:
		return c.sendBody()
	case stWait:
		return c.readResponseHead()
	case stRelay:
		return c.relay()
	case stLinger:
		return c.drain()
	}
	return false
}

// fill reads from the client once; false means nothing came (wait, or the
// connection was closed).
func (c *clientConn) fill() bool {
	n, err := c.readOnce()
	switch {
	case n > 0:
		c.lastActive = c.lp.now
		if c.state == stIdle && c.headSince == 0 {
			c.headSince = c.lp.now
		}
		return true
	case err == syscall.EAGAIN || err == errBufferFull:
		return false
	}
	// EOF or a broken connection.
	if c.state != stIdle || c.r < c.w {
		c.ls().countError("client_abort")
	}
	c.close()
	return false
}

func (c *clientConn) close() {
	if c.state == stClosed {
		return
	}
	c.state = stClosed
	c.release()
	c.lp.putPipe(c.pipe)
	c.pipe = nil
	if c.up != nil {
		c.up.close()
		c.up = nil
	}
	c.lp.clients.Add(-1)
	c.lp.ls.clients.Add(-1)
	c.lp.ls.limit.Release(c.addr)
}

// leaveLoop takes the connection out of its loop, its socket open: out of
// the epoll set and the loop's count, its read buffer given back (what it
// held is the caller's to keep first).
func (c *clientConn) leaveLoop() {
	c.lp.unregister(c.fd)
	_ = syscall.EpollCtl(c.lp.epfd, syscall.EPOLL_CTL_DEL, c.fd, nil)
	c.lp.putBuf(c.buf)
	c.buf, c.r, c.w = nil, 0, 0
	c.lp.clients.Add(-1)
}

// handoff passes the connection, with the bytes read from it so far, to the
// fasthttp server.
func (c *clientConn) handoff() {
	ls := c.lp.ls
	if m := ls.cfg.Metrics; m != nil {
		m.Handoff()
	}
	c.state = stClosed
	prefix := append([]byte(nil), c.buf[c.r:c.w]...)
	c.leaveLoop()
	ls.clients.Add(-1)
	f := os.NewFile(uintptr(c.fd), "client")
	nc, err := net.FileConn(f)
	_ = f.Close()
	if err != nil {
		ls.limit.Release(c.addr)
		ls.cfg.Log.Warn("handing a connection over failed", "component", "proxy", "error", err)
		return
	}
	// The connection stays counted in the per-address limit until the
	// server closes it.
	ls.handoff.give(&prefixConn{Conn: ls.limit.Track(nc, c.addr), prefix: prefix})
}
