package adminapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/madbase/madbase/shared/apierr"
)

// Realm is what WWW-Authenticate names on a 401, so browsers offer a
// password prompt.
const Realm = `Basic realm="madbase admin"`

// RequireAdmin lets a request through when it carries the admin password,
// either as `Authorization: Bearer <password>` or as Basic auth with any user
// name. Digests of both sides are compared in constant time, so neither the
// content nor the length of the password leaks through timing. An empty
// password locks the admin API.
func RequireAdmin(password string) fiber.Handler {
	want := sha256.Sum256([]byte(password))
	return func(c *fiber.Ctx) error {
		if password == "" {
			c.Set(fiber.HeaderWWWAuthenticate, Realm)
			return apierr.Unauthorized("the admin API is locked: ADMIN_PASSWORD is not set")
		}
		given, ok := credentials(c.Get(fiber.HeaderAuthorization))
		if !ok {
			c.Set(fiber.HeaderWWWAuthenticate, Realm)
			return apierr.Unauthorized("admin credentials required: send Authorization: Bearer <ADMIN_PASSWORD> or Basic auth")
		}
		got := sha256.Sum256([]byte(given))
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			c.Set(fiber.HeaderWWWAuthenticate, Realm)
			return apierr.Unauthorized("invalid admin credentials")
		}
		return c.Next()
	}
}

// credentials extracts the password from a Bearer or Basic Authorization
// header value.
func credentials(header string) (string, bool) {
	scheme, rest, found := strings.Cut(strings.TrimSpace(header), " ")
	if !found {
		return "", false
	}
	rest = strings.TrimSpace(rest)
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		return rest, rest != ""
	case strings.EqualFold(scheme, "Basic"):
		raw, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return "", false
		}
		_, pw, ok := strings.Cut(string(raw), ":")
		return pw, ok
	}
	return "", false
}
