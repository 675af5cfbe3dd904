package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/madbase/madbase/shared/apitest"
	"github.com/madbase/madbase/shared/db"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGetUserScenarios(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	s := e.signUp(t, "me@example.com", "secret-123")
	tok := s["access_token"].(string)
	uid := s["user"].(map[string]any)["id"].(string)
	now := time.Now()
	expired := e.api.Token(t, jwt.MapClaims{"sub": uid, "role": "authenticated", "exp": now.Add(-time.Hour).Unix()})
	otherSecret := apitest.NewFiber(t, e.app.Fiber, "another-secret-that-is-long-enough-0123456789").Token(t, jwt.MapClaims{"sub": uid, "role": "authenticated"})
	notUUID := e.api.Token(t, jwt.MapClaims{"sub": "1 or 1=1", "role": "authenticated"})
	ghost := e.api.Token(t, jwt.MapClaims{"sub": "00000000-0000-4000-8000-000000000000", "role": "authenticated"})
	noSession := e.api.Token(t, jwt.MapClaims{"sub": uid, "role": "authenticated", "session_id": "00000000-0000-4000-8000-000000000001"})
	algNone := "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiIxIiwicm9sZSI6InNlcnZpY2Vfcm9sZSJ9."

	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "own token", URL: "/user", Headers: bearer(tok), WantStatus: 200,
			WantContains: []string{`"email":"me@example.com"`, `"identities":[{`}, WantNotContains: []string{"encrypted_password", "$2a$"}},
		{Name: "no bearer", URL: "/user", Headers: map[string]string{"Authorization": ""},
			WantStatus: 401, WantFields: errCode("no_authorization"), WantHeaders: errHeader("no_authorization")},
		{Name: "anon key as bearer", URL: "/user", WantStatus: 403, WantFields: errCode("bad_jwt"), WantHeaders: errHeader("bad_jwt")},
		{Name: "publishable key as bearer", URL: "/user", Headers: bearer(e.api.Publishable),
			WantStatus: 403, WantFields: errCode("bad_jwt"), WantHeaders: errHeader("bad_jwt")},
		{Name: "expired token", URL: "/user", Headers: bearer(expired), WantStatus: 403, WantFields: errCode("bad_jwt"), WantHeaders: errHeader("bad_jwt")},
		{Name: "other secret", URL: "/user", Headers: bearer(otherSecret),
			WantStatus: 403, WantFields: errCode("bad_jwt"), WantHeaders: errHeader("bad_jwt")},
		{Name: "alg none", URL: "/user", Headers: bearer(algNone), WantStatus: 403, WantFields: errCode("bad_jwt"), WantHeaders: errHeader("bad_jwt")},
		{Name: "garbage", URL: "/user", Headers: bearer("a.b.c"), WantStatus: 403, WantFields: errCode("bad_jwt"), WantHeaders: errHeader("bad_jwt")},
		{Name: "sub not a uuid", URL: "/user", Headers: bearer(notUUID),
			WantStatus: 400, WantFields: errCode("bad_jwt"), WantHeaders: errHeader("bad_jwt")},
		{Name: "deleted user", URL: "/user", Headers: bearer(ghost),
			WantStatus: 403, WantFields: errCode("user_not_found"), WantHeaders: errHeader("user_not_found")},
		{Name: "session gone", URL: "/user", Headers: bearer(noSession),
			WantStatus: 403, WantFields: errCode("session_not_found"), WantHeaders: errHeader("session_not_found")},
	})
}

func TestUpdateUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	s := e.signUp(t, "upd@example.com", "secret-123")
	tok := s["access_token"].(string)
	other := e.signIn(t, "upd@example.com", "secret-123")
	e.signUp(t, "taken2@example.com", "secret-123")

	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "metadata merge", Method: "PUT", URL: "/user", Headers: bearer(tok),
			Body: map[string]any{"data": map[string]any{"a": 1, "b": "x"}}, WantStatus: 200, WantContains: []string{`"a":1`, `"b":"x"`}},
		{Name: "null removes a key", Method: "PUT", URL: "/user", Headers: bearer(tok),
			Body: map[string]any{"data": map[string]any{"b": nil}}, WantStatus: 200, WantContains: []string{`"a":1`}, WantNotContains: []string{`"b":"x"`}},
		{Name: "app_metadata needs admin", Method: "PUT", URL: "/user", Headers: bearer(tok),
			Body:       map[string]any{"app_metadata": map[string]any{"role": "admin"}},
			WantStatus: 403, WantFields: errCode("not_admin"), WantHeaders: errHeader("not_admin")},
		{Name: "weak password", Method: "PUT", URL: "/user", Headers: bearer(tok),
			Body: map[string]any{"password": "1"}, WantStatus: 422, WantFields: errCode("weak_password"), WantHeaders: errHeader("weak_password")},
		{Name: "same password", Method: "PUT", URL: "/user", Headers: bearer(tok),
			Body: map[string]any{"password": "secret-123"}, WantStatus: 422, WantFields: errCode("same_password"), WantHeaders: errHeader("same_password")},
		{Name: "taken email", Method: "PUT", URL: "/user", Headers: bearer(tok),
			Body: map[string]any{"email": "taken2@example.com"}, WantStatus: 422, WantFields: errCode("email_exists"), WantHeaders: errHeader("email_exists")},
		{Name: "bad email", Method: "PUT", URL: "/user", Headers: bearer(tok),
			Body: map[string]any{"email": "nope"}, WantStatus: 400, WantFields: errCode("validation_failed"), WantHeaders: errHeader("validation_failed")},
		{Name: "phone change without SMS", Method: "PUT", URL: "/user", Headers: bearer(tok),
			Body:       map[string]any{"phone": "15551112222"},
			WantStatus: 422, WantFields: errCode("phone_provider_disabled"), WantHeaders: errHeader("phone_provider_disabled")},
		{Name: "no token", Method: "PUT", URL: "/user", Headers: map[string]string{"Authorization": ""},
			Body: map[string]any{}, WantStatus: 401, WantFields: errCode("no_authorization"), WantHeaders: errHeader("no_authorization")},
		{Name: "new password", Method: "PUT", URL: "/user", Headers: bearer(tok),
			Body: map[string]any{"password": "secret-456"}, WantStatus: 200},
	})

	// The password change signed the other session out, not this one.
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "the other session is signed out", URL: "/user", Headers: bearer(other["access_token"].(string)),
			WantStatus: 403, WantFields: errCode("session_not_found")},
		{Name: "and its refresh token with it", Method: "POST", URL: "/token?grant_type=refresh_token",
			Body: map[string]any{"refresh_token": other["refresh_token"]}, WantStatus: 400},
		{Name: "this session lives on", URL: "/user", Headers: bearer(tok), WantStatus: 200,
			After: func(t *testing.T, _ *apitest.Env, _ *apitest.Response) { e.signIn(t, "upd@example.com", "secret-456") }},
		// With autoconfirm (dev), an email change applies at once.
		{Name: "an email change applies at once", Method: "PUT", URL: "/user", Headers: bearer(tok), Body: map[string]any{"email": "Moved@Example.com"},
			WantStatus: 200, WantFields: map[string]any{"email": "moved@example.com"},
			After: func(t *testing.T, _ *apitest.Env, _ *apitest.Response) {
				e.signIn(t, "moved@example.com", "secret-456")
			}},
	})
}

func TestUpdateUserEmailChangeByMail(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, nil) // autoconfirm off, secure email change on
	r := e.api.Do(t, apitest.Request{Method: "POST", URL: "/admin/users", Headers: bearer(e.api.Service),
		Body: map[string]any{"email": "old@example.com", "password": "secret-123", "email_confirm": true}})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	tok := e.signIn(t, "old@example.com", "secret-123")["access_token"].(string)

	r = e.api.Do(t, apitest.Request{Method: "PUT", URL: "/user", Body: map[string]any{"email": "new@example.com"}, Headers: bearer(tok)})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	u := r.Map(t)
	assert.Equal(t, "old@example.com", u["email"], "unchanged until confirmed")
	assert.Equal(t, "new@example.com", u["new_email"])
	assert.NotEmpty(t, u["email_change_sent_at"])
	toNew := e.mail.last(t, "new@example.com", mailEmailChangeNew)
	toOld := e.mail.last(t, "old@example.com", mailEmailChangeCurrent)

	// First half: a message, no session.
	r = e.api.Do(t, apitest.Request{Method: "POST", URL: "/verify",
		Body: map[string]any{"type": "email_change", "email": "new@example.com", "token": toNew.OTP}})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	assert.Equal(t, float64(200), r.Map(t)["code"])
	assert.Contains(t, r.Map(t)["msg"], "Confirmation link accepted")
	// Second half, by link this time.
	r = e.api.Do(t, apitest.Request{URL: "/verify?" + toOld.Link[len("http://api.test:8000/auth/v1/verify?"):]})
	require.Equal(t, 303, r.Status, "%s", r.Body)
	assert.Contains(t, r.Header.Get("Location"), "#access_token=")
	e.signIn(t, "new@example.com", "secret-123")
	r = e.api.Do(t, apitest.Request{URL: "/user", Headers: bearer(tok)})
	assert.Equal(t, "new@example.com", r.Map(t)["email"])
	assert.Nil(t, r.Map(t)["new_email"])
}

