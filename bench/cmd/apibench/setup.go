package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/madbase/madbase/bench/internal/proc"
	"github.com/madbase/madbase/bus/embedded"
	"github.com/madbase/madbase/control"
	"github.com/madbase/madbase/shared/db/migrate"
	"github.com/madbase/madbase/shared/db/pgcluster"
	"github.com/madbase/madbase/shared/db/platform"
	"github.com/madbase/madbase/shared/jwtauth"
	"github.com/madbase/madbase/worker/migrations"
)

// stack is everything apibench starts; close undoes it in reverse order.
type stack struct {
	tmp         string
	pg          *pgcluster.Cluster
	dbURL       string
	nats        *embedded.Server
	worker      *proc.Child
	edge        *proc.Child
	workerURL   string
	edgeURL     string
	secret      []byte
	anon, svc   string
	storageDir  string
	undo        []func()
	madbaseExec string
	schemaWait  bool   // REST was not ready when the edge said healthy
	restClient  string // what loaded REST, for the report
}

func (s *stack) close() {
	for i := len(s.undo) - 1; i >= 0; i-- {
		s.undo[i]()
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// repoRoot is the folder of the go.work file (the bench runs with go run
// from anywhere inside the workspace).
func repoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOWORK").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOWORK: %w", err)
	}
	w := strings.TrimSpace(string(out))
	if w == "" || w == "off" {
		return "", fmt.Errorf("no go.work found; run apibench from inside the MadBase repository")
	}
	return filepath.Dir(w), nil
}

