// Package bustest helps tests run an embedded NATS server and wait for
// asynchronous outcomes without bare sleeps.
package bustest

import (
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
