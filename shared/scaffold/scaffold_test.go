package scaffold

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/madbase/madbase/bus/bustest"
	"github.com/madbase/madbase/shared/config"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestURL(t *testing.T) {
	for addr, want := range map[string]string{
		"0.0.0.0:8000":   "http://127.0.0.1:8000",
		"[::]:8000":      "http://127.0.0.1:8000",
		"127.0.0.1:8002": "http://127.0.0.1:8002",
		"10.0.0.5:80":    "http://10.0.0.5:80",
		"[fd00::2]:9":    "http://[fd00::2]:9",
	} {
		a, err := net.ResolveTCPAddr("tcp", addr)
		require.NoError(t, err)
		assert.Equal(t, want, URL(a), addr)
	}
}

// A tier opens its base with NATS away, and closes it without waiting for
// NATS; the listener, the registry and the log drop counter are there.
func TestOpenAndCloseWithNATSDown(t *testing.T) {
	ns := bustest.RunRestartable(t)
	ns.Stop()
	b, err := Open(Config{Tier: "edge", Common: config.Common{NATSURL: ns.URL(), LogLevel: "info", LogFormat: "json"}, Host: "127.0.0.1"},
		Options{LogOut: io.Discard})
	require.NoError(t, err)
	assert.Regexp(t, `^http://127\.0\.0\.1:\d+$`, b.URL)
	assert.Regexp(t, `^edge-`, b.ID)
	mfs, err := b.Registry.Gather()
	require.NoError(t, err)
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	assert.True(t, names["madbase_edge_log_records_dropped_total"])
	b.Log.Info("before close")

	closed := make(chan struct{})
	go func() { b.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(DrainTimeout):
		t.Fatal("Close waited for NATS")
	}
	assert.True(t, b.NATS.IsClosed())
	require.NoError(t, b.Listener.Close())
}

// Open fails with the listener's error, leaving nothing behind.
func TestOpenListenError(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	port := busy.Addr().(*net.TCPAddr).Port
	_, err = Open(Config{Tier: "worker", Common: config.Common{NATSURL: "nats://127.0.0.1:1", LogLevel: "info", LogFormat: "json"}, Host: "127.0.0.1", Port: port},
		Options{LogOut: io.Discard})
	assert.ErrorContains(t, err, "worker listen on 127.0.0.1:")
}
