// Package worker is the API tier: it serves auth, rest, storage and realtime
// behind the edge, announces itself on NATS and keeps no state of its own.
// Run wires it all, so the one binary, `madbase dev` and tests start a worker
// the same way.
package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/madbase/madbase/shared/config"
	"github.com/madbase/madbase/shared/db"
	"github.com/madbase/madbase/shared/jwtauth"
	"github.com/madbase/madbase/shared/lifecycle"
	"github.com/madbase/madbase/shared/metrics"
	"github.com/madbase/madbase/shared/scaffold"
	"github.com/madbase/madbase/worker/internal/announce"
	"github.com/madbase/madbase/worker/internal/api"
	"github.com/madbase/madbase/worker/internal/apikey"
	"github.com/madbase/madbase/worker/internal/auth"
	"github.com/madbase/madbase/worker/internal/functions"
	"github.com/madbase/madbase/worker/internal/projects"
	"github.com/madbase/madbase/worker/internal/realtime"
	"github.com/madbase/madbase/worker/internal/rest"
	"github.com/madbase/madbase/worker/internal/storage"
	"github.com/prometheus/client_golang/prometheus"
)

// Tier names the worker in log subjects, metrics and instance ids.
const Tier = "worker"

// Capability registers one API surface on the worker's router; see
// api.Capability. Exported so callers can add their own (tests add test-only
// routes through Options.Capabilities).
type Capability = api.Capability

// Deps is what a capability is built from; see api.Deps.
type Deps = api.Deps

// capabilities are the worker's API surfaces, registered in this order. A
// capability package joins with one line here (it cannot be listed in
// internal/api, which its Register imports for Deps).
var capabilities = []Capability{
	auth.Register,
	rest.Register,
	storage.Register,
	realtime.Register,
}

// Timeouts of the shutdown steps that are not configurable.
const (
	leaveFlushTimeout = time.Second
	// streamEndTimeout is how long handlers get to return once the base
	// context is cancelled, before their connections are closed.
	streamEndTimeout = time.Second
)

// Options are what a caller of Run provides beyond the configuration. Every
// field is optional; the first four are scaffold.Options'.
type Options struct {
	// Log, when set, is used as is (its records are not published on
	// NATS); nil builds one with logging.New (tier "worker", instance
	// cfg.InstanceID or a generated one) writing to LogOut (default
	// os.Stderr) and to NATS.
	Log    *slog.Logger
	LogOut io.Writer
	// Listener to serve on; nil listens on cfg.Host:cfg.Port. Run closes it.
	Listener net.Listener
	// Registry takes the worker's metrics and is served on /metrics; nil
	// makes a new one with the Go and process collectors.
	Registry *prometheus.Registry
	// Version is reported by /health and heartbeats.
	Version string
	// Dev relaxes validation for `madbase dev`, which fills in secrets and
	// URLs itself.
	Dev bool
	// Ready is called once with the advertised URL when the worker accepts
	// requests.
	Ready func(advertiseURL string)
	// Capabilities are registered after the built-in ones.
	Capabilities []Capability
}

func (o Options) scaffold() scaffold.Options {
	return scaffold.Options{Log: o.Log, LogOut: o.LogOut, Listener: o.Listener, Registry: o.Registry}
}

