package proxy

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/madbase/madbase/edge/internal/pool"
	"github.com/madbase/madbase/shared/apierr"
	"github.com/madbase/madbase/shared/metrics"
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
const maxLoopAttempts = 3

// clientConn is a client's connection served by a loop, with the exchange
// in flight on it.
type clientConn struct {
	sock
	sa         syscall.Sockaddr
	remote     []byte
	remoteBuf  [48]byte
	lastActive int64
	state      connState

	// The exchange in flight.
	method     []byte
	group      string
	start      int64
	rid        []byte
	origin     []byte
	cors       bool
	isHead     bool
	idempotent bool
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

// upstreamConn is a connection to a worker, pooled per loop.
type upstreamConn struct {
	sock
	u       *pool.Upstream
	c       *clientConn // the exchange using it, nil while idle
	closed  bool
	reused  bool
	gotHead bool
	started int64 // connecting since
	waiting int64 // request written, no response byte yet, since
	idle    int64 // idle since
	connect bool  // connecting
	// writeErr is why the request could not be written: the worker may
	// still have answered, which is read before the exchange fails.
	writeErr error
}

// sock is what both ends of an exchange keep of their socket: the
// descriptor, the read buffer, and what the edge-triggered events said.
type sock struct {
	lp   *loop
	fd   int
	buf  []byte // read buffer, from the loop's pool; buf[r:w] is read and not yet used
	r, w int

	readable, writable bool
	rdhup, hup         bool // the peer closed its side; the connection failed
}

// note records what an event says of the socket.
func (s *sock) note(mask uint32) {
	if mask&(evIn|evRDHup|evHup|evErr) != 0 {
		s.readable = true
	}
	if mask&evRDHup != 0 {
		s.rdhup = true
	}
	if mask&(evHup|evErr) != 0 {
		s.hup = true
	}
	if mask&evOut != 0 {
		s.writable = true
	}
}

// errBufferFull: readOnce has no room left to read into.
var errBufferFull = errors.New("read buffer full")

// readOnce reads once into the free end of the buffer, moving unread bytes
// to its start first. (0, nil) is EOF. A short read means the socket is
// drained, so readable is cleared without a read that would only say
// EAGAIN; not after a hang-up, whose EOF must still be read.
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
		if n < space && !s.rdhup {
			s.readable = false
		}
		return n, nil
	}
	s.readable = false
	return 0, err
}

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
	switch c.state {
	case stIdle:
		if ls := c.lp.ls; ls.idleTimeout > 0 && now-c.lastActive > ls.idleTimeout {
			c.close()
		}
	case stConnect:
		if up := c.up; up != nil && now-up.started > c.lp.ls.connectTimeout {
			c.dialFailed(errors.New("connect timeout"))
			c.run()
		}
	case stWait, stBody, stSend:
		if up := c.up; up != nil && up.waiting != 0 && c.lp.ls.responseTimeout > 0 && now-up.waiting > c.lp.ls.responseTimeout {
			c.p().countError("upstream")
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

func (c *clientConn) p() *Proxy { return c.lp.ls.p }

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
		return true
	case err == syscall.EAGAIN || err == errBufferFull:
		return false
	}
	// EOF or a broken connection.
	if c.state != stIdle || c.r < c.w {
		c.p().countError("client_abort")
	}
	c.close()
	return false
}

func (c *clientConn) readHead() bool {
	if c.r == c.w {
		if c.buf != nil && c.w == 0 {
			// Nothing buffered between requests: give the buffer back.
			c.lp.putBuf(c.buf)
			c.buf = nil
		}
		if !c.readable {
			if c.hup {
				c.close()
			}
			return false
		}
		return c.fill()
	}
	switch parseRequestHead(c.buf[c.r:c.w], &c.lp.reqHead) {
	case headIncomplete:
		if c.w-c.r == len(c.buf) {
			c.handoff()
			return false
		}
		if !c.readable {
			if c.hup {
				c.close()
			}
			return false
		}
		return c.fill()
	case headOther:
		c.handoff()
		return false
	}
	return c.begin()
}

