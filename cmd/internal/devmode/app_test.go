package devmode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/madbase/madbase/shared/config"
	"github.com/madbase/madbase/shared/db/migrate"
	"github.com/madbase/madbase/shared/db/platform"
	"github.com/madbase/madbase/shared/logging/logtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReset is `madbase db reset`: the dev database is recreated with the
// migrations and the seed, even with a realtime replication slot on it,
// and never while madbase dev runs on the folder.
func TestReset(t *testing.T) {
	ctx := t.Context()
	dataDir := t.TempDir()
	app := filepath.Join(t.TempDir(), "supabase")
	require.NoError(t, os.MkdirAll(filepath.Join(app, "migrations"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(app, "migrations", "20240101000000_notes.sql"), []byte("create table notes (body text);"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(app, "seed.sql"), []byte("insert into notes values ('seeded');"), 0o644))
	out := &logtest.Buffer{}
	opts := ResetOptions{DataDir: dataDir, Env: config.Map(nil), Out: out, Migrations: []migrate.Source{platform.Source},
		MigrationsDir: filepath.Join(app, "migrations")}

	require.NoError(t, Reset(ctx, opts)) // a new folder: set up from nothing
	withDB := func(fn func(conn *pgx.Conn)) {
		secrets, err := loadSecrets(dataDir)
		require.NoError(t, err)
		pg, _, err := startCluster(ctx, clusterOptions{DataDir: dataDir, Password: secrets.PGPassword, Env: config.Map(nil),
			Log: slog.New(slog.DiscardHandler), Out: io.Discard})
		require.NoError(t, err)
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			require.NoError(t, pg.Stop(sctx))
		}()
		conn, err := pgx.Connect(ctx, pg.URL("postgres"))
		require.NoError(t, err)
		defer conn.Close(ctx)
		fn(conn)
	}
	withDB(func(conn *pgx.Conn) {
		_, err := conn.Exec(ctx, "insert into notes values ('mine')")
		require.NoError(t, err)
		// Realtime's slot on the dev database, which DROP DATABASE refuses to leave behind.
		_, err = conn.Exec(ctx, "select pg_create_logical_replication_slot('madbase_realtime_' || (select oid from pg_database where datname = current_database()), 'pgoutput')")
		require.NoError(t, err)
	})

	out = &logtest.Buffer{}
	opts.Out = out
	require.NoError(t, Reset(ctx, opts))
	assert.Contains(t, out.String(), "Recreated the dev database")
	assert.Contains(t, out.String(), "Applied migration "+filepath.Join(app, "migrations", "20240101000000_notes.sql"))
	assert.Contains(t, out.String(), "Seeded the new database")
	withDB(func(conn *pgx.Conn) {
		rows, err := conn.Query(ctx, "select body from notes")
		require.NoError(t, err)
		bodies, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		assert.Equal(t, []string{"seeded"}, bodies)
		var ok bool
		require.NoError(t, conn.QueryRow(ctx, "select to_regprocedure('auth.uid()') is not null").Scan(&ok))
		assert.True(t, ok, "the platform's migrations ran again")
		var slots int
		require.NoError(t, conn.QueryRow(ctx, "select count(*) from pg_replication_slots").Scan(&slots))
		assert.Zero(t, slots, "realtime's slot went with the old database")
	})

	// While madbase dev runs on the folder, reset refuses.
	lf, err := lock(dataDir)
	require.NoError(t, err)
	defer lf.Close()
	err = Reset(ctx, opts)
	var running *AlreadyRunningError
	require.True(t, errors.As(err, &running), "%v", err)
	assert.Contains(t, err.Error(), fmt.Sprintf("(pid %d)", os.Getpid()))
	assert.Contains(t, err.Error(), "db reset needs it stopped")

	err = Reset(ctx, ResetOptions{DataDir: dataDir, Env: config.Map(map[string]string{"DATABASE_URL": "postgres://x/y"}), Out: out})
	assert.ErrorContains(t, err, "DATABASE_URL is set")
}
