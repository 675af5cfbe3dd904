// Package dbtest gives tests a real PostgreSQL database of their own. Each test process
// starts one throwaway cluster from the machine's binaries (or uses the server named by
// MADBASE_TEST_DATABASE_URL); each test gets a fresh database cloned from a template that
// was migrated once per process for its set of migration sources, so tests are isolated,
// parallel and fast, and nothing mocks PostgreSQL.
//
// A package that uses it calls Main from its TestMain:
//
//	func TestMain(m *testing.M) { dbtest.Main(m) }
package dbtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/madbase/madbase/shared/db/migrate"
	"github.com/madbase/madbase/shared/db/pgcluster"
)

// EnvURL names the variable that points the tests at an existing server instead of a
// throwaway cluster: a superuser URL (databases are created and dropped on it).
const EnvURL = "MADBASE_TEST_DATABASE_URL"

// DB is one test's database.
type DB struct {
	Name string
	URL  string // superuser URL of this database
	Pool *pgxpool.Pool
}

// server is the process-wide PostgreSQL the tests share.
type server struct {
	adminURL string        // superuser URL of the "postgres" database
	admin    *pgxpool.Pool // creates and drops databases
	cluster  *pgcluster.Cluster
	dir      string // the throwaway cluster's directory, removed at the end
	prefix   string // names this process's databases apart from other processes'
}

type template struct {
	ready chan struct{} // closed once name or err is set
	name  string
	err   error
}

var (
	startOnce sync.Once
	srv       *server
	srvErr    error

	tmplMu    sync.Mutex
	templates = map[string]*template{}

	dbSeq atomic.Int64
)

// New returns a pool on a fresh database with sources migrated, dropped when t ends.
func New(t testing.TB, sources ...migrate.Source) *pgxpool.Pool {
	t.Helper()
	return NewDB(t, sources...).Pool
}

