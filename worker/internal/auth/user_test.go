package auth

import (
	"context"
	"encoding/json"
	"regexp"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/madbase/madbase/shared/jwtauth"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func sign(t *testing.T, secret string, c jwt.MapClaims) string {
	t.Helper()
	tok, err := jwtauth.Sign([]byte(secret), c)
	require.NoError(t, err)
	return tok
}

func TestGetUserScenarios(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	s := e.signUp("me@example.com", "secret-123")
	tok := s["access_token"].(string)
	uid := s["user"].(map[string]any)["id"].(string)
	now := time.Now()
	expired := sign(t, testSecret, jwt.MapClaims{"sub": uid, "role": "authenticated", "exp": now.Add(-time.Hour).Unix()})
	otherSecret := sign(t, "another-secret-that-is-long-enough-0123456789", jwt.MapClaims{"sub": uid, "role": "authenticated"})
	notUUID := sign(t, testSecret, jwt.MapClaims{"sub": "1 or 1=1", "role": "authenticated"})
	ghost := sign(t, testSecret, jwt.MapClaims{"sub": "00000000-0000-4000-8000-000000000000", "role": "authenticated"})
	noSession := sign(t, testSecret, jwt.MapClaims{"sub": uid, "role": "authenticated", "session_id": "00000000-0000-4000-8000-000000000001"})
	algNone := "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiIxIiwicm9sZSI6InNlcnZpY2Vfcm9sZSJ9."

	e.run(t, []scenario{
		{name: "own token", method: "GET", path: "/user", headers: bearer(tok), wantStatus: 200,
			wantContains: []string{`"email":"me@example.com"`, `"identities":[{`}, wantNotContains: []string{"encrypted_password", "$2a$"}},
		{name: "no bearer", method: "GET", path: "/user", headers: []string{"Authorization", ""}, wantStatus: 401, wantCode: "no_authorization"},
		{name: "anon key as bearer", method: "GET", path: "/user", wantStatus: 403, wantCode: "bad_jwt"},
		{name: "publishable key as bearer", method: "GET", path: "/user", headers: bearer(e.pub), wantStatus: 403, wantCode: "bad_jwt"},
		{name: "expired token", method: "GET", path: "/user", headers: bearer(expired), wantStatus: 403, wantCode: "bad_jwt"},
		{name: "other secret", method: "GET", path: "/user", headers: bearer(otherSecret), wantStatus: 403, wantCode: "bad_jwt"},
		{name: "alg none", method: "GET", path: "/user", headers: bearer(algNone), wantStatus: 403, wantCode: "bad_jwt"},
		{name: "garbage", method: "GET", path: "/user", headers: bearer("a.b.c"), wantStatus: 403, wantCode: "bad_jwt"},
		{name: "sub not a uuid", method: "GET", path: "/user", headers: bearer(notUUID), wantStatus: 400, wantCode: "bad_jwt"},
		{name: "deleted user", method: "GET", path: "/user", headers: bearer(ghost), wantStatus: 403, wantCode: "user_not_found"},
		{name: "session gone", method: "GET", path: "/user", headers: bearer(noSession), wantStatus: 403, wantCode: "session_not_found"},
	})
}

func TestUpdateUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	s := e.signUp("upd@example.com", "secret-123")
	tok := s["access_token"].(string)
	other := e.signIn("upd@example.com", "secret-123")
	e.signUp("taken2@example.com", "secret-123")

	e.run(t, []scenario{
		{name: "metadata merge", method: "PUT", path: "/user", headers: bearer(tok),
			body: map[string]any{"data": map[string]any{"a": 1, "b": "x"}}, wantStatus: 200, wantContains: []string{`"a":1`, `"b":"x"`}},
		{name: "null removes a key", method: "PUT", path: "/user", headers: bearer(tok),
			body: map[string]any{"data": map[string]any{"b": nil}}, wantStatus: 200, wantContains: []string{`"a":1`}, wantNotContains: []string{`"b":"x"`}},
		{name: "app_metadata needs admin", method: "PUT", path: "/user", headers: bearer(tok),
			body: map[string]any{"app_metadata": map[string]any{"role": "admin"}}, wantStatus: 403, wantCode: "not_admin"},
		{name: "weak password", method: "PUT", path: "/user", headers: bearer(tok),
			body: map[string]any{"password": "1"}, wantStatus: 422, wantCode: "weak_password"},
		{name: "same password", method: "PUT", path: "/user", headers: bearer(tok),
			body: map[string]any{"password": "secret-123"}, wantStatus: 422, wantCode: "same_password"},
		{name: "taken email", method: "PUT", path: "/user", headers: bearer(tok),
			body: map[string]any{"email": "taken2@example.com"}, wantStatus: 422, wantCode: "email_exists"},
		{name: "bad email", method: "PUT", path: "/user", headers: bearer(tok),
			body: map[string]any{"email": "nope"}, wantStatus: 400, wantCode: "validation_failed"},
		{name: "phone change without SMS", method: "PUT", path: "/user", headers: bearer(tok),
			body: map[string]any{"phone": "15551112222"}, wantStatus: 422, wantCode: "phone_provider_disabled"},
		{name: "no token", method: "PUT", path: "/user", headers: []string{"Authorization", ""},
			body: map[string]any{}, wantStatus: 401, wantCode: "no_authorization"},
		{name: "new password", method: "PUT", path: "/user", headers: bearer(tok),
			body: map[string]any{"password": "secret-456"}, wantStatus: 200},
	})

	// The password change signed the other session out, not this one.
	r := e.req("GET", "/user", nil, bearer(other["access_token"].(string))...)
	assert.Equal(t, 403, r.Status)
	assert.Equal(t, "session_not_found", r.JSON(t)["code"])
	assert.Equal(t, 400, refresh(e, other["refresh_token"].(string)).Status)
	assert.Equal(t, 200, e.req("GET", "/user", nil, bearer(tok)...).Status)
	e.signIn("upd@example.com", "secret-456")

	// With autoconfirm (dev), an email change applies at once.
	r = e.req("PUT", "/user", map[string]any{"email": "Moved@Example.com"}, bearer(tok)...)
	require.Equal(t, 200, r.Status, "%s", r.Body)
	assert.Equal(t, "moved@example.com", r.JSON(t)["email"])
	e.signIn("moved@example.com", "secret-456")
}

func TestUpdateUserEmailChangeByMail(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, nil) // autoconfirm off, secure email change on
	r := e.req("POST", "/admin/users", map[string]any{"email": "old@example.com", "password": "secret-123", "email_confirm": true}, bearer(e.service)...)
	require.Equal(t, 200, r.Status, "%s", r.Body)
	tok := e.signIn("old@example.com", "secret-123")["access_token"].(string)

	r = e.req("PUT", "/user", map[string]any{"email": "new@example.com"}, bearer(tok)...)
	require.Equal(t, 200, r.Status, "%s", r.Body)
	u := r.JSON(t)
	assert.Equal(t, "old@example.com", u["email"], "unchanged until confirmed")
	assert.Equal(t, "new@example.com", u["new_email"])
	assert.NotEmpty(t, u["email_change_sent_at"])
	toNew := e.mail.last(t, "new@example.com", mailEmailChangeNew)
	toOld := e.mail.last(t, "old@example.com", mailEmailChangeCurrent)

	// First half: a message, no session.
	r = e.req("POST", "/verify", map[string]any{"type": "email_change", "email": "new@example.com", "token": toNew.OTP})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	assert.Equal(t, float64(200), r.JSON(t)["code"])
	assert.Contains(t, r.JSON(t)["msg"], "Confirmation link accepted")
	// Second half, by link this time.
	r = e.req("GET", "/verify?"+toOld.Link[len("http://api.test:8000/auth/v1/verify?"):], nil)
	require.Equal(t, 303, r.Status, "%s", r.Body)
	assert.Contains(t, r.Header.Get("Location"), "#access_token=")
	e.signIn("new@example.com", "secret-123")
	r = e.req("GET", "/user", nil, bearer(tok)...)
	assert.Equal(t, "new@example.com", r.JSON(t)["email"])
	assert.Nil(t, r.JSON(t)["new_email"])
}

