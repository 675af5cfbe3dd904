package functions

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dop251/goja"
	"github.com/gofiber/fiber/v2"
	"github.com/madbase/madbase/bus"
	"github.com/madbase/madbase/shared/config"
	"github.com/madbase/madbase/worker/internal/api"
)

// testSecret signs the tokens of the tests' project.
const testSecret = "functions-test-secret-0123456789abcdef"

// testConfig is a worker configuration with the functions' defaults.
func testConfig(t *testing.T, env map[string]string) config.Worker {
	t.Helper()
	var cfg config.Worker
	base := map[string]string{"JWT_SECRET": testSecret}
	for k, v := range env {
		base[k] = v
	}
	if err := config.Load(&cfg, config.Map(base)); err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

// testApp serves the manager's functions on a fiber app; install deploys
// sources into it without NATS.
type testApp struct {
	t    *testing.T
	m    *Manager
	app  *fiber.App
	logs *syncBuffer
}

// syncBuffer collects the functions' log lines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newTestApp(t *testing.T, env map[string]string) *testApp {
	t.Helper()
	cfg := testConfig(t, env)
	logs := &syncBuffer{}
	m := New(Options{Config: cfg, Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { _ = m.Run(ctx) }()
	app := fiber.New(fiber.Config{StreamRequestBody: true})
	m.Register(app, api.Deps{Config: cfg, BaseContext: ctx})
	return &testApp{t: t, m: m, app: app, logs: logs}
}

// install deploys src as version 1 (or the next) of name in the default
// project, with verify_jwt off unless verify says otherwise.
func (a *testApp) install(name, src string, verify bool) {
	a.t.Helper()
	prog, err := goja.Compile(name+".js", src, false)
	if err != nil {
		a.t.Fatalf("compile %s: %v", name, err)
	}
	key := bus.FunctionKey(a.m.defaultRef, name)
	old := a.m.state.Load()
	cfg := bus.FunctionConfig{Project: a.m.defaultRef, Name: name, Version: old.functions[key].Version + 1, VerifyJWT: verify}
	cfg.Object = bus.FunctionObject(cfg.Project, name, cfg.Version)
	next := old.clone()
	next.functions[key] = cfg
	a.m.state.Store(next)
	a.m.vmu.Lock()
	a.m.versions[key] = &version{cfg: cfg, prog: prog, pool: make(chan *instance, 4)}
	a.m.vmu.Unlock()
}

// do sends a request and returns the status and body.
func (a *testApp) do(method, path, body string, headers ...string) (int, string, http.Header) {
	a.t.Helper()
	var rb io.Reader
	if body != "" {
		rb = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rb)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := a.app.Test(req, int((30 * time.Second).Milliseconds()))
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b), res.Header
}
