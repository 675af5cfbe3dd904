package config

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/madbase/madbase/shared/jwtauth"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestValidateJWTKeys(t *testing.T) {
	key, err := jwtauth.NewSigningKey(jwtauth.AlgES256)
	require.NoError(t, err)
	good, err := json.Marshal([]any{key})
	require.NoError(t, err)
	key["alg"] = "RS256"
	bad, err := json.Marshal([]any{key})
	require.NoError(t, err)
	base := map[string]string{"JWT_SECRET": strings.Repeat("k", 40), "NATS_URL": "nats://x", "DATABASE_URL": "postgres://x"}
	with := func(v string) Worker {
		m := map[string]string{"JWT_KEYS": v}
		for k, v := range base {
			m[k] = v
		}
		var w Worker
		require.NoError(t, Load(&w, Map(m)))
		return w
	}
	w := with(string(good))
	require.NoError(t, w.Validate(false))
	assert.Equal(t, string(good), w.JWTKeys)

	for _, v := range []string{string(bad), "[]", "-----BEGIN PRIVATE KEY----- MIIEvQIBADANBg"} {
		w := with(v)
		err := w.Validate(false)
		require.Error(t, err, v)
		assert.Contains(t, err.Error(), "JWT_KEYS: ")
		assert.NotContains(t, err.Error(), key["d"].(string), "a key's private part never appears in an error")
		assert.NotContains(t, err.Error(), "MIIEvQIBADANBg")
	}
}
