package apikey

import (
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/madbase/madbase/shared/jwtauth"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const secret = "a-test-secret-that-is-long-enough-0123456789"

func sign(t *testing.T, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwtauth.Sign([]byte(secret), claims)
	require.NoError(t, err)
	return s
}

func TestResolve(t *testing.T) {
	k := New(secret)
	now := time.Now()
	anon, _ := jwtauth.AnonKey([]byte(secret), now, now.Add(time.Hour))
	service, _ := jwtauth.ServiceRoleKey([]byte(secret), now, now.Add(time.Hour))
	publishable, secretKey := jwtauth.OpaqueKeys([]byte(secret))
	user := sign(t, jwt.MapClaims{"sub": "8d0fd3c2-4c1e-4c39-9f0a-7d9f1e8a1b2c", "role": "authenticated", "exp": now.Add(time.Hour).Unix()})
	expired := sign(t, jwt.MapClaims{"sub": "x", "role": "authenticated", "exp": now.Add(-time.Hour).Unix()})
	postgres := sign(t, jwt.MapClaims{"role": "postgres"})
	other, _ := jwtauth.AnonKey([]byte(strings.Repeat("z", 40)), now, now.Add(time.Hour))

	for _, tc := range []struct {
		name, apikey, auth    string
		wantRole, wantKeyRole string
		wantErr               error
	}{
		{"anon key alone", anon, "", "anon", "anon", nil},
		{"anon key as bearer too", anon, "Bearer " + anon, "anon", "anon", nil},
		{"service key", service, "Bearer " + service, "service_role", "service_role", nil},
		{"user token", anon, "Bearer " + user, "authenticated", "anon", nil},
		{"publishable key", publishable, "", "anon", "anon", nil},
		{"publishable key as bearer", publishable, "Bearer " + publishable, "anon", "anon", nil},
		{"secret key", secretKey, "Bearer " + secretKey, "service_role", "service_role", nil},
		{"secret key with user token", secretKey, "Bearer " + user, "authenticated", "service_role", nil},
		{"no key, no token", "", "", "anon", "", nil},
		{"unknown opaque key", "sb_publishable_nope", "", "", "", ErrBadKey},
		{"key from another project", other, "", "", "", ErrBadKey},
		{"user token as apikey", user, "", "", "", ErrBadKey},
		{"garbage bearer", anon, "Bearer abc.def.ghi", "", "", ErrBadJWT},
		{"expired bearer", anon, "Bearer " + expired, "", "", ErrExpiredJWT},
		{"role outside the allow-list", anon, "Bearer " + postgres, "", "", ErrBadRole},
		{"unknown opaque bearer", anon, "Bearer sb_secret_guess", "", "", ErrBadKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := k.Resolve(tc.apikey, tc.auth)
			if tc.wantErr != nil {
				assert.ErrorIs(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.wantRole, res.Role)
			assert.Equal(t, tc.wantKeyRole, res.KeyRole)
			assert.Equal(t, tc.wantRole, res.Claims.Role())
			// The JSON that goes to request.jwt.claims is the claims',
			// from the first call (verified) and the next (remembered).
			for range 2 {
				res, err = k.Resolve(tc.apikey, tc.auth)
				require.NoError(t, err)
				want, err := res.Claims.JSON()
				require.NoError(t, err)
				got, err := res.ClaimSet().JSON()
				require.NoError(t, err)
				assert.Equal(t, want, got)
				assert.Equal(t, tc.wantRole, res.ClaimSet().Role())
			}
		})
	}
}

func TestOpaqueKeysAreStableAndSecretBound(t *testing.T) {
	p1, s1 := jwtauth.OpaqueKeys([]byte(secret))
	p2, s2 := jwtauth.OpaqueKeys([]byte(secret))
	p3, _ := jwtauth.OpaqueKeys([]byte(secret + "x"))
	assert.Equal(t, p1, p2)
	assert.Equal(t, s1, s2)
	assert.NotEqual(t, p1, p3)
	assert.True(t, strings.HasPrefix(p1, "sb_publishable_"))
	assert.True(t, strings.HasPrefix(s1, "sb_secret_"))
}
