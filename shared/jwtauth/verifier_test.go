package jwtauth_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
	"unsafe"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/madbase/madbase/shared/jwtauth"
)

func TestVerifierCachesValidTokens(t *testing.T) {
	t.Parallel()
	v := jwtauth.NewVerifier(secret, 0)
	tok, err := jwtauth.Sign(secret, jwt.MapClaims{"sub": "u1", "role": "authenticated", "exp": time.Now().Add(time.Hour).Unix()})
	require.NoError(t, err)

	for i := range 3 {
		withJSON, enc, err := v.VerifyShared(tok)
		require.NoError(t, err, "call %d", i)
		want, err := json.Marshal(withJSON)
		require.NoError(t, err)
		assert.Equal(t, string(want), enc, "call %d: the JSON is the claims'", i)
		claims, err := v.Verify(tok)
		require.NoError(t, err, "call %d", i)
		assert.Equal(t, "u1", claims["sub"])
		assert.Equal(t, "authenticated", claims["role"])
		// The map is the caller's: changing it must not reach the next call.
		claims["role"] = "service_role"
		delete(claims, "sub")
	}

	// VerifyShared gives every caller the one remembered map, with the same
	// claims and JSON; a token it verifies first is still copied for Verify.
	fresh, err := jwtauth.Sign(secret, jwt.MapClaims{"sub": "u2", "role": "anon"})
	require.NoError(t, err)
	shared1, enc1, err := v.VerifyShared(fresh)
	require.NoError(t, err)
	shared2, enc2, err := v.VerifyShared(fresh)
	require.NoError(t, err)
	assert.Equal(t, enc1, enc2)
	assert.Equal(t, "u2", shared1["sub"])
	shared1["probe"] = true
	assert.Equal(t, true, shared2["probe"], "the same map")
	delete(shared1, "probe")
	copied, err := v.Verify(fresh)
	require.NoError(t, err)
	copied["sub"] = "changed"
	again, _, err := v.VerifyShared(fresh)
	require.NoError(t, err)
	assert.Equal(t, "u2", again["sub"], "Verify's copy is its own")

	// Bad tokens are refused every time, with the same errors as Verify.
	other, err := jwtauth.Sign([]byte("another-secret-that-is-also-32-bytes-long!"), jwt.MapClaims{"role": "service_role"})
	require.NoError(t, err)
	for range 2 {
		_, err = v.Verify(other)
		require.ErrorIs(t, err, jwtauth.ErrInvalidToken)
		require.ErrorIs(t, err, jwt.ErrTokenSignatureInvalid)
	}
	_, err = v.Verify(tok + "x")
	require.ErrorIs(t, err, jwtauth.ErrInvalidToken)
}

// A remembered token is served until its exp plus the leeway, the moment
// Verify itself starts refusing it.
func TestVerifierRemembersUntilExpPlusLeeway(t *testing.T) {
	t.Parallel()
	v := jwtauth.NewVerifier(secret, 0)
	exp := time.Now().Add(time.Hour).Unix()
	tok, err := jwtauth.Sign(secret, jwt.MapClaims{"role": "anon", "exp": exp})
	require.NoError(t, err)
	_, err = v.Verify(tok)
	require.NoError(t, err)
	expires, ok := jwtauth.Expiry(v, tok)
	require.True(t, ok, "a token that verified is remembered")
	assert.Equal(t, time.Unix(exp, 0).Add(jwtauth.Leeway), expires)

	forever, err := jwtauth.Sign(secret, jwt.MapClaims{"role": "anon"})
	require.NoError(t, err)
	_, err = v.Verify(forever)
	require.NoError(t, err)
	expires, ok = jwtauth.Expiry(v, forever)
	require.True(t, ok)
	assert.True(t, expires.IsZero(), "a token without exp never runs out")

	// A token Verify refuses is not remembered.
	expired, err := jwtauth.Sign(secret, jwt.MapClaims{"role": "anon", "exp": time.Now().Add(-time.Hour).Unix()})
	require.NoError(t, err)
	_, err = v.Verify(expired)
	require.ErrorIs(t, err, jwt.ErrTokenExpired)
	_, ok = jwtauth.Expiry(v, expired)
	assert.False(t, ok)
	assert.Equal(t, 2, jwtauth.CacheLen(v))
}

