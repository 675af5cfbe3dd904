package projects

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/madbase/madbase/bus/bustest"
	"github.com/madbase/madbase/shared/jwtauth"
	"github.com/stretchr/testify/require"
)

// TestProjectSigningKeys: a project's JWT_KEYS setting signs its access
// tokens and is published at its JWKS, not at another project's (nor is
// the platform's at the project's); a revision without it goes back to the
// project's secret, and tokens of the removed key are refused.
func TestProjectSigningKeys(t *testing.T) {
	platformKey, err := jwtauth.NewSigningKey("RS256")
	require.NoError(t, err)
	platformKeys, err := json.Marshal([]any{platformKey})
	require.NoError(t, err)
	f := newFixtureOn(t, bustest.RunServer(t).URL(), map[string]string{"JWT_KEYS": string(platformKeys)})
	jwk, err := jwtauth.NewSigningKey("ES256")
	require.NoError(t, err)
	keys, err := json.Marshal([]any{jwk})
	require.NoError(t, err)
	kid := jwk["kid"].(string)

	a, b := f.newProject("alpha"), f.newProject("beta")
	a.secrets = map[string]string{"JWT_KEYS": string(keys)}
	f.publish(a)
	f.publish(b)
	w := f.startWorker()
	w.waitRevision(t, "alpha", 1)
	w.waitRevision(t, "beta", 1)
	anonA, anonB := key(t, a.secret, "alpha", "anon"), key(t, b.secret, "beta", "anon")

	jwks := func(apiKey string) string {
		res := w.do(t, "GET", "/auth/v1/.well-known/jwks.json", "", apiKey, nil)
		require.Equal(t, 200, res.status, res.body)
		return res.body
	}
	require.Contains(t, jwks(anonA), kid)
	require.NotContains(t, jwks(anonA), platformKey["kid"].(string), "the platform's keys are the default project's")
	require.NotContains(t, jwks(anonB), kid)

	// An anonymous sign-in (madbase dev allows them) gets a token signed
	// with alpha's key, which alpha accepts and beta refuses.
	res := w.do(t, "POST", "/auth/v1/signup", "", anonA, strings.NewReader(`{}`), "Content-Type", "application/json")
	require.Equal(t, 200, res.status, res.body)
	var session struct {
		AccessToken string `json:"access_token"`
	}
	require.NoError(t, json.Unmarshal([]byte(res.body), &session))
	header, err := base64.RawURLEncoding.DecodeString(strings.Split(session.AccessToken, ".")[0])
	require.NoError(t, err)
	require.Contains(t, string(header), `"kid":"`+kid+`"`)
	require.Contains(t, string(header), `"alg":"ES256"`)
	user := func(apiKey string) reply {
		return w.do(t, "GET", "/auth/v1/user", "", apiKey, nil, "Authorization", "Bearer "+session.AccessToken)
	}
	require.Equal(t, 200, user(anonA).status)
	// GoTrue answers a token it cannot verify with 403 bad_jwt.
	refused := func(r reply) {
		t.Helper()
		require.Equal(t, 403, r.status, r.body)
		require.Contains(t, r.body, `"error_code":"bad_jwt"`)
	}
	refused(user(anonB))

	// The key removed: the project signs with its secret again, and the
	// key's tokens are refused.
	a.revision, a.secrets = 2, nil
	f.publish(a)
	w.waitRevision(t, "alpha", 2)
	require.NotContains(t, jwks(anonA), kid)
	refused(user(anonA))
}
