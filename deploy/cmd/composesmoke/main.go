// Command composesmoke starts the topology of docker-compose.yml as separate
// processes on loopback, without a Docker engine, and checks it end to end:
// PostgreSQL (from the machine's binaries, through pgcluster), redis-server,
// an S3 server (gofakes3 on a bbolt file) standing in for minio, NATS
// (embedded nats-server with JetStream), then control, two workers and the
// edge, each `madbase <tier>` process given the environment compose would
// give its container (docker-compose.yml's environment over .env, with the
// service addresses rewritten to loopback ports). It waits for every /health,
// sends requests through the edge until both workers have answered, creates a
// user, a row and a file, restarts everything and checks they are all still
// there. scripts/compose-smoke.sh builds and runs it.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3bolt"
	"github.com/madbase/madbase/bus/embedded"
	"github.com/madbase/madbase/deploy"
	"github.com/madbase/madbase/shared/db/pgcluster"
	bolt "go.etcd.io/bbolt"
)

func main() {
	var o opts
	flag.StringVar(&o.bin, "madbase", "", "the madbase binary (go build ./cmd/madbase)")
	flag.StringVar(&o.root, "root", ".", "the repository (docker-compose.yml, .env.example)")
	flag.StringVar(&o.dir, "dir", "", "folder for data and logs (default: a new temporary folder, removed afterwards)")
	flag.DurationVar(&o.timeout, "timeout", 4*time.Minute, "give up after this long")
	flag.Parse()
	if o.bin == "" {
		fmt.Fprintln(os.Stderr, "usage: composesmoke -madbase path/to/madbase [-root .] [-dir D]")
		os.Exit(2)
	}
	if o.dir == "" {
		d, err := os.MkdirTemp("", "madbase-compose-smoke-")
		if err != nil {
			fatal(err)
		}
		defer os.RemoveAll(d)
		o.dir = d
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	s := &smoke{opts: o, procs: map[string]*proc{}}
	start := time.Now()
	err := s.run(ctx)
	s.stopAll()
	if err != nil {
		fmt.Fprintf(os.Stderr, "\ncompose smoke FAILED after %s: %v\n", time.Since(start).Round(time.Second), err)
		s.dumpLogs()
		os.RemoveAll(o.dir)
		os.Exit(1)
	}
	fmt.Printf("compose smoke passed in %s\n", time.Since(start).Round(time.Second))
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "composesmoke:", err)
	os.Exit(1)
}

type opts struct {
	bin, root, dir string
	timeout        time.Duration
}

type smoke struct {
	opts
	compose *deploy.Compose
	dotenv  map[string]string
	ports   map[string]int // service or instance name -> loopback port
	addrs   map[string]string

	pg    *pgcluster.Cluster
	nats  *embedded.Server
	s3    *http.Server
	s3db  *s3bolt.Backend
	bolt  *bolt.DB
	procs map[string]*proc
	order []string // madbase instances in start order

	serviceKey string
}

type proc struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

func step(format string, args ...any) {
	fmt.Printf("== "+format+"\n", args...)
}

