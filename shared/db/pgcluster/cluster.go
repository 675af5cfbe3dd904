// Package pgcluster runs a local PostgreSQL server from the machine's own binaries. It is
// what lets `madbase dev` work on a laptop with nothing but PostgreSQL installed (a
// persistent data directory, created on first run and reused after), and what gives every
// test process a real, throwaway server (see package dbtest).
//
// The server is a child process of the caller, not a daemon: on Linux it is stopped by the
// kernel when the caller dies, so a crashed test binary or a killed `madbase dev` does not
// leave servers running. When the caller runs as root, the server runs as the `postgres`
// system user, because PostgreSQL refuses to run as root.
package pgcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/madbase/madbase/shared/lifecycle"
)

// SuperUser is the name of the superuser initdb creates, as in every stock installation and
// in Supabase, so that URLs and habits carry over.
const SuperUser = "postgres"

const (
	confFile   = "madbase.conf"         // settings Start rewrites on every start
	logFile    = "madbase-postgres.log" // the server's stderr, kept next to its data
	includeCmd = "include_if_exists = '" + confFile + "'"

	maxLogSize          = 16 << 20
	defaultStartTimeout = 60 * time.Second
	portAttempts        = 3
)

// Options says where and how to run the server.
type Options struct {
	// DataDir holds the cluster; created and initialized on first use, reused afterwards.
	DataDir string
	// BinDir holds initdb and postgres; empty means FindBinDir.
	BinDir string
	// Port is the TCP port on 127.0.0.1; 0 picks a free one on each start.
	Port int
	// Password is the superuser's password, set by initdb together with scram-sha-256
	// authentication. Empty means trust authentication, for throwaway test clusters only.
	// It only matters on the first start; later starts must pass the same password.
	Password string
	// NoSync turns off fsync and initdb's syncing: much faster, and a power loss can corrupt
	// the cluster. For test clusters only.
	NoSync bool
	// ExtraConf adds or overrides server settings (for example "max_connections": "300").
	ExtraConf map[string]string
	// StartTimeout bounds initdb plus start-up when ctx has no earlier deadline; 0 means 60s.
	StartTimeout time.Duration
	// Log receives progress records; nil discards them.
	Log *slog.Logger
}

// Cluster is a running server started by Start.
type Cluster struct {
	dataDir  string
	binDir   string
	port     int
	password string
	log      *slog.Logger

	cmd     *exec.Cmd
	done    chan struct{} // closed when the server process has exited
	waitErr error         // the process's exit status; read after done is closed

	stopOnce sync.Once
	stopErr  error
}

// Start initializes opts.DataDir if it holds no cluster yet, writes the settings, starts the
// server and returns once it accepts connections.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.DataDir == "" {
		return nil, errors.New("pgcluster: Options.DataDir is required")
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	timeout := opts.StartTimeout
	if timeout == 0 {
		timeout = defaultStartTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	binDir := opts.BinDir
	if binDir == "" {
		var err error
		if binDir, err = FindBinDir(); err != nil {
			return nil, err
		}
	} else if !isBinDir(binDir) {
		return nil, fmt.Errorf("pgcluster: %s does not hold initdb and postgres: %w", binDir, ErrNoBinaries)
	}
	su, err := lookupServerUser()
	if err != nil {
		return nil, err
	}
	dataDir, err := prepareDataDir(opts.DataDir, su)
	if err != nil {
		return nil, err
	}
	major, err := serverMajor(ctx, binDir)
	if err != nil {
		return nil, err
	}

	complete, err := setUp(dataDir, opts.Log)
	if err != nil {
		return nil, err
	}
	if !complete {
		if err := initdbAtomically(ctx, binDir, dataDir, su, opts); err != nil {
			return nil, err
		}
	} else if err := checkDataVersion(dataDir, binDir, major); err != nil {
		return nil, err
	}
	if err := removeStalePID(dataDir, opts.Log); err != nil {
		return nil, err
	}

	c := &Cluster{dataDir: dataDir, binDir: binDir, password: opts.Password, log: opts.Log}
	for attempt := 1; ; attempt++ {
		c.port = opts.Port
		if c.port == 0 {
			if c.port, err = freePort(); err != nil {
				return nil, err
			}
		}
		err = c.start(ctx, su, opts)
		if err == nil {
			opts.Log.Info("postgres ready", "port", c.port, "data_dir", dataDir, "version", major)
			return c, nil
		}
		// A free port can be taken by another process (a parallel test package) between our
		// probe and the server's bind; a fresh pick almost always works.
		if opts.Port != 0 || attempt == portAttempts || !errors.Is(err, errPortInUse) {
			return nil, err
		}
		opts.Log.Info("postgres port was taken, retrying on another", "port", c.port)
	}
}

