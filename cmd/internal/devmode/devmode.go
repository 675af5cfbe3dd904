// Package devmode runs all of MadBase in one process for `madbase dev`:
// an embedded NATS server, a PostgreSQL started from the machine's own
// binaries (or DATABASE_URL), control, the edge and N workers.
package devmode

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/madbase/madbase/bus"
	"github.com/madbase/madbase/bus/embedded"
	"github.com/madbase/madbase/control"
	"github.com/madbase/madbase/edge"
	"github.com/madbase/madbase/shared/config"
	"github.com/madbase/madbase/shared/db/migrate"
	"github.com/madbase/madbase/shared/db/pgcluster"
	"github.com/madbase/madbase/shared/jwtauth"
	"github.com/madbase/madbase/shared/lifecycle"
	"github.com/madbase/madbase/shared/logging"
	"github.com/madbase/madbase/shared/scaffold"
	"github.com/madbase/madbase/worker"
)

// Options configure Run.
type Options struct {
	DataDir    string
	Workers    int
	Env        config.Lookup
	Stdout     io.Writer
	Stderr     io.Writer
	Version    string
	Migrations []migrate.Source
	// PGSearch, when set, replaces where PostgreSQL's binaries are looked
	// for (tests prove the error on a machine without them).
	PGSearch *pgcluster.Search
	// DBPort is the port of dev's own PostgreSQL (DEV_DB_PORT); when it is
	// taken, or 0, a free one is used.
	DBPort int
	// MigrationsDir holds the app's migrations (supabase/migrations);
	// seed.sql beside it seeds a new database. Empty: none.
	MigrationsDir string
	// FunctionsDir holds the app's edge functions (supabase/functions),
	// deployed at start and redeployed on change. Empty: the functions
	// folder beside MigrationsDir.
	FunctionsDir string
}

// KeyLifetime is how long the API keys printed by madbase dev stay valid.
const KeyLifetime = 10 * 365 * 24 * time.Hour

// Run starts everything, prints how to connect, and stops it all when ctx
// is done (Ctrl-C). Data stays in opts.DataDir for the next start.
func Run(ctx context.Context, opts Options) error {
	d, err := prepare(opts)
	if err != nil {
		return err
	}
	lf, err := lock(d.dataDir)
	if err != nil {
		return err
	}
	defer lf.Close()
	defer register(d.dataDir)()
	stopNATS, err := d.startNATS()
	if err != nil {
		return err
	}
	defer stopNATS()
	stopPG, err := d.startPostgres(ctx)
	if err != nil {
		return err
	}
	defer stopPG()
	dbURL, _ := d.env.lookup("DATABASE_URL")
	if _, err := control.RunMigrations(ctx, dbURL, d.log, opts.Migrations...); err != nil {
		return fmt.Errorf("database migrations: %w", err)
	}
	if err := ApplyApp(ctx, dbURL, opts.MigrationsDir, opts.Stdout, d.log); err != nil {
		return err
	}
	lns, err := d.listen()
	if err != nil {
		return err
	}
	g, err := d.tiers(lns)
	if err != nil {
		lns.close()
		return err
	}
	g.Add(d.announce(lns))
	g.Add(d.watchFunctions(scaffold.URL(lns.control.Addr()), scaffold.URL(lns.edge.Addr())))
	g.Add(shipperActor(d.shipper, d.natsURL(), d.log))
	if watch := parentWatch(d.log); watch != nil {
		g.Add(watch)
	}
	err = g.Run(ctx)
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// dev is one `madbase dev` being started: its options, data folder, logger,
// secrets and the environment the tiers read (the caller's, with dev's own
// values on top).
type dev struct {
	opts    Options
	dataDir string
	common  config.Common
	log     *slog.Logger
	shipper *logging.Shipper
	secrets Secrets
	env     *overlayEnv
	db      devDB // where dev's own PostgreSQL runs; zero with DATABASE_URL
}

// prepare checks the options, makes the data folder, and fills in the
// secrets the environment lacks.
func prepare(opts Options) (*dev, error) {
	if opts.Env == nil {
		opts.Env = config.Env
	}
	if opts.Workers < 1 {
		return nil, fmt.Errorf("--workers must be at least 1, not %d", opts.Workers)
	}
	dataDir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, err
	}
	// 0711: others may pass through (PostgreSQL runs as the postgres user
	// when MadBase runs as root) but not list; secrets.json itself is 0600.
	if err := os.MkdirAll(dataDir, 0o711); err != nil {
		return nil, fmt.Errorf("data folder: %w", err)
	}
	d := &dev{opts: opts, dataDir: dataDir, env: overlay(opts.Env, map[string]string{})}
	// People read dev's logs: text, with one line per request at the edge,
	// unless the environment says otherwise.
	d.setDefault("LOG_FORMAT", "text")
	d.setDefault("EDGE_REQUEST_LOG", "true")
	if err := config.Load(&d.common, d.env.lookup); err != nil {
		return nil, err
	}
	d.log, d.shipper = logging.New(logging.Options{Level: d.common.LogLevel, Format: d.common.LogFormat, Tier: "dev", Instance: "dev",
		Out: opts.Stderr, RepeatInterval: scaffold.RepeatInterval(d.common)})
	if d.secrets, err = loadSecrets(dataDir); err != nil {
		return nil, err
	}
	d.setDefault("JWT_SECRET", d.secrets.JWTSecret)
	d.setDefault("MADBASE_ENCRYPTION_KEY", d.secrets.EncryptionKey)
	d.setDefault("ADMIN_PASSWORD", d.secrets.AdminPassword)
	d.setDefault("STORAGE_DIR", filepath.Join(dataDir, "storage"))
	return d, nil
}

