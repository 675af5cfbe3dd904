package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/madbase/madbase/shared/config"
	"github.com/madbase/madbase/shared/logging"
	"github.com/madbase/madbase/shared/metrics"
	"github.com/madbase/madbase/worker/internal/api"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newApp(t *testing.T, caps ...api.Capability) *api.App {
	t.Helper()
	reg := prometheus.NewRegistry()
	return api.New(api.Options{
		ID:      "w1",
		Version: "v9",
		Metrics: metrics.NewHTTP(reg, "worker"),
		Deps: api.Deps{
			Log:      logging.Discard(),
			Config:   config.Worker{MaxBodyBytes: 1 << 40},
			Registry: reg,
		},
		Capabilities: caps,
	})
}

func TestAppScenarios(t *testing.T) {
	t.Parallel()
	var seenInFlight int64
	var a *api.App
	probe := func(r fiber.Router, d api.Deps) {
		assert.NotNil(t, d.Log)
		r.Get("/probe", func(c *fiber.Ctx) error {
			seenInFlight = a.InFlight()
			return c.SendString("ok")
		})
	}
	a = newApp(t, probe)

	for _, tc := range []struct {
		name         string
		method, url  string
		wantStatus   int
		wantContains string
	}{
		{"health", "GET", "/health", 200, `{"status":"ok","id":"w1","version":"v9","draining":false}`},
		{"metrics", "GET", "/metrics", 200, "madbase_worker"},
		{"unknown rest route", "GET", "/rest/v1/anything", 404, `"code":404`},
		{"unknown root route", "POST", "/nope", 404, `"error":`},
		{"capability route", "GET", "/probe", 200, "ok"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := a.Fiber.Test(httptest.NewRequest(tc.method, tc.url, nil), -1)
			require.NoError(t, err)
			body, _ := io.ReadAll(resp.Body)
			assert.Equal(t, tc.wantStatus, resp.StatusCode, string(body))
			assert.Contains(t, string(body), tc.wantContains)
		})
	}
	assert.EqualValues(t, 1, seenInFlight, "the probe request counts itself")
	assert.Zero(t, a.InFlight())
}

func TestAppDrainingHealth(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	assert.False(t, a.Draining())
	a.SetDraining()
	assert.True(t, a.Draining())

	resp, err := a.Fiber.Test(httptest.NewRequest(http.MethodGet, "/health", nil), -1)
	require.NoError(t, err)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	var h map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&h))
	assert.Equal(t, map[string]any{"status": "draining", "id": "w1", "version": "v9", "draining": true}, h)
}
