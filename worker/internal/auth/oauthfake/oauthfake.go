// Package oauthfake is an in-process OAuth 2.0 / OpenID Connect provider
// for tests: one httptest server speaking the protocol of GitHub, GitLab,
// Discord, Google, Apple or a generic OIDC issuer — authorization page,
// token endpoint (with PKCE), the provider's profile API or userinfo, key
// set and discovery document, and ID tokens signed with its own RSA key.
// Its authorization page signs in whatever user the test set, at once.
package oauthfake

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Provider kinds, as MadBase names the providers.
const (
	GitHub  = "github"
	GitLab  = "gitlab"
	Discord = "discord"
	Google  = "google"
	Apple   = "apple"
	OIDC    = "oidc"
)

// User is who the fake signs in.
type User struct {
	// ID is the subject (digits for GitHub and GitLab).
	ID            string
	Login         string
	Name          string
	Email         string
	EmailVerified bool
	// Others are more addresses (GitHub's and GitLab's email lists).
	Others []Email
}

// Email is one more address of a User.
type Email struct {
	Address  string
	Verified bool
}

// grant is an authorization code waiting for its exchange.
type grant struct {
	user                   User
	redirectURI, challenge string
	method, nonce          string
}

// Provider is one fake provider.
type Provider struct {
	Kind     string
	ClientID string
	Secret   string
	// URL is the base URL (GitHub, GitLab, Discord) or the issuer.
	URL string

	srv *httptest.Server
	key *rsa.PrivateKey
	kid string

	mu        sync.Mutex
	user      User
	deny      string
	codes     map[string]*grant
	tokens    map[string]User
	authorize []url.Values
	exchanges []url.Values
}

// New starts a fake provider of kind; it stops with the test.
func New(t testing.TB, kind string) *Provider {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &Provider{Kind: kind, ClientID: "client-" + kind, Secret: "secret-" + kind, key: key, kid: "fake-" + kind,
		codes: map[string]*grant{}, tokens: map[string]User{},
		user: User{ID: "4242", Login: "octo", Name: "Octo Cat", Email: "octo@" + kind + ".test", EmailVerified: true}}
	p.srv = httptest.NewServer(p.routes())
	t.Cleanup(p.srv.Close)
	p.URL = p.srv.URL
	return p
}

// SetUser makes u the user the next authorizations sign in.
func (p *Provider) SetUser(u User) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.user = u
}

// Deny makes the authorization page answer with this OAuth error
// ("" again signs users in).
func (p *Provider) Deny(errName string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.deny = errName
}

// LastAuthorize is the query of the last authorization request.
func (p *Provider) LastAuthorize() url.Values {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.authorize) == 0 {
		return nil
	}
	return p.authorize[len(p.authorize)-1]
}

// LastExchange is the form of the last code exchange.
func (p *Provider) LastExchange() url.Values {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.exchanges) == 0 {
		return nil
	}
	return p.exchanges[len(p.exchanges)-1]
}

// Env is the MadBase configuration that enables this provider.
func (p *Provider) Env() map[string]string {
	pre := "AUTH_EXTERNAL_" + strings.ToUpper(p.Kind)
	return map[string]string{pre + "_ENABLED": "true", pre + "_CLIENT_ID": p.ClientID, pre + "_SECRET": p.Secret, pre + "_URL": p.URL}
}

func (p *Provider) oidc() bool { return p.Kind == Google || p.Kind == Apple || p.Kind == OIDC }

// paths of the endpoints, as the real provider has them.
func (p *Provider) paths() (authorize, token string) {
	switch p.Kind {
	case GitHub:
		return "/login/oauth/authorize", "/login/oauth/access_token"
	case GitLab:
		return "/oauth/authorize", "/oauth/token"
	case Discord:
		return "/api/oauth2/authorize", "/api/oauth2/token"
	case Apple:
		return "/auth/authorize", "/auth/token"
	}
	return "/o/oauth2/auth", "/token"
}