// setDefault sets k unless the caller's environment has a value for it.
func (d *dev) setDefault(k, v string) {
	if have, ok := d.opts.Env(k); !ok || have == "" {
		d.env.set(k, v)
	}
}

func (d *dev) natsURL() string { u, _ := d.env.lookup("NATS_URL"); return u }

// startNATS starts an embedded NATS server with its store in the data
// folder, unless NATS_URL names one.
func (d *dev) startNATS() (stop func(), err error) {
	if d.common.NATSURL != "" {
		return func() {}, nil
	}
	ns, err := embedded.Start(embedded.Options{StoreDir: filepath.Join(d.dataDir, "nats")})
	if err != nil {
		return nil, err
	}
	d.env.set("NATS_URL", ns.URL())
	d.log.Debug("embedded NATS started", "component", "dev", "url", ns.URL())
	return ns.Stop, nil
}

// startPostgres starts a PostgreSQL cluster of dev's own in the data
// folder, unless DATABASE_URL names a database.
func (d *dev) startPostgres(ctx context.Context) (stop func(), err error) {
	if v, ok := d.opts.Env("DATABASE_URL"); ok && v != "" {
		return func() {}, nil
	}
	pg, db, err := startCluster(ctx, clusterOptions{
		DataDir: d.dataDir, Password: d.secrets.PGPassword, Port: d.opts.DBPort,
		Env: d.opts.Env, Search: d.opts.PGSearch, Log: d.log, Out: d.opts.Stdout,
	})
	if err != nil {
		return nil, err
	}
	d.db = db
	d.env.set("DATABASE_URL", pg.URL("postgres"))
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := pg.Stop(sctx); err != nil {
			d.log.Error("stop PostgreSQL", "component", "dev", "error", err.Error())
		}
	}, nil
}

// devDB is where dev's own PostgreSQL runs, for the banner and the state file.
type devDB struct {
	Files     string // the cluster's folder, which is not under the data folder when run as root from a folder out of the postgres user's reach
	Port      int
	PortTaken int // the DEV_DB_PORT that was taken, so a free port was used instead
}

type clusterOptions struct {
	DataDir, Password string
	Port              int
	Env               config.Lookup
	Search            *pgcluster.Search
	Log               *slog.Logger
	Out               io.Writer
}

