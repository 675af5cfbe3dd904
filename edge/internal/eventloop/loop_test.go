//go:build linux

package eventloop

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/madbase/madbase/edge/internal/proxy"
	"github.com/madbase/madbase/shared/logging/logtest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// panicking is a registered socket whose handling panics, standing for a
// bug in the loops.
type panicking struct{ events, expires int }

func (p *panicking) event(uint32) { p.events++; panic("boom in event") }
func (p *panicking) expire(int64) { p.expires++; panic("boom in expire") }

// TestLoopContainsPanics: a panic while one connection is served is
// logged and counted, and the loop goes on serving the others.
func TestLoopContainsPanics(t *testing.T) {
	var logs logtest.Buffer
	reg := prometheus.NewRegistry()
	m := proxy.NewMetrics(reg, func() (int, int) { return 0, 0 })
	p := proxy.New(proxy.Config{Log: slog.New(slog.NewJSONHandler(&logs, nil)), Metrics: m})
	lp := &loop{ls: &Loops{p: p, cfg: p.Config(), pol: p.Policy(), lnfd: -1}, wakefd: -1, fds: map[int32]fdEntry{}}
	bad, good := &panicking{}, &counting{}
	lp.fds[7] = fdEntry{h: bad, id: 1}
	lp.fds[8] = fdEntry{h: good, id: 2}

	assert.NotPanics(t, func() {
		lp.dispatch(&syscall.EpollEvent{Fd: 7, Pad: 1, Events: evIn})
		lp.dispatch(&syscall.EpollEvent{Fd: 8, Pad: 2, Events: evIn})
		lp.dispatch(&syscall.EpollEvent{Fd: 8, Pad: 1, Events: evIn}) // a stale registration: not delivered
		lp.sweep(false)
	})
	assert.Equal(t, 1, bad.events)
	assert.Equal(t, 1, bad.expires)
	assert.Equal(t, 1, good.events, "the other socket is still served, stale events are dropped")
	assert.Equal(t, 1, good.expires)
	assert.Equal(t, 2.0, counterValue(t, reg, "madbase_edge_upstream_errors_total", "kind", "panic"))
	out := logs.String()
	assert.Equal(t, 2, strings.Count(out, "panic while serving a connection"), out)
	assert.Contains(t, out, "boom in event")
	assert.Contains(t, out, "loop_test.go", "the stack is logged")
}

type counting struct{ events, expires int }

func (c *counting) event(uint32) { c.events++ }
func (c *counting) expire(int64) { c.expires++ }

// counterValue reads the counter name{label=value} from reg.
func counterValue(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// TestLateWakeWritesNothing: a wake-up that comes after the loops have
// closed their eventfds (Shutdown's last wake-up racing the loops' exit, a
// WebSocket handed over meanwhile) writes nothing. By then the number may
// belong to another socket of the process, here a pipe standing for a
// connection to a worker, which must not get eight stray bytes ahead of
// its next request.
func TestLateWakeWritesNothing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	p := proxy.New(proxy.Config{Log: slog.New(slog.DiscardHandler)})
	ls, err := New(p, ln, Size{Loops: 1}, time.Minute)
	require.NoError(t, err)
	done := make(chan struct{})
	go func() { ls.Run(); close(done) }()
	ls.Shutdown(context.Background())
	<-done

	wakefd := ls.loops[0].wakefd
	var fds [2]int
	require.NoError(t, syscall.Pipe2(fds[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC))
	defer syscall.Close(fds[0])
	defer syscall.Close(fds[1])
	_, err = fcntl(wakefd, syscall.F_GETFD)
	require.Equal(t, syscall.EBADF, err, "the loop's eventfd is closed")
	require.NoError(t, syscall.Dup3(fds[1], wakefd, syscall.O_CLOEXEC)) // a new socket takes the number
	defer syscall.Close(wakefd)

	ls.wakeAll()
	client, worker := tcpPair(t)
	assert.False(t, ls.Tunnel(client, worker, nil, nil), "stopped loops take no tunnel")

	var buf [16]byte
	n, err := syscall.Read(fds[0], buf[:])
	assert.Equal(t, syscall.EAGAIN, err, "%d bytes were written into the descriptor that took the eventfd's number", n)
}

func fcntl(fd, cmd int) (int, error) {
	r, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), uintptr(cmd), 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// tcpPair is two ends of a loopback TCP connection, closed when the test
// ends.
func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	a, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	b, err := ln.Accept()
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
	return a, b
}

// TestAcceptedConnectionsSpreadOverLoops opens connections before the loops
// run, so that the first loop to wake finds them all waiting, and checks
// that they are spread evenly over the loops anyway, and that each loop
// watches those handed to it: the counts go back to zero only once the
// loop holding a connection saw it close.
func TestAcceptedConnectionsSpreadOverLoops(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	p := proxy.New(proxy.Config{Log: slog.New(slog.DiscardHandler)})
	const loops, conns = 3, 30
	ls, err := New(p, ln, Size{Loops: loops}, time.Minute)
	require.NoError(t, err)
	clients := make([]net.Conn, conns)
	for i := range clients {
		clients[i], err = net.Dial("tcp", ln.Addr().String())
		require.NoError(t, err)
		defer clients[i].Close()
	}
	done := make(chan struct{})
	go func() { ls.Run(); close(done) }()
	defer func() { ls.Shutdown(context.Background()); <-done }()

	require.Eventually(t, func() bool { return ls.Clients() == conns }, 10*time.Second, time.Millisecond)
	for i, lp := range ls.loops {
		assert.InDelta(t, conns/loops, lp.clients.Load(), 1, "loop %d's share", i)
	}
	for _, c := range clients {
		require.NoError(t, c.Close())
	}
	require.Eventually(t, func() bool {
		for _, lp := range ls.loops {
			if lp.clients.Load() != 0 {
				return false
			}
		}
		return ls.Clients() == 0
	}, 10*time.Second, time.Millisecond)
}
