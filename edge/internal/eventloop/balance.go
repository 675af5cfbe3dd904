//go:build linux

package eventloop

import (
	"strconv"
	"syscall"
)

// How many loops serve is a trade. One loop on a machine shared with
// workers and PostgreSQL costs the least CPU per request: a busy loop finds
// several sockets ready at each wake-up, and a second loop would halve that
// batching and add a thread that competes for the cores (on two cores beside
// a worker and PostgreSQL, REST reads by key fell by about 3 % with two
// loops). But a loop that is the bottleneck, its thread running or waiting
// for a CPU nearly all the time, caps the edge at one core while the others
// idle: with wrk and a small backend beside it, one loop served 1.12× nginx's
// requests/s and two served 1.23×.
//
// So with Size.Adaptive the loops put themselves to work as the load asks.
// One serves at first; each measures its own thread over every sweep (its
// run time and its wait for a CPU, from /proc/thread-self/schedstat). A loop
// found saturated in activateAfter windows in a row wakes the next loop
// and moves half of its clients there, each at the end of an exchange, when
// nothing of the connection is buffered. When all the serving loops
// together use less than parkBelow of a CPU for each loop that would
// remain, parkAfter windows in a row, the newest one rests, and its clients
// move to the others in the same way. A resting loop still accepts (every
// loop watches the listener) and hands what it accepts to a serving one.

const (
	// A loop is saturated when its thread ran at least saturatedRun of a
	// window and ran or waited for a CPU at least saturatedBusy of it. The
	// first bound keeps a loop that mostly waits behind busy neighbours
	// (which another loop would only crowd further) from counting as one.
	saturatedRun  = 0.40
	saturatedBusy = 0.85
	activateAfter = 2
	parkBelow     = 0.30
	parkAfter     = 10
	// A saturated loop with no resting loop left moves a quarter of its
	// clients to the least busy serving loop when that one runs less than
	// half as much: clients that left one loop can leave it with most of
	// the load.
	rebalanceShare = 4
)

// balance is a loop's part in deciding how many loops serve. Everything in
// it is the loop's own; the other loops read loop.ran.
type balance struct {
	// statfd is the loop thread's /proc/thread-self/schedstat, -1 when it
	// cannot be read.
	statfd          int
	ran, waited, at int64 // the last sample: run and wait in ns, when
	hot, cool       int   // windows in a row saturated, or light enough to rest
	// moveLeft clients are still to move, to moveTo; moveAll moves every
	// one, each to the serving loop with the fewest (the loop rests).
	moveLeft int
	moveTo   *loop
	moveAll  bool
}

// threadLoad is what a loop's thread did over the window since the last
// sample: the share of it spent running, and running or waiting for a CPU.
type threadLoad struct {
	run, busy float64
}

