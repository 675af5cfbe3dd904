package devmode

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/madbase/madbase/shared/config"
	"github.com/madbase/madbase/shared/secretbox"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDevEncryptionKeyAndLogFormat: the first dev makes a
// MADBASE_ENCRYPTION_KEY, keeps it with the other secrets and hands it to
// every tier; the environment's own key wins. Dev logs text unless
// LOG_FORMAT says otherwise.
func TestDevEncryptionKeyAndLogFormat(t *testing.T) {
	dir := t.TempDir()
	var stderr bytes.Buffer
	d, err := prepare(Options{DataDir: dir, Workers: 1, Env: config.Map(nil), Stdout: &stderr, Stderr: &stderr})
	require.NoError(t, err)
	key, ok := d.env.lookup("MADBASE_ENCRYPTION_KEY")
	require.True(t, ok)
	raw, err := secretbox.ParseKey(key)
	require.NoError(t, err)
	assert.Len(t, raw, 32)
	b, err := os.ReadFile(filepath.Join(dir, secretsFile))
	require.NoError(t, err)
	var kept Secrets
	require.NoError(t, json.Unmarshal(b, &kept))
	assert.Equal(t, key, kept.EncryptionKey, "kept in the data folder")

	assert.Equal(t, "text", d.common.LogFormat)
	var wcfg config.Worker
	require.NoError(t, config.Load(&wcfg, d.env.lookup))
	assert.Equal(t, "text", wcfg.LogFormat, "the tiers log text too")
	assert.Equal(t, key, wcfg.EncryptionKey, "the tiers get the key")
	d.log.Warn("database not reachable yet", "component", "control", "attempt", 3)
	line := stderr.String()
	assert.Regexp(t, `^\d\d:\d\d:\d\d\.\d{3} WARN  dev control: database not reachable yet  attempt=3\n$`, line)
	assert.NotContains(t, line, key)

	// A second start keeps the key.
	again, err := prepare(Options{DataDir: dir, Workers: 1, Env: config.Map(nil), Stdout: &stderr, Stderr: &stderr})
	require.NoError(t, err)
	k2, _ := again.env.lookup("MADBASE_ENCRYPTION_KEY")
	assert.Equal(t, key, k2)

	// The environment wins, for the key and the log format.
	mine := secretbox.EncodeKey(secretbox.NewKey())
	env, err := prepare(Options{DataDir: dir, Workers: 1, Stdout: &stderr, Stderr: &stderr,
		Env: config.Map(map[string]string{"MADBASE_ENCRYPTION_KEY": mine, "LOG_FORMAT": "json"})})
	require.NoError(t, err)
	k3, _ := env.env.lookup("MADBASE_ENCRYPTION_KEY")
	assert.Equal(t, mine, k3)
	assert.Equal(t, "json", env.common.LogFormat)
}
