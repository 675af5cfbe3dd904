package auth

import (
	"github.com/madbase/madbase/shared/apitest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPasswordGrantScenarios(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	e.signUp(t, "pw@example.com", "secret-123")
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "right password", Method: "POST", URL: "/token?grant_type=password",
			Body: map[string]any{"email": "PW@example.com", "password": "secret-123"}, WantStatus: 200,
			WantContains: []string{`"access_token"`, `"refresh_token"`, `"token_type":"bearer"`}, WantNotContains: []string{"weak_password"}},
		{Name: "wrong password", Method: "POST", URL: "/token?grant_type=password",
			Body:       map[string]any{"email": "pw@example.com", "password": "secret-124"},
			WantStatus: 400, WantFields: errCode("invalid_credentials"), WantHeaders: errHeader("invalid_credentials")},
		{Name: "unknown user", Method: "POST", URL: "/token?grant_type=password",
			Body:       map[string]any{"email": "nobody@example.com", "password": "secret-123"},
			WantStatus: 400, WantFields: errCode("invalid_credentials"), WantHeaders: errHeader("invalid_credentials")},
		{Name: "malformed email", Method: "POST", URL: "/token?grant_type=password",
			Body:       map[string]any{"email": "' or 1=1 --", "password": "x"},
			WantStatus: 400, WantFields: errCode("invalid_credentials"), WantHeaders: errHeader("invalid_credentials")},
		{Name: "no email or phone", Method: "POST", URL: "/token?grant_type=password",
			Body: map[string]any{"password": "x"}, WantStatus: 400, WantFields: errCode("validation_failed"), WantHeaders: errHeader("validation_failed")},
		{Name: "no password", Method: "POST", URL: "/token?grant_type=password",
			Body:       map[string]any{"email": "pw@example.com"},
			WantStatus: 400, WantFields: errCode("validation_failed"), WantHeaders: errHeader("validation_failed")},
		{Name: "phone of nobody", Method: "POST", URL: "/token?grant_type=password",
			Body:       map[string]any{"phone": "+15550000000", "password": "secret-123"},
			WantStatus: 400, WantFields: errCode("invalid_credentials"), WantHeaders: errHeader("invalid_credentials")},
		{Name: "unsupported grant", Method: "POST", URL: "/token?grant_type=client_credentials",
			Body:       map[string]any{},
			WantStatus: 400, WantFields: errCode("invalid_credentials"), WantHeaders: errHeader("invalid_credentials"), WantContains: []string{"unsupported_grant_type"}},
		{Name: "no grant", Method: "POST", URL: "/token",
			Body: map[string]any{}, WantStatus: 400, WantFields: errCode("invalid_credentials"), WantHeaders: errHeader("invalid_credentials")},
		{Name: "pkce without code", Method: "POST", URL: "/token?grant_type=pkce", Body: map[string]any{},
			WantStatus: 400, WantFields: errCode("validation_failed"), WantHeaders: errHeader("validation_failed")},
		{Name: "pkce with an unknown code", Method: "POST", URL: "/token?grant_type=pkce",
			Body:       map[string]any{"auth_code": "nope", "code_verifier": "x"},
			WantStatus: 404, WantFields: errCode("flow_state_not_found"), WantHeaders: errHeader("flow_state_not_found")},
	})
}

func TestPasswordGrantWeakPassword(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	e.signUp(t, "weak@example.com", "abcdefgh")
	strict := newEnvDB(t, e.pool, true, map[string]string{"AUTH_PASSWORD_MIN_LENGTH": "10"})
	s := strict.signIn(t, "weak@example.com", "abcdefgh")
	require.NotEmpty(t, s["access_token"])
	assert.Equal(t, map[string]any{"message": "Password should be at least 10 characters.", "reasons": []any{"length"}}, s["weak_password"])
}

func TestPasswordGrantPhoneUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "a phone user", Method: "POST", URL: "/admin/users", Headers: bearer(e.api.Service),
			Body:       map[string]any{"phone": "+1 (555) 123-4567", "password": "secret-123", "phone_confirm": true},
			WantStatus: 200, WantFields: map[string]any{"phone": "15551234567"}},
		{Name: "signs in with the number", Method: "POST", URL: "/token?grant_type=password",
			Body: map[string]any{"phone": "+15551234567", "password": "secret-123"}, WantStatus: 200},
	})
}

