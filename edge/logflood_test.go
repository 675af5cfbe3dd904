package edge_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/madbase/madbase/bus/bustest"
	"github.com/madbase/madbase/edge"
	"github.com/madbase/madbase/shared/config"
	"github.com/madbase/madbase/shared/logging/logtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every request failing (here: no worker at all) writes a few warnings and
// a count, not one warning per request.
func TestEdgeSummarisesRepeatedWarnings(t *testing.T) {
	ns := bustest.RunServer(t)
	var cfg config.Edge
	require.NoError(t, config.Load(&cfg, config.Map(map[string]string{
		"NATS_URL": ns.URL(), "LOG_LEVEL": "warn", "CONTROL_UPSTREAM_URL": "", "EDGE_EVENT_LOOPS": "-1",
	})))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	out := &logtest.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- edge.Run(ctx, cfg, edge.Options{Listener: ln, LogOut: out}) }()

	const n = 500
	for range n {
		r, err := http.Get("http://" + ln.Addr().String() + "/rest/v1/items")
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
		require.Equal(t, http.StatusServiceUnavailable, r.StatusCode)
	}
	cancel()
	require.NoError(t, <-done)

	warnings := strings.Count(out.String(), `"msg":"proxy error"`)
	assert.Positive(t, warnings)
	assert.LessOrEqual(t, warnings, 10, "a few warnings, not one per request")
	assert.Contains(t, out.String(), `"msg":"proxy error (repeated `, "the rest are counted when the edge stops")
}
