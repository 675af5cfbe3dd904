package db_test

import (
	"context"
	"errors"
	"github.com/madbase/madbase/shared/db/platform"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/madbase/madbase/shared/db"
	"github.com/madbase/madbase/shared/db/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestRLSTransactionSetsRole(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t, platform.Source)
	for _, role := range []string{db.RoleAnon, db.RoleAuthenticated, db.RoleServiceRole} {
		var current string
		err := db.WithClaims(ctx(t), pool, db.Claims{"role": role}, func(ctx context.Context, tx pgx.Tx) error {
			return tx.QueryRow(ctx, "select current_user").Scan(&current)
		})
		require.NoError(t, err)
		assert.Equal(t, role, current)
	}
}

// recorder is a pgx tracer that remembers every statement a connection sends.
type recorder struct {
	mu  sync.Mutex
	sql []string
}

func (r *recorder) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	r.add(d.SQL)
	return ctx
}
func (r *recorder) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (r *recorder) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	r.add("<batch>")
	return ctx
}
func (r *recorder) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	r.add(d.SQL)
}
func (r *recorder) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

func (r *recorder) add(sql string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sql = append(r.sql, sql)
}

func (r *recorder) statements() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.sql...)
}

func TestRLSTransactionRejectsBadRole(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDB(t, platform.Source)
	cfg, err := pgxpool.ParseConfig(d.URL)
	require.NoError(t, err)
	rec := &recorder{}
	cfg.ConnConfig.Tracer = rec
	pool, err := pgxpool.NewWithConfig(ctx(t), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)

	// The recorder sees a legitimate transaction, so silence below means something.
	require.NoError(t, db.WithClaims(ctx(t), pool, db.Claims{"role": "anon"}, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "select 1")
		return err
	}))
	require.NotEmpty(t, rec.statements())
	before, acquires := len(rec.statements()), pool.Stat().AcquireCount()

	for name, claims := range map[string]db.Claims{
		"superuser":         {"role": "postgres"},
		"injection":         {"role": "anon; drop table x"},
		"quoted injection":  {"role": `anon"; drop table x; --`},
		"empty":             {"role": ""},
		"missing":           {"sub": "00000000-0000-0000-0000-000000000001"},
		"nil claims":        nil,
		"not a string":      {"role": 42},
		"login role":        {"role": "authenticator"},
		"case differs":      {"role": "ANON"},
		"trailing space":    {"role": "anon "},
		"very long garbage": {"role": string(make([]byte, 10000))},
	} {
		called := false
		err := db.WithClaims(ctx(t), pool, claims, func(context.Context, pgx.Tx) error { called = true; return nil })
		require.ErrorIs(t, err, db.ErrBadRole, name)
		assert.False(t, called, name)
		assert.Less(t, len(err.Error()), 200, name)
	}
	assert.Equal(t, before, len(rec.statements()), "no statement may reach the server: %v", rec.statements()[before:])
	assert.Equal(t, acquires, pool.Stat().AcquireCount(), "no connection may even be taken from the pool")
}

func TestRLSTransactionSetsClaims(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t, platform.Source)
	conn, err := pool.Acquire(ctx(t)) // one connection, to see what is left on it afterwards
	require.NoError(t, err)
	defer conn.Release()

	const sub = "6f1e1c4e-0c4b-4a8e-9c39-0f6a9e1b2c3d"
	claims := db.Claims{"role": "authenticated", "sub": sub, "email": "ada@example.com", "app_metadata": map[string]any{"plan": "pro"}}
	var gotSub, gotUID, gotRole, gotEmail, gotPlan string
	err = db.WithClaims(ctx(t), conn, claims, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `select current_setting('request.jwt.claim.sub'), auth.uid()::text, auth.role(),
			auth.email(), auth.jwt() -> 'app_metadata' ->> 'plan'`).Scan(&gotSub, &gotUID, &gotRole, &gotEmail, &gotPlan)
	})
	require.NoError(t, err)
	assert.Equal(t, sub, gotSub)
	assert.Equal(t, sub, gotUID)
	assert.Equal(t, "authenticated", gotRole)
	assert.Equal(t, "ada@example.com", gotEmail)
	assert.Equal(t, "pro", gotPlan)

	// After commit the same connection is back to the superuser, with no claims.
	var user, leftSub, leftClaims string
	var uid *string
	require.NoError(t, conn.QueryRow(ctx(t), `select current_user, coalesce(current_setting('request.jwt.claim.sub', true), ''),
		coalesce(current_setting('request.jwt.claims', true), ''), auth.uid()::text`).Scan(&user, &leftSub, &leftClaims, &uid))
	assert.Equal(t, "postgres", user)
	assert.Empty(t, leftSub)
	assert.Empty(t, leftClaims)
	assert.Nil(t, uid)

	// A subject that is not a UUID (or none, for anon) makes auth.uid() NULL, not an error.
	for _, claims := range []db.Claims{{"role": "authenticated", "sub": "not-a-uuid"}, {"role": "anon"}} {
		err = db.WithClaims(ctx(t), conn, claims, func(ctx context.Context, tx pgx.Tx) error {
			return tx.QueryRow(ctx, "select auth.uid()::text").Scan(&uid)
		})
		require.NoError(t, err)
		assert.Nil(t, uid)
	}
}

