package apikey

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/madbase/madbase/shared/db"
	"github.com/madbase/madbase/shared/jwtauth"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newKeys(t *testing.T, jwks ...map[string]any) []*jwtauth.Key {
	t.Helper()
	b, err := json.Marshal(jwks)
	require.NoError(t, err)
	keys, err := jwtauth.ParseKeys(b)
	require.NoError(t, err)
	return keys
}

func newJWK(t *testing.T, alg string) map[string]any {
	t.Helper()
	k, err := jwtauth.NewSigningKey(alg)
	require.NoError(t, err)
	return k
}

// TestSigningKeysResolve: API keys and user tokens signed RS256 or ES256 by
// the operator's keys (JWT_KEYS) are accepted wherever New(secret) resolves
// requests — REST, storage, realtime and auth all build their Keys so —
// beside the legacy HS256 keys of the secret.
func TestSigningKeysResolve(t *testing.T) {
	current := "signing-keys-secret-0123456789abcdef0123"
	rs, es := newJWK(t, "RS256"), newJWK(t, "ES256")
	es["key_ops"] = []string{"verify"} // RS256 signs, ES256 still verifies
	rsSet, err := jwtauth.NewKeySet(nil, newKeys(t, rs))
	require.NoError(t, err)
	esSet, err := jwtauth.NewKeySet(nil, newKeys(t, map[string]any{
		"kty": "EC", "crv": "P-256", "kid": es["kid"], "alg": "ES256", "x": es["x"], "y": es["y"], "d": es["d"]}))
	require.NoError(t, err)

	now := time.Now()
	exp := now.Add(time.Hour).Unix()
	mint := func(ks *jwtauth.KeySet, claims jwt.MapClaims) string {
		tok, err := ks.Sign(claims)
		require.NoError(t, err)
		return tok
	}
	anonRS := mint(rsSet, jwt.MapClaims{"iss": "supabase", "role": "anon", "exp": exp})
	serviceES := mint(esSet, jwt.MapClaims{"iss": "supabase", "role": "service_role", "exp": exp})
	userRS := mint(rsSet, jwt.MapClaims{"sub": "u1", "role": "authenticated", "exp": exp})
	userES := mint(esSet, jwt.MapClaims{"sub": "u2", "role": "authenticated", "exp": exp})
	legacyAnon, err := jwtauth.AnonKey([]byte(current), now, now.Add(time.Hour))
	require.NoError(t, err)

	// Before JWT_KEYS: the asymmetric keys are strangers.
	k := New(current)
	_, err = k.KeyRole(anonRS)
	require.ErrorIs(t, err, ErrBadKey)
	_, err = k.Resolve(legacyAnon, "Bearer "+userRS)
	require.ErrorIs(t, err, ErrBadJWT)
	assert.Empty(t, k.KeySet().PublicJWKS())

	require.NoError(t, UseKeys(current, newKeys(t, rs, es)))
	t.Cleanup(func() { require.NoError(t, UseKeys(current, nil)) })
	k = New(current)
	kid, alg := k.KeySet().Signer()
	assert.Equal(t, rs["kid"], kid)
	assert.Equal(t, "RS256", alg)
	assert.Len(t, k.KeySet().PublicJWKS(), 2)
	for _, tc := range []struct {
		name, apikey, bearer  string
		wantRole, wantKeyRole string
	}{
		{"RS256 anon key", anonRS, "", db.RoleAnon, db.RoleAnon},
		{"RS256 anon key as bearer", anonRS, anonRS, db.RoleAnon, db.RoleAnon},
		{"ES256 service key", serviceES, serviceES, db.RoleServiceRole, db.RoleServiceRole},
		{"RS256 user token", anonRS, userRS, db.RoleAuthenticated, db.RoleAnon},
		{"ES256 user token, legacy key", legacyAnon, userES, db.RoleAuthenticated, db.RoleAnon},
		{"legacy HS256 key", legacyAnon, legacyAnon, db.RoleAnon, db.RoleAnon},
	} {
		for range 2 { // verified, then remembered
			auth := ""
			if tc.bearer != "" {
				auth = "Bearer " + tc.bearer
			}
			res, err := k.Resolve(tc.apikey, auth)
			require.NoError(t, err, tc.name)
			assert.Equal(t, tc.wantRole, res.Role, tc.name)
			assert.Equal(t, tc.wantKeyRole, res.KeyRole, tc.name)
		}
	}
	// A token signed by a key outside the set, under a known kid: refused.
	impostor := newJWK(t, "RS256")
	impostor["kid"] = rs["kid"]
	forgedSet, err := jwtauth.NewKeySet(nil, newKeys(t, impostor))
	require.NoError(t, err)
	forged := mint(forgedSet, jwt.MapClaims{"role": "service_role", "exp": exp})
	_, err = k.KeyRole(forged)
	require.ErrorIs(t, err, ErrBadKey)
	_, err = k.Resolve(anonRS, "Bearer "+forged)
	require.ErrorIs(t, err, ErrBadJWT)

	// Retiring the RS256 key (ES256 current): its tokens are refused by the
	// Keys made from then on.
	es["key_ops"] = []string{"sign", "verify"}
	require.NoError(t, UseKeys(current, newKeys(t, es)))
	k = New(current)
	_, err = k.KeyRole(anonRS)
	require.ErrorIs(t, err, ErrBadKey)
	role, err := k.KeyRole(serviceES)
	require.NoError(t, err)
	assert.Equal(t, db.RoleServiceRole, role)

	// A set that cannot be used is refused and changes nothing.
	require.Error(t, UseKeys(current, append(newKeys(t, es), newKeys(t, es)...)))
	_, err = New(current).KeyRole(serviceES)
	require.NoError(t, err)
}
