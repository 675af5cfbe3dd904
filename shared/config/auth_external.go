package config

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// External provider names, as auth-js sends them (provider=...) and as
// identities and app_metadata record them.
const (
	ProviderApple   = "apple"
	ProviderDiscord = "discord"
	ProviderGitHub  = "github"
	ProviderGitLab  = "gitlab"
	ProviderGoogle  = "google"
	ProviderOIDC    = "oidc"
)

// ExternalProvider is one OAuth or OIDC provider's settings
// (AUTH_EXTERNAL_<NAME>_*).
type ExternalProvider struct {
	Name    string
	Enabled bool
	// ClientIDs are the OAuth client ids: the first starts redirects, every
	// one is an accepted ID token audience.
	ClientIDs   []string
	Secret      string
	RedirectURI string
	// URL overrides the provider's base URL (GitHub, GitLab, Discord) or
	// issuer (Apple, Google, OIDC).
	URL string
}

// OIDC reports whether the provider is found through OpenID Connect
// discovery at its issuer (and can verify ID tokens).
func (p ExternalProvider) OIDC() bool {
	switch p.Name {
	case ProviderApple, ProviderGoogle, ProviderOIDC:
		return true
	}
	return false
}

// ClientID is the client id redirects use; "" when none is set.
func (p ExternalProvider) ClientID() string {
	if len(p.ClientIDs) == 0 {
		return ""
	}
	return p.ClientIDs[0]
}

// envName is the prefix of the provider's variables.
func (p ExternalProvider) envName() string { return "AUTH_EXTERNAL_" + strings.ToUpper(p.Name) }

// ExternalProviders lists every external provider's settings, sorted by
// name.
func (a *Auth) ExternalProviders() []ExternalProvider {
	return []ExternalProvider{
		{ProviderApple, a.ExternalAppleEnabled, a.ExternalAppleClientID, a.ExternalAppleSecret, a.ExternalAppleRedirectURI, a.ExternalAppleURL},
		{ProviderDiscord, a.ExternalDiscordEnabled, a.ExternalDiscordClientID, a.ExternalDiscordSecret, a.ExternalDiscordRedirectURI, a.ExternalDiscordURL},
		{ProviderGitHub, a.ExternalGitHubEnabled, a.ExternalGitHubClientID, a.ExternalGitHubSecret, a.ExternalGitHubRedirectURI, a.ExternalGitHubURL},
		{ProviderGitLab, a.ExternalGitLabEnabled, a.ExternalGitLabClientID, a.ExternalGitLabSecret, a.ExternalGitLabRedirectURI, a.ExternalGitLabURL},
		{ProviderGoogle, a.ExternalGoogleEnabled, a.ExternalGoogleClientID, a.ExternalGoogleSecret, a.ExternalGoogleRedirectURI, a.ExternalGoogleURL},
		{ProviderOIDC, a.ExternalOIDCEnabled, a.ExternalOIDCClientID, a.ExternalOIDCSecret, a.ExternalOIDCRedirectURI, a.ExternalOIDCURL},
	}
}

// validateExternal checks the enabled providers: a client id, a secret
// where only the redirect flow can use the provider, http(s) URLs, and an
// issuer for the generic OIDC provider.
func (a *Auth) validateExternal() error {
	var errs []error
	for _, p := range a.ExternalProviders() {
		env := p.envName()
		for _, u := range []struct{ name, v string }{{env + "_REDIRECT_URI", p.RedirectURI}, {env + "_URL", p.URL}} {
			if u.v != "" {
				errs = append(errs, checkHTTPURL(u.name, u.v))
			}
		}
		if u, err := url.Parse(p.URL); p.URL != "" && err == nil && (u.RawQuery != "" || u.Fragment != "") {
			errs = append(errs, fmt.Errorf("%s_URL: a base URL has no query or fragment: %q", env, p.URL))
		}
		if !p.Enabled {
			continue
		}
		if p.ClientID() == "" {
			errs = append(errs, fmt.Errorf("%s_CLIENT_ID: required with %s_ENABLED", env, env))
		}
		// An OIDC provider may serve ID tokens alone (signInWithIdToken),
		// which need no secret; the others only have the redirect flow.
		if p.Secret == "" && !p.OIDC() {
			errs = append(errs, fmt.Errorf("%s_SECRET: required with %s_ENABLED", env, env))
		}
		if p.Name == ProviderOIDC && p.URL == "" {
			errs = append(errs, errors.New("AUTH_EXTERNAL_OIDC_URL: the issuer is required with AUTH_EXTERNAL_OIDC_ENABLED"))
		}
	}
	return errors.Join(errs...)
}
