// Package auth serves /auth/v1: a GoTrue-compatible auth API that
// supabase-js's `supabase.auth` and `supabase.auth.admin` use unchanged
// (docs/api/auth.md is the contract). Users, sessions and refresh tokens
// live in the auth schema (worker/migrations/auth) with GoTrue's names; the
// worker stays stateless, so any worker answers any request.
//
// One file per endpoint family: signup, token (password, refresh, pkce),
// user, logout, otp (otp, recover, resend, reauthenticate), verify, admin,
// invite and generate_link, settings, mfa, external providers (external,
// oauth*: authorize, callback, id_token grant), identities, sso (SAML and
// Web3 answered as disabled); beside them the errors renderer, the
// rate limiter, the mailer and the password hasher.
package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/madbase/madbase/shared/db"
	"github.com/madbase/madbase/worker/internal/api"
	"github.com/madbase/madbase/worker/internal/apikey"
	"github.com/prometheus/client_golang/prometheus"
)

// requestTimeout bounds each request's database work.
const requestTimeout = 15 * time.Second

// maxBodyBytes is the largest JSON body the auth API reads (docs/api/auth.md §1).
const maxBodyBytes = 1 << 20

// service holds what every handler uses.
type service struct {
	log    *slog.Logger
	db     *pgxpool.Pool
	cfg    settings
	keys   *apikey.Keys
	secret []byte
	hasher *hasher
	limits *limiter
	mailer Mailer
	sms    SMSSender // nil: no SMS provider
	base   context.Context
	now    func() time.Time
	// httpClient calls the external providers; oidc caches their
	// discovery documents and keys.
	httpClient *http.Client
	oidc       oidcProviders
	// showUser reads GET /user's user within requestTimeout: through a
	// userBatcher when the pool's connections keep prepared statements,
	// else with shownUserWithSession.
	showUser func(ctx context.Context, q querier, id, sessionID uuid.UUID) (*user, bool, error)
}

// Options tune a service beyond api.Deps, for tests.
type Options struct {
	// Now replaces the clock.
	Now func() time.Time
	// Mailer replaces the mailer chosen from the configuration.
	Mailer Mailer
	// SMS replaces the SMS sender chosen from the configuration.
	SMS SMSSender
	// HTTPClient replaces the client that calls external providers.
	HTTPClient *http.Client
	// bcryptCost replaces the cost of new hashes (tests: speed).
	bcryptCost int
}

// Register mounts /auth/v1 on r.
func Register(r fiber.Router, d api.Deps) {
	RegisterWith(r, d, Options{})
}

// RegisterWith is Register with test options.
func RegisterWith(r fiber.Router, d api.Deps, opts Options) {
	s, err := newService(d, opts)
	g := r.Group("/auth/v1")
	if err != nil {
		// The worker validated the configuration; this cannot happen
		// unless a test hands in a bad one. Answer every request with a
		// 500 rather than panic.
		log := d.Log
		if log == nil {
			log = slog.New(slog.DiscardHandler)
		}
		log = log.With("component", "auth")
		log.Error("auth disabled: bad configuration", "error", err.Error())
		// The errors still go through auth's renderer, in auth-js's shape.
		broken := &service{log: log}
		g.Use(broken.handleErrors, func(c *fiber.Ctx) error {
			return internalError("Auth is not configured", err)
		})
		return
	}
	g.Use(s.handleErrors, s.requireAPIKey)
	s.routes(g)
}