// fastPath tells whether the loops serve a request for this path: the API
// routes, with a path that needs no normalizing (fasthttp's router view
// and the worker's must agree on what it names).
func fastPath(path []byte) (string, bool) {
	for i := 0; i < len(path); i++ {
		switch path[i] {
		case '%', '\\':
			return "", false
		case '/':
			if i+1 < len(path) && (path[i+1] == '/' || path[i+1] == '.') {
				return "", false
			}
		}
	}
	switch g := route(path); g {
	case metrics.GroupAuth, metrics.GroupRest, metrics.GroupStorage, metrics.GroupRealtime, metrics.GroupFunctions:
		return g, true
	}
	return "", false
}

// begin starts the exchange for the parsed head, or hands the connection
// on when the loops do not serve it.
func (c *clientConn) begin() bool {
	h := &c.lp.reqHead
	path := h.uri
	if q := bytes.IndexByte(path, '?'); q >= 0 {
		path = path[:q]
	}
	group, ok := fastPath(path)
	p := c.p()
	if !ok || (h.preflight && h.origin != nil && string(h.method) == "OPTIONS") || h.contentLength > p.cfg.MaxBodyBytes {
		c.handoff()
		return false
	}
	up := p.cfg.Selector.Next(nil)
	if up == nil || c.lp.ls.sockaddr(up) == nil {
		// No worker (the full path answers 503) or one not resolved yet.
		c.handoff()
		return false
	}

	c.group, c.start = group, c.lp.now
	if validRequestID(h.requestID) {
		c.rid = append(c.rid[:0], h.requestID...)
	} else {
		c.rid = p.ids.append(c.rid[:0])
	}
	c.origin = append(c.origin[:0], h.origin...)
	c.method = append(c.method[:0], h.method...)
	c.cors = len(h.origin) > 0 && p.cors.allowed(h.origin)
	c.isHead = string(h.method) == "HEAD"
	c.bodyLeft = max(h.contentLength, 0)
	c.idempotent = c.bodyLeft == 0 && (c.isHead || string(h.method) == "GET")
	c.closeAfter = h.connClose || c.lp.ls.draining.Load()
	c.ntried, c.attempts, c.sent, c.done, c.status, c.abortAfter = 0, 0, false, false, 0, false
	c.composeRequest()
	c.r += h.size
	c.connectTo(up)
	return true
}

// composeRequest writes the head the worker gets: the client's headers
// minus hop-by-hop ones, plus X-Forwarded-* and X-Request-Id.
func (c *clientConn) composeRequest() {
	h := &c.lp.reqHead
	b := c.req[:0]
	b = append(b, h.method...)
	b = append(b, ' ')
	b = append(b, h.uri...)
	b = append(b, " HTTP/1.1\r\n"...)
	for i := 0; i < h.n; i++ {
		if l := &h.lines[i]; !l.drop {
			b = appendHeader(b, l.name, l.value)
		}
	}
	b = append(b, headerForwardedFor+": "...)
	if len(h.forwardedFor) > 0 {
		b = append(append(b, h.forwardedFor...), ", "...)
	}
	b = append(append(b, c.remote...), "\r\n"...)
	trust := c.p().cfg.TrustForwarded
	if trust && len(h.forwarded) > 0 {
		b = appendHeader(b, []byte(headerForwarded), h.forwarded)
	}
	if trust && len(h.forwardedProt) > 0 {
		b = appendHeader(b, []byte(headerForwardedProto), h.forwardedProt)
	} else {
		b = append(b, headerForwardedProto+": http\r\n"...)
	}
	if trust && len(h.forwardedHost) > 0 {
		b = appendHeader(b, []byte(headerForwardedHost), h.forwardedHost)
	} else {
		b = appendHeader(b, []byte(headerForwardedHost), h.host)
	}
	b = appendHeader(b, []byte(headerRequestID), c.rid)
	c.req = append(b, "\r\n"...)
	c.reqOff = 0
}

func appendHeader(b, name, value []byte) []byte {
	b = append(b, name...)
	b = append(b, ": "...)
	b = append(b, value...)
	return append(b, "\r\n"...)
}

// connectTo sends the exchange to u: on an idle pooled connection, or on a
// new one.
func (c *clientConn) connectTo(u *pool.Upstream) {
	c.upstream = u
	c.attempts++
	uc := c.lp.takeIdle(u)
	if uc != nil && c.bodyLeft > 0 && !uc.alive() {
		// A body cannot be sent twice: never risk it on a connection the
		// worker has closed (a restart) before the hang-up event came.
		c.p().countError("stale_conn")
		uc.close()
		uc = nil
	}
	if uc == nil {
		var err error
		if uc, err = c.lp.dial(u); err != nil {
			c.up = nil
			c.dialFailed(err)
			return
		}
	}
	uc.c, c.up = c, uc
	c.reusable = false
	if uc.connect {
		c.state = stConnect
	} else {
		c.state = stSend
	}
}

