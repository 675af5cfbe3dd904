// Package api builds the worker's HTTP API, a fiber app: the shared middleware from
// shared/httpserver, the in-flight counter the heartbeat reports, /health,
// /metrics, and the API capabilities (auth, rest, storage, realtime), each
// registered through one Capability hook.
package api

import (
	"context"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/madbase/madbase/shared/apierr"
	"github.com/madbase/madbase/shared/config"
	"github.com/madbase/madbase/shared/httpserver"
	"github.com/madbase/madbase/shared/metrics"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
)

// Deps is what a capability gets to build its handlers. Capabilities keep
// what they need at registration; none of it changes while the worker runs.
type Deps struct {
	// Log carries tier and instance; capabilities add their "component".
	Log *slog.Logger
	// DB is the PostgreSQL pool; nil when the worker runs without a database
	// (tests of the platform itself). Data access goes through db.WithClaims.
	DB *pgxpool.Pool
	// Config is the worker's validated configuration.
	Config config.Worker
	// NATS is the worker's bus connection (realtime fan-out, config changes).
	NATS *nats.Conn
	// Registry takes the capability's metrics (madbase_worker_<thing>_<unit>).
	Registry *prometheus.Registry
	// BaseContext is cancelled during shutdown once in-flight requests had
	// their grace period: WebSocket and SSE streams, which never finish on
	// their own, end when it is done.
	BaseContext context.Context
	// Dev is true under `madbase dev`, whose defaults are relaxed (auth
	// autoconfirms sign-ups and keeps mails in the dev outbox).
	Dev bool
	// Background, when set, counts the capabilities' background work that
	// ends after BaseContext is done: whoever owns the deps waits for it
	// before closing NATS and the pool (a created project's runtime).
	Background *sync.WaitGroup
	// Project is the ref of the created project these deps serve, for what
	// a project namespaces (realtime subjects, storage keys); empty for the
	// default project, which keeps today's names.
	Project string
	// Carry, when set, holds what a created project's capabilities keep
	// from one of its runtimes to the next (REST keeps its schema, so a
	// project closed and opened again checks its catalog instead of
	// loading it). Keys are the capability's own.
	Carry *sync.Map
}

// Capability registers one API surface (auth, rest, storage, realtime) on the
// worker's router. Each capability package exports one as Register.
type Capability func(r fiber.Router, deps Deps)

// Options configure New.
type Options struct {
	// ID is the worker's instance id, reported by /health.
	ID string
	// Version is the build version, reported by /health.
	Version string
	// Deps are handed to every capability.
	Deps Deps
	// Metrics measures requests; nil leaves them unmeasured.
	Metrics *metrics.HTTP
	// Capabilities are registered in order after /health and /metrics.
	Capabilities []Capability
	// Dispatch, when set, runs before the capabilities: it answers a
	// created project's requests itself and calls Next for the default
	// project's.
	Dispatch fiber.Handler
}

// App is the worker's HTTP application and the state its heartbeat reports.
type App struct {
	// Fiber is the app to serve.
	Fiber *fiber.App

	id       string
	version  string
	inFlight atomic.Int64
	draining atomic.Bool
}

// New builds the app. Request bodies are streamed (handlers read
// c.Context().RequestBodyStream() and enforce their own limits), so a large
// upload never sits in memory whole.
func New(opts Options) *App {
	a := &App{id: opts.ID, version: opts.Version}
	log := opts.Deps.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a.Fiber = httpserver.New(httpserver.Options{
		Log:        log.With("component", "http"),
		Metrics:    opts.Metrics,
		Render:     apierr.RenderDefault,
		BodyLimit:  bodyLimit(opts.Deps.Config.MaxBodyBytes),
		StreamBody: true,
	})
	a.Fiber.Use(a.countInFlight)
	a.Fiber.Get("/health", a.health)
	if opts.Deps.Registry != nil {
		a.Fiber.Get("/metrics", httpserver.MetricsHandler(opts.Deps.Registry))
	}
	if opts.Dispatch != nil {
		a.Fiber.Use(opts.Dispatch)
	}
	for _, c := range opts.Capabilities {
		c(a.Fiber, opts.Deps)
	}
	return a
}

// NewProject builds the app of one created project: the same capabilities
// on deps made for it, without /health, /metrics and the in-flight count,
// which the worker's app keeps. The worker's app hands it the requests of
// the project (see Options.Dispatch) through its Handler.
func NewProject(deps Deps, capabilities []Capability) *fiber.App {
	log := deps.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := httpserver.New(httpserver.Options{
		Log:        log.With("component", "http"),
		Render:     apierr.RenderDefault,
		BodyLimit:  bodyLimit(deps.Config.MaxBodyBytes),
		StreamBody: true,
	})
	for _, c := range capabilities {
		c(f, deps)
	}
	return f
}

// InFlight is how many API requests are being answered now (health checks
// and metric scrapes not counted), as the heartbeat reports it.
func (a *App) InFlight() int64 { return a.inFlight.Load() }

// Draining reports whether the worker is shutting down.
func (a *App) Draining() bool { return a.draining.Load() }

// SetDraining marks the worker as shutting down: /health answers 503 from now
// on, so health-checking edges stop routing here too.
func (a *App) SetDraining() { a.draining.Store(true) }

// countInFlight keeps the in-flight count the heartbeat reports; the edge
// uses it to prefer idle workers. Only an atomic is touched on the request
// path.
func (a *App) countInFlight(c *fiber.Ctx) error {
	switch c.Path() {
	case "/health", "/metrics":
		return c.Next()
	}
	a.inFlight.Add(1)
	defer a.inFlight.Add(-1)
	return c.Next()
}

// healthBody is the /health answer. It is a contract with the edge's health
// checks and with operators' probes.
type healthBody struct {
	Status   string `json:"status"`
	ID       string `json:"id"`
	Version  string `json:"version"`
	Draining bool   `json:"draining"`
}

func (a *App) health(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	if a.Draining() {
		return c.Status(fiber.StatusServiceUnavailable).JSON(healthBody{Status: "draining", ID: a.id, Version: a.version, Draining: true})
	}
	return c.JSON(healthBody{Status: "ok", ID: a.id, Version: a.version})
}

// bodyLimit converts MAX_BODY_BYTES to fiber's int limit.
func bodyLimit(n int64) int {
	switch {
	case n <= 0:
		return 0 // httpserver's default
	case n > math.MaxInt:
		return math.MaxInt
	}
	return int(n)
}
