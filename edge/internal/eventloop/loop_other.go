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

// New reports ErrUnsupported.
func New(*proxy.Proxy, net.Listener, int, time.Duration) (*Loops, error) {
	return nil, ErrUnsupported
}

// Handoff is never called: there are no loops.
func (*Loops) Handoff() net.Listener { return nil }

// Run is never called: there are no loops.
func (*Loops) Run() {}

// Shutdown is never called: there are no loops.
func (*Loops) Shutdown(context.Context) {}
