package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/madbase/madbase/shared/apitest"
	"github.com/madbase/madbase/shared/config"
	"github.com/madbase/madbase/shared/db/dbtest"
	"github.com/madbase/madbase/shared/db/platform"
	"github.com/madbase/madbase/worker/internal/api"
	authmig "github.com/madbase/madbase/worker/migrations/auth"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/crypto/bcrypt"
)

// TestMain stops the test PostgreSQL, then fails the run if goroutines are
// left. The password hash threads are no leak: one pool serves the process
// for its whole life (sharedHashPool).
func TestMain(m *testing.M) {
	apitest.Main(m, apitest.Teardown(dbtest.Shutdown),
		apitest.Ignore(goleak.IgnoreTopFunction("github.com/madbase/madbase/worker/internal/auth.(*hashPool).thread")))
}

const testSecret = "an-auth-test-secret-that-is-long-enough-0123456789"

// captureMailer keeps every mail for the test to read.
type captureMailer struct {
	mu    sync.Mutex
	mails []Mail
}

func (m *captureMailer) Send(_ context.Context, mail Mail) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mails = append(m.mails, mail)
	return nil
}

// last returns the newest mail to addr of kind ("" for any kind).
func (m *captureMailer) last(t *testing.T, to, kind string) Mail {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := len(m.mails) - 1; i >= 0; i-- {
		if m.mails[i].To == to && (kind == "" || m.mails[i].Type == kind) {
			return m.mails[i]
		}
	}
	t.Fatalf("no %q mail to %s among %d", kind, to, len(m.mails))
	return Mail{}
}

func (m *captureMailer) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.mails)
}

// testClock is a settable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is one auth API on its own database.
type env struct {
	app *api.App
	// api sends requests the way auth-js does (see newAPI) and holds
	// the project's keys, made with testSecret.
	api   *apitest.Env
	pool  *pgxpool.Pool
	mail  *captureMailer
	clock *testClock
	// bcryptCost of new hashes: the minimum, for speed under -race, unless
	// a test checks the real cost.
	bcryptCost int
}

// newEnv starts the auth API with vars on top of the defaults; dev selects
// madbase dev's defaults.
func newEnv(t *testing.T, dev bool, vars map[string]string) *env {
	t.Helper()
	return newEnvDB(t, dbtest.New(t, platform.Source, authmig.Source), dev, vars)
}

func newEnvDB(t *testing.T, pool *pgxpool.Pool, dev bool, vars map[string]string) *env {
	t.Helper()
	return newEnvFull(t, pool, dev, vars, &captureMailer{})
}

// newEnvWithMailer uses the mailer the configuration picks when m is nil.
func newEnvWithMailer(t *testing.T, dev bool, vars map[string]string, m *captureMailer) *env {
	t.Helper()
	return newEnvFull(t, dbtest.New(t, platform.Source, authmig.Source), dev, vars, m)
}

// newEnvNoMailer is a second API on e's database with the configured mailer.
func newEnvNoMailer(t *testing.T, e *env) *env {
	t.Helper()
	return newEnvFull(t, e.pool, false, map[string]string{"AUTH_AUTOCONFIRM": "true"}, nil)
}

func newEnvFull(t *testing.T, pool *pgxpool.Pool, dev bool, vars map[string]string, m *captureMailer) *env {
	t.Helper()
	var mailer Mailer
	if m != nil {
		mailer = m
	}
	e := newEnvOpts(t, pool, dev, vars, mailer, testLogger(t))
	e.mail = m
	return e
}

// newEnvLogged is a dev API without autoconfirm on its own database, whose
// records (every level) go to log and whose mails go to mailer.
func newEnvLogged(t *testing.T, log *slog.Logger, mailer Mailer) *env {
	t.Helper()
	return newEnvOpts(t, dbtest.New(t, platform.Source, authmig.Source), true, map[string]string{"AUTH_AUTOCONFIRM": "false"}, mailer, log)
}

