package rest

import (
	"context"
	_ "embed"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/madbase/madbase/shared/apitest"
	"github.com/madbase/madbase/shared/config"
	"github.com/madbase/madbase/shared/db/dbtest"
	"github.com/madbase/madbase/shared/db/platform"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// TestMain stops the test PostgreSQL once the tests are done, then fails the
// run if goroutines (a pool's connections, a schema cache's listener) are
// left. fasthttp's client, which only BenchmarkRESTVersusTransaction's load
// uses (REST itself is no HTTP client), leaves cleaners that stop on their
// own timers seconds after its last connection closes, and a DNS cache
// cleaner shared by the process: those are let live.
func TestMain(m *testing.M) {
	apitest.Main(m, apitest.Teardown(dbtest.Shutdown), apitest.Ignore(
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*Client).mCleaner"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*HostClient).connsCleaner"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*TCPDialer).tcpAddrsClean"),
	))
}

//go:embed testdata/schema.sql
var fixtureSQL string

const testSecret = "rest-test-jwt-secret-0123456789abcdef0123456789"

const (
	alice = "00000000-0000-4000-8000-00000000000a"
	bob   = "00000000-0000-4000-8000-00000000000b"
)

// env is a REST handler on a fresh database holding the fixture schema. Its
// apitest.Env sends requests as anon unless their headers say otherwise, and
// holds the keys and tokens; rec sees the SQL the handler sends.
type env struct {
	h    *Handler
	pool *pgxpool.Pool
	rec  *recorder
	api  *apitest.Env
}

type envOption func(*config.Rest)

func testConfig(opts ...envOption) config.Rest {
	var cfg config.Worker
	if err := config.Load(&cfg, config.Map(nil)); err != nil {
		panic(err)
	}
	r := cfg.Rest
	for _, o := range opts {
		o(&r)
	}
	return r
}

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	return newEnvOn(t, fixtureSQL, testSecret, slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})), opts...)
}

// newEnvOn is newEnv on a fresh database holding fixture, with tokens signed
// by secret and the handler logging to log (nil: nowhere).
func newEnvOn(t *testing.T, fixture, secret string, log *slog.Logger, opts ...envOption) *env {
	t.Helper()
	d := dbtest.NewDB(t, platform.Source)
	ctx := testCtx(t)
	_, err := d.Pool.Exec(ctx, fixture)
	require.NoError(t, err)
	pcfg, err := pgxpool.ParseConfig(d.URL)
	require.NoError(t, err)
	rec := &recorder{}
	pcfg.ConnConfig.Tracer = rec
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)

	h := New(testConfig(opts...), secret, pool, log)
	require.NoError(t, h.Cache().LoadNow(ctx))
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	h.Mount(app)
	return &env{h: h, pool: pool, rec: rec, api: anonAPI(t, app, secret)}
}

// newAPI is app's apitest.Env, whose requests carry the anon key unless
// their headers say otherwise ("apikey": "" sends none).
func newAPI(t testing.TB, app *fiber.App) *apitest.Env {
	t.Helper()
	return anonAPI(t, app, testSecret)
}

// anonAPI is newAPI with tokens and keys signed by secret.
func anonAPI(t testing.TB, app *fiber.App, secret string) *apitest.Env {
	t.Helper()
	api := apitest.NewFiber(t, app, secret)
	api.Headers = map[string]string{"apikey": api.Anon}
	return api
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// recorder remembers the SQL each connection sends, for golden tests.
type recorder struct {
	mu  sync.Mutex
	sql []recorded
}

type recorded struct {
	SQL  string
	Args []any
}

func (r *recorder) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	r.add(d.SQL, d.Args)
	return ctx
}
func (r *recorder) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (r *recorder) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}
func (r *recorder) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	r.add(d.SQL, d.Args)
}
func (r *recorder) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

func (r *recorder) add(sql string, args []any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sql = append(r.sql, recorded{SQL: sql, Args: args})
}

// take returns and forgets the statements recorded so far, without the
// transaction plumbing.
func (r *recorder) take() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []recorded
	for _, s := range r.sql {
		if !plumbing(s.SQL) {
			out = append(out, s)
		}
	}
	r.sql = nil
	return out
}

// plumbing reports a statement of the transaction around a request's own:
// begin, role, claims, settings, commit, and a separate read of the
// response settings.
func plumbing(sql string) bool {
	l := strings.ToLower(sql)
	return l == "begin" || l == "commit" || l == "rollback" ||
		strings.HasPrefix(l, "begin ") ||
		strings.HasPrefix(l, "set local ") ||
		strings.HasPrefix(l, "select set_config(") ||
		strings.HasPrefix(l, "select nullif(current_setting('response.headers'")
}

// testWriter sends log records to the test's output.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
