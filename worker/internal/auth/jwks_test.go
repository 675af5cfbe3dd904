package auth

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/madbase/madbase/shared/apitest"
	"github.com/madbase/madbase/shared/jwtauth"
	"github.com/madbase/madbase/worker/internal/apikey"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// jwksSecret is this test's own JWT secret: the signing keys registered for
// it (apikey.UseKeys) reach no other test's API.
const jwksSecret = "jwks-test-secret-0123456789abcdef0123456789"

func jwtHeader(t *testing.T, tok string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	require.NoError(t, err)
	var h map[string]any
	require.NoError(t, json.Unmarshal(b, &h))
	return h
}

// TestSigningKeysJWKS: with JWT_KEYS, access tokens are signed by the
// current key (its kid in the header), /.well-known/jwks.json publishes the
// public keys only, a client verifies tokens with them alone (what
// supabase-js getClaims does), and the API accepts an anon key signed
// RS256 by the operator as well as the legacy HS256 one.
func TestSigningKeysJWKS(t *testing.T) {
	t.Parallel()
	rs, err := jwtauth.NewSigningKey(jwtauth.AlgRS256)
	require.NoError(t, err)
	es, err := jwtauth.NewSigningKey(jwtauth.AlgES256)
	require.NoError(t, err)
	es["key_ops"] = []string{"verify"} // added for a rotation, not signing yet
	raw, err := json.Marshal([]any{rs, es})
	require.NoError(t, err)
	keys, err := jwtauth.LoadKeys(string(raw))
	require.NoError(t, err)
	require.NoError(t, apikey.UseKeys(jwksSecret, keys))
	t.Cleanup(func() { require.NoError(t, apikey.UseKeys(jwksSecret, nil)) })

	e := newEnv(t, true, map[string]string{"JWT_SECRET": jwksSecret, "JWT_KEYS": string(raw), "AUTH_AUTOCONFIRM": "true"})
	ks, err := jwtauth.NewKeySet([]byte(jwksSecret), keys)
	require.NoError(t, err)
	anonRS, err := ks.Sign(jwt.MapClaims{"iss": "supabase", "role": "anon", "exp": time.Now().Add(time.Hour).Unix()})
	require.NoError(t, err)
	require.Equal(t, "RS256", jwtHeader(t, anonRS)["alg"])
	e.api.Headers["apikey"] = anonRS
	e.api.Headers["Authorization"] = apitest.Bearer(anonRS)

	r := e.api.Do(t, apitest.Request{URL: "/.well-known/jwks.json", Headers: map[string]string{"apikey": "", "Authorization": ""}})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	r.JSON(t, &set)
	require.Len(t, set.Keys, 2)
	for _, k := range set.Keys {
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
			assert.NotContains(t, k, private)
		}
	}
	assert.NotContains(t, string(r.Body), rs["d"])
	assert.NotContains(t, string(r.Body), es["d"])
	assert.Equal(t, rs["kid"], set.Keys[0]["kid"])
	assert.Equal(t, "RS256", set.Keys[0]["alg"])
	assert.Equal(t, es["kid"], set.Keys[1]["kid"])
	assert.Equal(t, "P-256", set.Keys[1]["crv"])

	s := e.signUp(t, "jwks@example.com", "secret-123")
	access := s["access_token"].(string)
	h := jwtHeader(t, access)
	assert.Equal(t, rs["kid"], h["kid"])
	assert.Equal(t, "RS256", h["alg"])

	// The published keys alone verify the token: no secret needed.
	published, err := jwtauth.ParseKeys(r.Body)
	require.NoError(t, err)
	verifier, err := jwtauth.NewKeySet([]byte("a-client-that-knows-no-secret-0123456789"), published)
	require.NoError(t, err)
	c, err := verifier.Verify(access)
	require.NoError(t, err)
	assert.Equal(t, "jwks@example.com", c["email"])

	// The API takes its own token back, and a refreshed one.
	u := e.api.Do(t, apitest.Request{URL: "/user", Headers: bearer(access)})
	require.Equal(t, 200, u.Status, "%s", u.Body)
	assert.Equal(t, "jwks@example.com", u.Map(t)["email"])
	next := e.refresh(t, s["refresh_token"].(string))
	require.Equal(t, 200, next.Status, "%s", next.Body)
	assert.Equal(t, rs["kid"], jwtHeader(t, next.Map(t)["access_token"].(string))["kid"])

	// The legacy HS256 anon key of the secret is still accepted.
	legacy, err := jwtauth.AnonKey([]byte(jwksSecret), time.Now(), time.Now().Add(time.Hour))
	require.NoError(t, err)
	l := e.api.Do(t, apitest.Request{URL: "/user", Headers: map[string]string{"apikey": legacy, "Authorization": apitest.Bearer(access)}})
	require.Equal(t, 200, l.Status, "%s", l.Body)
	// ... and a key signed by a key outside the set is not.
	stranger, err := jwtauth.NewSigningKey(jwtauth.AlgRS256)
	require.NoError(t, err)
	stranger["kid"] = rs["kid"]
	sb, err := json.Marshal([]any{stranger})
	require.NoError(t, err)
	sk, err := jwtauth.ParseKeys(sb)
	require.NoError(t, err)
	sset, err := jwtauth.NewKeySet(nil, sk)
	require.NoError(t, err)
	forged, err := sset.Sign(jwt.MapClaims{"iss": "supabase", "role": "anon", "exp": time.Now().Add(time.Hour).Unix()})
	require.NoError(t, err)
	f := e.api.Do(t, apitest.Request{URL: "/user", Headers: map[string]string{"apikey": forged, "Authorization": apitest.Bearer(access)}})
	assert.Equal(t, 401, f.Status, "%s", f.Body)
}
