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
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/madbase/madbase/control/internal/adminapi"
	"github.com/madbase/madbase/control/internal/apirates"
	"github.com/madbase/madbase/control/internal/dashboard"
	"github.com/madbase/madbase/control/internal/fleet"
	ctlfunctions "github.com/madbase/madbase/control/internal/functions"
	"github.com/madbase/madbase/control/internal/logsink"
	"github.com/madbase/madbase/control/internal/outbox"
	"github.com/madbase/madbase/control/internal/projects"
	controlmigrations "github.com/madbase/madbase/control/migrations"
	"github.com/madbase/madbase/shared/config"
	"github.com/madbase/madbase/shared/db"
	"github.com/madbase/madbase/shared/db/migrate"
	"github.com/madbase/madbase/shared/httpserver"
	"github.com/madbase/madbase/shared/lifecycle"
	"github.com/madbase/madbase/shared/metrics"
	"github.com/madbase/madbase/shared/scaffold"
	"github.com/madbase/madbase/shared/secretbox"
	"github.com/prometheus/client_golang/prometheus"
)

// Tier is control's name in logs, metrics and subjects.
const Tier = "control"

// databaseWait is how long start-up waits for PostgreSQL to accept
// connections (it may still be starting) before giving up.
const databaseWait = 30 * time.Second

// databaseWaitLogEvery is how many attempts (one a second) pass between two
// "database not reachable yet" lines.
const databaseWaitLogEvery = 10

// Options carry what the caller of Run provides besides the configuration;
// the first four are scaffold.Options'.
type Options struct {
	// Log is the logger to use, as is (its records are not published on
	// NATS). When nil, Run builds one with logging.New from cfg (tier
	// "control") writing to LogOut (default stderr) and to NATS.
	Log    *slog.Logger
	LogOut io.Writer
	// Listener to serve on; nil listens on cfg.Host:cfg.Port. Run closes it.
	Listener net.Listener
	// Registry receives control's metrics and is served on /metrics; nil
	// makes one with the Go and process collectors.
	Registry *prometheus.Registry
	// Migrations are applied at start when cfg.DatabaseURL is set, followed
	// by control's own; they are also what a new project's database gets.
	Migrations []migrate.Source
	// Env is the environment the workers load their configuration from; a
	// project's settings are validated over it. Nil reads the process's.
	Env config.Lookup
	// Dev relaxes validation for `madbase dev`, which fills in what it needs.
	Dev bool
	// Ready, when set, is called with control's URL once it serves.
	Ready func(url string)
}

func (o Options) scaffold() scaffold.Options {
	return scaffold.Options{Log: o.Log, LogOut: o.LogOut, Listener: o.Listener, Registry: o.Registry}
}

// Run starts control and blocks until ctx is done or a part fails. Shutdown
// goes in a fixed order: stop accepting requests and end log streams, stop
// the subscriptions, drain NATS, close the database pool. It does not wait
// for NATS: its subscriptions are made on the connection and sent when NATS
// is there.
func Run(ctx context.Context, cfg config.Control, opts Options) (err error) {
	if err := cfg.Validate(opts.Dev); err != nil {
		if opts.Listener != nil {
			_ = opts.Listener.Close()
		}
		return fmt.Errorf("control configuration:\n%w", err)
	}
	base, err := scaffold.Open(scaffold.Config{Tier: Tier, Common: cfg.Common, Host: cfg.Host, Port: cfg.Port}, opts.scaffold())
	if err != nil {
		return fmt.Errorf("control: %w", err)
	}
	clog := base.Log.With("component", Tier)
	clog.Debug("control configuration", append(config.LogAttrs(cfg),
		"ADMIN_PASSWORD_SET", cfg.AdminPassword != "", "migration_sources", len(opts.Migrations), "dev", opts.Dev)...)
	if cfg.AdminPassword == "" {
		clog.Warn("ADMIN_PASSWORD is not set: the admin API answers 401 to everything")
	}

	pool, err := openDatabase(ctx, cfg.DatabaseURL, opts.Migrations, base.Registry, clog)
	if err != nil {
		_ = base.Listener.Close()
		base.Close()
		return err
	}
	defer func() {
		// Rule 9's last steps, after the HTTP server and the subscriptions
		// stopped: drain NATS, close the database pool.
		base.Close()
		if pool != nil {
			pool.Close()
		}
	}()

	c, err := subscribe(base, cfg)
	if err != nil {
		_ = base.Listener.Close()
		return err
	}
	pub, err := c.openProjects(pool, opts)
	if err != nil {
		_ = base.Listener.Close()
		return err
	}
	if err := c.openFunctions(); err != nil {
		_ = base.Listener.Close()
		return err
	}
	var g lifecycle.Group
	if pub != nil {
		g.Add(pub.Run)
	}
	g.Add(c.serve)
	g.Add(c.workers.Run)
	g.Add(c.runRates)
	g.Add(c.logs.Run)
	g.Add(c.mails.Run)
	clog.Info("control listening", "url", base.URL)
	if opts.Ready != nil {
		opts.Ready(base.URL)
	}
	err = g.Run(ctx)
	clog.Info("control stopped")
	return err
}