func TestReauthenticateForPasswordChange(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, map[string]string{"AUTH_SECURE_PASSWORD_CHANGE": "true"})
	tok := e.signUp(t, "re@example.com", "secret-123")["access_token"].(string)
	var m Mail
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "a fresh session needs no nonce", Method: "PUT", URL: "/user", Headers: bearer(tok),
			Body: map[string]any{"password": "secret-456"}, WantStatus: 200},
		{Name: "an old one does", Method: "PUT", URL: "/user", Headers: bearer(tok), Body: map[string]any{"password": "secret-789"},
			Before:     func(*testing.T, *apitest.Env) { e.clock.advance(25 * time.Hour) },
			WantStatus: 400, WantFields: errCode("reauthentication_needed")},
		{Name: "reauthenticate", URL: "/reauthenticate", Headers: bearer(tok), WantStatus: 200,
			After: func(t *testing.T, _ *apitest.Env, _ *apitest.Response) {
				m = e.mail.last(t, "re@example.com", mailReauthentication)
				require.Len(t, m.OTP, 6)
				assert.Empty(t, m.Link)
			}},
		{Name: "a wrong nonce", Method: "PUT", URL: "/user", Headers: bearer(tok), Body: map[string]any{"password": "secret-789", "nonce": "000000"},
			WantStatus: 422, WantFields: errCode("reauthentication_not_valid")},
	})
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "the mailed nonce", Method: "PUT", URL: "/user", Headers: bearer(tok), Body: map[string]any{"password": "secret-789", "nonce": m.OTP},
			WantStatus: 200},
		{Name: "the nonce is spent", Method: "PUT", URL: "/user", Headers: bearer(tok), Body: map[string]any{"password": "secret-000", "nonce": m.OTP},
			WantStatus: 422, WantFields: errCode("reauthentication_not_valid")},
	})
}

func TestAnonymousUserCannotSetPasswordWithoutEmail(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	r := e.api.Do(t, apitest.Request{Method: "POST", URL: "/signup", Body: map[string]any{}})
	require.Equal(t, 200, r.Status)
	tok := r.Map(t)["access_token"].(string)
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "no password without an email", Method: "PUT", URL: "/user", Headers: bearer(tok), Body: map[string]any{"password": "secret-123"},
			WantStatus: 422},
		// Adding an email (autoconfirm) makes the user permanent.
		{Name: "an email makes the user permanent", Method: "PUT", URL: "/user", Headers: bearer(tok), Body: map[string]any{"email": "anon@example.com"},
			WantStatus: 200, WantFields: map[string]any{"is_anonymous": false},
			After: func(t *testing.T, _ *apitest.Env, r *apitest.Response) { assert.Len(t, r.Map(t)["identities"], 1) }},
		{Name: "then a password", Method: "PUT", URL: "/user", Headers: bearer(tok), Body: map[string]any{"password": "secret-123"},
			WantStatus: 200,
			After:      func(t *testing.T, _ *apitest.Env, _ *apitest.Response) { e.signIn(t, "anon@example.com", "secret-123") }},
	})
}

