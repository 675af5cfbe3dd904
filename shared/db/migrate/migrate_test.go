package migrate_test

import (
	"context"
	"io/fs"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/madbase/madbase/shared/db/dbtest"
	"github.com/madbase/madbase/shared/db/migrate"
	"github.com/madbase/madbase/shared/db/platform"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

func files(kv ...string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for i := 0; i < len(kv); i += 2 {
		fsys[kv[i]] = &fstest.MapFile{Data: []byte(kv[i+1])}
	}
	return fsys
}

var three = migrate.Source{Name: "app", FS: files(
	"0002_second.up.sql", "create table b (id int); insert into a values (2);",
	"0001_first.up.sql", "create table a (id int); insert into a values (1);",
	"0010_tenth.up.sql", "create table c (id int); insert into a values (10);",
	"embed.go", "package migrations // not SQL: ignored",
	"README.md", "ignored too",
)}

func versions(t *testing.T, pool *pgxpool.Pool, table string) []int {
	t.Helper()
	rows, err := pool.Query(ctx(t), "select id from "+table+" order by id")
	require.NoError(t, err)
	var ids []int
	for rows.Next() {
		var id int
		require.NoError(t, rows.Scan(&id))
		ids = append(ids, id)
	}
	require.NoError(t, rows.Err())
	return ids
}

func TestMigrationsIdempotent(t *testing.T) {
	t.Parallel()
	t.Run("sequential", func(t *testing.T) {
		t.Parallel()
		pool := dbtest.New(t)
		n, err := migrate.Run(ctx(t), pool, nil, three)
		require.NoError(t, err)
		assert.Equal(t, 3, n)
		assert.Equal(t, []int{1, 2, 10}, versions(t, pool, "a"), "files run in version order, not name order")

		n, err = migrate.Run(ctx(t), pool, nil, three)
		require.NoError(t, err)
		assert.Zero(t, n)
		assert.Equal(t, []int{1, 2, 10}, versions(t, pool, "a"))

		var recorded int
		require.NoError(t, pool.QueryRow(ctx(t),
			"select count(*) from madbase_migrations.applied where source = 'app' and name in ('first', 'second', 'tenth')").Scan(&recorded))
		assert.Equal(t, 3, recorded)
	})

	t.Run("concurrent", func(t *testing.T) {
		t.Parallel()
		pool := dbtest.New(t)
		// Two processes starting at once: each has its own pool and so its own session.
		const runners = 2
		var wg sync.WaitGroup
		applied := make([]int, runners)
		errs := make([]error, runners)
		for i := range runners {
			p, err := pgxpool.NewWithConfig(ctx(t), pool.Config())
			require.NoError(t, err)
			t.Cleanup(p.Close)
			wg.Go(func() { applied[i], errs[i] = migrate.Run(ctx(t), p, nil, three) })
		}
		wg.Wait()
		for _, err := range errs {
			require.NoError(t, err)
		}
		assert.Equal(t, 3, applied[0]+applied[1])
		assert.Equal(t, []int{1, 2, 10}, versions(t, pool, "a"))
	})
}

func TestMigrationBadFileName(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)
	for name, fsys := range map[string]fstest.MapFS{
		"too few digits":  files("001_x.up.sql", "select 1"),
		"upper case":      files("0001_Create.up.sql", "select 1"),
		"no direction":    files("0001_x.sql", "select 1"),
		"down migration":  files("0001_x.down.sql", "select 1"),
		"dash":            files("0001-x.up.sql", "select 1"),
		"version zero":    files("0000_x.up.sql", "select 1"),
		"no name":         files("0001_.up.sql", "select 1"),
		"duplicate":       files("0001_a.up.sql", "select 1", "0001_b.up.sql", "select 1"),
		"same, 0-padded":  files("0001_a.up.sql", "select 1", "00001_b.up.sql", "select 1"),
		"trailing suffix": files("0001_x.up.sql.sql", "select 1"),
	} {
		_, err := migrate.Run(ctx(t), pool, nil, migrate.Source{Name: "bad", FS: fsys})
		require.ErrorIs(t, err, migrate.ErrBadMigration, name)
		for file := range fsys {
			if name != "duplicate" && name != "same, 0-padded" {
				assert.Contains(t, err.Error(), file, name)
			}
		}
	}
	_, err := migrate.Run(ctx(t), pool, nil, three, three)
	require.ErrorIs(t, err, migrate.ErrBadMigration, "a source given twice")
	_, err = migrate.Run(ctx(t), pool, nil, migrate.Source{FS: files()})
	require.ErrorIs(t, err, migrate.ErrBadMigration, "a source without a name")

	// Bad files are found before the database is touched.
	var exists bool
	require.NoError(t, pool.QueryRow(ctx(t), "select exists (select from pg_namespace where nspname = 'madbase_migrations')").Scan(&exists))
	assert.False(t, exists)
}

