package realtime

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/madbase/madbase/shared/config"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFrameDeflate(t *testing.T) {
	t.Parallel()
	small := newFrame(opText, []byte(strings.Repeat("a", deflateMin-1)))
	assert.Same(t, &small.plain[0], &small.wire(true)[0], "a short frame goes out plain")

	payload := []byte(strings.Repeat(`{"event":"m","payload":{"n":1}}`, 100))
	f := newFrame(opText, payload)
	assert.Equal(t, byte(0x81), f.plain[0])
	assert.Same(t, &f.plain[0], &f.wire(false)[0])
	d := f.wire(true)
	assert.Same(t, &d[0], &f.wire(true)[0], "compressed once, the same bytes for every socket")
	assert.Equal(t, byte(0xc1), d[0], "FIN, RSV1 and text")
	n := int(d[1] & 0x7f)
	body := d[2:]
	if n == 126 {
		n, body = int(d[2])<<8|int(d[3]), d[4:]
	}
	require.Equal(t, n, len(body))
	require.Less(t, n, len(payload))
	// RFC 7692 §7.2.2: the receiver appends 00 00 ff ff and inflates.
	out, err := io.ReadAll(flate.NewReader(io.MultiReader(bytes.NewReader(body), bytes.NewReader([]byte{0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff}))))
	require.NoError(t, err)
	assert.Equal(t, payload, out)

	incompressible := newFrame(opBinary, func() []byte {
		b := make([]byte, 4096)
		for i := range b {
			b[i] = byte(i*7919 + i*i*31)
		}
		return b
	}())
	_ = incompressible.wire(true)
	assert.True(t, incompressible.deflated == nil || len(incompressible.deflated) < len(incompressible.plain))
}

// wireWorker is a worker taking large broadcasts as fast as they come.
func wireWorker(t *testing.T) (*testWorker, string) {
	cl := newBenchCluster(t)
	w := cl.benchWorker(t, "w", config.Realtime{RealtimeMaxMessageBytes: 1 << 20, RealtimeMaxEventsPerSecond: 1 << 30})
	return w, benchKey(t)
}

// countingConn counts the bytes read from a connection.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.n.Add(int64(n))
	return n, err
}

// wireClient dials w; deflate offers permessage-deflate, rcvbuf (when not
// 0) shrinks the client's receive buffer, and read counts what it reads.
func wireClient(t *testing.T, w *testWorker, key string, deflate bool, rcvbuf int, read *atomic.Int64) *websocket.Conn {
	d := &websocket.Dialer{EnableCompression: deflate, NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		nd := &net.Dialer{}
		if rcvbuf > 0 {
			// Before the connection, so that the window it offers
			// fits (shrinking it later can stall the connection).
			nd.Control = func(_, _ string, c syscall.RawConn) error {
				var serr error
				err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf) })
				return errors.Join(err, serr)
			}
		}
		c, err := nd.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if read != nil {
			return countingConn{c, read}, nil
		}
		return c, nil
	}}
	conn, resp, err := d.Dial("ws://"+w.addr+"/realtime/v1/websocket?vsn=2.0.0&apikey="+key, nil)
	require.NoError(t, err)
	resp.Body.Close()
	t.Cleanup(func() { conn.Close() })
	return conn
}

// joinWire joins topic on conn and reads frames up to the join's reply.
func joinWire(t *testing.T, conn *websocket.Conn, topic string) {
	join, _ := json.Marshal([]any{"1", "1", topic, "phx_join", map[string]any{}})
	require.NoError(t, conn.WriteMessage(websocket.TextMessage, join))
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	for {
		_, data, err := conn.ReadMessage()
		require.NoError(t, err)
		if bytes.Contains(data, []byte(`"phx_reply"`)) {
			require.Contains(t, string(data), `"ok"`)
			return
		}
	}
}

// readBroadcasts reads n broadcasts and returns their payloads' pads.
func readBroadcasts(t *testing.T, conn *websocket.Conn, n int) []string {
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(30*time.Second)))
	var pads []string
	for len(pads) < n {
		mt, data, err := conn.ReadMessage()
		require.NoError(t, err, "after %d broadcasts", len(pads))
		require.Equal(t, websocket.TextMessage, mt)
		var f [5]json.RawMessage
		require.NoError(t, json.Unmarshal(data, &f), "frame %d: %.80s", len(pads), data)
		var p struct {
			Event   string `json:"event"`
			Payload struct {
				Pad string `json:"pad"`
			} `json:"payload"`
		}
		require.NoError(t, json.Unmarshal(f[4], &p))
		pads = append(pads, p.Payload.Pad)
	}
	return pads
}

