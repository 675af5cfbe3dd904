package auth

import (
	"context"
	"runtime"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// threadNice is the nice value of the calling thread.
func threadNice(t *testing.T) int {
	t.Helper()
	prio, err := syscall.Getpriority(syscall.PRIO_PROCESS, 0) // 0: this thread
	require.NoError(t, err)
	return 20 - prio // the raw system call returns 20 - nice
}

func TestHashThreadsRunAtLowPriority(t *testing.T) {
	p := newHasher(0, nil).pool()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	base := threadNice(t)
	want := min(base+hashNice, 19)

	// One job per slot, all held until every slot has one, so each runs on
	// its own hash thread.
	type seen struct{ tid, nice int }
	var mu sync.Mutex
	var got []seen
	var all sync.WaitGroup
	all.Add(p.size)
	var wg sync.WaitGroup
	for range p.size {
		wg.Add(1)
		go func() {
			defer wg.Done()
			assert.NoError(t, p.run(context.Background(), func() {
				all.Done()
				all.Wait()
				prio, err := syscall.Getpriority(syscall.PRIO_PROCESS, 0)
				assert.NoError(t, err)
				mu.Lock()
				got = append(got, seen{syscall.Gettid(), 20 - prio})
				mu.Unlock()
			}))
		}()
	}
	wg.Wait()
	tids := map[int]bool{}
	for _, s := range got {
		assert.Equal(t, want, s.nice, "hash thread %d", s.tid)
		tids[s.tid] = true
	}
	assert.Len(t, tids, p.size, "each slot has its own thread")
	assert.NotContains(t, tids, syscall.Gettid())

	// The rest of the process keeps its priority, and has as many Ps for
	// itself as before the pool.
	assert.Equal(t, base, threadNice(t))
	assert.Equal(t, p.procs+p.size, runtime.GOMAXPROCS(0))
	done := make(chan int)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		done <- threadNice(t)
	}()
	assert.Equal(t, base, <-done)
}
