package auth

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/madbase/madbase/shared/config"
)

// settings are the auth configuration with the mode defaults applied.
type settings struct {
	dev            bool
	siteURL        string
	siteHost       string
	allowList      []*regexp.Regexp
	apiExternalURL string
	jwtExp         time.Duration

	autoconfirm       bool
	anonymous         bool
	disableSignup     bool
	emailEnabled      bool
	secureEmailChange bool
	reauthPassword    bool

	passwordMinLength int
	passwordChars     []string

	reuseInterval time.Duration
	rotation      bool
	timebox       time.Duration
	inactivity    time.Duration

	otpExp          time.Duration
	otpLength       int
	mailMinInterval time.Duration

	mfa mfaSettings

	// external are the OAuth and OIDC providers by name.
	external      externalProviders
	manualLinking bool
	passkey       passkeySettings

	rateSignIn, rateSignInEmail, rateRefresh, rateOTP, rateVerify, rateAnonymous, rateEmailSent config.Rate
}

// Defaults of the rate limits outside dev (hosted Supabase's).
var (
	defaultRateSignIn    = config.Rate{N: 30, Per: 5 * time.Minute}
	defaultRateRefresh   = config.Rate{N: 150, Per: 5 * time.Minute}
	defaultRateOTP       = config.Rate{N: 30, Per: 5 * time.Minute}
	defaultRateVerify    = config.Rate{N: 30, Per: 5 * time.Minute}
	defaultRateAnonymous = config.Rate{N: 30, Per: time.Hour}
	defaultRateEmailSent = config.Rate{N: 30, Per: time.Hour}
)

func resolveSettings(a config.Auth, dev bool) (settings, error) {
	if err := a.Validate(dev); err != nil {
		return settings{}, err
	}
	s := settings{
		dev:               dev,
		siteURL:           strings.TrimRight(a.SiteURL, "/"),
		apiExternalURL:    strings.TrimRight(a.APIExternalURL, "/"),
		jwtExp:            time.Duration(a.JWTExp) * time.Second,
		disableSignup:     a.DisableSignup,
		emailEnabled:      a.EmailEnabled,
		secureEmailChange: a.SecureEmailChange,
		reauthPassword:    a.ReauthForPassword,
		passwordMinLength: a.PasswordMinLength,
		reuseInterval:     a.RefreshReuseInterval,
		rotation:          a.RefreshRotation,
		timebox:           a.SessionTimebox,
		inactivity:        a.SessionInactivity,
		otpExp:            a.OTPExp,
		otpLength:         a.OTPLength,
		mailMinInterval:   a.MailMinInterval,
		external:          resolveExternal(a),
		manualLinking:     a.ManualLinking,
	}
	if s.siteURL == "" {
		s.siteURL = "http://localhost:3000"
	}
	if u, err := url.Parse(s.siteURL); err == nil {
		s.siteHost = strings.ToLower(u.Hostname())
	}
	for _, p := range a.URIAllowList {
		s.allowList = append(s.allowList, compileGlob(strings.TrimSpace(p)))
	}
	if a.PasswordChars != "" {
		for _, set := range strings.Split(a.PasswordChars, ":") {
			if set != "" {
				s.passwordChars = append(s.passwordChars, set)
			}
		}
	}
	var err error
	if s.mfa, err = resolveMFA(a); err != nil {
		return s, err
	}
	if s.passkey, err = resolvePasskey(a, dev); err != nil {
		return s, err
	}
	if s.autoconfirm, err = config.AutoBool(a.Autoconfirm, dev); err != nil {
		return s, fmt.Errorf("AUTH_AUTOCONFIRM: %w", err)
	}
	if s.anonymous, err = config.AutoBool(a.AnonymousUsers, dev); err != nil {
		return s, fmt.Errorf("AUTH_ANONYMOUS_USERS: %w", err)
	}
	for _, r := range []struct {
		dst *config.Rate
		raw string
		def config.Rate
	}{
		{&s.rateSignIn, a.RateSignIn, defaultRateSignIn},
		{&s.rateSignInEmail, a.RateSignInEmail, defaultRateSignIn},
		{&s.rateRefresh, a.RateRefresh, defaultRateRefresh},
		{&s.rateOTP, a.RateOTP, defaultRateOTP},
		{&s.rateVerify, a.RateVerify, defaultRateVerify},
		{&s.rateAnonymous, a.RateAnonymous, defaultRateAnonymous},
		{&s.rateEmailSent, a.RateEmailSent, defaultRateEmailSent},
	} {
		if *r.dst, err = config.AutoRate(r.raw, dev, r.def); err != nil {
			return s, err
		}
	}
	return s, nil
}

// compileGlob turns an allow-list pattern into an anchored regexp: ** matches
// anything, * anything but '.' and '/', ? one such character (GoTrue's glob
// with separators '.' and '/').
func compileGlob(p string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	rs := []rune(p)
	for i := 0; i < len(rs); i++ {
		switch ch := rs[i]; ch {
		case '*':
			if i+1 < len(rs) && rs[i+1] == '*' {
				b.WriteString(".*")
				i++
			} else {
				b.WriteString(`[^./]*`)
			}
		case '?':
			b.WriteString(`[^./]`)
		default:
			b.WriteString(regexp.QuoteMeta(string(ch)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}
