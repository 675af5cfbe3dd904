package auth

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/madbase/madbase/shared/jwtauth"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

func TestAdminAccess(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	userTok := e.signUp("plain@example.com", "secret-123")["access_token"].(string)
	_, secretKey := jwtOpaque()
	e.run(t, []scenario{
		{name: "anon key", method: "GET", path: "/admin/users", wantStatus: 403, wantCode: "not_admin"},
		{name: "user token", method: "GET", path: "/admin/users", headers: bearer(userTok), wantStatus: 403, wantCode: "not_admin"},
		{name: "publishable key", method: "GET", path: "/admin/users", headers: bearer(e.pub), wantStatus: 403, wantCode: "not_admin"},
		{name: "no bearer", method: "GET", path: "/admin/users", headers: []string{"Authorization", ""}, wantStatus: 401, wantCode: "no_authorization"},
		{name: "service key", method: "GET", path: "/admin/users", headers: bearer(e.service), wantStatus: 200},
		{name: "secret key", method: "GET", path: "/admin/users", headers: []string{"apikey", secretKey, "Authorization", "Bearer " + secretKey}, wantStatus: 200},
		{name: "invite needs admin", method: "POST", path: "/invite", body: map[string]any{"email": "x@example.com"}, wantStatus: 403, wantCode: "not_admin"},
		{name: "generate_link needs admin", method: "POST", path: "/admin/generate_link", body: map[string]any{"type": "magiclink", "email": "x@example.com"},
			wantStatus: 403, wantCode: "not_admin"},
	})
}

func jwtOpaque() (string, string) { return jwtauth.OpaqueKeys([]byte(testSecret)) }