// dialFailed takes the worker out of rotation and tries the next one; the
// client's body is untouched, so that is safe.
func (c *clientConn) dialFailed(err error) {
	p := c.p()
	p.countError("dial")
	if c.up != nil {
		c.up.close()
		c.up = nil
	}
	p.cfg.Pool.MarkDown(c.upstream)
	c.tried[c.ntried] = c.upstream
	c.ntried++
	if c.attempts < maxLoopAttempts {
		if next := p.cfg.Selector.Next(c.tried[:c.ntried]); next != nil && c.lp.ls.sockaddr(next) != nil {
			c.connectTo(next)
			return
		}
	}
	c.fail(apierr.New(fasthttp.StatusBadGateway, apierr.CodeBadGateway, "no worker could be reached").WithInternal(err))
}

func (c *clientConn) connected() bool {
	uc := c.up
	if !uc.writable && !uc.hup {
		return false
	}
	soerr, err := syscall.GetsockoptInt(uc.fd, syscall.SOL_SOCKET, syscall.SO_ERROR)
	if err == nil && soerr != 0 {
		err = syscall.Errno(soerr)
	}
	if err != nil {
		c.dialFailed(err)
		return true
	}
	uc.connect = false
	c.state = stSend
	return true
}

// sendHead writes the request head with the body bytes already read.
func (c *clientConn) sendHead() bool {
	uc := c.up
	if !uc.writable {
		return false
	}
	body := c.buf[c.r : c.r+int(min(c.bodyLeft, int64(c.w-c.r)))]
	n, err := writev2(uc.fd, c.req[c.reqOff:], body)
	if err != nil {
		if err == syscall.EAGAIN {
			uc.writable = false
			return false
		}
		c.writeFailed(err)
		return true
	}
	if uc.waiting == 0 {
		uc.waiting = c.lp.now
	}
	head := len(c.req) - c.reqOff
	if n < head {
		c.reqOff += n
		uc.writable = false
		return false
	}
	c.reqOff = len(c.req)
	c.consumeBody(n - head)
	if n-head < len(body) {
		uc.writable = false
		c.state = stBody
		return false
	}
	c.state = stBody
	return true
}

func (c *clientConn) consumeBody(n int) {
	c.r += n
	c.bodyLeft -= int64(n)
}

// sendBody relays the request body from the client to the worker.
func (c *clientConn) sendBody() bool {
	if c.bodyLeft == 0 {
		c.state = stWait
		return true
	}
	uc := c.up
	if uc.readable && c.readResponseHead() {
		return true // the worker answered before taking the whole body
	}
	if c.r == c.w && (c.pipe != nil || c.bodyLeft >= spliceMin) {
		if c.pipe == nil {
			if c.pipe = c.lp.getPipe(); c.pipe != nil {
				c.pipeLeft = c.bodyLeft
			}
		}
		if c.pipe != nil {
			return c.spliceRequest()
		}
	}
	if c.r == c.w {
		if !c.readable {
			if c.hup {
				c.p().countError("client_abort")
				c.close()
			}
			return false
		}
		return c.fill()
	}
	if !uc.writable {
		return false
	}
	k := int(min(c.bodyLeft, int64(c.w-c.r)))
	n, err := writeFD(uc.fd, c.buf[c.r:c.r+k])
	if err != nil {
		if err == syscall.EAGAIN {
			uc.writable = false
			return false
		}
		c.writeFailed(err)
		return true
	}
	uc.waiting = c.lp.now // the response timeout counts from the last write
	c.consumeBody(n)
	if n < k {
		uc.writable = false
		return false
	}
	return true
}

// spliceRequest moves the rest of a long request body to the worker.
func (c *clientConn) spliceRequest() bool {
	uc := c.up
	res := spliceStep(c.pipe, c.fd, uc.fd, &c.pipeLeft, &c.readable, &uc.writable)
	c.bodyLeft = c.pipeLeft + c.pipe.n
	switch res {
	case spliceMoved:
		uc.waiting = c.lp.now
		c.lastActive = c.lp.now
		if c.bodyLeft == 0 {
			c.lp.putPipe(c.pipe)
			c.pipe = nil
		}
		return true
	case spliceWait:
		if !c.readable && c.hup && c.pipe.n == 0 {
			c.p().countError("client_abort")
			c.close()
		}
		return false
	case spliceToErr:
		c.writeFailed(syscall.EPIPE)
		return true
	}
	c.p().countError("client_abort")
	c.close()
	return false
}