// openSchedstat opens the calling thread's scheduler statistics, or returns
// -1. The loop's thread calls it after locking itself to that thread.
func openSchedstat() int {
	fd, err := syscall.Open("/proc/thread-self/schedstat", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	var buf [96]byte
	if _, _, ok := readSchedstat(fd, buf[:]); !ok {
		_ = syscall.Close(fd)
		return -1
	}
	return fd
}

// readSchedstat reads the run time and the wait for a CPU, in ns, from an
// open schedstat file ("run wait timeslices\n").
func readSchedstat(fd int, buf []byte) (run, wait int64, ok bool) {
	n, err := syscall.Pread(fd, buf, 0)
	if err != nil || n <= 0 {
		return 0, 0, false
	}
	return parseSchedstat(buf[:n])
}

func parseSchedstat(b []byte) (run, wait int64, ok bool) {
	var fields [2]int64
	for i := range fields {
		j := 0
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		if j == 0 || j == len(b) || b[j] != ' ' {
			return 0, 0, false
		}
		v, err := strconv.ParseInt(string(b[:j]), 10, 64)
		if err != nil {
			return 0, 0, false
		}
		fields[i], b = v, b[j+1:]
	}
	return fields[0], fields[1], true
}

// schedstatLoad samples the loop thread's schedstat; false for the first
// sample, or when it cannot be read.
func schedstatLoad(lp *loop) (threadLoad, bool) {
	b := &lp.bal
	var buf [96]byte
	run, wait, ok := readSchedstat(b.statfd, buf[:])
	if !ok {
		return threadLoad{}, false
	}
	prevAt, prevRan, prevWaited := b.at, b.ran, b.waited
	b.at, b.ran, b.waited = lp.now, run, wait
	span := float64(lp.now - prevAt)
	if prevAt == 0 || span <= 0 {
		return threadLoad{}, false
	}
	return threadLoad{run: float64(run-prevRan) / span, busy: float64(run-prevRan+wait-prevWaited) / span}, true
}

// serving is how many loops serve now: ls.loops[:serving].
func (ls *Loops) serving() int { return int(ls.servingLoops.Load()) }

// balance runs at each sweep of an adaptive loop: it samples the loop's
// thread, publishes its load and decides whether a loop starts or rests.
func (lp *loop) balance() {
	ls := lp.ls
	load, ok := ls.loadOf(lp)
	if !ok {
		return
	}
	lp.ran.Store(uint32(load.run * 1000))
	b := &lp.bal
	k := ls.serving()
	if lp.index >= k {
		b.moveAll, b.hot, b.cool = true, 0, 0
		return
	}
	b.moveAll = false
	if load.run >= saturatedRun && load.busy >= saturatedBusy {
		b.hot++
	} else {
		b.hot = 0
	}
	if b.hot >= activateAfter {
		b.hot = 0
		lp.relieve(k)
	}
	if lp.index == k-1 && k > 1 && lp.restable(k) {
		b.cool++
	} else {
		b.cool = 0
	}
	if b.cool >= parkAfter && ls.servingLoops.CompareAndSwap(int32(k), int32(k-1)) {
		b.cool, b.moveAll, b.moveLeft = 0, true, 0
		ls.cfg.Log.Debug("edge loop rests", "component", "proxy", "loop", lp.index, "serving", k-1)
	}
}

// relieve moves part of a saturated loop's clients away: half to a loop it
// puts to work, or a quarter to a serving loop that runs less than half as
// much.
func (lp *loop) relieve(k int) {
	ls, b := lp.ls, &lp.bal
	if k < len(ls.loops) && ls.servingLoops.CompareAndSwap(int32(k), int32(k+1)) {
		b.moveTo, b.moveLeft = ls.loops[k], int(lp.clients.Load()/2)
		ls.cfg.Log.Debug("edge loop starts serving", "component", "proxy", "loop", k, "serving", k+1, "from", lp.index)
		return
	}
	own := lp.ran.Load()
	var calm *loop
	for _, o := range ls.loops[:k] {
		if o != lp && o.ran.Load() < own/2 && (calm == nil || o.ran.Load() < calm.ran.Load()) {
			calm = o
		}
	}
	if calm != nil {
		b.moveTo, b.moveLeft = calm, int(lp.clients.Load()/rebalanceShare)
	}
}

// restable says the serving loops together ran less than parkBelow of a
// CPU per loop that would remain if the newest rested.
func (lp *loop) restable(k int) bool {
	var total uint32
	for _, o := range lp.ls.loops[:k] {
		total += o.ran.Load()
	}
	return float64(total)/1000 < parkBelow*float64(k-1)
}

// moving says a client between exchanges should leave this loop.
func (lp *loop) moving() bool { return lp.bal.moveAll || lp.bal.moveLeft > 0 }

// move hands c, between two exchanges with nothing of it buffered, to
// another loop; false leaves it here.
func (lp *loop) move(c *clientConn) bool {
	ls, b := lp.ls, &lp.bal
	if c.state != stIdle || c.r != c.w || c.up != nil || c.pipe != nil || c.rdhup || c.hup || ls.draining.Load() {
		return false
	}
	if b.moveAll && lp.index < ls.serving() {
		// Put back to work since its last sweep: the clients stay.
		b.moveAll = false
		return false
	}
	var to *loop
	switch {
	case b.moveAll:
		to = ls.pick(lp) // lp rests: a serving loop
	case b.moveTo.index >= ls.serving():
		b.moveLeft = 0 // the loop it was relieved to rests again
		return false
	default:
		to = b.moveTo
		to.clients.Add(1)
	}
	c.leaveLoop()
	// The new registration reports what the socket is ready for.
	c.readable, c.writable = false, false
	if !b.moveAll {
		b.moveLeft--
	}
	if !ls.deliver(to, c) {
		// The loops are stopping.
		to.clients.Add(-1)
		lp.clients.Add(1)
		c.close()
	}
	return true
}

// size sets how many loops serve at first: all of them, or one when they
// adapt. Adapting needs the threads' schedstat; without it, half serve.
func (ls *Loops) size(adaptive bool) {
	n := len(ls.loops)
	ls.loadOf = schedstatLoad
	if adaptive && n > 1 {
		if fd := openSchedstat(); fd >= 0 {
			_ = syscall.Close(fd)
			ls.adaptive = true
			ls.servingLoops.Store(1)
			return
		}
		n = max(1, n/2)
	}
	ls.servingLoops.Store(int32(n))
}

// Serving is how many loops serve now.
func (ls *Loops) Serving() int { return ls.serving() }
