package auth

import (
	"github.com/madbase/madbase/shared/apitest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSignupScenarios(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	e.signUp(t, "taken@example.com", "secret-123")
	sqlish := `x'); drop table auth.users; --@example.com`

	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "duplicate confirmed user with autoconfirm", Method: "POST", URL: "/signup",
			Body:       map[string]any{"email": "Taken@Example.com", "password": "other-pass"},
			WantStatus: 422, WantFields: errCode("user_already_exists"), WantHeaders: errHeader("user_already_exists")},
		{Name: "weak password", Method: "POST", URL: "/signup",
			Body:       map[string]any{"email": "weak@example.com", "password": "123"},
			WantStatus: 422, WantFields: errCode("weak_password"), WantHeaders: errHeader("weak_password"),
			WantContains: []string{`"weak_password":{"reasons":["length"]}`}},
		{Name: "password over 72 bytes", Method: "POST", URL: "/signup",
			Body:       map[string]any{"email": "long@example.com", "password": strings.Repeat("p", 73)},
			WantStatus: 422, WantFields: errCode("weak_password"), WantHeaders: errHeader("weak_password")},
		{Name: "missing password", Method: "POST", URL: "/signup",
			Body:       map[string]any{"email": "nopass@example.com"},
			WantStatus: 400, WantFields: errCode("validation_failed"), WantHeaders: errHeader("validation_failed")},
		{Name: "bad email", Method: "POST", URL: "/signup",
			Body:       map[string]any{"email": "not-an-email", "password": "secret-123"},
			WantStatus: 400, WantFields: errCode("validation_failed"), WantHeaders: errHeader("validation_failed")},
		{Name: "sql in email", Method: "POST", URL: "/signup",
			Body:       map[string]any{"email": sqlish, "password": "secret-123"},
			WantStatus: 400, WantFields: errCode("validation_failed"), WantHeaders: errHeader("validation_failed"),
			WantNotContains: []string{"drop table"}},
		{Name: "email and phone", Method: "POST", URL: "/signup",
			Body:       map[string]any{"email": "a@example.com", "phone": "15551234567", "password": "secret-123"},
			WantStatus: 400, WantFields: errCode("validation_failed"), WantHeaders: errHeader("validation_failed")},
		{Name: "phone signup without an SMS provider", Method: "POST", URL: "/signup",
			Body:       map[string]any{"phone": "+1 555 123 4567", "password": "secret-123"},
			WantStatus: 422, WantFields: errCode("phone_provider_disabled"), WantHeaders: errHeader("phone_provider_disabled")},
		{Name: "malformed JSON", Method: "POST", URL: "/signup",
			Body: `{"email":`, WantStatus: 400, WantFields: errCode("bad_json"), WantHeaders: errHeader("bad_json")},
		{Name: "wrong type", Method: "POST", URL: "/signup",
			Body: `{"email": 5, "password": "x"}`, WantStatus: 400, WantFields: errCode("bad_json"), WantHeaders: errHeader("bad_json")},
		{Name: "array body", Method: "POST", URL: "/signup",
			Body: `[1,2]`, WantStatus: 400, WantFields: errCode("bad_json"), WantHeaders: errHeader("bad_json")},
		{Name: "trailing data", Method: "POST", URL: "/signup",
			Body: `{} {}`, WantStatus: 400, WantFields: errCode("bad_json"), WantHeaders: errHeader("bad_json")},
		{Name: "huge body", Method: "POST", URL: "/signup", Body: `{"email":"` + strings.Repeat("a", 1<<20+10) + `"}`,
			WantStatus: 413, WantFields: errCode("request_entity_too_large"), WantHeaders: errHeader("request_entity_too_large")},
		{Name: "password without email is not anonymous", Method: "POST", URL: "/signup",
			Body:       map[string]any{"password": "secret-123"},
			WantStatus: 400, WantFields: errCode("validation_failed"), WantHeaders: errHeader("validation_failed")},
	})

	// Nothing above created a user.
	var n int
	require.NoError(t, e.pool.QueryRow(t.Context(), `select count(*) from auth.users`).Scan(&n))
	assert.Equal(t, 1, n)
}

func TestSignupAutoconfirmSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, map[string]string{"TEST_REAL_BCRYPT_COST": "true"})
	r := e.api.Do(t, apitest.Request{Method: "POST", URL: "/signup", Body: `{"email": " New.User@Example.COM ", "password": "secret-123",
		"data": {"name": "Ann", "n": 12345678901234567890}, "gotrue_meta_security": {},
		"code_challenge": null, "code_challenge_method": null}`})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	s := r.Map(t)
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
	r := e.api.Do(t, apitest.Request{Method: "POST", URL: "/signup?redirect_to=http://app.test:3000/welcome",
		Body: map[string]any{"email": "c@example.com", "password": "secret-123"}})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	u := r.Map(t)
	assert.Nil(t, u["access_token"], "no session before confirmation")
	assert.NotEmpty(t, u["confirmation_sent_at"])
	assert.Nil(t, u["email_confirmed_at"])
	assert.Len(t, u["identities"], 1)
	m := e.mail.last(t, "c@example.com", "signup")
	assert.Contains(t, m.Link, "http://api.test:8000/auth/v1/verify?")
	assert.Contains(t, m.Link, "type=signup")
	assert.Contains(t, m.Link, "redirect_to=http%3A%2F%2Fapp.test%3A3000%2Fwelcome")
	assert.Len(t, m.OTP, 6)

	creds := map[string]any{"email": "c@example.com", "password": "secret-123"}
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "password sign-in before confirmation", Method: "POST", URL: "/token?grant_type=password", Body: creds,
			WantStatus: 400, WantFields: errCode("email_not_confirmed")},
		{Name: "a wrong password still says only invalid_credentials", Method: "POST", URL: "/token?grant_type=password",
			Body: map[string]any{"email": "c@example.com", "password": "wrong-pass"}, WantStatus: 400, WantFields: errCode("invalid_credentials")},
		// Signing up again resends the confirmation only after the interval.
		{Name: "signing up again too soon", Method: "POST", URL: "/signup", Body: creds,
			WantStatus: 429, WantFields: errCode("over_email_send_rate_limit")},
		{Name: "signing up again after the interval", Method: "POST", URL: "/signup", Body: creds, WantStatus: 200,
			Before: func(*testing.T, *apitest.Env) { e.clock.advance(61 * time.Second) }},
	})

	// Confirm with the code.
	m = e.mail.last(t, "c@example.com", "signup")
	r = e.api.Do(t, apitest.Request{Method: "POST", URL: "/verify", Body: map[string]any{"type": "signup", "email": "c@example.com", "token": m.OTP}})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	s := r.Map(t)
	assert.NotEmpty(t, s["access_token"])
	assert.NotEmpty(t, s["user"].(map[string]any)["email_confirmed_at"])

	// Now a duplicate sign-up is answered with an obfuscated user.
	r = e.api.Do(t, apitest.Request{Method: "POST", URL: "/signup", Body: map[string]any{"email": "c@example.com", "password": "secret-123"}})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	fake := r.Map(t)
	assert.NotEqual(t, s["user"].(map[string]any)["id"], fake["id"])
	assert.Equal(t, []any{}, fake["identities"])
	assert.Equal(t, "", fake["role"])
	assert.Nil(t, fake["access_token"])
}

func TestAnonymousSignIn(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	r := e.api.Do(t, apitest.Request{Method: "POST", URL: "/signup",
		Body: map[string]any{"data": map[string]any{"theme": "dark"}, "gotrue_meta_security": map[string]any{}}})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	s := r.Map(t)
	u := s["user"].(map[string]any)
	assert.Equal(t, true, u["is_anonymous"])
	assert.Equal(t, []any{}, u["identities"])
	assert.Equal(t, "", u["email"])
	c := claims(t, s["access_token"].(string))
	assert.Equal(t, true, c["is_anonymous"])
	assert.Equal(t, "anonymous", c["amr"].([]any)[0].(map[string]any)["method"])

	off := newEnv(t, false, nil)
	apitest.Run(t, off.api, []apitest.Scenario{{Name: "anonymous off outside dev", Method: "POST", URL: "/signup", Body: map[string]any{},
		WantStatus: 422, WantFields: errCode("anonymous_provider_disabled"), WantHeaders: errHeader("anonymous_provider_disabled")}})
}

func TestSignupDisabled(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, map[string]string{"AUTH_DISABLE_SIGNUP": "true"})
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "email", Method: "POST", URL: "/signup", Body: map[string]any{"email": "a@example.com", "password": "secret-123"},
			WantStatus: 422, WantFields: errCode("signup_disabled"), WantHeaders: errHeader("signup_disabled")},
		{Name: "anonymous", Method: "POST", URL: "/signup",
			Body: map[string]any{}, WantStatus: 422, WantFields: errCode("signup_disabled"), WantHeaders: errHeader("signup_disabled")},
		{Name: "otp for a new address", Method: "POST", URL: "/otp", Body: map[string]any{"email": "b@example.com"},
			WantStatus: 422, WantFields: errCode("signup_disabled"), WantHeaders: errHeader("signup_disabled")},
	})
}
