//go:build linux

package eventloop

import (
	"errors"
	"os"
	"syscall"

	"github.com/madbase/madbase/edge/internal/pool"
)

// upstreamConn is a connection to a worker, pooled per loop.
type upstreamConn struct {
	sock
	u       *pool.Upstream
	c       *clientConn // the exchange using it, nil while idle
	closed  bool
	reused  bool
	gotHead bool
	// answered is set once a byte of the answer came.
	answered bool
	started  int64 // connecting since
	waiting  int64 // request written, no response byte yet, since
	idle     int64 // idle since
	connect  bool  // connecting
	// writeErr is why the request could not be written: the worker may
	// still have answered, which is read before the exchange fails.
	writeErr error
}

func (uc *upstreamConn) event(mask uint32) {
	uc.note(mask)
	if uc.c == nil {
		if uc.readable {
			// An idle connection that turns readable was closed by the
			// worker (or sent what nobody asked for): drop it now. An
			// event its last exchange left behind (the end of a spliced
			// body, taken on the client's event in the same batch) finds
			// nothing to read: the connection stays pooled.
			if uc.rdhup || uc.hup || !uc.alive() {
				uc.close()
				return
			}
			uc.readable = false
		}
		return
	}
	uc.c.run()
}

func (uc *upstreamConn) expire(int64) {} // the client's expire covers it

// alive peeks at a pooled connection without blocking: one that reads EOF
// or has unexpected bytes must not carry a request.
func (uc *upstreamConn) alive() bool {
	var b [1]byte
	_, _, err := syscall.Recvfrom(uc.fd, b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return err == syscall.EAGAIN
}

func (uc *upstreamConn) close() {
	if uc.closed {
		return
	}
	uc.closed = true
	uc.release()
	uc.c = nil
}

// dial opens a non-blocking connection to u.
func (lp *loop) dial(u *pool.Upstream) (*upstreamConn, error) {
	sa := lp.ls.sockaddr(u)
	if sa == nil {
		return nil, errors.New("worker address not resolved")
	}
	family := syscall.AF_INET
	if _, ok := sa.(*syscall.SockaddrInet6); ok {
		family = syscall.AF_INET6
	}
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	_ = syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	pool.SetLocalCongestion(fd)
	uc := &upstreamConn{sock: sock{lp: lp, fd: fd}, u: u, started: lp.now}
	err = syscall.Connect(fd, sa)
	switch err {
	case nil:
		uc.writable = true
	case syscall.EINPROGRESS:
		uc.connect = true
	default:
		_ = syscall.Close(fd)
		return nil, os.NewSyscallError("connect", err)
	}
	if err := lp.register(fd, uc); err != nil {
		_ = syscall.Close(fd)
		return nil, err
	}
	if p := lp.ls.cfg.Transport; p != nil {
		p.Dials.Add(1)
	}
	return uc, nil
}

// takeIdle returns the most recently used idle connection to u, or nil.
func (lp *loop) takeIdle(u *pool.Upstream) *upstreamConn {
	list := lp.idle[u]
	for len(list) > 0 {
		uc := list[len(list)-1]
		list = list[:len(list)-1]
		if !uc.closed {
			lp.idle[u] = list
			uc.reused, uc.gotHead, uc.answered, uc.waiting = true, false, false, 0
			return uc
		}
	}
	delete(lp.idle, u)
	return nil
}

func (lp *loop) putIdle(uc *upstreamConn) {
	uc.c = nil
	uc.setLowat(1)
	uc.idle = lp.now
	if uc.r == uc.w {
		lp.putBuf(uc.buf)
		uc.buf, uc.r, uc.w = nil, 0, 0
	}
	lp.idle[uc.u] = append(lp.idle[uc.u], uc)
}

// dropIdle closes this loop's idle connections to u (after one turned out
// closed by the worker, the others usually are too).
func (lp *loop) dropIdle(u *pool.Upstream) {
	for _, uc := range lp.idle[u] {
		uc.close()
	}
	delete(lp.idle, u)
}
