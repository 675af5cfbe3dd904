//go:build linux

package eventloop

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/madbase/madbase/edge/internal/connlimit"
	fw "github.com/madbase/madbase/edge/internal/forwarding"
	"github.com/madbase/madbase/edge/internal/pool"
	"github.com/madbase/madbase/edge/internal/proxy"
	"github.com/madbase/madbase/shared/metrics"
)

// Loops serve the edge's listener the way nginx does: one epoll event loop
// per core, each on its own OS thread, every socket non-blocking and
// registered once, edge-triggered. A request costs four system calls (read
// the request, write it to the worker, read the answer, write it to the
// client) and no goroutine switch: measured on two cores, the
// goroutine-per-connection server spent most of its extra CPU in Go's
// scheduler and netpoller.
//
// The loops serve the plain HTTP/1.1 exchanges of the API routes
// (httphead.go says which). Everything else, a WebSocket upgrade, a chunked
// request body, a CORS preflight, /health, /admin, a head outside the strict
// subset, is handed with the bytes read so far to the fasthttp server, which
// serves that connection from then on.
type Loops struct {
	cfg     *proxy.Config
	pol     *fw.Policy
	p       *proxy.Proxy
	ln      net.Listener
	lnfd    int
	loops   []*loop
	handoff *handoffListener

	connectTimeout  int64
	responseTimeout int64
	idleTimeout     int64
	// headerTimeout bounds the time a request's head takes to arrive (0:
	// no bound); limit counts connections per client address.
	headerTimeout int64
	limit         *connlimit.PerAddr
	// logLevel is the level of the line logged per request.
	logLevel slog.Level

	// addrs caches each upstream's resolved address (*pool.Upstream ->
	// netip.AddrPort); a name is resolved off the loops.
	addrs     sync.Map
	resolving sync.Map

	clients atomic.Int64 // client connections the loops hold
	// nextTunnel spreads tunnels over the loops.
	nextTunnel atomic.Uint32
	draining   atomic.Bool // stop accepting, close connections once idle
	stop       atomic.Bool // close everything now
	wg         sync.WaitGroup

	// wakeMu orders the writes to the loops' eventfds from other
	// goroutines (wakeAll, Tunnel) before closeLoops closes them: a write
	// after the close would land in whatever socket has taken the number
	// since, anywhere in the process (eight stray bytes ahead of a request
	// to a worker, which answers 400).
	wakeMu sync.Mutex
	closed bool

	// pickMu makes choosing the loop for an accepted connection and
	// counting it there one step (pick), so that loops accepting at the
	// same time do not all choose the same one.
	pickMu sync.Mutex

	// servingLoops serve: ls.loops[:servingLoops]; the others rest
	// (balance.go). With adaptive, the loops change it as the load asks.
	servingLoops atomic.Int32
	adaptive     bool
	// loadOf samples a loop's thread at each sweep (schedstatLoad; tests
	// replace it).
	loadOf func(*loop) (threadLoad, bool)
}

// Size is how many event loops run.
type Size struct {
	Loops int
	// Adaptive starts with one loop serving and puts the others to work, or
	// to rest, as the load asks (balance.go). Where the loops' threads
	// cannot be measured, half of them serve, always.
	Adaptive bool
}

// loopBufSize is the size of every read buffer: a request or response head
// must fit in it, and bodies move through it.
const loopBufSize = 64 << 10

