package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/madbase/madbase/shared/config"
	"golang.org/x/oauth2"
)

// External providers (signInWithOAuth, signInWithIdToken): GitHub, GitLab
// and Discord speak OAuth 2.0 with a profile API of their own; Apple,
// Google and the generic OIDC provider are found through OpenID Connect
// discovery at their issuer, and their ID tokens are verified against the
// issuer's published keys. golang.org/x/oauth2 speaks the protocol and
// github.com/coreos/go-oidc verifies the tokens.

// Default base URLs and issuers; AUTH_EXTERNAL_<NAME>_URL replaces them.
const (
	defaultGitHubURL   = "https://github.com"
	defaultGitHubAPI   = "https://api.github.com"
	defaultGitLabURL   = "https://gitlab.com"
	defaultDiscordURL  = "https://discord.com"
	defaultGoogleIssue = "https://accounts.google.com"
	defaultAppleIssuer = "https://appleid.apple.com"
)

// providerTimeout bounds each call to a provider.
const providerTimeout = 10 * time.Second

// providerEmail is one address a provider reports for its user.
type providerEmail struct {
	Address  string
	Verified bool
	Primary  bool
}

// providerUser is what a provider says about its user: the subject, the
// addresses, and the identity data (GoTrue's claim names) kept on the
// identity and merged into user_metadata.
type providerUser struct {
	Subject string
	Emails  []providerEmail
	Data    map[string]any
}

// email is the address the identity carries: the primary one, else the
// last one listed (GoTrue's choice).
func (pu *providerUser) email() providerEmail {
	var e providerEmail
	for _, x := range pu.Emails {
		e = x
		if x.Primary {
			break
		}
	}
	return e
}

// externalProvider is one configured provider.
type externalProvider struct {
	cfg config.ExternalProvider
	// issuer is the OIDC issuer (Apple, Google, OIDC); "" for the others.
	issuer string
}

// externalProviders are the project's providers by name.
type externalProviders map[string]*externalProvider

func resolveExternal(a config.Auth) externalProviders {
	out := externalProviders{}
	for _, p := range a.ExternalProviders() {
		ep := &externalProvider{cfg: p}
		switch p.Name {
		case config.ProviderGoogle:
			ep.issuer = defaultGoogleIssue
		case config.ProviderApple:
			ep.issuer = defaultAppleIssuer
		}
		if p.OIDC() && p.URL != "" {
			ep.issuer = strings.TrimRight(p.URL, "/")
		}
		out[p.Name] = ep
	}
	return out
}

var (
	errProviderNotEnabled = badRequest(CodeValidationFailed, "Unsupported provider: provider is not enabled")
)

// provider finds an enabled provider by the name a request gave.
func (s *service) provider(name string) (*externalProvider, error) {
	p, ok := s.cfg.external[strings.ToLower(name)]
	if !ok {
		if len(name) > 64 {
			name = name[:64]
		}
		return nil, badRequest(CodeValidationFailed, "Unsupported provider: Provider %s could not be found", name)
	}
	if !p.cfg.Enabled {
		return nil, errProviderNotEnabled
	}
	return p, nil
}

// oidcProviders caches each issuer's discovery document and key set (the
// key set refreshes itself when a token names an unknown key).
type oidcProviders struct {
	mu sync.Mutex
	m  map[string]*oidc.Provider
}

// providerContext is ctx with the HTTP client provider calls use.
func (s *service) providerContext(ctx context.Context) context.Context {
	ctx = context.WithValue(ctx, oauth2.HTTPClient, s.httpClient)
	return oidc.ClientContext(ctx, s.httpClient)
}

// discover returns the issuer's OIDC provider, fetching its discovery
// document once per service.
func (s *service) discover(ctx context.Context, issuer string) (*oidc.Provider, error) {
	s.oidc.mu.Lock()
	p := s.oidc.m[issuer]
	s.oidc.mu.Unlock()
	if p != nil {
		return p, nil
	}
	p, err := oidc.NewProvider(s.providerContext(ctx), issuer)
	if err != nil {
		return nil, err
	}
	s.oidc.mu.Lock()
	if s.oidc.m == nil {
		s.oidc.m = map[string]*oidc.Provider{}
	}
	s.oidc.m[issuer] = p
	s.oidc.mu.Unlock()
	return p, nil
}

