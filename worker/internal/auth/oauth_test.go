package auth

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/madbase/madbase/shared/apitest"
	"github.com/madbase/madbase/worker/internal/auth/oauthfake"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// oauthKinds are the providers MadBase speaks, each tested against its fake.
var oauthKinds = []string{oauthfake.GitHub, oauthfake.GitLab, oauthfake.Discord, oauthfake.Google, oauthfake.Apple, oauthfake.OIDC}

// newOAuthEnv is an auth API (madbase dev's defaults, autoconfirm as
// given) with a fake provider of each kind enabled.
func newOAuthEnv(t *testing.T, vars map[string]string, kinds ...string) (*env, map[string]*oauthfake.Provider) {
	t.Helper()
	all := map[string]string{"AUTH_URI_ALLOW_LIST": "myapp://callback"}
	fakes := map[string]*oauthfake.Provider{}
	for _, k := range kinds {
		p := oauthfake.New(t, k)
		fakes[k] = p
		for name, v := range p.Env() {
			all[name] = v
		}
	}
	for k, v := range vars {
		all[k] = v
	}
	return newEnv(t, true, all), fakes
}

// browser is a request made by a browser: no apikey, no bearer.
var browser = map[string]string{"apikey": "", "Authorization": ""}

// throughProvider takes the answer of /authorize (or a linking URL) to the
// fake's page and back to the callback, as a browser does, and returns the
// callback's answer.
func (e *env) throughProvider(t *testing.T, p *oauthfake.Provider, to string) *apitest.Response {
	t.Helper()
	cb, err := p.Visit(to)
	require.NoError(t, err)
	require.Equal(t, "/auth/v1/callback", cb.URL.Path, "%s", cb.URL)
	path := strings.TrimPrefix(cb.URL.RequestURI(), "/auth/v1")
	if cb.Method == http.MethodPost {
		h := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
		for k, v := range browser {
			h[k] = v
		}
		return e.api.Do(t, apitest.Request{Method: "POST", URL: path, Headers: h, Body: cb.Form.Encode()})
	}
	return e.api.Do(t, apitest.Request{URL: path, Headers: browser})
}

// startOAuth is GET /authorize with query, which must redirect to p.
func (e *env) startOAuth(t *testing.T, p *oauthfake.Provider, query string) string {
	t.Helper()
	r := e.api.Do(t, apitest.Request{URL: "/authorize?" + query, Headers: browser})
	require.Equal(t, http.StatusFound, r.Status, "%s", r.Body)
	to := r.Header.Get("Location")
	require.True(t, strings.HasPrefix(to, p.URL+"/"), "redirects to the provider: %s", to)
	return to
}

// landing splits where the callback sent the browser.
func landing(t *testing.T, r *apitest.Response) (u *url.URL, fragment url.Values) {
	t.Helper()
	require.Equal(t, http.StatusFound, r.Status, "%s", r.Body)
	u, err := url.Parse(r.Header.Get("Location"))
	require.NoError(t, err)
	fragment, err = url.ParseQuery(u.Fragment)
	require.NoError(t, err)
	return u, fragment
}

func (e *env) userOf(t *testing.T, token string) map[string]any {
	t.Helper()
	r := e.api.Do(t, apitest.Request{URL: "/user", Headers: bearer(token)})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	return r.Map(t)
}

func identitiesOf(u map[string]any) []map[string]any {
	var out []map[string]any
	for _, i := range u["identities"].([]any) {
		out = append(out, i.(map[string]any))
	}
	return out
}