// openDatabase opens the pool and applies the migrations when a database
// is configured; nil without one.
func openDatabase(ctx context.Context, databaseURL string, sources []migrate.Source, reg prometheus.Registerer, log *slog.Logger) (*pgxpool.Pool, error) {
	if databaseURL == "" {
		return nil, nil
	}
	pool, err := openPool(ctx, databaseURL, reg, log)
	if err != nil {
		return nil, err
	}
	{
		n, err := migrate.Run(ctx, pool, log, withControl(sources)...)
		if err != nil {
			pool.Close()
			return nil, fmt.Errorf("control: migrations: %w", err)
		}
		log.Info("migrations done", "applied", n)
	}
	return pool, nil
}

// withControl is sources followed by control's own migrations, which only the
// platform database gets.
func withControl(sources []migrate.Source) []migrate.Source {
	return append(slices.Clone(sources), controlmigrations.Source)
}

// control is a running control plane's parts.
type control struct {
	base     *scaffold.Base
	cfg      config.Control
	workers  *fleet.Fleet
	rates    *apirates.History
	logs     *logsink.Sink
	mails    *outbox.Outbox
	projects *projects.Store
	// functions stores the edge functions; nil without the platform key.
	functions *ctlfunctions.Store
}

// openProjects makes the project store and its publisher when control has a
// database and MADBASE_ENCRYPTION_KEY; without either the projects API
// answers 503 and nothing is published.
func (c *control) openProjects(pool *pgxpool.Pool, opts Options) (*projects.Publisher, error) {
	if pool == nil {
		return nil, nil
	}
	if c.cfg.EncryptionKey == "" {
		c.base.Log.Info("MADBASE_ENCRYPTION_KEY is not set: the projects API is off", "component", Tier)
		return nil, nil
	}
	key, err := secretbox.ParseKey(c.cfg.EncryptionKey)
	if err != nil {
		return nil, fmt.Errorf("control: MADBASE_ENCRYPTION_KEY: %w", err)
	}
	box, err := secretbox.New(key)
	if err != nil {
		return nil, fmt.Errorf("control: MADBASE_ENCRYPTION_KEY: %w", err)
	}
	c.projects = projects.NewStore(pool, box, c.base.Log, projects.Options{
		Migrations: opts.Migrations, Env: opts.Env, Dev: opts.Dev, DefaultRef: c.cfg.DefaultProjectRef})
	pub, err := projects.NewPublisher(c.base.NATS, c.projects, c.base.Log, projects.PublisherOptions{})
	if err != nil {
		return nil, fmt.Errorf("control: projects publisher: %w", err)
	}
	return pub, nil
}

// openFunctions makes the functions store when control has
// MADBASE_ENCRYPTION_KEY (which seals their secrets); without it the
// functions API answers 503.
func (c *control) openFunctions() error {
	if c.cfg.EncryptionKey == "" {
		return nil
	}
	key, err := secretbox.ParseKey(c.cfg.EncryptionKey)
	if err != nil {
		return fmt.Errorf("control: MADBASE_ENCRYPTION_KEY: %w", err)
	}
	box, err := secretbox.New(key)
	if err != nil {
		return fmt.Errorf("control: MADBASE_ENCRYPTION_KEY: %w", err)
	}
	opts := ctlfunctions.Options{DefaultRef: c.cfg.DefaultProjectRef}
	if store := c.projects; store != nil {
		opts.ProjectExists = func(ctx context.Context, ref string) (bool, error) {
			_, err := store.Get(ctx, ref)
			if errors.Is(err, projects.ErrNotFound) {
				return false, nil
			}
			return err == nil, err
		}
	}
	c.functions = ctlfunctions.NewStore(c.base.NATS, box, c.base.Log, opts)
	return nil
}

