package pgcluster_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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

// TestInterruptedFirstStart is Ctrl-C during the first start's initdb: the next start must
// set the cluster up and listen where MadBase says, whether the interruption hit MadBase's
// initdb (which works in a sibling folder) or left a half cluster in the data directory
// itself (as older versions did).
func TestInterruptedFirstStart(t *testing.T) {
	t.Parallel()
	root := t.TempDir()

	t.Run("initdb killed", func(t *testing.T) {
		opts := pgcluster.Options{DataDir: filepath.Join(root, "killed"), NoSync: true, Password: "pw"}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go func() {
			// Cancel as soon as initdb has written its first files: Start kills it.
			for ctx.Err() == nil {
				if _, err := os.Stat(filepath.Join(opts.DataDir+".initdb", "PG_VERSION")); err == nil {
					cancel()
					return
				}
				time.Sleep(time.Millisecond)
			}
		}()
		_, err := pgcluster.Start(ctx, opts)
		require.Error(t, err, "the start was interrupted")
		assertStarts(t, opts)
	})

	t.Run("half cluster in the data directory", func(t *testing.T) {
		// What an older MadBase left when initdb was killed, or killed before it added
		// its include line: a cluster MadBase never started (no madbase.conf), some of it
		// missing, and a postgresql.conf that would make the server listen on
		// PostgreSQL's default port and socket.
		dir := filepath.Join(root, "half")
		c := start(t, pgcluster.Options{DataDir: dir, NoSync: true})
		require.NoError(t, c.Stop(t.Context()))
		require.NoError(t, os.Remove(filepath.Join(dir, "madbase.conf")))
		require.NoError(t, os.RemoveAll(filepath.Join(dir, "global")))
		conf := filepath.Join(dir, "postgresql.conf")
		b, err := os.ReadFile(conf)
		require.NoError(t, err)
		i := strings.Index(string(b), "\n# Settings written by MadBase")
		require.Positive(t, i)
		require.NoError(t, os.WriteFile(conf, b[:i], 0o600))

		assertStarts(t, pgcluster.Options{DataDir: dir, NoSync: true})
		aside, _ := filepath.Glob(dir + ".incomplete-*")
		assert.Len(t, aside, 1, "the half cluster is kept aside, not deleted")
	})

	t.Run("unrelated files", func(t *testing.T) {
		dir := filepath.Join(root, "files")
		require.NoError(t, os.MkdirAll(dir, 0o700))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o600))
		_, err := pgcluster.Start(t.Context(), pgcluster.Options{DataDir: dir, NoSync: true})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "not empty and holds no PostgreSQL cluster")
		b, err := os.ReadFile(filepath.Join(dir, "notes.txt"))
		require.NoError(t, err)
		assert.Equal(t, "mine", string(b))
	})
}

// assertStarts starts a cluster on opts and checks it listens on its own port.
func assertStarts(t *testing.T, opts pgcluster.Options) {
	t.Helper()
	c := start(t, opts)
	conn, err := pgx.Connect(t.Context(), c.URL("postgres"))
	require.NoError(t, err)
	defer conn.Close(t.Context())
	var port string
	require.NoError(t, conn.QueryRow(t.Context(), "show port").Scan(&port))
	assert.Equal(t, strconv.Itoa(c.Port()), port)
}
