package config

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Auth configures the /auth/v1 capability (see worker/internal/auth).
//
// A few settings default differently in `madbase dev` than elsewhere: they
// are strings whose empty value means "the mode's default" (Auto*).
type Auth struct {
	SiteURL        string   `env:"SITE_URL" default:"http://localhost:3000" desc:"Auth: the app's URL; redirects after email links go here unless redirect_to is allowed by AUTH_URI_ALLOW_LIST or has SITE_URL's host."`
	URIAllowList   []string `env:"AUTH_URI_ALLOW_LIST" desc:"Auth: extra redirect_to URLs allowed after email links, comma-separated; * matches within one host label or path segment, ** across them."`
	APIExternalURL string   `env:"API_EXTERNAL_URL" desc:"Auth: public URL of the API (the edge), used in email links and as the JWT issuer (<url>/auth/v1). Default: from each request's X-Forwarded-Proto and -Host."`
	JWTExp         int      `env:"JWT_EXP" default:"3600" desc:"Auth: access token lifetime in seconds (at least 120: clients refresh 90 s before expiry)."`

	Autoconfirm       string `env:"AUTH_AUTOCONFIRM" desc:"Auth: sign up email users as confirmed without a confirmation mail (true or false). Default: true in madbase dev, false otherwise."`
	AnonymousUsers    string `env:"AUTH_ANONYMOUS_USERS" desc:"Auth: allow signInAnonymously (true or false). Default: true in madbase dev, false otherwise."`
	DisableSignup     bool   `env:"AUTH_DISABLE_SIGNUP" default:"false" desc:"Auth: refuse new users on the public API (admins can still create and invite them)."`
	EmailEnabled      bool   `env:"AUTH_EMAIL_ENABLED" default:"true" desc:"Auth: allow email sign-ups and sign-ins."`
	SecureEmailChange bool   `env:"AUTH_SECURE_EMAIL_CHANGE" default:"true" desc:"Auth: an email change must be confirmed from both the old and the new address."`
	ReauthForPassword bool   `env:"AUTH_SECURE_PASSWORD_CHANGE" default:"false" desc:"Auth: a password change from a session older than 24 h needs the nonce of GET /reauthenticate."`

	PasswordMinLength int    `env:"AUTH_PASSWORD_MIN_LENGTH" default:"6" desc:"Auth: shortest password accepted (weak_password below it)."`
	PasswordChars     string `env:"AUTH_PASSWORD_REQUIRED_CHARACTERS" desc:"Auth: character sets a password must each draw from, separated by ':' (e.g. abcdefghijklmnopqrstuvwxyz:ABCDEFGHIJKLMNOPQRSTUVWXYZ:0123456789)."`
	BcryptConcurrency int    `env:"AUTH_BCRYPT_CONCURRENCY" default:"0" desc:"Auth: how many password hashes a worker computes at once (0: one per CPU). On Linux hashes run on low-priority threads, so a sign-in burst takes only the CPU that other requests leave idle; workers in one process (madbase dev) share the first one's hash threads."`

	RefreshReuseInterval time.Duration `env:"AUTH_REFRESH_TOKEN_REUSE_INTERVAL" default:"10s" desc:"Auth: how long a rotated refresh token may still be used (concurrent tabs and server rendering)."`
	RefreshRotation      bool          `env:"AUTH_REFRESH_TOKEN_ROTATION" default:"true" desc:"Auth: reuse of a rotated refresh token past the reuse interval ends its session at once: its refresh tokens and its access tokens stop working."`
	SessionTimebox       time.Duration `env:"AUTH_SESSION_TIMEBOX" default:"0s" desc:"Auth: sessions end this long after sign-in (0: never)."`
	SessionInactivity    time.Duration `env:"AUTH_SESSION_INACTIVITY_TIMEOUT" default:"0s" desc:"Auth: sessions end when not refreshed for this long (0: never)."`

	OTPExp          time.Duration `env:"AUTH_OTP_EXP" default:"1h" desc:"Auth: how long email links and one-time codes stay valid."`
	OTPLength       int           `env:"AUTH_OTP_LENGTH" default:"6" desc:"Auth: digits of email one-time codes (6 to 10)."`
	MailMinInterval time.Duration `env:"AUTH_MAIL_MIN_INTERVAL" default:"60s" desc:"Auth: least time between two mails of one kind to one user (429 over_email_send_rate_limit)."`

	RateSignIn      string `env:"AUTH_RATE_LIMIT_SIGN_IN" desc:"Auth: sign-ins and sign-ups per client IP, as N/duration (e.g. 30/5m; 0 disables). Default: off in madbase dev, 30/5m otherwise."`
	RateSignInEmail string `env:"AUTH_RATE_LIMIT_SIGN_IN_EMAIL" desc:"Auth: password sign-ins per email address or phone, as N/duration. Default: off in madbase dev, 30/5m otherwise."`
	RateRefresh     string `env:"AUTH_RATE_LIMIT_TOKEN_REFRESH" desc:"Auth: token refreshes per client IP, as N/duration. Default: off in madbase dev, 150/5m otherwise."`
	RateOTP         string `env:"AUTH_RATE_LIMIT_OTP" desc:"Auth: OTP, magic link, recover, resend, reauthenticate and MFA challenge requests per client IP, as N/duration. Default: off in madbase dev, 30/5m otherwise."`
	RateVerify      string `env:"AUTH_RATE_LIMIT_VERIFY" desc:"Auth: verify and MFA verify requests per client IP, as N/duration. Default: off in madbase dev, 30/5m otherwise."`
	RateAnonymous   string `env:"AUTH_RATE_LIMIT_ANONYMOUS_USERS" desc:"Auth: anonymous sign-ins per client IP, as N/duration. Default: off in madbase dev, 30/1h otherwise."`
	RateEmailSent   string `env:"AUTH_RATE_LIMIT_EMAIL_SENT" desc:"Auth: mails sent by the whole project, as N/duration. Default: off in madbase dev, 30/1h otherwise."`

	SMTPHost       string `env:"SMTP_HOST" desc:"Auth: SMTP server for auth mails. Unset: madbase dev keeps mails in the dev outbox (GET /admin/v1/outbox); elsewhere flows that need a mail fail."`
	SMTPPort       int    `env:"SMTP_PORT" default:"587" desc:"Auth: SMTP port; 465 uses implicit TLS, others STARTTLS when offered."`
	SMTPUser       string `env:"SMTP_USER" desc:"Auth: SMTP user name (no authentication when unset)."`
	SMTPPass       string `env:"SMTP_PASS" secret:"true" desc:"Auth: SMTP password."`
	SMTPAdminEmail string `env:"SMTP_ADMIN_EMAIL" default:"noreply@madbase.local" desc:"Auth: From address of auth mails."`
	SMTPSenderName string `env:"SMTP_SENDER_NAME" default:"MadBase" desc:"Auth: From name of auth mails."`

	MFATOTPEnroll         bool          `env:"AUTH_MFA_TOTP_ENROLL_ENABLED" default:"true" desc:"Auth: users may enroll TOTP (authenticator app) factors."`
	MFATOTPVerify         bool          `env:"AUTH_MFA_TOTP_VERIFY_ENABLED" default:"true" desc:"Auth: users may challenge and verify TOTP factors."`
	MFAPhoneEnroll        bool          `env:"AUTH_MFA_PHONE_ENROLL_ENABLED" default:"false" desc:"Auth: users may enroll phone (SMS code) factors."`
	MFAPhoneVerify        bool          `env:"AUTH_MFA_PHONE_VERIFY_ENABLED" default:"false" desc:"Auth: users may challenge and verify phone factors (each challenge sends an SMS)."`
	MFAMaxFactors         int           `env:"AUTH_MFA_MAX_ENROLLED_FACTORS" default:"10" desc:"Auth: most factors (verified or not) one user may have."`
	MFAChallengeExp       time.Duration `env:"AUTH_MFA_CHALLENGE_EXPIRY" default:"300s" desc:"Auth: how long an MFA challenge may be verified."`
	MFAMaxFailed          int           `env:"AUTH_MFA_MAX_FAILED_VERIFICATIONS" default:"5" desc:"Auth: wrong codes in a row a factor takes before it refuses verifications (429) for AUTH_MFA_FAILED_VERIFICATION_LOCKOUT (0: no limit)."`
	MFAFailedLockout      time.Duration `env:"AUTH_MFA_FAILED_VERIFICATION_LOCKOUT" default:"15m" desc:"Auth: how long a factor refuses verifications after too many wrong codes."`
	MFAPhoneMaxFrequency  time.Duration `env:"AUTH_MFA_PHONE_MAX_FREQUENCY" default:"5s" desc:"Auth: least time between two SMS challenges of one phone factor."`
	SMSTestOTP            string        `env:"AUTH_SMS_TEST_OTP" desc:"Auth: development only: phone:code pairs, comma-separated (e.g. 15550001111:123456); these numbers get the fixed code and no SMS."`
	SMSTwilioAccountSID   string        `env:"AUTH_SMS_TWILIO_ACCOUNT_SID" desc:"Auth: Twilio account SID: SMS codes go through Twilio's Messages API when set."`
	SMSTwilioAuthToken    string        `env:"AUTH_SMS_TWILIO_AUTH_TOKEN" secret:"true" desc:"Auth: Twilio auth token."`
	SMSTwilioMessagingSID string        `env:"AUTH_SMS_TWILIO_MESSAGE_SERVICE_SID" desc:"Auth: Twilio messaging service SID (or sender phone number) SMS are sent from."`

	// External (OAuth and OIDC) providers: auth_external.go reads them.
	ExternalAppleEnabled       bool     `env:"AUTH_EXTERNAL_APPLE_ENABLED" default:"false" desc:"Auth: allow sign-in with Sign in with Apple (signInWithOAuth, signInWithIdToken)."`
	ExternalAppleClientID      []string `env:"AUTH_EXTERNAL_APPLE_CLIENT_ID" desc:"Auth: Apple OAuth client ID (comma-separated: the first starts redirects; every one is an accepted ID token audience, e.g. iOS and web clients)."`
	ExternalAppleSecret        string   `env:"AUTH_EXTERNAL_APPLE_SECRET" secret:"true" desc:"Auth: Apple OAuth client secret (for Apple, the client secret JWT Apple asks for)."`
	ExternalAppleRedirectURI   string   `env:"AUTH_EXTERNAL_APPLE_REDIRECT_URI" desc:"Auth: Apple callback URL registered with the provider. Default: <API_EXTERNAL_URL>/auth/v1/callback."`
	ExternalAppleURL           string   `env:"AUTH_EXTERNAL_APPLE_URL" desc:"Auth: Apple: the issuer (default https://appleid.apple.com), whose /.well-known/openid-configuration gives the endpoints and keys."`
	ExternalDiscordEnabled     bool     `env:"AUTH_EXTERNAL_DISCORD_ENABLED" default:"false" desc:"Auth: allow sign-in with Discord (signInWithOAuth)."`
	ExternalDiscordClientID    []string `env:"AUTH_EXTERNAL_DISCORD_CLIENT_ID" desc:"Auth: Discord OAuth client ID."`
	ExternalDiscordSecret      string   `env:"AUTH_EXTERNAL_DISCORD_SECRET" secret:"true" desc:"Auth: Discord OAuth client secret."`
	ExternalDiscordRedirectURI string   `env:"AUTH_EXTERNAL_DISCORD_REDIRECT_URI" desc:"Auth: Discord callback URL registered with the provider. Default: <API_EXTERNAL_URL>/auth/v1/callback."`
	ExternalDiscordURL         string   `env:"AUTH_EXTERNAL_DISCORD_URL" desc:"Auth: Discord: base URL (default https://discord.com; the API is under /api)."`
	ExternalGitHubEnabled      bool     `env:"AUTH_EXTERNAL_GITHUB_ENABLED" default:"false" desc:"Auth: allow sign-in with GitHub (signInWithOAuth)."`
	ExternalGitHubClientID     []string `env:"AUTH_EXTERNAL_GITHUB_CLIENT_ID" desc:"Auth: GitHub OAuth client ID."`
	ExternalGitHubSecret       string   `env:"AUTH_EXTERNAL_GITHUB_SECRET" secret:"true" desc:"Auth: GitHub OAuth client secret."`
	ExternalGitHubRedirectURI  string   `env:"AUTH_EXTERNAL_GITHUB_REDIRECT_URI" desc:"Auth: GitHub callback URL registered with the provider. Default: <API_EXTERNAL_URL>/auth/v1/callback."`
	ExternalGitHubURL          string   `env:"AUTH_EXTERNAL_GITHUB_URL" desc:"Auth: GitHub: base URL (default https://github.com; another one is a GitHub Enterprise server, its API under /api/v3)."`
	ExternalGitLabEnabled      bool     `env:"AUTH_EXTERNAL_GITLAB_ENABLED" default:"false" desc:"Auth: allow sign-in with GitLab (signInWithOAuth)."`
	ExternalGitLabClientID     []string `env:"AUTH_EXTERNAL_GITLAB_CLIENT_ID" desc:"Auth: GitLab OAuth client ID."`
	ExternalGitLabSecret       string   `env:"AUTH_EXTERNAL_GITLAB_SECRET" secret:"true" desc:"Auth: GitLab OAuth client secret."`
	ExternalGitLabRedirectURI  string   `env:"AUTH_EXTERNAL_GITLAB_REDIRECT_URI" desc:"Auth: GitLab callback URL registered with the provider. Default: <API_EXTERNAL_URL>/auth/v1/callback."`
	ExternalGitLabURL          string   `env:"AUTH_EXTERNAL_GITLAB_URL" desc:"Auth: GitLab: base URL (default https://gitlab.com, or a self-managed GitLab)."`
	ExternalGoogleEnabled      bool     `env:"AUTH_EXTERNAL_GOOGLE_ENABLED" default:"false" desc:"Auth: allow sign-in with Google (signInWithOAuth, signInWithIdToken)."`
	ExternalGoogleClientID     []string `env:"AUTH_EXTERNAL_GOOGLE_CLIENT_ID" desc:"Auth: Google OAuth client ID (comma-separated: the first starts redirects; every one is an accepted ID token audience, e.g. iOS and web clients)."`
	ExternalGoogleSecret       string   `env:"AUTH_EXTERNAL_GOOGLE_SECRET" secret:"true" desc:"Auth: Google OAuth client secret."`
	ExternalGoogleRedirectURI  string   `env:"AUTH_EXTERNAL_GOOGLE_REDIRECT_URI" desc:"Auth: Google callback URL registered with the provider. Default: <API_EXTERNAL_URL>/auth/v1/callback."`
	ExternalGoogleURL          string   `env:"AUTH_EXTERNAL_GOOGLE_URL" desc:"Auth: Google: the issuer (default https://accounts.google.com), whose /.well-known/openid-configuration gives the endpoints and keys."`
	ExternalOIDCEnabled        bool     `env:"AUTH_EXTERNAL_OIDC_ENABLED" default:"false" desc:"Auth: allow sign-in with a generic OpenID Connect provider (provider=oidc) (signInWithOAuth, signInWithIdToken)."`
	ExternalOIDCClientID       []string `env:"AUTH_EXTERNAL_OIDC_CLIENT_ID" desc:"Auth: OIDC OAuth client ID (comma-separated: the first starts redirects; every one is an accepted ID token audience, e.g. iOS and web clients)."`
	ExternalOIDCSecret         string   `env:"AUTH_EXTERNAL_OIDC_SECRET" secret:"true" desc:"Auth: OIDC OAuth client secret."`
	ExternalOIDCRedirectURI    string   `env:"AUTH_EXTERNAL_OIDC_REDIRECT_URI" desc:"Auth: OIDC callback URL registered with the provider. Default: <API_EXTERNAL_URL>/auth/v1/callback."`
	ExternalOIDCURL            string   `env:"AUTH_EXTERNAL_OIDC_URL" desc:"Auth: OIDC: the issuer (required when enabled), whose /.well-known/openid-configuration gives the endpoints and keys."`
	ManualLinking              bool     `env:"AUTH_MANUAL_LINKING_ENABLED" default:"false" desc:"Auth: signed-in users may link (linkIdentity) and unlink (unlinkIdentity) OAuth identities."`
	// Passkeys (WebAuthn): see auth_passkey.go.
	PasskeyEnabled      string        `env:"AUTH_PASSKEY_ENABLED" desc:"Auth: passkey (WebAuthn) registration and sign-in under /passkeys (true or false). Default: true in madbase dev, false otherwise."`
	PasskeyRPID         string        `env:"AUTH_PASSKEY_RP_ID" desc:"Auth: passkeys' relying party id: the domain of the app's pages (example.com; no scheme or port), which passkeys are bound to. Default: SITE_URL's host; in madbase dev, the host of the calling page's Origin header when it has one."`
	PasskeyRPName       string        `env:"AUTH_PASSKEY_RP_NAME" desc:"Auth: the app's name that authenticators show beside a passkey. Default: the relying party id."`
	PasskeyRPOrigins    []string      `env:"AUTH_PASSKEY_RP_ORIGINS" desc:"Auth: origins of the pages allowed to use passkeys, comma-separated (https://app.example.com), each on the relying party id's domain. Default: SITE_URL's origin; in madbase dev, the calling page's Origin when the relying party id is not set."`
	PasskeyChallengeExp time.Duration `env:"AUTH_PASSKEY_CHALLENGE_EXPIRY" default:"5m" desc:"Auth: how long a passkey registration or sign-in challenge may be answered (once)."`
	PasskeyMaxPerUser   int           `env:"AUTH_PASSKEY_MAX_PER_USER" default:"10" desc:"Auth: most passkeys one user may register."`
}