// spliceResponse moves the rest of a long response body to the client.
func (c *clientConn) spliceResponse() bool {
	uc := c.up
	res := spliceStep(c.pipe, uc.fd, c.fd, &c.left, &uc.readable, &c.writable)
	switch res {
	case spliceMoved:
		c.lastActive = c.lp.now
		if c.left == 0 && c.pipe.n == 0 {
			c.lp.putPipe(c.pipe)
			c.pipe = nil
			c.done = true
		}
		return true
	case spliceWait:
		return false
	case spliceToErr:
		c.clientGone()
		return false
	}
	// The worker broke off mid-body: cut the client's connection so the
	// answer cannot look complete.
	c.p().countError("upstream")
	c.close()
	return false
}

// writeFailed handles a worker that stopped taking the request: it may have
// answered first (a 413 or 401 before reading the body), so what it sent is
// read before the exchange fails.
func (c *clientConn) writeFailed(err error) {
	c.up.writeErr = err
	c.up.readable = true
	c.state = stWait
}

// upstreamBroke handles a worker connection that failed before the answer
// began: a pooled connection the worker had closed is retried for GET and
// HEAD without a body (as the full path does); anything else is a 502.
func (c *clientConn) upstreamBroke(err error) {
	uc := c.up
	stale := uc.reused && !uc.gotHead && uc.r == uc.w
	u := uc.u
	uc.close()
	c.up = nil
	if stale && c.idempotent && c.attempts < maxLoopAttempts {
		c.p().countError("stale_conn")
		c.lp.dropIdle(u)
		c.reqOff = 0
		c.connectTo(u)
		return
	}
	c.p().countError("upstream")
	c.fail(apierr.New(fasthttp.StatusBadGateway, apierr.CodeBadGateway, "the upstream failed to answer").WithInternal(err))
}

// failUpstream drops the worker connection and answers e, if the client has
// not had a byte of the answer yet; otherwise the client connection is cut
// so the answer cannot look complete.
func (c *clientConn) failUpstream(e *apierr.Error) {
	if c.up != nil {
		c.up.close()
		c.up = nil
	}
	c.fail(e)
}

// fail answers with the default JSON error shape (5xx carry the request id).
func (c *clientConn) fail(e *apierr.Error) {
	p := c.p()
	if c.sent {
		c.close()
		return
	}
	if c.up != nil {
		c.up.close()
		c.up = nil
	}
	if c.pipe != nil {
		c.lp.putPipe(c.pipe) // closed if it still holds body bytes
		c.pipe = nil
	}
	if c.bodyLeft > 0 {
		c.closeAfter = true // the rest of the body was not read
	}
	if e.Internal != nil || e.Status >= 500 {
		p.cfg.Log.Warn("proxy error", "component", "proxy", "request_id", string(c.rid), "status", e.Status,
			"method", string(c.method), "path", c.group, "cause", e.Cause())
	}
	body := e.JSON(string(c.rid))
	b := c.resp[:0]
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(e.Status), 10)
	b = append(b, ' ')
	b = append(b, fasthttp.StatusMessage(e.Status)...)
	b = append(b, "\r\nContent-Type: application/json\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n"...)
	b = c.appendTrailingHeaders(b)
	if !c.isHead { // a HEAD answer announces the body's length, without it
		b = append(b, body...)
	}
	c.resp = b
	c.out1, c.out2 = b, nil
	c.status, c.done, c.mode = e.Status, true, bodyNone
	c.state = stRelay
}

// appendTrailingHeaders appends what the edge adds to every answer, and
// the blank line.
func (c *clientConn) appendTrailingHeaders(b []byte) []byte {
	if c.cors {
		c.p().cors.actualHeaders(c.origin, func(name string, value []byte, _ bool) {
			b = appendHeader(b, []byte(name), value)
		})
	}
	b = appendHeader(b, []byte(headerRequestID), c.rid)
	if c.closeAfter {
		b = append(b, "Connection: close\r\n"...)
	}
	return append(b, "\r\n"...)
}

