package cli

import (
	"bytes"
	"context"
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