// newEnvOpts uses the mailer the configuration picks when mailer is nil.
func newEnvOpts(t *testing.T, pool *pgxpool.Pool, dev bool, vars map[string]string, mailer Mailer, log *slog.Logger) *env {
	t.Helper()
	all := map[string]string{"JWT_SECRET": testSecret, "SITE_URL": "http://app.test:3000"}
	for k, v := range vars {
		all[k] = v
	}
	var cfg config.Worker
	require.NoError(t, config.Load(&cfg, config.Map(all)))
	require.NoError(t, cfg.Auth.Validate(dev))
	e := &env{pool: pool, clock: &testClock{t: time.Now()}, bcryptCost: bcrypt.MinCost}
	if vars["TEST_REAL_BCRYPT_COST"] == "true" {
		e.bcryptCost = 0
	}
	reg := prometheus.NewRegistry()
	e.app = api.New(api.Options{
		ID: "w1",
		Deps: api.Deps{
			Log: log, DB: pool, Config: cfg, Registry: reg, Dev: dev,
		},
		Capabilities: []api.Capability{func(r fiber.Router, d api.Deps) {
			opts := Options{Now: e.clock.now, bcryptCost: e.bcryptCost}
			if mailer != nil {
				opts.Mailer = mailer
			}
			RegisterWith(r, d, opts)
		}},
	})
	e.api = newAPI(t, e.app)
	return e
}

// newAPI sends requests to a's auth API as auth-js does behind the edge:
// the anon key as apikey and bearer (a request's own headers replace them,
// "" removes them), the 2024-01-01 API version, the edge's forwarding
// headers, and auth-js's content type on JSON bodies.
func newAPI(t *testing.T, a *api.App) *apitest.Env {
	t.Helper()
	api := apitest.NewFiber(t, a.Fiber, testSecret)
	api.Prefix = "/auth/v1"
	api.Headers = map[string]string{
		"apikey":            api.Anon,
		"Authorization":     apitest.Bearer(api.Anon),
		APIVersionHeader:    "2024-01-01",
		"X-Forwarded-For":   "10.0.0.1",
		"X-Forwarded-Host":  "api.test:8000",
		"X-Forwarded-Proto": "http",
	}
	api.ContentType = "application/json;charset=UTF-8"
	return api
}

// bearer is the Authorization header of a user token.
func bearer(tok string) map[string]string {
	return map[string]string{"Authorization": apitest.Bearer(tok)}
}

// errCode and errHeader are what a row checks of an auth error with code c:
// the body's code (the 2024-01-01 shape) and the X-Sb-Error-Code header.
func errCode(c string) map[string]any      { return map[string]any{"code": c} }
func errHeader(c string) map[string]string { return map[string]string{"X-Sb-Error-Code": c} }

// signUp signs up email with password (autoconfirm must be on) and returns
// the session object.
func (e *env) signUp(t *testing.T, email, password string) map[string]any {
	t.Helper()
	r := e.api.Do(t, apitest.Request{Method: "POST", URL: "/signup",
		Body: map[string]any{"email": email, "password": password, "data": map[string]any{}}})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	s := r.Map(t)
	require.NotEmpty(t, s["access_token"], "%s", r.Body)
	return s
}

func (e *env) signIn(t *testing.T, email, password string) map[string]any {
	t.Helper()
	r := e.api.Do(t, apitest.Request{Method: "POST", URL: "/token?grant_type=password",
		Body: map[string]any{"email": email, "password": password}})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	return r.Map(t)
}

// refresh spends a refresh token.
func (e *env) refresh(t *testing.T, tok string) *apitest.Response {
	t.Helper()
	return e.api.Do(t, apitest.Request{Method: "POST", URL: "/token?grant_type=refresh_token",
		Body: map[string]any{"refresh_token": tok}})
}

// claims decodes a JWT's payload without verifying it.
func claims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	require.Len(t, parts, 3)
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	return m
}

// testLog sends log records to the test's output.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func testLoggerTo(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