// NewDB is New for tests that also need the database's name or URL, for instance to build
// a pool of their own with a tracer or other settings.
func NewDB(t testing.TB, sources ...migrate.Source) *DB {
	t.Helper()
	s, err := getServer()
	if err != nil {
		t.Fatalf("dbtest: %v", err) // never a skip: a missing PostgreSQL must be noticed
	}
	tmpl, err := s.template(sources)
	if err != nil {
		t.Fatalf("dbtest: preparing the template database: %v", err)
	}
	name := fmt.Sprintf("%s_%d", s.prefix, dbSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.createDatabase(ctx, name, tmpl); err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	d := &DB{Name: name, URL: withDatabase(s.adminURL, name)}
	t.Cleanup(func() {
		if d.Pool != nil {
			d.Pool.Close()
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.dropDatabase(ctx, name); err != nil {
			t.Errorf("dbtest: dropping %s: %v", name, err)
		}
	})
	if d.Pool, err = pgxpool.New(ctx, d.URL); err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	return d
}

// dropDatabase drops a test's database. FORCE ends its sessions but not a
// logical replication slot's: a realtime test's WAL reader may still be
// letting go of its slot (the walsender exits a moment after the client
// closed), so the slots are ended and dropped too, and the drop is retried
// while PostgreSQL still counts one as active.
func (s *server) dropDatabase(ctx context.Context, name string) error {
	drop := "drop database if exists " + pgx.Identifier{name}.Sanitize() + " with (force)"
	for {
		_, err := s.admin.Exec(ctx, drop)
		var pgErr *pgconn.PgError
		if err == nil || !errors.As(err, &pgErr) || pgErr.Code != "55006" { // object_in_use
			return err
		}
		_, _ = s.admin.Exec(ctx, `select pg_terminate_backend(active_pid) from pg_replication_slots
			where database = $1 and active_pid is not null`, name)
		_, _ = s.admin.Exec(ctx, `select pg_drop_replication_slot(slot_name) from pg_replication_slots
			where database = $1 and not active`, name)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// AdminURL is a superuser URL of the shared server's "postgres" database, for tests that
// need a server rather than a database (replication, roles).
func AdminURL(t testing.TB) string {
	t.Helper()
	s, err := getServer()
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	return s.adminURL
}

// Main runs the package's tests and then stops the cluster and removes its files. If the
// process dies instead (a panic, a -timeout), the kernel stops the server (see pgcluster)
// and the next test process removes the directory.
func Main(m *testing.M) {
	code := m.Run()
	shutdown()
	os.Exit(code)
}

// Shutdown stops the test process's PostgreSQL (or drops its databases from a
// shared server). It is for a TestMain that runs more after the tests, such as
// apitest.Main's leak check: apitest.Main(m, apitest.Teardown(dbtest.Shutdown)).
func Shutdown() { shutdown() }

func getServer() (*server, error) {
	startOnce.Do(func() { srv, srvErr = startServer() })
	return srv, srvErr
}

func startServer() (*server, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := &server{prefix: processPrefix()}
	if u := os.Getenv(EnvURL); u != "" {
		s.adminURL = u
	} else {
		removeAbandonedDirs()
		dir, err := os.MkdirTemp("", dirPrefix)
		if err != nil {
			return nil, err
		}
		s.dir = dir
		if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
			return nil, err
		}
		s.cluster, err = pgcluster.Start(ctx, pgcluster.Options{
			DataDir: filepath.Join(dir, "data"),
			NoSync:  true,
			ExtraConf: map[string]string{
				"max_connections": "300",
				"shared_buffers":  "64MB",
			},
		})
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		s.adminURL = s.cluster.URL("postgres")
	}
	cfg, err := pgxpool.ParseConfig(s.adminURL)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvURL, err)
	}
	cfg.MaxConns = 8
	if s.admin, err = pgxpool.NewWithConfig(ctx, cfg); err == nil {
		err = s.admin.Ping(ctx)
	}
	if err != nil {
		s.stop()
		return nil, fmt.Errorf("connecting to the test server: %w", err)
	}
	return s, nil
}

func shutdown() {
	if srv == nil {
		return
	}
	if srv.cluster == nil {
		// A shared server outlives us: leave it as we found it.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		tmplMu.Lock()
		for _, tm := range templates {
			if tm.name != "" {
				_, _ = srv.admin.Exec(ctx, "drop database if exists "+pgx.Identifier{tm.name}.Sanitize()+" with (force)")
			}
		}
		tmplMu.Unlock()
	}
	srv.stop()
}

func (s *server) stop() {
	if s.admin != nil {
		s.admin.Close()
	}
	if s.cluster != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = s.cluster.Stop(ctx)
	}
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
	}
}

// template returns the name of a database migrated with sources, creating it on first use.
// Different source sets are built in parallel; the same set only once.
func (s *server) template(sources []migrate.Source) (string, error) {
	key, err := sourcesKey(sources)
	if err != nil {
		return "", err
	}
	tmplMu.Lock()
	tm, ok := templates[key]
	if !ok {
		tm = &template{ready: make(chan struct{})}
		templates[key] = tm
	}
	tmplMu.Unlock()
	if ok {
		<-tm.ready
		return tm.name, tm.err
	}
	defer close(tm.ready)
	name := s.prefix + "_tmpl_" + key[:12]
	tm.err = s.buildTemplate(name, sources)
	if tm.err == nil {
		tm.name = name
	}
	return tm.name, tm.err
}

func (s *server) buildTemplate(name string, sources []migrate.Source) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := s.createDatabase(ctx, name, "template0"); err != nil {
		return err
	}
	pool, err := pgxpool.New(ctx, withDatabase(s.adminURL, name))
	if err != nil {
		return err
	}
	// CREATE DATABASE ... TEMPLATE refuses a template with open connections: close them all.
	defer pool.Close()
	_, err = migrate.Run(ctx, pool, slog.New(slog.DiscardHandler), sources...)
	return err
}

