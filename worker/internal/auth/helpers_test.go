package auth

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/madbase/madbase/shared/config"
	"github.com/madbase/madbase/shared/db/dbtest"
	"github.com/madbase/madbase/shared/db/platform"
	"github.com/madbase/madbase/shared/jwtauth"
	"github.com/madbase/madbase/worker/internal/app"
	authmig "github.com/madbase/madbase/worker/migrations/auth"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

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
	t       *testing.T
	app     *app.App
	pool    *pgxpool.Pool
	mail    *captureMailer
	clock   *testClock
	anon    string
	service string
	pub     string
	secret  string
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
	e := &env{t: t, pool: pool, clock: &testClock{t: time.Now()}, secret: testSecret, bcryptCost: bcrypt.MinCost}
	if vars["TEST_REAL_BCRYPT_COST"] == "true" {
		e.bcryptCost = 0
	}
	reg := prometheus.NewRegistry()
	e.app = app.New(app.Options{
		ID: "w1",
		Deps: app.Deps{
			Log: log, DB: pool, Config: cfg, Registry: reg, Dev: dev,
		},
		Capabilities: []app.Capability{func(r fiber.Router, d app.Deps) {
			opts := Options{Now: e.clock.now, bcryptCost: e.bcryptCost}
			if mailer != nil {
				opts.Mailer = mailer
			}
			RegisterWith(r, d, opts)
		}},
	})
	now := time.Now()
	e.anon, _ = jwtauth.AnonKey([]byte(testSecret), now, now.Add(time.Hour))
	e.service, _ = jwtauth.ServiceRoleKey([]byte(testSecret), now, now.Add(time.Hour))
	e.pub, _ = jwtauth.OpaqueKeys([]byte(testSecret))
	return e
}

// resp is a response read whole.
type resp struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body as an object.
func (r resp) JSON(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.Body, &m), "body: %s", r.Body)
	return m
}

// req sends a request with the anon key as apikey (unless headers say
// otherwise) and the 2024-01-01 API version, like auth-js.
func (e *env) req(method, path string, body any, headers ...string) resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		require.NoError(e.t, err)
		rd = bytes.NewReader(j)
	}
	r := httptest.NewRequest(method, "/auth/v1"+path, rd)
	r.Header.Set("apikey", e.anon)
	r.Header.Set("Authorization", "Bearer "+e.anon)
	r.Header.Set(APIVersionHeader, "2024-01-01")
	r.Header.Set("X-Forwarded-For", "10.0.0.1")
	r.Header.Set("X-Forwarded-Host", "api.test:8000")
	r.Header.Set("X-Forwarded-Proto", "http")
	if body != nil {
		r.Header.Set("Content-Type", "application/json;charset=UTF-8")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			r.Header.Del(headers[i])
		} else {
			r.Header.Set(headers[i], headers[i+1])
		}
	}
	res, err := e.app.Fiber.Test(r, -1)
	require.NoError(e.t, err)
	b, _ := io.ReadAll(res.Body)
	return resp{Status: res.StatusCode, Header: res.Header, Body: b}
}

// bearer is the header pair for a user token.
func bearer(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

// signUp signs up email with password (autoconfirm must be on) and returns
// the session object.
func (e *env) signUp(email, password string) map[string]any {
	e.t.Helper()
	r := e.req("POST", "/signup", map[string]any{"email": email, "password": password, "data": map[string]any{}})
	require.Equal(e.t, 200, r.Status, "%s", r.Body)
	s := r.JSON(e.t)
	require.NotEmpty(e.t, s["access_token"], "%s", r.Body)
	return s
}

func (e *env) signIn(email, password string) map[string]any {
	e.t.Helper()
	r := e.req("POST", "/token?grant_type=password", map[string]any{"email": email, "password": password})
	require.Equal(e.t, 200, r.Status, "%s", r.Body)
	return r.JSON(e.t)
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

// scenario is one row of a table-driven request test.
type scenario struct {
	name            string
	method, path    string
	body            any
	headers         []string
	wantStatus      int
	wantCode        string // the error code, when an error is expected
	wantContains    []string
	wantNotContains []string
}

func (e *env) run(t *testing.T, scs []scenario) {
	t.Helper()
	for _, sc := range scs {
		t.Run(sc.name, func(t *testing.T) {
			r := e.req(sc.method, sc.path, sc.body, sc.headers...)
			require.Equal(t, sc.wantStatus, r.Status, "body: %s", r.Body)
			if sc.wantCode != "" {
				require.Equal(t, sc.wantCode, r.JSON(t)["code"], "body: %s", r.Body)
				require.Equal(t, sc.wantCode, r.Header.Get("X-Sb-Error-Code"))
			}
			for _, s := range sc.wantContains {
				require.Contains(t, string(r.Body), s)
			}
			for _, s := range sc.wantNotContains {
				require.NotContains(t, string(r.Body), s)
			}
		})
	}
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