// Rate is a limit of N events per Per; a zero N means no limit.
type Rate struct {
	N   int
	Per time.Duration
}

// Off reports whether the rate limits nothing.
func (r Rate) Off() bool { return r.N <= 0 || r.Per <= 0 }

// ParseRate reads "N/duration" (30/5m, 150/300s, 2/1h), or "0" / "off" for no
// limit.
func ParseRate(s string) (Rate, error) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "0", "off", "none", "false":
		return Rate{}, nil
	}
	n, per, ok := strings.Cut(s, "/")
	if !ok {
		return Rate{}, fmt.Errorf("not N/duration (like 30/5m): %q", s)
	}
	count, err := strconv.Atoi(strings.TrimSpace(n))
	if err != nil || count < 0 {
		return Rate{}, fmt.Errorf("not N/duration (like 30/5m): %q", s)
	}
	d, err := time.ParseDuration(strings.TrimSpace(per))
	if err != nil || d <= 0 {
		return Rate{}, fmt.Errorf("not N/duration (like 30/5m): %q", s)
	}
	return Rate{N: count, Per: d}, nil
}

// AutoBool resolves a true/false setting whose empty value means def.
func AutoBool(s string, def bool) (bool, error) {
	if strings.TrimSpace(s) == "" {
		return def, nil
	}
	return strconv.ParseBool(strings.TrimSpace(s))
}

