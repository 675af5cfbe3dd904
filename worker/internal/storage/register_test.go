package storage

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/madbase/madbase/shared/apitest"
	"github.com/madbase/madbase/shared/config"
	"github.com/madbase/madbase/shared/db/dbtest"
	"github.com/madbase/madbase/shared/db/platform"
	"github.com/madbase/madbase/worker/internal/api"
	migstorage "github.com/madbase/madbase/worker/migrations/storage"
	"github.com/stretchr/testify/assert"
)

// TestRegisterS3: the worker's Register builds the S3 backend from the
// S3_* settings (creating the bucket) and serves through it.
func TestRegisterS3(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	t.Cleanup(srv.Close)
	pool := dbtest.New(t, platform.Source, migstorage.Source)
	// Cancelled at the end: the orphan cleaner Register starts stops.
	base, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cfg := config.Worker{JWTSecret: testSecret, MaxBodyBytes: 1 << 30, Storage: config.Storage{
		Backend: "s3", S3Endpoint: srv.URL, S3Region: "us-east-1", S3Bucket: "fresh", S3AccessKey: "k", S3SecretKey: "s"}}
	a := api.New(api.Options{Deps: api.Deps{Config: cfg, DB: pool, BaseContext: base}, Capabilities: []api.Capability{Register}})
	e := apitest.NewListener(t, a.Fiber, testSecret)
	e.Prefix = "/storage/v1"
	e.Headers = as(e.Service)

	apitest.Run(t, e, []apitest.Scenario{
		{Name: "a bucket", Method: "POST", URL: "/bucket", Body: `{"id":"b","name":"b"}`, WantStatus: 200},
		// A string body goes with Content-Type: application/json.
		{Name: "a JSON object", Method: "POST", URL: "/object/b/x.json", Body: `{"raw":true}`, WantStatus: 200},
		{Name: "read back", URL: "/object/b/x.json", WantStatus: 200,
			After: func(t *testing.T, _ *apitest.Env, r *apitest.Response) {
				assert.Equal(t, `{"raw":true}`, r.String(), "JSON bodies are stored raw, never parsed")
			}},
	})
}
