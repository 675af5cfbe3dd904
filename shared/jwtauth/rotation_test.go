package jwtauth_test

import (
	"encoding/base64"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/madbase/madbase/shared/jwtauth"
)

func TestVerifierRetiringSecret(t *testing.T) {
	t.Parallel()
	current, old := []byte("the-current-secret-0123456789abcdef0123"), []byte("the-retired-secret-0123456789abcdef0123")
	claims := jwt.MapClaims{"role": "anon", "exp": time.Now().Add(time.Hour).Unix()}
	byCurrent, err := jwtauth.Sign(current, claims)
	require.NoError(t, err)
	byOld, err := jwtauth.Sign(old, claims)
	require.NoError(t, err)
	byOther, err := jwtauth.Sign([]byte("another-secret-0123456789abcdef0123456"), claims)
	require.NoError(t, err)

	v := jwtauth.NewVerifier(current, 0).WithRetiring(old, time.Now().Add(time.Hour))
	for _, tok := range []string{byCurrent, byOld, byOld} { // twice: from the cache too
		_, err := v.Verify(tok)
		require.NoError(t, err)
	}
	_, err = v.Verify(byOther)
	require.ErrorIs(t, err, jwtauth.ErrInvalidToken)

	// A retirement in the past is no retirement.
	v = jwtauth.NewVerifier(current, 0).WithRetiring(old, time.Now().Add(-time.Second))
	_, err = v.Verify(byOld)
	require.ErrorIs(t, err, jwtauth.ErrInvalidToken)
	_, err = v.Verify(byCurrent)
	require.NoError(t, err)

	// A token remembered while the old secret verified is refused once it
	// retired, cache or not.
	v = jwtauth.NewVerifier(current, 0).WithRetiring(old, time.Now().Add(200*time.Millisecond))
	_, err = v.Verify(byOld)
	require.NoError(t, err)
	require.Eventually(t, func() bool { _, err := v.Verify(byOld); return err != nil }, 10*time.Second, 20*time.Millisecond)
	_, err = v.Verify(byCurrent)
	require.NoError(t, err)
}

func TestUnverifiedRef(t *testing.T) {
	t.Parallel()
	tok, err := jwtauth.Sign([]byte("any-secret-0123456789abcdef0123456789"), jwt.MapClaims{"ref": "shop", "role": "anon"})
	require.NoError(t, err)
	assert.Equal(t, "shop", jwtauth.UnverifiedRef(tok))
	noRef, err := jwtauth.Sign([]byte("any-secret-0123456789abcdef0123456789"), jwt.MapClaims{"role": "anon"})
	require.NoError(t, err)
	assert.Equal(t, "", jwtauth.UnverifiedRef(noRef))
	numeric := "e30." + base64.RawURLEncoding.EncodeToString([]byte(`{"ref":42}`)) + ".sig"
	for _, bad := range []string{"", "sb_publishable_x", "a.b", "a.!!!.c", "e30.e30", numeric, "x.eyJyZWYiOiJzaG9wIg.y"} {
		assert.Equal(t, "", jwtauth.UnverifiedRef(bad), "%q", bad)
	}
}
