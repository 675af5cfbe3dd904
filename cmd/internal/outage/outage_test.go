// Package outage_test runs the edge and real workers together through an
// outage of NATS: the request path must not depend on the bus.
package outage_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/madbase/madbase/bus"
	"github.com/madbase/madbase/bus/bustest"
	"github.com/madbase/madbase/edge"
	"github.com/madbase/madbase/shared/config"
	"github.com/madbase/madbase/worker"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tier runs one tier's Run in the background until the test ends.
func tier(t *testing.T, run func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("tier stopped with: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("tier did not stop within 30s")
		}
	})
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	return ln
}

// startWorker starts a worker without a database and returns its URL once
// it serves; it fails the test when ready never comes.
func startWorker(t *testing.T, natsURL, id string) string {
	t.Helper()
	var cfg config.Worker
	require.NoError(t, config.Load(&cfg, config.Map(map[string]string{
		"NATS_URL": natsURL, "JWT_SECRET": "outage-test-secret-0123456789abcdef0123", "STORAGE_DIR": t.TempDir(),
		"INSTANCE_ID": id, "LOG_LEVEL": "error", "SHUTDOWN_GRACE": "1s",
	})))
	ready := make(chan string, 1)
	ln := listen(t)
	tier(t, func(ctx context.Context) error {
		return worker.Run(ctx, cfg, worker.Options{Listener: ln, Dev: true, LogOut: io.Discard, Ready: func(u string) { ready <- u }})
	})
	select {
	case u := <-ready:
		return u
	case <-time.After(10 * time.Second):
		t.Fatalf("worker %s not serving within 10s", id)
		return ""
	}
}

func get(url string) (status int, workerID string) {
	r, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer r.Body.Close()
	_, _ = io.Copy(io.Discard, r.Body)
	return r.StatusCode, r.Header.Get("X-Madbase-Worker")
}

// The edge and a worker serve through a NATS outage longer than the
// heartbeat timeout without one failed request; a worker started during the
// outage serves its /health at once, and the edge sends it requests once
// NATS is back.
func TestTiersServeThroughNATSOutage(t *testing.T) {
	ns := bustest.RunRestartable(t)
	var ecfg config.Edge
	require.NoError(t, config.Load(&ecfg, config.Map(map[string]string{
		"NATS_URL": ns.URL(), "CONTROL_UPSTREAM_URL": "", "LOG_LEVEL": "error", "SHUTDOWN_GRACE": "1s",
	})))
	eln := listen(t)
	edgeURL := "http://" + eln.Addr().String()
	tier(t, func(ctx context.Context) error {
		return edge.Run(ctx, ecfg, edge.Options{Listener: eln, LogOut: io.Discard})
	})
	startWorker(t, ns.URL(), "worker-a")
	api := edgeURL + "/auth/v1/health"
	bustest.Eventually(t, 10*time.Second, func() bool { s, _ := get(api); return s == 200 }, "the edge routes to worker-a")

	ns.Stop()
	down := time.Now()
	urlB := startWorker(t, ns.URL(), "worker-b")
	status, _ := get(urlB + "/health")
	assert.Equal(t, 200, status, "worker-b serves while NATS is down")

	var sent int
	var failures []string
	pace := time.NewTicker(5 * time.Millisecond)
	defer pace.Stop()
	send := func() string {
		sent++
		s, id := get(api)
		if s != 200 {
			failures = append(failures, id)
		}
		<-pace.C
		return id
	}
	for time.Since(down) < 2*bus.MissedBeatsLimit*bus.HeartbeatInterval {
		send()
	}
	ns.Start()
	seenB := false
	bustest.Eventually(t, 15*time.Second, func() bool {
		seenB = seenB || send() == "worker-b"
		return seenB
	}, "the edge sends requests to worker-b once NATS is back")
	assert.Empty(t, failures, "%d of %d requests failed", len(failures), sent)
}