func (s *smoke) run(ctx context.Context) error {
	example, err := deploy.ReadEnvFile(filepath.Join(s.root, ".env.example"))
	if err != nil {
		return err
	}
	// .env as a user fills it in: the example with the two secrets set,
	// and the PostgreSQL password and S3 key the binary refuses to run with.
	s.dotenv = map[string]string{}
	for k, v := range example.Values {
		s.dotenv[k] = v
	}
	s.dotenv["JWT_SECRET"] = randomHex(32)
	s.dotenv["ADMIN_PASSWORD"] = randomHex(16)
	s.dotenv["POSTGRES_PASSWORD"] = randomHex(16)
	s.dotenv["S3_SECRET_KEY"] = randomHex(20)
	if s.compose, err = deploy.LoadCompose(filepath.Join(s.root, "docker-compose.yml"), s.dotenv); err != nil {
		return err
	}
	s.ports = map[string]int{}
	for _, name := range []string{"db", "redis", "minio", "nats", "control", "worker-1", "worker-2", "edge"} {
		if s.ports[name], err = freePort(); err != nil {
			return err
		}
	}
	// Service addresses as the containers see them -> loopback.
	s.addrs = map[string]string{}
	for svc, port := range map[string]string{"db": "5432", "redis": "6379", "minio": "9000", "nats": "4222", "control": s.compose.Services["control"].Environment["CONTROL_PORT"]} {
		s.addrs[svc+":"+port] = "127.0.0.1:" + strconv.Itoa(s.ports[svc])
	}

	step("the binary refuses .env.example's placeholder secrets")
	if err := s.checkRefusesExample(ctx, example.Values); err != nil {
		return err
	}

	step("starting postgres, redis, S3 and NATS (%s)", s.dir)
	if err := s.startInfra(ctx, true); err != nil {
		return err
	}
	step("starting control, two workers and the edge")
	if err := s.startTiers(ctx); err != nil {
		return err
	}
	step("requests through the edge reach both workers")
	if err := s.bothWorkersAnswer(ctx); err != nil {
		return err
	}
	step("creating a user, a row and a file")
	if err := s.createData(ctx); err != nil {
		return err
	}

	step("restarting everything")
	s.stopAll()
	if err := s.startInfra(ctx, false); err != nil {
		return err
	}
	if err := s.startTiers(ctx); err != nil {
		return err
	}
	if err := s.bothWorkersAnswer(ctx); err != nil {
		return err
	}
	step("the user, the row and the file are still there")
	return s.checkData(ctx)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// env is what compose gives service's container, its addresses rewritten
// to the loopback ports of this run and its own port set to port.
func (s *smoke) env(service string, port int, dotenv map[string]string) []string {
	svc := s.compose.Services[service]
	env := deploy.ContainerEnv(svc, dotenv)
	for k, v := range env {
		for from, to := range s.addrs {
			v = regexp.MustCompile(`(^|[/@,])`+regexp.QuoteMeta(from)+`($|[/?,])`).ReplaceAllString(v, "${1}"+to+"${2}")
		}
		env[k] = v
	}
	tier := svc.Command[0]
	env[strings.ToUpper(tier)+"_PORT"] = strconv.Itoa(port)
	if tier != "worker" {
		env[strings.ToUpper(tier)+"_HOST"] = "127.0.0.1"
	} else if env["WORKER_ADVERTISE_HOST"] == "auto" && !hasNonLoopbackIPv4() {
		// A container always has its own address; this machine may not.
		env["WORKER_ADVERTISE_HOST"] = "127.0.0.1"
		env["WORKER_HOST"] = "127.0.0.1"
	}
	out := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + filepath.Join(s.dir, "home")}
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

func hasNonLoopbackIPv4() bool {
	as, _ := net.InterfaceAddrs()
	for _, a := range as {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			return true
		}
	}
	return false
}

func (s *smoke) checkRefusesExample(ctx context.Context, example map[string]string) error {
	exampleCompose, err := deploy.LoadCompose(filepath.Join(s.root, "docker-compose.yml"), example)
	if err != nil {
		return err
	}
	for service, want := range map[string]string{"control": "ADMIN_PASSWORD", "worker": "JWT_SECRET"} {
		port := 1 // never reached: the configuration is refused first
		env := (&smoke{opts: s.opts, compose: exampleCompose, addrs: s.addrs}).env(service, port, example)
		ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		cmd := exec.CommandContext(ctx, s.bin, exampleCompose.Services[service].Command...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		cancel()
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			return fmt.Errorf("madbase %s with .env.example's values: want a refusal, got %v:\n%s", service, err, out)
		}
		if !bytes.Contains(out, []byte(want)) || !bytes.Contains(out, []byte("example value")) {
			return fmt.Errorf("madbase %s with .env.example's values exits without naming %s:\n%s", service, want, out)
		}
		fmt.Printf("   madbase %s: %s\n", service, firstLineWith(string(out), want))
	}
	return nil
}