// New prepares size.Loops event loops on ln for p's requests. Connections
// they hand over come out of Handoff(), which the caller serves with the
// fasthttp server and p's handler.
func New(p *proxy.Proxy, ln net.Listener, size Size, idleTimeout time.Duration) (*Loops, error) {
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		return nil, errors.New("event loops need a TCP listener")
	}
	rc, err := tl.SyscallConn()
	if err != nil {
		return nil, err
	}
	lnfd := -1
	var derr error
	if err := rc.Control(func(fd uintptr) { lnfd, derr = syscall.Dup(int(fd)) }); err != nil {
		return nil, err
	}
	if derr != nil {
		return nil, derr
	}
	syscall.CloseOnExec(lnfd)
	if err := syscall.SetNonblock(lnfd, true); err != nil {
		_ = syscall.Close(lnfd)
		return nil, err
	}
	ls := &Loops{
		cfg: p.Config(), pol: p.Policy(), p: p, ln: ln, lnfd: lnfd,
		handoff:       newHandoffListener(ln.Addr()),
		idleTimeout:   int64(idleTimeout),
		headerTimeout: int64(p.Config().HeaderTimeout),
		limit:         p.ConnLimit(),
		logLevel:      p.RequestLogLevel(),
	}
	if t := ls.cfg.Transport; t != nil {
		ls.connectTimeout, ls.responseTimeout = int64(t.ConnectTimeout), int64(t.ResponseTimeout)
	}
	if ls.connectTimeout <= 0 {
		ls.connectTimeout = int64(2 * time.Second)
	}
	for i := range max(size.Loops, 1) {
		lp, err := newLoop(ls, i)
		if err != nil {
			ls.closeLoops()
			return nil, err
		}
		ls.loops = append(ls.loops, lp)
	}
	ls.size(size.Adaptive)
	p.SetTunnel(ls.Tunnel)
	return ls, nil
}

// Handoff is the listener the fasthttp server serves: it yields the
// connections the loops pass on.
func (ls *Loops) Handoff() net.Listener { return ls.handoff }

// Clients is how many client connections the loops hold now (not those
// handed to the fasthttp server).
func (ls *Loops) Clients() int64 { return ls.clients.Load() }

// Run serves until Shutdown has finished.
func (ls *Loops) Run() {
	for _, lp := range ls.loops {
		ls.wg.Add(1)
		go lp.run()
	}
	ls.wg.Wait()
	ls.closeLoops()
}

// Shutdown stops accepting, lets exchanges in flight finish and closes idle
// connections; when ctx ends first, the rest are cut.
func (ls *Loops) Shutdown(ctx context.Context) {
	ls.draining.Store(true)
	ls.wakeAll()
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for ls.clients.Load() > 0 {
		select {
		case <-ctx.Done():
		case <-t.C:
			continue
		}
		break
	}
	ls.stop.Store(true)
	ls.wakeAll()
	_ = ls.handoff.Close()
}

func (ls *Loops) countError(kind string) { ls.p.CountError(kind) }

// wakeAll wakes every loop, unless they are closed.
func (ls *Loops) wakeAll() {
	ls.wakeMu.Lock()
	defer ls.wakeMu.Unlock()
	if ls.closed {
		return
	}
	for _, lp := range ls.loops {
		lp.wake()
	}
}

// wake makes lp's epoll_wait return; the caller holds ls.wakeMu and has
// checked that the loops are not closed.
func (lp *loop) wake() {
	one := [8]byte{1}
	_, _ = syscall.Write(lp.wakefd, one[:])
}

// closeLoops closes the loops' descriptors once they have stopped (or
// never ran), and the tunnels and clients handed to them that no loop took.
func (ls *Loops) closeLoops() {
	ls.wakeMu.Lock()
	defer ls.wakeMu.Unlock()
	ls.closed = true
	for _, lp := range ls.loops {
		lp.incoming.mu.Lock()
		ts, cs := lp.incoming.tunnels, lp.incoming.clients
		lp.incoming.tunnels, lp.incoming.clients = nil, nil
		lp.incoming.mu.Unlock()
		for _, t := range ts {
			t.close()
		}
		for _, c := range cs {
			c.close()
		}
		_ = syscall.Close(lp.epfd)
		_ = syscall.Close(lp.wakefd)
	}
	if ls.lnfd >= 0 {
		_ = syscall.Close(ls.lnfd)
		ls.lnfd = -1
	}
}

// resolved reports whether u's address is known, and starts resolving a
// name off the loops when it is not (the request then goes to the fasthttp
// path). It allocates nothing: it runs for every request.
func (ls *Loops) resolved(u *pool.Upstream) bool {
	_, ok := ls.addrPort(u)
	return ok
}