func TestOAuthSignInEachProvider(t *testing.T) {
	t.Parallel()
	e, fakes := newOAuthEnv(t, nil, oauthKinds...)
	for i, kind := range oauthKinds {
		t.Run(kind, func(t *testing.T) {
			p := fakes[kind]
			email := fmt.Sprintf("user-%s@example.com", kind)
			p.SetUser(oauthfake.User{ID: fmt.Sprint(1000 + i), Login: "login-" + kind, Name: "Ada Lovelace", Email: email, EmailVerified: true})
			to := e.startOAuth(t, p, "provider="+kind+"&redirect_to="+url.QueryEscape("http://app.test:3000/welcome")+
				"&scopes="+url.QueryEscape("extra.scope")+"&prompt=consent")
			a := mustQuery(t, to)
			assert.Equal(t, p.ClientID, a.Get("client_id"))
			assert.Equal(t, "http://api.test:8000/auth/v1/callback", a.Get("redirect_uri"))
			assert.NotEmpty(t, a.Get("state"))
			assert.Contains(t, a.Get("scope"), "extra.scope")
			assert.Equal(t, "consent", a.Get("prompt"), "other parameters go on to the provider")
			pkce := kind == oauthfake.GitLab || kind == oauthfake.Google || kind == oauthfake.OIDC
			assert.Equal(t, pkce, a.Get("code_challenge") != "", "PKCE toward the provider")
			oidc := kind == oauthfake.Google || kind == oauthfake.Apple || kind == oauthfake.OIDC
			assert.Equal(t, oidc, a.Get("nonce") != "", "nonce")
			if kind == oauthfake.Apple {
				assert.Equal(t, "form_post", a.Get("response_mode"))
			}

			u, frag := landing(t, e.throughProvider(t, p, to))
			assert.Equal(t, "http://app.test:3000/welcome", u.Scheme+"://"+u.Host+u.Path)
			require.NotEmpty(t, frag.Get("access_token"), "%s", u)
			assert.NotEmpty(t, frag.Get("refresh_token"))
			assert.Equal(t, "bearer", frag.Get("token_type"))
			assert.Equal(t, "3600", frag.Get("expires_in"))
			assert.NotEmpty(t, frag.Get("provider_token"))
			if pkce {
				assert.NotEmpty(t, p.LastExchange().Get("code_verifier"), "the verifier goes with the exchange")
			}
			c := claims(t, frag.Get("access_token"))
			assert.Equal(t, "oauth", c["amr"].([]any)[0].(map[string]any)["method"])

			user := e.userOf(t, frag.Get("access_token"))
			assert.Equal(t, email, user["email"])
			assert.NotEmpty(t, user["email_confirmed_at"], "a verified address is confirmed")
			assert.Equal(t, kind, user["app_metadata"].(map[string]any)["provider"])
			ids := identitiesOf(user)
			require.Len(t, ids, 1)
			assert.Equal(t, kind, ids[0]["provider"])
			assert.Equal(t, fmt.Sprint(1000+i), ids[0]["id"])
			assert.Equal(t, email, ids[0]["identity_data"].(map[string]any)["email"])
			assert.Equal(t, true, ids[0]["identity_data"].(map[string]any)["email_verified"])
			assert.Equal(t, "Ada Lovelace", user["user_metadata"].(map[string]any)["full_name"])

			// Signing in again finds the same user.
			_, again := landing(t, e.throughProvider(t, p, e.startOAuth(t, p, "provider="+kind)))
			assert.Equal(t, user["id"], e.userOf(t, again.Get("access_token"))["id"])
		})
	}
	r := e.api.Do(t, apitest.Request{URL: "/settings"})
	ext := r.Map(t)["external"].(map[string]any)
	for _, k := range oauthKinds {
		assert.Equal(t, true, ext[k], k)
	}
	assert.Equal(t, false, ext["azure"])
}

func TestOAuthPKCEFlow(t *testing.T) {
	t.Parallel()
	e, fakes := newOAuthEnv(t, nil, oauthfake.GitHub)
	p := fakes[oauthfake.GitHub]
	verifier := strings.Repeat("v", 50)
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	to := e.startOAuth(t, p, "provider=github&redirect_to="+url.QueryEscape("http://app.test:3000/cb?x=1")+
		"&code_challenge="+challenge+"&code_challenge_method=s256")
	u, frag := landing(t, e.throughProvider(t, p, to))
	assert.Empty(t, frag.Get("access_token"), "no session in the URL of a PKCE flow")
	code := u.Query().Get("code")
	require.NotEmpty(t, code, "%s", u)
	assert.Equal(t, "1", u.Query().Get("x"), "redirect_to keeps its query")

	bad := e.api.Do(t, apitest.Request{Method: "POST", URL: "/token?grant_type=pkce",
		Body: map[string]any{"auth_code": code, "code_verifier": strings.Repeat("w", 50)}})
	assert.Equal(t, 400, bad.Status, "%s", bad.Body)
	assert.Equal(t, "bad_code_verifier", bad.Map(t)["code"])

	// A new flow, exchanged with the right verifier.
	to = e.startOAuth(t, p, "provider=github&code_challenge="+challenge+"&code_challenge_method=s256")
	u, _ = landing(t, e.throughProvider(t, p, to))
	code = u.Query().Get("code")
	r := e.api.Do(t, apitest.Request{Method: "POST", URL: "/token?grant_type=pkce",
		Body: map[string]any{"auth_code": code, "code_verifier": verifier}})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	s := r.Map(t)
	assert.NotEmpty(t, s["access_token"])
	assert.NotEmpty(t, s["provider_token"], "the provider's token comes with the session")
	assert.Equal(t, "github", s["user"].(map[string]any)["app_metadata"].(map[string]any)["provider"])
	again := e.api.Do(t, apitest.Request{Method: "POST", URL: "/token?grant_type=pkce",
		Body: map[string]any{"auth_code": code, "code_verifier": verifier}})
	assert.Equal(t, 404, again.Status)
	assert.Equal(t, "flow_state_not_found", again.Map(t)["code"])
}

