package control_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/madbase/madbase/bus"
	"github.com/madbase/madbase/bus/bustest"
	"github.com/madbase/madbase/control"
	"github.com/madbase/madbase/shared/db/dbtest"
	"github.com/madbase/madbase/shared/db/migrate"
	"github.com/madbase/madbase/shared/db/platform"
	"github.com/madbase/madbase/shared/secretbox"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func (in *instance) post(t *testing.T, path, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, in.url+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header = admin.Clone()
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, b
}

// TestProjectsThroughRun: with MADBASE_ENCRYPTION_KEY, control.Run serves the
// projects API and publishes a created project's configuration into the
// bucket every worker watches; without it the API says it is off.
func TestProjectsThroughRun(t *testing.T) {
	t.Parallel()
	srv := bustest.RunServer(t)
	d := dbtest.NewDB(t)
	opts := control.Options{Migrations: []migrate.Source{platform.Source}}

	off := start(t, srv, map[string]string{"DATABASE_URL": d.URL}, opts)
	status, body := off.post(t, "/admin/v1/projects", `{"ref":"alpha"}`)
	assert.Equal(t, 503, status, "%s", body)
	require.NoError(t, off.stop())

	key := secretbox.EncodeKey(secretbox.NewKey())
	on := start(t, srv, map[string]string{"DATABASE_URL": d.URL, "MADBASE_ENCRYPTION_KEY": key}, opts)
	status, body = on.post(t, "/admin/v1/projects", `{"ref":"alpha","database_url":"`+d.URL+`"}`)
	require.Equal(t, 201, status, "%s", body)
	assert.NotContains(t, on.out.String(), d.URL, "no database URL in the logs")

	nc := bustest.Connect(t, srv)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var cfg bus.ProjectConfig
	bustest.Eventually(t, 30*time.Second, func() bool {
		kv, err := js.KeyValue(ctx, bus.ProjectsBucket)
		if err != nil {
			return false
		}
		e, err := kv.Get(ctx, bus.ProjectKey("alpha"))
		if err != nil {
			return false
		}
		return json.Unmarshal(e.Value(), &cfg) == nil
	}, "alpha's configuration in the bucket")
	assert.Equal(t, "alpha", cfg.Ref)
	assert.EqualValues(t, 1, cfg.Revision)
	assert.NotContains(t, cfg.DatabaseURL, "postgres://", "the database URL travels sealed")
}
