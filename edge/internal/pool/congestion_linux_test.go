//go:build linux

package pool

import (
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestWorkerConnectionsNeverPace: a connection the transport opens to a
// worker uses the congestion control chosen for workers, which is never BBR
// when another can be had; on a system whose default is BBR, that is the
// change.
func TestWorkerConnectionsNeverPace(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	tr := &Transport{ConnectTimeout: time.Second}
	c, err := tr.dial(ln.Addr().String(), false)
	require.NoError(t, err)
	defer c.Close()

	got := congestionOf(t, c)
	def, err := os.ReadFile("/proc/sys/net/ipv4/tcp_congestion_control")
	require.NoError(t, err)
	t.Logf("system default %q, worker connection %q", strings.TrimSpace(string(def)), got)
	if want := localCongestion(); want != "" {
		assert.Equal(t, want, got)
	} else {
		assert.Equal(t, strings.TrimSpace(string(def)), got, "the system's default is kept")
	}
	if strings.HasPrefix(strings.TrimSpace(string(def)), "bbr") {
		assert.NotContains(t, got, "bbr")
	}
}

func congestionOf(t *testing.T, c net.Conn) string {
	t.Helper()
	rc, err := c.(syscall.Conn).SyscallConn()
	require.NoError(t, err)
	var name string
	require.NoError(t, rc.Control(func(fd uintptr) {
		var buf [16]byte
		n := uint32(len(buf))
		_, _, e := syscall.Syscall6(syscall.SYS_GETSOCKOPT, fd, syscall.IPPROTO_TCP, syscall.TCP_CONGESTION,
			uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&n)), 0)
		require.Zero(t, e)
		name = strings.TrimRight(string(buf[:n]), "\x00")
	}))
	return name
}