// flow is a provider set up for one redirect flow.
type flow struct {
	p     *externalProvider
	oauth *oauth2.Config
	// op is the issuer's OIDC provider (Apple, Google, OIDC).
	op *oidc.Provider
	// pkce: the provider takes a PKCE challenge from MadBase.
	pkce bool
	// formPost: the provider posts its answer to the callback (Apple).
	formPost bool
	// apiURL is the base of the profile API (GitHub, GitLab, Discord).
	apiURL string
}

// splitScopes reads scopes separated by spaces or commas.
func splitScopes(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' })
}

// newFlow sets p up for a flow whose callback is redirectURI, with the
// scopes the app asked for on top of the ones MadBase needs.
func (s *service) newFlow(ctx context.Context, p *externalProvider, redirectURI, scopes string) (*flow, error) {
	f := &flow{p: p, oauth: &oauth2.Config{
		ClientID: p.cfg.ClientID(), ClientSecret: p.cfg.Secret, RedirectURL: redirectURI,
	}}
	base := strings.TrimRight(p.cfg.URL, "/")
	switch p.cfg.Name {
	case config.ProviderGitHub:
		f.apiURL = defaultGitHubAPI
		if base == "" {
			base = defaultGitHubURL
		} else {
			f.apiURL = base + "/api/v3" // GitHub Enterprise Server
		}
		f.oauth.Endpoint = oauth2.Endpoint{AuthURL: base + "/login/oauth/authorize", TokenURL: base + "/login/oauth/access_token"}
		f.oauth.Scopes = []string{"user:email"}
	case config.ProviderGitLab:
		if base == "" {
			base = defaultGitLabURL
		}
		f.apiURL = base + "/api/v4"
		f.oauth.Endpoint = oauth2.Endpoint{AuthURL: base + "/oauth/authorize", TokenURL: base + "/oauth/token"}
		f.oauth.Scopes = []string{"read_user"}
		f.pkce = true
	case config.ProviderDiscord:
		if base == "" {
			base = defaultDiscordURL
		}
		f.apiURL = base + "/api"
		f.oauth.Endpoint = oauth2.Endpoint{AuthURL: f.apiURL + "/oauth2/authorize", TokenURL: f.apiURL + "/oauth2/token"}
		f.oauth.Scopes = []string{"email", "identify"}
	default: // OIDC: Apple, Google, OIDC
		op, err := s.discover(ctx, p.issuer)
		if err != nil {
			return nil, err
		}
		f.op = op
		f.oauth.Endpoint = op.Endpoint()
		switch p.cfg.Name {
		case config.ProviderApple:
			// Apple asks for form_post when name or email is requested.
			f.oauth.Scopes = []string{"name", "email"}
			f.formPost = true
		default:
			f.oauth.Scopes = []string{oidc.ScopeOpenID, "email", "profile"}
			var meta struct {
				Methods []string `json:"code_challenge_methods_supported"`
			}
			_ = op.Claims(&meta)
			f.pkce = p.cfg.Name == config.ProviderGoogle || containsFold(meta.Methods, "S256")
		}
	}
	for _, sc := range splitScopes(scopes) {
		if !containsFold(f.oauth.Scopes, sc) {
			f.oauth.Scopes = append(f.oauth.Scopes, sc)
		}
	}
	return f, nil
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// errNoIDToken is an OIDC token response without an ID token.
var errNoIDToken = errors.New("the token response has no id_token")

// userData reads the provider's user after a code exchange: the profile
// API (GitHub, GitLab, Discord) or the verified ID token, completed by the
// userinfo endpoint (OIDC).
func (f *flow) userData(ctx context.Context, tok *oauth2.Token, nonce string) (*providerUser, error) {
	switch f.p.cfg.Name {
	case config.ProviderGitHub:
		return f.githubUser(ctx, tok)
	case config.ProviderGitLab:
		return f.gitlabUser(ctx, tok)
	case config.ProviderDiscord:
		return f.discordUser(ctx, tok)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, errNoIDToken
	}
	idt, err := f.op.Verifier(&oidc.Config{ClientID: f.p.cfg.ClientID()}).Verify(ctx, raw)
	if err != nil {
		return nil, err
	}
	if idt.Nonce != nonce {
		return nil, errors.New("the id_token's nonce is not the one sent")
	}
	pu, err := oidcUser(idt, f.issuerName())
	if err != nil {
		return nil, err
	}
	if len(pu.Emails) == 0 && f.op.UserInfoEndpoint() != "" {
		info, err := f.op.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err == nil && info.Subject == idt.Subject && info.Email != "" {
			pu.Emails = []providerEmail{{Address: info.Email, Verified: info.EmailVerified, Primary: true}}
		}
	}
	return pu, nil
}

// issuerName is the iss the identity data records.
func (f *flow) issuerName() string {
	if f.p.issuer != "" {
		return f.p.issuer
	}
	return f.apiURL
}

// getJSON reads a profile API resource with the user's token.
func (f *flow) getJSON(ctx context.Context, tok *oauth2.Token, url string, dst any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	res, err := f.oauth.Client(ctx, tok).Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %d", url, res.StatusCode)
	}
	return json.Unmarshal(body, dst)
}