// subscribe makes the fleet, the log sink and the dev outbox and subscribes
// them. Without NATS the subscriptions wait in the connection, which sends
// them when it connects.
func subscribe(base *scaffold.Base, cfg config.Control) (*control, error) {
	c := &control{
		base:    base,
		cfg:     cfg,
		workers: fleet.New(base.Log, base.Registry, fleet.Options{}),
		rates:   apirates.New(apirates.DefaultPoints),
		logs:    logsink.New(base.Log, base.Registry, cfg.LogBuffer),
		mails:   outbox.New(outbox.DefaultSize),
	}
	if err := c.workers.Subscribe(base.NATS); err != nil {
		return nil, fmt.Errorf("control: subscribe heartbeats: %w", err)
	}
	if err := c.logs.Subscribe(base.NATS); err != nil {
		return nil, fmt.Errorf("control: subscribe logs: %w", err)
	}
	if err := c.mails.Subscribe(base.NATS); err != nil {
		return nil, fmt.Errorf("control: subscribe dev outbox: %w", err)
	}
	// With NATS there, control is ready once the server has the
	// subscriptions, so nothing published after that is missed; with NATS
	// away it does not wait (they are sent when it connects).
	if base.NATS.IsConnected() {
		_ = base.NATS.FlushTimeout(subscribeFlush)
	}
	return c, nil
}

// runRates samples the live workers' per-API counters into the rates
// history until ctx is done.
func (c *control) runRates(ctx context.Context) error {
	return c.rates.Run(ctx, apirates.DefaultInterval, func() []apirates.Sample {
		ws := c.workers.Workers()
		out := make([]apirates.Sample, len(ws))
		for i, w := range ws {
			out[i] = apirates.Sample{ID: w.ID, StartedAt: w.StartedAt, APIs: w.APIs}
		}
		return out
	})
}

// subscribeFlush bounds the wait for NATS to confirm control's
// subscriptions at start.
const subscribeFlush = 2 * time.Second

// serve is the HTTP actor. Open log streams end as soon as shutdown
// starts, so they never hold it up. Closing the listener too covers a
// shutdown that comes before fasthttp has taken the listener (its Shutdown
// then returns at once and Serve would go on forever).
func (c *control) serve(ctx context.Context) error {
	streams, endStreams := context.WithCancel(context.WithoutCancel(ctx))
	defer endStreams()
	sessions := dashboard.NewSessions(0, 0, nil)
	guard := adminapi.NewGuard(adminapi.Guard{Password: c.cfg.AdminPassword, Log: c.base.Log, Sessions: sessions})
	app := adminapi.New(adminapi.Deps{
		Guard: guard,
		Mount: func(r fiber.Router) {
			dashboard.Register(r, dashboard.Deps{Guard: guard, Sessions: sessions,
				DefaultProject: c.cfg.DefaultProjectRef, Log: c.base.Log})
		},
		Log:       c.base.Log,
		Fleet:     c.workers,
		Rates:     c.rates,
		Logs:      c.logs,
		Password:  c.cfg.AdminPassword,
		Gatherer:  c.base.Registry,
		Metrics:   metrics.NewHTTP(c.base.Registry, Tier),
		Streams:   streams,
		Outbox:    c.mails,
		Projects:  c.projects,
		Functions: c.functions,
	})
	ln := c.base.Listener
	stop := context.AfterFunc(ctx, func() {
		endStreams()
		_ = ln.Close()
	})
	defer stop()
	err := httpserver.Serve(ctx, app, ln, c.cfg.ShutdownGrace)
	if ctx.Err() != nil && errors.Is(err, net.ErrClosed) {
		// Our Close came first; fasthttp's own then fails. Not a problem.
		err = nil
	}
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
	n, err := migrate.Run(ctx, pool, log, withControl(sources)...)
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
		// One line, repeated with a counter every few attempts, rather
		// than a record a second.
		if attempt == 1 || attempt%databaseWaitLogEvery == 0 {
			log.Warn("database not reachable yet; retrying", "component", Tier, "database", where, "attempt", attempt,
				"waited", time.Since(deadline.Add(-wait)).Round(time.Second).String(), "error", err.Error())
		}
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
