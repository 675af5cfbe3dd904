package projects

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/madbase/madbase/shared/apierr"
)

// defaultBudgetWait is how long a request waits for room in the connection
// budget (another project's requests ending) before it is refused;
// budgetWait, when set, replaces it in tests.
const defaultBudgetWait = 10 * time.Second

var budgetWait atomic.Int64

// budget bounds the PostgreSQL connections a worker's open runtimes hold in
// all (PROJECT_DB_TOTAL_CONNS): each runtime takes its pool's most and one
// for the REST schema listener when it opens, and gives them back once its
// pool is closed. A limit of 0 bounds nothing.
type budget struct {
	limit int

	mu   sync.Mutex
	used int
	// freed is closed, and replaced, whenever connections are given back.
	freed     chan struct{}
	evictions int64
	// waiting counts the requests waiting for room: a runtime whose last
	// request ends wakes them, as it may be closed now.
	waiting atomic.Int32
}

func newBudget(limit int) *budget {
	return &budget{limit: limit, freed: make(chan struct{})}
}

// tryTake takes n connections if they fit.
func (b *budget) tryTake(n int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.limit > 0 && b.used+n > b.limit {
		return false
	}
	b.used += n
	return true
}

// force takes n connections whether or not they fit: a runtime replacing
// another of the same project, which gives its own back right after.
func (b *budget) force(n int) {
	b.mu.Lock()
	b.used += n
	b.mu.Unlock()
}

// release gives n connections back and wakes the waiters.
func (b *budget) release(n int) {
	b.mu.Lock()
	b.used -= n
	close(b.freed)
	b.freed = make(chan struct{})
	b.mu.Unlock()
}

// idle tells the waiters, if any, that a runtime has no request in flight
// any more: they may close it.
func (b *budget) idle() {
	if b.waiting.Load() > 0 {
		b.release(0)
	}
}

// waitFreed is closed at the next release.
func (b *budget) waitFreed() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.freed
}

func (b *budget) snapshot() (used, limit int, evictions int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used, b.limit, b.evictions
}

// reserve makes room for n connections of p's runtime: when they do not
// fit, the least recently used idle runtime of another project is closed
// and its connections awaited; when every open runtime is busy, it waits
// for one to finish, up to budgetWait. Caller holds p.mu.
func (m *Manager) reserve(ctx context.Context, p *project, n int) error {
	wait := time.Duration(budgetWait.Load())
	if wait == 0 {
		wait = defaultBudgetWait
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	m.budget.waiting.Add(1)
	defer m.budget.waiting.Add(-1)
	for {
		freed := m.budget.waitFreed()
		if m.budget.tryTake(n) {
			return nil
		}
		m.evictIdle(p)
		select {
		case <-freed:
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return apierr.Unavailable("this worker's connections to projects' databases (PROJECT_DB_TOTAL_CONNS=" +
				strconv.Itoa(m.budget.limit) + ") are all in use by other projects' requests; try again")
		}
	}
}

// evictIdle closes the least recently used runtime, other than except's,
// with no request in flight and no open socket. It reports whether one was
// closed; its connections come back once its pool is closed.
func (m *Manager) evictIdle(except *project) bool {
	skip := map[*project]bool{except: true}
	for {
		var victim *project
		var vrt *runtime
		for _, p := range m.state.Load().projects {
			rt := p.rt.Load()
			if skip[p] || rt == nil || rt.closing.Load() || rt.inFlight.Load() > 0 {
				continue
			}
			if vrt == nil || rt.lastUsed.Load() < vrt.lastUsed.Load() {
				victim, vrt = p, rt
			}
		}
		if victim == nil {
			return false
		}
		// Open realtime sockets keep a runtime; another request may be
		// opening the victim: pass it over rather than wait on it while
		// holding except's lock.
		if vrt.sockets() > 0 || !victim.mu.TryLock() {
			skip[victim] = true
			continue
		}
		closed := false
		if victim.rt.Load() == vrt && vrt.inFlight.Load() == 0 {
			victim.rt.Store(nil)
			vrt.close()
			closed = true
		}
		victim.mu.Unlock()
		if closed {
			m.budget.mu.Lock()
			m.budget.evictions++
			m.budget.mu.Unlock()
			m.log.Info("projects: closing the least recently used project to make room for another",
				"project", victim.ref, "for", except.ref)
			return true
		}
	}
}
