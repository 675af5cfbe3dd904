//go:build linux

package auth

import (
	"context"
	"log/slog"
	"runtime"
	"syscall"
)

// hashNice is how much nicer than the rest of the process the hash threads
// run. At nice 10 the kernel gives a runnable request thread (nice 0) about
// nine tenths of a contended core (CFS weights 1024 and 110), and PostgreSQL
// and the edge the same, while an idle CPU still goes to hashing whole.
// Measured with apibench on 2 cores, GET /user from 4 clients during a
// 32-client sign-in burst kept 0.6-0.7× of its rate alone at nice 5,
// 0.7-1.1× at 10 and 0.8-0.9× at 15; sign-in throughput stayed within the
// run-to-run noise (0.88-1.04× the bcrypt bound) at all three.
const hashNice = 10

// hashPool runs password hashes on its own goroutines, each locked to an OS
// thread of lowered priority. A bcrypt at cost 10 is ~70 ms of CPU that
// cannot be paused, so capping how many run at once alone either starves
// other requests (a slot per CPU) or halves sign-in throughput (fewer
// slots); at low priority, hashes use all the CPU that nothing else wants.
type hashPool struct {
	size  int
	procs int // GOMAXPROCS before the pool raised it
	jobs  chan *hashJob
}

// hashJob is a function to run on a hash thread. done is closed once the
// thread is finished with it; ran says whether fn ran (it does not when the
// job's context ended before a thread took it up).
type hashJob struct {
	ctx  context.Context
	fn   func()
	ran  bool
	done chan struct{}
}

// startHashPool starts n hash threads and raises GOMAXPROCS by n: a goroutine
// computing a hash holds a P even while the kernel runs other threads, and
// request goroutines must not wait behind it for one.
func startHashPool(n int, log *slog.Logger) *hashPool {
	p := &hashPool{size: n, procs: runtime.GOMAXPROCS(0), jobs: make(chan *hashJob)}
	runtime.GOMAXPROCS(p.procs + n)
	ready := make(chan error, n)
	for range n {
		go p.thread(ready)
	}
	failed := 0
	var first error
	for range n {
		if err := <-ready; err != nil {
			failed++
			if first == nil {
				first = err
			}
		}
	}
	if first != nil {
		log.Warn("password hash threads run at normal priority", "threads", failed, "error", first)
	}
	return p
}

// thread is a hash thread. It keeps its OS thread locked for the life of the
// process: the priority belongs to the thread, and the runtime creates new
// threads from a clean template thread, not from a locked one, so no other
// goroutine runs at the lowered priority.
func (p *hashPool) thread(ready chan<- error) {
	runtime.LockOSThread()
	ready <- lowerThreadPriority(hashNice)
	for j := range p.jobs {
		if j.ctx.Err() == nil {
			j.fn()
			j.ran = true
		}
		close(j.done)
	}
}

// lowerThreadPriority raises the calling thread's nice value by by, to at
// most 19. On
// Linux, PRIO_PROCESS with a thread id changes that thread only, and raising
// nice needs no privilege.
func lowerThreadPriority(by int) error {
	tid := syscall.Gettid()
	prio, err := syscall.Getpriority(syscall.PRIO_PROCESS, tid)
	if err != nil {
		return err
	}
	nice := min(20-prio+by, 19) // the raw system call returns 20 - nice
	return syscall.Setpriority(syscall.PRIO_PROCESS, tid, nice)
}

// run runs fn on a hash thread. It returns ctx's error without running fn if
// ctx ends before a thread is free, and without waiting for fn if ctx ends
// while fn runs (the thread finishes it and the result is dropped).
func (p *hashPool) run(ctx context.Context, fn func()) error {
	j := &hashJob{ctx: ctx, fn: fn, done: make(chan struct{})}
	select {
	case p.jobs <- j:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-j.done:
		if !j.ran {
			return ctx.Err()
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
