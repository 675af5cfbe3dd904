package auth

import (
	"encoding/base64"
	"fmt"
	"github.com/madbase/madbase/shared/apitest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

func TestAdminAccess(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	userTok := e.signUp(t, "plain@example.com", "secret-123")["access_token"].(string)
	secretKey := e.api.SecretKey
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "anon key", URL: "/admin/users", WantStatus: 403, WantFields: errCode("not_admin"), WantHeaders: errHeader("not_admin")},
		{Name: "user token", URL: "/admin/users", Headers: bearer(userTok),
			WantStatus: 403, WantFields: errCode("not_admin"), WantHeaders: errHeader("not_admin")},
		{Name: "publishable key", URL: "/admin/users", Headers: bearer(e.api.Publishable),
			WantStatus: 403, WantFields: errCode("not_admin"), WantHeaders: errHeader("not_admin")},
		{Name: "no bearer", URL: "/admin/users", Headers: map[string]string{"Authorization": ""},
			WantStatus: 401, WantFields: errCode("no_authorization"), WantHeaders: errHeader("no_authorization")},
		{Name: "service key", URL: "/admin/users", Headers: bearer(e.api.Service), WantStatus: 200},
		{Name: "secret key", URL: "/admin/users", Headers: map[string]string{"apikey": secretKey, "Authorization": "Bearer " + secretKey}, WantStatus: 200},
		{Name: "invite needs admin", Method: "POST", URL: "/invite",
			Body: map[string]any{"email": "x@example.com"}, WantStatus: 403, WantFields: errCode("not_admin"), WantHeaders: errHeader("not_admin")},
		{Name: "generate_link needs admin", Method: "POST", URL: "/admin/generate_link", Body: map[string]any{"type": "magiclink", "email": "x@example.com"},
			WantStatus: 403, WantFields: errCode("not_admin"), WantHeaders: errHeader("not_admin")},
	})
}

