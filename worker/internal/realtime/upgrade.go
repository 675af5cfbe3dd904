package realtime

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"sync"
	"syscall"

	"github.com/fasthttp/websocket"
	"github.com/gofiber/fiber/v2"
	"github.com/madbase/madbase/shared/httpserver"
	"github.com/madbase/madbase/worker/internal/apikey"
)

// An idle socket should cost the worker little: the handshake is answered
// on the connection taken from fasthttp (httpserver.Detach), so neither the
// server's request context nor its 32 KiB read buffer stays with it, and
// the socket runs on a goroutine of its own with a 1 KiB read buffer and
// no write buffer.

// handshakeHeaders are the request headers the upgrade reads.
var handshakeHeaders = []string{"Connection", "Upgrade", "Sec-Websocket-Version", "Sec-Websocket-Key",
	"Sec-Websocket-Extensions", "Sec-Websocket-Protocol", "Origin"}

// upgrader answers handshakes. Its connections only read: frames are
// written by the socket (socket.go), so the write buffers of the pool are
// never taken, and none is made per connection.
var (
	writeBuffers = &sync.Pool{}
	upgrader     = websocket.Upgrader{
		ReadBufferSize: 1024, WriteBufferSize: 1024, WriteBufferPool: writeBuffers,
		EnableCompression: true,
		// Browsers' origins are the edge's business (CORS); a socket
		// carries its key.
		CheckOrigin: func(*http.Request) bool { return true },
	}
)

// websocketHandler upgrades the connection and serves the socket on a
// goroutine of its own, the only one an idle socket has: frames are written
// by a goroutine started when there is something to write, and token expiry
// and shutdown are watched by the service's sweeper.
func (s *Service) websocketHandler() fiber.Handler {
	return func(c *fiber.Ctx) error {
		if c.Get("Sec-Websocket-Version") != "13" {
			c.Set("Sec-Websocket-Version", "13")
			return fiber.NewError(fiber.StatusBadRequest, "websocket: unsupported version: 13 not found in 'Sec-Websocket-Version' header")
		}
		res, _ := c.Locals(localsClaims).(apikey.Result)
		vsn := vsn1
		if c.Query("vsn") == vsn2 {
			vsn = vsn2
		}
		req := &http.Request{Method: http.MethodGet, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Host: string(c.Request().Host()), URL: &url.URL{Path: string(c.Request().URI().Path())}, Header: http.Header{}}
		for _, k := range handshakeHeaders {
			if v := c.Request().Header.Peek(k); v != nil {
				req.Header.Set(k, string(v))
			}
		}
		// Only a server that keeps hijacked connections (httpserver.New's)
		// lets the socket outlive this handler; with another the socket
		// is served within it.
		keeps := c.App().Server() != nil && c.App().Server().KeepHijackedConns
		c.Context().HijackSetNoResponse(true)
		c.Context().Hijack(func(hijacked net.Conn) {
			detached, err := httpserver.Detach(hijacked)
			if err != nil {
				_ = hijacked.Close()
				return
			}
			w := &handshakeWriter{conn: &handshakeConn{Conn: detached}, header: http.Header{}}
			conn, err := upgrader.Upgrade(w, req, nil)
			if err != nil {
				w.refuse()
				return
			}
			sock := newSocket(s, conn, detached, w.conn.deflate, vsn, res)
			w.conn.sock = sock
			if keeps {
				go s.serveSocket(sock)
			} else {
				s.serveSocket(sock)
			}
		})
		return nil
	}
}

// newSocket makes the socket of an upgraded connection; its frames are
// written to the connection under the detached one (the socket's own, with
// writev), without waiting where it has a descriptor (socket.tryWrite).
func newSocket(s *Service, conn *websocket.Conn, detached *httpserver.Conn, deflate bool, vsn string, res apikey.Result) *socket {
	sock := &socket{svc: s, conn: conn, out: detached, deflate: deflate, vsn: vsn, claims: res.Claims, token: res.Token,
		done: make(chan struct{}), chans: map[string]*channel{}}
	if sc, ok := detached.Conn.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			sock.out, sock.direct = detached.Conn, newDirectWrite(raw)
		}
	}
	return sock
}

// serveSocket runs one socket until it ends.
func (s *Service) serveSocket(sock *socket) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("realtime: socket ended by a panic", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			_ = sock.conn.Close()
		}
	}()
	sock.run()
}

// handshakeConn is the connection the upgrader answers on: it notes
// whether its answer agreed on permessage-deflate, as the socket's frames
// are compressed by the socket, not by the upgrader's connection. Once the
// socket runs, what the upgrader's connection still writes itself (the
// close frame of a protocol error, one whole frame a write) goes through
// the socket's writes, so that it never lands inside another frame.
type handshakeConn struct {
	net.Conn
	answered bool
	deflate  bool
	sock     *socket
}

func (c *handshakeConn) Write(b []byte) (int, error) {
	if c.sock != nil {
		c.sock.enqueue(outFrame{data: bytes.Clone(b), close: len(b) > 0 && b[0]&0x0f == opClose})
		return len(b), nil
	}
	if !c.answered {
		c.answered = true
		c.deflate = bytes.Contains(b, []byte("permessage-deflate"))
	}
	return c.Conn.Write(b)
}

// handshakeWriter is the http.ResponseWriter the upgrader answers on: it
// hands the connection over (Hijack), or writes the refusal the upgrader
// composed (refuse).
type handshakeWriter struct {
	conn   *handshakeConn
	header http.Header
	status int
	body   bytes.Buffer
	taken  bool
}

func (w *handshakeWriter) Header() http.Header         { return w.header }
func (w *handshakeWriter) WriteHeader(status int)      { w.status = status }
func (w *handshakeWriter) Write(b []byte) (int, error) { return w.body.Write(b) }

// Hijack gives the upgrader the connection, with buffers too small for it
// to keep (it makes its own of the configured sizes).
func (w *handshakeWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.taken = true
	return w.conn, bufio.NewReadWriter(bufio.NewReaderSize(w.conn, 16), bufio.NewWriterSize(w.conn, 16)), nil
}

// refuse writes the upgrader's refusal, if it did not take the connection,
// and closes the connection.
func (w *handshakeWriter) refuse() {
	if !w.taken {
		status := w.status
		if status == 0 {
			status = http.StatusBadRequest
		}
		var b bytes.Buffer
		b.WriteString("HTTP/1.1 " + strconv.Itoa(status) + " " + http.StatusText(status) + "\r\n")
		w.header.Set("Content-Length", strconv.Itoa(w.body.Len()))
		w.header.Set("Connection", "close")
		_ = w.header.Write(&b)
		b.WriteString("\r\n")
		b.Write(w.body.Bytes())
		_, _ = w.conn.Write(b.Bytes())
	}
	_ = w.conn.Close()
}
