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
}

// KeyLifetime is how long the API keys printed by madbase dev stay valid.
const KeyLifetime = 10 * 365 * 24 * time.Hour

// Run starts everything, prints how to connect, and stops it all when ctx
// is done (Ctrl-C). Data stays in opts.DataDir for the next start.
func Run(ctx context.Context, opts Options) error {
	if opts.Env == nil {
		opts.Env = config.Env
	}
	if opts.Workers < 1 {
		return fmt.Errorf("--workers must be at least 1, not %d", opts.Workers)
	}
	dataDir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return err
	}
	// 0711: others may pass through (PostgreSQL runs as the postgres user
	// when MadBase runs as root) but not list; secrets.json itself is 0600.
	if err := os.MkdirAll(dataDir, 0o711); err != nil {
		return fmt.Errorf("data folder: %w", err)
	}
	var common config.Common
	if err := config.Load(&common, opts.Env); err != nil {
		return err
	}
	log, shipper := logging.New(logging.Options{Level: common.LogLevel, Format: common.LogFormat, Tier: "dev", Instance: "dev", Out: opts.Stderr})

	secrets, err := loadSecrets(dataDir)
	if err != nil {
		return err
	}
	env := overlay(opts.Env, map[string]string{})
	if v, ok := opts.Env("JWT_SECRET"); !ok || v == "" {
		env.set("JWT_SECRET", secrets.JWTSecret)
	}
	if v, ok := opts.Env("ADMIN_PASSWORD"); !ok || v == "" {
		env.set("ADMIN_PASSWORD", secrets.AdminPassword)
	}
	if v, ok := opts.Env("STORAGE_DIR"); !ok || v == "" {
		env.set("STORAGE_DIR", filepath.Join(dataDir, "storage"))
	}

	// NATS: the configured one, or embedded with its store in the data folder.
	if common.NATSURL == "" {
		ns, err := embedded.Start(embedded.Options{StoreDir: filepath.Join(dataDir, "nats")})
		if err != nil {
			return err
		}
		defer ns.Stop()
		env.set("NATS_URL", ns.URL())
		log.Debug("embedded NATS started", "component", "dev", "url", ns.URL())
	}

	// PostgreSQL: DATABASE_URL, or a cluster of our own in the data folder.
	if v, ok := opts.Env("DATABASE_URL"); !ok || v == "" {
		pgOpts := pgcluster.Options{
			DataDir:  filepath.Join(dataDir, "postgres"),
			Password: secrets.PGPassword,
			Log:      log.With("component", "postgres"),
		}
		search := pgcluster.DefaultSearch
		if opts.PGSearch != nil {
			search = *opts.PGSearch
		}
		if dir, ok := opts.Env("POSTGRES_BIN_DIR"); ok && dir != "" {
			search = pgcluster.Search{Globs: []string{dir}}
		}
		if pgOpts.BinDir, err = search.Find(); err != nil {
			return err
		}
		fmt.Fprintln(opts.Stdout, "Starting PostgreSQL in", pgOpts.DataDir, "...")
		pg, err := pgcluster.Start(ctx, pgOpts)
		var unreachable *pgcluster.UnreachableError
		if errors.As(err, &unreachable) {
			// Run as root in a folder the postgres user can't enter (a
			// clone under /root): keep the cluster where it can.
			pgOpts.DataDir = rootFallbackDir(dataDir)
			fmt.Fprintf(opts.Stdout, "%s is not reachable by the %s user that PostgreSQL runs as; using %s instead\n",
				unreachable.Dir, unreachable.User, pgOpts.DataDir)
			pg, err = pgcluster.Start(ctx, pgOpts)
		}
		if err != nil {
			return err
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := pg.Stop(sctx); err != nil {
				log.Error("stop PostgreSQL", "component", "dev", "error", err.Error())
			}
		}()
		env.set("DATABASE_URL", pg.URL("postgres"))
	}
	dbURL, _ := env.lookup("DATABASE_URL")
	if _, err := control.RunMigrations(ctx, dbURL, log, opts.Migrations...); err != nil {
		return fmt.Errorf("database migrations: %w", err)
	}

	// Listeners first, so a busy port is a clear error before anything runs.
	host := func(name string) string {
		if v, ok := opts.Env(name); ok && v != "" {
			return v
		}
		return "127.0.0.1"
	}
	port := func(name string, def int) int {
		if v, ok := opts.Env(name); ok && v != "" {
			if n, err := strconv.Atoi(v); err == nil {
				return n
			}
		}
		return def
	}
	var closers []net.Listener
	listen := func(what, h string, p int) (net.Listener, error) {
		ln, err := net.Listen("tcp", net.JoinHostPort(h, strconv.Itoa(p)))
		if err != nil {
			for _, c := range closers {
				c.Close()
			}
			return nil, fmt.Errorf("%s cannot listen on %s:%d (%v); set %s to another port", what, h, p, err, strings.ToUpper(what)+"_PORT")
		}
		closers = append(closers, ln)
		return ln, nil
	}
	edgeLn, err := listen("edge", host("EDGE_HOST"), port("EDGE_PORT", 8000))
	if err != nil {
		return err
	}
	controlLn, err := listen("control", "127.0.0.1", port("CONTROL_PORT", 8001))
	if err != nil {
		return err
	}
	workerBase := port("WORKER_PORT", 8002)
	workerLns := make([]net.Listener, opts.Workers)
	for i := range workerLns {
		p := 0
		if workerBase != 0 {
			p = workerBase + i
		}
		if workerLns[i], err = listen("worker", "127.0.0.1", p); err != nil {
			return err
		}
	}
	controlURL := "http://" + controlLn.Addr().String()
	env.set("CONTROL_UPSTREAM_URL", controlURL)

	var ccfg config.Control
	var ecfg config.Edge
	if err := config.Load(&ccfg, env.lookup); err != nil {
		return err
	}
	if err := config.Load(&ecfg, env.lookup); err != nil {
		return err
	}
	ccfg.InstanceID, ecfg.InstanceID = "control", "edge"

	var g lifecycle.Group
	g.Add(func(ctx context.Context) error {
		return control.Run(ctx, ccfg, control.Options{Listener: controlLn, Migrations: opts.Migrations, Dev: true, LogOut: opts.Stderr})
	})
	for i, ln := range workerLns {
		var wcfg config.Worker
		if err := config.Load(&wcfg, env.lookup); err != nil {
			return err
		}
		wcfg.InstanceID = fmt.Sprintf("worker-%d", i+1)
		wcfg.AdvertiseURL = "http://" + ln.Addr().String()
		g.Add(func(ctx context.Context) error {
			return worker.Run(ctx, wcfg, worker.Options{Listener: ln, Dev: true, Version: opts.Version, LogOut: opts.Stderr})
		})
	}
	g.Add(func(ctx context.Context) error {
		return edge.Run(ctx, ecfg, edge.Options{Listener: edgeLn, Version: opts.Version, LogOut: opts.Stderr})
	})
	apiURL := "http://" + edgeLn.Addr().String()
	if h := host("EDGE_HOST"); h == "0.0.0.0" || h == "::" {
		apiURL = "http://127.0.0.1:" + strconv.Itoa(edgeLn.Addr().(*net.TCPAddr).Port)
	}
	natsURL, _ := env.lookup("NATS_URL")
	g.Add(func(ctx context.Context) error {
		secret, _ := env.lookup("JWT_SECRET")
		adminPW, _ := env.lookup("ADMIN_PASSWORD")
		if err := waitReady(ctx, apiURL, controlURL, adminPW, opts.Workers); err != nil {
			return err
		}
		anon, err := jwtauth.AnonKey([]byte(secret), secrets.KeysIssuedAt, secrets.KeysIssuedAt.Add(KeyLifetime))
		if err != nil {
			return err
		}
		service, err := jwtauth.ServiceRoleKey([]byte(secret), secrets.KeysIssuedAt, secrets.KeysIssuedAt.Add(KeyLifetime))
		if err != nil {
			return err
		}
		if err := writeState(dataDir, State{APIURL: apiURL, ControlURL: controlURL, NATSURL: natsURL, DatabaseURL: dbURL, PID: os.Getpid()}); err != nil {
			return err
		}
		publishable, secretKey := jwtauth.OpaqueKeys([]byte(secret))
		printBanner(opts.Stdout, apiURL, anon, service, publishable, secretKey, adminPW, dataDir, opts.Workers)
		<-ctx.Done()
		_ = os.Remove(filepath.Join(dataDir, stateFile))
		return nil
	})
	g.Add(shipperActor(shipper, natsURL, log))
	err = g.Run(ctx)
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
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

func printBanner(w io.Writer, apiURL, anon, service, publishable, secretKey, adminPW, dataDir string, workers int) {
	fmt.Fprintf(w, `
MadBase is running (%d workers). Point supabase-js at it:

  API URL           %s
  anon key          %s
  service_role key  %s
  (the same as opaque keys: %s and %s)

  Admin API         %s/admin/v1  (password: %s)
  Data folder       %s

  createClient('%s', '<anon key>')
  Ctrl-C stops everything; the next start keeps all data and keys.
`, workers, apiURL, anon, service, publishable, secretKey, apiURL, adminPW, dataDir, apiURL)
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
