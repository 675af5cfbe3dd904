package auth

import (
	"context"
	"io"
	"net"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/madbase/madbase/worker/internal/app"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAPIKeyAndErrorShapes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	e.run(t, []scenario{
		{name: "no apikey", method: "POST", path: "/token?grant_type=password", body: map[string]any{},
			headers: []string{"apikey", "", "Authorization", ""}, wantStatus: 401, wantContains: []string{`{"message":"No API key found in request"}`}},
		{name: "bad apikey", method: "GET", path: "/user", headers: []string{"apikey", "abc"}, wantStatus: 401,
			wantContains: []string{`{"message":"Invalid API key"}`}},
		{name: "unknown opaque apikey", method: "GET", path: "/user", headers: []string{"apikey", "sb_publishable_guess"}, wantStatus: 401},
		{name: "user token is no apikey", method: "GET", path: "/user",
			headers: []string{"apikey", e.signUp("k@example.com", "secret-123")["access_token"].(string)}, wantStatus: 401},
		{name: "apikey in the query", method: "GET", path: "/settings?apikey=" + e.anon, headers: []string{"apikey", ""}, wantStatus: 200},
		{name: "publishable apikey", method: "POST", path: "/token?grant_type=password", headers: []string{"apikey", e.pub, "Authorization", ""},
			body: map[string]any{"email": "k@example.com", "password": "secret-123"}, wantStatus: 200},
		{name: "health without a key", method: "GET", path: "/health", headers: []string{"apikey", ""}, wantStatus: 200,
			wantContains: []string{`"name":"GoTrue"`}},
		{name: "settings without a key", method: "GET", path: "/settings", headers: []string{"apikey", ""}, wantStatus: 200,
			wantContains: []string{`"mailer_autoconfirm":true`, `"anonymous_users":true`, `"disable_signup":false`, `"github":false`}},
		{name: "jwks without a key", method: "GET", path: "/.well-known/jwks.json", headers: []string{"apikey", ""}, wantStatus: 200,
			wantContains: []string{`{"keys":[]}`}},
		{name: "authorize: no provider", method: "GET", path: "/authorize?provider=github", headers: []string{"apikey", ""},
			wantStatus: 400, wantCode: "validation_failed"},
		{name: "unknown route in the auth shape", method: "GET", path: "/factors", wantStatus: 404, wantCode: "not_found"},
		{name: "wrong method", method: "DELETE", path: "/token", wantStatus: 405},
	})

	// The 2024-01-01 shape echoes the version; the legacy shape has an int code.
	r := e.req("POST", "/token?grant_type=password", map[string]any{"email": "k@example.com", "password": "nope-nope"})
	assert.Equal(t, "2024-01-01", r.Header.Get(APIVersionHeader))
	assert.JSONEq(t, `{"code":"invalid_credentials","message":"Invalid login credentials"}`, string(r.Body))
	assert.Equal(t, "invalid_credentials", r.Header.Get("X-Sb-Error-Code"))
	r = e.req("POST", "/token?grant_type=password", map[string]any{"email": "k@example.com", "password": "nope-nope"}, APIVersionHeader, "")
	assert.JSONEq(t, `{"code":400,"error_code":"invalid_credentials","msg":"Invalid login credentials"}`, string(r.Body))
	assert.Empty(t, r.Header.Get(APIVersionHeader))
	r = e.req("POST", "/signup", map[string]any{"email": "w@example.com", "password": "1"}, APIVersionHeader, "")
	assert.JSONEq(t, `{"code":422,"error_code":"weak_password","msg":"Password should be at least 6 characters.","weak_password":{"reasons":["length"]}}`, string(r.Body))
	r = e.req("POST", "/signup", map[string]any{"email": "w@example.com", "password": "1"}, APIVersionHeader, "2023-05-01")
	assert.Equal(t, float64(422), r.JSON(t)["code"], "an older version gets the legacy shape")
}

func TestDatabaseFailureIsGeneric(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	e.signUp("db@example.com", "secret-123")
	_, err := e.pool.Exec(t.Context(), `alter table auth.sessions rename to sessions_gone`)
	require.NoError(t, err)
	r := e.req("POST", "/token?grant_type=password", map[string]any{"email": "db@example.com", "password": "secret-123"})
	assert.Equal(t, 500, r.Status)
	assert.Equal(t, "unexpected_failure", r.JSON(t)["code"])
	for _, leak := range []string{"sessions", "relation", "SQLSTATE", "insert", "auth."} {
		assert.NotContains(t, string(r.Body), leak)
	}
	r = e.req("POST", "/token?grant_type=password", map[string]any{"email": "db@example.com", "password": "secret-123"}, APIVersionHeader, "")
	assert.NotEmpty(t, r.JSON(t)["error_id"], "the legacy shape carries the request id on 5xx")
}