var (
	errPortInUse = errors.New("port in use")
	errAuth      = errors.New("postgres refused the superuser's credentials")
)

// prepareDataDir creates the data directory (its new parents world-searchable, itself 0700
// as PostgreSQL demands) and hands it to the server user.
func prepareDataDir(dir string, su serverUser) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("pgcluster: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return "", fmt.Errorf("pgcluster: creating the data directory: %w", err)
	}
	if err := os.Mkdir(abs, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("pgcluster: creating the data directory: %w", err)
	}
	if abs, err = filepath.EvalSymlinks(abs); err != nil {
		return "", fmt.Errorf("pgcluster: %w", err)
	}
	if err := su.ensureTraversable(abs); err != nil {
		return "", err
	}
	return abs, nil
}

var versionRE = regexp.MustCompile(`\(PostgreSQL\) (\d+)`)

// serverMajor reads the major version of the binaries, to refuse a data directory made by
// another major version with a message rather than a cryptic server log line.
func serverMajor(ctx context.Context, binDir string) (string, error) {
	out, err := exec.CommandContext(ctx, filepath.Join(binDir, "postgres"), "--version").Output()
	if err != nil {
		return "", fmt.Errorf("pgcluster: running %s --version: %w", filepath.Join(binDir, "postgres"), err)
	}
	m := versionRE.FindSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("pgcluster: unrecognised postgres --version output %q", bytes.TrimSpace(out))
	}
	return string(m[1]), nil
}

func checkDataVersion(dataDir, binDir, major string) error {
	b, err := os.ReadFile(filepath.Join(dataDir, "PG_VERSION"))
	if err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	if have := strings.TrimSpace(string(b)); have != major {
		return fmt.Errorf("pgcluster: the data directory %s was created by PostgreSQL %s, but the binaries in %s are "+
			"PostgreSQL %s; install PostgreSQL %s, or upgrade the data with pg_upgrade, or start afresh with a new data directory",
			dataDir, have, binDir, major, have)
	}
	return nil
}

// setUp reports whether dataDir holds a cluster set up completely: initdb ran to its end
// and MadBase's include line is in postgresql.conf (the last step of initdbAtomically). A
// folder left by an interrupted first start of an older MadBase (initdb killed half-way, or
// killed before the include line was added, which makes the server listen on PostgreSQL's
// default port and socket instead of MadBase's) was never started by MadBase, since
// madbase.conf is written only when a server starts: it is moved aside, named in the log,
// and the caller initializes afresh. Any other non-empty folder without a cluster is an
// error naming it, so that nothing of the user's is overwritten.
func setUp(dataDir string, log *slog.Logger) (bool, error) {
	conf, err := os.ReadFile(filepath.Join(dataDir, "postgresql.conf"))
	if err == nil && bytes.Contains(conf, []byte(includeCmd)) {
		return true, nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, fmt.Errorf("pgcluster: %w", err)
	}
	entries, err := os.ReadDir(dataDir)
	if err != nil {
		return false, fmt.Errorf("pgcluster: %w", err)
	}
	if len(entries) == 0 {
		return false, nil
	}
	_, verErr := os.Stat(filepath.Join(dataDir, "PG_VERSION"))
	_, ownErr := os.Stat(filepath.Join(dataDir, confFile))
	switch {
	case verErr == nil && ownErr == nil:
		// Started by MadBase before, yet the include line is gone: someone edited
		// postgresql.conf. Put it back rather than start on the wrong port.
		return true, appendInclude(dataDir)
	case verErr == nil:
		aside := fmt.Sprintf("%s.incomplete-%s", dataDir, time.Now().UTC().Format("20060102T150405"))
		if err := os.Rename(dataDir, aside); err != nil {
			return false, fmt.Errorf("pgcluster: the data directory %s holds a cluster whose setup was interrupted "+
				"(a first start stopped during initdb); moving it aside failed (%v): remove it and start again", dataDir, err)
		}
		if err := os.Mkdir(dataDir, 0o700); err != nil {
			return false, fmt.Errorf("pgcluster: %w", err)
		}
		log.Warn("the data directory held a cluster whose setup was interrupted (a first start stopped during initdb); "+
			"moved it aside and initializing afresh", "data_dir", dataDir, "moved_to", aside)
		return false, nil
	default:
		return false, fmt.Errorf("pgcluster: the data directory %s is not empty and holds no PostgreSQL cluster "+
			"(no PG_VERSION); empty it, remove it, or choose another data directory", dataDir)
	}
}

