// Package stack starts what the benches that run whole MadBase processes
// share: a temporary folder, the madbase binary (built from the working tree
// while PostgreSQL starts, unless one is given), a throwaway PostgreSQL with
// the platform's and the worker's migrations, and an embedded NATS. Each
// bench starts its own tiers on top with StartChild.
package stack

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
	"github.com/madbase/madbase/worker/migrations"
)

// Options say how Start sets the base up.
type Options struct {
	Name      string                                        // the bench's name: the temporary folder's prefix and in messages
	Bin       string                                        // a madbase binary to run; empty builds one from the working tree
	BuildTags string                                        // build tags of that build (go build -tags)
	MaxConns  int                                           // PostgreSQL's max_connections
	Logf      func(format string, args ...any)              // progress lines
	Prepare   func(ctx context.Context, dbURL string) error // optional, after the migrations (fixtures)
}

// Base is what Start set up; Close undoes it, and whatever was added with
// OnClose, in reverse order.
type Base struct {
	Tmp   string
	PG    *pgcluster.Cluster
	DBURL string
	NATS  *embedded.Server
	Exec  string // the madbase binary
	undo  []func()
}

// OnClose adds f to what Close undoes.
func (b *Base) OnClose(f func()) { b.undo = append(b.undo, f) }

// Close undoes everything in reverse order; a second call does nothing.
func (b *Base) Close() {
	for i := len(b.undo) - 1; i >= 0; i-- {
		b.undo[i]()
	}
	b.undo = nil
}

// Start sets the base up. It always returns a Base that can be closed; on
// an error it has already closed it.
func Start(ctx context.Context, o Options) (b *Base, err error) {
	b = &Base{}
	defer func() {
		if err != nil {
			b.Close()
		}
	}()
	if b.Tmp, err = os.MkdirTemp("", o.Name+"-*"); err != nil {
		return b, err
	}
	b.OnClose(func() { _ = os.RemoveAll(b.Tmp) })

	// Build the binary while PostgreSQL starts.
	root, err := RepoRoot(o.Name)
	if err != nil {
		return b, err
	}
	buildDone := make(chan error, 1)
	if o.Bin != "" {
		b.Exec = o.Bin
		buildDone <- nil
	} else {
		b.Exec = filepath.Join(b.Tmp, "madbase")
		args := []string{"build", "-o", b.Exec}
		if o.BuildTags != "" {
			args = append(args, "-tags", o.BuildTags)
		}
		build := exec.CommandContext(ctx, "go", append(args, "./cmd/madbase")...)
		build.Dir = root
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		go func() { buildDone <- build.Run() }()
	}

	o.Logf("starting PostgreSQL in %s (max_connections %d)", b.Tmp, o.MaxConns)
	b.PG, err = pgcluster.Start(ctx, pgcluster.Options{
		DataDir: filepath.Join(b.Tmp, "pg"), NoSync: true,
		ExtraConf: map[string]string{"max_connections": strconv.Itoa(o.MaxConns), "shared_buffers": "256MB"},
	})
	if err != nil {
		<-buildDone
		return b, fmt.Errorf("postgres: %w", err)
	}
	b.OnClose(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_ = b.PG.Stop(sctx)
	})
	b.DBURL = b.PG.URL("postgres")
	srcs := append([]migrate.Source{platform.Source}, migrations.All()...)
	if _, err = control.RunMigrations(ctx, b.DBURL, slog.New(slog.DiscardHandler), srcs...); err != nil {
		<-buildDone
		return b, err
	}
	if o.Prepare != nil {
		if err = o.Prepare(ctx, b.DBURL); err != nil {
			<-buildDone
			return b, err
		}
	}
	if err = <-buildDone; err != nil {
		return b, fmt.Errorf("go build ./cmd/madbase: %w", err)
	}
	if b.NATS, err = embedded.Start(embedded.Options{}); err != nil {
		return b, fmt.Errorf("nats: %w", err)
	}
	b.OnClose(b.NATS.Stop)
	return b, nil
}

// TierEnv is the environment of a madbase tier on b: the bench's own, b's
// NATS and database, the JWT secret, workers advertised on 127.0.0.1, warn
// logs and objects in b's folder, then extra (which wins over any of these:
// os/exec keeps a variable's last value).
func (b *Base) TierEnv(jwtSecret string, extra ...string) []string {
	env := append(os.Environ(),
		"NATS_URL="+b.NATS.URL(), "DATABASE_URL="+b.DBURL, "JWT_SECRET="+jwtSecret,
		"WORKER_ADVERTISE_HOST=127.0.0.1", "LOG_LEVEL=warn", "STORAGE_DIR="+filepath.Join(b.Tmp, "storage"))
	return append(env, extra...)
}

// StartChild starts cmd as the process called name, killed if the bench
// dies; Close ends it with SIGTERM and up to 5 s of grace.
func (b *Base) StartChild(name string, cmd *exec.Cmd) (*proc.Child, error) {
	c, err := proc.Start(name, cmd, syscall.SIGKILL)
	if err != nil {
		return nil, err
	}
	b.OnClose(func() { c.Stop(syscall.SIGTERM, 5*time.Second) })
	return c, nil
}

// FreePort is a TCP port free on 127.0.0.1 right now.
func FreePort() (int, error) {
	ports, err := FreePorts(1)
	if err != nil {
		return 0, err
	}
	return ports[0], nil
}

// FreePorts are n distinct TCP ports free on 127.0.0.1 right now.
func FreePorts(n int) ([]int, error) {
	ports := make([]int, n)
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer ln.Close()
		ports[i] = ln.Addr().(*net.TCPAddr).Port
	}
	return ports, nil
}

// RepoRoot is the folder of the go.work file (the benches run with go run
// from anywhere inside the workspace); name is the bench's, for the error.
func RepoRoot(name string) (string, error) {
	out, err := exec.Command("go", "env", "GOWORK").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOWORK: %w", err)
	}
	w := strings.TrimSpace(string(out))
	if w == "" || w == "off" {
		return "", fmt.Errorf("no go.work found; run %s from inside the MadBase repository", name)
	}
	return filepath.Dir(w), nil
}

// RandHex is n random bytes in hex.
func RandHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