func TestAdminUsersCRUD(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, nil)
	svc := bearer(e.service)
	hash, err := bcrypt.GenerateFromPassword([]byte("imported-pw"), 4)
	require.NoError(t, err)
	salt := []byte("saltsaltsalt")
	argon := "$argon2id$v=19$m=64,t=2,p=1$" + base64.RawStdEncoding.EncodeToString(salt) + "$" +
		base64.RawStdEncoding.EncodeToString(argon2.IDKey([]byte("password"), salt, 2, 64, 1, 16))

	e.run(t, []scenario{
		{name: "create", method: "POST", path: "/admin/users", headers: svc, wantStatus: 200,
			body: map[string]any{"email": "A@Example.com", "password": "secret-123", "email_confirm": true,
				"user_metadata": map[string]any{"n": 1}, "app_metadata": map[string]any{"plan": "gold"}, "role": "authenticated"},
			wantContains: []string{`"email":"a@example.com"`, `"plan":"gold"`, `"provider":"email"`, `"email_confirmed_at"`}},
		{name: "duplicate email", method: "POST", path: "/admin/users", headers: svc,
			body: map[string]any{"email": "a@example.com", "password": "secret-123"}, wantStatus: 422, wantCode: "email_exists"},
		{name: "no email or phone", method: "POST", path: "/admin/users", headers: svc,
			body: map[string]any{"password": "secret-123"}, wantStatus: 400, wantCode: "validation_failed"},
		{name: "weak password", method: "POST", path: "/admin/users", headers: svc,
			body: map[string]any{"email": "weak@example.com", "password": "1"}, wantStatus: 422, wantCode: "weak_password"},
		{name: "bad id", method: "POST", path: "/admin/users", headers: svc,
			body: map[string]any{"email": "id@example.com", "id": "nope"}, wantStatus: 400, wantCode: "validation_failed"},
		{name: "bad ban duration", method: "POST", path: "/admin/users", headers: svc,
			body: map[string]any{"email": "ban@example.com", "ban_duration": "forever"}, wantStatus: 400, wantCode: "validation_failed"},
		{name: "bad password hash", method: "POST", path: "/admin/users", headers: svc,
			body: map[string]any{"email": "hash@example.com", "password_hash": "md5:abc"}, wantStatus: 400, wantCode: "validation_failed"},
		{name: "imported bcrypt hash", method: "POST", path: "/admin/users", headers: svc,
			body: map[string]any{"email": "bcrypt@example.com", "password_hash": string(hash), "email_confirm": true}, wantStatus: 200},
		{name: "imported argon2 hash", method: "POST", path: "/admin/users", headers: svc,
			body: map[string]any{"email": "argon@example.com", "password_hash": argon, "email_confirm": true}, wantStatus: 200},
		{name: "given id", method: "POST", path: "/admin/users", headers: svc,
			body: map[string]any{"email": "given@example.com", "id": "11111111-1111-4111-8111-111111111111"}, wantStatus: 200,
			wantContains: []string{`"id":"11111111-1111-4111-8111-111111111111"`}},
		{name: "get bad id", method: "GET", path: "/admin/users/nope", headers: svc, wantStatus: 404, wantCode: "validation_failed"},
		{name: "get unknown", method: "GET", path: "/admin/users/00000000-0000-4000-8000-000000000000", headers: svc, wantStatus: 404, wantCode: "user_not_found"},
		{name: "get", method: "GET", path: "/admin/users/11111111-1111-4111-8111-111111111111", headers: svc, wantStatus: 200,
			wantContains: []string{`"email":"given@example.com"`}},
		{name: "factors", method: "GET", path: "/admin/users/11111111-1111-4111-8111-111111111111/factors", headers: svc, wantStatus: 200,
			wantContains: []string{`[]`}},
		{name: "bad pagination", method: "GET", path: "/admin/users?page=x", headers: svc, wantStatus: 400, wantCode: "validation_failed"},
	})
	e.signIn("bcrypt@example.com", "imported-pw")
	e.signIn("argon@example.com", "password")
	r := e.req("POST", "/token?grant_type=password", map[string]any{"email": "argon@example.com", "password": "wrong"})
	assert.Equal(t, "invalid_credentials", r.JSON(t)["code"])

	// Update merges metadata, bans and lifts the ban, changes the email.
	id := "11111111-1111-4111-8111-111111111111"
	r = e.req("PUT", "/admin/users/"+id, map[string]any{"user_metadata": map[string]any{"x": 1}, "app_metadata": map[string]any{"tier": 2},
		"password": "secret-789", "email_confirm": true}, svc...)
	require.Equal(t, 200, r.Status, "%s", r.Body)
	r = e.req("PUT", "/admin/users/"+id, map[string]any{"user_metadata": map[string]any{"y": 2}}, svc...)
	meta := r.JSON(t)["user_metadata"].(map[string]any)
	assert.EqualValues(t, 1, meta["x"])
	assert.EqualValues(t, 2, meta["y"])
	assert.EqualValues(t, 2, r.JSON(t)["app_metadata"].(map[string]any)["tier"])
	sess := e.signIn("given@example.com", "secret-789")

	r = e.req("PUT", "/admin/users/"+id, map[string]any{"ban_duration": "1h"}, svc...)
	require.Equal(t, 200, r.Status)
	assert.NotEmpty(t, r.JSON(t)["banned_until"])
	r = e.req("POST", "/token?grant_type=password", map[string]any{"email": "given@example.com", "password": "secret-789"})
	assert.Equal(t, "user_banned", r.JSON(t)["code"])
	assert.Equal(t, 403, e.req("GET", "/user", nil, bearer(sess["access_token"].(string))...).Status, "a ban ends the sessions")
	r = e.req("PUT", "/admin/users/"+id, map[string]any{"ban_duration": "none"}, svc...)
	assert.Nil(t, r.JSON(t)["banned_until"])

	r = e.req("PUT", "/admin/users/"+id, map[string]any{"email": "a@example.com"}, svc...)
	assert.Equal(t, 422, r.Status)
	assert.Equal(t, "email_exists", r.JSON(t)["code"])
	r = e.req("PUT", "/admin/users/"+id, map[string]any{"email": "renamed@example.com"}, svc...)
	require.Equal(t, 200, r.Status, "%s", r.Body)
	e.signIn("renamed@example.com", "secret-789")

	// Delete: soft, then hard.
	r = e.req("DELETE", "/admin/users/"+id, map[string]any{"should_soft_delete": true}, svc...)
	require.Equal(t, 200, r.Status, "%s", r.Body)
	assert.Equal(t, "{}", string(r.Body))
	r = e.req("GET", "/admin/users/"+id, nil, svc...)
	require.Equal(t, 200, r.Status)
	assert.NotEmpty(t, r.JSON(t)["deleted_at"])
	assert.Equal(t, "", r.JSON(t)["email"])
	r = e.req("POST", "/token?grant_type=password", map[string]any{"email": "renamed@example.com", "password": "secret-789"})
	assert.Equal(t, "invalid_credentials", r.JSON(t)["code"])
	require.Equal(t, 200, e.req("DELETE", "/admin/users/"+id, nil, svc...).Status)
	assert.Equal(t, 404, e.req("GET", "/admin/users/"+id, nil, svc...).Status)
	assert.Equal(t, 404, e.req("DELETE", "/admin/users/"+id, nil, svc...).Status)
	var n int
	require.NoError(t, e.pool.QueryRow(t.Context(), `select count(*) from auth.identities where user_id = $1`, id).Scan(&n))
	assert.Zero(t, n, "identities go with the user")
}

