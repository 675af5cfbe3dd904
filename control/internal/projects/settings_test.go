package projects

import (
	"strings"
	"testing"

	"github.com/madbase/madbase/shared/config"
	"github.com/stretchr/testify/assert"
)

func TestSettingNames(t *testing.T) {
	t.Parallel()
	names := SettingNames()
	for _, want := range []string{"AUTH_DISABLE_SIGNUP", "SITE_URL", "SMTP_PASS", "DB_MAX_ROWS", "DB_SCHEMAS",
		"STORAGE_BACKEND", "S3_SECRET_KEY", "REALTIME_MAX_CHANNELS_PER_SOCKET", "ALLOWED_ORIGINS", "AUTH_RATE_LIMIT_SIGN_IN", "JWT_KEYS", "FUNCTIONS_CPU_TIMEOUT", "FUNCTIONS_FETCH_ALLOW_HOSTS"} {
		assert.Contains(t, names, want)
	}
	for _, not := range []string{"NATS_URL", "JWT_SECRET", "DATABASE_URL", "STORAGE_DIR", "AUTH_BCRYPT_CONCURRENCY", "WORKER_PORT", "REDIS_URL",
		"FUNCTIONS_MAX_MEMORY_BYTES", "FUNCTIONS_POOL_SIZE", "FUNCTIONS_API_URL"} {
		assert.NotContains(t, names, not)
	}
	for _, secret := range []string{"SMTP_PASS", "S3_ACCESS_KEY", "S3_SECRET_KEY", "JWT_KEYS"} {
		assert.True(t, IsSecretSetting(secret), secret)
	}
	assert.False(t, IsSecretSetting("SMTP_USER"))
}

func TestCheckNames(t *testing.T) {
	t.Parallel()
	problems := checkNames([]string{"DB_MAX_ROWS", "NATS_URL", "EDGE_PORT", "MADBASE_DATA_DIR", "JWT_SECRET", "DATABASE_URL", "STORAGE_DIR", "WHATEVER", strings.Repeat("X", 500)})
	joined := strings.Join(problems, "\n")
	assert.Len(t, problems, 8, joined)
	assert.NotContains(t, joined, "DB_MAX_ROWS")
	assert.Contains(t, joined, "NATS_URL: platform-wide")
	assert.Contains(t, joined, "EDGE_PORT: platform-wide")
	assert.Contains(t, joined, "MADBASE_DATA_DIR: platform-wide")
	assert.Contains(t, joined, "JWT_SECRET: not a setting: a project's JWT secret")
	assert.Contains(t, joined, "DATABASE_URL: not a setting")
	assert.Contains(t, joined, "STORAGE_DIR: platform-wide")
	assert.Contains(t, joined, `"WHATEVER": unknown setting`)
	assert.Less(t, len(problems[len(problems)-1]), 250, "a long unknown name is cut")
}

func TestValidateSettings(t *testing.T) {
	t.Parallel()
	env := config.Map(map[string]string{"SMTP_HOST": "smtp.example.com", "API_EXTERNAL_URL": "https://api.example.com"})
	assert.Empty(t, validateSettings(env, map[string]string{"DB_MAX_ROWS": "10", "AUTH_DISABLE_SIGNUP": "true"}, false))

	problems := validateSettings(env, map[string]string{
		"JWT_EXP": "60", "AUTH_OTP_LENGTH": "x", "JWT_KEYS": `[{"kty":"EC"}]`, "DB_TX_END": "never", "STORAGE_BACKEND": "s3", "REALTIME_PRESENCE_EXPIRY": "10ms",
	}, false)
	joined := strings.Join(problems, "\n")
	for _, name := range []string{"JWT_EXP", "AUTH_OTP_LENGTH", "JWT_KEYS", "DB_TX_END", "S3_ENDPOINT", "REALTIME_PRESENCE_EXPIRY"} {
		assert.Contains(t, joined, name)
	}

	assert.Equal(t, []string{"JWT_KEYS: a project's signing keys are a JSON array of JWKs, not a file path"},
		validateSettings(env, map[string]string{"JWT_KEYS": "/etc/passwd"}, false))
	assert.Empty(t, validateSettings(config.Map(map[string]string{"JWT_KEYS": "/nowhere"}), map[string]string{}, false),
		"the platform's JWT_KEYS are not a project's")

	// The project's value overrides the environment's, and the whole result is
	// checked: an SMTP host needs an external URL outside dev.
	bare := config.Map(map[string]string{})
	assert.Contains(t, strings.Join(validateSettings(bare, map[string]string{"SMTP_HOST": "smtp.example.com"}, false), "\n"), "API_EXTERNAL_URL")
	assert.Empty(t, validateSettings(bare, map[string]string{"SMTP_HOST": "smtp.example.com"}, true), "madbase dev relaxes it")
}

func TestCheckRef(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"abc", "shop-2", "a1b", strings.Repeat("a", 40), "0ab"} {
		assert.NoError(t, CheckRef(ok), ok)
	}
	for _, bad := range []string{"", "ab", "Abc", "a_b", "a.b", "..", "../x", "-ab", "ab-", "a b", "ab\x00c", `a"b`, "a'b", "a;b", strings.Repeat("a", 41), "ünï"} {
		assert.Error(t, CheckRef(bad), "%q", bad)
	}
}

func TestWithDatabase(t *testing.T) {
	t.Parallel()
	// The platform pool's pool_* parameters would size every project's
	// pool over PROJECT_DB_MAX_CONNS: they are dropped, the others kept.
	assert.Equal(t, "postgres://u:p@h:5432/madbase_shop?application_name=x&sslmode=disable",
		withDatabase("postgres://u:p@h:5432/platform?sslmode=disable&pool_max_conns=40&application_name=x&pool_min_conns=2", "madbase_shop"))
	assert.Equal(t, "postgresql://h/madbase_shop", withDatabase("postgresql://h", "madbase_shop"))
	assert.Equal(t, "host=h user=u dbname=platform dbname='madbase_shop'", withDatabase("host=h user=u dbname=platform", "madbase_shop"))
	assert.Equal(t, "host=h password='a b\\' c' sslmode=disable dbname='madbase_shop'",
		withDatabase("host=h pool_max_conns=40 password='a b\\' c' pool_max_conn_lifetime = 1h sslmode=disable", "madbase_shop"))
}