func TestReauthenticateForPasswordChange(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, map[string]string{"AUTH_SECURE_PASSWORD_CHANGE": "true"})
	tok := e.signUp("re@example.com", "secret-123")["access_token"].(string)
	// A fresh session needs no nonce.
	r := e.req("PUT", "/user", map[string]any{"password": "secret-456"}, bearer(tok)...)
	require.Equal(t, 200, r.Status, "%s", r.Body)

	e.clock.advance(25 * time.Hour)
	r = e.req("PUT", "/user", map[string]any{"password": "secret-789"}, bearer(tok)...)
	assert.Equal(t, 400, r.Status)
	assert.Equal(t, "reauthentication_needed", r.JSON(t)["code"])

	r = e.req("GET", "/reauthenticate", nil, bearer(tok)...)
	require.Equal(t, 200, r.Status, "%s", r.Body)
	m := e.mail.last(t, "re@example.com", mailReauthentication)
	require.Len(t, m.OTP, 6)
	assert.Empty(t, m.Link)

	r = e.req("PUT", "/user", map[string]any{"password": "secret-789", "nonce": "000000"}, bearer(tok)...)
	assert.Equal(t, 422, r.Status)
	assert.Equal(t, "reauthentication_not_valid", r.JSON(t)["code"])
	r = e.req("PUT", "/user", map[string]any{"password": "secret-789", "nonce": m.OTP}, bearer(tok)...)
	require.Equal(t, 200, r.Status, "%s", r.Body)
	// The nonce is spent.
	r = e.req("PUT", "/user", map[string]any{"password": "secret-000", "nonce": m.OTP}, bearer(tok)...)
	assert.Equal(t, "reauthentication_not_valid", r.JSON(t)["code"])
}

func TestAnonymousUserCannotSetPasswordWithoutEmail(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	r := e.req("POST", "/signup", map[string]any{})
	require.Equal(t, 200, r.Status)
	tok := r.JSON(t)["access_token"].(string)
	r = e.req("PUT", "/user", map[string]any{"password": "secret-123"}, bearer(tok)...)
	assert.Equal(t, 422, r.Status)
	// Adding an email (autoconfirm) makes the user permanent.
	r = e.req("PUT", "/user", map[string]any{"email": "anon@example.com"}, bearer(tok)...)
	require.Equal(t, 200, r.Status, "%s", r.Body)
	u := r.JSON(t)
	assert.Equal(t, false, u["is_anonymous"])
	assert.Len(t, u["identities"], 1)
	r = e.req("PUT", "/user", map[string]any{"password": "secret-123"}, bearer(tok)...)
	require.Equal(t, 200, r.Status, "%s", r.Body)
	e.signIn("anon@example.com", "secret-123")
}

func TestLogoutScopes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	a := e.signUp("lo@example.com", "secret-123")
	b := e.signIn("lo@example.com", "secret-123")
	c := e.signIn("lo@example.com", "secret-123")
	tok := func(s map[string]any) []string { return bearer(s["access_token"].(string)) }
	status := func(s map[string]any) int { return e.req("GET", "/user", nil, tok(s)...).Status }

	e.run(t, []scenario{
		{name: "bad scope", method: "POST", path: "/logout?scope=everything", headers: tok(a), wantStatus: 400, wantCode: "validation_failed"},
		{name: "no token", method: "POST", path: "/logout", headers: []string{"Authorization", ""}, wantStatus: 401, wantCode: "no_authorization"},
		{name: "local", method: "POST", path: "/logout?scope=local", headers: tok(b), wantStatus: 204},
	})
	assert.Equal(t, 403, status(b))
	assert.Equal(t, 200, status(a))
	assert.Equal(t, 200, status(c))
	r := e.req("POST", "/logout?scope=local", nil, tok(b)...)
	assert.Equal(t, 403, r.Status, "signing out twice: session_not_found, which auth-js treats as signed out")
	assert.Equal(t, "session_not_found", r.JSON(t)["code"])

	require.Equal(t, 204, e.req("POST", "/logout?scope=others", nil, tok(a)...).Status)
	assert.Equal(t, 200, status(a))
	assert.Equal(t, 403, status(c))

	d := e.signIn("lo@example.com", "secret-123")
	r = e.req("POST", "/logout", nil, tok(a)...)
	require.Equal(t, 204, r.Status)
	assert.Empty(t, r.Body)
	assert.Equal(t, 403, status(a))
	assert.Equal(t, 403, status(d))
}