// AutoRate resolves a rate setting whose empty value means off in dev and
// def otherwise.
func AutoRate(s string, dev bool, def Rate) (Rate, error) {
	if strings.TrimSpace(s) == "" {
		if dev {
			return Rate{}, nil
		}
		return def, nil
	}
	return ParseRate(s)
}

// Validate checks the auth settings; dev is madbase dev's relaxed mode.
func (a *Auth) Validate(dev bool) error {
	var errs []error
	if a.SiteURL != "" {
		errs = append(errs, checkHTTPURL("SITE_URL", a.SiteURL))
	}
	if a.APIExternalURL != "" {
		errs = append(errs, checkHTTPURL("API_EXTERNAL_URL", a.APIExternalURL))
	}
	for _, u := range a.URIAllowList {
		if _, err := url.Parse(strings.ReplaceAll(u, "*", "x")); err != nil {
			errs = append(errs, fmt.Errorf("AUTH_URI_ALLOW_LIST: not a URL pattern: %q", u))
		}
	}
	if a.JWTExp < 120 {
		errs = append(errs, fmt.Errorf("JWT_EXP: must be at least 120 seconds (clients refresh 90 s before expiry), not %d", a.JWTExp))
	}
	for _, b := range []struct{ name, v string }{{"AUTH_AUTOCONFIRM", a.Autoconfirm}, {"AUTH_ANONYMOUS_USERS", a.AnonymousUsers}} {
		if _, err := AutoBool(b.v, false); err != nil {
			errs = append(errs, fmt.Errorf("%s: not a boolean (true or false): %q", b.name, b.v))
		}
	}
	if a.PasswordMinLength < 1 || a.PasswordMinLength > 72 {
		errs = append(errs, fmt.Errorf("AUTH_PASSWORD_MIN_LENGTH: must be between 1 and 72, not %d", a.PasswordMinLength))
	}
	if a.BcryptConcurrency < 0 {
		errs = append(errs, errors.New("AUTH_BCRYPT_CONCURRENCY: must not be negative"))
	}
	if a.RefreshReuseInterval < 0 || a.SessionTimebox < 0 || a.SessionInactivity < 0 {
		errs = append(errs, errors.New("AUTH_REFRESH_TOKEN_REUSE_INTERVAL, AUTH_SESSION_TIMEBOX, AUTH_SESSION_INACTIVITY_TIMEOUT: must not be negative"))
	}
	if a.OTPExp <= 0 {
		errs = append(errs, errors.New("AUTH_OTP_EXP: must be positive"))
	}
	if a.OTPLength < 6 || a.OTPLength > 10 {
		errs = append(errs, fmt.Errorf("AUTH_OTP_LENGTH: must be between 6 and 10, not %d", a.OTPLength))
	}
	if a.MailMinInterval < 0 {
		errs = append(errs, errors.New("AUTH_MAIL_MIN_INTERVAL: must not be negative"))
	}
	for _, r := range []struct{ name, v string }{
		{"AUTH_RATE_LIMIT_SIGN_IN", a.RateSignIn}, {"AUTH_RATE_LIMIT_SIGN_IN_EMAIL", a.RateSignInEmail},
		{"AUTH_RATE_LIMIT_TOKEN_REFRESH", a.RateRefresh}, {"AUTH_RATE_LIMIT_OTP", a.RateOTP},
		{"AUTH_RATE_LIMIT_VERIFY", a.RateVerify}, {"AUTH_RATE_LIMIT_ANONYMOUS_USERS", a.RateAnonymous},
		{"AUTH_RATE_LIMIT_EMAIL_SENT", a.RateEmailSent},
	} {
		if strings.TrimSpace(r.v) == "" {
			continue
		}
		if _, err := ParseRate(r.v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.name, err))
		}
	}
	errs = append(errs, a.validateMFA())
	errs = append(errs, a.validateExternal())
	errs = append(errs, a.validatePasskey(dev))
	if a.SMTPHost != "" && a.APIExternalURL == "" && !dev {
		errs = append(errs, errors.New("API_EXTERNAL_URL: required with SMTP_HOST outside madbase dev: links in mails must not be built from a request's Host header"))
	}
	if a.SMTPHost != "" {
		if a.SMTPPort <= 0 || a.SMTPPort > 65535 {
			errs = append(errs, fmt.Errorf("SMTP_PORT: not a port number: %d", a.SMTPPort))
		}
		if !strings.Contains(a.SMTPAdminEmail, "@") {
			errs = append(errs, fmt.Errorf("SMTP_ADMIN_EMAIL: not an email address: %q", a.SMTPAdminEmail))
		}
	}
	return errors.Join(errs...)
}
