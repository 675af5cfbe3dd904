package edge_test

import (
	"runtime"
	"testing"

	"github.com/madbase/madbase/edge"
	"github.com/madbase/madbase/edge/internal/eventloop"
	"github.com/stretchr/testify/assert"
)

// TestEventLoopsSetting: EDGE_EVENT_LOOPS=0 is a loop per CPU serving as
// the load asks, one fewer when GOMAXPROCS is fixed by the environment (no
// spare P can be added then); a count is that many loops, always serving.
func TestEventLoopsSetting(t *testing.T) {
	procs := runtime.GOMAXPROCS(0)
	t.Setenv("GOMAXPROCS", "")
	assert.Equal(t, eventloop.Size{Loops: procs, Adaptive: true}, edge.EventLoops(0))
	assert.Equal(t, eventloop.Size{Loops: 3}, edge.EventLoops(3))
	assert.Equal(t, eventloop.Size{}, edge.EventLoops(-1))

	t.Setenv("GOMAXPROCS", "4")
	assert.Equal(t, eventloop.Size{Loops: max(procs-1, 1), Adaptive: true}, edge.EventLoops(0))
}