func TestLogoutScopes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	a := e.signUp(t, "lo@example.com", "secret-123")
	b := e.signIn(t, "lo@example.com", "secret-123")
	c := e.signIn(t, "lo@example.com", "secret-123")
	tok := func(s map[string]any) map[string]string { return bearer(s["access_token"].(string)) }
	user := func(name string, s map[string]any, want int) apitest.Scenario {
		return apitest.Scenario{Name: name, URL: "/user", Headers: tok(s), WantStatus: want}
	}

	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "bad scope", Method: "POST", URL: "/logout?scope=everything", Headers: tok(a),
			WantStatus: 400, WantFields: errCode("validation_failed"), WantHeaders: errHeader("validation_failed")},
		{Name: "no token", Method: "POST", URL: "/logout", Headers: map[string]string{"Authorization": ""},
			WantStatus: 401, WantFields: errCode("no_authorization"), WantHeaders: errHeader("no_authorization")},
		{Name: "local", Method: "POST", URL: "/logout?scope=local", Headers: tok(b), WantStatus: 204},
		user("local: b is signed out", b, 403),
		user("local: a stays", a, 200),
		user("local: c stays", c, 200),
		{Name: "signing out twice: session_not_found, which auth-js treats as signed out", Method: "POST", URL: "/logout?scope=local", Headers: tok(b),
			WantStatus: 403, WantFields: errCode("session_not_found")},
		{Name: "others", Method: "POST", URL: "/logout?scope=others", Headers: tok(a), WantStatus: 204},
		user("others: a stays", a, 200),
		user("others: c is signed out", c, 403),
	})

	d := e.signIn(t, "lo@example.com", "secret-123")
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "global", Method: "POST", URL: "/logout", Headers: tok(a), WantStatus: 204,
			After: func(t *testing.T, _ *apitest.Env, r *apitest.Response) { assert.Empty(t, r.Body) }},
		user("global: a is signed out", a, 403),
		user("global: d is signed out", d, 403),
	})
}

// TestShownUserMatchesFullUser holds GET /user's own statement to the user
// object every other route writes: the same members and values for a user
// with several identities (in the same order), odd identity data and
// metadata, an anonymous user without identities, and a row of NULLs.
func TestShownUserMatchesFullUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	s := e.signUp(t, "shown@example.com", "secret-123")
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
	// Factors in the order userColumns gives them (created_at, then id),
	// which the batcher's statement leaves to the worker: two at the same
	// time, one without a name or phone, one challenged.
	_, err = e.pool.Exec(ctx, `insert into auth.mfa_factors (id, user_id, friendly_name, factor_type, status, created_at, updated_at, secret, phone, last_challenged_at)
		values ('ffffffff-0000-4000-8000-000000000001', $1, 'late', 'totp', 'verified', now() + interval '1 minute', now(), 's', null, now()),
		('ffffffff-0000-4000-8000-000000000003', $1, null, 'phone', 'unverified', '2020-01-01T00:00:00Z', '2020-01-01T00:00:00.25Z', null, '15550001111', null),
		('ffffffff-0000-4000-8000-000000000002', $1, 'Zoë "2"', 'totp', 'unverified', '2020-01-01T00:00:00Z', '2020-01-02T00:00:00Z', 's', '', null)`, uid)
	require.NoError(t, err)
	anon := e.api.Do(t, apitest.Request{Method: "POST", URL: "/signup", Body: map[string]any{}})
	require.Equal(t, 200, anon.Status, "%s", anon.Body)
	anonID := uuid.MustParse(anon.Map(t)["user"].(map[string]any)["id"].(string))

	bare := uuid.MustParse(e.signUp(t, "bare@example.com", "secret-123")["user"].(map[string]any)["id"].(string))
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
		if c.q != e.pool {
			continue
		}
		// The prepared statement decoded by hand writes the very same
		// object as pgx's scanning (but for the clock of the unstamped).
		prepared, _, err := newUserBatcher(e.pool, ctx).read(ctx, id, uuid.Nil)
		require.NoError(t, err)
		viaPrepared, err := prepared.wire().appendJSON(nil)
		require.NoError(t, err)
		assert.Equal(t, unstamped.ReplaceAllString(string(got), "${1}now"), unstamped.ReplaceAllString(string(viaPrepared), "${1}now"))
	}
	_, _, err = shownUserWithSession(ctx, e.pool, uuid.New(), uuid.Nil)
	assert.ErrorIs(t, err, errNoUser)
	_, _, err = newUserBatcher(e.pool, ctx).read(ctx, uuid.New(), uuid.Nil)
	assert.ErrorIs(t, err, errNoUser)
	full, _, err := shownUserWithSession(ctx, e.pool, uid, uuid.Nil)
	require.NoError(t, err)
	require.Len(t, full.Identities, 6)
	require.Len(t, full.Factors, 3)
	prepared, _, err := newUserBatcher(e.pool, ctx).read(ctx, uid, uuid.Nil)
	require.NoError(t, err)
	require.Len(t, prepared.Factors, 3)
	for i, want := range []string{"ffffffff-0000-4000-8000-000000000002", "ffffffff-0000-4000-8000-000000000003", "ffffffff-0000-4000-8000-000000000001"} {
		assert.Equal(t, want, prepared.Factors[i].ID.String(), "factor %d", i)
	}
	assert.Equal(t, "unstamped", full.Identities[5].ID, "an identity without created_at comes last")
	assert.WithinDuration(t, time.Now(), full.Identities[5].CreatedAt, time.Minute, "and is stamped now")
}

