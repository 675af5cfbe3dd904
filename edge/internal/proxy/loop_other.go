//go:build !linux

package proxy

import (
	"context"
	"net"
	"time"
)

// Loops needs Linux (epoll, splice, eventfd). Elsewhere NewLoops says so
// and the fasthttp server serves every connection.
type Loops struct{}

// NewLoops reports ErrLoopsUnsupported.
func NewLoops(*Proxy, net.Listener, int, time.Duration) (*Loops, error) {
	return nil, ErrLoopsUnsupported
}

// Handoff is never called: there are no loops.
func (*Loops) Handoff() net.Listener { return nil }

// Run is never called: there are no loops.
func (*Loops) Run() {}

// Shutdown is never called: there are no loops.
func (*Loops) Shutdown(context.Context) {}
