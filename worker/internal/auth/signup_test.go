package auth

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSignupScenarios(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	e.signUp("taken@example.com", "secret-123")
	sqlish := `x'); drop table auth.users; --@example.com`

	e.run(t, []scenario{
		{name: "duplicate confirmed user with autoconfirm", method: "POST", path: "/signup",
			body: map[string]any{"email": "Taken@Example.com", "password": "other-pass"}, wantStatus: 422, wantCode: "user_already_exists"},
		{name: "weak password", method: "POST", path: "/signup",
			body: map[string]any{"email": "weak@example.com", "password": "123"}, wantStatus: 422, wantCode: "weak_password",
			wantContains: []string{`"weak_password":{"reasons":["length"]}`}},
		{name: "password over 72 bytes", method: "POST", path: "/signup",
			body: map[string]any{"email": "long@example.com", "password": strings.Repeat("p", 73)}, wantStatus: 422, wantCode: "weak_password"},
		{name: "missing password", method: "POST", path: "/signup",
			body: map[string]any{"email": "nopass@example.com"}, wantStatus: 400, wantCode: "validation_failed"},
		{name: "bad email", method: "POST", path: "/signup",
			body: map[string]any{"email": "not-an-email", "password": "secret-123"}, wantStatus: 400, wantCode: "validation_failed"},
		{name: "sql in email", method: "POST", path: "/signup",
			body: map[string]any{"email": sqlish, "password": "secret-123"}, wantStatus: 400, wantCode: "validation_failed",
			wantNotContains: []string{"drop table"}},
		{name: "email and phone", method: "POST", path: "/signup",
			body: map[string]any{"email": "a@example.com", "phone": "15551234567", "password": "secret-123"}, wantStatus: 400, wantCode: "validation_failed"},
		{name: "phone signup without an SMS provider", method: "POST", path: "/signup",
			body: map[string]any{"phone": "+1 555 123 4567", "password": "secret-123"}, wantStatus: 422, wantCode: "phone_provider_disabled"},
		{name: "malformed JSON", method: "POST", path: "/signup", body: `{"email":`, wantStatus: 400, wantCode: "bad_json"},
		{name: "wrong type", method: "POST", path: "/signup", body: `{"email": 5, "password": "x"}`, wantStatus: 400, wantCode: "bad_json"},
		{name: "array body", method: "POST", path: "/signup", body: `[1,2]`, wantStatus: 400, wantCode: "bad_json"},
		{name: "trailing data", method: "POST", path: "/signup", body: `{} {}`, wantStatus: 400, wantCode: "bad_json"},
		{name: "huge body", method: "POST", path: "/signup", body: `{"email":"` + strings.Repeat("a", 1<<20+10) + `"}`,
			wantStatus: 413, wantCode: "request_entity_too_large"},
		{name: "password without email is not anonymous", method: "POST", path: "/signup",
			body: map[string]any{"password": "secret-123"}, wantStatus: 400, wantCode: "validation_failed"},
	})

	// Nothing above created a user.
	var n int
	require.NoError(t, e.pool.QueryRow(t.Context(), `select count(*) from auth.users`).Scan(&n))
	assert.Equal(t, 1, n)
}

func TestSignupAutoconfirmSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, map[string]string{"TEST_REAL_BCRYPT_COST": "true"})
	r := e.req("POST", "/signup", `{"email": " New.User@Example.COM ", "password": "secret-123",
		"data": {"name": "Ann", "n": 12345678901234567890}, "gotrue_meta_security": {},
		"code_challenge": null, "code_challenge_method": null}`)
	require.Equal(t, 200, r.Status, "%s", r.Body)
	s := r.JSON(t)
	assert.Equal(t, "bearer", s["token_type"])
	assert.EqualValues(t, 3600, s["expires_in"])
	assert.NotEmpty(t, s["refresh_token"])
	assert.NotZero(t, s["expires_at"])
	u := s["user"].(map[string]any)
	assert.Equal(t, "new.user@example.com", u["email"])
	assert.Equal(t, "", u["phone"])
	assert.Equal(t, "authenticated", u["role"])
	assert.Equal(t, "authenticated", u["aud"])
	assert.NotEmpty(t, u["email_confirmed_at"])
	assert.NotEmpty(t, u["confirmed_at"])
	assert.NotEmpty(t, u["last_sign_in_at"])
	assert.Equal(t, false, u["is_anonymous"])
	assert.Equal(t, map[string]any{"provider": "email", "providers": []any{"email"}}, u["app_metadata"])
	meta := u["user_metadata"].(map[string]any)
	assert.Equal(t, "Ann", meta["name"])
	assert.Equal(t, true, meta["email_verified"])
	assert.Contains(t, string(r.Body), `"n":12345678901234567890`, "metadata numbers keep their digits")
	ids := u["identities"].([]any)
	require.Len(t, ids, 1)
	id := ids[0].(map[string]any)
	assert.Equal(t, "email", id["provider"])
	assert.Equal(t, u["id"], id["id"])
	assert.Equal(t, u["id"], id["user_id"])
	assert.NotEqual(t, u["id"], id["identity_id"])
	assert.Equal(t, "new.user@example.com", id["email"])
	assert.Equal(t, true, id["identity_data"].(map[string]any)["email_verified"])
	assert.NotContains(t, string(r.Body), "encrypted_password")
	assert.NotContains(t, string(r.Body), "$2a$")

	c := claims(t, s["access_token"].(string))
	assert.Equal(t, u["id"], c["sub"])
	assert.Equal(t, "authenticated", c["role"])
	assert.Equal(t, "authenticated", c["aud"])
	assert.Equal(t, "aal1", c["aal"])
	assert.Equal(t, "new.user@example.com", c["email"])
	assert.Equal(t, "http://api.test:8000/auth/v1", c["iss"])
	assert.Equal(t, false, c["is_anonymous"])
	assert.NotEmpty(t, c["session_id"])
	assert.EqualValues(t, 3600, c["exp"].(float64)-c["iat"].(float64))
	amr := c["amr"].([]any)
	require.Len(t, amr, 1)
	assert.Equal(t, "password", amr[0].(map[string]any)["method"])
	assert.NotContains(t, strings.Split(s["access_token"].(string), ".")[1], "=")

	var stored string
	require.NoError(t, e.pool.QueryRow(t.Context(), `select encrypted_password from auth.users where email = 'new.user@example.com'`).Scan(&stored))
	assert.True(t, strings.HasPrefix(stored, "$2a$10$"), "bcrypt cost 10")
}