// TestUserBatcher covers what only GET /user's batched reads do: several
// reads in one batch, each with its own outcome (a user and whether the
// session exists, no such user, a row that cannot be decoded), reads from
// many goroutines at once, and a statement whose columns changed type under
// it, which fails its batch once (as pgx's own cached statements do) and is
// prepared again for the next.
func TestUserBatcher(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	ctx := context.Background()
	var ids, sessions []uuid.UUID
	for i := range 3 {
		s := e.signUp(t, fmt.Sprintf("batched-%d@example.com", i), "secret-123")
		id := uuid.MustParse(s["user"].(map[string]any)["id"].(string))
		sid := uuid.New()
		_, err := e.pool.Exec(ctx, `insert into auth.sessions (id, user_id, created_at, updated_at, aal) values ($1, $2, now(), now(), 'aal1')`, sid, id)
		require.NoError(t, err)
		ids, sessions = append(ids, id), append(sessions, sid)
	}
	_, err := e.pool.Exec(ctx, `update auth.users set banned_until = 'infinity' where id = $1`, ids[2])
	require.NoError(t, err)

	// One connection, so that the statement prepared is the one run again.
	cfg := e.pool.Config().Copy()
	cfg.MaxConns = 1
	one, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(one.Close)
	b := newUserBatcher(one, ctx)
	batch := func() []*userRead {
		return []*userRead{
			{id: ids[0], sessionID: sessions[0]},
			{id: uuid.New()},
			{id: ids[1], sessionID: sessions[0]},
			{id: ids[2], sessionID: sessions[2]},
			{id: ids[1], sessionID: sessions[1]},
		}
	}
	reads := batch()
	require.NoError(t, b.run(ctx, reads))
	require.NoError(t, reads[0].err)
	assert.Equal(t, ids[0], reads[0].u.ID)
	assert.Equal(t, "batched-0@example.com", reads[0].u.Email)
	assert.True(t, reads[0].ok, "its session exists")
	assert.ErrorIs(t, reads[1].err, errNoUser)
	require.NoError(t, reads[2].err)
	assert.Equal(t, ids[1], reads[2].u.ID)
	assert.False(t, reads[2].ok, "another user's session is not this one's")
	assert.ErrorIs(t, reads[3].err, errShownColumn, "an infinite ban cannot be written as a time")
	require.NoError(t, reads[4].err)
	assert.Equal(t, "batched-1@example.com", reads[4].u.Email)
	assert.True(t, reads[4].ok)

	// Reads from many goroutines at once, batched as they come.
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := i % 2
			u, ok, err := b.read(ctx, ids[k], sessions[k])
			if assert.NoError(t, err) {
				assert.Equal(t, ids[k], u.ID)
				assert.True(t, ok)
			}
		}()
	}
	wg.Wait()

	_, err = one.Exec(ctx, `alter table auth.users alter column aud type text`)
	require.NoError(t, err)
	reads = batch()
	err = b.run(ctx, reads)
	require.Error(t, err)
	assert.True(t, db.StaleStatement(err), "%v", err)
	reads = batch()
	require.NoError(t, b.run(ctx, reads), "prepared again")
	require.NoError(t, reads[0].err)
	assert.Equal(t, "authenticated", reads[0].u.Aud)
}
