package edge_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/madbase/madbase/bus"
	"github.com/madbase/madbase/bus/bustest"
	"github.com/madbase/madbase/shared/logging"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The tests in this file run on both engines: the event loops answer the
// actual requests, the goroutine server the preflights (and everything with
// MADBASE_TEST_EDGE_EVENT_LOOPS=-1).

const projectDomain = "proj.test"

// projectsBucket makes the projects bucket as control's publisher does.
func projectsBucket(t *testing.T, nc *nats.Conn) jetstream.KeyValue {
	t.Helper()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	var kv jetstream.KeyValue
	bustest.Eventually(t, waitLong, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		kv, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bus.ProjectsBucket, History: 1})
		return err == nil
	}, "projects bucket: %v", err)
	return kv
}

// putProject publishes a project's configuration with these settings.
func putProject(t *testing.T, kv jetstream.KeyValue, ref, id string, revision int64, settings map[string]string) {
	t.Helper()
	b, err := json.Marshal(bus.ProjectConfig{ID: id, Ref: ref, Name: ref, Revision: revision, Settings: settings, UpdatedAt: time.Now()})
	require.NoError(t, err)
	_, err = kv.Put(context.Background(), bus.ProjectKey(ref), b)
	require.NoError(t, err)
}

// origins is a project's ALLOWED_ORIGINS setting.
func origins(v string) map[string]string { return map[string]string{"ALLOWED_ORIGINS": v} }

// preflight asks the edge, under host, whether origin may POST to the REST
// API, and returns the status and Access-Control-Allow-Origin.
func (e *env) preflight(host, origin string) (int, string) {
	e.t.Helper()
	req, err := http.NewRequest("OPTIONS", e.url+"/rest/v1/items", nil)
	require.NoError(e.t, err)
	if host != "" {
		req.Host = host
	}
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "apikey, content-type")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin")
}