func TestAdminListPagination(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	svc := bearer(e.service)
	for i := range 5 {
		r := e.req("POST", "/admin/users", map[string]any{"email": fmt.Sprintf("u%d@example.com", i)}, svc...)
		require.Equal(t, 200, r.Status)
		e.clock.advance(1e9)
	}
	r := e.req("GET", "/admin/users?page=&per_page=", nil, svc...)
	require.Equal(t, 200, r.Status)
	assert.Equal(t, "5", r.Header.Get("X-Total-Count"))
	assert.Equal(t, `</admin/users?page=1&per_page=50>; rel="last"`, r.Header.Get("Link"))
	users := r.JSON(t)["users"].([]any)
	require.Len(t, users, 5)
	assert.Equal(t, "u4@example.com", users[0].(map[string]any)["email"], "newest first")
	assert.Equal(t, "authenticated", r.JSON(t)["aud"])

	r = e.req("GET", "/admin/users?page=2&per_page=2", nil, svc...)
	assert.Equal(t, `</admin/users?page=3&per_page=2>; rel="next", </admin/users?page=3&per_page=2>; rel="last"`, r.Header.Get("Link"))
	users = r.JSON(t)["users"].([]any)
	require.Len(t, users, 2)
	assert.Equal(t, "u2@example.com", users[0].(map[string]any)["email"])

	r = e.req("GET", "/admin/users?filter=u3", nil, svc...)
	assert.Equal(t, "1", r.Header.Get("X-Total-Count"))

	empty := newEnv(t, true, nil)
	r = empty.req("GET", "/admin/users", nil, bearer(empty.service)...)
	assert.Equal(t, `</admin/users?page=0&per_page=50>; rel="last"`, r.Header.Get("Link"))
	assert.Equal(t, `{"users":[],"aud":"authenticated"}`, string(r.Body))
}

