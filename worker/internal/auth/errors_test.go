package auth

import (
	"context"
	"fmt"
	"github.com/madbase/madbase/shared/apitest"
	"net"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/madbase/madbase/worker/internal/api"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAPIKeyAndErrorShapes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "no apikey", Method: "POST", URL: "/token?grant_type=password", Body: map[string]any{},
			Headers:    map[string]string{"apikey": "", "Authorization": ""},
			WantStatus: 401, WantContains: []string{`{"message":"No API key found in request"}`}},
		{Name: "bad apikey", URL: "/user", Headers: map[string]string{"apikey": "abc"}, WantStatus: 401,
			WantContains: []string{`{"message":"Invalid API key"}`}},
		{Name: "unknown opaque apikey", URL: "/user", Headers: map[string]string{"apikey": "sb_publishable_guess"}, WantStatus: 401},
		{Name: "user token is no apikey", URL: "/user",
			Headers: map[string]string{"apikey": e.signUp(t, "k@example.com", "secret-123")["access_token"].(string)}, WantStatus: 401},
		{Name: "apikey in the query", URL: "/settings?apikey=" + e.api.Anon, Headers: map[string]string{"apikey": ""}, WantStatus: 200},
		{Name: "publishable apikey", Method: "POST", URL: "/token?grant_type=password", Headers: map[string]string{"apikey": e.api.Publishable, "Authorization": ""},
			Body: map[string]any{"email": "k@example.com", "password": "secret-123"}, WantStatus: 200},
		{Name: "health without a key", URL: "/health", Headers: map[string]string{"apikey": ""}, WantStatus: 200,
			WantContains: []string{`"name":"GoTrue"`}},
		{Name: "settings without a key", URL: "/settings", Headers: map[string]string{"apikey": ""}, WantStatus: 200,
			WantContains: []string{`"mailer_autoconfirm":true`, `"anonymous_users":true`, `"disable_signup":false`, `"github":false`}},
		{Name: "jwks without a key", URL: "/.well-known/jwks.json", Headers: map[string]string{"apikey": ""}, WantStatus: 200,
			WantContains: []string{`{"keys":[]}`}},
		{Name: "authorize: no provider", URL: "/authorize?provider=github", Headers: map[string]string{"apikey": ""},
			WantStatus: 400, WantFields: errCode("validation_failed"), WantHeaders: errHeader("validation_failed")},
		{Name: "unknown route in the auth shape", URL: "/no-such-route", WantStatus: 404, WantFields: errCode("not_found"), WantHeaders: errHeader("not_found")},
		{Name: "wrong method", Method: "DELETE", URL: "/token", WantStatus: 405},
	})

	// The 2024-01-01 shape echoes the version; the legacy shape has an int code.
	wrong := map[string]any{"email": "k@example.com", "password": "nope-nope"}
	weak := map[string]any{"email": "w@example.com", "password": "1"}
	legacy := map[string]string{APIVersionHeader: ""}
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "2024-01-01 shape", Method: "POST", URL: "/token?grant_type=password", Body: wrong, WantStatus: 400,
			WantJSON:    `{"code":"invalid_credentials","message":"Invalid login credentials"}`,
			WantHeaders: map[string]string{APIVersionHeader: "2024-01-01", "X-Sb-Error-Code": "invalid_credentials"}},
		{Name: "legacy shape", Method: "POST", URL: "/token?grant_type=password", Body: wrong, Headers: legacy, WantStatus: 400,
			WantJSON:    `{"code":400,"error_code":"invalid_credentials","msg":"Invalid login credentials"}`,
			WantHeaders: map[string]string{APIVersionHeader: ""}},
		{Name: "legacy shape of a weak password", Method: "POST", URL: "/signup", Body: weak, Headers: legacy, WantStatus: 422,
			WantJSON: `{"code":422,"error_code":"weak_password","msg":"Password should be at least 6 characters.","weak_password":{"reasons":["length"]}}`},
		{Name: "an older version gets the legacy shape", Method: "POST", URL: "/signup", Body: weak,
			Headers: map[string]string{APIVersionHeader: "2023-05-01"}, WantStatus: 422, WantFields: map[string]any{"code": 422}},
	})
}

func TestDatabaseFailureIsGeneric(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	e.signUp(t, "db@example.com", "secret-123")
	_, err := e.pool.Exec(t.Context(), `alter table auth.sessions rename to sessions_gone`)
	require.NoError(t, err)
	signIn := map[string]any{"email": "db@example.com", "password": "secret-123"}
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "nothing of the failure reaches the client", Method: "POST", URL: "/token?grant_type=password", Body: signIn,
			WantStatus: 500, WantFields: errCode("unexpected_failure"),
			WantNotContains: []string{"sessions", "relation", "SQLSTATE", "insert", "auth."}},
		{Name: "the legacy shape carries the request id on 5xx", Method: "POST", URL: "/token?grant_type=password", Body: signIn,
			Headers: map[string]string{APIVersionHeader: ""}, WantStatus: 500,
			After: func(t *testing.T, _ *apitest.Env, r *apitest.Response) { assert.NotEmpty(t, r.Map(t)["error_id"]) }},
	})
}

