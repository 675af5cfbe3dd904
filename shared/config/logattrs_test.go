package config

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConfigAttrsHideSecrets(t *testing.T) {
	t.Parallel()
	var cfg Worker
	require.NoError(t, Load(&cfg, Map(map[string]string{
		"JWT_SECRET":    "jwt-secret-value-0123456789abcdef0123",
		"REDIS_URL":     "redis://:redis-pw@127.0.0.1:6379",
		"S3_SECRET_KEY": "s3-secret-value",
		"DATABASE_URL":  "postgres://madbase:db-pw@127.0.0.1:5432/madbase?sslmode=disable",
		"NATS_URL":      "nats://u:nats-pw@a:4222, nats://b:4222",
	})))
	attrs := LogAttrs(cfg)
	got := map[string]any{}
	for i := 0; i+1 < len(attrs); i += 2 {
		got[attrs[i].(string)] = attrs[i+1]
	}
	all := fmt.Sprint(attrs)
	for _, secret := range []string{"jwt-secret-value", "redis-pw", "s3-secret-value", "db-pw", "nats-pw"} {
		assert.NotContains(t, all, secret)
	}
	for _, name := range []string{"JWT_SECRET", "REDIS_URL", "S3_ACCESS_KEY", "S3_SECRET_KEY"} {
		assert.NotContains(t, got, name)
	}
	assert.Equal(t, "postgres://madbase:xxxxx@127.0.0.1:5432/madbase?sslmode=disable", got["DATABASE_URL"])
	assert.Equal(t, "nats://u:xxxxx@a:4222,nats://b:4222", got["NATS_URL"])
	assert.Equal(t, "20s", got["SHUTDOWN_GRACE"])
	assert.Equal(t, 8002, got["WORKER_PORT"])
}

func TestRedactURLs(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                                    "",
		"nats://127.0.0.1:4222":               "nats://127.0.0.1:4222",
		"host=db user=u password=pw dbname=x": "host=db user=u password=xxxxx dbname=x",
		"host=db password='p w' dbname=x":     "host=db password=xxxxx dbname=x",
		"postgres://h/db?password=pw&x=1":     "postgres://h/db?password=xxxxx&x=1",
		"postgres://u:pw@h/db":                "postgres://u:xxxxx@h/db",
		"nats://u:pw@a:4222, nats://b:4222":   "nats://u:xxxxx@a:4222,nats://b:4222",
	} {
		assert.Equal(t, want, RedactURLs(in), in)
	}
}