// Run starts a worker and serves until ctx is done, then shuts down
// gracefully in a fixed order: mark draining and announce leave, let
// in-flight requests finish for cfg.ShutdownGrace, cancel the context long
// streams hang on, drain NATS, close the database pool. It returns nil after a
// clean shutdown, and an error when the configuration is invalid or a part
// cannot start or fails. It does not wait for NATS: a worker started while
// NATS is away serves at once and announces itself when NATS is back.
func Run(ctx context.Context, cfg config.Worker, opts Options) (err error) {
	if err := cfg.Validate(opts.Dev); err != nil {
		if opts.Listener != nil {
			_ = opts.Listener.Close()
		}
		return fmt.Errorf("invalid worker configuration:\n%w", err)
	}
	base, err := scaffold.Open(scaffold.Config{Tier: Tier, Common: cfg.Common, Host: cfg.Host, Port: cfg.Port}, opts.scaffold())
	if err != nil {
		return err
	}
	// Capabilities read the id from Deps.Config: one id in logs, beats and
	// bus messages.
	cfg.InstanceID = base.ID
	wlog := base.Log.With("component", Tier)
	wlog.Debug("worker configuration", config.LogAttrs(cfg)...)

	pool, s, err := open(ctx, cfg, base, opts, wlog)
	if err != nil {
		_ = base.Listener.Close()
		base.Close()
		return err
	}
	var g lifecycle.Group
	g.Add(s.ann.Run)
	g.Add(s.run)
	if s.projects != nil {
		g.Add(s.projects.Run)
	}
	g.Add(s.functions.Run)
	wlog.Info("worker starting", "id", cfg.InstanceID, "url", s.advertise, "listen", base.Listener.Addr().String(), "version", opts.Version, "database", pool != nil)
	err = g.Run(ctx)

	// Steps 1 to 3 (draining, HTTP shutdown, base context) ran in s.run.
	// 4. Stop bus services and drain the NATS connection.
	wlog.Debug("shutdown: stopping the log shipper and draining NATS")
	base.Close()
	// 5. Close the database pool, last: nothing uses it any more.
	if pool != nil {
		wlog.Debug("shutdown: closing the database pool")
		pool.Close()
	}
	if err != nil {
		wlog.Error("worker stopped with an error", "error", err.Error())
		return err
	}
	wlog.Info("worker stopped", "id", cfg.InstanceID)
	return nil
}

// open builds the worker's parts on base: its advertised URL, metrics,
// database pool, app and announcer, and the HTTP actor holding them.
func open(ctx context.Context, cfg config.Worker, base *scaffold.Base, opts Options, wlog *slog.Logger) (*pgxpool.Pool, *server, error) {
	advertise, err := advertiseURL(cfg, base.Listener.Addr(), net.InterfaceAddrs)
	if err != nil {
		return nil, nil, err
	}
	httpMetrics, err := newHTTPMetrics(base.Registry)
	if err != nil {
		return nil, nil, err
	}
	// JWT_KEYS sign and verify beside JWT_SECRET wherever the default
	// project's keys are built (apikey.New).
	signingKeys, err := jwtauth.LoadKeys(cfg.JWTKeys)
	if err != nil {
		return nil, nil, fmt.Errorf("JWT_KEYS: %w", err)
	}
	if err := apikey.UseKeys(cfg.JWTSecret, signingKeys); err != nil {
		return nil, nil, fmt.Errorf("JWT_KEYS: %w", err)
	}
	pool, err := openDB(ctx, cfg, base.Registry, base.Log)
	if err != nil {
		return nil, nil, err
	}
	// baseCtx is what WebSocket and SSE streams hang on: it outlives ctx so
	// that in-flight streams keep going during the grace period, and is
	// cancelled right after it (in server.run).
	baseCtx, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	// Functions are one manager for every project (one watch of the
	// bucket, one memory guard), registered on each project's app.
	fns := functions.New(functions.Options{Config: cfg, NATS: base.NATS, Log: base.Log, Registry: base.Registry})
	caps := append(append(append([]Capability(nil), capabilities...), fns.Register), opts.Capabilities...)
	// Created projects need the platform key to open their secrets and
	// NATS to hear of them; without either the worker serves the default
	// project alone, as before projects existed.
	var pm *projects.Manager
	var dispatch fiber.Handler
	if cfg.EncryptionKey != "" && base.NATS != nil {
		pm, err = projects.New(projects.Options{
			Config: cfg, NATS: base.NATS, Log: base.Log, BaseContext: baseCtx, Dev: opts.Dev, Capabilities: caps,
			Registry: base.Registry,
		})
		if err != nil {
			cancelBase()
			if pool != nil {
				pool.Close()
			}
			return nil, nil, err
		}
		dispatch = pm.Dispatch
	}
	a := api.New(api.Options{
		ID:      cfg.InstanceID,
		Version: opts.Version,
		Metrics: httpMetrics,
		Deps: api.Deps{
			Log: base.Log, DB: pool, Config: cfg, NATS: base.NATS, Registry: base.Registry, BaseContext: baseCtx, Dev: opts.Dev,
		},
		Capabilities: caps,
		Dispatch:     dispatch,
	})
	annOpts := announce.Options{
		Conn: base.NATS, Log: base.Log, ID: cfg.InstanceID, URL: advertise, Version: opts.Version,
		InFlight: a.InFlight, Draining: a.Draining,
		APIs: announce.APIsFrom(httpMetrics.Durations(), "madbase_"+Tier+"_http_request_duration_seconds"),
	}
	if pm != nil {
		annOpts.Projects = pm.Projects
	}
	ann := announce.New(annOpts)
	return pool, &server{
		app: a, ann: ann, ln: newTrackingListener(base.Listener), log: wlog, grace: cfg.ShutdownGrace,
		cancelBase: cancelBase, advertise: advertise, ready: opts.Ready, projects: pm, functions: fns,
	}, nil
}