func TestSignupWithConfirmation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, map[string]string{"AUTH_AUTOCONFIRM": "false"})
	r := e.req("POST", "/signup?redirect_to=http://app.test:3000/welcome", map[string]any{"email": "c@example.com", "password": "secret-123"})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	u := r.JSON(t)
	assert.Nil(t, u["access_token"], "no session before confirmation")
	assert.NotEmpty(t, u["confirmation_sent_at"])
	assert.Nil(t, u["email_confirmed_at"])
	assert.Len(t, u["identities"], 1)
	m := e.mail.last(t, "c@example.com", "signup")
	assert.Contains(t, m.Link, "http://api.test:8000/auth/v1/verify?")
	assert.Contains(t, m.Link, "type=signup")
	assert.Contains(t, m.Link, "redirect_to=http%3A%2F%2Fapp.test%3A3000%2Fwelcome")
	assert.Len(t, m.OTP, 6)

	// Password sign-in before confirmation.
	r = e.req("POST", "/token?grant_type=password", map[string]any{"email": "c@example.com", "password": "secret-123"})
	assert.Equal(t, 400, r.Status)
	assert.Equal(t, "email_not_confirmed", r.JSON(t)["code"])
	// ...but a wrong password still says only invalid_credentials.
	r = e.req("POST", "/token?grant_type=password", map[string]any{"email": "c@example.com", "password": "wrong-pass"})
	assert.Equal(t, "invalid_credentials", r.JSON(t)["code"])

	// Signing up again resends the confirmation only after the interval.
	r = e.req("POST", "/signup", map[string]any{"email": "c@example.com", "password": "secret-123"})
	assert.Equal(t, 429, r.Status, "%s", r.Body)
	assert.Equal(t, "over_email_send_rate_limit", r.JSON(t)["code"])
	e.clock.advance(61e9)
	r = e.req("POST", "/signup", map[string]any{"email": "c@example.com", "password": "secret-123"})
	assert.Equal(t, 200, r.Status, "%s", r.Body)

	// Confirm with the code.
	m = e.mail.last(t, "c@example.com", "signup")
	r = e.req("POST", "/verify", map[string]any{"type": "signup", "email": "c@example.com", "token": m.OTP})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	s := r.JSON(t)
	assert.NotEmpty(t, s["access_token"])
	assert.NotEmpty(t, s["user"].(map[string]any)["email_confirmed_at"])

	// Now a duplicate sign-up is answered with an obfuscated user.
	r = e.req("POST", "/signup", map[string]any{"email": "c@example.com", "password": "secret-123"})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	fake := r.JSON(t)
	assert.NotEqual(t, s["user"].(map[string]any)["id"], fake["id"])
	assert.Equal(t, []any{}, fake["identities"])
	assert.Equal(t, "", fake["role"])
	assert.Nil(t, fake["access_token"])
}

func TestAnonymousSignIn(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	r := e.req("POST", "/signup", map[string]any{"data": map[string]any{"theme": "dark"}, "gotrue_meta_security": map[string]any{}})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	s := r.JSON(t)
	u := s["user"].(map[string]any)
	assert.Equal(t, true, u["is_anonymous"])
	assert.Equal(t, []any{}, u["identities"])
	assert.Equal(t, "", u["email"])
	c := claims(t, s["access_token"].(string))
	assert.Equal(t, true, c["is_anonymous"])
	assert.Equal(t, "anonymous", c["amr"].([]any)[0].(map[string]any)["method"])

	off := newEnv(t, false, nil)
	off.run(t, []scenario{{name: "anonymous off outside dev", method: "POST", path: "/signup", body: map[string]any{},
		wantStatus: 422, wantCode: "anonymous_provider_disabled"}})
}

func TestSignupDisabled(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, map[string]string{"AUTH_DISABLE_SIGNUP": "true"})
	e.run(t, []scenario{
		{name: "email", method: "POST", path: "/signup", body: map[string]any{"email": "a@example.com", "password": "secret-123"},
			wantStatus: 422, wantCode: "signup_disabled"},
		{name: "anonymous", method: "POST", path: "/signup", body: map[string]any{}, wantStatus: 422, wantCode: "signup_disabled"},
		{name: "otp for a new address", method: "POST", path: "/otp", body: map[string]any{"email": "b@example.com"},
			wantStatus: 422, wantCode: "signup_disabled"},
	})
}
