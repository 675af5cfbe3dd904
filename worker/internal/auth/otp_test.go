package auth

import (
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// linkQuery is the query of a mailed verify link, for GET /verify.
func linkQuery(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	require.NoError(t, err)
	assert.Equal(t, "/auth/v1/verify", u.Path)
	return u.RawQuery
}

func TestRecoverAndVerify(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	e.signUp("rec@example.com", "secret-123")

	e.run(t, []scenario{
		{name: "unknown address looks the same", method: "POST", path: "/recover", body: map[string]any{"email": "nobody@example.com"},
			wantStatus: 200, wantContains: []string{"{}"}},
		{name: "no address", method: "POST", path: "/recover", body: map[string]any{}, wantStatus: 400, wantCode: "validation_failed"},
		{name: "bad address", method: "POST", path: "/recover", body: map[string]any{"email": "x"}, wantStatus: 400, wantCode: "validation_failed"},
		{name: "known address", method: "POST", path: "/recover?redirect_to=http://evil.test/steal",
			body: map[string]any{"email": "rec@example.com"}, wantStatus: 200},
		{name: "again too soon", method: "POST", path: "/recover", body: map[string]any{"email": "rec@example.com"},
			wantStatus: 429, wantCode: "over_email_send_rate_limit", wantContains: []string{"only request this after"}},
	})
	assert.Equal(t, 1, e.mail.count(), "no mail for unknown addresses")
	m := e.mail.last(t, "rec@example.com", mailRecovery)
	assert.Equal(t, "http://app.test:3000", m.RedirectTo, "a redirect outside SITE_URL and the allow-list falls back to SITE_URL")

	e.run(t, []scenario{
		{name: "wrong code", method: "POST", path: "/verify", body: map[string]any{"type": "recovery", "email": "rec@example.com", "token": "000000"},
			wantStatus: 403, wantCode: "otp_expired"},
		{name: "code of another type", method: "POST", path: "/verify", body: map[string]any{"type": "signup", "email": "rec@example.com", "token": m.OTP},
			wantStatus: 403, wantCode: "otp_expired"},
		{name: "no type", method: "POST", path: "/verify", body: map[string]any{"email": "rec@example.com", "token": m.OTP},
			wantStatus: 400, wantCode: "validation_failed"},
		{name: "unknown type", method: "POST", path: "/verify", body: map[string]any{"type": "nope", "email": "rec@example.com", "token": m.OTP},
			wantStatus: 400, wantCode: "validation_failed"},
		{name: "no token", method: "POST", path: "/verify", body: map[string]any{"type": "recovery", "email": "rec@example.com"},
			wantStatus: 400, wantCode: "validation_failed"},
		{name: "token without an address", method: "POST", path: "/verify", body: map[string]any{"type": "recovery", "token": m.OTP},
			wantStatus: 400, wantCode: "validation_failed"},
		{name: "sms without a provider", method: "POST", path: "/verify", body: map[string]any{"type": "sms", "phone": "15551234567", "token": "123456"},
			wantStatus: 403, wantCode: "otp_expired"},
		{name: "right code", method: "POST", path: "/verify", body: map[string]any{"type": "recovery", "email": "REC@example.com", "token": m.OTP},
			wantStatus: 200, wantContains: []string{`"access_token"`}},
		{name: "code is single-use", method: "POST", path: "/verify", body: map[string]any{"type": "recovery", "email": "rec@example.com", "token": m.OTP},
			wantStatus: 403, wantCode: "otp_expired"},
	})

	// An expired code.
	e.clock.advance(2 * time.Minute)
	require.Equal(t, 200, e.req("POST", "/recover", map[string]any{"email": "rec@example.com"}).Status)
	m = e.mail.last(t, "rec@example.com", mailRecovery)
	e.clock.advance(61 * time.Minute)
	r := e.req("POST", "/verify", map[string]any{"type": "recovery", "token_hash": m.TokenHash})
	assert.Equal(t, 403, r.Status)
	assert.Equal(t, "otp_expired", r.JSON(t)["code"])
}

func TestVerifyLinkRedirects(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, map[string]string{"AUTH_URI_ALLOW_LIST": "myapp://**,https://*.preview.test/**"})
	e.signUp("link@example.com", "secret-123")
	require.Equal(t, 200, e.req("POST", "/otp?redirect_to=https://pr-1.preview.test/cb", map[string]any{"email": "link@example.com"}).Status)
	m := e.mail.last(t, "link@example.com", mailMagicLink)
	assert.Contains(t, m.Link, "type=magiclink")

	// The link works without an apikey (a browser navigation).
	r := e.req("GET", "/verify?"+linkQuery(t, m.Link), nil, "apikey", "", "Authorization", "")
	require.Equal(t, 303, r.Status, "%s", r.Body)
	loc, err := url.Parse(r.Header.Get("Location"))
	require.NoError(t, err)
	assert.Equal(t, "pr-1.preview.test", loc.Host)
	f, err := url.ParseQuery(loc.Fragment)
	require.NoError(t, err)
	for _, k := range []string{"access_token", "refresh_token", "expires_in", "expires_at"} {
		assert.NotEmpty(t, f.Get(k), k)
	}
	assert.Equal(t, "bearer", f.Get("token_type"))
	assert.Equal(t, "magiclink", f.Get("type"))
	assert.Equal(t, "otp", claims(t, f.Get("access_token"))["amr"].([]any)[0].(map[string]any)["method"])

	// Followed twice: the error goes in the fragment.
	r = e.req("GET", "/verify?"+linkQuery(t, m.Link), nil, "apikey", "")
	require.Equal(t, 303, r.Status)
	loc, _ = url.Parse(r.Header.Get("Location"))
	f, _ = url.ParseQuery(loc.Fragment)
	assert.Equal(t, "access_denied", f.Get("error"))
	assert.Equal(t, "otp_expired", f.Get("error_code"))
	assert.NotEmpty(t, f.Get("error_description"))
	assert.Empty(t, loc.RawQuery)

	for _, tc := range []struct{ redirect, wantHost string }{
		{"myapp://callback", "callback"},
		{"https://evil.test/x", "app.test:3000"},
		{"https://a.b.preview.test/x", "app.test:3000"},
		{"http://app.test:3000/deep/link", "app.test:3000"},
		{"javascript:alert(1)", "app.test:3000"},
		{"https://user:pw@app.test:3000/", "app.test:3000"},
	} {
		r := e.req("GET", "/verify?type=magiclink&token=nope&redirect_to="+url.QueryEscape(tc.redirect), nil)
		require.Equal(t, 303, r.Status)
		loc, _ := url.Parse(r.Header.Get("Location"))
		assert.Equal(t, tc.wantHost, loc.Host, tc.redirect)
	}
}