func startStack(ctx context.Context, o options) (s *stack, err error) {
	s = &stack{}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	if s.tmp, err = os.MkdirTemp("", "apibench-*"); err != nil {
		return s, err
	}
	s.undo = append(s.undo, func() { _ = os.RemoveAll(s.tmp) })

	// Build the binary while PostgreSQL starts.
	root, err := repoRoot()
	if err != nil {
		return s, err
	}
	buildDone := make(chan error, 1)
	if o.bin != "" {
		s.madbaseExec = o.bin
		buildDone <- nil
	} else {
		s.madbaseExec = filepath.Join(s.tmp, "madbase")
		build := exec.CommandContext(ctx, "go", "build", "-o", s.madbaseExec, "./cmd/madbase")
		build.Dir = root
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		go func() { buildDone <- build.Run() }()
	}

	logf("starting PostgreSQL in %s", s.tmp)
	s.pg, err = pgcluster.Start(ctx, pgcluster.Options{
		DataDir: filepath.Join(s.tmp, "pg"), NoSync: true,
		ExtraConf: map[string]string{"max_connections": "300", "shared_buffers": "256MB"},
	})
	if err != nil {
		<-buildDone
		return s, fmt.Errorf("postgres: %w", err)
	}
	s.undo = append(s.undo, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_ = s.pg.Stop(sctx)
	})
	s.dbURL = s.pg.URL("postgres")
	if b, err := os.ReadFile(filepath.Join(s.pg.DataDir(), "postmaster.pid")); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		pgPostmaster, _ = strconv.Atoi(strings.TrimSpace(line))
	}
	srcs := append([]migrate.Source{platform.Source}, migrations.All()...)
	if _, err = control.RunMigrations(ctx, s.dbURL, slog.New(slog.DiscardHandler), srcs...); err != nil {
		<-buildDone
		return s, err
	}
	if err = fixtures(ctx, s.dbURL); err != nil {
		<-buildDone
		return s, fmt.Errorf("fixtures: %w", err)
	}
	if err = <-buildDone; err != nil {
		return s, fmt.Errorf("go build ./cmd/madbase: %w", err)
	}

	if s.nats, err = embedded.Start(embedded.Options{}); err != nil {
		return s, fmt.Errorf("nats: %w", err)
	}
	s.undo = append(s.undo, s.nats.Stop)

	b := make([]byte, 32)
	_, _ = rand.Read(b)
	s.secret = []byte(hex.EncodeToString(b))
	now := time.Now()
	if s.anon, err = jwtauth.AnonKey(s.secret, now, now.Add(24*time.Hour)); err != nil {
		return s, err
	}
	if s.svc, err = jwtauth.ServiceRoleKey(s.secret, now, now.Add(24*time.Hour)); err != nil {
		return s, err
	}
	s.storageDir = filepath.Join(s.tmp, "storage")
	wport, err := freePort()
	if err != nil {
		return s, err
	}
	eport, err := freePort()
	if err != nil {
		return s, err
	}
	s.workerURL = fmt.Sprintf("http://127.0.0.1:%d", wport)
	s.edgeURL = fmt.Sprintf("http://127.0.0.1:%d", eport)
	env := append(os.Environ(),
		"NATS_URL="+s.nats.URL(), "DATABASE_URL="+s.dbURL, "JWT_SECRET="+string(s.secret),
		"WORKER_PORT="+strconv.Itoa(wport), "EDGE_PORT="+strconv.Itoa(eport),
		"WORKER_ADVERTISE_HOST=127.0.0.1",
		"LOG_LEVEL=warn", "STORAGE_DIR="+s.storageDir, "AUTH_AUTOCONFIRM=true",
		"AUTH_RATE_LIMIT_SIGN_IN=0", "AUTH_RATE_LIMIT_SIGN_IN_EMAIL=0", "AUTH_RATE_LIMIT_TOKEN_REFRESH=0",
		"AUTH_RATE_LIMIT_OTP=0", "AUTH_RATE_LIMIT_VERIFY=0", "AUTH_RATE_LIMIT_ANONYMOUS_USERS=0",
		"AUTH_RATE_LIMIT_EMAIL_SENT=0", "SHUTDOWN_GRACE=2s",
	)
	for _, tier := range []string{"worker", "edge"} {
		cmd := exec.Command(s.madbaseExec, tier)
		cmd.Env = append(env, "INSTANCE_ID=apibench-"+tier)
		if o.profileDir != "" {
			dir, err := filepath.Abs(o.profileDir)
			if err == nil {
				err = os.MkdirAll(dir, 0o755)
			}
			if err != nil {
				return s, err
			}
			cmd.Env = append(cmd.Env, "MADBASE_CPUPROFILE="+filepath.Join(dir, tier+".pprof"))
		}
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		c, err := proc.Start(tier, cmd, syscall.SIGKILL)
		if err != nil {
			return s, err
		}
		s.undo = append(s.undo, func() { c.Stop(syscall.SIGTERM, 5*time.Second) })
		if tier == "worker" {
			s.worker = c
		} else {
			s.edge = c
		}
	}
	logf("worker pid %d on %s, edge pid %d on %s; waiting for 1 healthy worker", s.worker.Pid(), s.workerURL, s.edge.Pid(), s.edgeURL)
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil}}
	defer hc.CloseIdleConnections()
	deadline := time.Now().Add(30 * time.Second)
	last := ""
	for {
		var h struct {
			Healthy int `json:"workers_healthy"`
		}
		resp, err := hc.Get(s.edgeURL + "/health")
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&h)
			resp.Body.Close()
		}
		if err == nil && h.Healthy >= 1 {
			return s, nil
		}
		if err != nil {
			last = err.Error()
		} else {
			last = fmt.Sprintf("%d healthy workers", h.Healthy)
		}
		for _, c := range []*proc.Child{s.worker, s.edge} {
			if c.Exited() {
				return s, fmt.Errorf("%s exited: %v", c.Name, c.Err())
			}
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return s, fmt.Errorf("edge not ready after 30s: %s", last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

const fixtureSQL = `
create table bench_authors (id int primary key, name text not null);
create table bench_items (id int primary key, name text not null, price numeric not null,
	created_at timestamptz not null default now(), author_id int not null references bench_authors(id));
insert into bench_authors select i, 'author ' || i from generate_series(1, 100) i;
insert into bench_items select i, 'item ' || i, i * 1.5, now(), 1 + i % 100 from generate_series(1, 10000) i;
grant select on bench_authors, bench_items to anon;
analyze bench_authors; analyze bench_items;`

func fixtures(ctx context.Context, url string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, fixtureSQL)
	return err
}
