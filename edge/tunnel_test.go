package edge_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// upgradeAnswer is a worker's acceptance of a WebSocket upgrade.
const upgradeAnswer = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"

// upgradeRequest is a client's WebSocket upgrade through the edge.
var upgradeRequest = request("GET", "/realtime/v1/websocket?vsn=2.0.0", "",
	"Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==")

// messages are n small writes' worth of bytes, each distinct.
func messages(side string, n int) []string {
	ms := make([]string, n)
	for i := range ms {
		ms[i] = fmt.Sprintf("%s%03d;", side, i)
	}
	return ms
}

// dialUpgraded opens a connection to the edge and upgrades it.
func dialUpgraded(t *testing.T, e *env) *rawClient {
	t.Helper()
	c := dialRaw(t, e)
	c.write(upgradeRequest)
	resp, err := http.ReadResponse(c.br, &http.Request{Method: "GET"})
	require.NoError(t, err)
	require.Equal(t, 101, resp.StatusCode)
	return c
}

// TestWireTunnelRelaysEveryByteThenEnds: through a WebSocket tunnel, many
// small writes from either side arrive whole and in order, and what a side
// sends right before it closes arrives before the close ends the tunnel,
// whether the last bytes and the close reach the edge together or apart.
func TestWireTunnelRelaysEveryByteThenEnds(t *testing.T) {
	t.Parallel()
	for _, lastPause := range []time.Duration{0, 20 * time.Millisecond} {
		t.Run(fmt.Sprintf("worker closes %v after its last bytes", lastPause), func(t *testing.T) {
			t.Parallel()
			sent := messages("w", 100)
			e := startEdge(t)
			e.addRawWorker("w1", func(_ *rawWorker, c net.Conn, _ *bufio.Reader, _ *http.Request) bool {
				_, _ = io.WriteString(c, upgradeAnswer)
				time.Sleep(20 * time.Millisecond) // mostly, the tunnel is set up before the bytes come
				for i, m := range sent {
					if i == len(sent)-1 && lastPause == 0 {
						// The last bytes and the close in one segment: the
						// edge learns of both from one event.
						cork(t, c)
					}
					if _, err := io.WriteString(c, m); err != nil {
						return false
					}
					if i%10 == 9 {
						time.Sleep(time.Millisecond)
					}
				}
				time.Sleep(lastPause)
				_ = c.(*net.TCPConn).CloseWrite()
				return false // closes the connection
			})
			e.waitWorkers(1)
			c := dialUpgraded(t, e)
			got, err := io.ReadAll(c.br)
			require.NoError(t, err, "the tunnel did not end when the worker closed (read %d bytes)", len(got))
			assert.Equal(t, strings.Join(sent, ""), string(got))
		})
	}

	t.Run("client half-closes after its last bytes", func(t *testing.T) {
		t.Parallel()
		sent := messages("c", 100)
		received := make(chan string, 1)
		e := startEdge(t)
		e.addRawWorker("w1", func(_ *rawWorker, c net.Conn, br *bufio.Reader, _ *http.Request) bool {
			_, _ = io.WriteString(c, upgradeAnswer)
			b, _ := io.ReadAll(br)
			received <- string(b)
			return false
		})
		e.waitWorkers(1)
		c := dialUpgraded(t, e)
		for i, m := range sent {
			c.write(m)
			if i%10 == 9 {
				time.Sleep(time.Millisecond)
			}
		}
		require.NoError(t, c.nc.(*net.TCPConn).CloseWrite())
		select {
		case got := <-received:
			assert.Equal(t, strings.Join(sent, ""), got)
		case <-time.After(waitLong):
			t.Fatal("the worker did not see the client's close")
		}
	})
}

// cork holds what is written to c until it is closed or uncorked
// (TCP_CORK): Linux then sends the held bytes with the FIN.
func cork(t *testing.T, c net.Conn) {
	rc, err := c.(*net.TCPConn).SyscallConn()
	require.NoError(t, err)
	var serr error
	require.NoError(t, rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_CORK, 1)
	}))
	require.NoError(t, serr)
}