func TestOTPFlows(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, nil) // confirmations on
	e.run(t, []scenario{
		{name: "no signups for otp", method: "POST", path: "/otp", body: map[string]any{"email": "none@example.com", "create_user": false},
			wantStatus: 422, wantCode: "otp_disabled"},
		{name: "phone without SMS", method: "POST", path: "/otp", body: map[string]any{"phone": "15551234567"},
			wantStatus: 422, wantCode: "phone_provider_disabled"},
		{name: "no address", method: "POST", path: "/otp", body: map[string]any{}, wantStatus: 400, wantCode: "validation_failed"},
		{name: "new address signs up", method: "POST", path: "/otp", body: map[string]any{"email": "new@example.com", "data": map[string]any{"k": "v"}},
			wantStatus: 200},
	})
	// Unconfirmed: the sign-up confirmation carries the code.
	m := e.mail.last(t, "new@example.com", mailSignup)
	r := e.req("POST", "/verify", map[string]any{"type": "email", "email": "new@example.com", "token": m.OTP})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	u := r.JSON(t)["user"].(map[string]any)
	assert.NotEmpty(t, u["email_confirmed_at"])
	assert.Equal(t, "v", u["user_metadata"].(map[string]any)["k"])

	// Confirmed: a magic link; type "email" takes it too.
	require.Equal(t, 200, e.req("POST", "/otp", map[string]any{"email": "new@example.com"}).Status)
	m = e.mail.last(t, "new@example.com", mailMagicLink)
	r = e.req("POST", "/verify", map[string]any{"type": "email", "email": "new@example.com", "token": m.OTP})
	require.Equal(t, 200, r.Status, "%s", r.Body)

	// resend
	require.Equal(t, 200, e.req("POST", "/signup", map[string]any{"email": "pending@example.com", "password": "secret-123"}).Status)
	e.run(t, []scenario{
		{name: "resend too soon", method: "POST", path: "/resend", body: map[string]any{"type": "signup", "email": "pending@example.com"},
			wantStatus: 429, wantCode: "over_email_send_rate_limit"},
		{name: "resend bad type", method: "POST", path: "/resend", body: map[string]any{"type": "recovery", "email": "pending@example.com"},
			wantStatus: 400, wantCode: "validation_failed"},
		{name: "resend unknown", method: "POST", path: "/resend", body: map[string]any{"type": "signup", "email": "ghost@example.com"},
			wantStatus: 200},
	})
	before := e.mail.count()
	e.clock.advance(time.Minute + time.Second)
	require.Equal(t, 200, e.req("POST", "/resend", map[string]any{"type": "signup", "email": "pending@example.com"}).Status)
	assert.Equal(t, before+1, e.mail.count())
	m = e.mail.last(t, "pending@example.com", mailSignup)
	r = e.req("POST", "/verify", map[string]any{"type": "signup", "token_hash": m.TokenHash})
	require.Equal(t, 200, r.Status, "%s", r.Body)
}