func TestAdminUsersCRUD(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, nil)
	svc := bearer(e.api.Service)
	hash, err := bcrypt.GenerateFromPassword([]byte("imported-pw"), 4)
	require.NoError(t, err)
	salt := []byte("saltsaltsalt")
	argon := "$argon2id$v=19$m=64,t=2,p=1$" + base64.RawStdEncoding.EncodeToString(salt) + "$" +
		base64.RawStdEncoding.EncodeToString(argon2.IDKey([]byte("password"), salt, 2, 64, 1, 16))

	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "create", Method: "POST", URL: "/admin/users", Headers: svc, WantStatus: 200,
			Body: map[string]any{"email": "A@Example.com", "password": "secret-123", "email_confirm": true,
				"user_metadata": map[string]any{"n": 1}, "app_metadata": map[string]any{"plan": "gold"}, "role": "authenticated"},
			WantContains: []string{`"email":"a@example.com"`, `"plan":"gold"`, `"provider":"email"`, `"email_confirmed_at"`}},
		{Name: "duplicate email", Method: "POST", URL: "/admin/users", Headers: svc,
			Body:       map[string]any{"email": "a@example.com", "password": "secret-123"},
			WantStatus: 422, WantFields: errCode("email_exists"), WantHeaders: errHeader("email_exists")},
		{Name: "no email or phone", Method: "POST", URL: "/admin/users", Headers: svc,
			Body:       map[string]any{"password": "secret-123"},
			WantStatus: 400, WantFields: errCode("validation_failed"), WantHeaders: errHeader("validation_failed")},
		{Name: "weak password", Method: "POST", URL: "/admin/users", Headers: svc,
			Body:       map[string]any{"email": "weak@example.com", "password": "1"},
			WantStatus: 422, WantFields: errCode("weak_password"), WantHeaders: errHeader("weak_password")},
		{Name: "bad id", Method: "POST", URL: "/admin/users", Headers: svc,
			Body:       map[string]any{"email": "id@example.com", "id": "nope"},
			WantStatus: 400, WantFields: errCode("validation_failed"), WantHeaders: errHeader("validation_failed")},
		{Name: "bad ban duration", Method: "POST", URL: "/admin/users", Headers: svc,
			Body:       map[string]any{"email": "ban@example.com", "ban_duration": "forever"},
			WantStatus: 400, WantFields: errCode("validation_failed"), WantHeaders: errHeader("validation_failed")},
		{Name: "bad password hash", Method: "POST", URL: "/admin/users", Headers: svc,
			Body:       map[string]any{"email": "hash@example.com", "password_hash": "md5:abc"},
			WantStatus: 400, WantFields: errCode("validation_failed"), WantHeaders: errHeader("validation_failed")},
		{Name: "imported bcrypt hash", Method: "POST", URL: "/admin/users", Headers: svc,
			Body: map[string]any{"email": "bcrypt@example.com", "password_hash": string(hash), "email_confirm": true}, WantStatus: 200},
		{Name: "imported argon2 hash", Method: "POST", URL: "/admin/users", Headers: svc,
			Body: map[string]any{"email": "argon@example.com", "password_hash": argon, "email_confirm": true}, WantStatus: 200},
		{Name: "given id", Method: "POST", URL: "/admin/users", Headers: svc,
			Body: map[string]any{"email": "given@example.com", "id": "11111111-1111-4111-8111-111111111111"}, WantStatus: 200,
			WantContains: []string{`"id":"11111111-1111-4111-8111-111111111111"`}},
		{Name: "get bad id", URL: "/admin/users/nope", Headers: svc,
			WantStatus: 404, WantFields: errCode("validation_failed"), WantHeaders: errHeader("validation_failed")},
		{Name: "get unknown", URL: "/admin/users/00000000-0000-4000-8000-000000000000", Headers: svc,
			WantStatus: 404, WantFields: errCode("user_not_found"), WantHeaders: errHeader("user_not_found")},
		{Name: "get", URL: "/admin/users/11111111-1111-4111-8111-111111111111", Headers: svc, WantStatus: 200,
			WantContains: []string{`"email":"given@example.com"`}},
		{Name: "factors", URL: "/admin/users/11111111-1111-4111-8111-111111111111/factors", Headers: svc, WantStatus: 200,
			WantContains: []string{`[]`}},
		{Name: "bad pagination", URL: "/admin/users?page=x", Headers: svc,
			WantStatus: 400, WantFields: errCode("validation_failed"), WantHeaders: errHeader("validation_failed")},
	})
	e.signIn(t, "bcrypt@example.com", "imported-pw")
	e.signIn(t, "argon@example.com", "password")
	// Update merges metadata, bans and lifts the ban, changes the email.
	id := "11111111-1111-4111-8111-111111111111"
	user := "/admin/users/" + id
	signIn := func(email, password string) map[string]any {
		return map[string]any{"email": email, "password": password}
	}
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "wrong password of an imported hash", Method: "POST", URL: "/token?grant_type=password",
			Body: signIn("argon@example.com", "wrong"), WantStatus: 400, WantFields: errCode("invalid_credentials")},
		{Name: "update", Method: "PUT", URL: user, Headers: svc, WantStatus: 200,
			Body: map[string]any{"user_metadata": map[string]any{"x": 1}, "app_metadata": map[string]any{"tier": 2},
				"password": "secret-789", "email_confirm": true}},
		{Name: "metadata merges", Method: "PUT", URL: user, Headers: svc, WantStatus: 200,
			Body: map[string]any{"user_metadata": map[string]any{"y": 2}},
			After: func(t *testing.T, _ *apitest.Env, r *apitest.Response) {
				meta := r.Map(t)["user_metadata"].(map[string]any)
				assert.EqualValues(t, 1, meta["x"])
				assert.EqualValues(t, 2, meta["y"])
				assert.EqualValues(t, 2, r.Map(t)["app_metadata"].(map[string]any)["tier"])
			}},
	})
	sess := bearer(e.signIn(t, "given@example.com", "secret-789")["access_token"].(string))
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "ban", Method: "PUT", URL: user, Headers: svc, Body: map[string]any{"ban_duration": "1h"}, WantStatus: 200,
			After: func(t *testing.T, _ *apitest.Env, r *apitest.Response) { assert.NotEmpty(t, r.Map(t)["banned_until"]) }},
		{Name: "a banned user cannot sign in", Method: "POST", URL: "/token?grant_type=password",
			Body: signIn("given@example.com", "secret-789"), WantStatus: 400, WantFields: errCode("user_banned")},
		{Name: "a ban ends the sessions", URL: "/user", Headers: sess, WantStatus: 403},
		{Name: "lift the ban", Method: "PUT", URL: user, Headers: svc, Body: map[string]any{"ban_duration": "none"}, WantStatus: 200,
			After: func(t *testing.T, _ *apitest.Env, r *apitest.Response) { assert.Nil(t, r.Map(t)["banned_until"]) }},

		{Name: "taken email", Method: "PUT", URL: user, Headers: svc, Body: map[string]any{"email": "a@example.com"},
			WantStatus: 422, WantFields: errCode("email_exists")},
		{Name: "new email", Method: "PUT", URL: user, Headers: svc, Body: map[string]any{"email": "renamed@example.com"}, WantStatus: 200,
			After: func(t *testing.T, _ *apitest.Env, _ *apitest.Response) {
				e.signIn(t, "renamed@example.com", "secret-789")
			}},

		// Delete: soft, then hard.
		{Name: "soft delete", Method: "DELETE", URL: user, Headers: svc, Body: map[string]any{"should_soft_delete": true},
			WantStatus: 200, WantJSON: `{}`},
		{Name: "a soft-deleted user stays, without its email", URL: user, Headers: svc, WantStatus: 200, WantFields: map[string]any{"email": ""},
			After: func(t *testing.T, _ *apitest.Env, r *apitest.Response) { assert.NotEmpty(t, r.Map(t)["deleted_at"]) }},
		{Name: "a soft-deleted user cannot sign in", Method: "POST", URL: "/token?grant_type=password",
			Body: signIn("renamed@example.com", "secret-789"), WantStatus: 400, WantFields: errCode("invalid_credentials")},
		{Name: "hard delete", Method: "DELETE", URL: user, Headers: svc, WantStatus: 200},
		{Name: "gone", URL: user, Headers: svc, WantStatus: 404},
		{Name: "gone, deleted again", Method: "DELETE", URL: user, Headers: svc, WantStatus: 404},
	})
	var n int
	require.NoError(t, e.pool.QueryRow(t.Context(), `select count(*) from auth.identities where user_id = $1`, id).Scan(&n))
	assert.Zero(t, n, "identities go with the user")
}