func TestRefreshRotation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	s0 := e.signUp(t, "rot@example.com", "secret-123")
	t0 := s0["refresh_token"].(string)
	sid := claims(t, s0["access_token"].(string))["session_id"]

	r := e.refresh(t, t0)
	require.Equal(t, 200, r.Status, "%s", r.Body)
	s1 := r.Map(t)
	t1 := s1["refresh_token"].(string)
	assert.NotEqual(t, t0, t1)
	assert.Equal(t, sid, claims(t, s1["access_token"].(string))["session_id"], "same session")
	assert.Equal(t, "password", claims(t, s1["access_token"].(string))["amr"].([]any)[0].(map[string]any)["method"])
	assert.NotEmpty(t, s1["user"].(map[string]any)["id"])

	// The client lost the answer: the revoked parent of the active token gets
	// the active token back, even long after.
	e.clock.advance(time.Hour)
	r = e.refresh(t, t0)
	require.Equal(t, 200, r.Status, "%s", r.Body)
	assert.Equal(t, t1, r.Map(t)["refresh_token"])

	// Rotate on: t1 -> t2. Now t0 is a grandparent.
	r = e.refresh(t, t1)
	require.Equal(t, 200, r.Status)
	t2 := r.Map(t)["refresh_token"].(string)

	// Within the reuse interval of t1's revocation, t1 still works.
	e.clock.advance(5 * time.Second)
	r = e.refresh(t, t1)
	require.Equal(t, 200, r.Status, "%s", r.Body)

	// t0 was revoked an hour ago and is not the active token's parent: reuse
	// ends the whole session at once, so the newest token fails at the
	// moment of reuse (not only once the reuse interval is over).
	r = e.refresh(t, t0)
	require.Equal(t, 400, r.Status)
	assert.Equal(t, "refresh_token_already_used", r.Map(t)["code"])
	r = e.refresh(t, t2)
	assert.Equal(t, 400, r.Status, "the family is revoked: %s", r.Body)
	assert.Equal(t, "refresh_token_not_found", r.Map(t)["code"], "its tokens went with the session")
}

// TestRefreshReuseEndsTheSession: reuse of a token outside the reuse
// interval ends its session at the moment of reuse — every refresh token of
// the family and the session's access tokens stop working — while the
// client's legitimate parallel refreshes before it worked, and the user's
// other sessions are untouched.
func TestRefreshReuseEndsTheSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil) // reuse interval 10 s, rotation on
	a := e.signUp(t, "family@example.com", "secret-123")
	b := e.signIn(t, "family@example.com", "secret-123")
	a0 := a["refresh_token"].(string)
	a1 := e.refresh(t, a0).Map(t)["refresh_token"].(string)
	r := e.refresh(t, a1)
	require.Equal(t, 200, r.Status, "%s", r.Body)
	a2 := r.Map(t)["refresh_token"].(string)
	e.clock.advance(11 * time.Second) // a0 and a1 are out of the reuse interval

	// Tabs of the legitimate client refresh a2 at once: all get one a3.
	const tabs = 4
	var wg sync.WaitGroup
	got := make([]*apitest.Response, tabs)
	for i := range tabs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i] = e.refresh(t, a2)
		}()
	}
	wg.Wait()
	for i := range got {
		require.Equal(t, 200, got[i].Status, "tab %d: %s", i, got[i].Body)
	}
	a3 := got[0].Map(t)["refresh_token"].(string)
	for i := range got {
		require.Equal(t, a3, got[i].Map(t)["refresh_token"])
	}
	access := got[0].Map(t)["access_token"].(string)
	require.Equal(t, 200, e.api.Do(t, apitest.Request{URL: "/user", Headers: bearer(access)}).Status)

	// The thief replays a0.
	r = e.refresh(t, a0)
	require.Equal(t, 400, r.Status, "%s", r.Body)
	assert.Equal(t, "refresh_token_already_used", r.Map(t)["code"])

	// At once, with no time passing: nothing of session a works any more.
	for _, tok := range []string{a3, a2, a1, a0} {
		r = e.refresh(t, tok)
		assert.Equal(t, 400, r.Status, "%s", r.Body)
	}
	r = e.api.Do(t, apitest.Request{URL: "/user", Headers: bearer(access)})
	assert.Equal(t, 403, r.Status, "%s", r.Body)
	assert.Equal(t, "session_not_found", r.Map(t)["code"])
	var left int
	require.NoError(t, e.pool.QueryRow(t.Context(), `select count(*) from auth.refresh_tokens
		where session_id = $1::uuid`, claims(t, access)["session_id"]).Scan(&left))
	assert.Zero(t, left, "the family's tokens are gone")

	// Session b is another family: it lives on.
	r = e.refresh(t, b["refresh_token"].(string))
	require.Equal(t, 200, r.Status, "%s", r.Body)
	assert.Equal(t, 200, e.api.Do(t, apitest.Request{URL: "/user", Headers: bearer(r.Map(t)["access_token"].(string))}).Status)
}

func TestRefreshConcurrent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	s0 := e.signUp(t, "tabs@example.com", "secret-123")
	t0 := s0["refresh_token"].(string)
	const tabs = 8
	var wg sync.WaitGroup
	results := make([]*apitest.Response, tabs)
	start := make(chan struct{})
	for i := range tabs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i] = e.refresh(t, t0)
		}()
	}
	close(start)
	wg.Wait()
	got := map[string]int{}
	for i, r := range results {
		require.Equal(t, 200, r.Status, "tab %d was logged out: %s", i, r.Body)
		got[r.Map(t)["refresh_token"].(string)]++
	}
	assert.Len(t, got, 1, "every tab gets the one new token")
	// And the chain goes on from it.
	for tok := range got {
		assert.Equal(t, 200, e.refresh(t, tok).Status)
	}
}

func TestRefreshErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	s := e.signUp(t, "rerr@example.com", "secret-123")
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "unknown token", Method: "POST", URL: "/token?grant_type=refresh_token",
			Body:       map[string]any{"refresh_token": "abcdefghijkl"},
			WantStatus: 400, WantFields: errCode("refresh_token_not_found"), WantHeaders: errHeader("refresh_token_not_found")},
		{Name: "sql-looking token", Method: "POST", URL: "/token?grant_type=refresh_token",
			Body:       map[string]any{"refresh_token": "' or ''='"},
			WantStatus: 400, WantFields: errCode("refresh_token_not_found"), WantHeaders: errHeader("refresh_token_not_found")},
		{Name: "huge token", Method: "POST", URL: "/token?grant_type=refresh_token",
			Body:       map[string]any{"refresh_token": strings.Repeat("x", 5000)},
			WantStatus: 400, WantFields: errCode("refresh_token_not_found"), WantHeaders: errHeader("refresh_token_not_found")},
		{Name: "empty token", Method: "POST", URL: "/token?grant_type=refresh_token",
			Body: map[string]any{"refresh_token": ""}, WantStatus: 400,
			WantContains: []string{`"error":"invalid_request"`, `"error_description":"refresh_token required"`}},
		{Name: "token of the wrong type", Method: "POST", URL: "/token?grant_type=refresh_token",
			Body: `{"refresh_token": 12}`, WantStatus: 400, WantFields: errCode("bad_json"), WantHeaders: errHeader("bad_json")},
	})

	// Signed out: the token went with the session.
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "sign out", Method: "POST", URL: "/logout", Headers: bearer(s["access_token"].(string)), WantStatus: 204},
		{Name: "the token of a signed-out session", Method: "POST", URL: "/token?grant_type=refresh_token",
			Body: map[string]any{"refresh_token": s["refresh_token"]}, WantStatus: 400, WantFields: errCode("refresh_token_not_found")},
	})

	s = e.signIn(t, "rerr@example.com", "secret-123")
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "the token of a banned user", Method: "POST", URL: "/token?grant_type=refresh_token",
			Body: map[string]any{"refresh_token": s["refresh_token"]}, WantStatus: 400, WantFields: errCode("user_banned"),
			Before: func(t *testing.T, _ *apitest.Env) {
				_, err := e.pool.Exec(t.Context(), `update auth.users set banned_until = now() + interval '1 day' where id = $1`,
					s["user"].(map[string]any)["id"])
				require.NoError(t, err)
			}},
	})
}

func TestRefreshSessionLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, map[string]string{"AUTH_SESSION_TIMEBOX": "1h"})
	s := e.signUp(t, "box@example.com", "secret-123")
	e.clock.advance(2 * time.Hour)
	r := e.refresh(t, s["refresh_token"].(string))
	assert.Equal(t, 400, r.Status)
	assert.Equal(t, "session_expired", r.Map(t)["code"])

	i := newEnv(t, true, map[string]string{"AUTH_SESSION_INACTIVITY_TIMEOUT": "30m"})
	s = i.signUp(t, "idle@example.com", "secret-123")
	i.clock.advance(20 * time.Minute)
	r = i.refresh(t, s["refresh_token"].(string))
	require.Equal(t, 200, r.Status, "%s", r.Body)
	i.clock.advance(40 * time.Minute)
	r = i.refresh(t, r.Map(t)["refresh_token"].(string))
	assert.Equal(t, 400, r.Status)
	assert.Equal(t, "session_expired", r.Map(t)["code"])
}

func TestRefreshReuseInterval(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil) // AUTH_REFRESH_TOKEN_REUSE_INTERVAL defaults to 10s
	t0 := e.signUp(t, "reuse@example.com", "secret-123")["refresh_token"].(string)
	t1 := e.refresh(t, t0).Map(t)["refresh_token"].(string)
	t2 := e.refresh(t, t1).Map(t)["refresh_token"].(string)
	require.NotEqual(t, t1, t2)

	// t0 is a grandparent now, but it was revoked under 10 s ago.
	e.clock.advance(5 * time.Second)
	r := e.refresh(t, t0)
	require.Equal(t, 200, r.Status, "%s", r.Body)
	assert.Equal(t, t2, r.Map(t)["refresh_token"], "the active token: the family does not branch")

	e.clock.advance(6 * time.Second)
	r = e.refresh(t, t0)
	assert.Equal(t, 400, r.Status)
	assert.Equal(t, "refresh_token_already_used", r.Map(t)["code"])

	// Without rotation, a late reuse is refused but the session lives on.
	n := newEnv(t, true, map[string]string{"AUTH_REFRESH_TOKEN_ROTATION": "false", "AUTH_REFRESH_TOKEN_REUSE_INTERVAL": "0s"})
	a0 := n.signUp(t, "norot@example.com", "secret-123")["refresh_token"].(string)
	a1 := n.refresh(t, a0).Map(t)["refresh_token"].(string)
	a2 := n.refresh(t, a1).Map(t)["refresh_token"].(string)
	n.clock.advance(time.Second)
	assert.Equal(t, 400, n.refresh(t, a0).Status)
	assert.Equal(t, 200, n.refresh(t, a2).Status)
}