func (c *clientConn) readResponseHead() bool {
	uc := c.up
	for {
		if uc.r < uc.w {
			switch parseResponseHead(uc.buf[uc.r:uc.w], &c.lp.respHead) {
			case headOK:
				if s := c.lp.respHead.status; s >= 100 && s < 200 {
					if s == 101 {
						c.p().countError("upstream")
						c.failUpstream(apierr.New(fasthttp.StatusBadGateway, apierr.CodeBadGateway, "the upstream failed to answer").
							WithInternal(errors.New("unexpected 101 from worker")))
						return true
					}
					uc.r += c.lp.respHead.size // an interim answer: skip it
					continue
				}
				c.startResponse()
				return true
			case headOther:
				c.p().countError("upstream")
				c.failUpstream(apierr.New(fasthttp.StatusBadGateway, apierr.CodeBadGateway, "the upstream failed to answer").
					WithInternal(errors.New("malformed response head")))
				return true
			}
			if uc.w-uc.r == len(uc.buf) {
				c.p().countError("upstream")
				c.failUpstream(apierr.New(fasthttp.StatusBadGateway, apierr.CodeBadGateway, "the upstream failed to answer").
					WithInternal(errors.New("response head too large")))
				return true
			}
		}
		if !uc.readable {
			return false
		}
		n, err := uc.readOnce()
		if n > 0 {
			uc.waiting = 0
			continue
		}
		if err == syscall.EAGAIN && uc.writeErr == nil {
			return false
		}
		if uc.writeErr != nil {
			err = uc.writeErr
		} else if err == nil {
			err = errors.New("connection closed before the response")
		}
		c.upstreamBroke(err)
		return true
	}
}

// startResponse composes the client's response head and starts relaying.
func (c *clientConn) startResponse() {
	uc := c.up
	h := &c.lp.respHead
	uc.gotHead = true
	uc.r += h.size
	c.status = h.status
	switch {
	case bodiless(h.status, c.isHead):
		c.mode = bodyNone
	case h.chunked:
		c.mode, c.chunks = bodyChunked, chunkedScanner{}
	case h.contentLength >= 0:
		c.mode, c.left = bodyLength, h.contentLength
	default:
		c.mode = bodyUntilClose
		c.closeAfter = true
	}
	c.reusable = !h.connClose && c.mode != bodyUntilClose
	if c.bodyLeft > 0 {
		// Answered before the whole body was sent: neither connection can
		// carry another request.
		c.closeAfter, c.reusable = true, false
		if c.pipe != nil {
			c.lp.putPipe(c.pipe)
			c.pipe = nil
		}
	}

	b := c.resp[:0]
	b = append(b, "HTTP/1.1 "...)
	b = append(b, h.statusLine...)
	b = append(b, "\r\n"...)
	for i := 0; i < h.n; i++ {
		l := &h.lines[i]
		if l.drop || (c.cors && corsHeader(l.name)) {
			continue
		}
		b = appendHeader(b, l.name, l.value)
	}
	b = appendHeader(b, []byte(headerWorker), []byte(uc.u.ID))
	b = c.appendTrailingHeaders(b)
	c.resp = b
	c.out1 = b
	c.out2 = c.takeBody()
	c.state = stRelay
}

// corsHeader tells the CORS headers the edge sets itself.
func corsHeader(name []byte) bool {
	return is(name, "access-control-allow-origin") || is(name, "access-control-allow-credentials") ||
		is(name, "access-control-expose-headers")
}

// takeBody takes the response body bytes in the worker connection's buffer
// that belong to this response.
func (c *clientConn) takeBody() []byte {
	uc := c.up
	avail := uc.buf[uc.r:uc.w]
	var k int
	switch c.mode {
	case bodyNone:
		c.done = true
	case bodyLength:
		k = int(min(c.left, int64(len(avail))))
		c.left -= int64(k)
		c.done = c.left == 0
	case bodyChunked:
		n, done, ok := c.chunks.scan(avail)
		if !ok {
			c.reusable = false
			c.closeAfter = true
			c.done = true // what came is passed on; the cut connection tells the client
			c.abortAfter = true
		}
		k, c.done = n, c.done || done
	case bodyUntilClose:
		k = len(avail)
	}
	uc.r += k
	if c.done && uc.r < uc.w {
		c.reusable = false // bytes past the end of the answer
	}
	return avail[:k]
}

