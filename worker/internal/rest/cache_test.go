package rest

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/madbase/madbase/bus"
	"github.com/madbase/madbase/bus/bustest"
	"github.com/madbase/madbase/shared/apitest"
	"github.com/madbase/madbase/shared/db/dbtest"
	"github.com/madbase/madbase/shared/db/platform"
	restmig "github.com/madbase/madbase/worker/migrations/rest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSchemaReload: before the first load requests get 503 PGRST002; then
// the cache follows NOTIFY pgrst, bus.SchemaReload messages, and keeps
// listening after its LISTEN connection is killed.
func TestSchemaReload(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDB(t, platform.Source)
	ns := bustest.RunServer(t)
	nc := bustest.Connect(t, ns)
	h := New(testConfig(), testSecret, d.Pool, nil)
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	h.Mount(app)
	api := newAPI(t, app)

	res := api.Do(t, apitest.Request{URL: "/rest/v1/one"})
	assert.Equal(t, 503, res.Status)
	assert.Contains(t, res.String(), "PGRST002")
	assert.NotEmpty(t, res.Header.Get("Retry-After"))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.Cache().Run(ctx, nc) }()
	t.Cleanup(func() { cancel(); <-done })
	bustest.Eventually(t, 10*time.Second, func() bool { return h.Cache().Loads() >= 1 }, "first load")

	status := func(path string) func() bool {
		return func() bool { return api.Do(t, apitest.Request{URL: path}).Status == 200 }
	}
	exec := func(sql string) {
		_, err := d.Pool.Exec(testCtx(t), sql)
		require.NoError(t, err)
	}

	exec("create table one (id int)")
	assert.Equal(t, 404, api.Do(t, apitest.Request{URL: "/rest/v1/one"}).Status, "not in the cache until a reload")
	exec("notify pgrst, 'reload schema'")
	bustest.Eventually(t, 10*time.Second, status("/rest/v1/one"), "NOTIFY pgrst reloads")

	exec("create table two (id int)")
	exec("notify pgrst")
	bustest.Eventually(t, 10*time.Second, status("/rest/v1/two"), "a bare NOTIFY pgrst reloads")

	exec("create table three (id int)")
	require.NoError(t, nc.Publish(bus.SchemaReload, nil))
	bustest.Eventually(t, 10*time.Second, status("/rest/v1/three"), "a NATS message reloads")

	// Kill the LISTEN connection: the cache reconnects (and reloads, since
	// notifications may have been missed meanwhile).
	exec("create table four (id int)")
	exec(`select pg_terminate_backend(pid) from pg_stat_activity where query ilike 'listen %' and datname = current_database()`)
	bustest.Eventually(t, 10*time.Second, status("/rest/v1/four"), "reconnecting reloads")
	exec("create table five (id int)")
	bustest.Eventually(t, 10*time.Second, func() bool {
		_, _ = d.Pool.Exec(testCtx(t), "notify pgrst, 'reload schema'")
		return status("/rest/v1/five")()
	}, "NOTIFY works after the reconnection")
}

// TestDDLReloadsByItself: with the REST migration's event triggers, DDL
// sends the NOTIFY itself, as on Supabase.
func TestDDLReloadsByItself(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDB(t, platform.Source, restmig.Source)
	h := New(testConfig(), testSecret, d.Pool, nil)
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	h.Mount(app)
	api := newAPI(t, app)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.Cache().Run(ctx, nil) }()
	t.Cleanup(func() { cancel(); <-done })
	bustest.Eventually(t, 10*time.Second, func() bool { return h.Cache().Loads() >= 1 }, "first load")
	before := h.Cache().Loads()

	_, err := d.Pool.Exec(testCtx(t), "create table auto_reloaded (id int primary key); insert into auto_reloaded values (7)")
	require.NoError(t, err)
	bustest.Eventually(t, 10*time.Second, func() bool {
		return api.Do(t, apitest.Request{URL: "/rest/v1/auto_reloaded"}).String() == `[{"id":7}]`
	}, "create table reloads the cache")
	assert.Greater(t, h.Cache().Loads(), before)

	_, err = d.Pool.Exec(testCtx(t), "drop table auto_reloaded")
	require.NoError(t, err)
	bustest.Eventually(t, 10*time.Second, func() bool {
		return api.Do(t, apitest.Request{URL: "/rest/v1/auto_reloaded"}).Status == 404
	}, "drop table reloads the cache")

	_, err = d.Pool.Exec(testCtx(t), "create temp table scratch (id int)")
	require.NoError(t, err)
	fns := h.Cache().Get().AllFunctions("pgrst")
	assert.Empty(t, fns, "the event trigger functions are not exposed")
}

// TestSeededLoad: a cache seeded with an earlier cache's schema takes it
// while the catalog's fingerprint is unchanged, and loads anew after any
// DDL, a comment or a grant; a seed for other exposed schemas is not taken.
func TestSeededLoad(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDB(t, platform.Source)
	ctx := testCtx(t)
	exec := func(sql string) {
		_, err := d.Pool.Exec(ctx, sql)
		require.NoError(t, err)
	}
	exec("create table seeded (id int primary key)")
	first := NewCache(d.Pool, []string{"public"}, slog.New(slog.DiscardHandler))
	require.NoError(t, first.LoadNow(ctx))
	s1 := first.Get()
	require.NotEmpty(t, s1.fingerprint)

	next := func(seed *Schema, schemas ...string) *Schema {
		c := NewCache(d.Pool, schemas, slog.New(slog.DiscardHandler))
		c.Seed(seed)
		require.NoError(t, c.LoadNow(ctx))
		return c.Get()
	}
	require.Same(t, s1, next(s1, "public"), "unchanged catalog: the seed is taken")
	require.NotSame(t, s1, next(s1, "public", "extensions"), "other schemas: loaded anew")

	for _, ddl := range []string{
		"alter table seeded add column name text",
		"comment on table seeded is 'rows'",
		"grant select on seeded to anon",
		"create function seeded_count() returns int language sql as 'select 1'",
		"alter table seeded drop column name",
		"do $$ begin execute format('alter role anon in database %I set statement_timeout = %L', current_database(), '5s'); end $$",
	} {
		before := next(s1, "public")
		exec(ddl)
		after := next(before, "public")
		require.NotSame(t, before, after, "after %q the schema is loaded anew", ddl)
		require.NotEqual(t, before.fingerprint, after.fingerprint, ddl)
		require.Same(t, after, next(after, "public"), "and taken again while unchanged")
	}
}