func TestGenerateLinkAndInvite(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, map[string]string{"AUTH_URI_ALLOW_LIST": "http://localhost:5173/**"})
	svc := bearer(e.service)
	e.run(t, []scenario{
		{name: "bad type", method: "POST", path: "/admin/generate_link", headers: svc,
			body: map[string]any{"type": "bogus", "email": "x@example.com"}, wantStatus: 400, wantCode: "validation_failed"},
		{name: "recovery of nobody", method: "POST", path: "/admin/generate_link", headers: svc,
			body: map[string]any{"type": "recovery", "email": "nobody@example.com"}, wantStatus: 404, wantCode: "user_not_found"},
		{name: "signup without password", method: "POST", path: "/admin/generate_link", headers: svc,
			body: map[string]any{"type": "signup", "email": "nopw@example.com"}, wantStatus: 400, wantCode: "validation_failed"},
		{name: "email change without new email", method: "POST", path: "/admin/generate_link", headers: svc,
			body: map[string]any{"type": "email_change_new", "email": "x@example.com"}, wantStatus: 400, wantCode: "validation_failed"},
	})
	before := e.mail.count()
	r := e.req("POST", "/admin/generate_link", map[string]any{"type": "signup", "email": "gl@example.com", "password": "secret-123",
		"data": map[string]any{"k": 1}, "redirectTo": "http://localhost:5173/welcome"}, svc...)
	require.Equal(t, 200, r.Status, "%s", r.Body)
	g := r.JSON(t)
	assert.Equal(t, before, e.mail.count(), "generate_link sends nothing")
	assert.Equal(t, "gl@example.com", g["email"])
	assert.Equal(t, "signup", g["verification_type"])
	assert.Equal(t, "http://localhost:5173/welcome", g["redirect_to"])
	assert.Regexp(t, `^http://api\.test:8000/auth/v1/verify\?redirect_to=http%3A%2F%2Flocalhost%3A5173%2Fwelcome&token=[0-9a-f]{56}&type=signup$`, g["action_link"])
	assert.Len(t, g["email_otp"], 6)
	assert.Len(t, g["hashed_token"], 56)
	r = e.req("POST", "/verify", map[string]any{"type": "signup", "token_hash": g["hashed_token"]})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	e.signIn("gl@example.com", "secret-123")
	r = e.req("POST", "/admin/generate_link", map[string]any{"type": "signup", "email": "gl@example.com", "password": "secret-123"}, svc...)
	assert.Equal(t, 422, r.Status)
	assert.Equal(t, "email_exists", r.JSON(t)["code"])

	// recovery and email change links
	r = e.req("POST", "/admin/generate_link", map[string]any{"type": "recovery", "email": "gl@example.com"}, svc...)
	require.Equal(t, 200, r.Status)
	r = e.req("POST", "/verify", map[string]any{"type": "recovery", "email": "gl@example.com", "token": r.JSON(t)["email_otp"]})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	r = e.req("POST", "/admin/generate_link", map[string]any{"type": "email_change_new", "email": "gl@example.com", "new_email": "gl2@example.com"}, svc...)
	require.Equal(t, 200, r.Status, "%s", r.Body)
	assert.Equal(t, "email_change", r.JSON(t)["verification_type"])
	assert.Equal(t, "gl2@example.com", r.JSON(t)["new_email"])
	r = e.req("POST", "/verify", map[string]any{"type": "email_change", "email": "gl2@example.com", "token": r.JSON(t)["email_otp"]})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	assert.Equal(t, "gl2@example.com", r.JSON(t)["user"].(map[string]any)["email"])

	// invite
	r = e.req("POST", "/invite?redirect_to=http://localhost:5173/join", map[string]any{"email": "inv@example.com", "data": map[string]any{"team": "a"}}, svc...)
	require.Equal(t, 200, r.Status, "%s", r.Body)
	assert.NotEmpty(t, r.JSON(t)["invited_at"])
	m := e.mail.last(t, "inv@example.com", mailInvite)
	assert.Contains(t, m.Link, "type=invite")
	assert.Contains(t, m.HTML, "You have been invited")
	r = e.req("GET", "/verify?"+linkQuery(t, m.Link), nil, "apikey", "")
	require.Equal(t, 303, r.Status)
	assert.True(t, strings.HasPrefix(r.Header.Get("Location"), "http://localhost:5173/join#access_token="), r.Header.Get("Location"))
	r = e.req("POST", "/invite", map[string]any{"email": "inv@example.com"}, svc...)
	assert.Equal(t, 422, r.Status)
	assert.Equal(t, "email_exists", r.JSON(t)["code"])
}

