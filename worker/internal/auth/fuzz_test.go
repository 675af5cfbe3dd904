package auth

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/madbase/madbase/shared/config"
)

// FuzzInput runs every parser of user input on arbitrary text: the JSON
// bodies of each endpoint, the email and phone normalizers, the redirect
// check, the password rules, the rate syntax and stored-hash parsing. None
// may panic, and what they accept must hold their promises.
func FuzzInput(f *testing.F) {
	for _, s := range []string{
		`{"email":"a@example.com","password":"secret-123","data":{"n":1}}`,
		`{"refresh_token":"abc"}`, `{"type":"signup","token_hash":"00"}`, `{"email": 5}`, `[]`, `{`, `null`,
		`{"data":{"a":null,"b":[1,2,{"c":"d"}]}}`, `{"email":"x@y"} trailing`, "\x00\xff",
		"A@Example.COM", "+1 (555) 123-4567", "http://app.test:3000/x", "myapp://cb", "javascript:alert(1)",
		"https://user:pw@app.test:3000", "30/5m", "0", "1/0s", "$argon2id$v=19$m=64,t=2,p=1$c2FsdA$aGFzaGhhc2g",
		"$2a$10$abcdefghijklmnopqrstuu", strings.Repeat("é", 80),
	} {
		f.Add(s)
	}
	cfg := settings{siteURL: "http://app.test:3000", siteHost: "app.test", passwordMinLength: 6,
		passwordChars: []string{"abc", "0123456789"},
		allowList:     []*regexp.Regexp{compileGlob("myapp://**"), compileGlob("https://*.preview.test/**")}}
	f.Fuzz(func(t *testing.T, s string) {
		b := []byte(s)
		for _, dst := range []any{&signupParams{}, &tokenParams{}, &updateUserParams{}, &recoverParams{}, &otpParams{},
			&resendParams{}, &verifyParams{}, &adminUserParams{}, &generateLinkParams{}, &inviteParams{}, &deleteParams{}} {
			if err := decodeJSON(b, dst); err != nil && toError(err).Status != 400 {
				t.Fatalf("decoding error is not a 400: %v", err)
			}
		}
		if e, err := normalizeEmail(s); err == nil {
			if e != strings.ToLower(e) || strings.ContainsAny(e, " \t\r\n") || !strings.Contains(e, "@") {
				t.Fatalf("accepted email %q", e)
			}
		}
		if p, err := normalizePhone(s); err == nil {
			for _, r := range p {
				if r < '0' || r > '9' {
					t.Fatalf("accepted phone %q", p)
				}
			}
		}
		got := cfg.redirectTo(s)
		if got != cfg.siteURL && got != strings.TrimSpace(s) {
			t.Fatalf("redirect %q became %q", s, got)
		}
		if got != cfg.siteURL && (strings.HasPrefix(strings.ToLower(got), "javascript:") || strings.Contains(got, "@")) {
			t.Fatalf("unsafe redirect accepted: %q", got)
		}
		if werr := cfg.checkPassword(s); werr == nil && (utf8.RuneCountInString(s) < 6 || len(s) > 72) {
			t.Fatalf("password of bad length accepted: %q", s)
		}
		if r, err := config.ParseRate(s); err == nil && !r.Off() && (r.N <= 0 || r.Per <= 0) {
			t.Fatalf("rate %q parsed to %+v", s, r)
		}
		_ = checkImportedHash(s)
		_, _ = pkceFrom(s, "s256")
		_ = verifierMatches("s256", s, s)
	})
}
