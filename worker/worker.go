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
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/madbase/madbase/bus"
	"github.com/madbase/madbase/shared/config"
	"github.com/madbase/madbase/shared/db"
	"github.com/madbase/madbase/shared/lifecycle"
	"github.com/madbase/madbase/shared/logging"
	"github.com/madbase/madbase/shared/metrics"
	"github.com/madbase/madbase/worker/internal/announce"
	"github.com/madbase/madbase/worker/internal/app"
	"github.com/madbase/madbase/worker/internal/auth"
	"github.com/madbase/madbase/worker/internal/realtime"
	"github.com/madbase/madbase/worker/internal/rest"
	"github.com/madbase/madbase/worker/internal/storage"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
)

// Tier names the worker in log subjects, metrics and instance ids.
const Tier = "worker"

// Capability registers one API surface on the worker's router; see
// app.Capability. Exported so callers can add their own (tests add test-only
// routes through Options.Capabilities).
type Capability = app.Capability

// Deps is what a capability is built from; see app.Deps.
type Deps = app.Deps

// capabilities are the worker's API surfaces, registered in this order. A
// capability package joins with one line here (it cannot be listed in
// internal/app, which its Register imports for Deps).
var capabilities = []Capability{
	auth.Register,
	rest.Register,
	storage.Register,
	realtime.Register,
}

// Timeouts of the shutdown steps that are not configurable.
const (
	leaveFlushTimeout = time.Second
	natsDrainTimeout  = 5 * time.Second
	// streamEndTimeout is how long handlers get to return once the base
	// context is cancelled, before their connections are closed.
	streamEndTimeout = time.Second
)

