package bus_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/madbase/madbase/bus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFunctionWire pins the JSON of a published function and of a
// project's function secrets: workers of other versions read them.
func TestFunctionWire(t *testing.T) {
	t.Parallel()
	fc := bus.FunctionConfig{
		Project: "default", Name: "hello", Version: 3, Object: "default/hello/3", SHA256: "ab12", Size: 42,
		VerifyJWT: true, WallTimeoutMS: 1000, DeployedAt: time.Date(2026, 12, 7, 4, 0, 0, 0, time.UTC),
	}
	b, err := json.Marshal(fc)
	require.NoError(t, err)
	assert.JSONEq(t, `{"project":"default","name":"hello","version":3,"object":"default/hello/3","sha256":"ab12","size":42,
		"verify_jwt":true,"wall_timeout_ms":1000,"deployed_at":"2026-12-07T04:00:00Z"}`, string(b))
	fs := bus.FunctionSecrets{Project: "shop", Revision: 2, Values: map[string]string{"TOKEN": "v1:c2VhbGVk"}}
	b, err = json.Marshal(fs)
	require.NoError(t, err)
	assert.JSONEq(t, `{"project":"shop","revision":2,"values":{"TOKEN":"v1:c2VhbGVk"}}`, string(b))
}

func TestFunctionNames(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "madbase_functions", bus.FunctionsBucket)
	assert.Equal(t, "madbase_function_bundles", bus.FunctionsObjectStore)
	assert.Equal(t, "fn.shop.hello-world", bus.FunctionKey("shop", "hello-world"))
	assert.Equal(t, "secrets.shop", bus.FunctionSecretsKey("shop"))
	assert.Equal(t, "shop/hello/7", bus.FunctionObject("shop", "hello", 7))
	for name, ok := range map[string]bool{"hello": true, "hello_world-2": true, "_shared": false, "a.b": false, "a/b": false, "": false, "-x": false} {
		assert.Equal(t, ok, bus.ValidFunctionName(name), name)
	}
}