// identityData builds the identity data of a provider's user (GoTrue's
// claim names, empty ones left out).
func identityData(iss, sub string, kv ...string) map[string]any {
	d := map[string]any{"iss": iss, "sub": sub, "provider_id": sub, "email_verified": false, "phone_verified": false}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			d[kv[i]] = kv[i+1]
		}
	}
	return d
}

func (f *flow) githubUser(ctx context.Context, tok *oauth2.Token) (*providerUser, error) {
	var u struct {
		ID        int64  `json:"id"`
		Login     string `json:"login"`
		Name      string `json:"name"`
		AvatarURL string `json:"avatar_url"`
	}
	if err := f.getJSON(ctx, tok, f.apiURL+"/user", &u); err != nil {
		return nil, err
	}
	if u.ID == 0 {
		return nil, errors.New("github: the user has no id")
	}
	sub := strconv.FormatInt(u.ID, 10)
	pu := &providerUser{Subject: sub, Data: identityData(f.apiURL, sub,
		"name", u.Name, "full_name", u.Name, "preferred_username", u.Login, "user_name", u.Login, "avatar_url", u.AvatarURL)}
	var emails []struct {
		Email    string `json:"email"`
		Primary  bool   `json:"primary"`
		Verified bool   `json:"verified"`
	}
	if err := f.getJSON(ctx, tok, f.apiURL+"/user/emails", &emails); err != nil {
		return nil, err
	}
	for _, e := range emails {
		if e.Email != "" {
			pu.Emails = append(pu.Emails, providerEmail{Address: e.Email, Verified: e.Verified, Primary: e.Primary})
		}
	}
	return pu, nil
}

func (f *flow) gitlabUser(ctx context.Context, tok *oauth2.Token) (*providerUser, error) {
	var u struct {
		ID          int64  `json:"id"`
		Username    string `json:"username"`
		Name        string `json:"name"`
		Email       string `json:"email"`
		AvatarURL   string `json:"avatar_url"`
		ConfirmedAt string `json:"confirmed_at"`
	}
	if err := f.getJSON(ctx, tok, f.apiURL+"/user", &u); err != nil {
		return nil, err
	}
	if u.ID == 0 {
		return nil, errors.New("gitlab: the user has no id")
	}
	sub := strconv.FormatInt(u.ID, 10)
	pu := &providerUser{Subject: sub, Data: identityData(f.apiURL, sub,
		"name", u.Name, "full_name", u.Name, "preferred_username", u.Username, "user_name", u.Username,
		"avatar_url", u.AvatarURL, "picture", u.AvatarURL)}
	var emails []struct {
		Email       string `json:"email"`
		ConfirmedAt string `json:"confirmed_at"`
	}
	if err := f.getJSON(ctx, tok, f.apiURL+"/user/emails", &emails); err != nil {
		return nil, err
	}
	for _, e := range emails {
		if e.Email != "" && !strings.EqualFold(e.Email, u.Email) {
			pu.Emails = append(pu.Emails, providerEmail{Address: e.Email, Verified: e.ConfirmedAt != ""})
		}
	}
	if u.Email != "" {
		pu.Emails = append(pu.Emails, providerEmail{Address: u.Email, Verified: u.ConfirmedAt != "", Primary: true})
	}
	return pu, nil
}

