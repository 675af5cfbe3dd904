package auth

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/madbase/madbase/shared/apierr"
)

// emailRE is the address shape GoTrue accepts (a dot-less domain such as
// localhost included).
var emailRE = regexp.MustCompile("^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$")

// normalizeEmail trims and lower-cases an address and checks its shape.
func normalizeEmail(raw string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(raw))
	if e == "" {
		return "", validationFailed("An email address is required")
	}
	if len(e) > 255 || !emailRE.MatchString(e) {
		return "", validationFailed("Unable to validate email address: invalid format")
	}
	return e, nil
}

// phoneRE is E.164 without the '+'.
var phoneRE = regexp.MustCompile(`^[1-9][0-9]{1,14}$`)

// normalizePhone stores a phone number as GoTrue does: without '+', spaces,
// dashes or brackets.
func normalizePhone(raw string) (string, error) {
	p := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', '(', ')', '.', '\t':
			return -1
		}
		return r
	}, strings.TrimSpace(raw))
	p = strings.TrimPrefix(p, "+")
	if !phoneRE.MatchString(p) {
		return "", validationFailed("Invalid phone number format (E.164 required)")
	}
	return p, nil
}

// redirectTo picks where a flow sends the browser: raw when SITE_URL's host
// or the allow-list permits it, else SITE_URL.
func (cfg *settings) redirectTo(raw string) string {
	if raw = strings.TrimSpace(raw); raw != "" && cfg.redirectAllowed(raw) {
		return raw
	}
	return cfg.siteURL
}

// redirectAllowed reports whether raw may be redirected to: an absolute
// http(s) URL (or an app scheme on the allow-list) without user info, whose
// host is SITE_URL's or which matches an allow-list pattern.
func (cfg *settings) redirectAllowed(raw string) bool {
	if len(raw) > 2048 || !utf8.ValidString(raw) || strings.ContainsAny(raw, "\r\n\t\\") {
		return false
	}
	u, err := url.Parse(raw)
	if err != nil || u.User != nil || u.Scheme == "" {
		return false
	}
	for _, re := range cfg.allowList {
		if re.MatchString(raw) {
			return true
		}
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return false
	}
	host := strings.ToLower(u.Hostname())
	return host != "" && host == cfg.siteHost
}

// checkPassword applies the strength rules: a weak_password error listing
// the reasons, or nil.
func (cfg *settings) checkPassword(pw string) *apierr.Error {
	var reasons []string
	var msgs []string
	if utf8.RuneCountInString(pw) < cfg.passwordMinLength {
		reasons = append(reasons, "length")
		msgs = append(msgs, fmt.Sprintf("Password should be at least %d characters.", cfg.passwordMinLength))
	} else if len(pw) > 72 {
		reasons = append(reasons, "length")
		msgs = append(msgs, "Password cannot be longer than 72 characters.")
	}
	if len(cfg.passwordChars) > 0 {
		for _, set := range cfg.passwordChars {
			if !strings.ContainsAny(pw, set) {
				reasons = append(reasons, "characters")
				msgs = append(msgs, "Password should contain at least one character of each: "+strings.Join(cfg.passwordChars, ", ")+".")
				break
			}
		}
	}
	if len(reasons) == 0 {
		return nil
	}
	e := unprocessable(CodeWeakPassword, "%s", strings.Join(msgs, " "))
	e.Extra = errExtra{Reasons: reasons}
	return e
}
