//go:build !linux

package eventloop

import (
	"context"
	"net"
	"time"

	"github.com/madbase/madbase/edge/internal/proxy"
)

// Loops needs Linux (epoll, splice, eventfd). Elsewhere New says so and the
// fasthttp server serves every connection.
type Loops struct{}

// Size is how many event loops run.
type Size struct {
	Loops    int
	Adaptive bool
}

// New reports ErrUnsupported.
func New(*proxy.Proxy, net.Listener, Size, time.Duration) (*Loops, error) {
	return nil, ErrUnsupported
}

// Handoff is never called: there are no loops.
func (*Loops) Handoff() net.Listener { return nil }

// Run is never called: there are no loops.
func (*Loops) Run() {}

// Shutdown is never called: there are no loops.
func (*Loops) Shutdown(context.Context) {}

// Clients is never called: there are no loops.
func (*Loops) Clients() int64 { return 0 }

// Serving is never called: there are no loops.
func (*Loops) Serving() int { return 0 }
