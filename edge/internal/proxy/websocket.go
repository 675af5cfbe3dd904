package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"time"

	fw "github.com/madbase/madbase/edge/internal/forwarding"
	"github.com/madbase/madbase/edge/internal/pool"
	"github.com/madbase/madbase/shared/apierr"
	"github.com/madbase/madbase/shared/httpserver"
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
	fw.ForEachToken(v, func(t []byte) { found = found || fw.Is(t, tok) })
	return found
}

// forwardedInUpgrade tells whether a request header goes into the
// handshake sent to the worker as the client wrote it: the edge writes the
// framing, Connection and Upgrade, and the headers it owns itself.
func forwardedInUpgrade(k []byte) bool {
	known := fw.Lookup(k)
	return known == fw.Unknown || known.Request() == fw.Pass
}

// relayedFromUpgrade tells whether a worker's header in its answer to an
// upgrade reaches the client.
func relayedFromUpgrade(k string, cors bool) bool {
	switch known := fw.Lookup([]byte(k)); known.Response() {
	case fw.Hop, fw.Own, fw.Framing:
		return false
	case fw.CORSHeader:
		return !cors
	}
	return true
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
		p.CountError("dial")
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
	head.Write(ctx.Request.Header.RequestURI())
	head.WriteString(" HTTP/1.1\r\n")
	for k, v := range ctx.Request.Header.AllInOrder() {
		if forwardedInUpgrade(k) {
			writeHeader(&head, k, v)
		}
	}
	var fwd fasthttp.RequestHeader
	ctx.Request.Header.CopyTo(&fwd)
	setForwarded(ctx, &fwd, p.pol)
	for _, k := range []string{fw.HeaderForwarded, fw.HeaderForwardedFor, fw.HeaderForwardedProto, fw.HeaderForwardedHost} {
		if v := fwd.Peek(k); v != nil {
			writeHeader(&head, []byte(k), v)
		}
	}
	head.WriteString("Connection: Upgrade\r\nUpgrade: websocket\r\n")
	head.WriteString(fw.HeaderRequestID + ": " + rid + "\r\n\r\n")

	_ = conn.SetDeadline(time.Now().Add(p.cfg.Transport.ResponseTimeout))
	br := bufio.NewReaderSize(conn, 4<<10)
	var resp *http.Response
	_, err := conn.Write(head.Bytes())
	if err == nil {
		resp, err = http.ReadResponse(br, nil)
	}
	if err != nil {
		_ = conn.Close()
		p.CountError("websocket")
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
			if !relayedFromUpgrade(k, false) {
				continue
			}
			for _, v := range vs {
				ctx.Response.Header.Add(k, v)
			}
		}
		ctx.Response.Header.Set(fw.HeaderWorker, up.ID)
		ctx.SetBody(body)
		return
	}

	// The 101 goes out in the hijack handler, written by hand, so that no
	// byte of it is touched by fasthttp's response writer.
	var out bytes.Buffer
	out.WriteString("HTTP/1.1 101 Switching Protocols\r\n")
	pc := p.corsOf(ctx)
	cors := len(origin) > 0 && pc.Allowed(origin)
	for k, vs := range resp.Header {
		if !relayedFromUpgrade(k, cors) {
			continue
		}
		for _, v := range vs {
			out.WriteString(k + ": " + v + "\r\n")
		}
	}
	out.WriteString("Connection: Upgrade\r\nUpgrade: " + resp.Header.Get("Upgrade") + "\r\n")
	out.WriteString(fw.HeaderWorker + ": " + up.ID + "\r\n")
	out.WriteString(fw.HeaderRequestID + ": " + rid + "\r\n")
	if cors {
		pc.OriginHeaders(origin, func(name string, value []byte, _ bool) { writeHeader(&out, []byte(name), value) })
	}
	out.WriteString("\r\n")
	ctx.SetStatusCode(fasthttp.StatusSwitchingProtocols)
	// Not written (the 101 above is), but the request's log line names
	// the worker from it.
	ctx.Response.Header.Set(fw.HeaderWorker, up.ID)
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(hijacked net.Conn) {
		// The relay runs on its own: this handler returns at once, and the
		// server (KeepHijackedConns) lets go of the connection.
		client, err := httpserver.Detach(hijacked)
		if err != nil {
			_ = hijacked.Close()
			_ = conn.Close()
			return
		}
		early := client.TakeEarly()
		if _, err := client.Write(out.Bytes()); err != nil {
			_ = client.Close()
			_ = conn.Close()
			return
		}
		late := buffered(br)
		// The loops own a tunnel's connections from here on and close
		// them on their own thread when they stop: nothing else may close
		// them (a descriptor closed elsewhere could be reused while a loop
		// still relays on its number), so a tunnel is never tracked.
		if p.tunnel != nil && p.tunnel(client, conn, early, late) {
			return
		}
		if !p.track(client) {
			_ = client.Close()
			_ = conn.Close()
			return
		}
		go p.relay(client, conn, early, late)
	})
}

func writeHeader(b *bytes.Buffer, k, v []byte) {
	b.Write(k)
	b.WriteString(": ")
	b.Write(v)
	b.WriteString("\r\n")
}
