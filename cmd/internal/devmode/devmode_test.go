package devmode

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/madbase/madbase/bus/bustest"
	"github.com/madbase/madbase/shared/config"
	"github.com/madbase/madbase/shared/db/migrate"
	"github.com/madbase/madbase/shared/db/pgcluster"
	"github.com/madbase/madbase/shared/db/platform"
	"github.com/madbase/madbase/shared/logging/logtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type devRun struct {
	out, errOut *logtest.Buffer
	cancel      context.CancelFunc
	done        chan error
	state       State
}

func startDev(t *testing.T, dataDir string, more ...func(*Options)) *devRun {
	t.Helper()
	env := config.Map(map[string]string{
		"EDGE_PORT": "0", "CONTROL_PORT": "0", "WORKER_PORT": "0", "LOG_LEVEL": "warn",
	})
	r := &devRun{out: &logtest.Buffer{}, errOut: &logtest.Buffer{}, done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	opts := Options{DataDir: dataDir, Workers: 2, Env: env, Stdout: r.out, Stderr: r.errOut,
		Migrations: []migrate.Source{platform.Source}}
	for _, f := range more {
		f(&opts)
	}
	go func() { r.done <- Run(ctx, opts) }()
	deadline := time.Now().Add(90 * time.Second)
	for {
		st := ReadState(dataDir)
		if st.APIURL != "" {
			r.state = st
			return r
		}
		select {
		case err := <-r.done:
			t.Fatalf("madbase dev stopped early: %v\nstdout:\n%s\nstderr:\n%s", err, r.out, r.errOut)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("madbase dev not ready in 90s\nstdout:\n%s\nstderr:\n%s", r.out, r.errOut)
		}
	}
}

func (r *devRun) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		require.NoError(t, err)
	case <-time.After(60 * time.Second):
		t.Fatal("madbase dev did not stop within 60s of Ctrl-C")
	}
}

var keyRE = regexp.MustCompile(`(anon|service_role) key\s+(\S+)`)

func (r *devRun) keys() map[string]string {
	m := map[string]string{}
	for _, k := range keyRE.FindAllStringSubmatch(r.out.String(), -1) {
		m[k[1]] = k[2]
	}
	return m
}