func TestAdminListPagination(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	svc := bearer(e.api.Service)
	for i := range 5 {
		r := e.api.Do(t, apitest.Request{Method: "POST", URL: "/admin/users", Headers: svc,
			Body: map[string]any{"email": fmt.Sprintf("u%d@example.com", i)}})
		require.Equal(t, 200, r.Status)
		e.clock.advance(1e9)
	}
	firstEmail := func(t *testing.T, r *apitest.Response, n int) any {
		users := r.Map(t)["users"].([]any)
		require.Len(t, users, n)
		return users[0].(map[string]any)["email"]
	}
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "empty page and per_page", URL: "/admin/users?page=&per_page=", Headers: svc, WantStatus: 200,
			WantHeaders: map[string]string{"X-Total-Count": "5", "Link": `</admin/users?page=1&per_page=50>; rel="last"`},
			WantFields:  map[string]any{"aud": "authenticated"},
			After: func(t *testing.T, _ *apitest.Env, r *apitest.Response) {
				assert.Equal(t, "u4@example.com", firstEmail(t, r, 5), "newest first")
			}},
		{Name: "second page of two", URL: "/admin/users?page=2&per_page=2", Headers: svc, WantStatus: 200,
			WantHeaders: map[string]string{"Link": `</admin/users?page=3&per_page=2>; rel="next", </admin/users?page=3&per_page=2>; rel="last"`},
			After: func(t *testing.T, _ *apitest.Env, r *apitest.Response) {
				assert.Equal(t, "u2@example.com", firstEmail(t, r, 2))
			}},
		{Name: "filter", URL: "/admin/users?filter=u3", Headers: svc, WantStatus: 200, WantHeaders: map[string]string{"X-Total-Count": "1"}},
	})

	empty := newEnv(t, true, nil)
	apitest.Run(t, empty.api, []apitest.Scenario{
		{Name: "no users", URL: "/admin/users", Headers: bearer(empty.api.Service), WantStatus: 200,
			WantHeaders: map[string]string{"Link": `</admin/users?page=0&per_page=50>; rel="last"`},
			After: func(t *testing.T, _ *apitest.Env, r *apitest.Response) {
				assert.Equal(t, `{"users":[],"aud":"authenticated"}`, r.String(), "the exact bytes")
			}},
	})
}