// TestShownUserMatchesFullUser holds GET /user's own statement to the user
// object every other route writes: the same members and values for a user
// with several identities (in the same order), odd identity data and
// metadata, an anonymous user without identities, and a row of NULLs.
func TestShownUserMatchesFullUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	s := e.signUp("shown@example.com", "secret-123")
	uid := uuid.MustParse(s["user"].(map[string]any)["id"].(string))
	ctx := context.Background()
	_, err := e.pool.Exec(ctx, `update auth.users set raw_user_meta_data = $2,
		email_change = 'next@example.com', email_change_sent_at = now(), banned_until = now() - interval '1 day'
		where id = $1`, uid, `{"name": "Zoë <b>&", "n": 1.50, "deep": {"list": [1, null, "\u2028"]}}`)
	require.NoError(t, err)
	_, err = e.pool.Exec(ctx, `insert into auth.identities (provider_id, user_id, identity_data, provider, last_sign_in_at, created_at, updated_at)
		values ('gh-<1>', $1, '{"sub": "gh-<1>", "created_at": "not a time", "email": "X@Example.com", "n": 1e2}', 'github', null,
			now() + interval '1 second', now() + interval '2.5 seconds'),
		('z-2', $1, '{}', 'zoho', now(), now() + interval '1 second', now()),
		('same-a', $1, '{}', 'same-time', null, '2020-01-01T00:00:00Z', '2020-01-02T00:00:00.5Z'),
		('same-b', $1, '{}', 'same-time-2', null, '2020-01-01T00:00:00Z', '2020-01-02T00:00:00Z'),
		('unstamped', $1, '{}', 'no-time', null, null, '2020-01-03T00:00:00Z')`, uid)
	require.NoError(t, err)
	anon := e.req("POST", "/signup", map[string]any{})
	require.Equal(t, 200, anon.Status, "%s", anon.Body)
	anonID := uuid.MustParse(anon.JSON(t)["user"].(map[string]any)["id"].(string))

	bare := uuid.MustParse(e.signUp("bare@example.com", "secret-123")["user"].(map[string]any)["id"].(string))
	_, err = e.pool.Exec(ctx, `update auth.users set aud = null, role = null, phone = null, email_change = null,
		phone_change = null, raw_app_meta_data = null, raw_user_meta_data = null where id = $1`, bare)
	require.NoError(t, err)

	// A pool in the simple protocol (as for a connection pooler) gets text
	// columns instead of binary ones; the same user reads there too.
	cfg := e.pool.Config().Copy()
	cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	simple, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(simple.Close)

	for _, c := range []struct {
		id uuid.UUID
		q  querier
	}{{uid, e.pool}, {anonID, e.pool}, {bare, e.pool}, {uid, simple}, {bare, simple}} {
		id := c.id
		full, _, err := userWithSession(ctx, c.q, id, uuid.Nil)
		require.NoError(t, err)
		shown, _, err := shownUserWithSession(ctx, c.q, id, uuid.Nil)
		require.NoError(t, err)
		want, err := full.wire().appendJSON(nil)
		require.NoError(t, err)
		got, err := shown.wire().appendJSON(nil)
		require.NoError(t, err)
		// The same members; identities byte for byte, but for the
		// created_at the unstamped identity gets from each statement's clock.
		var wantMembers, gotMembers map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(want, &wantMembers))
		require.NoError(t, json.Unmarshal(got, &gotMembers))
		require.Equal(t, len(wantMembers), len(gotMembers))
		for k, w := range wantMembers {
			if k != "identities" {
				assert.JSONEq(t, string(w), string(gotMembers[k]), k)
			}
		}
		unstamped := regexp.MustCompile(`("id":"unstamped".*?"created_at":")[^"]+`)
		assert.Equal(t, unstamped.ReplaceAllString(string(wantMembers["identities"]), "${1}now"),
			unstamped.ReplaceAllString(string(gotMembers["identities"]), "${1}now"), "identities byte for byte")
	}
	_, _, err = shownUserWithSession(ctx, e.pool, uuid.New(), uuid.Nil)
	assert.ErrorIs(t, err, errNoUser)
	full, _, err := shownUserWithSession(ctx, e.pool, uid, uuid.Nil)
	require.NoError(t, err)
	require.Len(t, full.Identities, 6)
	assert.Equal(t, "unstamped", full.Identities[5].ID, "an identity without created_at comes last")
	assert.WithinDuration(t, time.Now(), full.Identities[5].CreatedAt, time.Minute, "and is stamped now")
}
