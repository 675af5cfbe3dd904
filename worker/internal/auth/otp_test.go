package auth

import (
	"crypto/sha256"
	"encoding/base64"
	"github.com/madbase/madbase/shared/apitest"
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
	e.signUp(t, "rec@example.com", "secret-123")

	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "unknown address looks the same", Method: "POST", URL: "/recover", Body: map[string]any{"email": "nobody@example.com"},
			WantStatus: 200, WantContains: []string{"{}"}},
		{Name: "no address", Method: "POST", URL: "/recover",
			Body: map[string]any{}, WantStatus: 400, WantFields: errCode("validation_failed"), WantHeaders: errHeader("validation_failed")},
		{Name: "bad address", Method: "POST", URL: "/recover",
			Body: map[string]any{"email": "x"}, WantStatus: 400, WantFields: errCode("validation_failed"), WantHeaders: errHeader("validation_failed")},
		{Name: "known address", Method: "POST", URL: "/recover?redirect_to=http://evil.test/steal",
			Body: map[string]any{"email": "rec@example.com"}, WantStatus: 200},
		{Name: "again too soon", Method: "POST", URL: "/recover", Body: map[string]any{"email": "rec@example.com"},
			WantStatus: 429, WantFields: errCode("over_email_send_rate_limit"), WantHeaders: errHeader("over_email_send_rate_limit"), WantContains: []string{"only request this after"}},
	})
	assert.Equal(t, 1, e.mail.count(), "no mail for unknown addresses")
	m := e.mail.last(t, "rec@example.com", mailRecovery)
	assert.Equal(t, "http://app.test:3000", m.RedirectTo, "a redirect outside SITE_URL and the allow-list falls back to SITE_URL")

	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "wrong code", Method: "POST", URL: "/verify", Body: map[string]any{"type": "recovery", "email": "rec@example.com", "token": "000000"},
			WantStatus: 403, WantFields: errCode("otp_expired"), WantHeaders: errHeader("otp_expired")},
		{Name: "code of another type", Method: "POST", URL: "/verify", Body: map[string]any{"type": "signup", "email": "rec@example.com", "token": m.OTP},
			WantStatus: 403, WantFields: errCode("otp_expired"), WantHeaders: errHeader("otp_expired")},
		{Name: "no type", Method: "POST", URL: "/verify", Body: map[string]any{"email": "rec@example.com", "token": m.OTP},
			WantStatus: 400, WantFields: errCode("validation_failed"), WantHeaders: errHeader("validation_failed")},
		{Name: "unknown type", Method: "POST", URL: "/verify", Body: map[string]any{"type": "nope", "email": "rec@example.com", "token": m.OTP},
			WantStatus: 400, WantFields: errCode("validation_failed"), WantHeaders: errHeader("validation_failed")},
		{Name: "no token", Method: "POST", URL: "/verify", Body: map[string]any{"type": "recovery", "email": "rec@example.com"},
			WantStatus: 400, WantFields: errCode("validation_failed"), WantHeaders: errHeader("validation_failed")},
		{Name: "token without an address", Method: "POST", URL: "/verify", Body: map[string]any{"type": "recovery", "token": m.OTP},
			WantStatus: 400, WantFields: errCode("validation_failed"), WantHeaders: errHeader("validation_failed")},
		{Name: "sms without a provider", Method: "POST", URL: "/verify", Body: map[string]any{"type": "sms", "phone": "15551234567", "token": "123456"},
			WantStatus: 403, WantFields: errCode("otp_expired"), WantHeaders: errHeader("otp_expired")},
		{Name: "right code", Method: "POST", URL: "/verify", Body: map[string]any{"type": "recovery", "email": "REC@example.com", "token": m.OTP},
			WantStatus: 200, WantContains: []string{`"access_token"`}},
		{Name: "code is single-use", Method: "POST", URL: "/verify", Body: map[string]any{"type": "recovery", "email": "rec@example.com", "token": m.OTP},
			WantStatus: 403, WantFields: errCode("otp_expired"), WantHeaders: errHeader("otp_expired")},
	})

	// An expired code.
	e.clock.advance(2 * time.Minute)
	require.Equal(t, 200, e.api.Do(t, apitest.Request{Method: "POST", URL: "/recover", Body: map[string]any{"email": "rec@example.com"}}).Status)
	m = e.mail.last(t, "rec@example.com", mailRecovery)
	e.clock.advance(61 * time.Minute)
	r := e.api.Do(t, apitest.Request{Method: "POST", URL: "/verify", Body: map[string]any{"type": "recovery", "token_hash": m.TokenHash}})
	assert.Equal(t, 403, r.Status)
	assert.Equal(t, "otp_expired", r.Map(t)["code"])
}