func TestFailingMigrationRollsBackThatFileOnly(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)
	broken := migrate.Source{Name: "app", FS: files(
		"0001_ok.up.sql", "create table a (id int); insert into a values (1);",
		"0002_broken.up.sql", "create table b (id int); insert into a values (2); select no_such_function();",
		"0003_later.up.sql", "create table c (id int);",
	)}
	n, err := migrate.Run(ctx(t), pool, nil, broken)
	require.Error(t, err)
	assert.Equal(t, 1, n)
	assert.Contains(t, err.Error(), "0002_broken.up.sql")
	assert.Equal(t, []int{1}, versions(t, pool, "a"), "0001 stays committed, 0002's insert is gone")
	var b, c *string
	require.NoError(t, pool.QueryRow(ctx(t), "select to_regclass('b')::text, to_regclass('c')::text").Scan(&b, &c))
	assert.Nil(t, b, "0002's table was rolled back")
	assert.Nil(t, c, "0003 never ran")

	// The lock was released: the fixed files apply from where it stopped.
	broken.FS.(fstest.MapFS)["0002_broken.up.sql"].Data = []byte("create table b (id int); insert into a values (2);")
	n, err = migrate.Run(ctx(t), pool, nil, broken)
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	assert.Equal(t, []int{1, 2}, versions(t, pool, "a"))
}

func TestSourcesAreTrackedApart(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)
	one := migrate.Source{Name: "one", FS: files("0001_init.up.sql", "create table one (id int)")}
	two := migrate.Source{Name: "two", FS: files("0001_init.up.sql", "create table two (id int)")}
	n, err := migrate.Run(ctx(t), pool, nil, one)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	n, err = migrate.Run(ctx(t), pool, nil, one, two)
	require.NoError(t, err)
	assert.Equal(t, 1, n, "version 1 of another source is a different migration")
}

// TestPlatformMigrationsRerunnable runs the platform SQL again over itself, as happens
// when a second database is created on a cluster whose roles already exist.
func TestPlatformMigrationsRerunnable(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t, platform.Source)
	_, err := pool.Exec(ctx(t), "delete from madbase_migrations.applied")
	require.NoError(t, err)
	n, err := migrate.Run(ctx(t), pool, nil, platform.Source)
	require.NoError(t, err)
	assert.Positive(t, n)

	var roles int
	require.NoError(t, pool.QueryRow(ctx(t), `select count(*) from pg_roles where
		(rolname in ('anon', 'authenticated') and not rolcanlogin and not rolbypassrls) or
		(rolname = 'service_role' and not rolcanlogin and rolbypassrls) or
		(rolname = 'authenticator' and rolcanlogin and not rolinherit and
		 pg_has_role('authenticator', 'anon', 'member') and pg_has_role('authenticator', 'service_role', 'member'))`).Scan(&roles))
	assert.Equal(t, 4, roles)

	var extensions int
	require.NoError(t, pool.QueryRow(ctx(t), "select count(*) from pg_extension where extname in ('pgcrypto', 'uuid-ossp')").Scan(&extensions))
	assert.Equal(t, 2, extensions)

	// Default privileges: a table created later is usable by the API roles.
	_, err = pool.Exec(ctx(t), "create table later (id serial)")
	require.NoError(t, err)
	var ok bool
	require.NoError(t, pool.QueryRow(ctx(t), `select has_table_privilege('anon', 'later', 'select,insert') and
		has_sequence_privilege('authenticated', 'later_id_seq', 'usage')`).Scan(&ok))
	assert.True(t, ok)
}

