package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/madbase/madbase/bench/internal/proc"
	"github.com/madbase/madbase/bus/embedded"
	"github.com/madbase/madbase/control"
	"github.com/madbase/madbase/shared/db/migrate"
	"github.com/madbase/madbase/shared/db/pgcluster"
	"github.com/madbase/madbase/shared/db/platform"
	"github.com/madbase/madbase/shared/secretbox"
	"github.com/madbase/madbase/worker/migrations"
)

// stack is everything projbench starts: a throwaway PostgreSQL and embedded
// NATS in this process, and control, the workers and the edge as madbase
// processes. close undoes it in reverse order.
type stack struct {
	tmp        string
	pg         *pgcluster.Cluster
	dbURL      string
	nats       *embedded.Server
	control    *proc.Child
	workers    []*proc.Child
	edge       *proc.Child
	controlURL string
	edgeURL    string
	adminPass  string
	exec       string
	undo       []func()
}

func (s *stack) close() {
	for i := len(s.undo) - 1; i >= 0; i-- {
		s.undo[i]()
	}
}

// children are the madbase processes, for the died-during-the-run check.
func (s *stack) children() []*proc.Child {
	return append([]*proc.Child{s.control, s.edge}, s.workers...)
}

func (s *stack) check(ctx context.Context) error {
	for _, c := range s.children() {
		if c != nil && c.Exited() {
			return fmt.Errorf("%s exited during the run: %v", c.Name, c.Err())
		}
	}
	return ctx.Err()
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// repoRoot is the folder of the go.work file.
func repoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOWORK").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOWORK: %w", err)
	}
	w := strings.TrimSpace(string(out))
	if w == "" || w == "off" {
		return "", fmt.Errorf("no go.work found; run projbench from inside the MadBase repository")
	}
	return filepath.Dir(w), nil
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func startStack(ctx context.Context, o options) (s *stack, err error) {
	s = &stack{}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	if s.tmp, err = os.MkdirTemp("", "projbench-*"); err != nil {
		return s, err
	}
	s.undo = append(s.undo, func() { _ = os.RemoveAll(s.tmp) })
	root, err := repoRoot()
	if err != nil {
		return s, err
	}
	buildDone := make(chan error, 1)
	if o.bin != "" {
		s.exec = o.bin
		buildDone <- nil
	} else {
		s.exec = filepath.Join(s.tmp, "madbase")
		build := exec.CommandContext(ctx, "go", "build", "-o", s.exec, "./cmd/madbase")
		build.Dir = root
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		go func() { buildDone <- build.Run() }()
	}

	// Every worker may hold PROJECT_DB_MAX_CONNS connections per project
	// it serves, beside the platform's pools: room for all of them, so
	// that the count at the end is what MadBase holds, not a refusal.
	maxConns := 100 + o.workers*o.projects*(o.poolConns+1)
	logf("starting PostgreSQL in %s (max_connections %d)", s.tmp, maxConns)
	s.pg, err = pgcluster.Start(ctx, pgcluster.Options{
		DataDir: filepath.Join(s.tmp, "pg"), NoSync: true,
		ExtraConf: map[string]string{"max_connections": strconv.Itoa(maxConns), "shared_buffers": "256MB"},
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
	srcs := append([]migrate.Source{platform.Source}, migrations.All()...)
	if _, err = control.RunMigrations(ctx, s.dbURL, slog.New(slog.DiscardHandler), srcs...); err != nil {
		<-buildDone
		return s, err
	}
	if err = <-buildDone; err != nil {
		return s, fmt.Errorf("go build ./cmd/madbase: %w", err)
	}
	if s.nats, err = embedded.Start(embedded.Options{}); err != nil {
		return s, fmt.Errorf("nats: %w", err)
	}
	s.undo = append(s.undo, s.nats.Stop)

	s.adminPass = randHex(16)
	cport, err := freePort()
	if err != nil {
		return s, err
	}
	eport, err := freePort()
	if err != nil {
		return s, err
	}
	s.controlURL = fmt.Sprintf("http://127.0.0.1:%d", cport)
	s.edgeURL = fmt.Sprintf("http://127.0.0.1:%d", eport)
	env := append(os.Environ(),
		"NATS_URL="+s.nats.URL(), "DATABASE_URL="+s.dbURL, "JWT_SECRET="+randHex(32),
		"ADMIN_PASSWORD="+s.adminPass, "MADBASE_ENCRYPTION_KEY="+secretbox.EncodeKey(secretbox.NewKey()),
		"CONTROL_HOST=127.0.0.1", "CONTROL_PORT="+strconv.Itoa(cport), "CONTROL_UPSTREAM_URL="+s.controlURL,
		"EDGE_PORT="+strconv.Itoa(eport), "WORKER_ADVERTISE_HOST=127.0.0.1",
		"PROJECT_DB_MAX_CONNS="+strconv.Itoa(o.poolConns),
		"LOG_LEVEL=warn", "STORAGE_DIR="+filepath.Join(s.tmp, "storage"), "SHUTDOWN_GRACE=2s",
	)
	start := func(name, tier string, extra ...string) (*proc.Child, error) {
		cmd := exec.Command(s.exec, tier)
		cmd.Env = append(append(env, "INSTANCE_ID=projbench-"+name), extra...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		c, err := proc.Start(name, cmd, syscall.SIGKILL)
		if err != nil {
			return nil, err
		}
		s.undo = append(s.undo, func() { c.Stop(syscall.SIGTERM, 5*time.Second) })
		return c, nil
	}
	if s.control, err = start("control", "control"); err != nil {
		return s, err
	}
	if err = waitFor(ctx, s, 60*time.Second, "control healthy", func() bool {
		_, err := get(s.controlURL+"/health", nil, 200)
		return err == nil
	}); err != nil {
		return s, err
	}
	for i := range o.workers {
		wport, err := freePort()
		if err != nil {
			return s, err
		}
		w, err := start(fmt.Sprintf("worker-%d", i+1), "worker", "WORKER_PORT="+strconv.Itoa(wport))
		if err != nil {
			return s, err
		}
		s.workers = append(s.workers, w)
	}
	if s.edge, err = start("edge", "edge"); err != nil {
		return s, err
	}
	logf("control on %s, %d workers, edge on %s; waiting for the workers", s.controlURL, o.workers, s.edgeURL)
	err = waitFor(ctx, s, 60*time.Second, fmt.Sprintf("%d healthy workers at the edge", o.workers), func() bool {
		var h struct {
			Healthy int `json:"workers_healthy"`
		}
		return getJSON(s.edgeURL+"/health", nil, &h) == nil && h.Healthy >= o.workers
	})
	return s, err
}

// waitFor polls ok every 20 ms until it holds, a process died, or timeout.
func waitFor(ctx context.Context, s *stack, timeout time.Duration, what string, ok func() bool) error {
	deadline := time.Now().Add(timeout)
	for !ok() {
		if err := s.check(ctx); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}
