package cli

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/madbase/madbase/shared/jwtauth"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewSigningKey(t *testing.T) {
	for _, tc := range []struct {
		args []string
		alg  string
	}{
		{[]string{"--new-signing-key"}, "RS256"},
		{[]string{"--new-signing-key", "--alg", "ES256"}, "ES256"},
	} {
		var out, errOut bytes.Buffer
		require.NoError(t, runKeys(context.Background(), tc.args, &out, &errOut))
		// The output is a JWT_KEYS value as it is.
		keys, err := jwtauth.LoadKeys(out.String())
		require.NoError(t, err)
		require.Len(t, keys, 1)
		ks, err := jwtauth.NewKeySet(nil, keys)
		require.NoError(t, err)
		kid, alg := ks.Signer()
		assert.Equal(t, tc.alg, alg)
		assert.Equal(t, keys[0].Kid, kid)
		tok, err := ks.Sign(jwt.MapClaims{"role": "anon"})
		require.NoError(t, err)
		_, err = ks.Verify(tok)
		require.NoError(t, err)
	}
	var out, errOut bytes.Buffer
	err := runKeys(context.Background(), []string{"--new-signing-key", "--alg", "HS512"}, &out, &errOut)
	require.True(t, errors.Is(err, errUsage), "%v", err)
}

func TestKeysSignedWithSigningKey(t *testing.T) {
	var out, errOut bytes.Buffer
	require.NoError(t, runKeys(context.Background(), []string{"--new-signing-key", "--alg", "ES256"}, &out, &errOut))
	secret := "keys-signing-test-secret-0123456789abcdef"
	t.Setenv("JWT_SECRET", secret)
	t.Setenv("JWT_KEYS", out.String())
	keys, err := jwtauth.LoadKeys(out.String())
	require.NoError(t, err)
	ks, err := jwtauth.NewKeySet(nil, keys)
	require.NoError(t, err)

	printed := map[string]string{}
	var signed bytes.Buffer
	require.NoError(t, runKeys(context.Background(), []string{"--signing-key"}, &signed, &errOut))
	for _, line := range strings.Split(strings.TrimSpace(signed.String()), "\n") {
		k, v, ok := strings.Cut(line, "=")
		require.True(t, ok, line)
		printed[k] = v
	}
	for name, role := range map[string]string{"ANON_KEY": "anon", "SERVICE_ROLE_KEY": "service_role"} {
		claims, err := ks.Verify(printed[name])
		require.NoError(t, err, name)
		assert.Equal(t, role, claims["role"])
		_, err = jwtauth.Verify([]byte(secret), printed[name])
		require.Error(t, err, "%s is not signed with the secret", name)
	}

	t.Setenv("JWT_KEYS", "")
	err = runKeys(context.Background(), []string{"--signing-key"}, &signed, &errOut)
	require.True(t, errors.Is(err, errUsage), "%v", err)
}
