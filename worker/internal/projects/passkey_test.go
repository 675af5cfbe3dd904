package projects

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Passkey settings are a project's own, and a new revision changes them
// without a restart: one project turns passkeys off, another names its own
// relying party, the default project keeps dev's defaults.
func TestProjectPasskeySettings(t *testing.T) {
	f := newFixture(t)
	a, b := f.newProject("alpha"), f.newProject("beta")
	a.settings = map[string]string{"AUTH_PASSKEY_ENABLED": "false"}
	b.settings = map[string]string{"AUTH_PASSKEY_RP_ID": "beta.example", "AUTH_PASSKEY_RP_NAME": "Beta",
		"AUTH_PASSKEY_RP_ORIGINS": "https://app.beta.example"}
	f.publish(a)
	f.publish(b)
	w := f.startWorker()
	w.waitRevision(t, "alpha", 1)
	w.waitRevision(t, "beta", 1)
	anonA, anonB := key(t, a.secret, "alpha", "anon"), key(t, b.secret, "beta", "anon")

	options := func(apiKey string) reply {
		return w.do(t, "POST", "/auth/v1/passkeys/authentication/options", "", apiKey, strings.NewReader("{}"),
			"Content-Type", "application/json", "X-Supabase-Api-Version", "2024-01-01")
	}
	rpID := func(r reply) string {
		t.Helper()
		require.Equal(t, 200, r.status, r.body)
		var body struct {
			Options struct {
				RPID string `json:"rpId"`
			} `json:"options"`
		}
		require.NoError(t, json.Unmarshal([]byte(r.body), &body))
		return body.Options.RPID
	}

	r := options(anonA)
	require.Equal(t, 404, r.status, r.body)
	require.Contains(t, r.body, `"code":"passkey_disabled"`)
	require.Equal(t, "beta.example", rpID(options(anonB)))

	a.revision, a.settings = 2, map[string]string{"AUTH_PASSKEY_ENABLED": "true", "AUTH_PASSKEY_RP_ID": "alpha.example",
		"AUTH_PASSKEY_RP_ORIGINS": "https://alpha.example"}
	f.publish(a)
	w.waitRevision(t, "alpha", 2)
	require.Equal(t, "alpha.example", rpID(options(anonA)))
	require.Equal(t, "beta.example", rpID(options(anonB)), "beta keeps its own")
}
