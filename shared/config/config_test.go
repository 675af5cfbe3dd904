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

// TestExampleCredentialsRefused: the S3 key and PostgreSQL password that
// .env.example and docker-compose.yml give are refused outside dev, by
// name and without quoting them; dev takes them.
func TestExampleCredentialsRefused(t *testing.T) {
	base := map[string]string{"JWT_SECRET": strings.Repeat("k", 40), "NATS_URL": "nats://x", "ADMIN_PASSWORD": "a-real-admin-password",
		"STORAGE_BACKEND": "s3", "S3_ENDPOINT": "minio:9000", "S3_ACCESS_KEY": "madbase", "S3_SECRET_KEY": ExampleS3SecretKey,
		"DATABASE_URL": "postgres://postgres:" + ExamplePostgresPassword + "@db:5432/madbase?sslmode=disable"}
	var w Worker
	require.NoError(t, Load(&w, Map(base)))
	err := w.Validate(false)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "S3_SECRET_KEY: still holds the example value")
	assert.Contains(t, err.Error(), "DATABASE_URL: its password is the example one")
	assert.NotContains(t, err.Error(), ExampleS3SecretKey)
	assert.NotContains(t, err.Error(), "@db:5432", "the URL is not quoted")
	assert.NoError(t, w.Validate(true), "madbase dev takes them")
	var c Control
	require.NoError(t, Load(&c, Map(base)))
	err = c.Validate(false)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "DATABASE_URL: its password is the example one")

	for _, conn := range []string{
		"postgresql://postgres:postgres@db/madbase", "postgres://db/madbase?user=u&password=postgres",
		"host=db user=postgres password=postgres dbname=madbase", "host=db password = 'postgres' dbname=madbase",
	} {
		assert.Error(t, checkDatabasePassword(conn), conn)
	}
	for _, conn := range []string{
		"postgres://postgres:s3cr3t-pw@db/madbase", "postgres://postgres@db/postgres", "postgres://db/postgres",
		"host=db user=postgres password='postgres\\' x' dbname=postgres", "host=db user=postgres dbname=postgres", "",
	} {
		assert.NoError(t, checkDatabasePassword(conn), conn)
	}

	own := map[string]string{}
	for k, v := range base {
		own[k] = v
	}
	own["S3_SECRET_KEY"], own["DATABASE_URL"] = "an-own-s3-secret-key", "postgres://postgres:an-own-password@db:5432/madbase"
	require.NoError(t, Load(&w, Map(own)))
	assert.NoError(t, w.Validate(false))
	own["STORAGE_BACKEND"], own["S3_SECRET_KEY"] = "local", ExampleS3SecretKey
	require.NoError(t, Load(&w, Map(own)))
	assert.NoError(t, w.Validate(false), "the S3 key is only checked when S3 is used")
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