func TestGenerateLinkAndInvite(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, map[string]string{"AUTH_URI_ALLOW_LIST": "http://localhost:5173/**"})
	svc := bearer(e.api.Service)
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "bad type", Method: "POST", URL: "/admin/generate_link", Headers: svc,
			Body:       map[string]any{"type": "bogus", "email": "x@example.com"},
			WantStatus: 400, WantFields: errCode("validation_failed"), WantHeaders: errHeader("validation_failed")},
		{Name: "recovery of nobody", Method: "POST", URL: "/admin/generate_link", Headers: svc,
			Body:       map[string]any{"type": "recovery", "email": "nobody@example.com"},
			WantStatus: 404, WantFields: errCode("user_not_found"), WantHeaders: errHeader("user_not_found")},
		{Name: "signup without password", Method: "POST", URL: "/admin/generate_link", Headers: svc,
			Body:       map[string]any{"type": "signup", "email": "nopw@example.com"},
			WantStatus: 400, WantFields: errCode("validation_failed"), WantHeaders: errHeader("validation_failed")},
		{Name: "email change without new email", Method: "POST", URL: "/admin/generate_link", Headers: svc,
			Body:       map[string]any{"type": "email_change_new", "email": "x@example.com"},
			WantStatus: 400, WantFields: errCode("validation_failed"), WantHeaders: errHeader("validation_failed")},
	})
	before := e.mail.count()
	g := e.generateLink(t, map[string]any{"type": "signup", "email": "gl@example.com", "password": "secret-123",
		"data": map[string]any{"k": 1}, "redirectTo": "http://localhost:5173/welcome"}, "")
	assert.Equal(t, before, e.mail.count(), "generate_link sends nothing")
	assert.Equal(t, "gl@example.com", g["email"])
	assert.Equal(t, "signup", g["verification_type"])
	assert.Equal(t, "http://localhost:5173/welcome", g["redirect_to"])
	assert.Regexp(t, `^http://api\.test:8000/auth/v1/verify\?token=[0-9a-f]{56}&type=signup&redirect_to=http%3A%2F%2Flocalhost%3A5173%2Fwelcome$`, g["action_link"])
	assert.Len(t, g["email_otp"], 6)
	assert.Len(t, g["hashed_token"], 56)
	e.postVerify(t, map[string]any{"type": "signup", "token_hash": g["hashed_token"]})
	e.signIn(t, "gl@example.com", "secret-123")
	r := e.api.Do(t, apitest.Request{Method: "POST", URL: "/admin/generate_link", Headers: svc,
		Body: map[string]any{"type": "signup", "email": "gl@example.com", "password": "secret-123"}})
	assert.Equal(t, 422, r.Status)
	assert.Equal(t, "email_exists", r.Map(t)["code"])

	// recovery and email change links
	g = e.generateLink(t, map[string]any{"type": "recovery", "email": "gl@example.com"}, "")
	e.postVerify(t, map[string]any{"type": "recovery", "email": "gl@example.com", "token": g["email_otp"]})
	g = e.generateLink(t, map[string]any{"type": "email_change_new", "email": "gl@example.com", "new_email": "gl2@example.com"}, "")
	assert.Equal(t, "email_change", g["verification_type"])
	assert.Equal(t, "gl2@example.com", g["new_email"])
	v := e.postVerify(t, map[string]any{"type": "email_change", "email": "gl2@example.com", "token": g["email_otp"]})
	assert.Equal(t, "gl2@example.com", v.Map(t)["user"].(map[string]any)["email"])

	// invite
	r = e.api.Do(t, apitest.Request{Method: "POST", URL: "/invite?redirect_to=http://localhost:5173/join", Headers: svc,
		Body: map[string]any{"email": "inv@example.com", "data": map[string]any{"team": "a"}}})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	assert.NotEmpty(t, r.Map(t)["invited_at"])
	m := e.mail.last(t, "inv@example.com", mailInvite)
	assert.Contains(t, m.Link, "type=invite")
	assert.Contains(t, m.HTML, "You have been invited")
	r = e.api.Do(t, apitest.Request{URL: "/verify?" + linkQuery(t, m.Link), Headers: map[string]string{"apikey": ""}})
	require.Equal(t, 303, r.Status)
	assert.True(t, strings.HasPrefix(r.Header.Get("Location"), "http://localhost:5173/join#access_token="), r.Header.Get("Location"))
	r = e.api.Do(t, apitest.Request{Method: "POST", URL: "/invite", Body: map[string]any{"email": "inv@example.com"}, Headers: svc})
	assert.Equal(t, 422, r.Status)
	assert.Equal(t, "email_exists", r.Map(t)["code"])
}

