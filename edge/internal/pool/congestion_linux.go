//go:build linux

package pool

import (
	"os"
	"strings"
	"sync"
	"syscall"
)

// workerCongestion is congestionFor the system's default, tried on a probe
// socket; "" leaves worker connections as they are.
var workerCongestion = sync.OnceValue(func() string {
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

// SetWorkerCongestion gives fd, a socket connecting to a worker, the
// congestion control worker connections use (see congestionFor).
func SetWorkerCongestion(fd int) {
	if name := workerCongestion(); name != "" {
		_ = syscall.SetsockoptString(fd, syscall.IPPROTO_TCP, syscall.TCP_CONGESTION, name)
	}
}
