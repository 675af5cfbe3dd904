package control_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/madbase/madbase/control"
	"github.com/madbase/madbase/shared/db/dbtest"
	"github.com/madbase/madbase/shared/db/migrate"
	"github.com/madbase/madbase/shared/db/platform"
	"github.com/madbase/madbase/shared/logging"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// appliedCounts returns the "applied" attribute of every "migrations done"
// record in a JSON log.
func appliedCounts(t *testing.T, log string) []float64 {
	var out []float64
	for _, line := range strings.Split(log, "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "migrations done" {
			n, _ := rec["applied"].(float64)
			out = append(out, n)
		}
	}
	return out
}

func TestControlRunsMigrations(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDB(t) // an empty database
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	env := map[string]string{"DATABASE_URL": d.URL}
	opts := control.Options{Migrations: []migrate.Source{platform.Source}}

	first := start(t, nil, env, opts)
	require.NoError(t, first.stop())
	counts := appliedCounts(t, first.out.String())
	require.Len(t, counts, 1, first.out.String())
	assert.Positive(t, counts[0], "the first run applies the platform migrations")
	assert.NotContains(t, first.out.String(), d.URL, "the database URL (with its password) is never logged")

	for _, role := range []string{"anon", "authenticated", "service_role"} {
		var exists bool
		require.NoError(t, d.Pool.QueryRow(ctx, "select exists(select 1 from pg_roles where rolname = $1)", role).Scan(&exists))
		assert.True(t, exists, "role %s", role)
	}
	var rows int
	require.NoError(t, d.Pool.QueryRow(ctx, "select count(*) from madbase_migrations.applied").Scan(&rows))
	assert.Equal(t, int(counts[0]), rows)
	var sources []string
	require.NoError(t, d.Pool.QueryRow(ctx, "select array_agg(distinct source order by source) from madbase_migrations.applied").Scan(&sources))
	assert.Equal(t, []string{"control", "platform"}, sources, "control's own schema comes with the platform's")

	second := start(t, nil, env, opts)
	require.NoError(t, second.stop())
	assert.Equal(t, []float64{0}, appliedCounts(t, second.out.String()), "a second run applies nothing")

	n, err := control.RunMigrations(ctx, d.URL, logging.Discard(), platform.Source)
	require.NoError(t, err)
	assert.Zero(t, n, "nor does `madbase migrate`")
}

func TestRunMigrationsBadDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, err := control.RunMigrations(ctx, "", logging.Discard(), platform.Source)
	assert.ErrorContains(t, err, "DATABASE_URL")
	_, err = control.RunMigrations(ctx, "postgres://u:secret@[bad", logging.Discard(), platform.Source)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "secret")

	// A server that never comes up: waiting ends at the deadline with a clear error.
	ctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer cancel()
	_, err = control.RunMigrations(ctx, "postgres://u:secret@127.0.0.1:1/db?connect_timeout=1", logging.Discard(), platform.Source)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "secret")
}
