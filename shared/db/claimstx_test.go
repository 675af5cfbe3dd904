package db_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/madbase/madbase/shared/db"
	"github.com/madbase/madbase/shared/db/dbtest"
	"github.com/madbase/madbase/shared/db/platform"
)

// tracedPool is a one-connection pool whose statements are recorded.
func tracedPool(t *testing.T) (*pgxpool.Pool, *recorder) {
	t.Helper()
	d := dbtest.NewDB(t, platform.Source)
	cfg, err := pgxpool.ParseConfig(d.URL)
	require.NoError(t, err)
	cfg.MaxConns = 1
	rec := &recorder{}
	cfg.ConnConfig.Tracer = rec
	pool, err := pgxpool.NewWithConfig(ctx(t), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	_, err = pool.Exec(ctx(t), `create table items (name text); grant select, insert on items to authenticated`)
	require.NoError(t, err)
	return pool, rec
}

// BEGIN and the role and claims go out with the first statement, in one
// batch; the transaction then costs only COMMIT more.
func TestRLSTransactionPipelinesBegin(t *testing.T) {
	t.Parallel()
	pool, rec := tracedPool(t)
	claims := db.Claims{"role": "authenticated", "sub": "00000000-0000-4000-8000-00000000000a"}

	before := len(rec.statements())
	var user, uid string
	err := db.WithClaims(ctx(t), pool, claims, func(ctx context.Context, tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, "select current_user, auth.uid()::text where $1", true).Scan(&user, &uid); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "insert into items values ($1)", "x")
		return err
	})
	require.NoError(t, err)
	assert.Equal(t, "authenticated", user)
	assert.Equal(t, claims["sub"], uid)
	sent := rec.statements()[before:]
	require.Len(t, sent, 6, "%q", sent)
	assert.Equal(t, "<batch>", sent[0])
	assert.Equal(t, "begin", strings.ToLower(sent[1]))
	assert.Contains(t, sent[2], "set_config('role'")
	assert.Contains(t, sent[3], "current_user")
	assert.Contains(t, sent[4], "insert into items")
	assert.Equal(t, "commit", sent[5])

	// Settings ride in the role and claims statement.
	before = len(rec.statements())
	var method string
	err = db.WithClaimsSettings(ctx(t), pool, claims, []db.Setting{{Name: "request.method", Value: "PATCH"}},
		func(ctx context.Context, tx pgx.Tx) error {
			return tx.QueryRow(ctx, "select current_setting('request.method')").Scan(&method)
		})
	require.NoError(t, err)
	assert.Equal(t, "PATCH", method)
	sent = rec.statements()[before:]
	require.Len(t, sent, 5, "%q", sent)
	assert.Contains(t, sent[2], "set_config($4, $5, true)")

	// fn that sends nothing costs nothing, not even BEGIN.
	before = len(rec.statements())
	require.NoError(t, db.WithClaims(ctx(t), pool, claims, func(context.Context, pgx.Tx) error { return nil }))
	assert.Empty(t, rec.statements()[before:])
}

