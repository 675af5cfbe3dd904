// Package control is the control plane tier: the admin API, the list of live
// workers, the platform's log stream and database migrations. It is off the
// request path; the platform keeps serving while control is down.
package control

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/madbase/madbase/bus"
	"github.com/madbase/madbase/control/internal/adminapi"
	"github.com/madbase/madbase/control/internal/fleet"
	"github.com/madbase/madbase/control/internal/logsink"
	"github.com/madbase/madbase/control/internal/outbox"
	"github.com/madbase/madbase/shared/config"
	"github.com/madbase/madbase/shared/db"
	"github.com/madbase/madbase/shared/db/migrate"
	"github.com/madbase/madbase/shared/httpserver"
	"github.com/madbase/madbase/shared/lifecycle"
	"github.com/madbase/madbase/shared/logging"
	"github.com/madbase/madbase/shared/metrics"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
)

// Tier is control's name in logs, metrics and subjects.
const Tier = "control"

// Timings of start-up and shutdown.
const (
	// drainTimeout bounds the NATS drain at shutdown.
	drainTimeout = 5 * time.Second
)

// databaseWait is how long start-up waits for PostgreSQL to accept
// connections (it may still be starting) before giving up.
const databaseWait = 30 * time.Second

// Options carry what the caller of Run provides besides the configuration.
type Options struct {
	// Log is the logger to use. When nil, Run builds one with logging.New
	// from cfg (tier "control", writing to LogOut) together with its Shipper.
	Log *slog.Logger
	// Shipper publishes Log's records on NATS; Run attaches it to its
	// connection and runs it. Ignored when Log is nil (Run builds both);
	// nil with a Log: records are not published.
	Shipper *logging.Shipper
	// LogOut is where a logger built by Run writes (default stderr).
	LogOut io.Writer
	// Listener to serve on; nil listens on cfg.Host:cfg.Port. Run closes it.
	Listener net.Listener
	// Registry receives control's metrics and is served on /metrics; nil
	// makes one with the Go and process collectors.
	Registry *prometheus.Registry
	// Migrations are applied at start when cfg.DatabaseURL is set.
	Migrations []migrate.Source
	// Dev relaxes validation for `madbase dev`, which fills in what it needs.
	Dev bool
	// Ready, when set, is called with control's URL once it serves.
	Ready func(url string)
}

