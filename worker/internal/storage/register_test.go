package storage

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/madbase/madbase/shared/config"
	"github.com/madbase/madbase/shared/db/dbtest"
	"github.com/madbase/madbase/shared/db/platform"
	"github.com/madbase/madbase/shared/jwtauth"
	"github.com/madbase/madbase/worker/internal/app"
	migstorage "github.com/madbase/madbase/worker/migrations/storage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRegisterS3: the worker's Register builds the S3 backend from the
// S3_* settings (creating the bucket) and serves through it.
func TestRegisterS3(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	t.Cleanup(srv.Close)
	pool := dbtest.New(t, platform.Source, migstorage.Source)
	base, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cfg := config.Worker{JWTSecret: testSecret, MaxBodyBytes: 1 << 30, Storage: config.Storage{
		Backend: "s3", S3Endpoint: srv.URL, S3Region: "us-east-1", S3Bucket: "fresh", S3AccessKey: "k", S3SecretKey: "s"}}
	a := app.New(app.Options{Deps: app.Deps{Config: cfg, DB: pool, BaseContext: base}, Capabilities: []app.Capability{Register}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = a.Fiber.Listener(ln) }()
	t.Cleanup(func() { _ = a.Fiber.ShutdownWithTimeout(5 * time.Second) })
	svc, err := jwtauth.ServiceRoleKey([]byte(testSecret), time.Now(), time.Now().Add(time.Hour))
	require.NoError(t, err)
	url := "http://" + ln.Addr().String() + "/storage/v1"

	do := func(method, path string, body []byte) (int, []byte) {
		r, err := http.NewRequestWithContext(testCtx(t), method, url+path, bytes.NewReader(body))
		require.NoError(t, err)
		r.Header.Set("Authorization", "Bearer "+svc)
		r.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(r)
		require.NoError(t, err)
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, b
	}
	st, b := do("POST", "/bucket", []byte(`{"id":"b","name":"b"}`))
	require.Equal(t, 200, st, string(b))
	st, b = do("POST", "/object/b/x.json", []byte(`{"raw":true}`))
	require.Equal(t, 200, st, string(b))
	st, b = do("GET", "/object/b/x.json", nil)
	assert.Equal(t, 200, st)
	assert.Equal(t, `{"raw":true}`, string(b), "JSON bodies are stored raw, never parsed")
}