func TestOAuthLinksByVerifiedEmail(t *testing.T) {
	t.Parallel()
	e, fakes := newOAuthEnv(t, map[string]string{"AUTH_AUTOCONFIRM": "true"}, oauthfake.GitHub, oauthfake.Google)
	sess := e.signUp(t, "ada@example.com", "secret-123")
	uid := sess["user"].(map[string]any)["id"]

	// A verified address at the provider: the identity joins the user.
	gh := fakes[oauthfake.GitHub]
	gh.SetUser(oauthfake.User{ID: "77", Login: "ada", Name: "Ada", Email: "Ada@Example.com", EmailVerified: true})
	_, frag := landing(t, e.throughProvider(t, gh, e.startOAuth(t, gh, "provider=github")))
	user := e.userOf(t, frag.Get("access_token"))
	assert.Equal(t, uid, user["id"])
	assert.Len(t, identitiesOf(user), 2)
	assert.ElementsMatch(t, []any{"email", "github"}, user["app_metadata"].(map[string]any)["providers"])

	// An address the provider did not verify is never linked: it is someone
	// else's claim, and the address is taken.
	gg := fakes[oauthfake.Google]
	gg.SetUser(oauthfake.User{ID: "g-1", Email: "ada@example.com", EmailVerified: false})
	u, q := landing(t, e.throughProvider(t, gg, e.startOAuth(t, gg, "provider=google")))
	assert.Equal(t, "email_exists", u.Query().Get("error_code"), "%s", u)
	assert.Equal(t, "email_exists", q.Get("error_code"))
	var n int
	require.NoError(t, e.pool.QueryRow(t.Context(), `select count(*) from auth.identities where provider = 'google'`).Scan(&n))
	assert.Equal(t, 0, n)
}

func TestOAuthUnverifiedEmailNeedsConfirmation(t *testing.T) {
	t.Parallel()
	e, fakes := newOAuthEnv(t, map[string]string{"AUTH_AUTOCONFIRM": "false"}, oauthfake.Discord)
	p := fakes[oauthfake.Discord]
	p.SetUser(oauthfake.User{ID: "d-9", Login: "grace", Email: "grace@example.com", EmailVerified: false})
	u, frag := landing(t, e.throughProvider(t, p, e.startOAuth(t, p, "provider=discord&redirect_to="+url.QueryEscape("http://app.test:3000/x"))))
	assert.Equal(t, "access_denied", u.Query().Get("error"))
	assert.Equal(t, "provider_email_needs_verification", u.Query().Get("error_code"))
	assert.Equal(t, "Unverified email with discord. A confirmation email has been sent to your discord email", frag.Get("error_description"))
	mail := e.mail.last(t, "grace@example.com", mailSignup)
	assert.Contains(t, mail.Link, "type=signup")
	var confirmed *time.Time
	require.NoError(t, e.pool.QueryRow(t.Context(), `select email_confirmed_at from auth.users where email = 'grace@example.com'`).Scan(&confirmed))
	assert.Nil(t, confirmed, "the user waits for the confirmation")
}

