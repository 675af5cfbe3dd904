package proxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"syscall"

	fw "github.com/madbase/madbase/edge/internal/forwarding"
	"github.com/madbase/madbase/edge/internal/pool"
	"github.com/madbase/madbase/shared/apierr"
	"github.com/valyala/fasthttp"
)

var errBodyTooLarge = errors.New("request body exceeds MAX_BODY_BYTES")

var protoHTTP11 = []byte("HTTP/1.1")

// forward sends the request to a worker (or to control when toControl) and
// streams the answer back. A worker that refuses the connection is taken out
// of rotation and the request goes to the next one, as long as no byte of the
// request body has been read from the client.
func (p *Proxy) forward(ctx *fasthttp.RequestCtx, rid string, origin []byte, toControl bool) {
	cl := ctx.Request.Header.ContentLength()
	if int64(cl) > p.cfg.MaxBodyBytes {
		ctx.SetConnectionClose()
		p.fail(ctx, rid, apierr.TooLarge("request body is larger than the limit"))
		return
	}
	if toControl && p.cfg.Control == nil {
		p.fail(ctx, rid, apierr.Unavailable("the control plane is not configured"))
		return
	}

	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	ctx.Request.Header.CopyTo(&req.Header)
	stripRequestHop(&req.Header)
	setForwarded(ctx, &req.Header, p.pol)
	req.Header.Set(fw.HeaderRequestID, rid)
	req.SetRequestURIBytes(ctx.Request.Header.RequestURI()) // as the client sent it: Request.RequestURI would rebuild it from the cleaned path

	var body *bodyReader
	if cl > 0 || cl == -1 {
		body = acquireBodyReader(ctx.RequestBodyStream(), p.cfg.MaxBodyBytes)
		defer releaseBodyReader(body)
		req.SetBodyStream(body, cl)
	} else {
		req.Header.SetContentLength(0)
	}

	// A bodyless GET or HEAD goes through the client that skips the
	// stale-connection check and lets fasthttp resend it instead.
	idempotent := body == nil && (ctx.IsGet() || ctx.IsHead())
	// A bodyless request of an idempotent method goes to another worker
	// when its connection breaks before the answer (a killed worker). A
	// streamed body is never sent twice.
	replayable := body == nil && !toControl && fw.Replayable(ctx.Method())
	var broke error

	var tried [4]*pool.Upstream // maxTries <= len(tried)
	ntried, attempts := 0, 0
	resp := fasthttp.AcquireResponse()
	for {
		var client *fasthttp.HostClient
		var up *pool.Upstream
		if toControl {
			client = p.cfg.Control
			if idempotent && p.cfg.ControlIdempotent != nil {
				client = p.cfg.ControlIdempotent
			}
		} else {
			up = p.cfg.Selector.Next(tried[:ntried])
			if up == nil {
				fasthttp.ReleaseResponse(resp)
				if broke != nil {
					p.fail(ctx, rid, apierr.New(fasthttp.StatusBadGateway, apierr.CodeBadGateway, "the upstream failed to answer").WithInternal(broke))
					return
				}
				if ntried == 0 {
					p.CountError("no_worker")
					p.fail(ctx, rid, apierr.Unavailable("no healthy worker is available"))
				} else {
					p.fail(ctx, rid, apierr.New(fasthttp.StatusBadGateway, apierr.CodeBadGateway, "no worker could be reached"))
				}
				return
			}
			client = up.Client
			if idempotent {
				client = up.IdempotentClient
			}
		}
		err := client.Do(req, resp)
		if err == nil {
			p.respond(ctx, rid, origin, resp, up)
			return
		}
		var dialErr *pool.DialError
		isDial := errors.As(err, &dialErr)
		untouched := body == nil || body.n == 0
		switch {
		case body != nil && body.tooLarge:
			fasthttp.ReleaseResponse(resp)
			p.CountError("body_too_large")
			ctx.SetConnectionClose()
			p.fail(ctx, rid, apierr.TooLarge("request body is larger than the limit"))
			return
		case body != nil && body.clientErr != nil:
			fasthttp.ReleaseResponse(resp)
			p.CountError("client_abort")
			ctx.SetConnectionClose()
			p.fail(ctx, rid, apierr.BadRequest("the request body could not be read"))
			return
		case isDial && up != nil:
			p.CountError("dial")
			p.cfg.Pool.MarkDown(up)
		case errors.Is(err, pool.ErrStaleConn):
			// Usually the worker restarted: its other idle connections are
			// dead too, so drop them all rather than finding out one by one.
			p.CountError("stale_conn")
			client.CloseIdleConnections()
		default:
			p.CountError("upstream")
		}
		attempts++
		brokeBeforeAnswer := replayable && !isDial && closedBeforeAnswer(err)
		if attempts < p.maxTries && (brokeBeforeAnswer || (untouched && (errors.Is(err, pool.ErrStaleConn) || (isDial && !toControl)))) {
			if isDial || brokeBeforeAnswer {
				tried[ntried] = up
				ntried++
			}
			if brokeBeforeAnswer {
				broke = err
			}
			continue
		}
		fasthttp.ReleaseResponse(resp)
		switch {
		case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, fasthttp.ErrDialTimeout):
			p.fail(ctx, rid, apierr.New(fasthttp.StatusGatewayTimeout, apierr.CodeGatewayTimeout, "the upstream did not answer in time").WithInternal(err))
		default:
			p.fail(ctx, rid, apierr.New(fasthttp.StatusBadGateway, apierr.CodeBadGateway, "the upstream failed to answer").WithInternal(err))
		}
		return
	}
}

