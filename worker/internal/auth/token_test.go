package auth

import (
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
	e.signUp("pw@example.com", "secret-123")
	e.run(t, []scenario{
		{name: "right password", method: "POST", path: "/token?grant_type=password",
			body: map[string]any{"email": "PW@example.com", "password": "secret-123"}, wantStatus: 200,
			wantContains: []string{`"access_token"`, `"refresh_token"`, `"token_type":"bearer"`}, wantNotContains: []string{"weak_password"}},
		{name: "wrong password", method: "POST", path: "/token?grant_type=password",
			body: map[string]any{"email": "pw@example.com", "password": "secret-124"}, wantStatus: 400, wantCode: "invalid_credentials"},
		{name: "unknown user", method: "POST", path: "/token?grant_type=password",
			body: map[string]any{"email": "nobody@example.com", "password": "secret-123"}, wantStatus: 400, wantCode: "invalid_credentials"},
		{name: "malformed email", method: "POST", path: "/token?grant_type=password",
			body: map[string]any{"email": "' or 1=1 --", "password": "x"}, wantStatus: 400, wantCode: "invalid_credentials"},
		{name: "no email or phone", method: "POST", path: "/token?grant_type=password",
			body: map[string]any{"password": "x"}, wantStatus: 400, wantCode: "validation_failed"},
		{name: "no password", method: "POST", path: "/token?grant_type=password",
			body: map[string]any{"email": "pw@example.com"}, wantStatus: 400, wantCode: "validation_failed"},
		{name: "phone of nobody", method: "POST", path: "/token?grant_type=password",
			body: map[string]any{"phone": "+15550000000", "password": "secret-123"}, wantStatus: 400, wantCode: "invalid_credentials"},
		{name: "unsupported grant", method: "POST", path: "/token?grant_type=client_credentials",
			body: map[string]any{}, wantStatus: 400, wantCode: "invalid_credentials", wantContains: []string{"unsupported_grant_type"}},
		{name: "no grant", method: "POST", path: "/token", body: map[string]any{}, wantStatus: 400, wantCode: "invalid_credentials"},
		{name: "pkce without code", method: "POST", path: "/token?grant_type=pkce", body: map[string]any{},
			wantStatus: 400, wantCode: "validation_failed"},
		{name: "pkce with an unknown code", method: "POST", path: "/token?grant_type=pkce",
			body: map[string]any{"auth_code": "nope", "code_verifier": "x"}, wantStatus: 404, wantCode: "flow_state_not_found"},
	})
}

func TestPasswordGrantWeakPassword(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	e.signUp("weak@example.com", "abcdefgh")
	strict := newEnvDB(t, e.pool, true, map[string]string{"AUTH_PASSWORD_MIN_LENGTH": "10"})
	s := strict.signIn("weak@example.com", "abcdefgh")
	require.NotEmpty(t, s["access_token"])
	assert.Equal(t, map[string]any{"message": "Password should be at least 10 characters.", "reasons": []any{"length"}}, s["weak_password"])
}

func TestPasswordGrantPhoneUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	r := e.req("POST", "/admin/users", map[string]any{"phone": "+1 (555) 123-4567", "password": "secret-123", "phone_confirm": true}, bearer(e.service)...)
	require.Equal(t, 200, r.Status, "%s", r.Body)
	assert.Equal(t, "15551234567", r.JSON(t)["phone"])
	s := e.req("POST", "/token?grant_type=password", map[string]any{"phone": "+15551234567", "password": "secret-123"})
	require.Equal(t, 200, s.Status, "%s", s.Body)
}

func refresh(e *env, tok string) resp {
	e.t.Helper()
	return e.req("POST", "/token?grant_type=refresh_token", map[string]any{"refresh_token": tok})
}