func (s *service) routes(g fiber.Router) {
	g.Get("/health", s.health)
	g.Get("/settings", s.settings)
	g.Get("/.well-known/jwks.json", s.jwks)

	g.Post("/signup", s.needDB, s.signup)
	g.Post("/token", s.needDB, s.token)
	g.Get("/user", s.needDB, s.getUser)
	g.Put("/user", s.needDB, s.updateUser)
	g.Post("/logout", s.needDB, s.logout)
	g.Post("/recover", s.needDB, s.recover)
	g.Post("/otp", s.needDB, s.otp)
	g.Post("/magiclink", s.needDB, s.otp)
	g.Post("/resend", s.needDB, s.resend)
	g.Get("/reauthenticate", s.needDB, s.reauthenticate)
	g.Get("/verify", s.needDB, s.verifyGet)
	g.Post("/verify", s.needDB, s.verifyPost)

	g.Post("/invite", s.needDB, s.requireAdmin, s.invite)
	admin := g.Group("/admin", s.needDB, s.requireAdmin)
	admin.Post("/generate_link", s.generateLink)
	admin.Get("/users", s.adminListUsers)
	admin.Post("/users", s.adminCreateUser)
	admin.Get("/users/:id", s.adminGetUser)
	admin.Put("/users/:id", s.adminUpdateUser)
	admin.Delete("/users/:id", s.adminDeleteUser)
	admin.Get("/users/:id/factors", s.adminListFactors)
	admin.Delete("/users/:id/factors/:factor", s.adminDeleteFactor)
	s.mfaRoutes(g)

	// External providers (signInWithOAuth, linkIdentity) and the features
	// answered as disabled (oauth.go, identities.go, sso.go).
	g.Get("/authorize", s.needDB, s.authorize)
	g.Get("/callback", s.needDB, s.callback)
	g.Post("/callback", s.needDB, s.callback)
	ids := g.Group("/user/identities", s.needDB, s.requireManualLinking)
	ids.Get("/authorize", s.linkIdentity)
	ids.Delete("/:id", s.unlinkIdentity)
	g.Post("/sso", s.samlDisabled)
	g.Get("/sso/saml/metadata", s.samlDisabled)
	g.Post("/sso/saml/acs", s.samlDisabled)
	s.passkeyRoutes(g) // passkey.go: /passkeys and /admin/users/{id}/passkeys
}

func newService(d api.Deps, opts Options) (*service, error) {
	log := d.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "auth")
	cfg, err := resolveSettings(d.Config.Auth, d.Dev)
	if err != nil {
		return nil, err
	}
	if d.Config.JWTSecret == "" {
		return nil, errors.New("JWT_SECRET is empty")
	}
	base := d.BaseContext
	if base == nil {
		base = context.Background()
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	var reg prometheus.Registerer
	if d.Registry != nil {
		reg = d.Registry
	}
	s := &service{
		log:    log,
		db:     d.DB,
		cfg:    cfg,
		keys:   apikey.New(d.Config.JWTSecret),
		secret: []byte(d.Config.JWTSecret),
		hasher: newHasher(d.Config.Auth.BcryptConcurrency, log),
		base:   base,
		now:    now,
	}
	s.showUser = func(ctx context.Context, q querier, id, sessionID uuid.UUID) (*user, bool, error) {
		ctx, cancel := context.WithTimeout(ctx, requestTimeout)
		defer cancel()
		return shownUserWithSession(ctx, q, id, sessionID)
	}
	if d.DB != nil && db.KeepsPreparedStatements(d.DB) {
		b := newUserBatcher(d.DB, base)
		s.showUser = func(ctx context.Context, _ querier, id, sessionID uuid.UUID) (*user, bool, error) {
			return b.read(ctx, id, sessionID)
		}
	}
	s.httpClient = opts.HTTPClient
	if s.httpClient == nil {
		s.httpClient = &http.Client{Timeout: providerTimeout}
	}
	if opts.bcryptCost != 0 {
		s.hasher.cost = opts.bcryptCost
	}
	s.limits, err = newLimiter(d.Config.RedisURL, d.Project, log, reg)
	if err != nil {
		return nil, err
	}
	if s.limits.redis != nil {
		// The worker cancels BaseContext once requests are done.
		rc := s.limits.redis
		context.AfterFunc(base, func() { _ = rc.Close() })
	}
	s.sms = smsSender(opts, cfg.mfa)
	if opts.Mailer != nil {
		s.mailer = opts.Mailer
	} else {
		s.mailer = newMailer(d.Config.Auth, d.Dev, d.NATS, log)
	}
	return s, nil
}

