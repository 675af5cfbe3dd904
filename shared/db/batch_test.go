package db_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/madbase/madbase/shared/db"
	"github.com/madbase/madbase/shared/db/dbtest"
	"github.com/madbase/madbase/shared/db/platform"
)

// The batch form runs every statement as the claims' role with the claims
// set, in one pipeline, and leaves nothing behind on the connection.
func TestRLSBatchSetsRoleAndClaims(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDB(t, platform.Source)
	cfg, err := pgxpool.ParseConfig(d.URL)
	require.NoError(t, err)
	cfg.MaxConns = 1 // one connection, to see what is left on it afterwards
	rec := &recorder{}
	cfg.ConnConfig.Tracer = rec
	pool, err := pgxpool.NewWithConfig(ctx(t), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)

	const alice, bob = "00000000-0000-4000-8000-00000000000a", "00000000-0000-4000-8000-00000000000b"
	_, err = pool.Exec(ctx(t), `
		create table notes (id serial primary key, owner uuid not null, body text not null);
		alter table notes enable row level security;
		create policy own_notes on notes for all to authenticated using (owner = auth.uid());
		grant select on notes to anon, authenticated;
		insert into notes (owner, body) values ('`+alice+`', 'a1'), ('`+alice+`', 'a2'), ('`+bob+`', 'b1');`)
	require.NoError(t, err)

	before := len(rec.statements())
	var user, uid, role, method, path string
	var n int
	b := &pgx.Batch{}
	b.Queue("select current_user, auth.uid()::text, auth.role(), current_setting('request.method'), current_setting('search_path')")
	b.Queue("select count(*) from notes")
	settings := []db.Setting{{Name: "request.method", Value: "GET"}, {Name: "search_path", Value: `"public", extensions`}}
	err = db.WithClaimsBatch(ctx(t), pool, db.Claims{"role": "authenticated", "sub": alice}, settings, b, func(br pgx.BatchResults) error {
		if err := br.QueryRow().Scan(&user, &uid, &role, &method, &path); err != nil {
			return err
		}
		return br.QueryRow().Scan(&n)
	})
	require.NoError(t, err)
	assert.Equal(t, "authenticated", user)
	assert.Equal(t, alice, uid)
	assert.Equal(t, "authenticated", role)
	assert.Equal(t, "GET", method)
	assert.Equal(t, `"public", extensions`, path)
	assert.Equal(t, 2, n, "RLS applies to every statement of the batch")
	sent := rec.statements()[before:]
	assert.Equal(t, "<batch>", sent[0], "one batch: %v", sent)
	assert.Len(t, sent, 4, "the batch, the claims and settings statement and the two queries, nothing else: %v", sent)

	// Nothing of the role, the claims or the settings is left on the connection.
	var leftUser, leftClaims, leftMethod string
	require.NoError(t, pool.QueryRow(ctx(t), `select current_user, coalesce(current_setting('request.jwt.claims', true), ''),
		coalesce(current_setting('request.method', true), '')`).Scan(&leftUser, &leftClaims, &leftMethod))
	assert.Equal(t, "postgres", leftUser)
	assert.Empty(t, leftClaims)
	assert.Empty(t, leftMethod)

	// A failing statement stops the batch and is rolled back with it; the
	// connection goes back to the pool usable.
	b = &pgx.Batch{}
	b.Queue("insert into notes (owner, body) values ($1, 'forged')", bob)
	b.Queue("select 1")
	err = db.WithClaimsBatch(ctx(t), pool, db.Claims{"role": "anon"}, nil, b, func(br pgx.BatchResults) error {
		_, err := br.Exec()
		return err
	})
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr)
	assert.Equal(t, "42501", pgErr.Code)
	require.NoError(t, pool.QueryRow(ctx(t), "select count(*) from notes").Scan(&n))
	assert.Equal(t, 3, n)

	// A role that is not a request role sends nothing at all.
	before = len(rec.statements())
	called := false
	err = db.WithClaimsBatch(ctx(t), pool, db.Claims{"role": "postgres"}, nil, b, func(pgx.BatchResults) error { called = true; return nil })
	require.ErrorIs(t, err, db.ErrBadRole)
	assert.False(t, called)
	assert.Equal(t, before, len(rec.statements()))

	// fn's error is returned and the connection is still usable.
	b = &pgx.Batch{}
	b.Queue("select 1")
	boom := context.Canceled
	err = db.WithClaimsBatch(ctx(t), pool, db.Claims{"role": "anon"}, nil, b, func(pgx.BatchResults) error { return boom })
	require.ErrorIs(t, err, boom)
	require.NoError(t, pool.QueryRow(ctx(t), "select current_user").Scan(&leftUser))
	assert.Equal(t, "postgres", leftUser)
}
