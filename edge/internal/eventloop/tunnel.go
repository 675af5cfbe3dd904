//go:build linux

package eventloop

import (
	"net"
	"sync"
	"syscall"
)

// A tunnel relays an upgraded connection (a WebSocket) between a client and
// a worker on a loop: no goroutine and no buffer while it is idle, only the
// two registrations and what the connections themselves hold. The proxy
// answers the upgrade and hands both connections over (Tunnel); the loop
// reads whichever side is readable into its own buffer and writes it to the
// other side, keeping what the other side cannot take yet until it can, and
// not reading more from that side meanwhile. Either side ending ends both.
//
// The sockets stay the Go connections' own (their descriptors are not
// duplicated): the loop reads and writes them without going through the
// runtime, and closes them with the connections' Close, on the loop's
// thread, after taking them out of its epoll set, so that a descriptor
// number is never reused while the loop still holds it.

// tunnel is one relayed pair.
type tunnel struct {
	lp             *loop
	client, worker tunnelEnd
	// conns are closed when the tunnel ends: the client's Close releases
	// its place in the per-address count.
	clientConn, workerConn net.Conn
	closed                 bool
}

// tunnelEnd is one side's socket.
type tunnelEnd struct {
	t  *tunnel
	fd int
	// out are bytes for this side that it could not take yet.
	out []byte
	readiness
	ended bool
	peer  *tunnelEnd
}

// incoming are the tunnels handed to a loop from other goroutines, taken
// on its thread when it wakes.
type incoming struct {
	mu      sync.Mutex
	tunnels []*tunnel
	clients []*clientConn
}

// takeIncoming empties one of lp's incoming lists and returns what it held.
func takeIncoming[T any](lp *loop, list *[]T) []T {
	lp.incoming.mu.Lock()
	defer lp.incoming.mu.Unlock()
	xs := *list
	*list = nil
	return xs
}

// Tunnel takes over an upgraded client connection and its worker
// connection: early are bytes for the worker (sent by the client before the
// upgrade was answered), late bytes for the client (sent by the worker
// after its answer). It reports false, leaving both connections to the
// caller, when the loops are stopping or a connection has no socket of its
// own.
func (ls *Loops) Tunnel(client, worker net.Conn, early, late []byte) bool {
	ls.wakeMu.Lock()
	defer ls.wakeMu.Unlock()
	if ls.closed || ls.draining.Load() || ls.stop.Load() {
		return false
	}
	cfd, ok := socketOf(client)
	if !ok {
		return false
	}
	wfd, ok := socketOf(worker)
	if !ok {
		return false
	}
	lp := ls.loops[int(ls.nextTunnel.Add(1))%len(ls.loops)]
	t := &tunnel{lp: lp, clientConn: client, workerConn: worker}
	t.client = tunnelEnd{t: t, fd: cfd, out: late, readiness: readiness{writable: true, readable: true}}
	t.worker = tunnelEnd{t: t, fd: wfd, out: early, readiness: readiness{writable: true, readable: true}}
	t.client.peer, t.worker.peer = &t.worker, &t.client
	lp.incoming.mu.Lock()
	lp.incoming.tunnels = append(lp.incoming.tunnels, t)
	lp.incoming.mu.Unlock()
	lp.wake()
	return true
}

// socketOf is c's descriptor, when it is a socket of its own.
func socketOf(c net.Conn) (int, bool) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return 0, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, false
	}
	fd := -1
	if rc.Control(func(u uintptr) { fd = int(u) }) != nil || fd < 0 {
		return 0, false
	}
	return fd, true
}

// takeTunnels registers the tunnels handed over since the last wake-up and
// moves what they hold already.
func (lp *loop) takeTunnels() {
	for _, t := range takeIncoming(lp, &lp.incoming.tunnels) {
		if lp.ls.stop.Load() {
			t.close()
			continue
		}
		if err := lp.register(t.client.fd, &t.client); err != nil {
			t.close()
			continue
		}
		if err := lp.register(t.worker.fd, &t.worker); err != nil {
			t.close()
			continue
		}
		t.flow()
	}
}

func (e *tunnelEnd) event(mask uint32) {
	e.note(mask)
	if mask&(evHup|evErr) != 0 {
		// A failed side is written to once more: the write finds the
		// failure, and the tunnel ends.
		e.writable = true
	}
	e.t.flow()
}

// expire: a tunnel has no deadline of its own (the worker ends sockets
// that stay silent).
func (e *tunnelEnd) expire(int64) {}

// flow moves bytes both ways as far as the sockets allow; a side that
// ended (or failed) ends the tunnel once what it sent is written.
func (t *tunnel) flow() {
	if t.closed {
		return
	}
	if !t.move(&t.client) || !t.move(&t.worker) {
		t.close()
	}
}

// move copies from src to its peer until src has nothing more or the peer
// cannot take more; false when the tunnel must end.
func (t *tunnel) move(src *tunnelEnd) bool {
	dst := src.peer
	lp := t.lp
	for {
		if len(dst.out) > 0 {
			if !dst.writable {
				return true
			}
			n, err := writeFD(dst.fd, dst.out)
			if err == syscall.EAGAIN {
				dst.writable = false
				return true
			}
			if err != nil {
				return false
			}
			dst.out = dst.out[n:]
			if len(dst.out) == 0 {
				dst.out = nil
			}
			continue
		}
		if src.ended {
			return false
		}
		if !src.readable {
			return true
		}
		buf := lp.getBuf()
		n, err := readFD(src.fd, buf)
		if err == syscall.EAGAIN {
			lp.putBuf(buf)
			src.readable = false
			return true
		}
		if err != nil || n == 0 {
			lp.putBuf(buf)
			src.ended = true
			continue
		}
		src.read(n, len(buf))
		w, err := writeFD(dst.fd, buf[:n])
		switch {
		case err == syscall.EAGAIN:
			w = 0
			dst.writable = false
		case err != nil:
			lp.putBuf(buf)
			return false
		}
		if w < n {
			dst.out = append([]byte(nil), buf[w:n]...)
		}
		lp.putBuf(buf)
	}
}

// close ends the tunnel: out of the epoll set and the loop's table first,
// then the connections closed.
func (t *tunnel) close() {
	if t.closed {
		return
	}
	t.closed = true
	for _, e := range []*tunnelEnd{&t.client, &t.worker} {
		if cur, ok := t.lp.fds[int32(e.fd)]; ok && cur.h == fdHandler(e) {
			t.lp.unregister(e.fd)
			_ = syscall.EpollCtl(t.lp.epfd, syscall.EPOLL_CTL_DEL, e.fd, nil)
		}
		e.out = nil
	}
	_ = t.clientConn.Close()
	_ = t.workerConn.Close()
}