func TestOAuthErrors(t *testing.T) {
	t.Parallel()
	e, fakes := newOAuthEnv(t, map[string]string{"AUTH_EXTERNAL_GITLAB_CLIENT_ID": "x", "AUTH_EXTERNAL_GITLAB_SECRET": "y"}, oauthfake.GitHub)
	p := fakes[oauthfake.GitHub]
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "unknown provider", URL: "/authorize?provider=myspace", Headers: browser, WantStatus: 400,
			WantFields: map[string]any{"code": "validation_failed", "message": "Unsupported provider: Provider myspace could not be found"}},
		{Name: "disabled provider", URL: "/authorize?provider=gitlab", Headers: browser, WantStatus: 400,
			WantFields: map[string]any{"code": "validation_failed", "message": "Unsupported provider: provider is not enabled"}},
		{Name: "bad PKCE method", URL: "/authorize?provider=github&code_challenge=" + strings.Repeat("a", 43) + "&code_challenge_method=md5",
			Headers: browser, WantStatus: 400, WantFields: errCode("validation_failed")},
		{Name: "callback without state", URL: "/callback?code=abc", Headers: browser, WantStatus: 303,
			WantHeaders: map[string]string{"Location": "http://app.test:3000?error=invalid_request&error_code=bad_oauth_callback&error_description=OAuth+state+parameter+missing"}},
		{Name: "callback with a forged state", URL: "/callback?code=abc&state=eyJhbGciOiJIUzI1NiJ9.e30.x", Headers: browser, WantStatus: 303,
			WantHeaders: map[string]string{"Location": "http://app.test:3000?error=invalid_request&error_code=bad_oauth_state&error_description=OAuth+state+parameter+is+invalid"}},
		{Name: "SAML", Method: "POST", URL: "/sso", Body: map[string]any{"domain": "example.com"}, WantStatus: 404,
			WantFields: map[string]any{"code": "saml_provider_disabled", "message": "SAML 2.0 is disabled"}},
		{Name: "Web3", Method: "POST", URL: "/token?grant_type=web3", Body: map[string]any{"chain": "ethereum"}, WantStatus: 422,
			WantFields: map[string]any{"code": "web3_provider_disabled", "message": "Web3 provider is disabled"}},
		{Name: "manual linking off", URL: "/user/identities/authorize?provider=github", Headers: bearer(e.signUp(t, "m@example.com", "secret-123")["access_token"].(string)),
			WantStatus: 404, WantFields: map[string]any{"code": "manual_linking_disabled", "message": "Manual linking is disabled"}},
		{Name: "unlink with linking off", Method: "DELETE", URL: "/user/identities/" + "00000000-0000-0000-0000-000000000001",
			Headers: bearer(e.signIn(t, "m@example.com", "secret-123")["access_token"].(string)), WantStatus: 404, WantFields: errCode("manual_linking_disabled")},
		{Name: "linking needs a session", URL: "/user/identities/authorize?provider=github", WantStatus: 403, WantFields: errCode("bad_jwt")},
	})

	t.Run("the provider refuses", func(t *testing.T) {
		p.Deny("access_denied")
		defer p.Deny("")
		u, frag := landing(t, e.throughProvider(t, p, e.startOAuth(t, p, "provider=github&redirect_to="+url.QueryEscape("http://app.test:3000/in"))))
		assert.Equal(t, "/in", u.Path)
		assert.Equal(t, "access_denied", u.Query().Get("error"))
		assert.Equal(t, "The user denied the request", u.Query().Get("error_description"))
		assert.Equal(t, "access_denied", frag.Get("error"))
		assert.Empty(t, frag.Get("access_token"))
	})
	t.Run("a redirect_to not allowed goes to SITE_URL", func(t *testing.T) {
		u, frag := landing(t, e.throughProvider(t, p, e.startOAuth(t, p, "provider=github&redirect_to="+url.QueryEscape("https://evil.test/steal"))))
		assert.Equal(t, "app.test:3000", u.Host)
		assert.NotEmpty(t, frag.Get("access_token"))
	})
	t.Run("an app scheme on the allow list is kept", func(t *testing.T) {
		u, _ := landing(t, e.throughProvider(t, p, e.startOAuth(t, p, "provider=github&redirect_to="+url.QueryEscape("myapp://callback"))))
		assert.Equal(t, "myapp", u.Scheme)
	})
	t.Run("an expired state", func(t *testing.T) {
		to := e.startOAuth(t, p, "provider=github")
		e.clock.advance(stateLifetime + time.Minute)
		defer e.clock.advance(-stateLifetime - time.Minute)
		r := e.throughProvider(t, p, to)
		assert.Equal(t, http.StatusSeeOther, r.Status)
		assert.Contains(t, r.Header.Get("Location"), "error_description=OAuth+state+has+expired")
	})
	t.Run("a state signed with another project's secret", func(t *testing.T) {
		other, _ := newOAuthEnv(t, map[string]string{"JWT_SECRET": strings.Repeat("z", 40)}, oauthfake.GitHub)
		_ = other
		to := e.startOAuth(t, p, "provider=github")
		st := mustQuery(t, to).Get("state")
		r := other.api.Do(t, apitest.Request{URL: "/callback?code=abc&state=" + url.QueryEscape(st), Headers: browser})
		assert.Equal(t, http.StatusSeeOther, r.Status)
		assert.Contains(t, r.Header.Get("Location"), "error_code=bad_oauth_state")
	})
}

