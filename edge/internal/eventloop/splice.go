//go:build linux

package eventloop

import (
	"syscall"
	"time"
)

// Long bodies of known length move between the two sockets through a pipe
// with splice(2): the bytes stay in the kernel, never copied into the
// edge's memory and out again. Chunked and close-delimited bodies go
// through the read buffer, where their framing is followed.

const (
	// spliceMin is the least body still to move for splicing to pay.
	spliceMin = 128 << 10
	// pipeSize is asked of the kernel for each pipe (F_SETPIPE_SZ).
	pipeSize = 1 << 20

	// bodyLowat is how much of a long body must be queued on the sending
	// socket before epoll calls it readable (SO_RCVLOWAT): the loop then
	// wakes once per this many bytes, not once per segment the sender
	// wrote, and each splice moves more. The body's last bytes lower it
	// (the end of the body must wake the loop), and the body's end sets it
	// back to one byte for the connection's next head. A sender slower
	// than that has its bytes moved on after lowatPatience, by the sweep.
	bodyLowat     = 256 << 10
	lowatPatience = int64(200 * time.Millisecond)

	spliceMove     = 0x1 // SPLICE_F_MOVE
	spliceNonblock = 0x2 // SPLICE_F_NONBLOCK
	fcntlSetPipeSz = 1031
)

// setLowat makes s readable only once n bytes are queued (or at its end);
// it costs a system call only when the value changes.
func (s *sock) setLowat(n int64) {
	v := int(max(min(n, bodyLowat), 1))
	if v == max(s.lowat, 1) {
		return
	}
	if syscall.SetsockoptInt(s.fd, syscall.SOL_SOCKET, syscall.SO_RCVLOWAT, v) == nil {
		s.lowat = v
	}
}

// bodyPipe is a pipe lent to one exchange while it splices a body.
type bodyPipe struct {
	r, w int
	n    int64 // bytes in the pipe
	cap  int64
}

func (lp *loop) getPipe() *bodyPipe {
	if n := len(lp.pipes); n > 0 {
		bp := lp.pipes[n-1]
		lp.pipes = lp.pipes[:n-1]
		return bp
	}
	var fds [2]int
	if err := syscall.Pipe2(fds[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		return nil
	}
	bp := &bodyPipe{r: fds[0], w: fds[1], cap: 64 << 10}
	if size, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fds[1]), fcntlSetPipeSz, pipeSize); e == 0 {
		bp.cap = int64(size)
	}
	return bp
}

// putPipe keeps an empty pipe for the next body and closes one that still
// holds bytes of a broken exchange.
func (lp *loop) putPipe(bp *bodyPipe) {
	if bp == nil {
		return
	}
	if bp.n != 0 || len(lp.pipes) >= 16 {
		_ = syscall.Close(bp.r)
		_ = syscall.Close(bp.w)
		return
	}
	lp.pipes = append(lp.pipes, bp)
}

func splice(from, to int, n int64) (int64, error) {
	m, err := rawIO(syscall.SYS_SPLICE, uintptr(from), 0, uintptr(to), 0, uintptr(n), spliceMove|spliceNonblock)
	return int64(m), err
}

// spliceResult tells the state machine what a splice step did.
type spliceResult int

const (
	spliceMoved   spliceResult = iota // progress: call again
	spliceWait                        // wait for an event
	spliceFromEOF                     // the source closed mid-body
	spliceFromErr                     // the source failed
	spliceToErr                       // the destination failed
)

// spliceStep moves bytes of a body with left bytes still to read from
// src (left counts neither what is in the pipe nor what was sent): it first
// empties the pipe into dst, then fills it from src. The readiness flags are
// the two sockets' edge-triggered states.
func spliceStep(bp *bodyPipe, src, dst int, left *int64, srcReadable, dstWritable *bool) spliceResult {
	if bp.n > 0 {
		if !*dstWritable {
			return spliceWait
		}
		n, err := splice(bp.r, dst, bp.n)
		if err == syscall.EAGAIN {
			*dstWritable = false
			return spliceWait
		}
		if err != nil {
			return spliceToErr
		}
		bp.n -= n
		return spliceMoved
	}
	if *left == 0 {
		return spliceMoved
	}
	if !*srcReadable {
		return spliceWait
	}
	n, err := splice(src, bp.w, min(*left, bp.cap))
	switch {
	case err == syscall.EAGAIN:
		*srcReadable = false
		return spliceWait
	case err != nil:
		return spliceFromErr
	case n == 0:
		return spliceFromEOF
	}
	*left -= n
	bp.n += n
	return spliceMoved
}