// allowedOrigin is the Access-Control-Allow-Origin of an actual request to
// the REST API from origin, under host, with apikey when not empty.
func (e *env) allowedOrigin(host, origin, apikey string) string {
	e.t.Helper()
	req, err := http.NewRequest("GET", e.url+"/rest/v1/items", nil)
	require.NoError(e.t, err)
	if host != "" {
		req.Host = host
	}
	req.Header.Set("Origin", origin)
	if apikey != "" {
		req.Header.Set("apikey", apikey)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	resp.Body.Close()
	require.Equal(e.t, 200, resp.StatusCode)
	return resp.Header.Get("Access-Control-Allow-Origin")
}

// refKey is a JWT whose payload names ref; the edge reads the claim
// without verifying it (the worker verifies).
func refKey(ref string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc([]byte(`{"ref":"`+ref+`","role":"anon"}`)) + ".c2lnbmF0dXJl"
}

// waitPreflight waits until a preflight from origin under host gets status.
func (e *env) waitPreflight(host, origin string, status int) {
	e.t.Helper()
	bustest.Eventually(e.t, waitLong, func() bool {
		got, _ := e.preflight(host, origin)
		return got == status
	}, "preflight from %s to %s answered %d", origin, host, status)
}

func TestProjectCORSFollowsTheBucket(t *testing.T) {
	t.Parallel()
	e := startEdge(t, withEnv("ALLOWED_ORIGINS", "https://env.example"), withEnv("PROJECT_DOMAIN", projectDomain))
	e.addWorker("w1", echoHandler())
	e.waitWorkers(1)
	alpha := "alpha." + projectDomain
	alphaCased := "Alpha." + projectDomain + ":8000"

	// Before any project: the edge's origins everywhere.
	status, _ := e.preflight(alpha, "https://a.example")
	assert.Equal(t, 403, status)

	kv := projectsBucket(t, e.nc)
	putProject(t, kv, "alpha", "id-alpha", 1, origins("https://a.example"))
	putProject(t, kv, "beta", "id-beta", 1, map[string]string{"DB_MAX_ROWS": "5"})
	e.waitPreflight(alpha, "https://a.example", 204)

	for _, c := range []struct {
		name, host, origin string
		status             int
		allowOrigin        string
	}{
		{"the project's origin", alpha, "https://a.example", 204, "https://a.example"},
		{"the Host's case and port do not matter", alphaCased, "https://a.example", 204, "https://a.example"},
		{"another origin", alpha, "https://b.example", 403, ""},
		{"the project's origins replace the edge's", alpha, "https://env.example", 403, ""},
		{"the default project keeps the edge's", "", "https://env.example", 204, "https://env.example"},
		{"the default project does not take a project's", "", "https://a.example", 403, ""},
		{"a project without the setting takes the edge's", "beta." + projectDomain, "https://env.example", 204, "https://env.example"},
		{"an unknown project takes the edge's", "gamma." + projectDomain, "https://env.example", 204, "https://env.example"},
		{"a host under another domain is the default project", "alpha.other.test", "https://a.example", 403, ""},
		{"a deeper subdomain is the default project", "x.alpha." + projectDomain, "https://a.example", 403, ""},
	} {
		status, allow := e.preflight(c.host, c.origin)
		assert.Equal(t, c.status, status, c.name)
		assert.Equal(t, c.allowOrigin, allow, c.name)
	}

	// Actual requests (the event loops serve them) carry the project's
	// CORS too; without a project Host, the apikey's ref claim names it.
	assert.Equal(t, "https://a.example", e.allowedOrigin(alpha, "https://a.example", ""))
	assert.Empty(t, e.allowedOrigin(alpha, "https://env.example", ""))
	assert.Equal(t, "https://a.example", e.allowedOrigin("", "https://a.example", refKey("alpha")))
	assert.Empty(t, e.allowedOrigin("", "https://env.example", refKey("alpha")))
	assert.Equal(t, "https://env.example", e.allowedOrigin("", "https://env.example", refKey("beta")))
	assert.Empty(t, e.allowedOrigin("", "https://a.example", refKey("beta")))
	assert.Empty(t, e.allowedOrigin("beta."+projectDomain, "https://a.example", refKey("alpha")), "the Host's project wins over the key's")

	// A change applies without a restart.
	putProject(t, kv, "alpha", "id-alpha", 2, origins("https://b.example, https://c.example"))
	e.waitPreflight(alpha, "https://b.example", 204)
	status, _ = e.preflight(alpha, "https://a.example")
	assert.Equal(t, 403, status)
	assert.Equal(t, "https://c.example", e.allowedOrigin(alpha, "https://c.example", ""))

	// An older revision is ignored; the bucket is read in order, so once
	// beta's change is seen, alpha's stale one was seen before it.
	putProject(t, kv, "alpha", "id-alpha", 1, origins("https://a.example"))
	putProject(t, kv, "beta", "id-beta", 2, origins("https://beta.example"))
	e.waitPreflight("beta."+projectDomain, "https://beta.example", 204)
	status, _ = e.preflight(alpha, "https://b.example")
	assert.Equal(t, 204, status, "a stale revision must not apply")

	// Another id under the ref is a new project, whatever its revision.
	putProject(t, kv, "alpha", "id-alpha-2", 1, origins("https://new.example"))
	e.waitPreflight(alpha, "https://new.example", 204)

	// The setting removed: the edge's origins again.
	putProject(t, kv, "alpha", "id-alpha-2", 2, nil)
	e.waitPreflight(alpha, "https://env.example", 204)

	// A deleted project: the edge's origins.
	putProject(t, kv, "alpha", "id-alpha-2", 3, origins("https://a.example"))
	e.waitPreflight(alpha, "https://a.example", 204)
	require.NoError(t, kv.Delete(context.Background(), bus.ProjectKey("alpha")))
	e.waitPreflight(alpha, "https://a.example", 403)
	status, _ = e.preflight(alpha, "https://env.example")
	assert.Equal(t, 204, status)
}

// With NATS away the edge keeps the projects it knows; after a NATS restart
// that lost the bucket, the bucket's content is the truth again.
func TestProjectCORSOutlivesNATSOutage(t *testing.T) {
	t.Parallel()
	ns := bustest.RunRestartable(t)
	nc, err := bus.Connect(ns.URL(), "test control", logging.Discard())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	e := startEdgeOn(t, ns.URL(), nc, withEnv("ALLOWED_ORIGINS", "https://env.example"), withEnv("PROJECT_DOMAIN", projectDomain))
	alpha := "alpha." + projectDomain

	putProject(t, projectsBucket(t, nc), "alpha", "id-alpha", 1, origins("https://a.example"))
	e.waitPreflight(alpha, "https://a.example", 204)

	outage(e, ns)
	status, _ := e.preflight(alpha, "https://a.example")
	assert.Equal(t, 204, status, "the project's origins stay while NATS is away")

	restore(e, ns)
	// The embedded server kept its bucket in memory: it is gone, as after
	// a real loss, until control's resync fills it again.
	kv := projectsBucket(t, nc)
	putProject(t, kv, "beta", "id-beta", 1, origins("https://beta.example"))
	e.waitPreflight("beta."+projectDomain, "https://beta.example", 204)
	status, _ = e.preflight(alpha, "https://a.example")
	assert.Equal(t, 403, status, "a project the bucket no longer holds is deleted")
	putProject(t, kv, "alpha", "id-alpha", 2, origins("https://a.example"))
	e.waitPreflight(alpha, "https://a.example", 204)
}
