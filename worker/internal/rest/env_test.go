package rest

import (
	"context"
	_ "embed"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/madbase/madbase/shared/config"
	"github.com/madbase/madbase/shared/db/dbtest"
	"github.com/madbase/madbase/shared/db/platform"
	"github.com/madbase/madbase/shared/jwtauth"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

//go:embed testdata/schema.sql
var fixtureSQL string

const testSecret = "rest-test-jwt-secret-0123456789abcdef0123456789"

const (
	alice = "00000000-0000-4000-8000-00000000000a"
	bob   = "00000000-0000-4000-8000-00000000000b"
)

// env is a REST handler on a fresh database holding the fixture schema.
type env struct {
	t       *testing.T
	h       *Handler
	app     *fiber.App
	pool    *pgxpool.Pool
	anon    string
	service string
	rec     *recorder
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
	d := dbtest.NewDB(t, platform.Source)
	ctx := testCtx(t)
	_, err := d.Pool.Exec(ctx, fixtureSQL)
	require.NoError(t, err)
	pcfg, err := pgxpool.ParseConfig(d.URL)
	require.NoError(t, err)
	rec := &recorder{}
	pcfg.ConnConfig.Tracer = rec
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)

	h := New(testConfig(opts...), testSecret, pool, slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})))
	require.NoError(t, h.Cache().LoadNow(ctx))
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	h.Mount(app)
	anon, err := jwtauth.AnonKey([]byte(testSecret), time.Now(), time.Now().Add(time.Hour))
	require.NoError(t, err)
	service, err := jwtauth.ServiceRoleKey([]byte(testSecret), time.Now(), time.Now().Add(time.Hour))
	require.NoError(t, err)
	return &env{t: t, h: h, app: app, pool: pool, anon: anon, service: service, rec: rec}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// userToken signs an access token for a user.
func userToken(t *testing.T, sub string) string {
	t.Helper()
	tok, err := jwtauth.Sign([]byte(testSecret), jwt.MapClaims{"sub": sub, "role": "authenticated", "exp": time.Now().Add(time.Hour).Unix()})
	require.NoError(t, err)
	return tok
}

// response is what a test request got back.
type response struct {
	status  int
	body    string
	headers http.Header
}

// do sends a request as anon unless headers say otherwise.
func (e *env) do(method, target string, headers map[string]string, body string) response {
	e.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, r)
	req.Header.Set("apikey", e.anon)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	res, err := e.app.Test(req, 30000)
	require.NoError(e.t, err)
	b, err := io.ReadAll(res.Body)
	require.NoError(e.t, err)
	return response{status: res.StatusCode, body: string(b), headers: res.Header}
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
// transaction plumbing (begin, role, claims, settings, commit).
func (r *recorder) take() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []recorded
	for _, s := range r.sql {
		l := strings.ToLower(s.SQL)
		switch {
		case l == "begin", l == "commit", l == "rollback",
			strings.HasPrefix(l, "set local role"),
			strings.HasPrefix(l, "select set_config('request.jwt.claims'"),
			strings.HasPrefix(l, "select set_config('role'"),
			strings.HasPrefix(l, "select set_config('search_path'"),
			strings.HasPrefix(l, "select nullif(current_setting('response.headers'"):
			continue
		}
		out = append(out, s)
	}
	r.sql = nil
	return out
}

// testWriter sends log records to the test's output.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