// handleErrors renders every error of the group in the auth shape, panics
// included, so the app's default shape never reaches auth-js.
func (s *service) handleErrors(c *fiber.Ctx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = s.render(c, internalError("Unexpected failure", fmt.Errorf("panic: %v", r)))
		}
	}()
	if err := c.Next(); err != nil {
		return s.render(c, toError(err))
	}
	return nil
}

// openPaths are reached by browser navigations (email links, OAuth) or
// probes, which carry no apikey (docs/api/auth.md §1, Kong parity; the issue adds
// health and settings).
var openPaths = map[string]bool{
	"/verify": true, "/callback": true, "/authorize": true, "/.well-known/jwks.json": true,
	"/health": true, "/settings": true,
}

// requireAPIKey answers 401 {"message"} as the gateway does when the apikey
// header (or ?apikey=) is missing or is not one of the project's keys.
func (s *service) requireAPIKey(c *fiber.Ctx) error {
	if openPaths[strings.TrimSuffix(strings.TrimPrefix(c.Path(), "/auth/v1"), "/")] {
		return c.Next()
	}
	// Read in place: the key is only checked here (apikey.FromRequest
	// copies it for handlers that keep it).
	key := c.Get("apikey")
	if key == "" {
		key = c.Query("apikey")
	}
	if _, err := s.keys.KeyRole(key); err != nil {
		if errors.Is(err, apikey.ErrNoKey) {
			return gatewayError("No API key found in request")
		}
		return gatewayError("Invalid API key")
	}
	return c.Next()
}

// needDB refuses requests when the worker runs without a database.
func (s *service) needDB(c *fiber.Ctx) error {
	if s.db == nil {
		return internalError("Database not configured", errors.New("the worker has no DATABASE_URL"))
	}
	return c.Next()
}

// ctx is the context a handler's database work runs under.
func (s *service) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(s.base, requestTimeout)
}

// tx runs fn in a transaction, committing when it returns nil. BEGIN goes
// with fn's first statement (db.InTx): one round trip less per transaction.
func (s *service) tx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return db.InTx(ctx, s.db, func(_ context.Context, tx pgx.Tx) error { return fn(tx) })
}

// client is what a request tells about its sender.
type client struct {
	IP        string // the client's address as the edge saw it
	UserAgent string
}

// clientOf reads the client's address: the last X-Forwarded-For entry, which
// the edge appends, else the peer address.
func clientOf(c *fiber.Ctx) client {
	ip := ""
	if xff := c.Get(fiber.HeaderXForwardedFor); xff != "" {
		parts := strings.Split(xff, ",")
		ip = strings.TrimSpace(parts[len(parts)-1])
	}
	if net.ParseIP(ip) == nil {
		ip = c.IP()
	}
	ua := c.Get(fiber.HeaderUserAgent)
	if len(ua) > 512 {
		ua = ua[:512]
	}
	return client{IP: strings.Clone(ip), UserAgent: strings.Clone(ua)}
}

// externalURL is the public base URL of the API: API_EXTERNAL_URL, else the
// scheme and host the edge saw.
func (s *service) externalURL(c *fiber.Ctx) string {
	if s.cfg.apiExternalURL != "" {
		return s.cfg.apiExternalURL
	}
	proto := c.Get(fiber.HeaderXForwardedProto)
	if proto != "https" {
		proto = "http"
	}
	host := c.Get(fiber.HeaderXForwardedHost)
	if host == "" {
		host = c.Hostname()
	}
	if host == "" || strings.ContainsAny(host, "/\\@ ") {
		host = "localhost"
	}
	u := url.URL{Scheme: proto, Host: host}
	return u.String()
}

// issuer is the access tokens' iss claim.
func (s *service) issuer(c *fiber.Ctx) string { return s.externalURL(c) + "/auth/v1" }
