package pool

import (
	"testing"
	"time"

	"github.com/madbase/madbase/shared/logging"
	"github.com/stretchr/testify/assert"
)

func known(p *Pool) int { n, _ := p.Counts(); return n }

// While the bus is down no worker is dropped for missing beats; when it is
// back, each gets maxAge from then on to beat again.
func TestPruneWaitsForTheBus(t *testing.T) {
	p := New(&Transport{}, logging.Discard())
	t0 := time.Unix(1000, 0)
	maxAge := 3 * time.Second
	p.Beat("a", "http://127.0.0.1:1", false, t0)
	p.Beat("b", "http://127.0.0.1:2", false, t0)

	p.SetBus(false, t0.Add(time.Second))
	p.Prune(t0.Add(time.Minute), maxAge)
	assert.Equal(t, 2, known(p), "kept while the bus is down")

	back := t0.Add(time.Minute)
	p.SetBus(true, back)
	p.Prune(back.Add(maxAge), maxAge)
	assert.Equal(t, 2, known(p), "a fresh grace period after the bus is back")

	p.Beat("a", "http://127.0.0.1:1", false, back.Add(2*time.Second))
	p.Prune(back.Add(maxAge+time.Millisecond), maxAge)
	assert.Equal(t, 1, known(p), "b, silent since the bus came back, is dropped")
	assert.Equal(t, "a", p.Snapshot()[0].ID)
}