// relay writes the pending answer bytes to the client and reads more from
// the worker.
func (c *clientConn) relay() bool {
	if len(c.out1)+len(c.out2) > 0 {
		if !c.writable {
			if c.hup {
				c.clientGone()
			}
			return false
		}
		n, err := writev2(c.fd, c.out1, c.out2)
		if err != nil && err != syscall.EAGAIN {
			c.clientGone()
			return false
		}
		if n > 0 {
			c.sent = true
			c.lastActive = c.lp.now
		}
		if k := min(n, len(c.out1)); k > 0 {
			c.out1 = c.out1[k:]
			n -= k
		}
		c.out2 = c.out2[n:]
		if len(c.out1)+len(c.out2) > 0 {
			c.writable = false
			return false
		}
	}
	if c.done {
		c.finish()
		return c.state != stClosed
	}
	uc := c.up
	if c.pipe != nil || (c.mode == bodyLength && uc.r == uc.w && c.left >= spliceMin) {
		if c.pipe == nil {
			c.pipe = c.lp.getPipe()
		}
		if c.pipe != nil {
			return c.spliceResponse()
		}
	}
	if uc.r == uc.w {
		if !uc.readable {
			return false
		}
		n, err := uc.readOnce()
		if n == 0 {
			if err == syscall.EAGAIN {
				return false
			}
			if c.mode == bodyUntilClose && err == nil {
				c.reusable = false
				c.done = true
				return true
			}
			// The worker broke off mid-body: cut the client's connection so
			// the answer cannot look complete.
			c.p().countError("upstream")
			c.close()
			return false
		}
	}
	c.out2 = c.takeBody()
	return true
}

// clientGone ends an exchange whose client went away.
func (c *clientConn) clientGone() {
	c.close()
}

// finish records the exchange and readies the connection for the next.
func (c *clientConn) finish() {
	p := c.p()
	if m := p.cfg.Metrics; m != nil {
		m.HTTP.Observe(c.group, c.status, time.Duration(c.lp.now-c.start))
	}
	if p.cfg.Log.Enabled(context.Background(), slog.LevelDebug) {
		worker := ""
		if c.upstream != nil {
			worker = c.upstream.ID
		}
		p.cfg.Log.Debug("request", "component", "proxy", "request_id", string(c.rid), "method", string(c.method),
			"path", c.group, "status", c.status, "worker", worker, "duration_ms", float64(c.lp.now-c.start)/1e6)
	}
	if uc := c.up; uc != nil {
		c.up = nil
		// A worker whose FIN already came (with or before the end of its
		// answer) gets no new event to tell: never pool its connection.
		if c.reusable && c.bodyLeft == 0 && !c.abortAfter && !c.lp.ls.draining.Load() && !uc.rdhup && !uc.hup {
			c.lp.putIdle(uc)
		} else {
			uc.close()
		}
	}
	if c.closeAfter || c.abortAfter {
		if c.bodyLeft > 0 && !c.abortAfter {
			c.linger()
		} else {
			c.close()
		}
		return
	}
	c.state = stIdle
	c.upstream = nil
}

// lingerTime bounds a lingering close.
const lingerTime = int64(5 * time.Second)

// linger closes a connection whose request body was not read to its end as
// nginx's lingering close does: stop writing, then read and drop what the
// client still sends for a while. Closing at once would make the kernel
// reset the connection over the unread bytes, and a reset can destroy the
// answer before the client reads it.
func (c *clientConn) linger() {
	if c.up != nil {
		c.up.close()
		c.up = nil
	}
	c.lp.putPipe(c.pipe)
	c.pipe = nil
	_ = syscall.Shutdown(c.fd, syscall.SHUT_WR)
	c.state, c.lingerSince, c.readable = stLinger, c.lp.now, true
}

// drain reads and drops what a lingering client sends, until it closes.
func (c *clientConn) drain() bool {
	if !c.readable {
		if c.hup {
			c.close()
		}
		return false
	}
	c.r = c.w // dropped
	n, err := c.readOnce()
	switch {
	case n > 0:
		return true
	case err == syscall.EAGAIN:
		return false
	}
	c.close()
	return false
}

