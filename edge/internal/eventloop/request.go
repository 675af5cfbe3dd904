//go:build linux

package eventloop

import (
	"bytes"
	"syscall"

	fw "github.com/madbase/madbase/edge/internal/forwarding"
	"github.com/madbase/madbase/edge/internal/pool"
	"github.com/madbase/madbase/shared/apierr"
	"github.com/valyala/fasthttp"
)

func (c *clientConn) readHead() bool {
	if c.r == c.w && c.lp.moving() && c.lp.move(c) {
		return false
	}
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
// routes, with a path that needs no normalizing (what the edge routes on
// and what the worker reads must name the same thing); anything else goes
// to the full server, which applies the policy's path rules.
func fastPath(path []byte) (string, bool) {
	if !fw.Plain(path) {
		return "", false
	}
	g := fw.Route(path)
	return g, fw.ToWorkers(g)
}

// begin starts the exchange for the parsed head, or hands the connection
// on when the loops do not serve it.
func (c *clientConn) begin() bool {
	h := &c.lp.reqHead
	c.headSince = 0
	path := h.uri
	if q := bytes.IndexByte(path, '?'); q >= 0 {
		path = path[:q]
	}
	group, ok := fastPath(path)
	ls := c.ls()
	if !ok || (h.preflight && h.origin != nil && string(h.method) == "OPTIONS") || h.contentLength > ls.cfg.MaxBodyBytes {
		c.handoff()
		return false
	}
	up := ls.cfg.Selector.Next(nil)
	if up == nil || !c.lp.ls.resolved(up) {
		// No worker (the full path answers 503) or one not resolved yet.
		c.handoff()
		return false
	}

	c.group, c.start = group, c.lp.now
	if fw.ValidRequestID(h.requestID) {
		c.rid = append(c.rid[:0], h.requestID...)
	} else {
		c.rid = c.lp.ids.Append(c.rid[:0])
	}
	c.origin = append(c.origin[:0], h.origin...)
	c.method = append(c.method[:0], h.method...)
	c.cors = nil
	if len(h.origin) > 0 {
		if cors := ls.pol.CORSFor(ls.pol.ForwardedHost(h.forwardedHost, h.host), h.apikey); cors.Allowed(h.origin) {
			c.cors = cors
		}
	}
	if c.logged = c.lp.logRequests; c.logged {
		c.path = append(c.path[:0], path...)
	}
	c.isHead = string(h.method) == "HEAD"
	c.bodyLeft = max(h.contentLength, 0)
	c.idempotent = c.bodyLeft == 0 && (c.isHead || string(h.method) == "GET")
	c.closeAfter = h.connClose || c.lp.ls.draining.Load()
	c.ntried, c.attempts, c.sent, c.done, c.status, c.abortAfter = 0, 0, false, false, 0, false
	c.composeRequest()
	c.r += h.size
	c.replayable = fw.Replayable(h.method) && c.bodyLeft <= int64(c.w-c.r)
	c.bodyStart, c.bodyLen = c.r, c.bodyLeft
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
	pol := c.ls().pol
	b = append(b, fw.HeaderForwardedFor+": "...)
	b = append(fw.AppendForwardedFor(b, h.forwardedFor, c.remote), "\r\n"...)
	if f := pol.Forwarded(h.forwarded); len(f) > 0 {
		b = appendHeader(b, []byte(fw.HeaderForwarded), f)
	}
	b = appendHeader(b, []byte(fw.HeaderForwardedProto), pol.ForwardedProto(h.forwardedProt, false))
	b = appendHeader(b, []byte(fw.HeaderForwardedHost), pol.ForwardedHost(h.forwardedHost, h.host))
	b = appendHeader(b, []byte(fw.HeaderRequestID), c.rid)
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
		c.ls().countError("stale_conn")
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
	ls := c.ls()
	ls.countError("dial")
	if c.up != nil {
		c.up.close()
		c.up = nil
	}
	ls.cfg.Pool.MarkDown(c.upstream)
	c.tried[c.ntried] = c.upstream
	c.ntried++
	if c.attempts < maxLoopAttempts {
		if next := ls.cfg.Selector.Next(c.tried[:c.ntried]); next != nil && c.lp.ls.resolved(next) {
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
	goOn := c.writeBuffered()
	if c.state == stSend && c.reqOff == len(c.req) {
		c.state = stBody
	}
	return goOn
}

// writeBuffered writes to the worker, in one call, what is left of the
// request head and the body bytes in the read buffer. false means it waits
// for the worker's socket; a failed write hands over to writeFailed.
func (c *clientConn) writeBuffered() bool {
	uc := c.up
	if !uc.writable {
		return false
	}
	head := c.req[c.reqOff:]
	body := c.buf[c.r : c.r+int(min(c.bodyLeft, int64(c.w-c.r)))]
	n, err := writev2(uc.fd, head, body)
	if err != nil {
		if err == syscall.EAGAIN {
			uc.writable = false
			return false
		}
		c.writeFailed(err)
		return true
	}
	uc.waiting = c.lp.now // the response timeout counts from the last write
	k := min(n, len(head))
	c.reqOff += k
	c.consumeBody(n - k)
	if n < len(head)+len(body) {
		uc.writable = false
		return false
	}
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
				c.ls().countError("client_abort")
				c.close()
			}
			return false
		}
		return c.fill()
	}
	return c.writeBuffered()
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
		if c.pipeLeft == 0 {
			c.setLowat(1) // the next request's head wakes the loop
		}
		if c.bodyLeft == 0 {
			c.lp.putPipe(c.pipe)
			c.pipe = nil
		}
		return true
	case spliceWait:
		if !c.readable && c.hup && c.pipe.n == 0 {
			c.ls().countError("client_abort")
			c.close()
		} else if !c.readable && c.pipeLeft > 0 {
			c.setLowat(c.pipeLeft)
		}
		return false
	case spliceToErr:
		c.writeFailed(syscall.EPIPE)
		return true
	}
	c.ls().countError("client_abort")
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
// began. A pooled connection the worker had closed is retried for GET and
// HEAD without a body (as the full path does); a request the policy may
// replay goes to another worker when no byte of the answer came (the worker
// was killed, or dropped the connection): nothing of the request is lost,
// the edge still holds all of it. Anything else is a 502.
func (c *clientConn) upstreamBroke(err error) {
	uc := c.up
	silent := !uc.answered && !uc.gotHead
	stale := uc.reused && silent && uc.r == uc.w
	u := uc.u
	uc.close()
	c.up = nil
	if stale && c.idempotent && c.attempts < maxLoopAttempts {
		c.ls().countError("stale_conn")
		c.lp.dropIdle(u)
		c.reqOff = 0
		c.connectTo(u)
		return
	}
	c.ls().countError("upstream")
	if silent && c.replayable && c.attempts < maxLoopAttempts {
		c.tried[c.ntried] = u
		c.ntried++
		if next := c.ls().cfg.Selector.Next(c.tried[:c.ntried]); next != nil && c.lp.ls.resolved(next) {
			c.reqOff, c.r, c.bodyLeft = 0, c.bodyStart, c.bodyLen
			c.connectTo(next)
			return
		}
	}
	c.fail(apierr.New(fasthttp.StatusBadGateway, apierr.CodeBadGateway, "the upstream failed to answer").WithInternal(err))
}