// A remembered token whose time has run out is checked again on its next
// use, refused as Verify refuses it, and forgotten. The entries are put in
// the cache as they stand once their time has passed, so nothing waits on
// the clock.
func TestVerifierForgetsExpiredTokens(t *testing.T) {
	t.Parallel()
	v := jwtauth.NewVerifier(secret, 0)
	exp := time.Now().Add(-time.Hour)
	claims := jwt.MapClaims{"role": "anon", "exp": exp.Unix()}
	tok, err := jwtauth.Sign(secret, claims)
	require.NoError(t, err)

	// Control: while its entry has not run out, a remembered token is
	// served from the cache without being verified again (this one would
	// be refused), so the refusal below is the expiry check on a hit.
	jwtauth.Remember(v, tok, claims, time.Now().Add(time.Hour))
	got, err := v.Verify(tok)
	require.NoError(t, err, "a remembered entry is served from the cache")
	assert.Equal(t, "anon", got["role"])
	assert.Equal(t, 1, jwtauth.CacheLen(v))

	// Its time has run out (exp plus the leeway, as Verify remembers it).
	jwtauth.Remember(v, tok, claims, exp.Add(jwtauth.Leeway))
	for i := range 2 {
		_, err = v.Verify(tok)
		require.ErrorIs(t, err, jwt.ErrTokenExpired, "call %d", i)
		require.ErrorIs(t, err, jwtauth.ErrInvalidToken, "call %d", i)
		_, ok := jwtauth.Expiry(v, tok)
		assert.False(t, ok, "call %d: the expired entry is forgotten", i)
		assert.Equal(t, 0, jwtauth.CacheLen(v), "call %d", i)
	}
}

func TestVerifierCacheIsBounded(t *testing.T) {
	t.Parallel()
	v := jwtauth.NewVerifier(secret, 8)
	toks := make([]string, 40)
	for i := range toks {
		tok, err := jwtauth.Sign(secret, jwt.MapClaims{"sub": fmt.Sprint(i), "role": "authenticated"})
		require.NoError(t, err)
		toks[i] = tok
		claims, err := v.Verify(tok)
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprint(i), claims["sub"])
	}
	assert.LessOrEqual(t, jwtauth.CacheLen(v), 8)
	// Forgotten tokens verify again.
	for i, tok := range toks {
		claims, err := v.Verify(tok)
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprint(i), claims["sub"])
	}
}

func BenchmarkVerify(b *testing.B) {
	tok, err := jwtauth.Sign(secret, jwt.MapClaims{"sub": "7d3f6d3c-5d5e-4a53-9e0e-2a3e0c4f5b6a", "role": "authenticated",
		"exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix(), "email": "a@example.com", "session_id": "x"})
	require.NoError(b, err)
	b.Run("uncached", func(b *testing.B) {
		for b.Loop() {
			if _, err := jwtauth.Verify(secret, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("verifier", func(b *testing.B) {
		v := jwtauth.NewVerifier(secret, 0)
		for b.Loop() {
			if _, err := v.Verify(tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// The token may alias a buffer the caller reuses (fiber's zero-copy
// values): what is remembered must not change with it.
func TestVerifierCopiesTheToken(t *testing.T) {
	t.Parallel()
	v := jwtauth.NewVerifier(secret, 0)
	good, err := jwtauth.Sign(secret, jwt.MapClaims{"role": "service_role"})
	require.NoError(t, err)
	other, err := jwtauth.Sign([]byte("another-secret-that-is-also-32-bytes-long!"), jwt.MapClaims{"role": "service_role"})
	require.NoError(t, err)
	require.Len(t, other, len(good))

	buf := []byte(good)
	_, err = v.Verify(unsafe.String(&buf[0], len(buf)))
	require.NoError(t, err)
	copy(buf, other) // the caller's buffer now holds a forged token
	_, err = v.Verify(other)
	require.ErrorIs(t, err, jwtauth.ErrInvalidToken, "a forged token must not match the remembered one")
}