func mustQuery(t *testing.T, raw string) url.Values {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err)
	return u.Query()
}

func TestOAuthSignupDisabled(t *testing.T) {
	t.Parallel()
	e, fakes := newOAuthEnv(t, map[string]string{"AUTH_DISABLE_SIGNUP": "true"}, oauthfake.GitHub)
	p := fakes[oauthfake.GitHub]
	u, _ := landing(t, e.throughProvider(t, p, e.startOAuth(t, p, "provider=github")))
	assert.Equal(t, "access_denied", u.Query().Get("error"))
	assert.Equal(t, "signup_disabled", u.Query().Get("error_code"))
}

func TestIDTokenGrant(t *testing.T) {
	t.Parallel()
	e, fakes := newOAuthEnv(t, map[string]string{"AUTH_EXTERNAL_GOOGLE_CLIENT_ID": "web-client,ios-client"},
		oauthfake.Google, oauthfake.Apple, oauthfake.OIDC)
	g, a, o := fakes[oauthfake.Google], fakes[oauthfake.Apple], fakes[oauthfake.OIDC]
	stranger := oauthfake.New(t, oauthfake.Google) // same claims, another key
	hash := func(s string) string { sum := sha256.Sum256([]byte(s)); return hex.EncodeToString(sum[:]) }
	ada := oauthfake.User{ID: "g-ada", Name: "Ada", Email: "ada@gmail.test", EmailVerified: true}
	grant := func(body map[string]any) *apitest.Response {
		return e.api.Do(t, apitest.Request{Method: "POST", URL: "/token?grant_type=id_token", Body: body})
	}
	oauthErr := func(name, desc string) map[string]any {
		return map[string]any{"error": name, "error_description": desc}
	}
	expired := g.IDToken("ios-client", "", ada, map[string]any{"exp": time.Now().Add(-time.Hour).Unix()})
	forged := stranger.IDToken("ios-client", "", ada, map[string]any{"iss": g.URL})
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "no id_token", Method: "POST", URL: "/token?grant_type=id_token", Body: map[string]any{"provider": "google"},
			WantStatus: 400, WantFields: oauthErr("invalid request", "id_token required")},
		{Name: "no provider", Method: "POST", URL: "/token?grant_type=id_token", Body: map[string]any{"id_token": "x"},
			WantStatus: 400, WantFields: oauthErr("invalid request", "provider or client_id and issuer required")},
		{Name: "unknown provider", Method: "POST", URL: "/token?grant_type=id_token", Body: map[string]any{"id_token": "x", "provider": "myspace"},
			WantStatus: 400, WantFields: errCode("validation_failed")},
		{Name: "another key", Method: "POST", URL: "/token?grant_type=id_token", Body: map[string]any{"id_token": forged, "provider": "google"},
			WantStatus: 400, WantFields: oauthErr("invalid request", "Bad ID token")},
		{Name: "expired", Method: "POST", URL: "/token?grant_type=id_token", Body: map[string]any{"id_token": expired, "provider": "google"},
			WantStatus: 400, WantFields: oauthErr("invalid request", "Bad ID token")},
		{Name: "another audience", Method: "POST", URL: "/token?grant_type=id_token",
			Body:       map[string]any{"id_token": g.IDToken("someone-else", "", ada, nil), "provider": "google"},
			WantStatus: 400, WantFields: oauthErr("invalid request", "Unacceptable audience in id_token: [someone-else]")},
		{Name: "nonce missing", Method: "POST", URL: "/token?grant_type=id_token",
			Body:       map[string]any{"id_token": g.IDToken("ios-client", hash("n1"), ada, nil), "provider": "google"},
			WantStatus: 400, WantFields: oauthErr("invalid request", "Passed nonce and nonce in id_token should either both exist or not.")},
		{Name: "nonce mismatch", Method: "POST", URL: "/token?grant_type=id_token",
			Body:       map[string]any{"id_token": g.IDToken("ios-client", hash("n1"), ada, nil), "provider": "google", "nonce": "n2"},
			WantStatus: 400, WantFields: oauthErr("invalid nonce", "Nonces mismatch")},
	})

	r := grant(map[string]any{"id_token": g.IDToken("ios-client", hash("n1"), ada, nil), "provider": "google", "nonce": "n1"})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	s := r.Map(t)
	user := s["user"].(map[string]any)
	assert.Equal(t, "ada@gmail.test", user["email"])
	assert.Equal(t, "google", user["app_metadata"].(map[string]any)["provider"])
	assert.Equal(t, "g-ada", identitiesOf(user)[0]["id"])

	// Apple sends email_verified as a string.
	r = grant(map[string]any{"id_token": a.IDToken(a.ClientID, "", oauthfake.User{ID: "apple-1", Email: "x@privaterelay.test", EmailVerified: true}, nil), "provider": "apple"})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	assert.NotEmpty(t, r.Map(t)["user"].(map[string]any)["email_confirmed_at"])

	// The generic provider, by its issuer.
	r = grant(map[string]any{"id_token": o.IDToken(o.ClientID, "", oauthfake.User{ID: "o-1", Email: "o@corp.test", EmailVerified: true}, nil),
		"issuer": o.URL, "client_id": o.ClientID})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	assert.Equal(t, "oidc", r.Map(t)["user"].(map[string]any)["app_metadata"].(map[string]any)["provider"])

	off, offFakes := newOAuthEnv(t, map[string]string{"AUTH_EXTERNAL_GOOGLE_ENABLED": "false"}, oauthfake.Google)
	r = off.api.Do(t, apitest.Request{Method: "POST", URL: "/token?grant_type=id_token",
		Body: map[string]any{"id_token": offFakes[oauthfake.Google].IDToken("x", "", ada, nil), "provider": "google"}})
	assert.Equal(t, 400, r.Status)
	assert.Equal(t, "provider_disabled", r.Map(t)["code"])
}

