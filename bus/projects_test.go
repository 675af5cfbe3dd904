package bus_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/madbase/madbase/bus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestProjectConfigWire pins the JSON of a published project configuration:
// edges and workers of other versions read it.
func TestProjectConfigWire(t *testing.T) {
	t.Parallel()
	retires := time.Date(2026, 12, 8, 4, 0, 0, 0, time.UTC)
	cfg := bus.ProjectConfig{
		ID: "6f1c", Ref: "shop", Name: "Shop", Revision: 3,
		Settings:    map[string]string{"AUTH_DISABLE_SIGNUP": "true"},
		Secrets:     map[string]string{"SMTP_PASS": "v1:c2VhbGVk"},
		DatabaseURL: "v1:dXJs",
		JWTSecrets:  []bus.ProjectJWTSecret{{Secret: "v1:bmV3"}, {Secret: "v1:b2xk", RetiresAt: &retires}},
		UpdatedAt:   time.Date(2026, 12, 7, 4, 0, 0, 0, time.UTC),
	}
	b, err := json.Marshal(cfg)
	require.NoError(t, err)
	assert.JSONEq(t, `{"id":"6f1c","ref":"shop","name":"Shop","revision":3,
		"settings":{"AUTH_DISABLE_SIGNUP":"true"},"secrets":{"SMTP_PASS":"v1:c2VhbGVk"},
		"database_url":"v1:dXJs",
		"jwt_secrets":[{"secret":"v1:bmV3"},{"secret":"v1:b2xk","retires_at":"2026-12-08T04:00:00Z"}],
		"updated_at":"2026-12-07T04:00:00Z"}`, string(b))
	var back bus.ProjectConfig
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, cfg, back)
}

func TestProjectNames(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "madbase_projects", bus.ProjectsBucket)
	assert.Equal(t, "shop-2", bus.ProjectKey("shop-2"))
	assert.Equal(t, "madbase/project/shop/SMTP_PASS", bus.SecretContext("shop", "SMTP_PASS"))
	assert.Equal(t, "madbase/project/shop/database_url", bus.SecretContext("shop", bus.SecretDatabaseURL))
}