// initdbAtomically initializes the cluster in a sibling folder and renames it into place
// (dataDir is empty) once initdb and MadBase's configuration are both done, so that an
// interrupted first start leaves only the sibling, which the next start removes.
func initdbAtomically(ctx context.Context, binDir, dataDir string, su serverUser, opts Options) error {
	tmp := dataDir + ".initdb"
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("pgcluster: removing the leftover of an interrupted initdb: %w", err)
	}
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	if err := su.chown(tmp); err != nil {
		return err
	}
	if err := initdb(ctx, binDir, tmp, su, opts); err != nil {
		_ = os.RemoveAll(tmp)
		return err
	}
	if err := appendInclude(tmp); err != nil {
		return err
	}
	// dataDir is empty (setUp said so): remove it, as os.Rename will not replace a folder.
	if err := os.Remove(dataDir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("pgcluster: moving the new cluster into %s: %w", dataDir, err)
	}
	if err := os.Rename(tmp, dataDir); err != nil {
		return fmt.Errorf("pgcluster: moving the new cluster into %s: %w", dataDir, err)
	}
	return nil
}

// appendInclude makes postgresql.conf read the settings Start writes on every start.
func appendInclude(dataDir string) error {
	conf := filepath.Join(dataDir, "postgresql.conf")
	f, err := os.OpenFile(conf, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	_, err = fmt.Fprintf(f, "\n# Settings written by MadBase on every start; ALTER SYSTEM still overrides them.\n%s\n", includeCmd)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	return nil
}

func initdb(ctx context.Context, binDir, dataDir string, su serverUser, opts Options) error {
	opts.Log.Info("initializing postgres data directory", "data_dir", dataDir)
	args := []string{"-D", dataDir, "-U", SuperUser, "-E", "UTF8"}
	if opts.NoSync {
		args = append(args, "--no-sync")
	}
	if opts.Password != "" {
		pwfile, err := writePasswordFile(opts.Password, su)
		if err != nil {
			return err
		}
		defer os.Remove(pwfile)
		args = append(args, "--auth=scram-sha-256", "--pwfile="+pwfile)
	} else {
		args = append(args, "--auth=trust")
	}
	// C.UTF-8 sorts bytewise like C but lets upper(), lower() and ILIKE understand non-ASCII
	// letters; systems without it (older glibc, macOS) fall back to C.
	var out []byte
	var err error
	for _, locale := range []string{"C.UTF-8", "C"} {
		cmd := exec.CommandContext(ctx, filepath.Join(binDir, "initdb"), append(args, "--locale="+locale)...)
		su.prepare(cmd)
		out, err = cmd.CombinedOutput()
		if err == nil || !bytes.Contains(out, []byte("locale")) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("pgcluster: initdb failed (%v):\n%s", err, bytes.TrimSpace(out))
	}
	return nil
}

// writePasswordFile puts the password where initdb, running as the server user, can read it
// and nobody else can; the caller removes it.
func writePasswordFile(password string, su serverUser) (string, error) {
	f, err := os.CreateTemp("", "madbase-pwfile-*")
	if err != nil {
		return "", fmt.Errorf("pgcluster: %w", err)
	}
	_, err = f.WriteString(password + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = su.chown(f.Name())
	}
	if err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("pgcluster: writing the password file: %w", err)
	}
	return f.Name(), nil
}