// Run starts control and blocks until ctx is done or a part fails. Shutdown
// goes in a fixed order: stop accepting requests and end log streams, stop
// the subscriptions, drain NATS, close the database pool.
func Run(ctx context.Context, cfg config.Control, opts Options) (err error) {
	if err := cfg.Validate(opts.Dev); err != nil {
		return fmt.Errorf("control configuration:\n%w", err)
	}
	instance := cfg.InstanceID
	if instance == "" {
		instance = lifecycle.InstanceID(Tier)
	}
	log, shipper := opts.Log, opts.Shipper
	if log == nil {
		log, shipper = logging.New(logging.Options{
			Level: cfg.LogLevel, Format: cfg.LogFormat, Tier: Tier, Instance: instance, Out: opts.LogOut,
		})
	}
	clog := log.With("component", Tier)
	reg := opts.Registry
	if reg == nil {
		reg = metrics.NewRegistry()
	}
	clog.Debug("control configuration", append(config.LogAttrs(cfg),
		"ADMIN_PASSWORD_SET", cfg.AdminPassword != "", "migration_sources", len(opts.Migrations), "dev", opts.Dev)...)
	if cfg.AdminPassword == "" {
		clog.Warn("ADMIN_PASSWORD is not set: the admin API answers 401 to everything")
	}

	ln := opts.Listener
	if ln == nil {
		ln, err = net.Listen("tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)))
		if err != nil {
			return fmt.Errorf("control: listen: %w", err)
		}
	}
	served := false
	defer func() {
		if !served {
			_ = ln.Close()
		}
	}()

	nc, err := bus.Connect(cfg.NATSURL, "madbase-control-"+instance, clog)
	if err != nil {
		return fmt.Errorf("control: nats: %w", err)
	}
	shipCtx, stopShipping := context.WithCancel(context.WithoutCancel(ctx))
	shipped := make(chan struct{})
	if shipper != nil {
		shipper.Attach(nc)
		go func() {
			defer close(shipped)
			_ = shipper.Run(shipCtx)
		}()
	} else {
		close(shipped)
	}
	var pool *pgxpool.Pool
	defer func() {
		// Records logged so far go out before the connection drains.
		stopShipping()
		<-shipped
		drain(nc, clog)
		if pool != nil {
			pool.Close()
		}
	}()

	if cfg.DatabaseURL != "" {
		pool, err = openPool(ctx, cfg.DatabaseURL, reg, clog)
		if err != nil {
			return err
		}
		if len(opts.Migrations) > 0 {
			n, err := migrate.Run(ctx, pool, clog, opts.Migrations...)
			if err != nil {
				return fmt.Errorf("control: migrations: %w", err)
			}
			clog.Info("migrations done", "applied", n)
		}
	}

	workers := fleet.New(log, reg, fleet.Options{})
	logs := logsink.New(log, reg, cfg.LogBuffer)
	if err := workers.Subscribe(nc); err != nil {
		return fmt.Errorf("control: subscribe heartbeats: %w", err)
	}
	if err := logs.Subscribe(nc); err != nil {
		return fmt.Errorf("control: subscribe logs: %w", err)
	}
	mails := outbox.New(outbox.DefaultSize)
	if err := mails.Subscribe(nc); err != nil {
		return fmt.Errorf("control: subscribe dev outbox: %w", err)
	}
	if err := nc.FlushTimeout(2 * time.Second); err != nil {
		// Not connected yet: the subscriptions are sent on (re)connect.
		clog.Warn("nats not reachable yet; subscriptions wait for it", "error", err.Error())
	}

	streams, endStreams := context.WithCancel(ctx)
	defer endStreams()
	app := adminapi.New(adminapi.Deps{
		Log:      log,
		Fleet:    workers,
		Logs:     logs,
		Password: cfg.AdminPassword,
		Gatherer: reg,
		Metrics:  metrics.NewHTTP(reg, Tier),
		Streams:  streams,
		Outbox:   mails,
	})

	var g lifecycle.Group
	g.Add(func(ctx context.Context) error {
		// Open log streams end as soon as shutdown starts, so they never hold
		// it up. Closing the listener too covers a shutdown that comes before
		// fasthttp has taken the listener (its Shutdown then returns at once
		// and Serve would go on forever).
		stop := context.AfterFunc(ctx, func() {
			endStreams()
			_ = ln.Close()
		})
		defer stop()
		err := httpserver.Serve(ctx, app, ln, cfg.ShutdownGrace)
		if ctx.Err() != nil && errors.Is(err, net.ErrClosed) {
			// Our Close came first; fasthttp's own then fails. Not a problem.
			err = nil
		}
		return err
	})
	g.Add(workers.Run)
	g.Add(logs.Run)
	g.Add(mails.Run)

	served = true
	u := baseURL(ln.Addr())
	clog.Info("control listening", "url", u)
	if opts.Ready != nil {
		opts.Ready(u)
	}
	err = g.Run(ctx)
	clog.Info("control stopped")
	return err
}

// RunMigrations applies sources to the database at databaseURL, waiting up
// to databaseWait for it to accept connections, and returns how many
// migrations were applied. It is `madbase migrate`.
func RunMigrations(ctx context.Context, databaseURL string, log *slog.Logger, sources ...migrate.Source) (int, error) {
	if log == nil {
		log = slog.Default()
	}
	if databaseURL == "" {
		return 0, errors.New("DATABASE_URL is not set")
	}
	pool, err := openPool(ctx, databaseURL, prometheus.NewRegistry(), log)
	if err != nil {
		return 0, err
	}
	defer pool.Close()
	n, err := migrate.Run(ctx, pool, log, sources...)
	if err != nil {
		return n, fmt.Errorf("migrations: %w", err)
	}
	return n, nil
}

// openPool waits for the database to accept connections, then opens the
// pool once (so its metrics are registered once).
func openPool(ctx context.Context, databaseURL string, reg prometheus.Registerer, log *slog.Logger) (*pgxpool.Pool, error) {
	if err := waitForDatabase(ctx, databaseURL, databaseWait, log); err != nil {
		return nil, err
	}
	pool, err := db.NewPool(ctx, databaseURL, reg, log, db.WithTier(Tier))
	if err != nil {
		return nil, fmt.Errorf("database pool (%s): %w", config.RedactURLs(databaseURL), err)
	}
	return pool, nil
}

// waitForDatabase connects once a second until PostgreSQL answers or wait
// passes. Errors that waiting cannot fix (a malformed URL, bad credentials,
// a missing database) fail at once.
func waitForDatabase(ctx context.Context, databaseURL string, wait time.Duration, log *slog.Logger) error {
	cc, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return errors.New("DATABASE_URL: not a valid PostgreSQL URL (postgres://user:password@host:5432/db)")
	}
	where := fmt.Sprintf("%s:%d/%s", cc.Host, cc.Port, cc.Database)
	deadline := time.Now().Add(wait)
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		conn, err := pgx.ConnectConfig(actx, cc.Copy())
		if err == nil {
			err = conn.Ping(actx)
			_ = conn.Close(actx)
		}
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("database %s not reachable: %w (last error: %v)", where, ctx.Err(), err)
		}
		if permanent(err) {
			return fmt.Errorf("database %s refused the connection: %w", where, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("database %s not reachable after %s: %w", where, wait, err)
		}
		log.Warn("database not reachable yet; retrying", "database", where, "attempt", attempt, "error", err.Error())
		select {
		case <-ctx.Done():
			return fmt.Errorf("database %s not reachable: %w (last error: %v)", where, ctx.Err(), err)
		case <-time.After(time.Second):
		}
	}
}

// permanent reports errors a retry cannot fix: bad credentials (class 28)
// and a database that does not exist (3D000).
func permanent(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return strings.HasPrefix(pe.Code, "28") || pe.Code == "3D000"
	}
	return false
}

// drain lets pending NATS messages go out and subscriptions finish, then
// closes the connection.
func drain(nc *nats.Conn, log *slog.Logger) {
	closed := make(chan struct{})
	nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	if err := nc.Drain(); err != nil {
		nc.Close()
		return
	}
	select {
	case <-closed:
	case <-time.After(drainTimeout):
		log.Warn("nats drain timed out; closing")
		nc.Close()
	}
}

// baseURL is the URL to reach a listener at; a wildcard address becomes
// loopback.
func baseURL(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return "http://" + a.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}