func (c *clientConn) close() {
	if c.state == stClosed {
		return
	}
	c.state = stClosed
	c.lp.unregister(c.fd)
	_ = syscall.Close(c.fd)
	c.lp.putBuf(c.buf)
	c.buf = nil
	c.lp.putPipe(c.pipe)
	c.pipe = nil
	if c.up != nil {
		c.up.close()
		c.up = nil
	}
	c.lp.ls.clients.Add(-1)
}

// handoff passes the connection, with the bytes read from it so far, to the
// fasthttp server.
func (c *clientConn) handoff() {
	ls := c.lp.ls
	if m := ls.p.cfg.Metrics; m != nil {
		m.handoffs.Inc()
	}
	c.state = stClosed
	c.lp.unregister(c.fd)
	_ = syscall.EpollCtl(c.lp.epfd, syscall.EPOLL_CTL_DEL, c.fd, nil)
	prefix := append([]byte(nil), c.buf[c.r:c.w]...)
	c.lp.putBuf(c.buf)
	c.buf = nil
	ls.clients.Add(-1)
	f := os.NewFile(uintptr(c.fd), "client")
	nc, err := net.FileConn(f)
	_ = f.Close()
	if err != nil {
		ls.p.cfg.Log.Warn("handing a connection over failed", "component", "proxy", "error", err)
		return
	}
	ls.handoff.give(&prefixConn{Conn: nc, prefix: prefix})
}

// upstreamConn methods.

func (uc *upstreamConn) event(mask uint32) {
	uc.note(mask)
	if uc.c == nil {
		if uc.readable {
			// An idle connection that turns readable was closed by the
			// worker (or sent what nobody asked for): drop it now.
			uc.close()
		}
		return
	}
	uc.c.run()
}

func (uc *upstreamConn) expire(int64) {} // the client's expire covers it

// alive peeks at a pooled connection without blocking: one that reads EOF
// or has unexpected bytes must not carry a request.
func (uc *upstreamConn) alive() bool {
	var b [1]byte
	_, _, err := syscall.Recvfrom(uc.fd, b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return err == syscall.EAGAIN
}

func (uc *upstreamConn) close() {
	if uc.closed {
		return
	}
	uc.closed = true
	uc.lp.unregister(uc.fd)
	_ = syscall.Close(uc.fd)
	uc.lp.putBuf(uc.buf)
	uc.buf = nil
	uc.c = nil
}

// dial opens a non-blocking connection to u.
func (lp *loop) dial(u *pool.Upstream) (*upstreamConn, error) {
	sa := lp.ls.sockaddr(u)
	if sa == nil {
		return nil, errors.New("worker address not resolved")
	}
	family := syscall.AF_INET
	if _, ok := sa.(*syscall.SockaddrInet6); ok {
		family = syscall.AF_INET6
	}
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	_ = syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	uc := &upstreamConn{sock: sock{lp: lp, fd: fd}, u: u, started: lp.now}
	err = syscall.Connect(fd, sa)
	switch err {
	case nil:
		uc.writable = true
	case syscall.EINPROGRESS:
		uc.connect = true
	default:
		_ = syscall.Close(fd)
		return nil, os.NewSyscallError("connect", err)
	}
	if err := lp.register(fd, uc); err != nil {
		_ = syscall.Close(fd)
		return nil, err
	}
	if p := lp.ls.p.cfg.Transport; p != nil {
		p.Dials.Add(1)
	}
	return uc, nil
}

// takeIdle returns the most recently used idle connection to u, or nil.
func (lp *loop) takeIdle(u *pool.Upstream) *upstreamConn {
	list := lp.idle[u]
	for len(list) > 0 {
		uc := list[len(list)-1]
		list = list[:len(list)-1]
		if !uc.closed {
			lp.idle[u] = list
			uc.reused, uc.gotHead, uc.waiting = true, false, 0
			return uc
		}
	}
	delete(lp.idle, u)
	return nil
}

func (lp *loop) putIdle(uc *upstreamConn) {
	uc.c = nil
	uc.idle = lp.now
	if uc.r == uc.w {
		lp.putBuf(uc.buf)
		uc.buf, uc.r, uc.w = nil, 0, 0
	}
	lp.idle[uc.u] = append(lp.idle[uc.u], uc)
}

// dropIdle closes this loop's idle connections to u (after one turned out
// closed by the worker, the others usually are too).
func (lp *loop) dropIdle(u *pool.Upstream) {
	for _, uc := range lp.idle[u] {
		uc.close()
	}
	delete(lp.idle, u)
}
