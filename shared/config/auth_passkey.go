package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// PasskeyRP is the WebAuthn relying party passkeys are bound to: the domain
// of the app's pages (not of the API: a browser only lets a page use
// passkeys of its own domain or a parent of it), the name authenticators
// show, and the page origins whose answers are accepted.
type PasskeyRP struct {
	ID      string
	Name    string
	Origins []string
}

// PasskeyRP resolves AUTH_PASSKEY_RP_ID, _RP_NAME and _RP_ORIGINS with their
// defaults: SITE_URL's host and origin, and the id as name. madbase dev's
// per-request default (the calling page's Origin) is the worker's to apply.
func (a *Auth) PasskeyRP() PasskeyRP {
	rp := PasskeyRP{ID: strings.ToLower(strings.TrimSpace(a.PasskeyRPID)), Name: strings.TrimSpace(a.PasskeyRPName)}
	site := a.SiteURL
	if site == "" {
		site = "http://localhost:3000"
	}
	var siteOrigin string
	if u, err := url.Parse(site); err == nil {
		siteOrigin, _ = PageOrigin(u.Scheme + "://" + u.Host)
	}
	if rp.ID == "" {
		if u, err := url.Parse(siteOrigin); err == nil {
			rp.ID = strings.ToLower(u.Hostname())
		}
	}
	for _, o := range a.PasskeyRPOrigins {
		if o = strings.TrimSpace(o); o != "" {
			if canon, err := PageOrigin(o); err == nil {
				o = canon
			}
			rp.Origins = append(rp.Origins, o)
		}
	}
	if len(rp.Origins) == 0 && siteOrigin != "" {
		rp.Origins = []string{siteOrigin}
	}
	if rp.Name == "" {
		rp.Name = rp.ID
	}
	return rp
}

// PageOrigin reads an http(s) origin (scheme://host[:port], nothing after
// it but a "/") and returns it in the form browsers put in clientDataJSON:
// lower-case, without a default port or a trailing slash.
func PageOrigin(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("not an http(s) origin (scheme://host[:port]): %q", raw)
	}
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if (u.Scheme == "http" && port == "80") || (u.Scheme == "https" && port == "443") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return strings.ToLower(u.Scheme) + "://" + host, nil
}

// CheckRPID reports whether id can be a relying party id: a domain name
// (localhost included), never an IP address, a port or a URL.
func CheckRPID(id string) error {
	if id == "" {
		return errors.New("empty")
	}
	if net.ParseIP(id) != nil {
		return fmt.Errorf("an IP address cannot be a relying party id: %q", id)
	}
	if len(id) > 253 || strings.HasPrefix(id, ".") || strings.HasSuffix(id, ".") {
		return fmt.Errorf("not a domain name: %q", id)
	}
	for _, label := range strings.Split(id, ".") {
		if label == "" || len(label) > 63 || strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") {
			return fmt.Errorf("not a domain name: %q", id)
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return fmt.Errorf("not a lower-case domain name: %q", id)
			}
		}
	}
	return nil
}

// OriginWithinRP reports whether a page at origin may use passkeys of the
// relying party id: its host is the id or a subdomain of it.
func OriginWithinRP(origin, id string) bool {
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	host := strings.ToLower(u.Hostname())
	return host == id || strings.HasSuffix(host, "."+id)
}

// validatePasskey checks the passkey settings. Outside madbase dev an
// enabled project needs a relying party its pages can use; in dev a bad
// default only matters once a page asks, and the worker says so then.
func (a *Auth) validatePasskey(dev bool) error {
	var errs []error
	enabled, err := AutoBool(a.PasskeyEnabled, dev)
	if err != nil {
		errs = append(errs, fmt.Errorf("AUTH_PASSKEY_ENABLED: not a boolean (true or false): %q", a.PasskeyEnabled))
	}
	if a.PasskeyChallengeExp <= 0 {
		errs = append(errs, errors.New("AUTH_PASSKEY_CHALLENGE_EXPIRY: must be positive"))
	}
	if a.PasskeyMaxPerUser < 1 {
		errs = append(errs, fmt.Errorf("AUTH_PASSKEY_MAX_PER_USER: must be at least 1, not %d", a.PasskeyMaxPerUser))
	}
	for _, o := range a.PasskeyRPOrigins {
		if strings.TrimSpace(o) == "" {
			continue
		}
		if _, err := PageOrigin(o); err != nil {
			errs = append(errs, fmt.Errorf("AUTH_PASSKEY_RP_ORIGINS: %w", err))
		}
	}
	explicit := strings.TrimSpace(a.PasskeyRPID) != ""
	if !explicit && !(enabled && !dev) {
		return errors.Join(errs...)
	}
	rp := a.PasskeyRP()
	if err := CheckRPID(rp.ID); err != nil {
		if explicit {
			errs = append(errs, fmt.Errorf("AUTH_PASSKEY_RP_ID: %w", err))
		} else {
			errs = append(errs, fmt.Errorf("AUTH_PASSKEY_RP_ID: required with AUTH_PASSKEY_ENABLED when SITE_URL's host cannot be one (%w)", err))
		}
		return errors.Join(errs...)
	}
	for _, o := range rp.Origins {
		if _, err := PageOrigin(o); err == nil && !OriginWithinRP(o, rp.ID) {
			errs = append(errs, fmt.Errorf("AUTH_PASSKEY_RP_ORIGINS: %s is not on the relying party's domain %s (AUTH_PASSKEY_RP_ID)", o, rp.ID))
		}
	}
	return errors.Join(errs...)
}