// Whatever fn calls first, it runs as the role with the claims set.
func TestRLSTransactionEveryFirstCall(t *testing.T) {
	t.Parallel()
	pool, _ := tracedPool(t)
	claims := db.Claims{"role": "authenticated", "sub": "00000000-0000-4000-8000-00000000000b"}
	current := func(ctx context.Context, tx pgx.Tx) string {
		var u string
		require.NoError(t, tx.QueryRow(ctx, "select current_user || '/' || coalesce(auth.uid()::text, '')").Scan(&u))
		return u
	}
	want := "authenticated/" + claims["sub"].(string)
	for name, first := range map[string]func(ctx context.Context, tx pgx.Tx) error{
		"Exec with arguments": func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, "insert into items values ($1)", "a")
			return err
		},
		"Exec of several statements": func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, "insert into items values ('b'); insert into items values ('c')")
			return err
		},
		"Query": func(ctx context.Context, tx pgx.Tx) error {
			rows, err := tx.Query(ctx, "select name from items where name <> $1", "")
			if err != nil {
				return err
			}
			rows.Close()
			return rows.Err()
		},
		"QueryRow": func(ctx context.Context, tx pgx.Tx) error {
			var n int
			return tx.QueryRow(ctx, "select count(*) from items where $1", true).Scan(&n)
		},
		"SendBatch": func(ctx context.Context, tx pgx.Tx) error {
			b := &pgx.Batch{}
			b.Queue("insert into items values ($1)", "d")
			b.Queue("select 1")
			return tx.SendBatch(ctx, b).Close()
		},
		"CopyFrom": func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.CopyFrom(ctx, pgx.Identifier{"items"}, []string{"name"}, pgx.CopyFromRows([][]any{{"e"}}))
			return err
		},
		"Begin (a savepoint)": func(ctx context.Context, tx pgx.Tx) error {
			sp, err := tx.Begin(ctx)
			if err != nil {
				return err
			}
			if _, err := sp.Exec(ctx, "insert into items values ($1)", "f"); err != nil {
				return err
			}
			return sp.Rollback(ctx)
		},
	} {
		var got string
		err := db.WithClaims(ctx(t), pool, claims, func(ctx context.Context, tx pgx.Tx) error {
			if err := first(ctx, tx); err != nil {
				return err
			}
			got = current(ctx, tx)
			return nil
		})
		require.NoError(t, err, name)
		assert.Equal(t, want, got, name)
	}
	var names string
	require.NoError(t, pool.QueryRow(ctx(t), "select string_agg(name, '' order by name) from items").Scan(&names))
	assert.Equal(t, "abcde", names, "every committed write is there, the savepoint's is not")
}

// A failing first statement, or one whose error fn ignores, leaves the
// connection clean, and nothing of the transaction is kept.
func TestRLSTransactionFailures(t *testing.T) {
	t.Parallel()
	pool, _ := tracedPool(t)
	claims := db.Claims{"role": "authenticated"}

	err := db.WithClaims(ctx(t), pool, claims, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "insert into no_such_table values ($1)", "x")
		return err
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no_such_table")

	err = db.WithClaims(ctx(t), pool, claims, func(ctx context.Context, tx pgx.Tx) error {
		_, _ = tx.Exec(ctx, "insert into items values ($1)", "kept?")
		_, _ = tx.Exec(ctx, "select 1/0 where $1", true)
		return nil // ignores the failure: COMMIT finds the transaction aborted
	})
	require.ErrorIs(t, err, pgx.ErrTxCommitRollback)

	var user string
	var n int
	require.NoError(t, pool.QueryRow(ctx(t), "select current_user, (select count(*) from items)").Scan(&user, &n))
	assert.Equal(t, "postgres", user)
	assert.Zero(t, n)
}

// Ending the transaction inside fn ends it once: a second end (runInTx's
// commit) is pgx.ErrTxClosed, whether a statement had begun it or not, and
// one that nothing began sends nothing.
func TestRLSTransactionEndsOnce(t *testing.T) {
	t.Parallel()
	pool, rec := tracedPool(t)
	claims := db.Claims{"role": "authenticated"}

	before := len(rec.statements())
	var first error
	err := db.WithClaims(ctx(t), pool, claims, func(ctx context.Context, tx pgx.Tx) error {
		first = tx.Rollback(ctx)
		return nil
	})
	require.NoError(t, first)
	require.ErrorIs(t, err, pgx.ErrTxClosed)
	assert.Empty(t, rec.statements()[before:], "nothing begun, nothing sent")

	err = db.WithClaims(ctx(t), pool, claims, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "insert into items values ($1)", "y"); err != nil {
			return err
		}
		first = tx.Commit(ctx)
		return nil
	})
	require.NoError(t, first)
	require.ErrorIs(t, err, pgx.ErrTxClosed)
	var n int
	require.NoError(t, pool.QueryRow(ctx(t), "select count(*) from items where name = 'y'").Scan(&n))
	assert.Equal(t, 1, n, "the commit inside fn went through")
}
