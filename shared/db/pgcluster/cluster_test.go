package pgcluster_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/madbase/madbase/shared/db/pgcluster"
)

func TestNoBinaries(t *testing.T) {
	t.Parallel()
	empty := t.TempDir()
	s := pgcluster.Search{Globs: []string{filepath.Join(empty, "*", "bin")}}
	_, err := s.Find()
	require.ErrorIs(t, err, pgcluster.ErrNoBinaries)
	assert.Contains(t, err.Error(), "apt-get install postgresql")
	assert.Contains(t, err.Error(), "DATABASE_URL")
	assert.NotContains(t, err.Error(), "\n", "the hint is one paragraph")

	_, err = pgcluster.Start(t.Context(), pgcluster.Options{DataDir: filepath.Join(empty, "data"), BinDir: empty})
	require.ErrorIs(t, err, pgcluster.ErrNoBinaries)
}

func TestFindBinDirPrefersHighestVersion(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	for _, v := range []string{"9.6", "15", "10", "16"} {
		bin := filepath.Join(root, v, "bin")
		require.NoError(t, os.MkdirAll(bin, 0o755))
		for _, name := range []string{"initdb", "postgres"} {
			if v == "16" && name == "postgres" {
				continue // an incomplete installation (client only) must not win
			}
			require.NoError(t, os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"), 0o755))
		}
	}
	dir, err := pgcluster.Search{Globs: []string{filepath.Join(root, "*", "bin")}}.Find()
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(root, "15", "bin"), dir)
}

func start(t *testing.T, opts pgcluster.Options) *pgcluster.Cluster {
	t.Helper()
	c, err := pgcluster.Start(t.Context(), opts)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = c.Stop(ctx)
	})
	return c
}

// TestRestartKeepsData is the `madbase dev` life cycle: first start initializes, later
// starts reuse the directory, and a stale postmaster.pid from a crash does not get in the way.
func TestRestartKeepsData(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	opts := pgcluster.Options{DataDir: filepath.Join(t.TempDir(), "nested", "pg"), Password: "s3cret 'quoted'", NoSync: true}

	c := start(t, opts)
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "create table kept(v text); insert into kept values ('hello')")
	require.NoError(t, err)
	var walLevel string
	require.NoError(t, conn.QueryRow(ctx, "show wal_level").Scan(&walLevel))
	assert.Equal(t, "logical", walLevel)
	require.NoError(t, conn.Close(ctx))
	require.NoError(t, c.Stop(ctx))
	require.NoError(t, c.Stop(ctx), "Stop is idempotent")
	<-c.Done()

	// Without the password, scram-sha-256 authentication refuses us.
	noPw := pgcluster.Options{DataDir: opts.DataDir, NoSync: true}
	_, err = pgcluster.Start(ctx, noPw)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Options.Password must match")

	// A crash leaves postmaster.pid behind; after a reboot its PID may belong to anything.
	sleeper := exec.Command("sleep", "60")
	require.NoError(t, sleeper.Start())
	t.Cleanup(func() { _ = sleeper.Process.Kill(); _ = sleeper.Wait() })
	pidFile := filepath.Join(c.DataDir(), "postmaster.pid")
	require.NoError(t, os.WriteFile(pidFile, []byte(strconv.Itoa(sleeper.Process.Pid)+"\n"+c.DataDir()+"\n"), 0o600))

	c3 := start(t, opts)
	conn, err = pgx.Connect(ctx, c3.URL("postgres"))
	require.NoError(t, err)
	defer conn.Close(ctx)
	var v string
	require.NoError(t, conn.QueryRow(ctx, "select v from kept").Scan(&v))
	assert.Equal(t, "hello", v)
}

func TestSecondServerOnSameDataDirIsRefused(t *testing.T) {
	t.Parallel()
	opts := pgcluster.Options{DataDir: filepath.Join(t.TempDir(), "pg"), NoSync: true}
	c := start(t, opts)
	_, err := pgcluster.Start(t.Context(), opts)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "already running")
	// The first one is unharmed.
	conn, err := pgx.Connect(t.Context(), c.URL("postgres"))
	require.NoError(t, err)
	require.NoError(t, conn.Close(t.Context()))
}

func TestStopAfterCrashReportsIt(t *testing.T) {
	t.Parallel()
	c := start(t, pgcluster.Options{DataDir: filepath.Join(t.TempDir(), "pg"), NoSync: true, ExtraConf: map[string]string{"max_connections": "20"}})
	p, err := os.FindProcess(pidOf(t, c))
	require.NoError(t, err)
	require.NoError(t, p.Kill())
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("Done was not closed after the server died")
	}
	err = c.Stop(t.Context())
	require.Error(t, err)
	assert.False(t, errors.Is(err, context.DeadlineExceeded))
}

func pidOf(t *testing.T, c *pgcluster.Cluster) int {
	b, err := os.ReadFile(filepath.Join(c.DataDir(), "postmaster.pid"))
	require.NoError(t, err)
	var pid int
	for _, ch := range b {
		if ch < '0' || ch > '9' {
			break
		}
		pid = pid*10 + int(ch-'0')
	}
	require.Positive(t, pid)
	return pid
}
