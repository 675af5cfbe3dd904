package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestPasskeyRP(t *testing.T) {
	a := Auth{SiteURL: "https://App.Example.com:443/welcome/"}
	want := PasskeyRP{ID: "app.example.com", Name: "app.example.com", Origins: []string{"https://app.example.com"}}
	if rp := a.PasskeyRP(); !reflect.DeepEqual(rp, want) {
		t.Errorf("defaults: got %+v, want %+v", rp, want)
	}
	a = Auth{SiteURL: "http://localhost:3000", PasskeyRPID: "example.com", PasskeyRPName: "Example",
		PasskeyRPOrigins: []string{"https://example.com/", " https://www.example.com:8443 "}}
	want = PasskeyRP{ID: "example.com", Name: "Example", Origins: []string{"https://example.com", "https://www.example.com:8443"}}
	if rp := a.PasskeyRP(); !reflect.DeepEqual(rp, want) {
		t.Errorf("set: got %+v, want %+v", rp, want)
	}
}

func TestValidatePasskey(t *testing.T) {
	base := func() Auth {
		return Auth{SiteURL: "http://localhost:3000", PasskeyChallengeExp: 5 * time.Minute, PasskeyMaxPerUser: 10}
	}
	for name, c := range map[string]struct {
		edit func(*Auth)
		dev  bool
		bad  string // a variable the error names; "" when valid
	}{
		"defaults, off":              {func(a *Auth) {}, false, ""},
		"defaults in dev":            {func(a *Auth) {}, true, ""},
		"on from SITE_URL":           {func(a *Auth) { a.PasskeyEnabled = "true" }, false, ""},
		"not a boolean":              {func(a *Auth) { a.PasskeyEnabled = "yes please" }, false, "AUTH_PASSKEY_ENABLED"},
		"no expiry":                  {func(a *Auth) { a.PasskeyChallengeExp = 0 }, false, "AUTH_PASSKEY_CHALLENGE_EXPIRY"},
		"no passkeys":                {func(a *Auth) { a.PasskeyMaxPerUser = 0 }, false, "AUTH_PASSKEY_MAX_PER_USER"},
		"an IP id":                   {func(a *Auth) { a.PasskeyRPID = "127.0.0.1" }, true, "AUTH_PASSKEY_RP_ID"},
		"an id with a port":          {func(a *Auth) { a.PasskeyRPID = "example.com:8000" }, false, "AUTH_PASSKEY_RP_ID"},
		"a URL as id":                {func(a *Auth) { a.PasskeyRPID = "https://example.com" }, false, "AUTH_PASSKEY_RP_ID"},
		"an origin with a path":      {func(a *Auth) { a.PasskeyRPOrigins = []string{"https://example.com/app"} }, true, "AUTH_PASSKEY_RP_ORIGINS"},
		"an origin of another site":  {func(a *Auth) { a.PasskeyRPID, a.PasskeyRPOrigins = "example.com", []string{"https://evil.com"} }, false, "AUTH_PASSKEY_RP_ORIGINS"},
		"a subdomain origin":         {func(a *Auth) { a.PasskeyRPID, a.PasskeyRPOrigins = "example.com", []string{"https://app.example.com"} }, false, ""},
		"a look-alike domain":        {func(a *Auth) { a.PasskeyRPID, a.PasskeyRPOrigins = "example.com", []string{"https://badexample.com"} }, false, "AUTH_PASSKEY_RP_ORIGINS"},
		"an IP site, on, production": {func(a *Auth) { a.SiteURL, a.PasskeyEnabled = "http://127.0.0.1:3000", "true" }, false, "AUTH_PASSKEY_RP_ID"},
		"an IP site in dev":          {func(a *Auth) { a.SiteURL = "http://127.0.0.1:3000" }, true, ""},
	} {
		a := base()
		c.edit(&a)
		err := a.validatePasskey(c.dev)
		switch {
		case c.bad == "" && err != nil:
			t.Errorf("%s: %v", name, err)
		case c.bad != "" && err == nil:
			t.Errorf("%s: accepted", name)
		case c.bad != "" && !strings.Contains(err.Error(), c.bad):
			t.Errorf("%s: error does not name %s: %v", name, c.bad, err)
		}
	}
}
