package projects

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/madbase/madbase/bus/bustest"
	controlmigrations "github.com/madbase/madbase/control/migrations"
	"github.com/madbase/madbase/shared/config"
	"github.com/madbase/madbase/shared/db/dbtest"
	"github.com/madbase/madbase/shared/db/platform"
	"github.com/madbase/madbase/shared/secretbox"
	"github.com/stretchr/testify/require"
)

// TestDropDatabaseWhileRealtimeReads: a created project's database whose
// replication slot a worker is streaming (realtime's WAL reader) is still
// dropped on request: the stream is ended and the slot dropped first.
func TestDropDatabaseWhileRealtimeReads(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d := dbtest.NewDB(t, platform.Source, controlmigrations.Source)
	box, err := secretbox.New(secretbox.NewKey())
	require.NoError(t, err)
	store := NewStore(d.Pool, box, nil, Options{Env: config.Map(map[string]string{})})
	name := "madbase_droptest_" + strings.ReplaceAll(t.Name()[len(t.Name())-8:], "/", "_")
	dbURL, err := store.createDatabase(ctx, strings.ToLower(name))
	require.NoError(t, err)
	name = strings.ToLower(name)

	sep := "?"
	if strings.Contains(dbURL, "?") {
		sep = "&"
	}
	repl, err := pgconn.Connect(ctx, dbURL+sep+"replication=database")
	require.NoError(t, err)
	defer repl.Close(context.Background())
	_, err = repl.Exec(ctx, "CREATE_REPLICATION_SLOT droptest LOGICAL test_decoding").ReadAll()
	require.NoError(t, err)
	repl.Frontend().Send(&pgproto3.Query{String: "START_REPLICATION SLOT droptest LOGICAL 0/0"})
	require.NoError(t, repl.Frontend().Flush())
	msg, err := repl.Frontend().Receive()
	require.NoError(t, err)
	require.IsType(t, &pgproto3.CopyBothResponse{}, msg, "the slot is being streamed")
	bustest.Eventually(t, 30*time.Second, func() bool {
		var active bool
		err := d.Pool.QueryRow(ctx, "select active from pg_replication_slots where slot_name = 'droptest'").Scan(&active)
		return err == nil && active
	}, "the slot is active")

	require.NoError(t, store.dropDatabase(ctx, name))
	var n int
	require.NoError(t, d.Pool.QueryRow(ctx, "select count(*) from pg_database where datname = $1", name).Scan(&n))
	require.Zero(t, n, "the database is gone")
	require.NoError(t, d.Pool.QueryRow(ctx, "select count(*) from pg_replication_slots where slot_name = 'droptest'").Scan(&n))
	require.Zero(t, n, "and its slot with it")
}
