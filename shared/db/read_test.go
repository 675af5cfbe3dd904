package db_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/madbase/madbase/shared/db"
	"github.com/madbase/madbase/shared/db/dbtest"
	"github.com/madbase/madbase/shared/db/platform"
)

// onePool is a pool of one connection on a fresh database (to see what is
// left on the connection afterwards), with rec as its tracer.
func onePool(t *testing.T, rec *recorder) *pgxpool.Pool {
	t.Helper()
	d := dbtest.NewDB(t, platform.Source)
	cfg, err := pgxpool.ParseConfig(d.URL)
	require.NoError(t, err)
	cfg.MaxConns = 1
	if rec != nil {
		cfg.ConnConfig.Tracer = rec
	}
	pool, err := pgxpool.NewWithConfig(ctx(t), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

// rows collects what Read hands fn, copied, as text (NULL as "<null>").
type rows [][]string

func (r *rows) fn(i int, values [][]byte) error {
	row := []string{fmt.Sprint(i)}
	for _, v := range values {
		if v == nil {
			row = append(row, "<null>")
		} else {
			row = append(row, string(v))
		}
	}
	*r = append(*r, row)
	return nil
}

// A read runs every statement as the claims' role with the claims and the
// settings set, in one round trip, and leaves nothing behind.
func TestReaderSetsRoleClaimsAndSettings(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	pool := onePool(t, rec)
	const alice, bob = "00000000-0000-4000-8000-00000000000a", "00000000-0000-4000-8000-00000000000b"
	_, err := pool.Exec(ctx(t), `
		create table notes (id serial primary key, owner uuid not null, body text not null);
		alter table notes enable row level security;
		create policy own_notes on notes for all to authenticated using (owner = auth.uid());
		grant select on notes to anon, authenticated;
		insert into notes (owner, body) values ('`+alice+`', 'a1'), ('`+alice+`', 'a2'), ('`+bob+`', 'b1');`)
	require.NoError(t, err)
	r := db.NewReader(pool)

	before := len(rec.statements())
	var got rows
	settings := []db.Setting{{Name: "request.method", Value: "GET"}, {Name: "search_path", Value: `"public", extensions`}}
	err = r.Read(ctx(t), db.Claims{"role": "authenticated", "sub": alice}, settings, []db.Query{
		{SQL: "select current_user, auth.uid()::text, auth.role(), current_setting('request.method'), current_setting('search_path')"},
		{SQL: "select body from notes where body like $1 order by id", Args: []any{"%"}},
	}, got.fn)
	require.NoError(t, err)
	assert.Equal(t, rows{
		{"0", "authenticated", alice, "authenticated", "GET", `"public", extensions`},
		{"1", "a1"}, {"1", "a2"},
	}, got, "RLS applies to every statement")
	sent := rec.statements()[before:]
	require.Len(t, sent, 4, "traced as one batch: the claims and settings statement and the two queries: %v", sent)
	assert.Equal(t, "<batch>", sent[0])
	assert.Contains(t, sent[1], "set_config('role'")

	var leftUser, leftClaims, leftMethod string
	require.NoError(t, pool.QueryRow(ctx(t), `select current_user, coalesce(current_setting('request.jwt.claims', true), ''),
		coalesce(current_setting('request.method', true), '')`).Scan(&leftUser, &leftClaims, &leftMethod))
	assert.Equal(t, "postgres", leftUser)
	assert.Empty(t, leftClaims)
	assert.Empty(t, leftMethod)

	// anon sees nothing of notes; service_role bypasses RLS.
	for role, want := range map[string]string{"anon": "0", "service_role": "3"} {
		got = nil
		require.NoError(t, r.Read(ctx(t), db.Claims{"role": role}, nil, []db.Query{{SQL: "select count(*) from notes"}}, got.fn))
		assert.Equal(t, rows{{"0", want}}, got, role)
	}
}

// Arguments travel in PostgreSQL's text format (bytes in binary), NULL as
// NULL, and come back as the server wrote them.
func TestReaderArguments(t *testing.T) {
	t.Parallel()
	pool := onePool(t, nil)
	r := db.NewReader(pool)
	var got rows
	err := r.Read(ctx(t), db.Claims{"role": "anon"}, nil, []db.Query{{
		SQL:  "select $1::text, $2::int4, $3::int8, encode($4::bytea, 'hex'), $5::text is null, $6::text = '', $7::int4[], $8::bytea is null",
		Args: []any{"héllo 'x'", int32(-42), int64(1) << 40, []byte{0, 1, 0xfe}, nil, "", "{1,2,3}", []byte(nil)},
	}}, got.fn)
	require.NoError(t, err)
	assert.Equal(t, rows{{"0", "héllo 'x'", "-42", "1099511627776", "0001fe", "t", "t", "{1,2,3}", "t"}}, got)

	err = r.Read(ctx(t), db.Claims{"role": "anon"}, nil, []db.Query{{SQL: "select $1::float8", Args: []any{1.5}}}, got.fn)
	require.Error(t, err, "a type Read does not send is refused before anything is sent")
	got = nil
	require.NoError(t, r.Read(ctx(t), db.Claims{"role": "anon"}, nil, []db.Query{{SQL: "select 1"}}, got.fn))
	assert.Equal(t, rows{{"0", "1"}}, got, "the connection is still usable")
}

// Errors keep their SQLSTATE and stop the read, which is rolled back; the
// connection goes back to the pool usable.
func TestReaderErrors(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	pool := onePool(t, rec)
	_, err := pool.Exec(ctx(t), `create table items (id int primary key, name text);
		revoke all on items from anon; grant select, insert on items to service_role;`)
	require.NoError(t, err)
	r := db.NewReader(pool)
	usable := func() {
		t.Helper()
		var got rows
		require.NoError(t, r.Read(ctx(t), db.Claims{"role": "anon"}, nil, []db.Query{{SQL: "select current_user"}}, got.fn))
		assert.Equal(t, rows{{"0", "anon"}}, got)
	}

	// Refused at Bind: a value its type does not accept.
	var got rows
	err = r.Read(ctx(t), db.Claims{"role": "anon"}, nil, []db.Query{{SQL: "select $1::int4", Args: []any{"abc"}}}, got.fn)
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr)
	assert.Equal(t, "22P02", pgErr.Code)
	assert.Equal(t, `invalid input syntax for type integer: "abc"`, pgErr.Message)
	assert.Empty(t, got)
	usable()

	// Refused while running, after an earlier statement wrote: rolled back.
	err = r.Read(ctx(t), db.Claims{"role": "service_role"}, nil, []db.Query{
		{SQL: "insert into items values (1, 'x')"},
		{SQL: "select 1/0"},
	}, got.fn)
	require.ErrorAs(t, err, &pgErr)
	assert.Equal(t, "22012", pgErr.Code)
	var n int
	require.NoError(t, pool.QueryRow(ctx(t), "select count(*) from items").Scan(&n))
	assert.Zero(t, n, "the insert was rolled back with the read")
	usable()

	// Refused at Prepare: no such table; and the role itself.
	err = r.Read(ctx(t), db.Claims{"role": "anon"}, nil, []db.Query{{SQL: "select * from missing"}}, got.fn)
	require.ErrorAs(t, err, &pgErr)
	assert.Equal(t, "42P01", pgErr.Code)
	err = r.Read(ctx(t), db.Claims{"role": "anon"}, nil, []db.Query{{SQL: "select * from items"}}, got.fn)
	require.ErrorAs(t, err, &pgErr)
	assert.Equal(t, "42501", pgErr.Code, "anon has no grant on items")
	usable()

	// A setting the server refuses fails the claims statement.
	err = r.Read(ctx(t), db.Claims{"role": "anon"}, []db.Setting{{Name: "timezone", Value: "Nowhere/Else"}}, []db.Query{{SQL: "select 1"}}, got.fn)
	require.ErrorAs(t, err, &pgErr)
	assert.Equal(t, "22023", pgErr.Code)
	assert.Contains(t, err.Error(), "setting role and claims")
	usable()

	// fn's error is returned as it was, after the rest of the answer is read.
	boom := errors.New("boom")
	calls := 0
	err = r.Read(ctx(t), db.Claims{"role": "anon"}, nil, []db.Query{{SQL: "select generate_series(1, 3)"}}, func(int, [][]byte) error {
		calls++
		return boom
	})
	assert.Same(t, boom, err)
	assert.Equal(t, 1, calls, "fn is not called again after its error")
	usable()

	// A role that is not a request role sends nothing at all.
	before, acquires := len(rec.statements()), pool.Stat().AcquireCount()
	for _, claims := range []db.Claims{{"role": "postgres"}, {"role": "anon "}, nil} {
		err = r.Read(ctx(t), claims, nil, []db.Query{{SQL: "select 1"}}, func(int, [][]byte) error { t.Fatal("called"); return nil })
		require.ErrorIs(t, err, db.ErrBadRole)
	}
	assert.Equal(t, before, len(rec.statements()))
	assert.Equal(t, acquires, pool.Stat().AcquireCount(), "no connection is even taken from the pool")

	// A cancelled context ends the read with the context's error.
	cancelled, cancel := context.WithCancel(ctx(t))
	cancel()
	err = r.Read(cancelled, db.Claims{"role": "anon"}, nil, []db.Query{{SQL: "select 1"}}, got.fn)
	require.ErrorIs(t, err, context.Canceled)
	usable()
	assert.Zero(t, pool.Stat().AcquiredConns(), "every connection went back to the pool")
}

// Statements are prepared once per connection, at most SetReadStmtsMax of
// them, and prepared again when the server can no longer run them as they
// were.
func TestReaderPreparedStatements(t *testing.T) {
	// Not parallel: it changes how many statements a connection keeps.
	pool := onePool(t, nil)
	r := db.NewReader(pool)
	prepared := func() int {
		t.Helper()
		var n int
		require.NoError(t, pool.QueryRow(ctx(t), "select count(*) from pg_prepared_statements where name like 'madbase_read_%'").Scan(&n))
		return n
	}
	read := func(sql string, args ...any) (rows, error) {
		var got rows
		err := r.Read(ctx(t), db.Claims{"role": "anon"}, nil, []db.Query{{SQL: sql, Args: args}}, got.fn)
		return got, err
	}
	for i := range 3 {
		got, err := read("select $1::int4 + 1", int32(i))
		require.NoError(t, err)
		assert.Equal(t, rows{{"0", fmt.Sprint(i + 1)}}, got)
	}
	assert.Equal(t, 2, prepared(), "the claims statement and the query, each prepared once")

	restore := db.SetReadStmtsMax(3)
	defer restore()
	for i := range 5 {
		got, err := read(fmt.Sprintf("select %d", i))
		require.NoError(t, err)
		assert.Equal(t, rows{{"0", fmt.Sprint(i)}}, got)
	}
	assert.Equal(t, 3, prepared(), "the least recently used are closed")

	// A function whose result type changes under a prepared statement.
	_, err := pool.Exec(ctx(t), "create function f() returns int language sql as 'select 1'; grant execute on function f() to anon")
	require.NoError(t, err)
	got, err := read("select * from f()")
	require.NoError(t, err)
	assert.Equal(t, rows{{"0", "1"}}, got)
	_, err = pool.Exec(ctx(t), "drop function f(); create function f() returns text language sql as $$select 'one'$$")
	require.NoError(t, err)
	got, err = read("select * from f()")
	require.NoError(t, err, "prepared again and sent once more")
	assert.Equal(t, rows{{"0", "one"}}, got)
	assert.LessOrEqual(t, prepared(), 3)
}

// Read gives pgconn's batch an encoding buffer that it keeps from one read
// to the next, where the pgx in use lays its Batch out as expected: if this
// fails after an upgrade of pgx, reads still work, but each grows a buffer
// again; see readScratch.buf.
func TestBatchBuffer(t *testing.T) {
	t.Parallel()
	assert.True(t, db.BatchBuffer(), "pgconn.Batch no longer begins with buf []byte")
}

// With default_query_exec_mode set to a mode that prepares nothing (for a
// pooler that does not keep prepared statements), reads prepare nothing.
func TestReaderWithoutPreparedStatements(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDB(t, platform.Source)
	cfg, err := pgxpool.ParseConfig(d.URL + "&default_query_exec_mode=exec")
	require.NoError(t, err)
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(ctx(t), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	r := db.NewReader(pool)
	for i := range 2 {
		var got rows
		err := r.Read(ctx(t), db.Claims{"role": "anon"}, []db.Setting{{Name: "request.method", Value: "GET"}}, []db.Query{
			{SQL: "select current_user, current_setting('request.method'), $1::int4 + 1", Args: []any{int32(i)}},
		}, got.fn)
		require.NoError(t, err)
		assert.Equal(t, rows{{"0", "anon", "GET", fmt.Sprint(i + 1)}}, got)
	}
	var pgErr *pgconn.PgError
	err = r.Read(ctx(t), db.Claims{"role": "anon"}, nil, []db.Query{{SQL: "select $1::int4", Args: []any{"abc"}}}, (&rows{}).fn)
	require.ErrorAs(t, err, &pgErr)
	assert.Equal(t, "22P02", pgErr.Code)
	var n int
	require.NoError(t, pool.QueryRow(ctx(t), "select count(*) from pg_prepared_statements").Scan(&n))
	assert.Zero(t, n)
}