// startCluster starts the PostgreSQL of a data folder, as `madbase dev` and
// `madbase db reset` do: on o.Port when it is free (else on a free port,
// said on o.Out), in the data folder's postgres folder (or, run as root
// from a folder the postgres user cannot reach, in rootFallbackDir).
func startCluster(ctx context.Context, o clusterOptions) (*pgcluster.Cluster, devDB, error) {
	var db devDB
	pgOpts := pgcluster.Options{
		DataDir:  filepath.Join(o.DataDir, "postgres"),
		Password: o.Password,
		Port:     o.Port,
		Log:      o.Log.With("component", "postgres"),
	}
	search := pgcluster.DefaultSearch
	if o.Search != nil {
		search = *o.Search
	}
	if dir, ok := o.Env("POSTGRES_BIN_DIR"); ok && dir != "" {
		search = pgcluster.Search{Globs: []string{dir}}
	}
	var err error
	if pgOpts.BinDir, err = search.Find(); err != nil {
		return nil, db, err
	}
	if o.Port != 0 && !portFree(o.Port) {
		fmt.Fprintf(o.Out, "Port %d (DEV_DB_PORT) is taken by another program; PostgreSQL uses a free port this time (set DEV_DB_PORT to keep one)\n", o.Port)
		db.PortTaken, pgOpts.Port = o.Port, 0
	}
	fmt.Fprintln(o.Out, "Starting PostgreSQL in", pgOpts.DataDir, "...")
	pg, err := pgcluster.Start(ctx, pgOpts)
	var unreachable *pgcluster.UnreachableError
	if errors.As(err, &unreachable) {
		// Run as root in a folder the postgres user can't enter (a
		// clone under /root): keep the cluster where it can.
		pgOpts.DataDir = rootFallbackDir(o.DataDir)
		fmt.Fprintf(o.Out, "%s is not reachable by the %s user that PostgreSQL runs as; using %s instead\n",
			unreachable.Dir, unreachable.User, pgOpts.DataDir)
		pg, err = pgcluster.Start(ctx, pgOpts)
	}
	if err != nil {
		return nil, db, err
	}
	db.Files, db.Port = pg.DataDir(), pg.Port()
	return pg, db, nil
}

func portFree(port int) bool {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	_ = ln.Close()
	return true
}

// listeners are the tiers' listeners, opened before anything runs so that
// a busy port is a clear error first.
type listeners struct {
	edge, control net.Listener
	workers       []net.Listener
	all           []net.Listener
}

func (l *listeners) close() {
	for _, ln := range l.all {
		_ = ln.Close()
	}
}

// listen opens every tier's listener, or none.
func (d *dev) listen() (*listeners, error) {
	host := func(name string) string {
		if v, ok := d.opts.Env(name); ok && v != "" {
			return v
		}
		return "127.0.0.1"
	}
	port := func(name string, def int) int {
		if v, ok := d.opts.Env(name); ok && v != "" {
			if n, err := strconv.Atoi(v); err == nil {
				return n
			}
		}
		return def
	}
	l := &listeners{}
	open := func(what, h string, p int) (net.Listener, error) {
		ln, err := net.Listen("tcp", net.JoinHostPort(h, strconv.Itoa(p)))
		if err != nil {
			l.close()
			return nil, fmt.Errorf("%s cannot listen on %s:%d (%v); set %s to another port", what, h, p, err, strings.ToUpper(what)+"_PORT")
		}
		l.all = append(l.all, ln)
		return ln, nil
	}
	var err error
	if l.edge, err = open("edge", host("EDGE_HOST"), port("EDGE_PORT", 8000)); err != nil {
		return nil, err
	}
	if l.control, err = open("control", "127.0.0.1", port("CONTROL_PORT", 8001)); err != nil {
		return nil, err
	}
	workerBase := port("WORKER_PORT", 8002)
	l.workers = make([]net.Listener, d.opts.Workers)
	for i := range l.workers {
		p := 0
		if workerBase != 0 {
			p = workerBase + i
		}
		if l.workers[i], err = open("worker", "127.0.0.1", p); err != nil {
			return nil, err
		}
	}
	d.env.set("CONTROL_UPSTREAM_URL", scaffold.URL(l.control.Addr()))
	return l, nil
}

