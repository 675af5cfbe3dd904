//go:build linux

package eventloop

import (
	"errors"
	"strconv"
	"syscall"
	"time"

	fw "github.com/madbase/madbase/edge/internal/forwarding"
	"github.com/madbase/madbase/edge/internal/proxy"
	"github.com/madbase/madbase/shared/apierr"
	"github.com/valyala/fasthttp"
)

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
			uc.setLowat(1) // the next answer's head wakes the loop
		}
		return true
	case spliceWait:
		if !uc.readable && c.left > 0 {
			uc.setLowat(c.left)
		}
		return false
	case spliceToErr:
		c.clientGone()
		return false
	}
	// The worker broke off mid-body: cut the client's connection so the
	// answer cannot look complete.
	c.ls().countError("upstream")
	c.close()
	return false
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
	ls := c.ls()
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
		ls.cfg.Log.Warn("proxy error", "component", "proxy", "request_id", string(c.rid), "status", e.Status,
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
	if c.cors != nil {
		c.cors.ActualHeaders(c.origin, func(name string, value []byte, _ bool) {
			b = appendHeader(b, []byte(name), value)
		})
	}
	b = appendHeader(b, []byte(fw.HeaderRequestID), c.rid)
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
						c.ls().countError("upstream")
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
				c.ls().countError("upstream")
				c.failUpstream(apierr.New(fasthttp.StatusBadGateway, apierr.CodeBadGateway, "the upstream failed to answer").
					WithInternal(errors.New("malformed response head")))
				return true
			}
			if uc.w-uc.r == len(uc.buf) {
				c.ls().countError("upstream")
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
			uc.waiting, uc.answered = 0, true
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
		if l.drop || (c.cors != nil && l.cors) {
			continue
		}
		b = appendHeader(b, l.name, l.value)
	}
	b = appendHeader(b, []byte(fw.HeaderWorker), []byte(uc.u.ID))
	b = c.appendTrailingHeaders(b)
	c.resp = b
	c.out1 = b
	c.out2 = c.takeBody()
	c.state = stRelay
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
			c.ls().countError("upstream")
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
	ls := c.ls()
	if m := c.lp.http; m != nil {
		m.Observe(c.group, c.status, time.Duration(c.lp.now-c.start))
	}
	if c.logged {
		var worker []byte
		if c.upstream != nil {
			worker = []byte(c.upstream.ID)
		}
		proxy.LogRequest(ls.cfg.Log, ls.logLevel, string(c.rid), c.method, c.path, c.status, worker, time.Duration(c.lp.now-c.start))
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
	if c.r < c.w {
		c.headSince = c.lp.now // the start of a pipelined head is in
	}
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
	c.setLowat(1)
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