// TestExtensionsSchema checks that the extensions live in their own schema, out of what
// /rest/v1/rpc/ exposes, and that unqualified calls still work in a new session: on a
// database migrated afresh (a dbtest clone, so the clone keeps the database's search_path
// too) and on one migrated before the extensions moved.
func TestExtensionsSchema(t *testing.T) {
	t.Parallel()
	fresh := dbtest.NewDB(t, platform.Source)

	old := dbtest.NewDB(t)
	before := fstest.MapFS{}
	entries, err := fs.ReadDir(platform.Source.FS, ".")
	require.NoError(t, err)
	for _, e := range entries {
		if e.Name() < "0005" {
			b, err := fs.ReadFile(platform.Source.FS, e.Name())
			require.NoError(t, err)
			before[e.Name()] = &fstest.MapFile{Data: b}
		}
	}
	_, err = migrate.Run(ctx(t), old.Pool, nil, migrate.Source{Name: "platform", FS: before})
	require.NoError(t, err)
	var inPublic int
	require.NoError(t, old.Pool.QueryRow(ctx(t), `select count(*) from pg_proc p join pg_namespace n on n.oid = p.pronamespace
		where n.nspname = 'public' and p.proname in ('crypt', 'gen_random_bytes', 'uuid_generate_v4')`).Scan(&inPublic))
	require.Equal(t, 3, inPublic, "before 0005 the extensions were in public")
	_, err = old.Pool.Exec(ctx(t), "create table keep (id uuid primary key default uuid_generate_v4(), pw text default crypt('x', gen_salt('bf', 4)))")
	require.NoError(t, err)
	_, err = migrate.Run(ctx(t), old.Pool, nil, platform.Source)
	require.NoError(t, err)

	for name, d := range map[string]*dbtest.DB{"fresh": fresh, "migrated": old} {
		t.Run(name, func(t *testing.T) {
			conn, err := pgx.Connect(ctx(t), d.URL) // a new session
			require.NoError(t, err)
			defer conn.Close(ctx(t))
			var n int
			require.NoError(t, conn.QueryRow(ctx(t), `select count(*) from pg_proc p join pg_namespace n on n.oid = p.pronamespace
				join pg_depend dep on dep.objid = p.oid and dep.deptype = 'e'
				join pg_extension e on e.oid = dep.refobjid
				where n.nspname = 'public' and e.extname in ('pgcrypto', 'uuid-ossp')`).Scan(&n))
			assert.Zero(t, n, "extension functions in public")
			require.NoError(t, conn.QueryRow(ctx(t), `select count(*) from pg_extension e join pg_namespace n on n.oid = e.extnamespace
				where e.extname in ('pgcrypto', 'uuid-ossp') and n.nspname = 'extensions'`).Scan(&n))
			assert.Equal(t, 2, n)
			var ok bool
			require.NoError(t, conn.QueryRow(ctx(t), `select crypt('pw', gen_salt('bf', 4)) = crypt('pw', crypt('pw', gen_salt('bf', 4))) is not null
				and gen_random_uuid() is not null and uuid_generate_v4() is not null and length(gen_random_bytes(8)) = 8`).Scan(&ok))
			assert.True(t, ok)
			// The API roles can call them unqualified too, as a request does.
			tx, err := conn.Begin(ctx(t))
			require.NoError(t, err)
			defer tx.Rollback(ctx(t))
			_, err = tx.Exec(ctx(t), "set local role anon")
			require.NoError(t, err)
			require.NoError(t, tx.QueryRow(ctx(t), "select extensions.crypt('pw', extensions.gen_salt('md5')) is not null").Scan(&ok))
		})
	}
	if _, err := old.Pool.Exec(ctx(t), "insert into keep default values"); err != nil {
		t.Errorf("a column default calling a moved function: %v", err)
	}
}