// sockaddr returns a new socket address for u (connect writes into it, so
// loops never share one), or nil while its name is being resolved.
func (ls *Loops) sockaddr(u *pool.Upstream) syscall.Sockaddr {
	if ap, ok := ls.addrPort(u); ok {
		return sockaddrOf(ap)
	}
	return nil
}

func (ls *Loops) addrPort(u *pool.Upstream) (netip.AddrPort, bool) {
	if ap, ok := ls.addrs.Load(u); ok {
		return ap.(netip.AddrPort), true
	}
	if ap, err := netip.ParseAddrPort(u.Addr); err == nil {
		ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		ls.addrs.Store(u, ap)
		return ap, true
	}
	if _, busy := ls.resolving.LoadOrStore(u, true); !busy {
		go func() {
			defer ls.resolving.Delete(u)
			ta, err := net.ResolveTCPAddr("tcp", u.Addr)
			if err != nil {
				return
			}
			ap := ta.AddrPort()
			ls.addrs.Store(u, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
		}()
	}
	return netip.AddrPort{}, false
}

func sockaddrOf(ap netip.AddrPort) syscall.Sockaddr {
	if ap.Addr().Is4() {
		return &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	}
	return &syscall.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
}

type fdEntry struct {
	h  fdHandler
	id int32
}

// fdHandler is a socket registered with a loop.
type fdHandler interface {
	event(mask uint32)
	// expire checks the socket's deadlines against now.
	expire(now int64)
}

// loop is one event loop; everything in it runs on its own thread, so
// nothing in it is locked.
type loop struct {
	ls     *Loops
	index  int // in ls.loops
	epfd   int
	wakefd int
	fds    map[int32]fdEntry
	// seq numbers registrations: an event carries its registration's
	// number, so one meant for a closed socket is never delivered to a new
	// socket that got the same descriptor in the same batch.
	seq   int32
	idle  map[*pool.Upstream][]*upstreamConn
	free  [][]byte
	pipes []*bodyPipe
	// The heads being read; each is used up before the loop moves on.
	reqHead  requestHead
	respHead responseHead
	// Request ids and request metrics are the loop's own: shared, their
	// cache lines would move between the loops' CPUs at every request.
	// The worker choice stays shared: one counter for the whole edge keeps
	// the round robin exact across loops and the goroutine server.
	ids  *fw.LocalRequestIDs
	http *metrics.HTTP // nil without metrics
	// logRequests says a line is logged per request: the logger's answer,
	// asked at each sweep rather than at each request (its handlers'
	// Enabled, chained, cost 0.7 % of the loop's CPU).
	logRequests bool
	events      [256]syscall.EpollEvent
	now         int64
	swept       int64
	// listening is false once draining removed the listener.
	listening bool
	// acceptPaused is when accepting stopped for lack of descriptors (0:
	// not paused); the sweep resumes it.
	acceptPaused int64
	// incoming are tunnels handed over by other goroutines (tunnel.go) and
	// clients handed over by other loops (handover.go).
	incoming incoming
	// clients is how many client connections this loop holds, those handed
	// to it included: the loop that accepts a connection gives it to the
	// loop holding the fewest (handover.go).
	clients atomic.Int64
	// ran is the share of the last sweep's window the loop's thread ran,
	// in thousandths, for the other loops to read (balance.go).
	ran atomic.Uint32
	bal balance
}

const (
	evIn      = syscall.EPOLLIN
	evOut     = syscall.EPOLLOUT
	evRDHup   = syscall.EPOLLRDHUP
	evHup     = syscall.EPOLLHUP
	evErr     = syscall.EPOLLERR
	evET      = 1 << 31
	evExclude = 1 << 28 // EPOLLEXCLUSIVE: one loop wakes per new connection
	// sweepEvery is how often deadlines are checked; timeouts fire up to
	// this late.
	sweepEvery = int64(100 * time.Millisecond)
)

func newLoop(ls *Loops, index int) (*loop, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	r1, _, e := syscall.Syscall(syscall.SYS_EVENTFD2, 0, syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if e != 0 {
		_ = syscall.Close(epfd)
		return nil, os.NewSyscallError("eventfd2", e)
	}
	lp := &loop{ls: ls, index: index, epfd: epfd, wakefd: int(r1), fds: map[int32]fdEntry{}, idle: map[*pool.Upstream][]*upstreamConn{},
		ids: ls.pol.IDs.Local(), bal: balance{statfd: -1}}
	if m := ls.cfg.Metrics; m != nil {
		lp.http = m.HTTP.Shard()
	}
	if err := lp.add(lp.wakefd, evIn); err != nil {
		return nil, err
	}
	if err := lp.add(ls.lnfd, evIn|evExclude); err != nil {
		return nil, err
	}
	lp.listening = true
	return lp, nil
}

func (lp *loop) add(fd int, events uint32) error {
	ev := syscall.EpollEvent{Events: events, Fd: int32(fd)}
	return os.NewSyscallError("epoll_ctl", syscall.EpollCtl(lp.epfd, syscall.EPOLL_CTL_ADD, fd, &ev))
}

// register adds a connection's socket, edge-triggered for reads, writes
// and hang-ups, once for its whole life.
func (lp *loop) register(fd int, h fdHandler) error {
	lp.seq++
	ev := syscall.EpollEvent{Events: evIn | evOut | evRDHup | evET, Fd: int32(fd), Pad: lp.seq}
	if err := syscall.EpollCtl(lp.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	lp.fds[int32(fd)] = fdEntry{h: h, id: lp.seq}
	return nil
}

// unregister forgets fd; closing it removes it from epoll.
func (lp *loop) unregister(fd int) { delete(lp.fds, int32(fd)) }

func (lp *loop) run() {
	defer lp.ls.wg.Done()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if lp.ls.adaptive {
		lp.bal.statfd = openSchedstat()
		defer syscall.Close(lp.bal.statfd)
	}
	lp.askLogger()
	for {
		n, err := syscall.EpollWait(lp.epfd, lp.events[:], int(sweepEvery/int64(time.Millisecond)))
		if err != nil && err != syscall.EINTR {
			lp.ls.cfg.Log.Error("epoll_wait failed; the loop stops", "component", "proxy", "error", err)
			lp.closeAll()
			return
		}
		lp.now = time.Now().UnixNano()
		for i := 0; i < n; i++ {
			lp.dispatch(&lp.events[i])
		}
		if lp.ls.stop.Load() {
			lp.closeAll()
			return
		}
		if lp.ls.draining.Load() && lp.listening {
			lp.listening = false
			if lp.acceptPaused == 0 {
				_ = syscall.EpollCtl(lp.epfd, syscall.EPOLL_CTL_DEL, lp.ls.lnfd, nil)
			}
			lp.sweep(true)
		}
		if lp.now-lp.swept >= sweepEvery {
			lp.sweep(false)
		}
	}
}

func (lp *loop) dispatch(ev *syscall.EpollEvent) {
	fd := int(ev.Fd)
	switch {
	case fd == lp.wakefd:
		var b [8]byte
		_, _ = syscall.Read(lp.wakefd, b[:])
		lp.takeTunnels()
		lp.takeClients()
	case fd == lp.ls.lnfd && lp.listening:
		lp.accept()
	default:
		if e, ok := lp.fds[ev.Fd]; ok && e.id == ev.Pad {
			defer lp.contain(e.h)
			e.h.event(ev.Events)
		}
	}
}

// contain is the loops' last line of defence: a bug that panics while one
// connection is served must not take the edge, and every other connection
// of the process, down with it. The connection (with its partner) is
// closed and the loop goes on.
func (lp *loop) contain(h fdHandler) {
	r := recover()
	if r == nil {
		return
	}
	lp.ls.cfg.Log.Error("edge loop: panic while serving a connection; it is closed", "component", "proxy",
		"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	lp.ls.countError("panic")
	switch x := h.(type) {
	case *clientConn:
		x.close()
	case *upstreamConn:
		if c := x.c; c != nil {
			c.close()
		}
		x.close()
	case *tunnelEnd:
		x.t.close()
	}
}

// askLogger asks the logger whether a line is logged per request.
func (lp *loop) askLogger() {
	lp.logRequests = lp.ls.cfg.Log.Enabled(context.Background(), lp.ls.logLevel)
}

// sweep checks every socket's deadlines; draining closes idle clients.
func (lp *loop) sweep(draining bool) {
	lp.swept = lp.now
	lp.askLogger()
	if lp.ls.adaptive {
		lp.balance()
	}
	lp.resumeAccept()
	for _, e := range lp.fds {
		lp.expire(e.h)
	}
	if draining || lp.ls.draining.Load() {
		for _, e := range lp.fds {
			if c, ok := e.h.(*clientConn); ok && c.state == stIdle && c.r == c.w {
				c.close()
			}
		}
	}
	// Idle upstream connections the worker may have dropped meanwhile are
	// noticed through their hang-up events; old ones are closed here.
	for u, list := range lp.idle {
		keep := list[:0]
		for _, uc := range list {
			if lp.now-uc.idle > int64(upstreamIdleTimeout) {
				uc.close()
			} else {
				keep = append(keep, uc)
			}
		}
		if len(keep) == 0 {
			delete(lp.idle, u)
		} else {
			lp.idle[u] = keep
		}
	}
}

func (lp *loop) expire(h fdHandler) {
	defer lp.contain(h)
	h.expire(lp.now)
}

// upstreamIdleTimeout closes pooled connections to a worker unused this long.
const upstreamIdleTimeout = 30 * time.Second

func (lp *loop) closeAll() {
	for _, e := range lp.fds {
		switch x := e.h.(type) {
		case *clientConn:
			x.close()
		case *upstreamConn:
			x.close()
		case *tunnelEnd:
			x.t.close()
		}
	}
	lp.takeTunnels() // closes those handed over meanwhile: stop is set
	lp.takeClients()
	for _, bp := range lp.pipes {
		_ = syscall.Close(bp.r)
		_ = syscall.Close(bp.w)
	}
	lp.pipes = nil
}

func (lp *loop) accept() {
	for range 64 {
		fd, sa, err := syscall.Accept4(lp.ls.lnfd, syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
		if err != nil {
			if err == syscall.EAGAIN || err == syscall.ECONNABORTED || err == syscall.EINTR {
				return
			}
			if err == syscall.EMFILE || err == syscall.ENFILE || err == syscall.ENOBUFS || err == syscall.ENOMEM {
				// The listener stays readable: stop watching it for a
				// moment instead of spinning on it.
				lp.ls.cfg.Log.Warn("accept: out of resources; pausing accepts for 100ms", "component", "proxy", "error", err)
				lp.pauseAccept()
			}
			return
		}
		addr := sockaddrAddr(sa)
		if !lp.ls.limit.Acquire(addr) {
			_, _ = writeFD(fd, connlimit.Refusal)
			_ = syscall.Close(fd)
			continue
		}
		_ = syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
		if pool.Local(addr) {
			pool.SetLocalCongestion(fd)
		}
		c := &clientConn{sock: sock{lp: lp, fd: fd}, lastActive: lp.now, addr: addr, headSince: lp.now}
		c.remote = appendSockaddrIP(c.remoteBuf[:0], sa)
		c.sa = sa
		if to := lp.ls.pick(lp); to != lp {
			if lp.ls.handClient(to, c) {
				continue
			}
			to.clients.Add(-1) // the loops are stopping: it stays here
			lp.clients.Add(1)
		}
		if err := lp.register(fd, c); err != nil {
			_ = syscall.Close(fd)
			lp.ls.limit.Release(addr)
			lp.clients.Add(-1)
			continue
		}
		lp.ls.clients.Add(1)
	}
}

func (lp *loop) pauseAccept() {
	if lp.listening && lp.acceptPaused == 0 {
		_ = syscall.EpollCtl(lp.epfd, syscall.EPOLL_CTL_DEL, lp.ls.lnfd, nil)
		lp.acceptPaused = lp.now
	}
}

func (lp *loop) resumeAccept() {
	if lp.acceptPaused != 0 && lp.now-lp.acceptPaused >= sweepEvery {
		lp.acceptPaused = 0
		if lp.listening {
			_ = lp.add(lp.ls.lnfd, evIn|evExclude)
		}
	}
}

func (lp *loop) getBuf() []byte {
	if n := len(lp.free); n > 0 {
		b := lp.free[n-1]
		lp.free = lp.free[:n-1]
		return b
	}
	return make([]byte, loopBufSize)
}

func (lp *loop) putBuf(b []byte) {
	if b != nil && len(lp.free) < 64 {
		lp.free = append(lp.free, b[:loopBufSize])
	}
}

// The loops' sockets and pipes are non-blocking, so their reads, writes and
// splices return at once: they are made as raw system calls, which skip the
// runtime's bookkeeping for a call that may block (entersyscall and
// exitsyscall, and sysmon handing the P of a thread "stuck" in one to another
// thread). Only epoll_wait, which does block, goes through syscall.Syscall.

// rawIO makes one non-blocking system call, retried on EINTR.
func rawIO(trap, a1, a2, a3, a4, a5, a6 uintptr) (int, error) {
	for {
		n, _, e := syscall.RawSyscall6(trap, a1, a2, a3, a4, a5, a6)
		if e == syscall.EINTR {
			continue
		}
		if e != 0 {
			return 0, e
		}
		return int(n), nil
	}
}

// bufPtr is the address of p's first byte, or of nothing when p is empty.
func bufPtr(p []byte) uintptr {
	if len(p) == 0 {
		return uintptr(unsafe.Pointer(&zeroByte))
	}
	return uintptr(unsafe.Pointer(&p[0]))
}

var zeroByte byte

// readFD reads into p; n == 0 with a nil error is EOF.
func readFD(fd int, p []byte) (int, error) {
	n, err := rawIO(syscall.SYS_READ, uintptr(fd), bufPtr(p), uintptr(len(p)), 0, 0, 0)
	runtime.KeepAlive(p)
	return n, err
}

func writeFD(fd int, p []byte) (int, error) {
	n, err := rawIO(syscall.SYS_WRITE, uintptr(fd), bufPtr(p), uintptr(len(p)), 0, 0, 0)
	runtime.KeepAlive(p)
	return n, err
}

// writev2 writes a then b in one system call.
func writev2(fd int, a, b []byte) (int, error) {
	if len(b) == 0 {
		return writeFD(fd, a)
	}
	if len(a) == 0 {
		return writeFD(fd, b)
	}
	iov := [2]syscall.Iovec{{Base: &a[0]}, {Base: &b[0]}}
	iov[0].SetLen(len(a))
	iov[1].SetLen(len(b))
	n, err := rawIO(syscall.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&iov[0])), 2, 0, 0, 0)
	runtime.KeepAlive(a)
	runtime.KeepAlive(b)
	return n, err
}

// handoffListener yields the connections the loops pass to the fasthttp
// server.
type handoffListener struct {
	addr   net.Addr
	conns  chan net.Conn
	done   chan struct{}
	closed sync.Once
}

func newHandoffListener(addr net.Addr) *handoffListener {
	return &handoffListener{addr: addr, conns: make(chan net.Conn, 64), done: make(chan struct{})}
}

func (h *handoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-h.conns:
		return c, nil
	case <-h.done:
		return nil, net.ErrClosed
	}
}

func (h *handoffListener) Close() error {
	h.closed.Do(func() { close(h.done) })
	return nil
}

func (h *handoffListener) Addr() net.Addr { return h.addr }

// give passes c on, or closes it when the server has stopped. The channel
// is buffered; a full one waits on the server's accept loop, which takes
// connections as fast as it can.
func (h *handoffListener) give(c net.Conn) {
	select {
	case h.conns <- c:
	case <-h.done:
		_ = c.Close()
	}
}

// prefixConn replays bytes the loop read before handing the connection on.
type prefixConn struct {
	net.Conn
	prefix []byte
}

// NetConn returns the connection under the replayed bytes.
func (c *prefixConn) NetConn() net.Conn { return c.Conn }

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}
