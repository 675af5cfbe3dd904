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

// SessionCookie names the dashboard's session cookie, and CSRFHeader the
// header that must repeat the session's CSRF token on every write made with
// it (control/internal/dashboard issues both).
const (
	SessionCookie = "madbase_session"
	CSRFHeader    = "X-CSRF-Token"
)

// Sessions answers for the dashboard's sessions: the CSRF token bound to a
// live session's token, or false when the token names none (unknown,
// expired or signed out).
type Sessions interface {
	CSRF(token string) (csrf string, ok bool)
}

// Guard checks the admin password and throttles failed attempts.
type Guard struct {
	Password string
	// Clients limits failures per client address, Peers per connection peer;
	// nil ones take NewThrottle's defaults (Peers peerFactor times larger).
	Clients, Peers *Throttle
	Log            *slog.Logger
	// Sessions, when set, lets a request in with the dashboard's session
	// cookie instead of the password.
	Sessions Sessions

	want [sha256.Size]byte
}

// NewGuard fills in g's defaults. The guard it returns is shared by the
// admin API and the dashboard's sign-in, so both spend the same allowance.
func NewGuard(g Guard) *Guard {
	g.want = sha256.Sum256([]byte(g.Password))
	if g.Clients == nil {
		g.Clients = NewThrottle(0, 0)
	}
	if g.Peers == nil {
		g.Peers = NewThrottle(g.Clients.burst*peerFactor, g.Clients.every/peerFactor)
	}
	if g.Log == nil {
		g.Log = slog.New(slog.DiscardHandler)
	}
	return &g
}

// RequireAdmin lets a request through when it carries the admin password,
// either as `Authorization: Bearer <password>` or as Basic auth with any user
// name, or, without an Authorization header, the dashboard's session cookie
// (writes also need the session's CSRF token in CSRFHeader). Digests of both
// sides of a password are compared in constant time, so neither the content
// nor the length of the password leaks through timing. An empty password
// locks the admin API. Failed attempts are limited per client address (429
// with Retry-After) and logged without what was sent.
func RequireAdmin(g Guard) fiber.Handler {
	return NewGuard(g).Require
}

// Require is RequireAdmin's handler.
func (g *Guard) Require(c *fiber.Ctx) error {
	header := c.Get(fiber.HeaderAuthorization)
	if header == "" && g.Sessions != nil && g.Password != "" {
		if token := c.Cookies(SessionCookie); token != "" {
			if err := g.checkSession(c, token); err != nil {
				return err
			}
			return c.Next()
		}
	}
	given, ok := credentials(header)
	if !ok && g.Password != "" {
		client, peer := clientAddress(c)
		if wait := max(g.Clients.Wait(client), g.Peers.Wait(peer)); wait > 0 {
			return tooManyFailures(wait)
		}
		challenge(c)
		return apierr.Unauthorized("admin credentials required: send Authorization: Bearer <ADMIN_PASSWORD> or Basic auth, or sign in to the dashboard")
	}
	if err := g.CheckPassword(c, given); err != nil {
		if e, ok := err.(*apierr.Error); ok && e.Status == fiber.StatusUnauthorized {
			challenge(c)
		}
		return err
	}
	return c.Next()
}

// CheckPassword answers nil when given is the admin password. Otherwise it
// answers the 401 (or, once the client's allowance is spent, the 429) to
// send, and charges the failure to the client and its peer.
func (g *Guard) CheckPassword(c *fiber.Ctx, given string) error {
	if g.Password == "" {
		return apierr.Unauthorized("the admin API is locked: ADMIN_PASSWORD is not set")
	}
	client, peer := clientAddress(c)
	if wait := max(g.Clients.Wait(client), g.Peers.Wait(peer)); wait > 0 {
		return tooManyFailures(wait)
	}
	got := sha256.Sum256([]byte(given))
	if subtle.ConstantTimeCompare(got[:], g.want[:]) != 1 {
		g.Clients.Fail(client)
		g.Peers.Fail(peer)
		g.Log.Warn("admin sign-in refused: wrong password", "component", "adminapi", "client", client,
			"request_id", httpserver.RequestID(c))
		return apierr.Unauthorized("invalid admin credentials: the admin password is wrong")
	}
	return nil
}

// checkSession admits a request made with the session cookie: the session
// must be live, the request must come from the dashboard's own origin when
// the browser says where it comes from, and a write must repeat the
// session's CSRF token (a page of another origin can make the browser send
// the cookie, never read the token).
func (g *Guard) checkSession(c *fiber.Ctx, token string) error {
	csrf, ok := g.Sessions.CSRF(token)
	if !ok {
		return apierr.Unauthorized("the dashboard session has ended: sign in again")
	}
	if site := c.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return apierr.Forbidden("a dashboard session is only accepted from the dashboard's own origin")
	}
	switch c.Method() {
	case fiber.MethodGet, fiber.MethodHead, fiber.MethodOptions:
		return nil
	}
	if !SameToken(c.Get(CSRFHeader), csrf) {
		return apierr.Forbidden("missing or wrong " + CSRFHeader + " header: a write with the dashboard session must carry the session's CSRF token")
	}
	return nil
}

// SameToken compares two tokens in constant time; an empty one never
// matches.
func SameToken(given, want string) bool {
	if given == "" || want == "" {
		return false
	}
	a, b := sha256.Sum256([]byte(given)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// challenge asks for Basic credentials on a 401, so a browser opening an
// admin URL offers its password prompt; but not to a script's request
// (Sec-Fetch-Mode other than navigate): the browser would hold the
// dashboard's fetch on a prompt instead of handing it the 401.
func challenge(c *fiber.Ctx) {
	if mode := c.Get("Sec-Fetch-Mode"); mode == "" || mode == "navigate" {
		c.Set(fiber.HeaderWWWAuthenticate, Realm)
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