// createDatabase clones tmpl. The server waits up to five seconds for the template's last
// connections to go (a closed pool's backends exit asynchronously); beyond that, retry.
func (s *server) createDatabase(ctx context.Context, name, tmpl string) error {
	sql := "create database " + pgx.Identifier{name}.Sanitize() + " template " + pgx.Identifier{tmpl}.Sanitize()
	for {
		_, err := s.admin.Exec(ctx, sql)
		var pgErr *pgconn.PgError
		if err == nil || !errors.As(err, &pgErr) || pgErr.Code != "55006" { // object_in_use
			if err != nil {
				return fmt.Errorf("creating database %s: %w", name, err)
			}
			return s.copySettings(ctx, name, tmpl)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("creating database %s: %w", name, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// copySettings gives a clone its template's ALTER DATABASE ... SET settings (the platform
// migrations put the extensions schema on the search_path that way), which CREATE DATABASE
// does not copy. Each value is set in the session as PostgreSQL parsed it, then stored
// FROM CURRENT, so list settings keep their quoting.
func (s *server) copySettings(ctx context.Context, name, tmpl string) error {
	conn, err := s.admin.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	rows, err := conn.Query(ctx, `select unnest(setconfig) from pg_catalog.pg_db_role_setting
		where setrole = 0 and setdatabase = (select oid from pg_catalog.pg_database where datname = $1)`, tmpl)
	if err != nil {
		return fmt.Errorf("reading %s's settings: %w", tmpl, err)
	}
	settings, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("reading %s's settings: %w", tmpl, err)
	}
	for _, kv := range settings {
		k, v, _ := strings.Cut(kv, "=")
		if _, err := conn.Exec(ctx, "select pg_catalog.set_config($1, $2, false)", k, v); err != nil {
			return fmt.Errorf("copying %s's setting %s: %w", tmpl, k, err)
		}
		if _, err := conn.Exec(ctx, "alter database "+pgx.Identifier{name}.Sanitize()+" set "+pgx.Identifier{k}.Sanitize()+" from current"); err != nil {
			return fmt.Errorf("copying %s's setting %s: %w", tmpl, k, err)
		}
		if _, err := conn.Exec(ctx, "reset "+pgx.Identifier{k}.Sanitize()); err != nil {
			return err
		}
	}
	return nil
}

// sourcesKey identifies a set of sources by their names and file contents, so that two
// tests passing equal sources share a template and a changed file gets a new one.
func sourcesKey(sources []migrate.Source) (string, error) {
	h := sha256.New()
	for _, src := range sources {
		fmt.Fprintf(h, "source %q\n", src.Name)
		if src.FS == nil {
			continue // migrate.Run reports it
		}
		entries, err := fs.ReadDir(src.FS, ".")
		if err != nil {
			return "", fmt.Errorf("reading migration source %q: %w", src.Name, err)
		}
		for _, e := range entries {
			if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
				continue
			}
			b, err := fs.ReadFile(src.FS, e.Name())
			if err != nil {
				return "", fmt.Errorf("reading migration source %q: %w", src.Name, err)
			}
			fmt.Fprintf(h, "file %q %d\n", e.Name(), len(b))
			h.Write(b)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// processPrefix names this process's databases: the PID keeps concurrent test processes on
// one shared server apart, the random part keeps apart machines sharing one.
func processPrefix() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("madbase_t%d_%s", os.Getpid(), hex.EncodeToString(b[:]))
}

func withDatabase(rawURL, name string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawURL // validated when the admin pool was made
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String()
}

const (
	dirPrefix = "madbase-dbtest-"
	ownerFile = "owner.pid"
)

// removeAbandonedDirs deletes the cluster directories of test processes that died without
// running Main's clean-up (their servers were stopped by the kernel). A directory whose
// owner PID is alive is left alone, even if that PID was reused: a leak, never a loss.
func removeAbandonedDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if !alive(pid) && !alive(postmasterPID(dir)) {
			_ = os.RemoveAll(dir)
		}
	}
}

func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	return !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// postmasterPID reads the PID of a server that may still be shutting down in dir.
func postmasterPID(dir string) int {
	b, err := os.ReadFile(filepath.Join(dir, "data", "postmaster.pid"))
	if err != nil {
		return 0
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(first))
	return pid
}