// server is the HTTP actor. Its interrupt is the first half of the shutdown
// sequence, which must run in order around the HTTP server.
type server struct {
	app        *api.App
	ann        *announce.Announcer
	ln         *trackingListener
	log        *slog.Logger
	grace      time.Duration
	cancelBase context.CancelFunc
	advertise  string
	ready      func(string)
	// projects serves the created projects; nil without
	// MADBASE_ENCRYPTION_KEY.
	projects *projects.Manager
	// functions follows the deployed edge functions.
	functions *functions.Manager
}

func (s *server) run(ctx context.Context) error {
	errc := make(chan error, 1)
	s.app.Fiber.Server().ConnState = connState
	go func() { errc <- s.app.Fiber.Listener(s.ln) }()
	if s.ready != nil {
		s.ready(s.advertise)
	}
	select {
	case err := <-errc:
		// The server stopped by itself: leave so edges stop routing here.
		s.app.SetDraining()
		_ = s.ann.Leave(leaveFlushTimeout)
		s.cancelBase()
		return fmt.Errorf("worker http server: %w", err)
	case <-ctx.Done():
	}

	// 1. Mark draining (health answers 503), send one draining beat and the
	// leave message, so edges stop sending new requests.
	s.log.Info("shutdown: draining", "in_flight", s.app.InFlight())
	s.app.SetDraining()
	_ = s.ann.Leave(leaveFlushTimeout)

	// 2. Stop accepting connections and let in-flight requests finish.
	s.log.Debug("shutdown: stopping the HTTP server", "grace", s.grace.String())
	if err := s.app.Fiber.ShutdownWithTimeout(s.grace); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			s.log.Warn("shutdown: grace period over with requests still in flight", "in_flight", s.app.InFlight())
		} else {
			s.log.Warn("shutdown: HTTP server", "error", err.Error())
		}
	}
	// Shutdown may have run before Listener registered the listener; closing
	// it makes a late Serve return at once.
	_ = s.ln.Close()
	<-errc

	// 3. End the streams that never finish on their own, give their handlers
	// a moment to answer and their answers a moment to leave (a handler is
	// out of flight before the server has written what it returned; the
	// server marks the connection idle once it has), then close what the
	// grace period left open.
	s.log.Debug("shutdown: cancelling long-lived streams")
	s.cancelBase()
	deadline := time.Now().Add(streamEndTimeout)
	for (s.app.InFlight() > 0 || s.ln.busy() > 0) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := s.ln.closeAll(); n > 0 {
		s.log.Debug("shutdown: closed connections left open", "connections", n)
	}
	return nil
}

// newHTTPMetrics registers the request metrics, reporting a registry shared
// with another worker as an error rather than a panic.
func newHTTPMetrics(reg prometheus.Registerer) (m *metrics.HTTP, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("worker metrics (each worker needs its own registry): %v", r)
		}
	}()
	return metrics.NewHTTP(reg, Tier), nil
}

// openDB opens the PostgreSQL pool when DATABASE_URL is set; the worker runs
// without one otherwise (the platform's own tests).
func openDB(ctx context.Context, cfg config.Worker, reg prometheus.Registerer, log *slog.Logger) (*pgxpool.Pool, error) {
	if cfg.DatabaseURL == "" {
		log.Info("no DATABASE_URL: running without a database", "component", "worker")
		return nil, nil
	}
	pool, err := db.NewPool(ctx, cfg.DatabaseURL, reg, log.With("component", "db"), db.WithTier(Tier))
	if err != nil {
		return nil, fmt.Errorf("worker database: %w", err)
	}
	return pool, nil
}
