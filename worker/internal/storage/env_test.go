package storage

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/madbase/madbase/shared/apitest"
	"github.com/madbase/madbase/shared/config"
	"github.com/madbase/madbase/shared/db/dbtest"
	"github.com/madbase/madbase/shared/db/platform"
	"github.com/madbase/madbase/worker/internal/api"
	migstorage "github.com/madbase/madbase/worker/migrations/storage"
	"github.com/stretchr/testify/require"
)

// TestMain stops the test PostgreSQL once the tests are done, then fails the
// run if goroutines (a listener, an upload, an S3 client's connections) are
// left.
func TestMain(m *testing.M) { apitest.Main(m, apitest.Teardown(dbtest.Shutdown)) }

const testSecret = "storage-test-secret-0123456789abcdef"

// env is a storage handler on a real listener (uploads stream, clients go
// away mid-body), a fresh database and a real backend (a temp folder, or an
// in-process S3 server). Its apitest.Env sends requests under /storage/v1
// and holds the keys and tokens.
type env struct {
	*apitest.Env
	pool    *pgxpool.Pool
	h       *Handler
	backend Backend
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
	e, a := newUnserved(t, be, mutate...)
	e.Env = apitest.NewListener(t, a.Fiber, testSecret)
	e.Prefix = "/storage/v1"
	return e
}

// newUnserved builds the handler and the worker's app around it, for the
// caller to serve.
func newUnserved(t *testing.T, be Backend, mutate ...func(*Options)) (*env, *api.App) {
	t.Helper()
	pool := dbtest.New(t, platform.Source, migstorage.Source)
	opts := Options{JWTSecret: testSecret, Pool: pool, Backend: be, MaxBodyBytes: 64 << 20,
		Config: config.Storage{ImageTransformation: true}}
	for _, m := range mutate {
		m(&opts)
	}
	h := New(opts)
	a := api.New(api.Options{Deps: api.Deps{Config: config.Worker{MaxBodyBytes: opts.MaxBodyBytes}},
		Capabilities: []api.Capability{func(r fiber.Router, _ api.Deps) { h.Mount(r) }}})
	return &env{pool: pool, h: h, backend: be}, a
}

// as is the headers of a request made with token ("" for none) and the
// header pairs kv.
func as(token string, kv ...string) map[string]string {
	h := map[string]string{}
	if token != "" {
		h["Authorization"] = apitest.Bearer(token)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		h[kv[i]] = kv[i+1]
	}
	return h
}

// errCode is the storage error code of a JSON error body.
func errCode(r *apitest.Response) string {
	var e errorBody
	_ = json.Unmarshal(r.Body, &e)
	return e.Code
}

// ok sends r and fails unless it answers 2xx.
func (e *env) ok(t *testing.T, r apitest.Request) *apitest.Response {
	t.Helper()
	res := e.Do(t, r)
	require.True(t, res.Status >= 200 && res.Status < 300, "%s %s: %d %s", r.Method, r.URL, res.Status, res.Body)
	return res
}

// serviceOK is ok with the service key.
func (e *env) serviceOK(t *testing.T, method, url string, body any) *apitest.Response {
	t.Helper()
	return e.ok(t, apitest.Request{Method: method, URL: url, Headers: as(e.Service), Body: body})
}

func (e *env) createBucket(t *testing.T, id string, public bool, extra map[string]any) {
	t.Helper()
	body := map[string]any{"id": id, "name": id, "public": public}
	for k, v := range extra {
		body[k] = v
	}
	e.serviceOK(t, "POST", "/bucket", body)
}

// upload sends data as an object's bytes (no content type unless headers
// give one).
func (e *env) upload(t *testing.T, bucket, key, token string, data []byte, headers map[string]string) *apitest.Response {
	t.Helper()
	h := as(token)
	for k, v := range headers {
		h[k] = v
	}
	return e.Do(t, apitest.Request{Method: "POST", URL: "/object/" + bucket + "/" + key, Headers: h, Body: data})
}

// blobCount is how many object files the backend holds.
func (e *env) blobCount(t *testing.T) int {
	t.Helper()
	n := 0
	require.NoError(t, e.backend.Walk(testCtx(t), func(k string, _ time.Time) error {
		if strings.HasPrefix(k, "objects/") || strings.HasPrefix(k, ".tmp/") {
			n++
		}
		return nil
	}))
	return n
}

func (e *env) rowCount(t *testing.T) int {
	t.Helper()
	var n int
	require.NoError(t, e.pool.QueryRow(testCtx(t), `select count(*) from storage.objects`).Scan(&n))
	return n
}
