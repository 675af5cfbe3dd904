package config

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRestDefaultsAndValidate(t *testing.T) {
	var w Worker
	require.NoError(t, Load(&w, Map(nil)))
	assert.Equal(t, []string{"public"}, w.DBSchemas)
	assert.EqualValues(t, 1000, w.DBMaxRows)
	assert.Equal(t, "commit", w.DBTxEnd)
	assert.NoError(t, w.Rest.Validate())

	require.NoError(t, Load(&w, Map(map[string]string{
		"DB_SCHEMAS": "public, bad name", "DB_MAX_ROWS": "-1", "DB_TX_END": "maybe", "REST_OPENAPI_MODE": "x", "REST_REQUEST_TIMEOUT": "0s",
	})))
	err := w.Rest.Validate()
	require.Error(t, err)
	for _, want := range []string{`"bad name"`, "DB_MAX_ROWS", "DB_TX_END", "REST_OPENAPI_MODE", "REST_REQUEST_TIMEOUT"} {
		assert.Contains(t, err.Error(), want)
	}
	assert.Error(t, w.Validate(true), "Worker.Validate includes the REST settings")
}
