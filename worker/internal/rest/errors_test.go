package rest

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/madbase/madbase/shared/apierr"
	"github.com/madbase/madbase/shared/apitest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// While PostgreSQL cannot be reached, REST answers 503 PGRST000 with
// Retry-After, the answer supabase-js retries, whatever the request: the
// pool's open connections die with the server and new ones are refused.
func TestUnreachableDatabaseIs503(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := testCtx(t)
	cfg := e.pool.Config()
	px := newTCPProxy(t, net.JoinHostPort(cfg.ConnConfig.Host, strconv.Itoa(int(cfg.ConnConfig.Port))))
	host, port, err := net.SplitHostPort(px.addr())
	require.NoError(t, err)
	p, err := strconv.Atoi(port)
	require.NoError(t, err)
	cfg.ConnConfig.Host, cfg.ConnConfig.Port = host, uint16(p)
	cfg.ConnConfig.Tracer = nil
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	h := New(testConfig(), testSecret, pool, slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelError + 1})))
	require.NoError(t, h.Cache().LoadNow(ctx))
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	h.Mount(app)
	down := newAPI(t, app)

	requests := []apitest.Scenario{
		{Name: "read", URL: "/rest/v1/items?select=id&limit=1"},
		{Name: "read with planned count", URL: "/rest/v1/items?select=id", Headers: map[string]string{"Prefer": "count=planned"}},
		{Name: "insert", Method: "POST", URL: "/rest/v1/items", Body: `{"name":"fig"}`},
		{Name: "rpc", Method: "POST", URL: "/rest/v1/rpc/add", Body: `{"a":1,"b":2}`},
		{Name: "openapi", URL: "/rest/v1/"},
	}
	for _, r := range requests {
		res := down.Do(t, apitest.Request{Method: r.Method, URL: r.URL, Headers: r.Headers, Body: r.Body})
		require.Less(t, res.Status, 300, "%s before the outage: %s", r.Name, res.Body)
	}
	px.close()
	unavailable := make([]apitest.Scenario, len(requests))
	for i, r := range requests {
		r.WantStatus = 503
		r.WantFields = map[string]any{"code": codeConnection}
		r.After = func(t *testing.T, _ *apitest.Env, res *apitest.Response) {
			assert.NotEmpty(t, res.Header.Get("Retry-After"))
		}
		unavailable[i] = r
	}
	for _, round := range []string{"the pool's connections", "new connections"} {
		t.Run(round, func(t *testing.T) { apitest.Run(t, down, unavailable) })
	}
}

// Errors made by shared code carry apierr's own codes; REST says them in
// PostgREST's.
func TestSharedErrorsSpeakPostgREST(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  *apierr.Error
		code string
	}{
		{apierr.NotFound("no such thing"), codeInvalidPath},
		{apierr.TooLarge("too big"), codeBody},
		{apierr.Unavailable("later"), codeConnection},
		{apierr.BadRequest("bad"), codeInternal},
		{apierr.Internal(errors.New("boom")), codeInternal},
	} {
		got := toError(tc.err, true)
		assert.Equal(t, tc.code, got.Code, tc.err.Error())
		assert.Equal(t, tc.err.Status, got.Status, tc.err.Error())
		assert.Equal(t, tc.err.Message, got.Message, tc.err.Error())
	}
}

// tcpProxy forwards connections to a PostgreSQL server until close, which
// cuts every connection and refuses new ones: the server, as the clients
// see it, is gone.
type tcpProxy struct {
	ln     net.Listener
	mu     sync.Mutex
	conns  []net.Conn
	closed bool
	wg     sync.WaitGroup
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &tcpProxy{ln: ln}
	t.Cleanup(p.close)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			if !p.track(c, s) {
				return
			}
			p.wg.Add(2)
			go func() { defer p.wg.Done(); _, _ = io.Copy(s, c); _ = s.Close() }()
			go func() { defer p.wg.Done(); _, _ = io.Copy(c, s); _ = c.Close() }()
		}
	}()
	return p
}

func (p *tcpProxy) addr() string { return p.ln.Addr().String() }

// track remembers a pair of connections, or closes them when the proxy is
// already closed.
func (p *tcpProxy) track(c ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		for _, x := range c {
			_ = x.Close()
		}
		return false
	}
	p.conns = append(p.conns, c...)
	return true
}

func (p *tcpProxy) close() {
	_ = p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns, p.closed = nil, true
	p.mu.Unlock()
	p.wg.Wait()
}