// closedBeforeAnswer reports whether err says the worker's connection ended
// before the first byte of its answer (not a timeout, not a refused dial).
func closedBeforeAnswer(err error) bool {
	return errors.Is(err, fasthttp.ErrConnectionClosed) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// respond copies the upstream's status and headers and hands its body stream
// to fasthttp, which writes it as it arrives (chunked bodies are flushed chunk
// by chunk, so server-sent events are not held back).
func (p *Proxy) respond(ctx *fasthttp.RequestCtx, rid string, origin []byte, resp *fasthttp.Response, up *pool.Upstream) {
	resp.Header.CopyTo(&ctx.Response.Header)
	// The client gets the edge's HTTP/1.1 whatever the worker spoke; its
	// body is framed for that (an HTTP/1.0 answer of unknown length goes
	// out chunked).
	ctx.Response.Header.SetProtocol(protoHTTP11)
	stripResponseHop(&ctx.Response.Header)
	if up != nil {
		ctx.Response.Header.Set(fw.HeaderWorker, up.ID)
	}
	bs := resp.BodyStream()
	if bs == nil {
		// HEAD, 204, 304 or an already complete body.
		if b := resp.Body(); len(b) > 0 {
			ctx.Response.SetBody(b)
		} else if ctx.IsHead() {
			ctx.Response.SkipBody = true
			if !ctx.Request.Header.IsHTTP11() && ctx.Response.Header.ContentLength() == -1 {
				// "chunked" means nothing to an HTTP/1.0 client.
				ctx.Response.Header.Del(fasthttp.HeaderTransferEncoding)
				ctx.Response.Header.SetContentLength(-2)
			}
		}
		fasthttp.ReleaseResponse(resp)
		return
	}
	size := resp.Header.ContentLength()
	if size >= 0 && size <= smallBody {
		// A small body of known length: read it whole and answer in one
		// write instead of relaying a stream. It arrives right behind the
		// headers, so the client waits no longer for its last byte.
		p.respondSmall(ctx, rid, resp, bs, size)
		return
	}
	r := relayPool.Get().(*relay)
	r.resp, r.body = resp, bs
	if size < 0 {
		if !ctx.Request.Header.IsHTTP11() {
			p.respondUntilClose(ctx, rid, origin, r)
			return
		}
		size = -1
	}
	// Flush the head before the body: it also flushes the answers to
	// pipelined requests before this one, which fasthttp holds back while
	// more requests are buffered; a stream the worker then breaks off must
	// not take them down with it.
	ctx.Response.ImmediateHeaderFlush = true
	ctx.Response.SetBodyStream(r, size)
}

// tcpConn finds the TCP connection under c (a connection the event loops
// handed over is wrapped).
func tcpConn(c net.Conn) *net.TCPConn {
	for {
		switch x := c.(type) {
		case *net.TCPConn:
			return x
		case interface{ NetConn() net.Conn }:
			c = x.NetConn()
		default:
			return nil
		}
	}
}

// respondUntilClose answers an HTTP/1.0 client whose answer has no known
// length. fasthttp would frame it chunked, which such a client cannot read:
// the body goes unframed and the connection closes at its end, as nginx
// does.
func (p *Proxy) respondUntilClose(ctx *fasthttp.RequestCtx, rid string, origin []byte, r *relay) {
	h := &ctx.Response.Header
	if len(origin) > 0 {
		actualCORS(p.corsOf(ctx), ctx, origin)
	}
	h.Set(fw.HeaderRequestID, rid)
	var head bytes.Buffer
	head.WriteString("HTTP/1.1 ")
	head.WriteString(strconv.Itoa(h.StatusCode()))
	head.WriteByte(' ')
	head.WriteString(fasthttp.StatusMessage(h.StatusCode()))
	head.WriteString("\r\n")
	for k, v := range h.All() {
		if known := fw.Lookup(k); known == fw.ContentLength || known == fw.TransferEncoding || known == fw.Connection {
			continue
		}
		head.Write(k)
		head.WriteString(": ")
		head.Write(v)
		head.WriteString("\r\n")
	}
	head.WriteString("Connection: close\r\n\r\n")
	ctx.HijackSetNoResponse(true)
	tc := tcpConn(ctx.Conn()) // the hijack handler gets it wrapped
	ctx.Hijack(func(c net.Conn) {
		var err error
		defer func() {
			_ = r.CloseWithError(err)
			// The server keeps no hijacked connection (KeepHijackedConns,
			// for WebSockets): closing it here is what ends this answer.
			_ = c.Close()
		}()
		if _, err = c.Write(head.Bytes()); err == nil {
			_, err = copyStream(c, r.body)
		}
		if tc != nil && err != nil {
			// The end of this body is the end of the connection: a broken
			// answer must end in a reset, not a close that looks complete.
			_ = tc.SetLinger(0)
		}
	})
}

// smallBody is the largest body of known length that respond reads whole
// instead of streaming.
const smallBody = 16 << 10

var smallBufPool = sync.Pool{New: func() any { b := make([]byte, smallBody+1); return &b }}

func (p *Proxy) respondSmall(ctx *fasthttp.RequestCtx, rid string, resp *fasthttp.Response, bs io.Reader, size int) {
	bp := smallBufPool.Get().(*[]byte)
	defer smallBufPool.Put(bp)
	// Read to EOF (one byte of room past size to see it), so the upstream
	// connection counts as fully read and goes back to the pool.
	buf := (*bp)[:size+1]
	n := 0
	var err error
	for err == nil && n <= size {
		var m int
		m, err = bs.Read(buf[n:])
		n += m
	}
	if err == io.EOF && n == size {
		_ = resp.CloseBodyStream()
		fasthttp.ReleaseResponse(resp)
		ctx.Response.SetBody(buf[:n])
		return
	}
	// The worker broke off mid-body (or sent more than it announced): the
	// client must not get a body that looks complete.
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if rc, ok := bs.(fasthttp.ReadCloserWithError); ok {
		_ = rc.CloseWithError(err)
	} else {
		_ = resp.CloseBodyStream()
	}
	fasthttp.ReleaseResponse(resp)
	p.CountError("upstream")
	ctx.SetConnectionClose()
	p.fail(ctx, rid, apierr.New(fasthttp.StatusBadGateway, apierr.CodeBadGateway, "the upstream broke off its answer").WithInternal(err))
}

// relay is the response body stream handed to fasthttp. Its 64 KiB copy
// loop (WriteTo) avoids fasthttp's 4 KiB default for chunked bodies; closing
// it returns the upstream connection to the pool, or closes it when the
// client went away mid-body.
type relay struct {
	resp *fasthttp.Response
	body io.Reader
}

var relayPool = sync.Pool{New: func() any { return &relay{} }}

var copyBufPool = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

func (r *relay) Read(p []byte) (int, error) { return r.body.Read(p) }

// SupportsBodyWriteTo tells fasthttp that WriteTo may replace Read.
func (r *relay) SupportsBodyWriteTo() bool { return true }

func (r *relay) WriteTo(w io.Writer) (int64, error) { return copyStream(w, r.body) }

// CloseWithError releases the upstream response; fasthttp calls it once
// the body is written or the write failed.
func (r *relay) CloseWithError(err error) error {
	var cerr error
	if rc, ok := r.body.(fasthttp.ReadCloserWithError); ok {
		cerr = rc.CloseWithError(err)
	} else {
		cerr = r.resp.CloseBodyStream()
	}
	fasthttp.ReleaseResponse(r.resp)
	r.resp, r.body = nil, nil
	relayPool.Put(r)
	return cerr
}

// bodyReader streams the client's request body to the worker, counting
// bytes: it enforces MAX_BODY_BYTES on bodies of unknown length, and tells
// whether a failed attempt may be retried (nothing read yet).
type bodyReader struct {
	r         io.Reader
	n, max    int64
	tooLarge  bool
	clientErr error
}

var bodyReaderPool = sync.Pool{New: func() any { return &bodyReader{} }}

func acquireBodyReader(r io.Reader, max int64) *bodyReader {
	b := bodyReaderPool.Get().(*bodyReader)
	*b = bodyReader{r: r, max: max}
	return b
}

func releaseBodyReader(b *bodyReader) {
	*b = bodyReader{}
	bodyReaderPool.Put(b)
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.r == nil {
		return 0, io.EOF
	}
	n, err := b.r.Read(p)
	b.n += int64(n)
	if b.n > b.max {
		b.tooLarge = true
		return 0, errBodyTooLarge
	}
	if err != nil && err != io.EOF {
		b.clientErr = err
	}
	return n, err
}

// SupportsBodyWriteTo lets fasthttp use the 64 KiB loop for uploads too.
func (b *bodyReader) SupportsBodyWriteTo() bool { return true }

func (b *bodyReader) WriteTo(w io.Writer) (int64, error) { return copyStream(w, b) }

// bigCopyAfter is how much a body moves through a 64 KiB buffer before it
// gets a 256 KiB one: bulk transfers get fewer, larger reads and writes,
// while slow streams (server-sent events) keep holding only 64 KiB each.
const bigCopyAfter = 1 << 20

var bigCopyBufPool = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// copyStream copies r to w until EOF, reading as much as is there each time.
func copyStream(w io.Writer, r io.Reader) (int64, error) {
	pool := &copyBufPool
	bp := pool.Get().(*[]byte)
	defer func() { pool.Put(bp) }()
	buf := *bp
	var total int64
	for {
		n, err := r.Read(buf)
		if n > 0 {
			m, werr := w.Write(buf[:n])
			total += int64(m)
			if werr != nil {
				return total, werr
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
		if pool == &copyBufPool && total >= bigCopyAfter {
			pool.Put(bp)
			pool = &bigCopyBufPool
			bp = pool.Get().(*[]byte)
			buf = *bp
		}
	}
}
