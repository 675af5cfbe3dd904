package storage_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/madbase/madbase/shared/db"
	"github.com/madbase/madbase/shared/db/dbtest"
	"github.com/madbase/madbase/shared/db/platform"
	"github.com/madbase/madbase/worker/migrations/storage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func TestPathHelpers(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t, platform.Source, storage.Source)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name      string
		folders   []string
		filename  string
		extension string
	}{
		{"a/b/c.png", []string{"a", "b"}, "c.png", "png"},
		{"x.tar.gz", []string{}, "x.tar.gz", "gz"},
		{"dir/noext", []string{"dir"}, "noext", "noext"},
		{"été/日本語 file.txt", []string{"été"}, "日本語 file.txt", "txt"},
	} {
		var folders []string
		var filename, ext string
		require.NoError(t, pool.QueryRow(ctx, `select coalesce(storage.foldername($1), '{}'), storage.filename($1), storage.extension($1)`, tc.name).
			Scan(&folders, &filename, &ext))
		assert.Equal(t, tc.folders, folders, tc.name)
		assert.Equal(t, tc.filename, filename, tc.name)
		assert.Equal(t, tc.extension, ext, tc.name)
	}
}

func TestRLSAndPathTokens(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t, platform.Source, storage.Source)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	_, err := pool.Exec(ctx, `insert into storage.buckets (id, name) values ('b', 'b');
insert into storage.objects (bucket_id, name, owner_id) values ('b', 'u1/a.txt', 'u1'), ('b', 'u2/b.txt', 'u2');
create policy own on storage.objects for select to authenticated using ((storage.foldername(name))[1] = auth.jwt()->>'sub')`)
	require.NoError(t, err)

	var tokens []string
	require.NoError(t, pool.QueryRow(ctx, `select path_tokens from storage.objects where name = 'u1/a.txt'`).Scan(&tokens))
	assert.Equal(t, []string{"u1", "a.txt"}, tokens)

	count := func(claims db.Claims) int {
		var n int
		require.NoError(t, db.WithClaims(ctx, pool, claims, func(ctx context.Context, tx pgx.Tx) error {
			return tx.QueryRow(ctx, `select count(*) from storage.objects`).Scan(&n)
		}))
		return n
	}
	assert.Equal(t, 0, count(db.Claims{"role": "anon"}), "RLS on, no anon policy")
	assert.Equal(t, 1, count(db.Claims{"role": "authenticated", "sub": "u1"}), "own folder only")
	assert.Equal(t, 2, count(db.Claims{"role": "service_role"}), "service_role bypasses RLS")

	// The worker's TUS table is for service_role (the worker) only.
	tus := func(role string) error {
		return db.WithClaims(ctx, pool, db.Claims{"role": role}, func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `select 1 from storage.tus_uploads`)
			return err
		})
	}
	assert.NoError(t, tus("service_role"))
	assert.Error(t, tus("authenticated"))
	assert.Error(t, tus("anon"))
}
