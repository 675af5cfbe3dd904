package auth

import (
	"testing"

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
