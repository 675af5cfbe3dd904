package httpserver

import (
	"bufio"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/valyala/fasthttp"
)

// closeCounter is a wrapper that must see its connection closed.
type closeCounter struct {
	net.Conn
	closed *atomic.Int32
}

func (c *closeCounter) NetConn() net.Conn { return c.Conn }
func (c *closeCounter) Close() error      { c.closed.Add(1); return c.Conn.Close() }

type countingListener struct {
	net.Listener
	closed *atomic.Int32
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &closeCounter{Conn: c, closed: l.closed}, nil
}

// TestDetach: the bytes a client sent right behind its request, read by
// fasthttp's reader already, come first from the detached connection, then
// what the socket brings; the connection outlives the hijack handler, and
// closing it goes through the listener's wrapper.
func TestDetach(t *testing.T) {
	var closed atomic.Int32
	detached := make(chan *Conn, 1)
	srv := &fasthttp.Server{KeepHijackedConns: true, Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.HijackSetNoResponse(true)
		ctx.Hijack(func(c net.Conn) {
			d, err := Detach(c)
			if err != nil {
				t.Errorf("Detach: %v", err)
				_ = c.Close()
			}
			detached <- d
		})
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(countingListener{Listener: ln, closed: &closed}) }()
	t.Cleanup(func() { _ = srv.Shutdown() })

	client, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer client.Close()
	_, err = io.WriteString(client, "GET /ws HTTP/1.1\r\nHost: x\r\n\r\nearly bytes")
	require.NoError(t, err)
	d := <-detached
	require.NotNil(t, d)
	require.NoError(t, d.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, err = io.WriteString(client, " and later ones")
	require.NoError(t, err)
	got := make([]byte, len("early bytes and later ones"))
	_, err = io.ReadFull(d, got)
	require.NoError(t, err)
	require.Equal(t, "early bytes and later ones", string(got))

	// Writes reach the client; Close goes through the wrapper.
	_, err = io.WriteString(d, "answer\n")
	require.NoError(t, err)
	line, err := bufio.NewReader(client).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "answer\n", line)
	require.NoError(t, d.Close())
	require.Equal(t, int32(1), closed.Load())
	_, err = client.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF)
	_, isRaw := d.Conn.(*net.TCPConn)
	require.True(t, isRaw, "reads and writes go to the socket itself, not %T", d.Conn)
	require.False(t, strings.Contains(string(d.TakeEarly()), "early"), "the held bytes were read once")
}
