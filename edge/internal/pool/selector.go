package pool

import "sync/atomic"

// Selector picks the upstream for the next request.
type Selector interface {
	// Next returns a healthy upstream not in tried, or nil.
	Next(tried []*Upstream) *Upstream
}

var _ Selector = (*RoundRobin)(nil)

// RoundRobin rotates through the pool's healthy upstreams, one per request.
type RoundRobin struct {
	pool *Pool
	n    atomic.Uint64
}

// NewRoundRobin selects from p.
func NewRoundRobin(p *Pool) *RoundRobin { return &RoundRobin{pool: p} }

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
