// Package integration_test runs whole workers against a real PostgreSQL. It is
// apart from the worker package's own tests because dbtest.Main and goleak
// each want to own TestMain.
package integration_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/madbase/madbase/bus/bustest"
	"github.com/madbase/madbase/shared/config"
	"github.com/madbase/madbase/shared/db/dbtest"
	"github.com/madbase/madbase/worker"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func workerConfig(t *testing.T, natsURL, dbURL string) config.Worker {
	t.Helper()
	var cfg config.Worker
	require.NoError(t, config.Load(&cfg, config.Map(map[string]string{
		"NATS_URL":       natsURL,
		"DATABASE_URL":   dbURL,
		"JWT_SECRET":     "test-jwt-secret-0123456789abcdef0123456789",
		"STORAGE_DIR":    t.TempDir(),
		"SHUTDOWN_GRACE": "10s",
		"INSTANCE_ID":    "w-db",
	})))
	return cfg
}

// TestWorkerWithDatabase: the pool reaches capabilities, its metrics carry
// tier="worker", a request in flight at shutdown can still query, and the
// pool is closed when Run returns.
func TestWorkerWithDatabase(t *testing.T) {
	t.Parallel()
	s := bustest.RunServer(t)
	d := dbtest.NewDB(t)

	var pool *pgxpool.Pool
	entered, release := make(chan struct{}, 1), make(chan struct{})
	capability := func(r fiber.Router, deps worker.Deps) {
		pool = deps.DB
		r.Get("/test/db", func(c *fiber.Ctx) error {
			entered <- struct{}{}
			<-release
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			var n int
			if err := deps.DB.QueryRow(ctx, "select 41 + 1").Scan(&n); err != nil {
				return err
			}
			return c.JSON(fiber.Map{"n": n})
		})
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ready := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- worker.Run(ctx, workerConfig(t, s.URL(), d.URL), worker.Options{
			Listener: ln, LogOut: io.Discard, Ready: func(u string) { ready <- u },
			Capabilities: []worker.Capability{capability},
		})
	}()
	var url string
	select {
	case url = <-ready:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	require.NotNil(t, pool)

	c := &http.Client{Transport: &http.Transport{}}
	defer c.CloseIdleConnections()
	resp, err := c.Get(url + "/metrics")
	require.NoError(t, err)
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Contains(t, string(metrics), `madbase_db_pool_max_conns{tier="worker"}`)

	type result struct {
		status int
		body   string
		err    error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := c.Get(url + "/test/db")
		if err != nil {
			res <- result{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		res <- result{status: resp.StatusCode, body: string(b)}
	}()
	<-entered
	cancel()
	bustest.Eventually(t, 5*time.Second, func() bool {
		conn, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second)
		if err == nil {
			conn.Close()
		}
		return err != nil
	}, "the worker to stop accepting connections")
	close(release)
	r := <-res
	require.NoError(t, r.err)
	assert.Equal(t, http.StatusOK, r.status)
	assert.JSONEq(t, `{"n":42}`, r.body)

	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return")
	}
	_, err = pool.Acquire(context.Background())
	assert.Error(t, err, "the pool is closed when Run returns")
}

// TestWorkerDatabaseUnreachable: start-up fails with an error that does not
// quote the password.
func TestWorkerDatabaseUnreachable(t *testing.T) {
	t.Parallel()
	s := bustest.RunServer(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead, err := net.Listen("tcp", "127.0.0.1:0") // a port that refuses once closed
	require.NoError(t, err)
	addr := dead.Addr().String()
	require.NoError(t, dead.Close())

	cfg := workerConfig(t, s.URL(), "postgres://madbase:hunter2-secret@"+addr+"/madbase?connect_timeout=2")
	err = worker.Run(context.Background(), cfg, worker.Options{Listener: ln, LogOut: io.Discard})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "database")
	assert.NotContains(t, err.Error(), "hunter2")
	// Asked of the listener itself: dialing its port could reach whatever
	// took the freed port meanwhile (another test, another suite).
	_, err = ln.Accept()
	assert.ErrorIs(t, err, net.ErrClosed, "the listener is closed")
}