// generateLink asks for a link as the service role (query is the URL's
// query, "" or "?..."), and returns the answer.
func (e *env) generateLink(t *testing.T, body map[string]any, query string) map[string]any {
	t.Helper()
	r := e.api.Do(t, apitest.Request{Method: "POST", URL: "/admin/generate_link" + query, Body: body, Headers: bearer(e.api.Service)})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	return r.Map(t)
}

// postVerify posts body to /verify and returns the answer, which must be a 200.
func (e *env) postVerify(t *testing.T, body map[string]any) *apitest.Response {
	t.Helper()
	r := e.api.Do(t, apitest.Request{Method: "POST", URL: "/verify", Body: body})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	return r
}

// TestGenerateLinkKinds covers each kind's choice of user: a magic link to
// an unknown address signs up, an invite link invites, an email change
// link refuses a taken address, a signup link to an unconfirmed user
// replaces its password, and ?redirect_to= wins over the body's.
func TestGenerateLinkKinds(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, map[string]string{"AUTH_URI_ALLOW_LIST": "http://localhost:5173/**"})
	svc := bearer(e.api.Service)
	g := e.generateLink(t, map[string]any{"type": "magiclink", "email": "new-magic@example.com", "redirect_to": "http://localhost:5173/body"},
		"?redirect_to=http://localhost:5173/query")
	assert.Equal(t, "magiclink", g["verification_type"])
	assert.Equal(t, "http://localhost:5173/query", g["redirect_to"])
	r := e.api.Do(t, apitest.Request{URL: "/admin/users/" + g["id"].(string), Headers: svc})
	require.Equal(t, 200, r.Status, "the magic link signed the address up: %s", r.Body)

	g = e.generateLink(t, map[string]any{"type": "invite", "email": "linked-invite@example.com"}, "")
	assert.Equal(t, "invite", g["verification_type"])
	assert.NotEmpty(t, g["invited_at"])

	g = e.generateLink(t, map[string]any{"type": "signup", "email": "unconfirmed@example.com", "password": "first-pass-1"}, "")
	g = e.generateLink(t, map[string]any{"type": "signup", "email": "unconfirmed@example.com", "password": "second-pass-2"}, "")
	e.postVerify(t, map[string]any{"type": "signup", "token_hash": g["hashed_token"]})
	e.signIn(t, "unconfirmed@example.com", "second-pass-2")

	g = e.generateLink(t, map[string]any{"type": "email_change_current", "email": "unconfirmed@example.com", "new_email": "changed@example.com"}, "")
	assert.Equal(t, "email_change", g["verification_type"])
	assert.Equal(t, "changed@example.com", g["new_email"])
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "email change to a taken address", Method: "POST", URL: "/admin/generate_link", Headers: svc,
			Body:       map[string]any{"type": "email_change_new", "email": "unconfirmed@example.com", "new_email": "linked-invite@example.com"},
			WantStatus: 422, WantFields: errCode("email_exists")},
		{Name: "email change of nobody", Method: "POST", URL: "/admin/generate_link", Headers: svc,
			Body:       map[string]any{"type": "email_change_new", "email": "nobody@example.com", "new_email": "free@example.com"},
			WantStatus: 404},
	})

	off := newEnvDB(t, e.pool, false, map[string]string{"AUTH_DISABLE_SIGNUP": "true"})
	apitest.Run(t, off.api, []apitest.Scenario{
		{Name: "a magic link signs nobody up with signups off", Method: "POST", URL: "/admin/generate_link", Headers: bearer(off.api.Service),
			Body:       map[string]any{"type": "magiclink", "email": "nobody-yet@example.com"},
			WantStatus: 422, WantFields: errCode("signup_disabled")},
	})
}