// tiers loads each tier's configuration and adds control, the workers and
// the edge to a group.
func (d *dev) tiers(lns *listeners) (*lifecycle.Group, error) {
	var ccfg config.Control
	var ecfg config.Edge
	if err := config.Load(&ccfg, d.env.lookup); err != nil {
		return nil, err
	}
	if err := config.Load(&ecfg, d.env.lookup); err != nil {
		return nil, err
	}
	ccfg.InstanceID, ecfg.InstanceID = "control", "edge"
	wcfgs := make([]config.Worker, len(lns.workers))
	for i, ln := range lns.workers {
		if err := config.Load(&wcfgs[i], d.env.lookup); err != nil {
			return nil, err
		}
		wcfgs[i].InstanceID = fmt.Sprintf("worker-%d", i+1)
		wcfgs[i].AdvertiseURL = scaffold.URL(ln.Addr())
	}

	opts := d.opts
	g := &lifecycle.Group{}
	g.Add(func(ctx context.Context) error {
		return control.Run(ctx, ccfg, control.Options{Listener: lns.control, Migrations: opts.Migrations, Dev: true, LogOut: opts.Stderr})
	})
	for i, ln := range lns.workers {
		wcfg := wcfgs[i]
		g.Add(func(ctx context.Context) error {
			return worker.Run(ctx, wcfg, worker.Options{Listener: ln, Dev: true, Version: opts.Version, LogOut: opts.Stderr})
		})
	}
	g.Add(func(ctx context.Context) error {
		return edge.Run(ctx, ecfg, edge.Options{Listener: lns.edge, Version: opts.Version, LogOut: opts.Stderr})
	})
	return g, nil
}

// announce is the actor that waits until every tier is ready, writes the
// state file and prints the banner, and removes the state file when dev
// stops.
func (d *dev) announce(lns *listeners) func(context.Context) error {
	apiURL := scaffold.URL(lns.edge.Addr())
	controlURL := scaffold.URL(lns.control.Addr())
	return func(ctx context.Context) error {
		secret, _ := d.env.lookup("JWT_SECRET")
		adminPW, _ := d.env.lookup("ADMIN_PASSWORD")
		dbURL, _ := d.env.lookup("DATABASE_URL")
		if err := waitReady(ctx, apiURL, controlURL, adminPW, d.opts.Workers); err != nil {
			return err
		}
		issued := d.secrets.KeysIssuedAt
		anon, err := jwtauth.AnonKey([]byte(secret), issued, issued.Add(KeyLifetime))
		if err != nil {
			return err
		}
		service, err := jwtauth.ServiceRoleKey([]byte(secret), issued, issued.Add(KeyLifetime))
		if err != nil {
			return err
		}
		if err := writeState(d.dataDir, State{APIURL: apiURL, ControlURL: controlURL, NATSURL: d.natsURL(), DatabaseURL: dbURL,
			DatabaseFiles: d.db.Files, PID: os.Getpid()}); err != nil {
			return err
		}
		publishable, secretKey := jwtauth.OpaqueKeys([]byte(secret))
		printBanner(d.opts.Stdout, banner{apiURL: apiURL, anon: anon, service: service, publishable: publishable, secretKey: secretKey,
			adminPW: adminPW, dataDir: d.dataDir, workers: d.opts.Workers, dbURL: dbURL, db: d.db})
		<-ctx.Done()
		_ = os.Remove(filepath.Join(d.dataDir, stateFile))
		return nil
	}
}

// shipperActor publishes dev's own log records on NATS like every tier's.
func shipperActor(sh *logging.Shipper, natsURL string, log *slog.Logger) func(context.Context) error {
	return func(ctx context.Context) error {
		nc, err := bus.Connect(natsURL, "madbase dev", log)
		if err != nil {
			return err
		}
		defer nc.Close()
		sh.Attach(nc)
		return sh.Run(ctx)
	}
}