func TestVerifyLinkRedirects(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, map[string]string{"AUTH_URI_ALLOW_LIST": "myapp://**,https://*.preview.test/**"})
	e.signUp(t, "link@example.com", "secret-123")
	require.Equal(t, 200, e.api.Do(t, apitest.Request{Method: "POST", URL: "/otp?redirect_to=https://pr-1.preview.test/cb",
		Body: map[string]any{"email": "link@example.com"}}).Status)
	m := e.mail.last(t, "link@example.com", mailMagicLink)
	assert.Contains(t, m.Link, "type=magiclink")

	// The link works without an apikey (a browser navigation).
	r := e.api.Do(t, apitest.Request{URL: "/verify?" + linkQuery(t, m.Link), Headers: map[string]string{"apikey": "", "Authorization": ""}})
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
	r = e.api.Do(t, apitest.Request{URL: "/verify?" + linkQuery(t, m.Link), Headers: map[string]string{"apikey": ""}})
	require.Equal(t, 303, r.Status)
	loc, _ = url.Parse(r.Header.Get("Location"))
	f, _ = url.ParseQuery(loc.Fragment)
	assert.Equal(t, "access_denied", f.Get("error"))
	assert.Equal(t, "otp_expired", f.Get("error_code"))
	assert.NotEmpty(t, f.Get("error_description"))
	assert.Empty(t, loc.RawQuery)

	// Where a failing link sends the browser: the allow-list, else SITE_URL.
	var redirects []apitest.Scenario
	for _, tc := range []struct{ redirect, wantHost string }{
		{"myapp://callback", "callback"},
		{"https://evil.test/x", "app.test:3000"},
		{"https://a.b.preview.test/x", "app.test:3000"},
		{"http://app.test:3000/deep/link", "app.test:3000"},
		{"javascript:alert(1)", "app.test:3000"},
		{"https://user:pw@app.test:3000/", "app.test:3000"},
	} {
		redirects = append(redirects, apitest.Scenario{Name: tc.redirect,
			URL: "/verify?type=magiclink&token=nope&redirect_to=" + url.QueryEscape(tc.redirect), WantStatus: 303,
			After: func(t *testing.T, _ *apitest.Env, r *apitest.Response) {
				loc, _ := url.Parse(r.Header.Get("Location"))
				assert.Equal(t, tc.wantHost, loc.Host, tc.redirect)
			}})
	}
	apitest.Run(t, e.api, redirects)
}

func TestOTPFlows(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, nil) // confirmations on
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "no signups for otp", Method: "POST", URL: "/otp", Body: map[string]any{"email": "none@example.com", "create_user": false},
			WantStatus: 422, WantFields: errCode("otp_disabled"), WantHeaders: errHeader("otp_disabled")},
		{Name: "phone without SMS", Method: "POST", URL: "/otp", Body: map[string]any{"phone": "15551234567"},
			WantStatus: 422, WantFields: errCode("phone_provider_disabled"), WantHeaders: errHeader("phone_provider_disabled")},
		{Name: "no address", Method: "POST", URL: "/otp",
			Body: map[string]any{}, WantStatus: 400, WantFields: errCode("validation_failed"), WantHeaders: errHeader("validation_failed")},
		{Name: "new address signs up", Method: "POST", URL: "/otp", Body: map[string]any{"email": "new@example.com", "data": map[string]any{"k": "v"}},
			WantStatus: 200},
	})
	// Unconfirmed: the sign-up confirmation carries the code.
	m := e.mail.last(t, "new@example.com", mailSignup)
	r := e.api.Do(t, apitest.Request{Method: "POST", URL: "/verify", Body: map[string]any{"type": "email", "email": "new@example.com", "token": m.OTP}})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	u := r.Map(t)["user"].(map[string]any)
	assert.NotEmpty(t, u["email_confirmed_at"])
	assert.Equal(t, "v", u["user_metadata"].(map[string]any)["k"])

	// Confirmed: a magic link; type "email" takes it too.
	require.Equal(t, 200, e.api.Do(t, apitest.Request{Method: "POST", URL: "/otp", Body: map[string]any{"email": "new@example.com"}}).Status)
	m = e.mail.last(t, "new@example.com", mailMagicLink)
	r = e.api.Do(t, apitest.Request{Method: "POST", URL: "/verify", Body: map[string]any{"type": "email", "email": "new@example.com", "token": m.OTP}})
	require.Equal(t, 200, r.Status, "%s", r.Body)

	// resend
	require.Equal(t, 200, e.api.Do(t, apitest.Request{Method: "POST", URL: "/signup",
		Body: map[string]any{"email": "pending@example.com", "password": "secret-123"}}).Status)
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "resend too soon", Method: "POST", URL: "/resend", Body: map[string]any{"type": "signup", "email": "pending@example.com"},
			WantStatus: 429, WantFields: errCode("over_email_send_rate_limit"), WantHeaders: errHeader("over_email_send_rate_limit")},
		{Name: "resend bad type", Method: "POST", URL: "/resend", Body: map[string]any{"type": "recovery", "email": "pending@example.com"},
			WantStatus: 400, WantFields: errCode("validation_failed"), WantHeaders: errHeader("validation_failed")},
		{Name: "resend unknown", Method: "POST", URL: "/resend", Body: map[string]any{"type": "signup", "email": "ghost@example.com"},
			WantStatus: 200},
	})
	before := e.mail.count()
	e.clock.advance(time.Minute + time.Second)
	require.Equal(t, 200, e.api.Do(t, apitest.Request{Method: "POST", URL: "/resend",
		Body: map[string]any{"type": "signup", "email": "pending@example.com"}}).Status)
	assert.Equal(t, before+1, e.mail.count())
	m = e.mail.last(t, "pending@example.com", mailSignup)
	r = e.api.Do(t, apitest.Request{Method: "POST", URL: "/verify", Body: map[string]any{"type": "signup", "token_hash": m.TokenHash}})
	require.Equal(t, 200, r.Status, "%s", r.Body)
}