// Options are what a caller of Run provides beyond the configuration. Every
// field is optional.
type Options struct {
	// Log and Shipper: when Log is nil, Run builds both with logging.New
	// (tier "worker", instance cfg.InstanceID or a generated one). A given
	// Log is used as is; a given Shipper is attached to the worker's NATS
	// connection and run until shutdown.
	Log     *slog.Logger
	Shipper *logging.Shipper
	// LogOut receives the log records Run's own logger writes; default
	// os.Stderr.
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

// Run starts a worker and serves until ctx is done, then shuts down
// gracefully in a fixed order: mark draining and announce leave, let
// in-flight requests finish for cfg.ShutdownGrace, cancel the context long
// streams hang on, drain NATS, close the database pool. It returns nil after a
// clean shutdown, and an error when the configuration is invalid or a part
// cannot start or fails.
func Run(ctx context.Context, cfg config.Worker, opts Options) (err error) {
	if err := cfg.Validate(opts.Dev); err != nil {
		if opts.Listener != nil {
			_ = opts.Listener.Close()
		}
		return fmt.Errorf("invalid worker configuration:\n%w", err)
	}
	if cfg.InstanceID == "" {
		// Capabilities read the id from Deps.Config: one id in logs, beats
		// and bus messages.
		cfg.InstanceID = lifecycle.InstanceID(Tier)
	}
	id := cfg.InstanceID
	log, shipper := opts.Log, opts.Shipper
	if log == nil {
		log, shipper = logging.New(logging.Options{
			Level: cfg.LogLevel, Format: cfg.LogFormat, Tier: Tier, Instance: id, Out: opts.LogOut,
		})
	}
	wlog := log.With("component", "worker")
	wlog.Debug("worker configuration", config.LogAttrs(cfg)...)

	// Records logged so far wait in the shipper until NATS is attached; the
	// shipper runs until after the HTTP server and bus services have stopped,
	// so the shutdown is logged over NATS too.
	shipCtx, stopShip := context.WithCancel(context.WithoutCancel(ctx))
	shipDone := make(chan struct{})
	if shipper != nil {
		go func() { defer close(shipDone); _ = shipper.Run(shipCtx) }()
	} else {
		close(shipDone)
	}
	stopShipper := func() { stopShip(); <-shipDone }

	ln := opts.Listener
	if ln == nil {
		addr := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
		if ln, err = net.Listen("tcp", addr); err != nil {
			stopShipper()
			return fmt.Errorf("worker listen on %s: %w", addr, err)
		}
	}
	advertise, err := advertiseURL(cfg, ln.Addr(), net.InterfaceAddrs)
	if err != nil {
		_ = ln.Close()
		stopShipper()
		return err
	}

	nc, err := bus.Connect(cfg.NATSURL, "madbase-worker-"+id, log)
	if err != nil {
		_ = ln.Close()
		stopShipper()
		return fmt.Errorf("worker nats: %w", err)
	}
	if shipper != nil {
		shipper.Attach(nc)
	}
	closeBus := func() {
		wlog.Debug("shutdown: stopping the log shipper and draining NATS")
		stopShipper()
		drainNATS(nc, wlog)
	}

	reg := opts.Registry
	if reg == nil {
		reg = metrics.NewRegistry()
	}

	httpMetrics, err := newHTTPMetrics(reg)
	if err != nil {
		_ = ln.Close()
		closeBus()
		return err
	}

	pool, err := openDB(ctx, cfg, reg, log)
	if err != nil {
		_ = ln.Close()
		closeBus()
		return err
	}
	closeDB := func() {
		if pool != nil {
			wlog.Debug("shutdown: closing the database pool")
			pool.Close()
		}
	}

	// baseCtx is what WebSocket and SSE streams hang on: it outlives ctx so
	// that in-flight streams keep going during the grace period, and is
	// cancelled right after it.
	baseCtx, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()

	a := app.New(app.Options{
		ID:      id,
		Version: opts.Version,
		Metrics: httpMetrics,
		Deps: app.Deps{
			Log: log, DB: pool, Config: cfg, NATS: nc, Registry: reg, BaseContext: baseCtx, Dev: opts.Dev,
		},
		Capabilities: append(append([]Capability(nil), capabilities...), opts.Capabilities...),
	})
	ann := announce.New(announce.Options{
		Conn: nc, Log: log, ID: id, URL: advertise, Version: opts.Version,
		InFlight: a.InFlight, Draining: a.Draining,
	})

	s := &server{
		app: a, ann: ann, ln: newTrackingListener(ln), log: wlog, grace: cfg.ShutdownGrace,
		cancelBase: cancelBase, advertise: advertise, ready: opts.Ready,
	}
	var g lifecycle.Group
	g.Add(ann.Run)
	g.Add(s.run)

	wlog.Info("worker starting", "id", id, "url", advertise, "listen", ln.Addr().String(), "version", opts.Version, "database", pool != nil)
	err = g.Run(ctx)

	// Steps 1 to 3 (draining, HTTP shutdown, base context) ran in s.run.
	// 4. Stop bus services and drain the NATS connection.
	closeBus()
	// 5. Close the database pool, last: nothing uses it any more.
	closeDB()
	if err != nil {
		wlog.Error("worker stopped with an error", "error", err.Error())
		return err
	}
	wlog.Info("worker stopped", "id", id)
	return nil
}

// server is the HTTP actor. Its interrupt is the first half of the shutdown
// sequence, which must run in order around the HTTP server.
type server struct {
	app        *app.App
	ann        *announce.Announcer
	ln         *trackingListener
	log        *slog.Logger
	grace      time.Duration
	cancelBase context.CancelFunc
	advertise  string
	ready      func(string)
}

func (s *server) run(ctx context.Context) error {
	errc := make(chan error, 1)
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
	// a moment to answer, then close what the grace period left open.
	s.log.Debug("shutdown: cancelling long-lived streams")
	s.cancelBase()
	deadline := time.Now().Add(streamEndTimeout)
	for s.app.InFlight() > 0 && time.Now().Before(deadline) {
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

// drainNATS lets subscriptions finish their messages and flushes publishes,
// bounded so a dead server cannot hold the shutdown.
func drainNATS(nc *nats.Conn, log *slog.Logger) {
	if err := nc.Drain(); err != nil {
		log.Debug("shutdown: NATS drain failed, closing", "error", err.Error())
		nc.Close()
		return
	}
	deadline := time.Now().Add(natsDrainTimeout)
	for !nc.IsClosed() {
		if time.Now().After(deadline) {
			log.Warn("shutdown: NATS drain timed out, closing")
			nc.Close()
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// defaultAdvertiseURL is the loopback URL of the listener's port.
func defaultAdvertiseURL(addr net.Addr) string {
	port := "0"
	if ta, ok := addr.(*net.TCPAddr); ok {
		port = strconv.Itoa(ta.Port)
	} else if _, p, err := net.SplitHostPort(addr.String()); err == nil {
		port = p
	}
	return "http://127.0.0.1:" + port
}
