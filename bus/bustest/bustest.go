// Package bustest helps tests run an embedded NATS server and wait for
// asynchronous outcomes without bare sleeps.
package bustest

import (
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/madbase/madbase/bus/embedded"
	"github.com/nats-io/nats.go"
)

// RunServer starts an embedded NATS server on a free port with logs off and
// stops it when the test ends.
func RunServer(t testing.TB) *embedded.Server {
	t.Helper()
	s, err := embedded.Start(embedded.Options{})
	if err != nil {
		t.Fatalf("start embedded nats: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Connect opens a plain client connection to s, closed when the test ends.
func Connect(t testing.TB, s *embedded.Server) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(s.URL())
	if err != nil {
		t.Fatalf("connect nats: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// Eventually polls fn every 20ms until it returns true or timeout passes, then
// fails the test with msg.
func Eventually(t testing.TB, timeout time.Duration, fn func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if fn() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not true within %s: "+msg, append([]any{timeout}, args...)...)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Restartable is an embedded NATS server that a test stops and starts again
// on the same port, to play an outage of the bus: clients made with
// bus.Connect reconnect to it once it is back.
type Restartable struct {
	t    testing.TB
	port int
	mu   sync.Mutex
	srv  *embedded.Server
}

// RunRestartable starts a restartable server on a free port; it is stopped
// when the test ends.
func RunRestartable(t testing.TB) *Restartable {
	t.Helper()
	s, err := embedded.Start(embedded.Options{})
	if err != nil {
		t.Fatalf("start embedded nats: %v", err)
	}
	r := &Restartable{t: t, port: s.Addr().(*net.TCPAddr).Port, srv: s}
	t.Cleanup(r.Stop)
	return r
}

// URL is the server's client URL, the same across restarts.
func (r *Restartable) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", r.port) }

// Stop shuts the server down, closing every client connection; it does
// nothing when the server is already stopped.
func (r *Restartable) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.srv != nil {
		r.srv.Stop()
		r.srv = nil
	}
}

// Start brings a stopped server back on the same port.
func (r *Restartable) Start() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.srv != nil {
		return
	}
	s, err := embedded.Start(embedded.Options{Port: r.port})
	if err != nil {
		r.t.Fatalf("restart embedded nats on port %d: %v", r.port, err)
	}
	r.srv = s
}

// Server is the running server, or nil while it is stopped.
func (r *Restartable) Server() *embedded.Server {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.srv
}