func TestPKCEFlow(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	e.signUp(t, "pkce@example.com", "secret-123")
	verifier := strings.Repeat("v", 50)
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	r := e.api.Do(t, apitest.Request{Method: "POST", URL: "/recover?redirect_to=http://app.test:3000/cb?x=1", Body: map[string]any{
		"email": "pkce@example.com", "code_challenge": challenge, "code_challenge_method": "s256"}})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	m := e.mail.last(t, "pkce@example.com", mailRecovery)
	assert.Contains(t, m.Link, "token=pkce_")

	r = e.api.Do(t, apitest.Request{URL: "/verify?" + linkQuery(t, m.Link), Headers: map[string]string{"apikey": ""}})
	require.Equal(t, 303, r.Status)
	loc, err := url.Parse(r.Header.Get("Location"))
	require.NoError(t, err)
	code := loc.Query().Get("code")
	require.NotEmpty(t, code, "PKCE: the code goes to the app: %s", loc)
	assert.Equal(t, "1", loc.Query().Get("x"))
	assert.Empty(t, loc.Fragment)

	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "bad verifier", Method: "POST", URL: "/token?grant_type=pkce",
			Body:       map[string]any{"auth_code": code, "code_verifier": strings.Repeat("w", 50)},
			WantStatus: 400, WantFields: errCode("bad_code_verifier"), WantHeaders: errHeader("bad_code_verifier")},
		{Name: "spent code", Method: "POST", URL: "/token?grant_type=pkce",
			Body:       map[string]any{"auth_code": code, "code_verifier": verifier},
			WantStatus: 404, WantFields: errCode("flow_state_not_found"), WantHeaders: errHeader("flow_state_not_found")},
		{Name: "bad challenge method", Method: "POST", URL: "/recover",
			Body:       map[string]any{"email": "pkce@example.com", "code_challenge": challenge, "code_challenge_method": "md5"},
			WantStatus: 400, WantFields: errCode("validation_failed"), WantHeaders: errHeader("validation_failed")},
	})

	// Again, with the right verifier.
	e.clock.advance(time.Minute + time.Second)
	require.Equal(t, 200, e.api.Do(t, apitest.Request{Method: "POST", URL: "/otp",
		Body: map[string]any{"email": "pkce@example.com", "code_challenge": challenge, "code_challenge_method": "s256"}}).Status)
	m = e.mail.last(t, "pkce@example.com", mailMagicLink)
	r = e.api.Do(t, apitest.Request{URL: "/verify?" + linkQuery(t, m.Link), Headers: map[string]string{"apikey": ""}})
	loc, _ = url.Parse(r.Header.Get("Location"))
	code = loc.Query().Get("code")
	r = e.api.Do(t, apitest.Request{Method: "POST", URL: "/token?grant_type=pkce", Body: map[string]any{"auth_code": code, "code_verifier": verifier}})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	s := r.Map(t)
	assert.Equal(t, "magiclink", claims(t, s["access_token"].(string))["amr"].([]any)[0].(map[string]any)["method"])

	// An auth code older than five minutes is refused.
	e.clock.advance(time.Minute + time.Second)
	require.Equal(t, 200, e.api.Do(t, apitest.Request{Method: "POST", URL: "/otp",
		Body: map[string]any{"email": "pkce@example.com", "code_challenge": challenge, "code_challenge_method": "s256"}}).Status)
	m = e.mail.last(t, "pkce@example.com", mailMagicLink)
	r = e.api.Do(t, apitest.Request{URL: "/verify?" + linkQuery(t, m.Link), Headers: map[string]string{"apikey": ""}})
	loc, _ = url.Parse(r.Header.Get("Location"))
	e.clock.advance(6 * time.Minute)
	r = e.api.Do(t, apitest.Request{Method: "POST", URL: "/token?grant_type=pkce",
		Body: map[string]any{"auth_code": loc.Query().Get("code"), "code_verifier": verifier}})
	assert.Equal(t, 422, r.Status)
	assert.Equal(t, "flow_state_expired", r.Map(t)["code"])
}

func TestReauthenticateErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	r := e.api.Do(t, apitest.Request{Method: "POST", URL: "/signup", Body: map[string]any{}})
	anon := r.Map(t)["access_token"].(string)
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "anonymous user", URL: "/reauthenticate", Headers: bearer(anon),
			WantStatus: 422, WantFields: errCode("validation_failed"), WantHeaders: errHeader("validation_failed")},
		{Name: "no token", URL: "/reauthenticate", WantStatus: 403, WantFields: errCode("bad_jwt"), WantHeaders: errHeader("bad_jwt")},
	})
}

func TestResendEmailChangeAndReinvite(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, nil)
	svc := bearer(e.api.Service)
	r := e.api.Do(t, apitest.Request{Method: "POST", URL: "/admin/users", Headers: svc,
		Body: map[string]any{"email": "rs@example.com", "password": "secret-123", "email_confirm": true}})
	require.Equal(t, 200, r.Status)
	tok := e.signIn(t, "rs@example.com", "secret-123")["access_token"].(string)
	require.Equal(t, 200, e.api.Do(t, apitest.Request{Method: "PUT", URL: "/user", Headers: bearer(tok),
		Body: map[string]any{"email": "rs2@example.com"}}).Status)
	first := e.mail.last(t, "rs2@example.com", mailEmailChangeNew)
	e.clock.advance(61 * time.Second)
	r = e.api.Do(t, apitest.Request{Method: "POST", URL: "/resend", Body: map[string]any{"type": "email_change", "email": "rs@example.com"}})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	second := e.mail.last(t, "rs2@example.com", mailEmailChangeNew)
	assert.NotEqual(t, first.OTP, second.OTP)
	r = e.api.Do(t, apitest.Request{Method: "POST", URL: "/verify",
		Body: map[string]any{"type": "email_change", "email": "rs2@example.com", "token": first.OTP}})
	assert.Equal(t, 403, r.Status, "a resent code replaces the old one")

	// An invite not yet accepted can be sent again. (A fresh API: the clock
	// above moved, and tokens must verify against the real one.)
	e = newEnv(t, false, nil)
	svc = bearer(e.api.Service)
	require.Equal(t, 200, e.api.Do(t, apitest.Request{Method: "POST", URL: "/invite", Headers: svc,
		Body: map[string]any{"email": "ri@example.com"}}).Status)
	require.Equal(t, 200, e.api.Do(t, apitest.Request{Method: "POST", URL: "/invite", Headers: svc,
		Body: map[string]any{"email": "ri@example.com"}}).Status)
	m := e.mail.last(t, "ri@example.com", mailInvite)
	r = e.api.Do(t, apitest.Request{Method: "POST", URL: "/verify", Body: map[string]any{"type": "invite", "token_hash": m.TokenHash}})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	invTok := r.Map(t)["access_token"].(string)
	// The invited user has no password until they choose one.
	r = e.api.Do(t, apitest.Request{Method: "POST", URL: "/token?grant_type=password",
		Body: map[string]any{"email": "ri@example.com", "password": "chosen-pw"}})
	assert.Equal(t, "invalid_credentials", r.Map(t)["code"])
	r = e.api.Do(t, apitest.Request{Method: "PUT", URL: "/user", Body: map[string]any{"password": "chosen-pw"}, Headers: bearer(invTok)})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	e.signIn(t, "ri@example.com", "chosen-pw")
}

// TestVerifyMalformedPhone: verifyOtp with a number that is not E.164 is
// told so, before anything about its token.
func TestVerifyMalformedPhone(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "malformed", Method: "POST", URL: "/verify", Body: map[string]any{"type": "sms", "phone": "12ab", "token": "123456"},
			WantStatus: 400, WantFields: map[string]any{"code": "validation_failed", "message": "Invalid phone number format (E.164 required)"}},
		{Name: "well formed", Method: "POST", URL: "/verify", Body: map[string]any{"type": "sms", "phone": "+15550001111", "token": "123456"},
			WantStatus: 403, WantFields: errCode("otp_expired")},
	})
}
