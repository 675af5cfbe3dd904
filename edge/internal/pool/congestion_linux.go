//go:build linux

package pool

import (
	"os"
	"strings"
	"sync"
	"syscall"
)

// localCongestion is congestionFor the system's default, tried on a probe
// socket; "" leaves local connections as they are.
var localCongestion = sync.OnceValue(func() string {
	def, err := os.ReadFile("/proc/sys/net/ipv4/tcp_congestion_control")
	if err != nil {
		return ""
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return ""
	}
	defer syscall.Close(fd)
	return congestionFor(strings.TrimSpace(string(def)), func(name string) bool {
		return syscall.SetsockoptString(fd, syscall.IPPROTO_TCP, syscall.TCP_CONGESTION, name) == nil
	})
})

// SetLocalCongestion gives fd, a socket to a worker or a local client, the
// congestion control local connections use (see congestionFor).
func SetLocalCongestion(fd int) {
	if name := localCongestion(); name != "" {
		_ = syscall.SetsockoptString(fd, syscall.IPPROTO_TCP, syscall.TCP_CONGESTION, name)
	}
}
