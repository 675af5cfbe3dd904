package pool

import "sync/atomic"

// Selector picks the upstream for the next request.
type Selector interface {
	// Next returns a healthy upstream not in tried, or nil.
	Next(tried []*Upstream) *Upstream
}

var _ Selector = (*RoundRobin)(nil)

// Forker is a Selector that makes copies of itself for single threads (the
// edge's event loops): a copy picks as the original does from the same
// upstreams, but keeps its own state, so threads on different CPUs do not
// write one shared counter at every request.
type Forker interface {
	Selector
	Fork() Selector
}

var _ Forker = (*RoundRobin)(nil)

// RoundRobin rotates through the pool's healthy upstreams, one per request.
type RoundRobin struct {
	pool *Pool
	n    atomic.Uint64
}

// NewRoundRobin selects from p.
func NewRoundRobin(p *Pool) *RoundRobin { return &RoundRobin{pool: p} }

// Fork implements Forker: the copy rotates through the same pool with a
// counter of its own, starting one step past this one's, so copies made one
// after another start on different upstreams.
func (r *RoundRobin) Fork() Selector {
	f := &RoundRobin{pool: r.pool}
	f.n.Store(r.n.Add(1))
	return f
}

// Next implements Selector.
func (r *RoundRobin) Next(tried []*Upstream) *Upstream {
	list := r.pool.Snapshot()
	n := len(list)
	if n == 0 {
		return nil
	}
	start := int(r.n.Add(1) % uint64(n))
	for i := 0; i < n; i++ {
		u := list[(start+i)%n]
		if !u.Healthy() || contains(tried, u) {
			continue
		}
		return u
	}
	return nil
}

func contains(list []*Upstream, u *Upstream) bool {
	for _, x := range list {
		if x == u {
			return true
		}
	}
	return false
}