func TestIdentityLinking(t *testing.T) {
	t.Parallel()
	e, fakes := newOAuthEnv(t, map[string]string{"AUTH_MANUAL_LINKING_ENABLED": "true", "AUTH_AUTOCONFIRM": "true"}, oauthfake.GitHub, oauthfake.Google)
	gh := fakes[oauthfake.GitHub]
	gh.SetUser(oauthfake.User{ID: "501", Login: "linus", Email: "linus@elsewhere.test", EmailVerified: true})
	sess := e.signUp(t, "me@example.com", "secret-123")
	tok := sess["access_token"].(string)

	r := e.api.Do(t, apitest.Request{URL: "/user/identities/authorize?provider=github&skip_http_redirect=true&redirect_to=" +
		url.QueryEscape("http://app.test:3000/linked"), Headers: bearer(tok)})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	to := r.Map(t)["url"].(string)
	u, frag := landing(t, e.throughProvider(t, gh, to))
	assert.Equal(t, "/linked", u.Path)
	require.NotEmpty(t, frag.Get("access_token"), "%s", u)
	user := e.userOf(t, tok)
	assert.Equal(t, "me@example.com", user["email"], "the user keeps its address")
	ids := identitiesOf(user)
	require.Len(t, ids, 2)
	assert.Equal(t, sess["user"].(map[string]any)["id"], e.userOf(t, frag.Get("access_token"))["id"])

	// The same GitHub account cannot join another user.
	other := e.signUp(t, "other@example.com", "secret-123")["access_token"].(string)
	r = e.api.Do(t, apitest.Request{URL: "/user/identities/authorize?provider=github", Headers: bearer(other)})
	require.Equal(t, http.StatusFound, r.Status)
	u, _ = landing(t, e.throughProvider(t, gh, r.Header.Get("Location")))
	assert.Equal(t, "identity_already_exists", u.Query().Get("error_code"))
	assert.Equal(t, "Identity is already linked to another user", u.Query().Get("error_description"))

	var githubID string
	for _, i := range ids {
		if i["provider"] == "github" {
			githubID = i["identity_id"].(string)
		}
	}
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "not a uuid", Method: "DELETE", URL: "/user/identities/nope", Headers: bearer(tok), WantStatus: 404,
			WantFields: map[string]any{"code": "validation_failed", "message": "identity_id must be an UUID"}},
		{Name: "not the user's", Method: "DELETE", URL: "/user/identities/" + ids[0]["identity_id"].(string), Headers: bearer(other),
			WantStatus: 422, WantFields: map[string]any{"code": "single_identity_not_deletable"}},
		{Name: "unknown identity", Method: "DELETE", URL: "/user/identities/6a7b1b0e-0000-4000-8000-000000000000", Headers: bearer(tok),
			WantStatus: 422, WantFields: map[string]any{"code": "identity_not_found", "message": "Identity doesn't exist"}},
		{Name: "unlink github", Method: "DELETE", URL: "/user/identities/" + githubID, Headers: bearer(tok), WantStatus: 200, WantJSON: `{}`},
		{Name: "the last identity stays", Method: "DELETE", URL: "/user/identities/" + ids[0]["identity_id"].(string), Headers: bearer(tok),
			WantStatus: 422, WantFields: map[string]any{"code": "single_identity_not_deletable", "message": "User must have at least 1 identity after unlinking"}},
	})
	user = e.userOf(t, tok)
	require.Len(t, identitiesOf(user), 1)
	assert.Equal(t, []any{"email"}, user["app_metadata"].(map[string]any)["providers"])

	// An anonymous user links Google and becomes a permanent one with its address.
	anon := e.api.Do(t, apitest.Request{Method: "POST", URL: "/signup", Body: map[string]any{}})
	require.Equal(t, 200, anon.Status, "%s", anon.Body)
	atok := anon.Map(t)["access_token"].(string)
	gg := fakes[oauthfake.Google]
	gg.SetUser(oauthfake.User{ID: "g-anon", Email: "anon@gmail.test", EmailVerified: true})
	r = e.api.Do(t, apitest.Request{URL: "/user/identities/authorize?provider=google&skip_http_redirect=true", Headers: bearer(atok)})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	_, frag = landing(t, e.throughProvider(t, gg, r.Map(t)["url"].(string)))
	user = e.userOf(t, frag.Get("access_token"))
	assert.Equal(t, "anon@gmail.test", user["email"])
	assert.Equal(t, false, user["is_anonymous"])

	// A GitHub user links Google, then unlinks GitHub: the address moves to
	// the identity left.
	gh.SetUser(oauthfake.User{ID: "777", Login: "moves", Email: "moves@github.test", EmailVerified: true})
	_, frag = landing(t, e.throughProvider(t, gh, e.startOAuth(t, gh, "provider=github")))
	mtok := frag.Get("access_token")
	gg.SetUser(oauthfake.User{ID: "g-moves", Email: "moves@gmail.test", EmailVerified: true})
	r = e.api.Do(t, apitest.Request{URL: "/user/identities/authorize?provider=google&skip_http_redirect=true", Headers: bearer(mtok)})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	landing(t, e.throughProvider(t, gg, r.Map(t)["url"].(string)))
	user = e.userOf(t, mtok)
	require.Len(t, identitiesOf(user), 2)
	for _, i := range identitiesOf(user) {
		if i["provider"] == "github" {
			r = e.api.Do(t, apitest.Request{Method: "DELETE", URL: "/user/identities/" + i["identity_id"].(string), Headers: bearer(mtok)})
			require.Equal(t, 200, r.Status, "%s", r.Body)
		}
	}
	user = e.userOf(t, mtok)
	assert.Equal(t, "moves@gmail.test", user["email"])
	assert.NotEmpty(t, user["email_confirmed_at"])
	assert.Equal(t, []any{"google"}, user["app_metadata"].(map[string]any)["providers"])
}