// TestAdminUpdatePhoneAndRole covers the phone and role steps of an admin
// update: a new number with its identity, a taken one refused, a role set.
func TestAdminUpdatePhoneAndRole(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	svc := bearer(e.api.Service)
	r := e.api.Do(t, apitest.Request{Method: "POST", URL: "/admin/users", Headers: svc,
		Body: map[string]any{"email": "ph@example.com", "password": "secret-123", "email_confirm": true}})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	id := r.Map(t)["id"].(string)
	r = e.api.Do(t, apitest.Request{Method: "POST", URL: "/admin/users", Body: map[string]any{"phone": "+15550009999"}, Headers: svc})
	require.Equal(t, 200, r.Status, "%s", r.Body)

	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "new phone and role", Method: "PUT", URL: "/admin/users/" + id, Headers: svc,
			Body:       map[string]any{"phone": "+1 555 000 1234", "phone_confirm": true, "role": "editor"},
			WantStatus: 200, WantFields: map[string]any{"phone": "15550001234", "role": "editor"},
			After: func(t *testing.T, _ *apitest.Env, r *apitest.Response) {
				u := r.Map(t)
				assert.NotEmpty(t, u["phone_confirmed_at"])
				assert.Len(t, u["identities"], 2, "email and phone")
				assert.Equal(t, []any{"email", "phone"}, u["app_metadata"].(map[string]any)["providers"])
			}},
		{Name: "taken phone", Method: "PUT", URL: "/admin/users/" + id, Headers: svc, Body: map[string]any{"phone": "15550009999"},
			WantStatus: 422, WantFields: errCode("phone_exists")},
		{Name: "not a phone number", Method: "PUT", URL: "/admin/users/" + id, Headers: svc, Body: map[string]any{"phone": "not a number"},
			WantStatus: 400},
		{Name: "unknown user", Method: "PUT", URL: "/admin/users/00000000-0000-4000-8000-000000000000", Headers: svc, Body: map[string]any{"role": "x"},
			WantStatus: 404, WantFields: errCode("user_not_found")},
	})
}

// TestAdminCreateKeepsMetadataAsSent: the admin API stores user_metadata as
// given; the identity, not the metadata, carries sub, email and the
// verified flags (GoTrue's split). A sign-up still copies them.
func TestAdminCreateKeepsMetadataAsSent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	r := e.api.Do(t, apitest.Request{Method: "POST", URL: "/admin/users", Headers: bearer(e.api.Service),
		Body: map[string]any{"email": "asis@example.com", "password": "secret-123", "email_confirm": true,
			"user_metadata": map[string]any{"plan": "pro"}}})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	u := r.Map(t)
	assert.Equal(t, map[string]any{"plan": "pro"}, u["user_metadata"])
	ids, _ := u["identities"].([]any)
	require.Len(t, ids, 1)
	data := ids[0].(map[string]any)["identity_data"].(map[string]any)
	assert.Equal(t, "asis@example.com", data["email"])
	assert.Equal(t, u["id"], data["sub"])
	assert.Equal(t, true, data["email_verified"])

	signed := e.signUp(t, "signed@example.com", "secret-123")
	meta := signed["user"].(map[string]any)["user_metadata"].(map[string]any)
	assert.Equal(t, "signed@example.com", meta["email"], "a sign-up's metadata carries the identity's data, as GoTrue's")
}