func TestWithoutDatabase(t *testing.T) {
	t.Parallel()
	e := newEnvDB(t, nil, true, nil)
	e.run(t, []scenario{
		{name: "health", method: "GET", path: "/health", wantStatus: 200},
		{name: "signup", method: "POST", path: "/signup", body: map[string]any{}, wantStatus: 500, wantCode: "unexpected_failure"},
	})
}

// TestDatabaseUnreachable points the pool at a port nothing listens on: the
// routes that need the database answer 503 in the auth shape with
// Retry-After (auth-js retries and keeps its session), in both API
// versions, and the link flow redirects with temporarily_unavailable.
func TestDatabaseUnreachable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := ln.Addr().String()
	require.NoError(t, ln.Close())
	pool, err := pgxpool.New(context.Background(), "postgres://madbase@"+dead+"/madbase?connect_timeout=5")
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	e := newEnvDB(t, pool, true, nil)
	tok := sign(t, testSecret, jwt.MapClaims{"sub": uuid.NewString(), "role": "authenticated", "aud": "authenticated",
		"session_id": uuid.NewString(), "exp": time.Now().Add(time.Hour).Unix()})

	e.run(t, []scenario{
		{name: "sign-in", method: "POST", path: "/token?grant_type=password",
			body: map[string]any{"email": "down@example.com", "password": "secret-123"}, wantStatus: 503, wantCode: "database_unavailable"},
		{name: "GET /user", method: "GET", path: "/user", headers: bearer(tok), wantStatus: 503, wantCode: "database_unavailable"},
		{name: "refresh", method: "POST", path: "/token?grant_type=refresh_token",
			body: map[string]any{"refresh_token": "abcdefghijkl"}, wantStatus: 503, wantCode: "database_unavailable"},
		{name: "signup", method: "POST", path: "/signup",
			body: map[string]any{"email": "down@example.com", "password": "secret-123"}, wantStatus: 503, wantCode: "database_unavailable"},
		{name: "health needs no database", method: "GET", path: "/health", wantStatus: 200},
	})

	for _, c := range []struct {
		method, path string
		body         any
		headers      []string
	}{
		{"POST", "/token?grant_type=password", map[string]any{"email": "down@example.com", "password": "secret-123"}, nil},
		{"GET", "/user", nil, bearer(tok)},
	} {
		r := e.req(c.method, c.path, c.body, c.headers...)
		assert.Equal(t, 503, r.Status, "%s", r.Body)
		assert.Equal(t, "1", r.Header.Get("Retry-After"))
		assert.Equal(t, "2024-01-01", r.Header.Get(APIVersionHeader))
		assert.Equal(t, "application/json; charset=utf-8", r.Header.Get("Content-Type"))
		assert.JSONEq(t, `{"code":"database_unavailable","message":"The database cannot be reached; retry later"}`, string(r.Body))
		assert.NotContains(t, string(r.Body), dead, "no address reaches the client")

		r = e.req(c.method, c.path, c.body, append(c.headers, APIVersionHeader, "")...)
		assert.Equal(t, 503, r.Status, "%s", r.Body)
		assert.Equal(t, "1", r.Header.Get("Retry-After"))
		legacy := r.JSON(t)
		assert.Equal(t, float64(503), legacy["code"])
		assert.Equal(t, "database_unavailable", legacy["error_code"])
		assert.NotEmpty(t, legacy["error_id"], "the request id, as on every 5xx")
	}

	r := e.req("GET", "/verify?type=signup&token=0123456789abcdef", nil)
	require.Equal(t, 303, r.Status, "%s", r.Body)
	assert.Contains(t, r.Header.Get("Location"), "error=temporarily_unavailable")
	assert.Contains(t, r.Header.Get("Location"), "error_code=database_unavailable")
}

// TestBadConfigurationAnswersInAuthShape: a service that could not start
// still answers in auth-js's error shape, never fiber's default.
func TestBadConfigurationAnswersInAuthShape(t *testing.T) {
	t.Parallel()
	a := app.New(app.Options{ID: "w1", Deps: app.Deps{Log: testLogger(t), Registry: prometheus.NewRegistry()},
		Capabilities: []app.Capability{Register}}) // no JWT_SECRET
	r := httptest.NewRequest("GET", "/auth/v1/settings", nil)
	r.Header.Set(APIVersionHeader, "2024-01-01")
	res, err := a.Fiber.Test(r, -1)
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	assert.Equal(t, 500, res.StatusCode)
	assert.JSONEq(t, `{"code":"unexpected_failure","message":"Auth is not configured"}`, string(body))
}