func TestRefreshRotation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	s0 := e.signUp("rot@example.com", "secret-123")
	t0 := s0["refresh_token"].(string)
	sid := claims(t, s0["access_token"].(string))["session_id"]

	r := refresh(e, t0)
	require.Equal(t, 200, r.Status, "%s", r.Body)
	s1 := r.JSON(t)
	t1 := s1["refresh_token"].(string)
	assert.NotEqual(t, t0, t1)
	assert.Equal(t, sid, claims(t, s1["access_token"].(string))["session_id"], "same session")
	assert.Equal(t, "password", claims(t, s1["access_token"].(string))["amr"].([]any)[0].(map[string]any)["method"])
	assert.NotEmpty(t, s1["user"].(map[string]any)["id"])

	// The client lost the answer: the revoked parent of the active token gets
	// the active token back, even long after.
	e.clock.advance(time.Hour)
	r = refresh(e, t0)
	require.Equal(t, 200, r.Status, "%s", r.Body)
	assert.Equal(t, t1, r.JSON(t)["refresh_token"])

	// Rotate on: t1 -> t2. Now t0 is a grandparent.
	r = refresh(e, t1)
	require.Equal(t, 200, r.Status)
	t2 := r.JSON(t)["refresh_token"].(string)

	// Within the reuse interval of t1's revocation, t1 still works.
	e.clock.advance(5 * time.Second)
	r = refresh(e, t1)
	require.Equal(t, 200, r.Status, "%s", r.Body)

	// t0 was revoked an hour ago and is not the active token's parent: reuse
	// ends the whole session at once, so the newest token fails at the
	// moment of reuse (not only once the reuse interval is over).
	r = refresh(e, t0)
	require.Equal(t, 400, r.Status)
	assert.Equal(t, "refresh_token_already_used", r.JSON(t)["code"])
	r = refresh(e, t2)
	assert.Equal(t, 400, r.Status, "the family is revoked: %s", r.Body)
	assert.Equal(t, "refresh_token_not_found", r.JSON(t)["code"], "its tokens went with the session")
}

// TestRefreshReuseEndsTheSession: reuse of a token outside the reuse
// interval ends its session at the moment of reuse — every refresh token of
// the family and the session's access tokens stop working — while the
// client's legitimate parallel refreshes before it worked, and the user's
// other sessions are untouched.
func TestRefreshReuseEndsTheSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil) // reuse interval 10 s, rotation on
	a := e.signUp("family@example.com", "secret-123")
	b := e.signIn("family@example.com", "secret-123")
	a0 := a["refresh_token"].(string)
	a1 := refresh(e, a0).JSON(t)["refresh_token"].(string)
	r := refresh(e, a1)
	require.Equal(t, 200, r.Status, "%s", r.Body)
	a2 := r.JSON(t)["refresh_token"].(string)
	e.clock.advance(11 * time.Second) // a0 and a1 are out of the reuse interval

	// Tabs of the legitimate client refresh a2 at once: all get one a3.
	const tabs = 4
	var wg sync.WaitGroup
	got := make([]resp, tabs)
	for i := range tabs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i] = refresh(e, a2)
		}()
	}
	wg.Wait()
	for i := range got {
		require.Equal(t, 200, got[i].Status, "tab %d: %s", i, got[i].Body)
	}
	a3 := got[0].JSON(t)["refresh_token"].(string)
	for i := range got {
		require.Equal(t, a3, got[i].JSON(t)["refresh_token"])
	}
	access := got[0].JSON(t)["access_token"].(string)
	require.Equal(t, 200, e.req("GET", "/user", nil, bearer(access)...).Status)

	// The thief replays a0.
	r = refresh(e, a0)
	require.Equal(t, 400, r.Status, "%s", r.Body)
	assert.Equal(t, "refresh_token_already_used", r.JSON(t)["code"])

	// At once, with no time passing: nothing of session a works any more.
	for _, tok := range []string{a3, a2, a1, a0} {
		r = refresh(e, tok)
		assert.Equal(t, 400, r.Status, "%s", r.Body)
	}
	r = e.req("GET", "/user", nil, bearer(access)...)
	assert.Equal(t, 403, r.Status, "%s", r.Body)
	assert.Equal(t, "session_not_found", r.JSON(t)["code"])
	var left int
	require.NoError(t, e.pool.QueryRow(t.Context(), `select count(*) from auth.refresh_tokens
		where session_id = $1::uuid`, claims(t, access)["session_id"]).Scan(&left))
	assert.Zero(t, left, "the family's tokens are gone")

	// Session b is another family: it lives on.
	r = refresh(e, b["refresh_token"].(string))
	require.Equal(t, 200, r.Status, "%s", r.Body)
	assert.Equal(t, 200, e.req("GET", "/user", nil, bearer(r.JSON(t)["access_token"].(string))...).Status)
}

func TestRefreshConcurrent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	s0 := e.signUp("tabs@example.com", "secret-123")
	t0 := s0["refresh_token"].(string)
	const tabs = 8
	var wg sync.WaitGroup
	results := make([]resp, tabs)
	start := make(chan struct{})
	for i := range tabs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i] = refresh(e, t0)
		}()
	}
	close(start)
	wg.Wait()
	got := map[string]int{}
	for i, r := range results {
		require.Equal(t, 200, r.Status, "tab %d was logged out: %s", i, r.Body)
		got[r.JSON(t)["refresh_token"].(string)]++
	}
	assert.Len(t, got, 1, "every tab gets the one new token")
	// And the chain goes on from it.
	for tok := range got {
		assert.Equal(t, 200, refresh(e, tok).Status)
	}
}

func TestRefreshErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	s := e.signUp("rerr@example.com", "secret-123")
	e.run(t, []scenario{
		{name: "unknown token", method: "POST", path: "/token?grant_type=refresh_token",
			body: map[string]any{"refresh_token": "abcdefghijkl"}, wantStatus: 400, wantCode: "refresh_token_not_found"},
		{name: "sql-looking token", method: "POST", path: "/token?grant_type=refresh_token",
			body: map[string]any{"refresh_token": "' or ''='"}, wantStatus: 400, wantCode: "refresh_token_not_found"},
		{name: "huge token", method: "POST", path: "/token?grant_type=refresh_token",
			body: map[string]any{"refresh_token": strings.Repeat("x", 5000)}, wantStatus: 400, wantCode: "refresh_token_not_found"},
		{name: "empty token", method: "POST", path: "/token?grant_type=refresh_token",
			body: map[string]any{"refresh_token": ""}, wantStatus: 400,
			wantContains: []string{`"error":"invalid_request"`, `"error_description":"refresh_token required"`}},
		{name: "token of the wrong type", method: "POST", path: "/token?grant_type=refresh_token",
			body: `{"refresh_token": 12}`, wantStatus: 400, wantCode: "bad_json"},
	})

	// Signed out: the token went with the session.
	r := e.req("POST", "/logout", nil, bearer(s["access_token"].(string))...)
	require.Equal(t, 204, r.Status, "%s", r.Body)
	r = refresh(e, s["refresh_token"].(string))
	assert.Equal(t, 400, r.Status)
	assert.Equal(t, "refresh_token_not_found", r.JSON(t)["code"])

	// Banned.
	s = e.signIn("rerr@example.com", "secret-123")
	uid := s["user"].(map[string]any)["id"].(string)
	tok := s["refresh_token"].(string)
	_, err := e.pool.Exec(t.Context(), `update auth.users set banned_until = now() + interval '1 day' where id = $1`, uid)
	require.NoError(t, err)
	r = refresh(e, tok)
	assert.Equal(t, 400, r.Status)
	assert.Equal(t, "user_banned", r.JSON(t)["code"])
}

func TestRefreshSessionLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, map[string]string{"AUTH_SESSION_TIMEBOX": "1h"})
	s := e.signUp("box@example.com", "secret-123")
	e.clock.advance(2 * time.Hour)
	r := refresh(e, s["refresh_token"].(string))
	assert.Equal(t, 400, r.Status)
	assert.Equal(t, "session_expired", r.JSON(t)["code"])

	i := newEnv(t, true, map[string]string{"AUTH_SESSION_INACTIVITY_TIMEOUT": "30m"})
	s = i.signUp("idle@example.com", "secret-123")
	i.clock.advance(20 * time.Minute)
	r = refresh(i, s["refresh_token"].(string))
	require.Equal(t, 200, r.Status, "%s", r.Body)
	i.clock.advance(40 * time.Minute)
	r = refresh(i, r.JSON(t)["refresh_token"].(string))
	assert.Equal(t, 400, r.Status)
	assert.Equal(t, "session_expired", r.JSON(t)["code"])
}

func TestRefreshReuseInterval(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil) // AUTH_REFRESH_TOKEN_REUSE_INTERVAL defaults to 10s
	t0 := e.signUp("reuse@example.com", "secret-123")["refresh_token"].(string)
	t1 := refresh(e, t0).JSON(t)["refresh_token"].(string)
	t2 := refresh(e, t1).JSON(t)["refresh_token"].(string)
	require.NotEqual(t, t1, t2)

	// t0 is a grandparent now, but it was revoked under 10 s ago.
	e.clock.advance(5 * time.Second)
	r := refresh(e, t0)
	require.Equal(t, 200, r.Status, "%s", r.Body)
	assert.Equal(t, t2, r.JSON(t)["refresh_token"], "the active token: the family does not branch")

	e.clock.advance(6 * time.Second)
	r = refresh(e, t0)
	assert.Equal(t, 400, r.Status)
	assert.Equal(t, "refresh_token_already_used", r.JSON(t)["code"])

	// Without rotation, a late reuse is refused but the session lives on.
	n := newEnv(t, true, map[string]string{"AUTH_REFRESH_TOKEN_ROTATION": "false", "AUTH_REFRESH_TOKEN_REUSE_INTERVAL": "0s"})
	a0 := n.signUp("norot@example.com", "secret-123")["refresh_token"].(string)
	a1 := refresh(n, a0).JSON(t)["refresh_token"].(string)
	a2 := refresh(n, a1).JSON(t)["refresh_token"].(string)
	n.clock.advance(time.Second)
	assert.Equal(t, 400, refresh(n, a0).Status)
	assert.Equal(t, 200, refresh(n, a2).Status)
}