func TestDevStartsAndRestarts(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	dataDir := filepath.Join(t.TempDir(), "data")
	// The app's supabase/ folder: a migration and a seed.
	app := filepath.Join(t.TempDir(), "supabase")
	require.NoError(t, os.MkdirAll(filepath.Join(app, "migrations"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(app, "migrations", "20240101000000_notes.sql"),
		[]byte("create table notes (id uuid primary key default gen_random_uuid(), body text, h text default encode(digest('x', 'sha256'), 'hex'));"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(app, "seed.sql"), []byte("insert into notes (body) values ('seeded');"), 0o644))
	// DEV_DB_PORT is taken: dev says so and uses another.
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	takenPort := taken.Addr().(*net.TCPAddr).Port

	first := startDev(t, dataDir, func(o *Options) {
		o.MigrationsDir = filepath.Join(app, "migrations")
		o.DBPort = takenPort
	})
	assert.Contains(t, first.out.String(), fmt.Sprintf("Port %d (DEV_DB_PORT) is taken", takenPort))
	assert.Regexp(t, `\n  Database +`+regexp.QuoteMeta(first.state.DatabaseURL)+`  \(DEV_DB_PORT \d+ was taken\)\n`, first.out.String())
	assert.Contains(t, first.out.String(), "Seeded the new database from "+filepath.Join(app, "seed.sql"))

	// The extensions' functions are not in the API: pgcrypto lives in the
	// extensions schema, not in public.
	req, _ := http.NewRequest("POST", first.state.APIURL+"/rest/v1/rpc/uuid_generate_v4", strings.NewReader(`{}`))
	req.Header.Set("apikey", first.keys()["anon"])
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "anon can call rpc/uuid_generate_v4")

	// A second madbase dev on the same folder is refused, naming the first.
	err = Run(context.Background(), Options{DataDir: dataDir, Workers: 1, Env: config.Map(nil), Stdout: io.Discard, Stderr: io.Discard})
	var running *AlreadyRunningError
	require.True(t, errors.As(err, &running), "%v", err)
	assert.Equal(t, os.Getpid(), running.PID)
	assert.Contains(t, err.Error(), "madbase dev is already running on the data folder")
	// The edge answers and routes to both workers.
	resp, err = http.Get(first.state.APIURL + "/health")
	require.NoError(t, err)
	var health struct {
		Healthy int `json:"workers_healthy"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&health))
	resp.Body.Close()
	assert.Equal(t, 2, health.Healthy)

	// Both workers are listed by control, through the edge, as soon as dev
	// says it is ready.
	listed := func() []string {
		req, _ := http.NewRequest("GET", first.state.APIURL+"/admin/v1/workers", nil)
		req.Header.Set("Authorization", "Bearer "+first.state.AdminPassword)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode)
		var list struct {
			Workers []struct {
				ID string `json:"id"`
			} `json:"workers"`
		}
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&list))
		ids := []string{}
		for _, w := range list.Workers {
			ids = append(ids, w.ID)
		}
		return ids
	}
	assert.ElementsMatch(t, []string{"worker-1", "worker-2"}, listed())

	// Data written now must be there after a restart.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, first.state.DatabaseURL)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `create table kept (v text); insert into kept values ('still here')`)
	require.NoError(t, err)
	conn.Close(ctx)
	// A project made now must be there after a restart, with the same
	// keys: its secrets open with the encryption key kept in the data folder.
	status, created := adminCall(t, first.state, "POST", "/admin/v1/projects", `{"ref":"kept-project","name":"Kept"}`)
	require.Equal(t, http.StatusCreated, status, "%s", created)
	secrets, err := readSecrets(dataDir)
	require.NoError(t, err)
	encKey := secrets.EncryptionKey
	require.NotEmpty(t, encKey)
	for _, printed := range []string{first.out.String(), first.errOut.String()} {
		assert.NotContains(t, printed, encKey, "the encryption key is never printed")
	}
	// JetStream keeps its store, and the projects' bucket, on disk.
	bustest.Eventually(t, 30*time.Second, func() bool {
		m, _ := filepath.Glob(filepath.Join(dataDir, "nats", "jetstream", "*", "streams", "KV_madbase_projects"))
		return len(m) == 1
	}, "the projects' bucket in the data folder")
	keys1 := first.keys()
	require.Len(t, keys1, 2, first.out.String())
	require.Contains(t, first.out.String(), first.state.AdminPassword)

	first.stop(t)
	_, err = os.Stat(filepath.Join(dataDir, stateFile))
	assert.True(t, os.IsNotExist(err), "dev.json removed on exit")
	// PostgreSQL stopped with it.
	_, err = pgx.Connect(ctx, first.state.DatabaseURL)
	assert.Error(t, err, "PostgreSQL still accepts connections after madbase dev stopped")

	freePort := taken.Addr().(*net.TCPAddr).Port
	require.NoError(t, taken.Close())
	second := startDev(t, dataDir, func(o *Options) {
		o.MigrationsDir = filepath.Join(app, "migrations")
		o.DBPort = freePort
	})
	defer second.stop(t)
	assert.Contains(t, second.state.DatabaseURL, fmt.Sprintf("@127.0.0.1:%d/", freePort), "DEV_DB_PORT when it is free")
	assert.Contains(t, second.out.String(), "  Database          "+second.state.DatabaseURL+"\n")
	assert.NotContains(t, second.out.String(), "Seeded", "the seed runs on a new database only")
	assert.Equal(t, keys1, second.keys(), "keys changed across restarts")
	assert.Equal(t, first.state.AdminPassword, second.state.AdminPassword)
	conn, err = pgx.Connect(ctx, second.state.DatabaseURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var v string
	require.NoError(t, conn.QueryRow(ctx, `select v from kept`).Scan(&v))
	assert.Equal(t, "still here", v)
	var notes int
	require.NoError(t, conn.QueryRow(ctx, `select count(*) from notes`).Scan(&notes))
	assert.Equal(t, 1, notes)
	status, again := adminCall(t, second.state, "GET", "/admin/v1/projects/kept-project", "")
	require.Equal(t, http.StatusOK, status, "%s", again)
	var p1, p2 struct {
		Keys map[string]string `json:"keys"`
	}
	require.NoError(t, json.Unmarshal(created, &p1))
	require.NoError(t, json.Unmarshal(again, &p2))
	assert.NotEmpty(t, p1.Keys["anon"])
	assert.Equal(t, p1.Keys, p2.Keys, "the project's keys across restarts")
	// The second start found the migrations applied: none ran again.
	assert.NotContains(t, second.errOut.String(), "applied migration")
}

func TestDevNoPostgresBinaries(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	out := &logtest.Buffer{}
	err := Run(context.Background(), Options{
		DataDir:  t.TempDir(),
		Workers:  1,
		Env:      config.Map(map[string]string{"EDGE_PORT": "0", "CONTROL_PORT": "0", "WORKER_PORT": "0"}),
		Stdout:   out,
		Stderr:   out,
		PGSearch: &pgcluster.Search{}, // a machine with no PostgreSQL anywhere
	})
	require.Error(t, err)
	assert.True(t, errors.Is(err, pgcluster.ErrNoBinaries), err.Error())
	msg := err.Error()
	assert.Contains(t, msg, "apt-get install postgresql")
	assert.Contains(t, msg, "DATABASE_URL")
	assert.False(t, strings.Contains(msg, "\n\n"), "one paragraph")
}

// adminCall sends an admin API request to a running dev's control.
func adminCall(t *testing.T, st State, method, path, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, st.ControlURL+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+st.AdminPassword)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, b
}