func TestRLSFiltersRows(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t, platform.Source)
	const alice, bob = "00000000-0000-4000-8000-00000000000a", "00000000-0000-4000-8000-00000000000b"
	_, err := pool.Exec(ctx(t), `
		create table notes (id serial primary key, owner uuid not null, body text not null);
		alter table notes enable row level security;
		create policy own_notes on notes for all to authenticated
			using (owner = auth.uid()) with check (owner = auth.uid());
		insert into notes (owner, body) values ('`+alice+`', 'alice 1'), ('`+alice+`', 'alice 2'), ('`+bob+`', 'bob 1');`)
	require.NoError(t, err)

	count := func(claims db.Claims) int {
		var n int
		require.NoError(t, db.WithClaims(ctx(t), pool, claims, func(ctx context.Context, tx pgx.Tx) error {
			return tx.QueryRow(ctx, "select count(*) from notes").Scan(&n)
		}))
		return n
	}
	assert.Equal(t, 0, count(db.Claims{"role": "anon"}), "no policy lets anon see anything")
	assert.Equal(t, 2, count(db.Claims{"role": "authenticated", "sub": alice}))
	assert.Equal(t, 1, count(db.Claims{"role": "authenticated", "sub": bob}))
	assert.Equal(t, 3, count(db.Claims{"role": "service_role"}), "service_role bypasses RLS")

	// Writing a row for someone else is refused with the SQLSTATE a client is meant to see.
	err = db.WithClaims(ctx(t), pool, db.Claims{"role": "authenticated", "sub": bob}, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "insert into notes (owner, body) values ($1, 'forged')", alice)
		return err
	})
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr)
	assert.Equal(t, "42501", pgErr.Code)
}

func TestRLSTransactionRollsBack(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t, platform.Source)
	_, err := pool.Exec(ctx(t), "create table items (name text)")
	require.NoError(t, err)
	insert := func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "insert into items values ('x')")
		return err
	}
	claims := db.Claims{"role": "service_role"}

	boom := errors.New("boom")
	err = db.WithClaims(ctx(t), pool, claims, func(ctx context.Context, tx pgx.Tx) error {
		require.NoError(t, insert(ctx, tx))
		return boom
	})
	assert.Same(t, boom, err, "fn's error comes back as it was")

	assert.PanicsWithValue(t, "kaboom", func() {
		_ = db.WithClaims(ctx(t), pool, claims, func(ctx context.Context, tx pgx.Tx) error {
			require.NoError(t, insert(ctx, tx))
			panic("kaboom")
		})
	})

	// A client that went away mid-request: the transaction still ends cleanly.
	cancelled, cancel := context.WithCancel(ctx(t))
	err = db.WithClaims(cancelled, pool, claims, func(ctx context.Context, tx pgx.Tx) error {
		require.NoError(t, insert(ctx, tx))
		cancel()
		return ctx.Err()
	})
	require.ErrorIs(t, err, context.Canceled)

	var n int
	require.NoError(t, pool.QueryRow(ctx(t), "select count(*) from items").Scan(&n))
	assert.Zero(t, n)
	assert.Zero(t, pool.Stat().AcquiredConns(), "every connection went back to the pool")

	require.NoError(t, db.WithClaims(ctx(t), pool, claims, insert))
	require.NoError(t, pool.QueryRow(ctx(t), "select count(*) from items").Scan(&n))
	assert.Equal(t, 1, n)
}

func TestPoolMetrics(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDB(t)
	reg := prometheus.NewPedanticRegistry()
	pool, err := db.NewPool(ctx(t), d.URL, reg, nil, db.WithTier("worker"), db.WithMaxConns(7))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	for range 3 {
		_, err := pool.Exec(ctx(t), "select 1")
		require.NoError(t, err)
	}

	families, err := reg.Gather()
	require.NoError(t, err)
	got := map[string]float64{}
	for _, f := range families {
		require.Len(t, f.GetMetric(), 1, f.GetName())
		m := f.GetMetric()[0]
		require.Len(t, m.GetLabel(), 1)
		assert.Equal(t, "tier", m.GetLabel()[0].GetName())
		assert.Equal(t, "worker", m.GetLabel()[0].GetValue())
		got[f.GetName()] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
	}
	assert.Equal(t, 7.0, got["madbase_db_pool_max_conns"])
	assert.GreaterOrEqual(t, got["madbase_db_pool_acquire_total"], 3.0)
	assert.GreaterOrEqual(t, got["madbase_db_pool_total_conns"], 1.0)
	assert.Equal(t, got["madbase_db_pool_total_conns"], got["madbase_db_pool_idle_conns"], "nothing is acquired now")
	assert.Zero(t, got["madbase_db_pool_acquired_conns"])
	for _, name := range []string{"madbase_db_pool_acquire_wait_seconds_total", "madbase_db_pool_acquire_duration_seconds_total",
		"madbase_db_pool_new_conns_total", "madbase_db_pool_empty_acquire_total"} {
		assert.Contains(t, got, name)
	}

	// A second pool with the same tier on the same registry is a wiring mistake, said plainly.
	_, err = db.NewPool(ctx(t), d.URL, reg, nil, db.WithTier("worker"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "its own tier")
}

func TestNewPoolKeepsSecretsOutOfErrors(t *testing.T) {
	t.Parallel()
	_, err := db.NewPool(ctx(t), "postgres://user:s3cret@%zz/db", nil, nil)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "s3cret")

	_, err = db.NewPool(ctx(t), "postgres://user:s3cret@127.0.0.1:1/db?sslmode=disable&connect_timeout=2", nil, nil)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "s3cret")
}
