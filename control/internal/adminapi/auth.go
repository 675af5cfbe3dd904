package adminapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"log/slog"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/madbase/madbase/shared/apierr"
	"github.com/madbase/madbase/shared/httpserver"
)

// Realm is what WWW-Authenticate names on a 401, so browsers offer a
// password prompt.
const Realm = `Basic realm="madbase admin"`

// peerFactor is how many more failures a whole peer may make than one client
// behind it (the edge is one peer for every client).
const peerFactor = 10

// Guard checks the admin password and throttles failed attempts.
type Guard struct {
	Password string
	// Clients limits failures per client address, Peers per connection peer;
	// nil ones take NewThrottle's defaults (Peers peerFactor times larger).
	Clients, Peers *Throttle
	Log            *slog.Logger
}

// RequireAdmin lets a request through when it carries the admin password,
// either as `Authorization: Bearer <password>` or as Basic auth with any user
// name. Digests of both sides are compared in constant time, so neither the
// content nor the length of the password leaks through timing. An empty
// password locks the admin API. Failed attempts are limited per client
// address (429 with Retry-After) and logged without what was sent.
func RequireAdmin(g Guard) fiber.Handler {
	want := sha256.Sum256([]byte(g.Password))
	if g.Clients == nil {
		g.Clients = NewThrottle(0, 0)
	}
	if g.Peers == nil {
		g.Peers = NewThrottle(g.Clients.burst*peerFactor, g.Clients.every/peerFactor)
	}
	if g.Log == nil {
		g.Log = slog.New(slog.DiscardHandler)
	}
	return func(c *fiber.Ctx) error {
		if g.Password == "" {
			c.Set(fiber.HeaderWWWAuthenticate, Realm)
			return apierr.Unauthorized("the admin API is locked: ADMIN_PASSWORD is not set")
		}
		client, peer := clientAddress(c)
		if wait := max(g.Clients.Wait(client), g.Peers.Wait(peer)); wait > 0 {
			return tooManyFailures(wait)
		}
		given, ok := credentials(c.Get(fiber.HeaderAuthorization))
		if !ok {
			c.Set(fiber.HeaderWWWAuthenticate, Realm)
			return apierr.Unauthorized("admin credentials required: send Authorization: Bearer <ADMIN_PASSWORD> or Basic auth")
		}
		got := sha256.Sum256([]byte(given))
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			g.Clients.Fail(client)
			g.Peers.Fail(peer)
			g.Log.Warn("admin sign-in refused: wrong password", "component", "adminapi", "client", client,
				"request_id", httpserver.RequestID(c))
			c.Set(fiber.HeaderWWWAuthenticate, Realm)
			return apierr.Unauthorized("invalid admin credentials")
		}
		return c.Next()
	}
}

func tooManyFailures(wait time.Duration) *apierr.Error {
	e := apierr.New(fiber.StatusTooManyRequests, apierr.CodeTooManyRequests,
		"too many failed admin sign-ins from this address; retry later")
	e.Headers = map[string]string{fiber.HeaderRetryAfter: retryAfter(wait)}
	return e
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
