package control

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type countingHandler struct {
	slog.Handler
	mu    sync.Mutex
	warns int
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *countingHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelWarn {
		h.mu.Lock()
		h.warns++
		h.mu.Unlock()
	}
	return nil
}

func TestWaitForDatabaseGivesUp(t *testing.T) {
	t.Parallel()
	h := &countingHandler{Handler: slog.DiscardHandler}
	start := time.Now()
	err := waitForDatabase(context.Background(), "postgres://u:secret@127.0.0.1:1/app?connect_timeout=1", 1500*time.Millisecond, slog.New(h))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "127.0.0.1:1/app not reachable after 1.5s")
	assert.NotContains(t, err.Error(), "secret")
	assert.GreaterOrEqual(t, time.Since(start), 1500*time.Millisecond)
	h.mu.Lock()
	assert.GreaterOrEqual(t, h.warns, 1, "each failed attempt is logged at warn")
	h.mu.Unlock()
}
