package cli

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/madbase/madbase/bus"
	"github.com/madbase/madbase/bus/bustest"
	"github.com/madbase/madbase/shared/logging/logtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLogsFollowFiltersAndPrettyPrints(t *testing.T) {
	ns := bustest.RunServer(t)
	nc := bustest.Connect(t, ns)
	t.Setenv("NATS_URL", ns.URL())
	t.Setenv("MADBASE_DATA_DIR", t.TempDir())
	var out, errOut logtest.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runLogs(ctx, []string{"-f", "--tier", "worker", "--level", "warn"}, &out, &errOut) }()
	bustest.Eventually(t, 5*time.Second, func() bool { return strings.Contains(errOut.String(), "following") }, "logs -f subscribed")

	publish := func(tier, level, msg string) {
		rec := `{"time":"2026-11-28T10:00:00Z","level":"` + level + `","msg":"` + msg + `","tier":"` + tier + `","instance":"i1","request_id":"r9"}`
		require.NoError(t, nc.Publish(bus.Logs(tier, "i1"), []byte(rec)))
	}
	publish("worker", "INFO", "too quiet")
	publish("edge", "ERROR", "other tier")
	publish("worker", "ERROR", "db down")
	require.NoError(t, nc.Flush())
	bustest.Eventually(t, 5*time.Second, func() bool { return strings.Contains(out.String(), "db down") }, "record printed")
	cancel()
	require.NoError(t, <-done)
	got := out.String()
	assert.Contains(t, got, "ERROR worker/i1 db down request_id=r9")
	assert.NotContains(t, got, "too quiet")
	assert.NotContains(t, got, "other tier")
}

func TestLogsWithoutAnySourceIsAUsageError(t *testing.T) {
	t.Setenv("NATS_URL", "")
	t.Setenv("CONTROL_UPSTREAM_URL", "")
	t.Setenv("ADMIN_PASSWORD", "")
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	t.Chdir(t.TempDir())
	t.Setenv("MADBASE_DATA_DIR", "")
	require.NoError(t, os.Unsetenv("MADBASE_DATA_DIR")) // restored by t.Setenv
	var out, errOut bytes.Buffer
	for _, args := range [][]string{{"-f"}, nil} {
		err := runLogs(context.Background(), args, &out, &errOut)
		assert.ErrorIs(t, err, errUsage)
		assert.ErrorContains(t, err, "no madbase dev is running")
	}
	assert.Equal(t, 2, Main([]string{"nonsense"}, &out, &errOut))
}
