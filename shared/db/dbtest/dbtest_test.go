package dbtest_test

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/madbase/madbase/shared/db/dbtest"
	"github.com/madbase/madbase/shared/db/migrate"
	"github.com/madbase/madbase/shared/db/pgcluster"
)

// childEnv makes this test binary, re-run by a test below, play a package under test.
const childEnv = "DBTEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "no-postgres" {
		pgcluster.DefaultSearch = pgcluster.Search{} // as on a machine without PostgreSQL
	}
	dbtest.Main(m)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

var src = migrate.Source{Name: "t", FS: fstest.MapFS{
	"0001_init.up.sql": {Data: []byte("create table seeded (v int); insert into seeded values (42);")},
}}

func TestDatabasesAreMigratedIsolatedAndDropped(t *testing.T) {
	t.Parallel()
	var name string
	t.Run("first", func(t *testing.T) {
		d := dbtest.NewDB(t, src)
		name = d.Name
		var v int
		require.NoError(t, d.Pool.QueryRow(ctx(t), "select v from seeded").Scan(&v))
		assert.Equal(t, 42, v)
		_, err := d.Pool.Exec(ctx(t), "insert into seeded values (1)")
		require.NoError(t, err)
	})

	pool := dbtest.New(t, src)
	var n int
	require.NoError(t, pool.QueryRow(ctx(t), "select count(*) from seeded").Scan(&n))
	assert.Equal(t, 1, n, "another test's writes are not visible")

	var exists bool
	require.NoError(t, pool.QueryRow(ctx(t), "select exists (select from pg_database where datname = $1)", name).Scan(&exists))
	assert.False(t, exists, "the first test's database was dropped when it ended")
}

// A database whose logical replication slot is in use (realtime's WAL
// reader streams from one, and its walsender may outlive the reader by a
// moment) is still dropped when its test ends.
func TestDatabaseWithActiveReplicationSlotIsDropped(t *testing.T) {
	t.Parallel()
	var name string
	var repl *pgconn.PgConn
	t.Run("streaming", func(t *testing.T) {
		d := dbtest.NewDB(t)
		name = d.Name
		_, err := d.Pool.Exec(ctx(t), "create publication p for all tables")
		require.NoError(t, err)
		sep := "?"
		if strings.Contains(d.URL, "?") {
			sep = "&"
		}
		repl, err = pgconn.Connect(ctx(t), d.URL+sep+"replication=database")
		require.NoError(t, err)
		slot := "slot_" + strings.ToLower(d.Name)
		_, err = repl.Exec(ctx(t), "CREATE_REPLICATION_SLOT "+slot+" LOGICAL pgoutput").ReadAll()
		require.NoError(t, err)
		repl.Frontend().Send(&pgproto3.Query{String: "START_REPLICATION SLOT " + slot + " LOGICAL 0/0 (proto_version '1', publication_names 'p')"})
		require.NoError(t, repl.Frontend().Flush())
		require.Eventually(t, func() bool {
			var active bool
			err := d.Pool.QueryRow(ctx(t), "select active from pg_replication_slots where slot_name = $1", slot).Scan(&active)
			return err == nil && active
		}, 10*time.Second, 20*time.Millisecond, "the slot never became active")
	})
	t.Cleanup(func() { _ = repl.Close(context.Background()) })
	pool := dbtest.New(t)
	var exists bool
	require.NoError(t, pool.QueryRow(ctx(t), "select exists (select from pg_database where datname = $1)", name).Scan(&exists))
	assert.False(t, exists, "the database with a slot in use was dropped when its test ended")
}

func TestNoSourcesGivesAnEmptyDatabase(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)
	var tables int
	require.NoError(t, pool.QueryRow(ctx(t),
		"select count(*) from pg_tables where schemaname not in ('pg_catalog', 'information_schema')").Scan(&tables))
	assert.Zero(t, tables)
}

// TestNeedsDB is what the child processes below run.
func TestNeedsDB(t *testing.T) {
	if os.Getenv(childEnv) == "" {
		t.Skip("run as a child process by the tests below")
	}
	pool := dbtest.New(t, src)
	_, err := pool.Exec(ctx(t), "select 1")
	require.NoError(t, err)
}

func runChild(t *testing.T, mode string, env ...string) (string, int, error) {
	cmd := exec.CommandContext(ctx(t), os.Args[0], "-test.run=^TestNeedsDB$", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"="+mode, dbtest.EnvURL+"=")
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	return string(out), cmd.Process.Pid, err
}

func TestMissingPostgresFailsWithInstallHint(t *testing.T) {
	t.Parallel()
	out, _, err := runChild(t, "no-postgres")
	require.Error(t, err, "the test must fail, not pass or skip:\n%s", out)
	assert.Contains(t, out, "--- FAIL: TestNeedsDB")
	assert.NotContains(t, out, "--- SKIP")
	assert.Contains(t, out, "apt-get install postgresql")
	assert.Contains(t, out, dbtest.EnvURL)
}

func TestExternalServerIsLeftClean(t *testing.T) {
	t.Parallel()
	admin := dbtest.AdminURL(t)
	out, pid, err := runChild(t, "external", dbtest.EnvURL+"="+admin)
	require.NoError(t, err, out)
	assert.Contains(t, out, "--- PASS: TestNeedsDB")

	pool := dbtest.New(t)
	var left int
	require.NoError(t, pool.QueryRow(ctx(t), "select count(*) from pg_database where datname like $1",
		"madbase_t"+strconv.Itoa(pid)+"\\_%").Scan(&left))
	assert.Zero(t, left, "the child dropped its template and databases")
}
