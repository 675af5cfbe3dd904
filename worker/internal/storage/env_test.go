package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/madbase/madbase/shared/config"
	"github.com/madbase/madbase/shared/db/dbtest"
	"github.com/madbase/madbase/shared/db/platform"
	"github.com/madbase/madbase/shared/jwtauth"
	"github.com/madbase/madbase/worker/internal/app"
	migstorage "github.com/madbase/madbase/worker/migrations/storage"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

const testSecret = "storage-test-secret-0123456789abcdef"

// env is a storage handler on a real listener, a fresh database and a
// real backend (a temp folder, or an in-process S3 server).
type env struct {
	t       *testing.T
	url     string
	pool    *pgxpool.Pool
	h       *Handler
	backend Backend
	service string
}

func s3Backend(t *testing.T) *S3 {
	t.Helper()
	srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	t.Cleanup(srv.Close)
	s3, err := NewS3(config.Storage{S3Endpoint: srv.URL, S3Region: "us-east-1", S3Bucket: "madbase",
		S3AccessKey: "key", S3SecretKey: "secret"})
	require.NoError(t, err)
	require.NoError(t, s3.EnsureBucket(testCtx(t), "us-east-1"))
	return s3
}

func localBackend(t *testing.T) *Local {
	t.Helper()
	l, err := NewLocal(t.TempDir())
	require.NoError(t, err)
	return l
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func newEnv(t *testing.T, kind string, mutate ...func(*Options)) *env {
	t.Helper()
	var be Backend
	switch kind {
	case "s3":
		be = s3Backend(t)
	default:
		be = localBackend(t)
	}
	return newEnvWith(t, be, mutate...)
}

func newEnvWith(t *testing.T, be Backend, mutate ...func(*Options)) *env {
	t.Helper()
	pool := dbtest.New(t, platform.Source, migstorage.Source)
	opts := Options{JWTSecret: testSecret, Pool: pool, Backend: be, MaxBodyBytes: 64 << 20}
	for _, m := range mutate {
		m(&opts)
	}
	h := New(opts)
	a := app.New(app.Options{Deps: app.Deps{Config: config.Worker{MaxBodyBytes: opts.MaxBodyBytes}},
		Capabilities: []app.Capability{func(r fiber.Router, _ app.Deps) { h.Mount(r) }}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = a.Fiber.Listener(ln) }()
	t.Cleanup(func() { _ = a.Fiber.ShutdownWithTimeout(5 * time.Second) })
	svc, err := jwtauth.ServiceRoleKey([]byte(testSecret), time.Now(), time.Now().Add(time.Hour))
	require.NoError(t, err)
	return &env{t: t, url: "http://" + ln.Addr().String() + "/storage/v1", pool: pool, h: h, backend: be, service: svc}
}

// userToken signs an authenticated user's access token.
func userToken(t *testing.T, sub string) string {
	t.Helper()
	tok, err := jwtauth.Sign([]byte(testSecret), jwt.MapClaims{"sub": sub, "role": "authenticated", "aud": "authenticated",
		"exp": time.Now().Add(time.Hour).Unix()})
	require.NoError(t, err)
	return tok
}

func anonToken(t *testing.T) string {
	t.Helper()
	tok, err := jwtauth.AnonKey([]byte(testSecret), time.Now(), time.Now().Add(time.Hour))
	require.NoError(t, err)
	return tok
}

// req is one request of a scenario.
type req struct {
	method  string
	path    string
	token   string
	headers map[string]string
	body    io.Reader
	json    any
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) decode(t *testing.T, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(r.body, v), string(r.body))
}

// errCode is the storage error code of a JSON error body.
func (r resp) errCode() string {
	var e errorBody
	_ = json.Unmarshal(r.body, &e)
	return e.Code
}

func (e *env) do(r req) resp {
	e.t.Helper()
	body := r.body
	if r.json != nil {
		b, err := json.Marshal(r.json)
		require.NoError(e.t, err)
		body = bytes.NewReader(b)
	}
	hr, err := http.NewRequestWithContext(testCtx(e.t), r.method, e.url+r.path, body)
	require.NoError(e.t, err)
	if r.json != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if r.token != "" {
		hr.Header.Set("Authorization", "Bearer "+r.token)
	}
	for k, v := range r.headers {
		hr.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(hr)
	require.NoError(e.t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(e.t, err)
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

// mustOK fails unless the request answers 2xx.
func (e *env) mustOK(r req) resp {
	e.t.Helper()
	res := e.do(r)
	require.True(e.t, res.status >= 200 && res.status < 300, "%s %s: %d %s", r.method, r.path, res.status, res.body)
	return res
}

func (e *env) createBucket(id string, public bool, extra map[string]any) {
	e.t.Helper()
	body := map[string]any{"id": id, "name": id, "public": public}
	for k, v := range extra {
		body[k] = v
	}
	e.mustOK(req{method: "POST", path: "/bucket", token: e.service, json: body})
}

func (e *env) upload(bucket, key, token string, data []byte, headers map[string]string) resp {
	e.t.Helper()
	return e.do(req{method: "POST", path: "/object/" + bucket + "/" + key, token: token, body: bytes.NewReader(data), headers: headers})
}

// blobCount is how many object files the backend holds.
func (e *env) blobCount() int {
	e.t.Helper()
	n := 0
	require.NoError(e.t, e.backend.Walk(testCtx(e.t), func(k string, _ time.Time) error {
		if strings.HasPrefix(k, "objects/") || strings.HasPrefix(k, ".tmp/") {
			n++
		}
		return nil
	}))
	return n
}

func (e *env) rowCount() int {
	e.t.Helper()
	var n int
	require.NoError(e.t, e.pool.QueryRow(testCtx(e.t), `select count(*) from storage.objects`).Scan(&n))
	return n
}
