package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/madbase/madbase/shared/db/dbtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func TestMigrateCommand(t *testing.T) {
	d := dbtest.NewDB(t) // an empty database
	t.Setenv("DATABASE_URL", d.URL)
	var out, errOut bytes.Buffer
	require.NoError(t, runMigrate(context.Background(), nil, &out, &errOut))
	assert.Regexp(t, `^applied [1-9][0-9]* migration\(s\)\n$`, out.String())
	out.Reset()
	require.NoError(t, runMigrate(context.Background(), nil, &out, &errOut))
	assert.Equal(t, "applied 0 migration(s)\n", out.String())
	var n int
	require.NoError(t, d.Pool.QueryRow(context.Background(),
		`select count(*) from pg_roles where rolname in ('anon','authenticated','service_role')`).Scan(&n))
	assert.Equal(t, 3, n)

	t.Setenv("DATABASE_URL", "")
	assert.ErrorIs(t, runMigrate(context.Background(), nil, &out, &errOut), errUsage)
}

func TestMigrateDirAndMigrationNew(t *testing.T) {
	d := dbtest.NewDB(t)
	t.Setenv("DATABASE_URL", d.URL)
	ctx := context.Background()
	root := t.TempDir()
	dir := filepath.Join(root, "supabase", "migrations")
	var out, errOut bytes.Buffer
	require.NoError(t, runMigration(ctx, []string{"new", "--dir", dir, "create todos"}, &out, &errOut))
	created := strings.TrimPrefix(strings.TrimSpace(out.String()), "Created ")
	assert.Regexp(t, `/supabase/migrations/[0-9]{14}_create_todos\.sql$`, created)
	require.NoError(t, os.WriteFile(created, []byte("create table todos (id uuid primary key default uuid_generate_v4(), title text);"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(root, "supabase", "seed.sql"), []byte("insert into todos (title) values ('first');"), 0o644))

	out.Reset()
	require.NoError(t, runMigrate(ctx, []string{"--dir", dir}, &out, &errOut))
	assert.Contains(t, out.String(), "applied 1 app migration(s)")
	assert.Contains(t, out.String(), "seeded the new database")
	var n int
	require.NoError(t, d.Pool.QueryRow(ctx, "select count(*) from todos").Scan(&n))
	assert.Equal(t, 1, n)

	require.NoError(t, os.WriteFile(filepath.Join(dir, "29990101000000_bad.sql"), []byte("\nalter table todos add column x nosuchtype;"), 0o644))
	out.Reset()
	err := runMigrate(ctx, []string{"--dir", dir}, &out, &errOut)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "29990101000000_bad.sql:2: ERROR: type \"nosuchtype\" does not exist")
	assert.ErrorIs(t, runMigration(ctx, []string{"new"}, &out, &errOut), errUsage)
}
