package main

import (
	"errors"
	"io"
	"net"
	"strconv"
	"sync"

	"github.com/valyala/fasthttp"
)

// benchBody is the 64-byte JSON answer of GET /rest/v1/bench.
var benchBody = []byte(`{"id":42,"name":"madbase","ok":true,"pad":"xxxxxxxxxxxxxxxxxxx"}`)

// pattern is the shared source of download bytes and generated upload bytes.
var pattern = func() []byte {
	b := make([]byte, 64<<10)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	return b
}()

var drainBufs = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// backend stands in for the worker: one fasthttp handler on two loopback
// ports, so the proxies round-robin over two upstreams as in production.
type backend struct {
	servers []*fasthttp.Server
	addrs   []string
	done    chan error
}

func startBackend() (*backend, error) {
	b := &backend{done: make(chan error, 2)}
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.stop()
			return nil, err
		}
		srv := &fasthttp.Server{
			Handler:                      b.handle,
			Name:                         "edgebench-worker",
			StreamRequestBody:            true,
			DisablePreParseMultipartForm: true,
			MaxRequestBodySize:           1 << 40,
		}
		b.servers = append(b.servers, srv)
		b.addrs = append(b.addrs, ln.Addr().String())
		go func() { b.done <- srv.Serve(ln) }()
	}
	return b, nil
}

func (b *backend) urls() []string {
	out := make([]string, len(b.addrs))
	for i, a := range b.addrs {
		out[i] = "http://" + a
	}
	return out
}

func (b *backend) stop() {
	for _, s := range b.servers {
		_ = s.Shutdown()
	}
}

func (b *backend) handle(ctx *fasthttp.RequestCtx) {
	switch string(ctx.Path()) {
	case "/rest/v1/bench":
		if !ctx.IsGet() && !ctx.IsHead() {
			ctx.SetStatusCode(fasthttp.StatusMethodNotAllowed)
			return
		}
		ctx.SetContentType("application/json")
		ctx.SetBody(benchBody)
	case "/storage/v1/upload":
		if !ctx.IsPost() && !ctx.IsPut() {
			ctx.SetStatusCode(fasthttp.StatusMethodNotAllowed)
			return
		}
		n, err := drain(ctx.RequestBodyStream())
		if err != nil {
			ctx.SetConnectionClose()
			ctx.SetStatusCode(fasthttp.StatusBadRequest)
			ctx.SetBodyString(err.Error())
			return
		}
		ctx.SetContentType("text/plain")
		ctx.SetBodyString(strconv.FormatInt(n, 10))
	case "/storage/v1/download":
		size, err := strconv.ParseInt(string(ctx.QueryArgs().Peek("size")), 10, 64)
		if err != nil || size < 0 {
			ctx.SetStatusCode(fasthttp.StatusBadRequest)
			ctx.SetBodyString("size: want a byte count")
			return
		}
		ctx.SetContentType("application/octet-stream")
		ctx.Response.SetBodyStream(&patternReader{left: size}, int(size))
	case "/health":
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"status":"ok"}`)
	default:
		ctx.SetStatusCode(fasthttp.StatusNotFound)
	}
}

func drain(r io.Reader) (int64, error) {
	if r == nil {
		return 0, nil
	}
	bp := drainBufs.Get().(*[]byte)
	defer drainBufs.Put(bp)
	var n int64
	for {
		m, err := r.Read(*bp)
		n += int64(m)
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// patternReader yields left bytes from the shared pattern buffer: a body of
// any size without allocating it. Used for downloads (server side) and for
// uploads (client side).
type patternReader struct {
	left int64
	off  int
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.left <= 0 {
		return 0, io.EOF
	}
	n := 0
	for n < len(b) && p.left > 0 {
		c := copy(b[n:min(len(b), n+int(min(p.left, int64(len(pattern)-p.off))))], pattern[p.off:])
		n += c
		p.left -= int64(c)
		p.off = (p.off + c) % len(pattern)
	}
	return n, nil
}

// WriteTo writes the rest in chunks of up to 64 KiB straight from pattern.
func (p *patternReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for p.left > 0 {
		chunk := pattern[p.off:min(len(pattern), p.off+int(min(p.left, int64(len(pattern)))))]
		n, err := w.Write(chunk)
		total += int64(n)
		p.left -= int64(n)
		p.off = (p.off + n) % len(pattern)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// SupportsBodyWriteTo lets fasthttp use WriteTo (see fasthttp.BodyWriterTo).
func (p *patternReader) SupportsBodyWriteTo() bool { return true }