func (f *flow) discordUser(ctx context.Context, tok *oauth2.Token) (*providerUser, error) {
	var u struct {
		ID         string `json:"id"`
		Username   string `json:"username"`
		GlobalName string `json:"global_name"`
		Avatar     string `json:"avatar"`
		Email      string `json:"email"`
		Verified   bool   `json:"verified"`
	}
	if err := f.getJSON(ctx, tok, f.apiURL+"/users/@me", &u); err != nil {
		return nil, err
	}
	if u.ID == "" {
		return nil, errors.New("discord: the user has no id")
	}
	avatar := ""
	if u.Avatar != "" {
		avatar = "https://cdn.discordapp.com/avatars/" + u.ID + "/" + u.Avatar + ".png"
	}
	name := u.GlobalName
	if name == "" {
		name = u.Username
	}
	pu := &providerUser{Subject: u.ID, Data: identityData(f.apiURL, u.ID,
		"name", name, "full_name", name, "preferred_username", u.Username, "user_name", u.Username,
		"avatar_url", avatar, "picture", avatar)}
	if u.Email != "" {
		pu.Emails = []providerEmail{{Address: u.Email, Verified: u.Verified, Primary: true}}
	}
	return pu, nil
}

// standardClaims are the ID token claims identity data keeps under their
// own names; the others (but the token's bookkeeping) go to custom_claims.
var standardClaims = map[string]bool{
	"iss": true, "sub": true, "name": true, "family_name": true, "given_name": true, "middle_name": true,
	"nickname": true, "preferred_username": true, "profile": true, "picture": true, "website": true,
	"gender": true, "birthdate": true, "zoneinfo": true, "locale": true, "email": true, "phone_number": true,
}

var tokenBookkeeping = map[string]bool{
	"aud": true, "exp": true, "iat": true, "nbf": true, "jti": true, "nonce": true, "at_hash": true,
	"c_hash": true, "azp": true, "auth_time": true, "email_verified": true, "phone_number_verified": true,
	"updated_at": true, "acr": true, "amr": true, "sid": true,
}

// oidcUser reads a verified ID token's user.
func oidcUser(idt *oidc.IDToken, iss string) (*providerUser, error) {
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return nil, err
	}
	if idt.Subject == "" {
		return nil, errors.New("the id_token has no sub")
	}
	data := map[string]any{"iss": iss, "sub": idt.Subject, "provider_id": idt.Subject,
		"email_verified": false, "phone_verified": false}
	custom := map[string]any{}
	for k, v := range claims {
		switch {
		case standardClaims[k]:
			data[k] = v
		case !tokenBookkeeping[k]:
			custom[k] = v
		}
	}
	if len(custom) > 0 {
		data["custom_claims"] = custom
	}
	if n, _ := claims["name"].(string); n != "" {
		data["full_name"] = n
	}
	if p, _ := claims["picture"].(string); p != "" {
		data["avatar_url"] = p
	}
	pu := &providerUser{Subject: idt.Subject, Data: data}
	if e, _ := claims["email"].(string); e != "" {
		pu.Emails = []providerEmail{{Address: e, Verified: truthy(claims["email_verified"]), Primary: true}}
	}
	return pu, nil
}

// truthy reads a boolean claim that some providers (Apple) send as a
// string.
func truthy(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case string:
		b, _ := strconv.ParseBool(x)
		return b
	}
	return false
}

// appleName adds the name Apple posts to the callback on a user's first
// sign-in ({"name":{"firstName","lastName"}}) to the identity data.
func appleName(pu *providerUser, raw string) {
	var u struct {
		Name struct {
			FirstName string `json:"firstName"`
			LastName  string `json:"lastName"`
		} `json:"name"`
	}
	if raw == "" || len(raw) > 4096 || json.Unmarshal([]byte(raw), &u) != nil {
		return
	}
	full := strings.TrimSpace(u.Name.FirstName + " " + u.Name.LastName)
	if full == "" {
		return
	}
	pu.Data["name"], pu.Data["full_name"] = full, full
	if u.Name.FirstName != "" {
		pu.Data["given_name"] = u.Name.FirstName
	}
	if u.Name.LastName != "" {
		pu.Data["family_name"] = u.Name.LastName
	}
}