// waitReady polls until the edge routes to every worker and control lists
// them all, so that what the banner announces is true when it is printed.
func waitReady(ctx context.Context, apiURL, controlURL, adminPassword string, workers int) error {
	deadline := time.Now().Add(60 * time.Second)
	count := func(url, field string, auth bool) int {
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		if auth {
			req.Header.Set("Authorization", "Bearer "+adminPassword)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return -1
		}
		defer resp.Body.Close()
		var body map[string]json.RawMessage
		if json.NewDecoder(resp.Body).Decode(&body) != nil {
			return -1
		}
		var n int
		if json.Unmarshal(body[field], &n) == nil {
			return n
		}
		var list []json.RawMessage
		if json.Unmarshal(body[field], &list) == nil {
			return len(list)
		}
		return -1
	}
	for {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if count(apiURL+"/health", "workers_healthy", false) >= workers &&
			count(controlURL+"/admin/v1/workers", "workers", true) >= workers {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the edge at %s and control at %s did not both see %d workers within 60s", apiURL, controlURL, workers)
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

type banner struct {
	apiURL, anon, service, publishable, secretKey, adminPW, dataDir string
	workers                                                         int
	dbURL                                                           string
	db                                                              devDB
}

func printBanner(w io.Writer, b banner) {
	database := b.dbURL
	if b.db.Port == 0 {
		database = redactURL(b.dbURL) + "  (DATABASE_URL)"
	} else if b.db.PortTaken != 0 {
		database += fmt.Sprintf("  (DEV_DB_PORT %d was taken)", b.db.PortTaken)
	}
	files := ""
	if b.db.Files != "" && b.db.Files != filepath.Join(b.dataDir, "postgres") {
		files = fmt.Sprintf("\n  Database files    %s  (out of the data folder: the postgres user cannot reach it)", b.db.Files)
	}
	fmt.Fprintf(w, `
MadBase is running (%d workers). Point supabase-js at it:

  API URL           %s
  anon key          %s
  service_role key  %s
  (the same as opaque keys: %s and %s)

  Database          %s
  Dashboard         %s/dashboard/  (sign in with the admin password)
  Admin API         %s/admin/v1  (password: %s)
  Data folder       %s%s

  createClient('%s', '<anon key>')
  madbase sql opens psql on the database; Ctrl-C stops everything; the next start keeps all data and keys.
`, b.workers, b.apiURL, b.anon, b.service, b.publishable, b.secretKey, database, b.apiURL, b.apiURL, b.adminPW, b.dataDir, files, b.apiURL)
}

// redactURL hides a URL's password, for a DATABASE_URL the user gave.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(DATABASE_URL)"
	}
	return u.Redacted()
}

// overlayEnv is the environment with dev's own values on top.
type overlayEnv struct {
	base config.Lookup
	over map[string]string
}

func overlay(base config.Lookup, over map[string]string) *overlayEnv {
	return &overlayEnv{base: base, over: over}
}

func (o *overlayEnv) set(k, v string) { o.over[k] = v }

func (o *overlayEnv) lookup(k string) (string, bool) {
	if v, ok := o.over[k]; ok {
		return v, true
	}
	return o.base(k)
}

// rootFallbackDir is where a root-run madbase dev keeps PostgreSQL's data
// when its data folder is out of the postgres user's reach: under that
// user's home when it exists, named after the data folder so that each
// folder keeps its own cluster across restarts.
func rootFallbackDir(dataDir string) string {
	sum := sha256.Sum256([]byte(dataDir))
	name := filepath.Base(filepath.Dir(dataDir)) + "-" + hex.EncodeToString(sum[:4])
	base := "/var/lib/postgresql"
	if fi, err := os.Stat(base); err != nil || !fi.IsDir() {
		base = os.TempDir()
	}
	return filepath.Join(base, "madbase", name)
}