// TestBroadcastFramesOnTheWire sends broadcasts of lengths either side of
// the frame header's size steps (125/126 and 65535/65536 bytes) to a plain
// client, one that negotiated permessage-deflate and one that reads
// nothing until every message was sent (so the kernel takes frames in
// parts and the writer finishes them): each gets every payload whole and
// in order, and the compressing client far fewer bytes.
func TestBroadcastFramesOnTheWire(t *testing.T) {
	t.Parallel()
	w, key := wireWorker(t)
	const topic = "realtime:wire"
	var plainRead, deflateRead atomic.Int64
	plain := wireClient(t, w, key, false, 0, &plainRead)
	deflated := wireClient(t, w, key, true, 0, &deflateRead)
	slow := wireClient(t, w, key, false, 4096, nil)
	for _, c := range []*websocket.Conn{plain, deflated, slow} {
		joinWire(t, c, topic)
	}
	pub := wireClient(t, w, key, false, 0, nil)
	joinWire(t, pub, topic)

	var want []string
	for n := 0; n < 120; n++ {
		want = append(want, strings.Repeat("x", n))
	}
	// A frame's text around these pads is 65535 and 65536 bytes long.
	for n := 65436; n < 65450; n++ {
		want = append(want, strings.Repeat("y", n))
	}
	for n := 200000; n < 200003; n++ {
		want = append(want, strings.Repeat("z", n))
	}
	plainRead.Store(0)
	deflateRead.Store(0)
	var sent int64
	for _, pad := range want {
		payload := []byte(`{"pad":"` + pad + `"}`)
		sent += int64(len(payload))
		require.NoError(t, pub.WriteMessage(websocket.BinaryMessage, kind3("1", "", topic, "m", "", 1, payload)))
	}
	assert.Equal(t, want, readBroadcasts(t, plain, len(want)))
	assert.Equal(t, want, readBroadcasts(t, deflated, len(want)))
	assert.Equal(t, want, readBroadcasts(t, slow, len(want)))
	assert.Greater(t, plainRead.Load(), sent)
	assert.Less(t, deflateRead.Load(), sent/10, "compressed frames")
}

// TestControlFrames: a ping is answered with its pong, and a client's
// close with the close handshake's answer.
func TestControlFrames(t *testing.T) {
	t.Parallel()
	w, key := wireWorker(t)
	conn := wireClient(t, w, key, false, 0, nil)
	joinWire(t, conn, "realtime:control")
	pongs := make(chan string, 1)
	conn.SetPongHandler(func(data string) error { pongs <- data; return nil })
	require.NoError(t, conn.WriteControl(websocket.PingMessage, []byte("are you there"), time.Now().Add(5*time.Second)))
	require.NoError(t, conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye")))
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, _, err := conn.ReadMessage()
	var ce *websocket.CloseError
	require.ErrorAs(t, err, &ce, "the server answers the close")
	assert.Equal(t, websocket.CloseNormalClosure, ce.Code)
	select {
	case data := <-pongs:
		assert.Equal(t, "are you there", data)
	default:
		t.Fatal("no pong before the close")
	}
}

// TestFrameOverTheLimit: a frame larger than the socket's read limit is
// answered with the close frame of status 1009.
func TestFrameOverTheLimit(t *testing.T) {
	t.Parallel()
	cl := newBenchCluster(t)
	w := cl.benchWorker(t, "w", config.Realtime{RealtimeMaxMessageBytes: 1024})
	conn := wireClient(t, w, benchKey(t), false, 0, nil)
	joinWire(t, conn, "realtime:limit")
	require.NoError(t, conn.WriteMessage(websocket.TextMessage, []byte(`["1","2","realtime:limit","broadcast",{"pad":"`+strings.Repeat("p", 8<<10)+`"}]`)))
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	var err error
	for err == nil {
		_, _, err = conn.ReadMessage()
	}
	var ce *websocket.CloseError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, websocket.CloseMessageTooBig, ce.Code)
}

// TestSlowClientIsDisconnected: a client that reads nothing while more
// than outQueue frames wait for it is closed, and another one still gets
// everything in order.
func TestSlowClientIsDisconnected(t *testing.T) {
	t.Parallel()
	w, key := wireWorker(t)
	const topic = "realtime:slow"
	slow := wireClient(t, w, key, false, 4096, nil)
	joinWire(t, slow, topic)
	fast := wireClient(t, w, key, false, 0, nil)
	joinWire(t, fast, topic)
	pub := wireClient(t, w, key, false, 0, nil)
	joinWire(t, pub, topic)
	// More than the kernel's buffers and outQueue frames hold.
	pad := strings.Repeat("s", 8<<10)
	const batch = outQueue / 4
	for i := 0; i < 3*outQueue; i += batch {
		for j := i; j < i+batch; j++ {
			payload := []byte(`{"pad":"` + strconv.Itoa(j) + pad + `"}`)
			require.NoError(t, pub.WriteMessage(websocket.BinaryMessage, kind3("1", "", topic, "m", "", 1, payload)))
		}
		require.NoError(t, fast.SetReadDeadline(time.Now().Add(30*time.Second)))
		for j := i; j < i+batch; j++ {
			_, data, err := fast.ReadMessage()
			require.NoError(t, err, "broadcast %d", j)
			require.Contains(t, string(data), `"pad":"`+strconv.Itoa(j)+"s", "broadcast %d in order", j)
		}
	}
	require.NoError(t, slow.SetReadDeadline(time.Now().Add(30*time.Second)))
	var err error
	for err == nil {
		_, _, err = slow.ReadMessage()
	}
	var ne net.Error
	assert.False(t, errors.As(err, &ne) && ne.Timeout(), "the slow client's socket was closed: %v", err)
}