// settings returns the server configuration: loopback only (the password, or trust for
// tests, is all that guards it), logical decoding on for realtime with the WAL a slot keeps
// bounded, and the caller's extras
// last so that they win.
func (c *Cluster) settings(opts Options) map[string]string {
	s := map[string]string{
		"listen_addresses": "127.0.0.1",
		"port":             strconv.Itoa(c.port),
		"wal_level":        "logical",
		// One slot (and one WAL sender while a worker reads it) per database whose changes
		// realtime streams: with projects, one per project.
		"max_replication_slots": "64",
		"max_wal_senders":       "64",
		// Realtime keeps a persistent replication slot; while no worker reads it, this
		// bounds the WAL it holds (past it PostgreSQL gives the slot up, not the disk).
		"max_slot_wal_keep_size": "1GB",
		"logging_collector":      "off",
		// Sockets let `psql -h <data dir>` work; a path longer than the kernel's limit for a
		// socket name would stop the server from starting, so then there is none.
		"unix_socket_directories": "",
	}
	if len(filepath.Join(c.dataDir, ".s.PGSQL.65535")) < 100 {
		s["unix_socket_directories"] = c.dataDir
	}
	if opts.NoSync {
		s["fsync"] = "off"
		s["synchronous_commit"] = "off"
		s["full_page_writes"] = "off"
	}
	maps.Copy(s, opts.ExtraConf)
	return s
}

var settingNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.]*$`)

func (c *Cluster) writeConf(su serverUser, opts Options) error {
	s := c.settings(opts)
	var b strings.Builder
	b.WriteString("# Written by MadBase (pgcluster) on every start: edits here are lost. Use ALTER SYSTEM instead.\n")
	for _, k := range slices.Sorted(maps.Keys(s)) {
		if !settingNameRE.MatchString(k) {
			return fmt.Errorf("pgcluster: invalid setting name %q", k)
		}
		fmt.Fprintf(&b, "%s = '%s'\n", k, strings.ReplaceAll(strings.ReplaceAll(s[k], `\`, `\\`), "'", "''"))
	}
	path := filepath.Join(c.dataDir, confFile)
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	return su.chown(path)
}

// start runs the server once on c.port and waits until it accepts connections.
func (c *Cluster) start(ctx context.Context, su serverUser, opts Options) error {
	if err := c.writeConf(su, opts); err != nil {
		return err
	}
	logf, err := openLog(filepath.Join(c.dataDir, logFile), su)
	if err != nil {
		return err
	}
	defer logf.Close() // the child holds its own descriptor
	logStart, _ := logf.Seek(0, io.SeekEnd)

	cmd := exec.Command(filepath.Join(c.binDir, "postgres"), "-D", c.dataDir)
	su.prepare(cmd)
	setParentDeathSignal(cmd.SysProcAttr)
	cmd.Stdout, cmd.Stderr = logf, logf
	c.cmd = cmd
	c.done = make(chan struct{})

	// The parent-death signal fires when the starting thread exits, not the process;
	// StartHeld holds that thread until the server is gone.
	err = lifecycle.StartHeld(cmd, func(waitErr error) {
		c.waitErr = waitErr
		close(c.done)
	})
	if err != nil {
		return fmt.Errorf("pgcluster: starting postgres: %w", err)
	}

	if err := c.waitReady(ctx); err != nil {
		if !c.exited() {
			c.kill()
		}
		tail := c.logTail(logStart)
		if strings.Contains(tail, "could not bind") || strings.Contains(tail, "Address already in use") {
			err = fmt.Errorf("%w: %w", errPortInUse, err)
		}
		return fmt.Errorf("pgcluster: postgres did not start: %w\nserver log (%s):\n%s", err, c.LogPath(), tail)
	}
	return nil
}

func openLog(path string, su serverUser) (*os.File, error) {
	if fi, err := os.Stat(path); err == nil && fi.Size() > maxLogSize {
		_ = os.Rename(path, path+".1") // keep one old log; losing it is harmless
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("pgcluster: opening the server log: %w", err)
	}
	if err := su.chown(path); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// waitReady polls with real connections, which proves what callers need (TCP, the port,
// authentication), until the server answers, exits, or ctx ends.
func (c *Cluster) waitReady(ctx context.Context) error {
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	for {
		attemptCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgconn.Connect(attemptCtx, c.URL("postgres"))
		cancel()
		if err == nil {
			return conn.Close(ctx)
		}
		// The server is up but refuses us: waiting will not help. The usual cause is a
		// Password other than the one the data directory was initialized with.
		if pgErr := (*pgconn.PgError)(nil); errors.As(err, &pgErr) && strings.HasPrefix(pgErr.Code, "28") {
			return fmt.Errorf("%w: the superuser password is set when the data directory is created "+
				"and Options.Password must match it (change it with ALTER ROLE postgres PASSWORD ...): %v", errAuth, err)
		}
		lastErr = err
		select {
		case <-c.done:
			return fmt.Errorf("postgres exited: %v", c.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("%w (last connection error: %v)", ctx.Err(), lastErr)
		case <-tick.C:
		}
	}
}

func (c *Cluster) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// kill stops a server that failed to come up: a fast shutdown, so that the next start needs
// no crash recovery, then SIGKILL if that hangs.
func (c *Cluster) kill() {
	_ = c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// logTail returns what the server logged since offset from, at most the last 4 KiB.
func (c *Cluster) logTail(from int64) string {
	b, err := os.ReadFile(c.LogPath())
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	if from > int64(len(b)) {
		from = 0
	}
	b = b[from:]
	if len(b) > 4096 {
		b = b[len(b)-4096:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(bytes.TrimSpace(b))
}

// URL is a superuser connection URL for dbname.
func (c *Cluster) URL(dbname string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(SuperUser),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)),
		Path:     "/" + dbname,
		RawQuery: "sslmode=disable",
	}
	if c.password != "" {
		u.User = url.UserPassword(SuperUser, c.password)
	}
	return u.String()
}

// Port is the TCP port the server listens on at 127.0.0.1.
func (c *Cluster) Port() int { return c.port }

// DataDir is the absolute path of the cluster's data directory.
func (c *Cluster) DataDir() string { return c.dataDir }

// LogPath is the file the server logs to, inside the data directory.
func (c *Cluster) LogPath() string { return filepath.Join(c.dataDir, logFile) }

// Done is closed when the server process exits, whether through Stop or not; `madbase dev`
// watches it to fail loudly rather than serve errors.
func (c *Cluster) Done() <-chan struct{} { return c.done }

// Stop shuts the server down with a fast shutdown (open transactions are rolled back,
// clients disconnected, a checkpoint written) and waits for it to exit. If ctx ends first,
// it falls back to an immediate shutdown and then SIGKILL. Calling Stop again returns the
// first result.
func (c *Cluster) Stop(ctx context.Context) error {
	c.stopOnce.Do(func() {
		if c.exited() {
			if c.waitErr != nil {
				c.stopErr = fmt.Errorf("pgcluster: postgres had already exited: %w", c.waitErr)
			}
			return
		}
		if err := c.cmd.Process.Signal(syscall.SIGINT); err != nil && !c.exited() {
			c.stopErr = fmt.Errorf("pgcluster: signalling postgres: %w", err)
		}
		select {
		case <-c.done:
			c.log.Info("postgres stopped", "data_dir", c.dataDir)
		case <-ctx.Done():
			_ = c.cmd.Process.Signal(syscall.SIGQUIT) // immediate shutdown
			select {
			case <-c.done:
			case <-time.After(5 * time.Second):
				_ = c.cmd.Process.Kill()
				<-c.done
			}
			c.stopErr = fmt.Errorf("pgcluster: postgres did not stop in time, killed it: %w", ctx.Err())
		}
	})
	return c.stopErr
}

// removeStalePID deletes a postmaster.pid left by a server that no longer runs (a crash, a
// power cut, a container restart). PostgreSQL does this itself when the PID is dead, but
// after a container restart the PID is often reused by an unrelated process, and then it
// refuses to start; checking what the process is settles that. A live postgres is a real
// conflict, reported with how to resolve it.
func removeStalePID(dataDir string, log *slog.Logger) error {
	path := filepath.Join(dataDir, "postmaster.pid")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err == nil && pid > 0 && pid != os.Getpid() && processAlive(pid) && isPostgres(pid) {
		return fmt.Errorf("pgcluster: a PostgreSQL server (pid %d) is already running on the data directory %s; "+
			"stop it (`pg_ctl stop -D %s`, as the user that owns the directory) or use another data directory", pid, dataDir, dataDir)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("pgcluster: removing a stale postmaster.pid: %w", err)
	}
	log.Info("removed a stale postmaster.pid left by a server that is no longer running", "pid", pid, "data_dir", dataDir)
	return nil
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// isPostgres reports whether pid is a postgres process; where /proc cannot tell, it assumes
// so, which errs on the side of not touching a running server's files.
func isPostgres(pid int) bool {
	comm, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "comm"))
	if err != nil {
		return !procMounted()
	}
	return strings.TrimSpace(string(comm)) == "postgres"
}

func procMounted() bool {
	_, err := os.Stat("/proc/self/comm")
	return err == nil
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgcluster: finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