func TestPKCEFlow(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	e.signUp("pkce@example.com", "secret-123")
	verifier := strings.Repeat("v", 50)
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	r := e.req("POST", "/recover?redirect_to=http://app.test:3000/cb?x=1", map[string]any{
		"email": "pkce@example.com", "code_challenge": challenge, "code_challenge_method": "s256"})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	m := e.mail.last(t, "pkce@example.com", mailRecovery)
	assert.Contains(t, m.Link, "token=pkce_")

	r = e.req("GET", "/verify?"+linkQuery(t, m.Link), nil, "apikey", "")
	require.Equal(t, 303, r.Status)
	loc, err := url.Parse(r.Header.Get("Location"))
	require.NoError(t, err)
	code := loc.Query().Get("code")
	require.NotEmpty(t, code, "PKCE: the code goes to the app: %s", loc)
	assert.Equal(t, "1", loc.Query().Get("x"))
	assert.Empty(t, loc.Fragment)

	e.run(t, []scenario{
		{name: "bad verifier", method: "POST", path: "/token?grant_type=pkce",
			body: map[string]any{"auth_code": code, "code_verifier": strings.Repeat("w", 50)}, wantStatus: 400, wantCode: "bad_code_verifier"},
		{name: "spent code", method: "POST", path: "/token?grant_type=pkce",
			body: map[string]any{"auth_code": code, "code_verifier": verifier}, wantStatus: 404, wantCode: "flow_state_not_found"},
		{name: "bad challenge method", method: "POST", path: "/recover",
			body:       map[string]any{"email": "pkce@example.com", "code_challenge": challenge, "code_challenge_method": "md5"},
			wantStatus: 400, wantCode: "validation_failed"},
	})

	// Again, with the right verifier.
	e.clock.advance(time.Minute + time.Second)
	require.Equal(t, 200, e.req("POST", "/otp", map[string]any{"email": "pkce@example.com", "code_challenge": challenge, "code_challenge_method": "s256"}).Status)
	m = e.mail.last(t, "pkce@example.com", mailMagicLink)
	r = e.req("GET", "/verify?"+linkQuery(t, m.Link), nil, "apikey", "")
	loc, _ = url.Parse(r.Header.Get("Location"))
	code = loc.Query().Get("code")
	r = e.req("POST", "/token?grant_type=pkce", map[string]any{"auth_code": code, "code_verifier": verifier})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	s := r.JSON(t)
	assert.Equal(t, "magiclink", claims(t, s["access_token"].(string))["amr"].([]any)[0].(map[string]any)["method"])

	// An auth code older than five minutes is refused.
	e.clock.advance(time.Minute + time.Second)
	require.Equal(t, 200, e.req("POST", "/otp", map[string]any{"email": "pkce@example.com", "code_challenge": challenge, "code_challenge_method": "s256"}).Status)
	m = e.mail.last(t, "pkce@example.com", mailMagicLink)
	r = e.req("GET", "/verify?"+linkQuery(t, m.Link), nil, "apikey", "")
	loc, _ = url.Parse(r.Header.Get("Location"))
	e.clock.advance(6 * time.Minute)
	r = e.req("POST", "/token?grant_type=pkce", map[string]any{"auth_code": loc.Query().Get("code"), "code_verifier": verifier})
	assert.Equal(t, 422, r.Status)
	assert.Equal(t, "flow_state_expired", r.JSON(t)["code"])
}

func TestReauthenticateErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	r := e.req("POST", "/signup", map[string]any{})
	anon := r.JSON(t)["access_token"].(string)
	e.run(t, []scenario{
		{name: "anonymous user", method: "GET", path: "/reauthenticate", headers: bearer(anon), wantStatus: 422, wantCode: "validation_failed"},
		{name: "no token", method: "GET", path: "/reauthenticate", wantStatus: 403, wantCode: "bad_jwt"},
	})
}

func TestResendEmailChangeAndReinvite(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, nil)
	svc := bearer(e.service)
	r := e.req("POST", "/admin/users", map[string]any{"email": "rs@example.com", "password": "secret-123", "email_confirm": true}, svc...)
	require.Equal(t, 200, r.Status)
	tok := e.signIn("rs@example.com", "secret-123")["access_token"].(string)
	require.Equal(t, 200, e.req("PUT", "/user", map[string]any{"email": "rs2@example.com"}, bearer(tok)...).Status)
	first := e.mail.last(t, "rs2@example.com", mailEmailChangeNew)
	e.clock.advance(61 * time.Second)
	r = e.req("POST", "/resend", map[string]any{"type": "email_change", "email": "rs@example.com"})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	second := e.mail.last(t, "rs2@example.com", mailEmailChangeNew)
	assert.NotEqual(t, first.OTP, second.OTP)
	r = e.req("POST", "/verify", map[string]any{"type": "email_change", "email": "rs2@example.com", "token": first.OTP})
	assert.Equal(t, 403, r.Status, "a resent code replaces the old one")

	// An invite not yet accepted can be sent again. (A fresh API: the clock
	// above moved, and tokens must verify against the real one.)
	e = newEnv(t, false, nil)
	svc = bearer(e.service)
	require.Equal(t, 200, e.req("POST", "/invite", map[string]any{"email": "ri@example.com"}, svc...).Status)
	require.Equal(t, 200, e.req("POST", "/invite", map[string]any{"email": "ri@example.com"}, svc...).Status)
	m := e.mail.last(t, "ri@example.com", mailInvite)
	r = e.req("POST", "/verify", map[string]any{"type": "invite", "token_hash": m.TokenHash})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	invTok := r.JSON(t)["access_token"].(string)
	// The invited user has no password until they choose one.
	r = e.req("POST", "/token?grant_type=password", map[string]any{"email": "ri@example.com", "password": "chosen-pw"})
	assert.Equal(t, "invalid_credentials", r.JSON(t)["code"])
	r = e.req("PUT", "/user", map[string]any{"password": "chosen-pw"}, bearer(invTok)...)
	require.Equal(t, 200, r.Status, "%s", r.Body)
	e.signIn("ri@example.com", "chosen-pw")
}