// TestGenerateLinkKinds covers each kind's choice of user: a magic link to
// an unknown address signs up, an invite link invites, an email change
// link refuses a taken address, a signup link to an unconfirmed user
// replaces its password, and ?redirect_to= wins over the body's.
func TestGenerateLinkKinds(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, map[string]string{"AUTH_URI_ALLOW_LIST": "http://localhost:5173/**"})
	svc := bearer(e.service)
	link := func(body map[string]any, query string) map[string]any {
		t.Helper()
		r := e.req("POST", "/admin/generate_link"+query, body, svc...)
		require.Equal(t, 200, r.Status, "%s", r.Body)
		return r.JSON(t)
	}
	g := link(map[string]any{"type": "magiclink", "email": "new-magic@example.com", "redirect_to": "http://localhost:5173/body"},
		"?redirect_to=http://localhost:5173/query")
	assert.Equal(t, "magiclink", g["verification_type"])
	assert.Equal(t, "http://localhost:5173/query", g["redirect_to"])
	r := e.req("GET", "/admin/users/"+g["id"].(string), nil, svc...)
	require.Equal(t, 200, r.Status, "the magic link signed the address up: %s", r.Body)

	g = link(map[string]any{"type": "invite", "email": "linked-invite@example.com"}, "")
	assert.Equal(t, "invite", g["verification_type"])
	assert.NotEmpty(t, g["invited_at"])

	g = link(map[string]any{"type": "signup", "email": "unconfirmed@example.com", "password": "first-pass-1"}, "")
	g = link(map[string]any{"type": "signup", "email": "unconfirmed@example.com", "password": "second-pass-2"}, "")
	r = e.req("POST", "/verify", map[string]any{"type": "signup", "token_hash": g["hashed_token"]})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	e.signIn("unconfirmed@example.com", "second-pass-2")

	g = link(map[string]any{"type": "email_change_current", "email": "unconfirmed@example.com", "new_email": "changed@example.com"}, "")
	assert.Equal(t, "email_change", g["verification_type"])
	assert.Equal(t, "changed@example.com", g["new_email"])
	r = e.req("POST", "/admin/generate_link", map[string]any{"type": "email_change_new", "email": "unconfirmed@example.com",
		"new_email": "linked-invite@example.com"}, svc...)
	assert.Equal(t, 422, r.Status, "%s", r.Body)
	assert.Equal(t, "email_exists", r.JSON(t)["code"])
	r = e.req("POST", "/admin/generate_link", map[string]any{"type": "email_change_new", "email": "nobody@example.com",
		"new_email": "free@example.com"}, svc...)
	assert.Equal(t, 404, r.Status, "%s", r.Body)

	off := newEnvDB(t, e.pool, false, map[string]string{"AUTH_DISABLE_SIGNUP": "true"})
	r = off.req("POST", "/admin/generate_link", map[string]any{"type": "magiclink", "email": "nobody-yet@example.com"}, bearer(off.service)...)
	assert.Equal(t, 422, r.Status, "%s", r.Body)
	assert.Equal(t, "signup_disabled", r.JSON(t)["code"])
}

// TestAdminUpdatePhoneAndRole covers the phone and role steps of an admin
// update: a new number with its identity, a taken one refused, a role set.
func TestAdminUpdatePhoneAndRole(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	svc := bearer(e.service)
	r := e.req("POST", "/admin/users", map[string]any{"email": "ph@example.com", "password": "secret-123", "email_confirm": true}, svc...)
	require.Equal(t, 200, r.Status, "%s", r.Body)
	id := r.JSON(t)["id"].(string)
	r = e.req("POST", "/admin/users", map[string]any{"phone": "+15550009999"}, svc...)
	require.Equal(t, 200, r.Status, "%s", r.Body)

	r = e.req("PUT", "/admin/users/"+id, map[string]any{"phone": "+1 555 000 1234", "phone_confirm": true, "role": "editor"}, svc...)
	require.Equal(t, 200, r.Status, "%s", r.Body)
	u := r.JSON(t)
	assert.Equal(t, "15550001234", u["phone"])
	assert.NotEmpty(t, u["phone_confirmed_at"])
	assert.Equal(t, "editor", u["role"])
	assert.Len(t, u["identities"], 2, "email and phone")
	assert.Equal(t, []any{"email", "phone"}, u["app_metadata"].(map[string]any)["providers"])

	r = e.req("PUT", "/admin/users/"+id, map[string]any{"phone": "15550009999"}, svc...)
	assert.Equal(t, 422, r.Status, "%s", r.Body)
	assert.Equal(t, "phone_exists", r.JSON(t)["code"])
	r = e.req("PUT", "/admin/users/"+id, map[string]any{"phone": "not a number"}, svc...)
	assert.Equal(t, 400, r.Status, "%s", r.Body)
	r = e.req("PUT", "/admin/users/00000000-0000-4000-8000-000000000000", map[string]any{"role": "x"}, svc...)
	assert.Equal(t, 404, r.Status, "%s", r.Body)
	assert.Equal(t, "user_not_found", r.JSON(t)["code"])
}
