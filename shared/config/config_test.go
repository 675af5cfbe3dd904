package config

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoadDefaultsAndOverrides(t *testing.T) {
	var cfg Edge
	require.NoError(t, Load(&cfg, Map(map[string]string{
		"EDGE_PORT": "9000", "WORKER_UPSTREAM_URLS": " http://a:1 , ,http://b:2", "UPSTREAM_CONNECT_TIMEOUT": "250ms",
	})))
	assert.Equal(t, 9000, cfg.Port)
	assert.Equal(t, []string{"http://a:1", "http://b:2"}, cfg.WorkerUpstreamURLs)
	assert.Equal(t, 250*time.Millisecond, cfg.ConnectTimeout)
	assert.Equal(t, "info", cfg.LogLevel)
	assert.Equal(t, []string{"*"}, cfg.AllowedOrigins)
	assert.Equal(t, int64(5<<30), cfg.MaxBodyBytes)
}

func TestLoadListsEveryProblem(t *testing.T) {
	var cfg Worker
	err := Load(&cfg, Map(map[string]string{"WORKER_PORT": "eighty", "S3_USE_SSL": "maybe", "SHUTDOWN_GRACE": "soon"}))
	require.Error(t, err)
	for _, name := range []string{"WORKER_PORT", "S3_USE_SSL", "SHUTDOWN_GRACE"} {
		assert.Contains(t, err.Error(), name)
	}
}

func TestValidateOutsideDev(t *testing.T) {
	var w Worker
	require.NoError(t, Load(&w, Map(map[string]string{"JWT_SECRET": "short"})))
	err := w.Validate(false)
	require.Error(t, err)
	msg := err.Error()
	for _, want := range []string{"NATS_URL", "DATABASE_URL", "JWT_SECRET: must be at least 32 bytes"} {
		assert.Contains(t, msg, want)
	}
	assert.NotContains(t, msg, "short", "a secret's value must never appear in an error")

	var c Control
	require.NoError(t, Load(&c, Map(map[string]string{"ADMIN_PASSWORD": "change-me", "NATS_URL": "nats://x", "DATABASE_URL": "postgres://x"})))
	err = c.Validate(false)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ADMIN_PASSWORD: still holds the example value")

	require.NoError(t, Load(&w, Map(map[string]string{"JWT_SECRET": strings.Repeat("k", 40), "NATS_URL": "nats://x", "DATABASE_URL": "postgres://x"})))
	assert.NoError(t, w.Validate(false))
}

func TestValidateDevRelaxes(t *testing.T) {
	var w Worker
	require.NoError(t, Load(&w, Map(nil)))
	assert.NoError(t, w.Validate(true))
	var e Edge
	require.NoError(t, Load(&e, Map(map[string]string{"WORKER_UPSTREAM_URLS": "ftp://x"})))
	err := e.Validate(true)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "WORKER_UPSTREAM_URLS")
}

// A variable the edge and the worker read in their own ways is described
// for both.
func TestVarsDescribeEachTiersMeaning(t *testing.T) {
	for _, v := range Vars() {
		if v.Name == "MAX_BODY_BYTES" {
			assert.Contains(t, v.Desc, "the edge forwards")
			assert.Contains(t, v.Desc, "A worker reads it as")
			return
		}
	}
	t.Fatal("MAX_BODY_BYTES not listed")
}
