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
	mu       sync.Mutex
	warns    int
	attempts []int64
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *countingHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelWarn {
		h.mu.Lock()
		h.warns++
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "attempt" {
				h.attempts = append(h.attempts, a.Value.Int64())
			}
			return true
		})
		h.mu.Unlock()
	}
	return nil
}

func TestWaitForDatabaseGivesUp(t *testing.T) {
	t.Parallel()
	h := &countingHandler{Handler: slog.DiscardHandler}
	start := time.Now()
	err := waitForDatabase(context.Background(), "postgres://u:secret@127.0.0.1:1/app?connect_timeout=1", 3500*time.Millisecond, slog.New(h))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "127.0.0.1:1/app not reachable after 3.5s")
	assert.NotContains(t, err.Error(), "secret")
	assert.GreaterOrEqual(t, time.Since(start), 3500*time.Millisecond)
	h.mu.Lock()
	// Several attempts, one line: the next comes with attempt 10.
	assert.Equal(t, 1, h.warns, "the waiting is said once, not once an attempt")
	assert.Equal(t, []int64{1}, h.attempts)
	h.mu.Unlock()
}
