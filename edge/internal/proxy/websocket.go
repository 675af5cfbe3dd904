package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/madbase/madbase/edge/internal/pool"
	"github.com/madbase/madbase/shared/apierr"
	"github.com/valyala/fasthttp"
)

// isWebSocket reports whether the request asks to switch to WebSocket.
func isWebSocket(ctx *fasthttp.RequestCtx) bool {
	if !ctx.IsGet() {
		return false
	}
	up := ctx.Request.Header.Peek("Upgrade")
	return len(up) > 0 && bytes.EqualFold(up, []byte("websocket")) && hasToken(ctx.Request.Header.Peek("Connection"), "upgrade")
}

func hasToken(v []byte, tok string) bool {
	found := false
	forEachToken(v, func(t []byte) {
		if bytes.EqualFold(t, []byte(tok)) {
			found = true
		}
	})
	return found
}

// wsSkip are request headers the edge rewrites itself on an upgrade.
var wsSkip = map[string]bool{
	"connection": true, "upgrade": true, "proxy-connection": true, "keep-alive": true, "te": true,
	"trailer": true, "transfer-encoding": true, "proxy-authorization": true, "content-length": true,
	"x-forwarded-for": true, "x-request-id": true,
}

// websocket relays an upgrade: a fresh connection to a worker carries the
// client's handshake; if the worker switches protocols, the client
// connection is hijacked and bytes are copied both ways until either side
// closes. Any other answer from the worker is relayed as a normal response.
func (p *Proxy) websocket(ctx *fasthttp.RequestCtx, rid string, origin []byte) {
	var tried [4]*pool.Upstream
	var up *pool.Upstream
	var conn net.Conn
	for n := 0; n < p.maxTries; n++ {
		up = p.cfg.Selector.Next(tried[:n])
		if up == nil {
			break
		}
		c, err := net.DialTimeout("tcp", up.Addr, p.cfg.Transport.ConnectTimeout)
		if err == nil {
			conn = c
			break
		}
		p.countError("dial")
		p.cfg.Pool.MarkDown(up)
		tried[n] = up
	}
	if conn == nil {
		if tried[0] == nil {
			p.fail(ctx, rid, apierr.Unavailable("no healthy worker is available"))
		} else {
			p.fail(ctx, rid, apierr.New(fasthttp.StatusBadGateway, apierr.CodeBadGateway, "no worker could be reached"))
		}
		return
	}

	// The handshake request: request line, the client's headers in order
	// (minus hop-by-hop ones), then the edge's own.
	var head bytes.Buffer
	head.Write(ctx.Method())
	head.WriteByte(' ')
	head.Write(ctx.Request.RequestURI())
	head.WriteString(" HTTP/1.1\r\n")
	for k, v := range ctx.Request.Header.AllInOrder() {
		if wsSkip[string(bytes.ToLower(k))] {
			continue
		}
		if bytes.EqualFold(k, []byte(headerForwardedProto)) || bytes.EqualFold(k, []byte(headerForwardedHost)) {
			continue
		}
		head.Write(k)
		head.WriteString(": ")
		head.Write(v)
		head.WriteString("\r\n")
	}
	var fwd fasthttp.RequestHeader
	ctx.Request.Header.CopyTo(&fwd)
	setForwarded(ctx, &fwd, p.cfg.TrustForwarded)
	for _, k := range []string{headerForwardedFor, headerForwardedProto, headerForwardedHost} {
		head.WriteString(k + ": " + string(fwd.Peek(k)) + "\r\n")
	}
	head.WriteString("Connection: Upgrade\r\nUpgrade: websocket\r\n")
	head.WriteString(headerRequestID + ": " + rid + "\r\n\r\n")

	_ = conn.SetDeadline(time.Now().Add(p.cfg.Transport.ResponseTimeout))
	br := bufio.NewReaderSize(conn, 16<<10)
	var resp *http.Response
	_, err := conn.Write(head.Bytes())
	if err == nil {
		resp, err = http.ReadResponse(br, nil)
	}
	if err != nil {
		_ = conn.Close()
		p.countError("websocket")
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			p.fail(ctx, rid, apierr.New(fasthttp.StatusGatewayTimeout, apierr.CodeGatewayTimeout, "the worker did not answer the upgrade in time").WithInternal(err))
		} else {
			p.fail(ctx, rid, apierr.New(fasthttp.StatusBadGateway, apierr.CodeBadGateway, "the worker failed to answer the upgrade").WithInternal(err))
		}
		return
	}
	_ = conn.SetDeadline(time.Time{})

	if resp.StatusCode != http.StatusSwitchingProtocols {
		// A refusal (401, 404 ...): relay it as a plain response.
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		_ = conn.Close()
		ctx.SetStatusCode(resp.StatusCode)
		for k, vs := range resp.Header {
			if isHopHeader(k) {
				continue
			}
			for _, v := range vs {
				ctx.Response.Header.Add(k, v)
			}
		}
		ctx.Response.Header.Set(headerWorker, up.ID)
		ctx.SetBody(body)
		return
	}

	// The 101 goes out in the hijack handler, written by hand, so that no
	// byte of it is touched by fasthttp's response writer.
	var out bytes.Buffer
	out.WriteString("HTTP/1.1 101 Switching Protocols\r\n")
	for k, vs := range resp.Header {
		if k == "Connection" || k == "Upgrade" {
			continue
		}
		for _, v := range vs {
			out.WriteString(k + ": " + v + "\r\n")
		}
	}
	out.WriteString("Connection: Upgrade\r\nUpgrade: " + resp.Header.Get("Upgrade") + "\r\n")
	out.WriteString(headerWorker + ": " + up.ID + "\r\n")
	out.WriteString(headerRequestID + ": " + rid + "\r\n")
	if len(origin) > 0 && p.cors.allowed(origin) {
		if p.cors.any {
			out.WriteString("Access-Control-Allow-Origin: *\r\n")
		} else {
			out.WriteString("Access-Control-Allow-Origin: " + string(origin) + "\r\nAccess-Control-Allow-Credentials: true\r\n")
		}
	}
	out.WriteString("\r\n")
	ctx.SetStatusCode(fasthttp.StatusSwitchingProtocols)
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(client net.Conn) {
		defer conn.Close()
		if !p.track(client) {
			return
		}
		defer p.untrack(client)
		if _, err := client.Write(out.Bytes()); err != nil {
			return
		}
		done := make(chan struct{})
		go func() {
			bp := copyBufPool.Get().(*[]byte)
			_, _ = io.CopyBuffer(conn, client, *bp)
			copyBufPool.Put(bp)
			// The client is gone: end the worker side too.
			_ = conn.Close()
			close(done)
		}()
		bp := copyBufPool.Get().(*[]byte)
		_, _ = io.CopyBuffer(client, br, *bp) // br holds any bytes read past the 101
		copyBufPool.Put(bp)
		_ = client.Close()
		<-done
	})
}

func isHopHeader(k string) bool {
	for _, h := range hopHeaders {
		if http.CanonicalHeaderKey(h) == k {
			return true
		}
	}
	return k == "Content-Length"
}
