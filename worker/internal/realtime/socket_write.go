package realtime

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"time"
	"unsafe"

	"github.com/fasthttp/websocket"
)

// write drains the queue, then ends; enqueue starts it again. What is
// queued by then goes out in one write (writev), so a client that fell
// behind catches up in few system calls.
func (sock *socket) write() {
	defer sock.writers.Done()
	var bufs net.Buffers
	for {
		batch := takeBatch(&sock.qmu, &sock.queue, &sock.writing)
		if batch == nil {
			return
		}
		bufs = bufs[:0]
		end := false
		for _, f := range batch {
			bufs = append(bufs, f.data)
			end = end || f.close
		}
		_ = sock.out.SetWriteDeadline(time.Now().Add(writeTimeout))
		pending := bufs // WriteTo consumes it
		_, err := pending.WriteTo(sock.out)
		clear(bufs)
		if err != nil || end {
			sock.stop()
			return
		}
	}
}

// directWrite is a socket's write straight to its descriptor (tryWrite):
// the frames of one attempt and its outcome, and the callback RawConn.Write
// runs, bound once per socket, so that a delivery allocates nothing. It is
// used under the socket's qmu.
type directWrite struct {
	raw  syscall.RawConn
	call func(fd uintptr) bool // write, bound to this directWrite
	b    []byte                // the one frame, or
	iov  []syscall.Iovec       // several, for writev (when not empty)
	n    int
	err  error
}

func newDirectWrite(raw syscall.RawConn) *directWrite {
	d := &directWrite{raw: raw}
	d.call = d.write
	return d
}

// write is the system call RawConn.Write makes when the descriptor is
// ready: write(2) for one frame, writev(2) for several.
func (d *directWrite) write(fd uintptr) bool {
	for {
		if len(d.iov) == 0 {
			d.n, d.err = syscall.Write(int(fd), d.b)
		} else {
			r, _, errno := syscall.Syscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&d.iov[0])), uintptr(len(d.iov)))
			d.n, d.err = int(r), nil
			if errno != 0 {
				d.n, d.err = 0, errno
			}
		}
		if d.err != syscall.EINTR {
			return true
		}
	}
}

// tryWrite writes frames if the socket takes them now, without waiting:
// the sending goroutine writes (write(2), or writev(2) for several), and a
// writer goroutine is started only for what the kernel did not take. It
// returns how much was written, and false when the socket failed. Caller
// holds sock.qmu.
func (sock *socket) tryWrite(fs []outFrame) (int, bool) {
	d := sock.direct
	if d == nil {
		return 0, true
	}
	d.b, d.iov = fs[0].data, d.iov[:0]
	if len(fs) > 1 {
		for _, f := range fs {
			if len(f.data) > 0 {
				v := syscall.Iovec{Base: &f.data[0]}
				v.SetLen(len(f.data))
				d.iov = append(d.iov, v)
			}
		}
		if len(d.iov) == 0 {
			return 0, true
		}
	}
	err := d.raw.Write(d.call)
	// The frames are the fan-out's, shared by every socket: not kept past
	// the write.
	clear(d.iov)
	d.b = nil
	n, werr := d.n, d.err
	switch {
	case err != nil:
		// A deadline the writer set has passed: the writer, which
		// sets a new one, takes the frames.
		return 0, errors.Is(err, os.ErrDeadlineExceeded)
	case werr == syscall.EAGAIN:
		return 0, true
	case werr != nil:
		return 0, false
	}
	return n, true
}

// stop ends the socket from its writer or a full queue: nothing more is
// queued or written, and the reader's next read fails.
func (sock *socket) stop() {
	sock.qmu.Lock()
	graceful := sock.closing
	sock.closed, sock.queue, sock.writing = true, nil, false
	sock.qmu.Unlock()
	sock.shutdown()
	if graceful && sock.halfClose() {
		return
	}
	_ = sock.conn.Close()
}

// halfClose ends the sending side after the socket's close frame (a FIN
// follows it) and leaves the reader lingerTimeout to finish; the reader
// then drains and closes the connection. False when the connection cannot
// be half-closed.
func (sock *socket) halfClose() bool {
	cw, ok := sock.out.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return false
	}
	_ = sock.out.SetReadDeadline(time.Now().Add(lingerTimeout))
	return true
}

// drain reads and drops what the client still sends after the socket's
// close frame, until the client closes, lingerTimeout passes or
// lingerBytes were read. Closing with bytes unread makes the kernel answer
// with a reset, which can destroy the close frame before the client reads
// it: a frame over the size limit is answered while its rest still arrives.
func (sock *socket) drain() {
	sock.qmu.Lock()
	graceful := sock.closing
	sock.qmu.Unlock()
	if !graceful {
		return
	}
	_ = sock.out.SetReadDeadline(time.Now().Add(lingerTimeout))
	_, _ = io.CopyN(io.Discard, sock.out, lingerBytes)
}

func (sock *socket) shutdown() {
	sock.closeOnce.Do(func() {
		sock.qmu.Lock()
		sock.closed = true
		sock.qmu.Unlock()
		close(sock.done)
	})
}

// closeWith sends a close frame and ends the socket.
func (sock *socket) closeWith(code int, reason string) {
	sock.enqueue(outFrame{close: true, data: appendFrame(nil, opClose, false, websocket.FormatCloseMessage(code, reason))})
}

// enqueue writes frames in order, or queues them for the writer: a socket
// with nothing pending is written to at once (in one system call) if it
// takes the frames without waiting; otherwise a writer goroutine, started
// if none runs, writes what is left. A client too slow to keep up (more
// than outQueue frames waiting) is disconnected.
func (sock *socket) enqueue(fs ...outFrame) {
	sock.qmu.Lock()
	if sock.closed || sock.closing {
		sock.qmu.Unlock()
		return
	}
	if len(sock.queue)+len(fs) > outQueue {
		sock.qmu.Unlock()
		sock.svc.log.Warn("realtime: client too slow, closing its socket")
		sock.stop()
		return
	}
	for _, f := range fs {
		sock.closing = sock.closing || f.close
	}
	if !sock.writing {
		n, ok := sock.tryWrite(fs)
		for ok && len(fs) > 0 && n >= len(fs[0].data) {
			n -= len(fs[0].data)
			fs = fs[1:]
		}
		if !ok || (len(fs) == 0 && sock.closing) {
			sock.qmu.Unlock()
			sock.stop()
			return
		}
		if len(fs) == 0 {
			sock.qmu.Unlock()
			return
		}
		fs[0].data = fs[0].data[n:]
		sock.writing = true
		sock.writers.Add(1)
		go sock.write()
	}
	sock.queue = append(sock.queue, fs...)
	sock.qmu.Unlock()
}

// send writes a frame made for many sockets, compressed where this
// socket agreed to it.
func (sock *socket) send(f *frame) { sock.enqueue(outFrame{data: f.wire(sock.deflate)}) }

// sendAll writes frames made for many sockets, in order, as send does
// each, in one system call where the socket takes them now.
func (sock *socket) sendAll(fs []*frame) {
	out := make([]outFrame, len(fs))
	for i, f := range fs {
		out[i] = outFrame{data: f.wire(sock.deflate)}
	}
	sock.enqueue(out...)
}
