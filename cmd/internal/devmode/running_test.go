package devmode

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFindRunningDev: commands run from any folder find the running dev
// through the registry, and say clearly when none runs.
func TestFindRunningDev(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	elsewhere := t.TempDir()
	_, _, err := Find(filepath.Join(elsewhere, ".madbase"), false)
	require.ErrorIs(t, err, ErrNotRunning)
	assert.Contains(t, err.Error(), "start one with `madbase dev`")

	dataDir := t.TempDir()
	lf, err := lock(dataDir)
	require.NoError(t, err)
	unregister := register(dataDir)
	require.NoError(t, writeState(dataDir, State{APIURL: "http://127.0.0.1:1", NATSURL: "nats://127.0.0.1:2", PID: os.Getpid()}))

	dir, st, err := Find(filepath.Join(elsewhere, ".madbase"), false)
	require.NoError(t, err)
	assert.Equal(t, dataDir, dir)
	assert.Equal(t, "nats://127.0.0.1:2", st.NATSURL)
	_, _, err = Find(filepath.Join(elsewhere, ".madbase"), true)
	assert.ErrorIs(t, err, ErrNotRunning, "MADBASE_DATA_DIR names the only folder to look at")

	// A second dev on the folder is told who holds it.
	_, err = lock(dataDir)
	var running *AlreadyRunningError
	require.True(t, errors.As(err, &running), "%v", err)
	assert.Equal(t, os.Getpid(), running.PID)
	assert.Contains(t, err.Error(), "madbase dev is already running on the data folder")

	// Once it stops (the lock goes with its process), nothing is found.
	require.NoError(t, lf.Close())
	_, _, err = Find(filepath.Join(elsewhere, ".madbase"), false)
	assert.ErrorIs(t, err, ErrNotRunning)
	unregister()
}

func TestWatchParent(t *testing.T) {
	const ppid = 4242
	var calls atomic.Int32
	var gone atomic.Bool
	getppid := func() int {
		calls.Add(1)
		if gone.Load() {
			return 1 // reparented to init: the go run parent is gone
		}
		return ppid
	}
	done := make(chan error, 1)
	go func() {
		done <- watchParent(ppid, getppid, time.Millisecond, slog.New(slog.NewTextHandler(io.Discard, nil)))(t.Context())
	}()
	for calls.Load() < 5 {
		select {
		case <-done:
			t.Fatal("stopped while the parent lives")
		case <-time.After(time.Millisecond):
		}
	}
	gone.Store(true)
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("did not notice the parent was gone")
	}
}