func firstLineWith(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

func (s *smoke) startInfra(ctx context.Context, first bool) error {
	db := s.compose.Services["db"].Environment
	// The server runs with the settings the db service's command gives it
	// (wal_level, max_slot_wal_keep_size), as the container would.
	settings, err := deploy.PostgresSettings(s.compose.Services["db"])
	if err != nil {
		return fmt.Errorf("docker-compose.yml db: %w", err)
	}
	s.pg, err = pgcluster.Start(ctx, pgcluster.Options{
		DataDir: filepath.Join(s.dir, "postgres"), Port: s.ports["db"], Password: db["POSTGRES_PASSWORD"],
		NoSync: true, Log: slog.New(slog.DiscardHandler), ExtraConf: settings,
	})
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	if first {
		// The postgres image creates POSTGRES_DB on its first start.
		conn, err := pgx.Connect(ctx, s.superURL("postgres"))
		if err != nil {
			return err
		}
		_, err = conn.Exec(ctx, "create database "+pgx.Identifier{db["POSTGRES_DB"]}.Sanitize())
		conn.Close(ctx)
		if err != nil {
			return fmt.Errorf("create database: %w", err)
		}
	}

	redisDir := filepath.Join(s.dir, "redis")
	if err := os.MkdirAll(redisDir, 0o755); err != nil {
		return err
	}
	args := append(append([]string(nil), s.compose.Services["redis"].Command[1:]...),
		"--port", strconv.Itoa(s.ports["redis"]), "--bind", "127.0.0.1", "--dir", redisDir, "--save", "")
	if err := s.start(ctx, "redis", "redis-server", args, nil, ""); err != nil {
		return err
	}

	s.bolt, err = bolt.Open(filepath.Join(s.dir, "s3.bolt"), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return fmt.Errorf("s3: %w", err)
	}
	s.s3db = s3bolt.New(s.bolt)
	ln, err := net.Listen("tcp", s.addr("minio"))
	if err != nil {
		return fmt.Errorf("s3: %w", err)
	}
	s.s3 = &http.Server{Handler: gofakes3.New(s.s3db).Server(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.s3.Serve(ln) }()

	s.nats, err = embedded.Start(embedded.Options{Host: "127.0.0.1", Port: s.ports["nats"], StoreDir: filepath.Join(s.dir, "nats")})
	if err != nil {
		return fmt.Errorf("nats: %w", err)
	}
	return waitFor(ctx, 20*time.Second, "redis PING", func() error {
		c, err := net.DialTimeout("tcp", s.addr("redis"), time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(time.Second))
		if _, err := c.Write([]byte("PING\r\n")); err != nil {
			return err
		}
		b := make([]byte, 7)
		if _, err := io.ReadFull(c, b); err != nil || string(b) != "+PONG\r\n" {
			return fmt.Errorf("redis answered %q %v", b, err)
		}
		return nil
	})
}

func (s *smoke) addr(name string) string { return "127.0.0.1:" + strconv.Itoa(s.ports[name]) }

func (s *smoke) superURL(dbname string) string {
	db := s.compose.Services["db"].Environment
	return fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable", db["POSTGRES_USER"], db["POSTGRES_PASSWORD"], s.addr("db"), dbname)
}

// start runs a process with its output in <dir>/<name>.log; it is killed
// when this program dies.
func (s *smoke) start(ctx context.Context, name, bin string, args, env []string, dir string) error {
	logPath := filepath.Join(s.dir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = env
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", name, err)
	}
	p := &proc{cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); f.Close(); close(p.done) }()
	s.procs[name] = p
	return nil
}

func (s *smoke) startTier(ctx context.Context, service, instance string) error {
	dir := filepath.Join(s.dir, instance)
	if err := os.MkdirAll(filepath.Join(s.dir, "home"), 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := s.start(ctx, instance, s.bin, s.compose.Services[service].Command, s.env(service, s.ports[instance], s.dotenv), dir); err != nil {
		return err
	}
	s.order = append(s.order, instance)
	// The compose health check: GET /health on the tier's own port.
	return waitFor(ctx, 60*time.Second, instance+" /health", func() error {
		select {
		case <-s.procs[instance].done:
			return errStop{fmt.Errorf("%s exited: %s", instance, s.procs[instance].cmd.ProcessState)}
		default:
		}
		return httpOK("http://" + s.addr(instance) + "/health")
	})
}

// startTiers follows compose's depends_on: control, then the workers, then
// the edge.
func (s *smoke) startTiers(ctx context.Context) error {
	s.order = nil
	for _, st := range []struct{ service, instance string }{
		{"control", "control"}, {"worker", "worker-1"}, {"worker", "worker-2"}, {"edge", "edge"},
	} {
		if err := s.startTier(ctx, st.service, st.instance); err != nil {
			return err
		}
		fmt.Printf("   %s healthy on %s%s\n", st.instance, s.addr(st.instance), s.advertised(st.instance))
	}
	return nil
}

// advertised is the URL a worker announced, from its log.
func (s *smoke) advertised(instance string) string {
	if !strings.HasPrefix(instance, "worker") {
		return ""
	}
	b, _ := os.ReadFile(s.procs[instance].log)
	m := regexp.MustCompile(`"msg":"worker starting".*?"url":"([^"]+)"`).FindAllSubmatch(b, -1)
	if len(m) == 0 {
		return ""
	}
	return ", announced as " + string(m[len(m)-1][1])
}

type errStop struct{ error }

func waitFor(ctx context.Context, limit time.Duration, what string, fn func() error) error {
	deadline := time.Now().Add(limit)
	for {
		err := fn()
		if err == nil {
			return nil
		}
		var stop errStop
		if errors.As(err, &stop) {
			return stop.error
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var client = &http.Client{Timeout: 10 * time.Second}

func httpOK(url string) error {
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

func (s *smoke) stopAll() {
	// Reverse start order, as `docker compose down` does.
	for i := len(s.order) - 1; i >= 0; i-- {
		s.stopProc(s.order[i], 30*time.Second)
	}
	s.order = nil
	s.stopProc("redis", 10*time.Second)
	if s.s3 != nil {
		_ = s.s3.Close()
		s.s3 = nil
	}
	if s.bolt != nil {
		_ = s.bolt.Close()
		s.bolt, s.s3db = nil, nil
	}
	if s.nats != nil {
		s.nats.Stop()
		s.nats = nil
	}
	if s.pg != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_ = s.pg.Stop(ctx)
		cancel()
		s.pg = nil
	}
}

func (s *smoke) stopProc(name string, grace time.Duration) {
	p := s.procs[name]
	if p == nil {
		return
	}
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (s *smoke) dumpLogs() {
	for name, p := range s.procs {
		b, _ := os.ReadFile(p.log)
		if len(b) > 4000 {
			b = b[len(b)-4000:]
		}
		fmt.Fprintf(os.Stderr, "\n----- %s (last lines of %s)\n%s", name, p.log, b)
	}
}

// edge sends a request through the edge with the service-role key.
func (s *smoke) edge(method, path, contentType string, body []byte) (*http.Response, []byte, error) {
	req, err := http.NewRequest(method, "http://"+s.addr("edge")+path, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	if s.serviceKey != "" {
		req.Header.Set("apikey", s.serviceKey)
		req.Header.Set("Authorization", "Bearer "+s.serviceKey)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

func (s *smoke) bothWorkersAnswer(ctx context.Context) error {
	seen := map[string]bool{}
	err := waitFor(ctx, 30*time.Second, "answers from two workers through the edge", func() error {
		resp, _, err := s.edge("GET", "/rest/v1/", "", nil)
		if err != nil {
			return err
		}
		if w := resp.Header.Get("X-Madbase-Worker"); w != "" {
			seen[w] = true
		}
		if len(seen) < 2 {
			return fmt.Errorf("workers seen: %v (last status %s)", seen, resp.Status)
		}
		return nil
	})
	if err == nil {
		fmt.Printf("   answered by %v\n", keys(seen))
	}
	return err
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

const (
	smokeEmail    = "smoke@example.com"
	smokePassword = "smoke-password-123"
	smokeNote     = "written before the restart"
	smokeFile     = "bytes written before the restart\n"
)

func (s *smoke) storagePresent() bool {
	_, err := os.Stat(filepath.Join(s.root, "worker/internal/storage"))
	return err == nil
}

func (s *smoke) createData(ctx context.Context) error {
	// The service-role key, as `madbase keys` prints it for JWT_SECRET.
	cmd := exec.CommandContext(ctx, s.bin, "keys")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "JWT_SECRET=" + s.dotenv["JWT_SECRET"]}
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("madbase keys: %w", err)
	}
	m := regexp.MustCompile(`(?m)^SERVICE_ROLE_KEY=(\S+)$`).FindSubmatch(out)
	if m == nil {
		return fmt.Errorf("madbase keys printed no SERVICE_ROLE_KEY:\n%s", out)
	}
	s.serviceKey = string(m[1])

	// A row, with SQL as psql would send it.
	conn, err := pgx.Connect(ctx, s.superURL(s.compose.Services["db"].Environment["POSTGRES_DB"]))
	if err != nil {
		return err
	}
	_, err = conn.Exec(ctx, `create table public.smoke_notes (id int primary key, note text not null);
		insert into public.smoke_notes values (1, '`+smokeNote+`')`)
	conn.Close(ctx)
	if err != nil {
		return fmt.Errorf("create row: %w", err)
	}
	fmt.Println("   row: public.smoke_notes (1)")

	// A user, through the edge and the auth admin API.
	resp, b, err := s.edge("POST", "/auth/v1/admin/users", "application/json",
		[]byte(`{"email":"`+smokeEmail+`","password":"`+smokePassword+`","email_confirm":true}`))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("create user: %s %s", resp.Status, b)
	}
	fmt.Println("   user:", smokeEmail, "(worker", resp.Header.Get("X-Madbase-Worker")+")")

	if !s.storagePresent() {
		fmt.Println("   file: skipped (no storage capability yet)")
		return nil
	}
	resp, b, err = s.edge("POST", "/storage/v1/bucket", "application/json", []byte(`{"id":"smoke","name":"smoke","public":false}`))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("create bucket: %s %s", resp.Status, b)
	}
	resp, b, err = s.edge("POST", "/storage/v1/object/smoke/dir/hello.txt", "text/plain", []byte(smokeFile))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("upload: %s %s", resp.Status, b)
	}
	fmt.Println("   file: smoke/dir/hello.txt (worker", resp.Header.Get("X-Madbase-Worker")+")")
	return s.checkS3Holds()
}

// checkS3Holds makes sure the bytes went to the S3 server, not to a disk.
func (s *smoke) checkS3Holds() error {
	bucket := s.compose.Services["worker"].Environment["S3_BUCKET"]
	list, err := s.s3db.ListBucket(bucket, &gofakes3.Prefix{}, gofakes3.ListBucketPage{})
	if err != nil {
		return fmt.Errorf("listing the S3 bucket %s: %w", bucket, err)
	}
	if len(list.Contents) == 0 {
		return fmt.Errorf("the S3 bucket %s holds no object after the upload", bucket)
	}
	fmt.Printf("   S3 bucket %s holds %d object(s)\n", bucket, len(list.Contents))
	return nil
}

func (s *smoke) checkData(ctx context.Context) error {
	// The row, through the edge and the REST API.
	resp, b, err := s.edge("GET", "/rest/v1/smoke_notes?select=note&id=eq.1", "", nil)
	if err != nil {
		return err
	}
	var rows []struct{ Note string }
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &rows) != nil || len(rows) != 1 || rows[0].Note != smokeNote {
		return fmt.Errorf("row after restart: %s %s", resp.Status, b)
	}
	fmt.Println("   row: read back through /rest/v1")

	// The user signs in with the password set before the restart.
	resp, b, err = s.edge("POST", "/auth/v1/token?grant_type=password", "application/json",
		[]byte(`{"email":"`+smokeEmail+`","password":"`+smokePassword+`"}`))
	if err != nil {
		return err
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &tok) != nil || tok.AccessToken == "" {
		return fmt.Errorf("sign-in after restart: %s %s", resp.Status, b)
	}
	fmt.Println("   user: signed in with the password")

	if !s.storagePresent() {
		return nil
	}
	resp, b, err = s.edge("GET", "/storage/v1/object/smoke/dir/hello.txt", "", nil)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || string(b) != smokeFile {
		return fmt.Errorf("file after restart: %s %q", resp.Status, b)
	}
	fmt.Println("   file: downloaded through /storage/v1, same bytes")
	return s.checkS3Holds()
}