func TestWithoutDatabase(t *testing.T) {
	t.Parallel()
	e := newEnvDB(t, nil, true, nil)
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "health", URL: "/health", WantStatus: 200},
		{Name: "signup", Method: "POST", URL: "/signup",
			Body: map[string]any{}, WantStatus: 500, WantFields: errCode("unexpected_failure"), WantHeaders: errHeader("unexpected_failure")},
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
	tok := e.api.Token(t, jwt.MapClaims{"sub": uuid.NewString(), "role": "authenticated", "aud": "authenticated",
		"session_id": uuid.NewString(), "exp": time.Now().Add(time.Hour).Unix()})

	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "sign-in", Method: "POST", URL: "/token?grant_type=password",
			Body:       map[string]any{"email": "down@example.com", "password": "secret-123"},
			WantStatus: 503, WantFields: errCode("database_unavailable"), WantHeaders: errHeader("database_unavailable")},
		{Name: "GET /user", URL: "/user", Headers: bearer(tok),
			WantStatus: 503, WantFields: errCode("database_unavailable"), WantHeaders: errHeader("database_unavailable")},
		{Name: "refresh", Method: "POST", URL: "/token?grant_type=refresh_token",
			Body:       map[string]any{"refresh_token": "abcdefghijkl"},
			WantStatus: 503, WantFields: errCode("database_unavailable"), WantHeaders: errHeader("database_unavailable")},
		{Name: "signup", Method: "POST", URL: "/signup",
			Body:       map[string]any{"email": "down@example.com", "password": "secret-123"},
			WantStatus: 503, WantFields: errCode("database_unavailable"), WantHeaders: errHeader("database_unavailable")},
		{Name: "health needs no database", URL: "/health", WantStatus: 200},
	})

	// Both shapes in full, for a route of each kind.
	var shapes []apitest.Scenario
	for _, c := range []apitest.Scenario{
		{Name: "sign-in", Method: "POST", URL: "/token?grant_type=password", Body: map[string]any{"email": "down@example.com", "password": "secret-123"}},
		{Name: "GET /user", URL: "/user", Headers: bearer(tok)},
	} {
		current, legacy := c, c
		current.Name += ", 2024-01-01 shape"
		current.WantStatus = 503
		current.WantHeaders = map[string]string{"Retry-After": "1", APIVersionHeader: "2024-01-01", "Content-Type": "application/json; charset=utf-8"}
		current.WantJSON = `{"code":"database_unavailable","message":"The database cannot be reached; retry later"}`
		current.WantNotContains = []string{dead} // no address reaches the client
		legacy.Name += ", legacy shape"
		legacy.Headers = map[string]string{APIVersionHeader: ""}
		for k, v := range c.Headers {
			legacy.Headers[k] = v
		}
		legacy.WantStatus = 503
		legacy.WantHeaders = map[string]string{"Retry-After": "1"}
		legacy.WantFields = map[string]any{"code": 503, "error_code": "database_unavailable"}
		legacy.After = func(t *testing.T, _ *apitest.Env, r *apitest.Response) {
			assert.NotEmpty(t, r.Map(t)["error_id"], "the request id, as on every 5xx")
		}
		shapes = append(shapes, current, legacy)
	}
	apitest.Run(t, e.api, shapes)

	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "a link redirects with temporarily_unavailable", URL: "/verify?type=signup&token=0123456789abcdef", WantStatus: 303,
			After: func(t *testing.T, _ *apitest.Env, r *apitest.Response) {
				assert.Contains(t, r.Header.Get("Location"), "error=temporarily_unavailable")
				assert.Contains(t, r.Header.Get("Location"), "error_code=database_unavailable")
			}},
	})
}

// TestBadConfigurationAnswersInAuthShape: a service that could not start
// still answers in auth-js's error shape, never fiber's default.
func TestBadConfigurationAnswersInAuthShape(t *testing.T) {
	t.Parallel()
	a := api.New(api.Options{ID: "w1", Deps: api.Deps{Log: testLogger(t), Registry: prometheus.NewRegistry()},
		Capabilities: []api.Capability{Register}}) // no JWT_SECRET
	api := apitest.NewFiber(t, a.Fiber, testSecret)
	apitest.Run(t, api, []apitest.Scenario{
		{Name: "settings", URL: "/auth/v1/settings", Headers: map[string]string{APIVersionHeader: "2024-01-01"},
			WantStatus: 500, WantJSON: `{"code":"unexpected_failure","message":"Auth is not configured"}`},
	})
}

// A request that ran out of its time is GoTrue's 504 request_timeout, not a
// database outage.
func TestTimeoutIsNotAnOutage(t *testing.T) {
	e := toError(fmt.Errorf("acquire connection: %w", context.DeadlineExceeded))
	assert.Equal(t, 504, e.Status)
	assert.Equal(t, CodeRequestTimeout, e.Code)
}
