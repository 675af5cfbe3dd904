package pool

import (
	"strconv"
	"testing"
	"time"

	"github.com/madbase/madbase/shared/logging"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A fork of a RoundRobin rotates through the same upstreams with a counter
// of its own, and forks made one after another start apart.
func TestRoundRobinFork(t *testing.T) {
	p := New(&Transport{}, logging.Discard())
	now := time.Now()
	for i, id := range []string{"a", "b", "c"} {
		p.Beat(id, "http://127.0.0.1:"+strconv.Itoa(1001+i), false, now)
	}
	require.Len(t, p.Snapshot(), 3)
	rr := NewRoundRobin(p)
	f1, f2 := rr.Fork(), rr.Fork()
	round := func(s Selector) []string {
		var ids []string
		for range 3 {
			ids = append(ids, s.Next(nil).ID)
		}
		return ids
	}
	before := rr.n.Load()
	a, b := round(f1), round(f2)
	assert.ElementsMatch(t, []string{"a", "b", "c"}, a)
	assert.ElementsMatch(t, []string{"a", "b", "c"}, b)
	assert.NotEqual(t, a[0], b[0])
	assert.Equal(t, before, rr.n.Load(), "a fork does not write the original's counter")

	// A fork skips what was tried, as the original does.
	u := f1.Next(nil)
	next := f1.Next([]*Upstream{u})
	require.NotNil(t, next)
	assert.NotEqual(t, u.ID, next.ID)
}
