package migrate_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/madbase/madbase/shared/db/dbtest"
	"github.com/madbase/madbase/shared/db/migrate"
	"github.com/madbase/madbase/shared/db/platform"
)

func writeFiles(t *testing.T, dir string, kv ...string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o755))
	for i := 0; i < len(kv); i += 2 {
		require.NoError(t, os.WriteFile(filepath.Join(dir, kv[i]), []byte(kv[i+1]), 0o644))
	}
}

// TestRunApp is an app's supabase/ folder: migrations in version order, remembered in the
// Supabase CLI's table, the seed only on a new database, and a failing file named with its
// line and PostgreSQL's message.
func TestRunApp(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDB(t, platform.Source)
	conn, err := pgx.Connect(ctx(t), d.URL)
	require.NoError(t, err)
	defer conn.Close(ctx(t))

	root := t.TempDir()
	dir := filepath.Join(root, "migrations")
	seed := filepath.Join(root, "seed.sql")
	writeFiles(t, dir,
		"20240102000000_add_done.sql", "alter table todos add column done bool not null default false;",
		"20240101000000_todos.sql", "create table todos (id uuid primary key default gen_random_uuid(), title text,\n pw text default crypt('x', gen_salt('bf', 4)));",
		"README.md", "not a migration",
	)
	writeFiles(t, root, "seed.sql", "insert into todos (title) values ('seeded');")

	res, err := migrate.RunApp(ctx(t), conn, dir, seed, nil)
	require.NoError(t, err)
	require.Len(t, res.Applied, 2)
	assert.Equal(t, "20240101000000", res.Applied[0].Version, "version order, not directory order")
	assert.True(t, res.Seeded)
	var versions []string
	rows, err := conn.Query(ctx(t), "select version || ':' || name from supabase_migrations.schema_migrations order by version")
	require.NoError(t, err)
	versions, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	assert.Equal(t, []string{"20240101000000:todos", "20240102000000:add_done"}, versions)

	// Again: nothing to do, and the seed does not run twice.
	res, err = migrate.RunApp(ctx(t), conn, dir, seed, nil)
	require.NoError(t, err)
	assert.Empty(t, res.Applied)
	assert.False(t, res.Seeded)
	var n int
	require.NoError(t, conn.QueryRow(ctx(t), "select count(*) from todos where not done").Scan(&n))
	assert.Equal(t, 1, n)

	// A new file with an error on its third line stops the run there.
	writeFiles(t, dir,
		"20240103000000_broken.sql", "create table ok_one (id int);\n\ninsert into no_such_table values (1);\n",
		"20240104000000_later.sql", "create table later (id int);",
	)
	res, err = migrate.RunApp(ctx(t), conn, dir, seed, nil)
	var fe *migrate.FileError
	require.True(t, errors.As(err, &fe), "%v", err)
	assert.Equal(t, filepath.Join(dir, "20240103000000_broken.sql"), fe.Path)
	assert.Equal(t, 3, fe.Line)
	assert.Contains(t, err.Error(), "20240103000000_broken.sql:3: ERROR: relation \"no_such_table\" does not exist")
	assert.Empty(t, res.Applied)
	require.NoError(t, conn.QueryRow(ctx(t), "select count(*) from pg_tables where tablename in ('ok_one', 'later')").Scan(&n))
	assert.Zero(t, n, "the failing file is rolled back and the next one not applied")
}

// TestRunAppRecognisesSupabaseCLIHistory: a database the Supabase CLI migrated (its table,
// as the CLI creates it) is not migrated again.
func TestRunAppRecognisesSupabaseCLIHistory(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDB(t, platform.Source)
	conn, err := pgx.Connect(ctx(t), d.URL)
	require.NoError(t, err)
	defer conn.Close(ctx(t))
	_, err = conn.Exec(ctx(t), `create schema supabase_migrations;
		create table supabase_migrations.schema_migrations (version text not null primary key, statements text[], name text);
		insert into supabase_migrations.schema_migrations values ('20230101000000', '{"create table a (id int)"}', 'a');
		create table a (id int)`)
	require.NoError(t, err)
	root := t.TempDir()
	writeFiles(t, filepath.Join(root, "migrations"),
		"20230101000000_a.sql", "create table a (id int);",
		"20230201000000_b.sql", "create table b (id int);")
	writeFiles(t, root, "seed.sql", "insert into a values (1);")
	res, err := migrate.RunApp(ctx(t), conn, filepath.Join(root, "migrations"), filepath.Join(root, "seed.sql"), nil)
	require.NoError(t, err)
	require.Len(t, res.Applied, 1)
	assert.Equal(t, "b", res.Applied[0].Name)
	assert.False(t, res.Seeded, "not a new database")
}

func TestNewAppMigration(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "supabase", "migrations")
	now := time.Date(2026, 12, 7, 5, 4, 3, 0, time.FixedZone("x", 3600))
	path, err := migrate.NewAppMigration(dir, "Add todos!", now)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "20261207040403_add_todos.sql"), path)
	_, err = migrate.NewAppMigration(dir, "add todos", now)
	assert.Error(t, err, "never overwrites")
	_, err = migrate.NewAppMigration(dir, "!!", now)
	assert.ErrorIs(t, err, migrate.ErrBadMigration)
	ms, _, err := migrate.LoadDir(dir)
	require.NoError(t, err)
	require.Len(t, ms, 1)
	assert.Equal(t, "add_todos", ms[0].Name)
}
