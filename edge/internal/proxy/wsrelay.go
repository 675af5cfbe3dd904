package proxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
	"time"
)

// An idle WebSocket should cost the edge little more than its two
// descriptors: the relay holds no buffer while it waits. Each direction
// waits for its source to be readable without a buffer (syscall.RawConn)
// and borrows one from relayBufs only for the bytes at hand. The fasthttp
// server lets go of the connection (KeepHijackedConns) once the relay has
// taken the bytes its reader still held, so neither its request context nor
// its 32 KiB reader stays with the socket.

// relayBufs are the buffers a relay borrows while bytes are at hand.
var relayBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// maxEarlyBytes bounds what a client may send before the 101 (a client
// must wait for it, RFC 6455 §4.1): kept and forwarded, not dropped.
const maxEarlyBytes = 64 << 10

var errTooEarly = errors.New("websocket: too many bytes before the upgrade was answered")

// detach returns the TCP connection under c (fasthttp's hijacked
// connection, over the event loops' replaying one), with the bytes the
// wrappers had read from it and not yet handed on. It reads them through c
// with the connection's read deadline in the past, so that nothing waits
// and nothing is taken from the kernel.
func detach(c net.Conn) (raw net.Conn, early []byte, err error) {
	raw = c
	for {
		if u, ok := raw.(interface{ UnsafeConn() net.Conn }); ok {
			raw = u.UnsafeConn()
			continue
		}
		if u, ok := raw.(interface{ NetConn() net.Conn }); ok {
			raw = u.NetConn()
			continue
		}
		break
	}
	if raw == c {
		return c, nil, nil
	}
	if err := raw.SetReadDeadline(time.Unix(1, 0)); err != nil {
		return nil, nil, err
	}
	var buf [512]byte
	for {
		n, rerr := c.Read(buf[:])
		early = append(early, buf[:n]...)
		if len(early) > maxEarlyBytes {
			return nil, nil, errTooEarly
		}
		if rerr != nil {
			var ne net.Error
			if errors.As(rerr, &ne) && ne.Timeout() {
				break
			}
			return nil, nil, rerr
		}
	}
	return raw, early, raw.SetReadDeadline(time.Time{})
}

// buffered takes what br read past the handshake answer.
func buffered(br *bufio.Reader) []byte {
	b, _ := br.Peek(br.Buffered())
	return append([]byte(nil), b...)
}

// relay copies both ways between the client and the worker until either
// side closes, then closes both.
func (p *Proxy) relay(client, worker net.Conn, early, late []byte) {
	defer p.untrack(client)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = pump(worker, client, early)
		// The client is gone: end the worker side too.
		_ = worker.Close()
	}()
	_ = pump(client, worker, late)
	_ = client.Close()
	<-done
}

// pump writes first to dst, then what src sends until it ends. It waits
// for src without a buffer when src allows it (a TCP connection).
func pump(dst, src net.Conn, first []byte) error {
	if len(first) > 0 {
		if _, err := dst.Write(first); err != nil {
			return err
		}
	}
	sc, ok := src.(syscall.Conn)
	if !ok {
		bp := relayBufs.Get().(*[]byte)
		defer relayBufs.Put(bp)
		_, err := io.CopyBuffer(dst, src, *bp)
		return err
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	for {
		var bp *[]byte
		var n int
		var rerr error
		err := rc.Read(func(fd uintptr) bool {
			bp = relayBufs.Get().(*[]byte)
			for {
				n, rerr = syscall.Read(int(fd), *bp)
				if rerr != syscall.EINTR {
					break
				}
			}
			if rerr == syscall.EAGAIN {
				// Nothing yet: give the buffer back while waiting.
				relayBufs.Put(bp)
				bp = nil
				return false
			}
			return true
		})
		if err != nil {
			if bp != nil {
				relayBufs.Put(bp)
			}
			return err // closed
		}
		if rerr != nil || n <= 0 {
			relayBufs.Put(bp)
			if rerr == nil {
				rerr = io.EOF
			}
			return rerr
		}
		_, werr := dst.Write((*bp)[:n])
		relayBufs.Put(bp)
		if werr != nil {
			return werr
		}
	}
}
