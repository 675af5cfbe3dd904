package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/madbase/madbase/bench/internal/proc"
	"github.com/madbase/madbase/bench/internal/stack"
	"github.com/madbase/madbase/shared/jwtauth"
)

// benchStack is everything apibench starts; Close undoes it in reverse order.
type benchStack struct {
	*stack.Base
	worker     *proc.Child
	edge       *proc.Child
	workerURL  string
	edgeURL    string
	secret     []byte
	anon, svc  string
	storageDir string
	schemaWait bool   // REST was not ready when the edge said healthy
	restClient string // what loaded REST, for the report
}

func startStack(ctx context.Context, o options) (s *benchStack, err error) {
	s = &benchStack{}
	s.Base, err = stack.Start(ctx, stack.Options{
		Name: "apibench", Bin: o.bin, Logf: logf, MaxConns: 300,
		Prepare: func(ctx context.Context, dbURL string) error {
			if err := fixtures(ctx, dbURL); err != nil {
				return fmt.Errorf("fixtures: %w", err)
			}
			return nil
		},
	})
	if err != nil {
		return s, err
	}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if b, err := os.ReadFile(filepath.Join(s.PG.DataDir(), "postmaster.pid")); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		pgPostmaster, _ = strconv.Atoi(strings.TrimSpace(line))
	}

	s.secret = []byte(stack.RandHex(32))
	now := time.Now()
	if s.anon, err = jwtauth.AnonKey(s.secret, now, now.Add(24*time.Hour)); err != nil {
		return s, err
	}
	if s.svc, err = jwtauth.ServiceRoleKey(s.secret, now, now.Add(24*time.Hour)); err != nil {
		return s, err
	}
	s.storageDir = filepath.Join(s.Tmp, "storage")
	ports, err := stack.FreePorts(2)
	if err != nil {
		return s, err
	}
	wport, eport := ports[0], ports[1]
	s.workerURL = fmt.Sprintf("http://127.0.0.1:%d", wport)
	s.edgeURL = fmt.Sprintf("http://127.0.0.1:%d", eport)
	env := append(os.Environ(),
		"NATS_URL="+s.NATS.URL(), "DATABASE_URL="+s.DBURL, "JWT_SECRET="+string(s.secret),
		"WORKER_PORT="+strconv.Itoa(wport), "EDGE_PORT="+strconv.Itoa(eport),
		"WORKER_ADVERTISE_HOST=127.0.0.1",
		"LOG_LEVEL=warn", "STORAGE_DIR="+s.storageDir, "AUTH_AUTOCONFIRM=true",
		"AUTH_RATE_LIMIT_SIGN_IN=0", "AUTH_RATE_LIMIT_SIGN_IN_EMAIL=0", "AUTH_RATE_LIMIT_TOKEN_REFRESH=0",
		"AUTH_RATE_LIMIT_OTP=0", "AUTH_RATE_LIMIT_VERIFY=0", "AUTH_RATE_LIMIT_ANONYMOUS_USERS=0",
		"AUTH_RATE_LIMIT_EMAIL_SENT=0", "SHUTDOWN_GRACE=2s",
	)
	for _, tier := range []string{"worker", "edge"} {
		cmd := exec.Command(s.Exec, tier)
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
		c, err := s.StartChild(tier, cmd)
		if err != nil {
			return s, err
		}
		if tier == "worker" {
			s.worker = c
		} else {
			s.edge = c
		}
	}
	logf("worker pid %d on %s, edge pid %d on %s; waiting for 1 healthy worker", s.worker.Pid(), s.workerURL, s.edge.Pid(), s.edgeURL)
	return s, stack.WaitWorkersAtEdge(ctx, s.edgeURL, 1, 30*time.Second, s.worker, s.edge)
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
