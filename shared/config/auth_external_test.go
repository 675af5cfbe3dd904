package config

import (
	"strings"
	"testing"
)

func TestExternalProvidersValidate(t *testing.T) {
	for name, c := range map[string]struct {
		vars map[string]string
		bad  []string
	}{
		"all off":                    {nil, nil},
		"github complete":            {map[string]string{"AUTH_EXTERNAL_GITHUB_ENABLED": "true", "AUTH_EXTERNAL_GITHUB_CLIENT_ID": "id", "AUTH_EXTERNAL_GITHUB_SECRET": "s"}, nil},
		"github no secret":           {map[string]string{"AUTH_EXTERNAL_GITHUB_ENABLED": "true", "AUTH_EXTERNAL_GITHUB_CLIENT_ID": "id"}, []string{"AUTH_EXTERNAL_GITHUB_SECRET"}},
		"google for ID tokens alone": {map[string]string{"AUTH_EXTERNAL_GOOGLE_ENABLED": "true", "AUTH_EXTERNAL_GOOGLE_CLIENT_ID": "web,ios"}, nil},
		"apple without client":       {map[string]string{"AUTH_EXTERNAL_APPLE_ENABLED": "true"}, []string{"AUTH_EXTERNAL_APPLE_CLIENT_ID"}},
		"oidc without issuer":        {map[string]string{"AUTH_EXTERNAL_OIDC_ENABLED": "true", "AUTH_EXTERNAL_OIDC_CLIENT_ID": "c"}, []string{"AUTH_EXTERNAL_OIDC_URL"}},
		"bad URLs": {map[string]string{"AUTH_EXTERNAL_GITLAB_URL": "gitlab.example.com", "AUTH_EXTERNAL_DISCORD_REDIRECT_URI": "ftp://x/cb",
			"AUTH_EXTERNAL_GOOGLE_URL": "https://accounts.example.com/?x=1"}, []string{"AUTH_EXTERNAL_GITLAB_URL", "AUTH_EXTERNAL_DISCORD_REDIRECT_URI", "AUTH_EXTERNAL_GOOGLE_URL"}},
	} {
		var w Worker
		if err := Load(&w, Map(c.vars)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		err := w.Auth.Validate(true)
		if len(c.bad) == 0 && err != nil {
			t.Errorf("%s: %v", name, err)
		}
		for _, b := range c.bad {
			if err == nil || !strings.Contains(err.Error(), b) {
				t.Errorf("%s: want an error naming %s, got %v", name, b, err)
			}
		}
	}
}

func TestExternalProvidersOverlay(t *testing.T) {
	var w Worker
	if err := Load(&w, Map(nil)); err != nil {
		t.Fatal(err)
	}
	err := Overlay(&w, map[string]string{"AUTH_EXTERNAL_GITHUB_ENABLED": "true", "AUTH_EXTERNAL_GITHUB_CLIENT_ID": "a,b",
		"AUTH_EXTERNAL_GITHUB_SECRET": "s", "AUTH_MANUAL_LINKING_ENABLED": "true"})
	if err != nil {
		t.Fatal(err)
	}
	var gh ExternalProvider
	for _, p := range w.ExternalProviders() {
		if p.Name == ProviderGitHub {
			gh = p
		}
	}
	if !gh.Enabled || gh.ClientID() != "a" || len(gh.ClientIDs) != 2 || gh.Secret != "s" || !w.ManualLinking {
		t.Errorf("a project's provider settings are not applied: %+v %v", gh, w.ManualLinking)
	}
}
