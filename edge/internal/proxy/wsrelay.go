package proxy

import (
	"bufio"
	"io"
	"net"
	"sync"
	"syscall"
)

// An idle WebSocket should cost the edge little more than its two
// descriptors: the relay holds no buffer while it waits. Each direction
// waits for its source to be readable without a buffer (syscall.RawConn)
// and borrows one from relayBufs only for the bytes at hand. The fasthttp
// server lets go of the connection (KeepHijackedConns) once the relay has
// taken the bytes its reader still held, so neither its request context nor
// its 32 KiB reader stays with the socket (httpserver.Detach).

// relayBufs are the buffers a relay borrows while bytes are at hand.
var relayBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

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
	var rc syscall.RawConn
	var err error
	if ok {
		rc, err = sc.SyscallConn()
	}
	if !ok || err != nil {
		bp := relayBufs.Get().(*[]byte)
		defer relayBufs.Put(bp)
		_, err := io.CopyBuffer(dst, src, *bp)
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