func (p *Provider) routes() http.Handler {
	mux := http.NewServeMux()
	authz, token := p.paths()
	mux.HandleFunc("GET "+authz, p.handleAuthorize)
	mux.HandleFunc("POST "+token, p.handleToken)
	switch p.Kind {
	case GitHub:
		mux.HandleFunc("GET /api/v3/user", p.profile(p.githubUser))
		mux.HandleFunc("GET /api/v3/user/emails", p.profile(p.githubEmails))
	case GitLab:
		mux.HandleFunc("GET /api/v4/user", p.profile(p.gitlabUser))
		mux.HandleFunc("GET /api/v4/user/emails", p.profile(p.gitlabEmails))
	case Discord:
		mux.HandleFunc("GET /api/users/@me", p.profile(p.discordUser))
	default:
		mux.HandleFunc("GET /.well-known/openid-configuration", p.handleDiscovery)
		mux.HandleFunc("GET /jwks", p.handleJWKS)
		mux.HandleFunc("GET /userinfo", p.profile(p.userinfo))
	}
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (p *Provider) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p.mu.Lock()
	p.authorize = append(p.authorize, q)
	user, deny := p.user, p.deny
	p.mu.Unlock()
	redirect := q.Get("redirect_uri")
	if q.Get("client_id") != p.ClientID || redirect == "" || q.Get("response_type") != "code" {
		http.Error(w, "bad authorization request", http.StatusBadRequest)
		return
	}
	back := url.Values{"state": {q.Get("state")}}
	if deny != "" {
		back.Set("error", deny)
		back.Set("error_description", "The user denied the request")
	} else {
		code := randomToken()
		p.mu.Lock()
		p.codes[code] = &grant{user: user, redirectURI: redirect, challenge: q.Get("code_challenge"),
			method: q.Get("code_challenge_method"), nonce: q.Get("nonce")}
		p.mu.Unlock()
		back.Set("code", code)
		if p.Kind == Apple && user.Name != "" {
			first, last, _ := strings.Cut(user.Name, " ")
			b, _ := json.Marshal(map[string]any{"name": map[string]string{"firstName": first, "lastName": last}, "email": user.Email})
			back.Set("user", string(b))
		}
	}
	if q.Get("response_mode") == "form_post" {
		// The page a browser posts to the callback at once.
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<html><body onload="document.forms[0].submit()"><form method="post" action="%s">`, html.EscapeString(redirect))
		for k, vs := range back {
			fmt.Fprintf(w, `<input type="hidden" name="%s" value="%s">`, html.EscapeString(k), html.EscapeString(vs[0]))
		}
		fmt.Fprint(w, `</form></body></html>`)
		return
	}
	u, err := url.Parse(redirect)
	if err != nil {
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	}
	qq := u.Query()
	for k, vs := range back {
		qq[k] = vs
	}
	u.RawQuery = qq.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

func (p *Provider) handleToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	f := r.PostForm
	p.mu.Lock()
	p.exchanges = append(p.exchanges, f)
	p.mu.Unlock()
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = f.Get("client_id"), f.Get("client_secret")
	}
	if id != p.ClientID || secret != p.Secret {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	p.mu.Lock()
	g := p.codes[f.Get("code")]
	delete(p.codes, f.Get("code"))
	p.mu.Unlock()
	if f.Get("grant_type") != "authorization_code" || g == nil || g.redirectURI != f.Get("redirect_uri") {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant"})
		return
	}
	if g.challenge != "" {
		sum := sha256.Sum256([]byte(f.Get("code_verifier")))
		if g.method != "S256" || base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "PKCE verification failed"})
			return
		}
	}
	access := randomToken()
	p.mu.Lock()
	p.tokens[access] = g.user
	p.mu.Unlock()
	out := map[string]any{"access_token": access, "token_type": "bearer", "expires_in": 3600, "refresh_token": "refresh-" + access}
	if p.oidc() {
		out["id_token"] = p.IDToken(p.ClientID, g.nonce, g.user, nil)
	}
	if p.Kind == GitHub && !strings.Contains(r.Header.Get("Accept"), "json") {
		// GitHub's default answer is a form.
		w.Header().Set("Content-Type", "application/x-www-form-urlencoded")
		fmt.Fprint(w, url.Values{"access_token": {access}, "token_type": {"bearer"}, "scope": {"user:email"}}.Encode())
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// profile serves a profile resource to a bearer of one of the fake's
// access tokens.
func (p *Provider) profile(fn func(User) any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		p.mu.Lock()
		u, ok := p.tokens[tok]
		p.mu.Unlock()
		if !ok {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Bad credentials"})
			return
		}
		writeJSON(w, http.StatusOK, fn(u))
	}
}

func numericID(id string) int64 {
	n, _ := strconv.ParseInt(id, 10, 64)
	return n
}

func (p *Provider) githubUser(u User) any {
	return map[string]any{"id": numericID(u.ID), "login": u.Login, "name": u.Name, "avatar_url": p.URL + "/avatar.png", "email": u.Email}
}

func (p *Provider) githubEmails(u User) any {
	out := []map[string]any{{"email": u.Email, "primary": true, "verified": u.EmailVerified, "visibility": "public"}}
	for _, e := range u.Others {
		out = append(out, map[string]any{"email": e.Address, "primary": false, "verified": e.Verified, "visibility": nil})
	}
	return out
}

func confirmedAt(ok bool) any {
	if ok {
		return "2024-01-01T00:00:00Z"
	}
	return nil
}

func (p *Provider) gitlabUser(u User) any {
	return map[string]any{"id": numericID(u.ID), "username": u.Login, "name": u.Name, "email": u.Email,
		"avatar_url": p.URL + "/avatar.png", "confirmed_at": confirmedAt(u.EmailVerified)}
}

func (p *Provider) gitlabEmails(u User) any {
	out := []map[string]any{}
	for i, e := range u.Others {
		out = append(out, map[string]any{"id": i + 1, "email": e.Address, "confirmed_at": confirmedAt(e.Verified)})
	}
	return out
}

func (p *Provider) discordUser(u User) any {
	return map[string]any{"id": u.ID, "username": u.Login, "global_name": u.Name, "avatar": "a1b2", "email": u.Email, "verified": u.EmailVerified}
}

func (p *Provider) userinfo(u User) any {
	return map[string]any{"sub": u.ID, "email": u.Email, "email_verified": u.EmailVerified, "name": u.Name}
}

func (p *Provider) handleDiscovery(w http.ResponseWriter, _ *http.Request) {
	authz, token := p.paths()
	doc := map[string]any{
		"issuer": p.URL, "authorization_endpoint": p.URL + authz, "token_endpoint": p.URL + token,
		"userinfo_endpoint": p.URL + "/userinfo", "jwks_uri": p.URL + "/jwks",
		"response_types_supported": []string{"code"}, "subject_types_supported": []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
	}
	if p.Kind != Apple {
		doc["code_challenge_methods_supported"] = []string{"S256"}
	} else {
		doc["response_modes_supported"] = []string{"query", "fragment", "form_post"}
	}
	writeJSON(w, http.StatusOK, doc)
}

func (p *Provider) handleJWKS(w http.ResponseWriter, _ *http.Request) {
	pub := p.key.PublicKey
	writeJSON(w, http.StatusOK, map[string]any{"keys": []map[string]any{{
		"kty": "RSA", "kid": p.kid, "use": "sig", "alg": "RS256",
		"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}}})
}

// IDToken signs an ID token for u with audience aud; nonce is put as is
// (the app's signInWithIdToken sends its SHA-256 hex); extra claims are
// added or replace the others.
func (p *Provider) IDToken(aud, nonce string, u User, extra map[string]any) string {
	now := time.Now()
	c := jwt.MapClaims{"iss": p.URL, "sub": u.ID, "aud": aud, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	if u.Email != "" {
		c["email"] = u.Email
		c["email_verified"] = u.EmailVerified
		if p.Kind == Apple {
			c["email_verified"] = strconv.FormatBool(u.EmailVerified) // Apple's strings
			c["is_private_email"] = "false"
		}
	}
	if u.Name != "" && p.Kind != Apple {
		c["name"] = u.Name
	}
	if nonce != "" {
		c["nonce"] = nonce
	}
	for k, v := range extra {
		c[k] = v
	}
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	t.Header["kid"] = p.kid
	s, err := t.SignedString(p.key)
	if err != nil {
		panic(err) // an RSA key made by New always signs
	}
	return s
}

// Callback is the request a browser makes to the app's callback after the
// fake's authorization page: a GET of URL, or a POST of Form (form_post).
type Callback struct {
	Method string
	URL    *url.URL
	Form   url.Values
}

var inputRE = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)

// Visit opens the fake's authorization page at authURL as a browser would
// and returns where the browser goes next.
func (p *Provider) Visit(authURL string) (*Callback, error) {
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Get(authURL)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	switch res.StatusCode {
	case http.StatusFound:
		u, err := url.Parse(res.Header.Get("Location"))
		if err != nil {
			return nil, err
		}
		return &Callback{Method: http.MethodGet, URL: u}, nil
	case http.StatusOK:
		action := regexp.MustCompile(`action="([^"]*)"`).FindSubmatch(body)
		if action == nil {
			return nil, fmt.Errorf("oauthfake: no form in %s", body)
		}
		u, err := url.Parse(html.UnescapeString(string(action[1])))
		if err != nil {
			return nil, err
		}
		form := url.Values{}
		for _, m := range inputRE.FindAllSubmatch(body, -1) {
			form.Set(html.UnescapeString(string(m[1])), html.UnescapeString(string(m[2])))
		}
		return &Callback{Method: http.MethodPost, URL: u, Form: form}, nil
	}
	return nil, fmt.Errorf("oauthfake: the authorization page answered %d: %s", res.StatusCode, body)
}
