package jwtauth_test

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/madbase/madbase/shared/jwtauth"
)

var secret = []byte("super-secret-jwt-token-with-at-least-32-characters-long")

func b64(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func hs256(key []byte, signingInput string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(signingInput))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func TestJWTRoundTrip(t *testing.T) {
	t.Parallel()
	tok, err := jwtauth.Sign(secret, jwt.MapClaims{"sub": "u1", "role": "authenticated", "exp": time.Now().Add(time.Hour).Unix()})
	require.NoError(t, err)
	claims, err := jwtauth.Verify(secret, tok)
	require.NoError(t, err)
	assert.Equal(t, "u1", claims["sub"])
	assert.Equal(t, "authenticated", claims["role"])

	now := time.Now()
	for role, mint := range map[string]func([]byte, time.Time, time.Time) (string, error){
		"anon":         jwtauth.AnonKey,
		"service_role": jwtauth.ServiceRoleKey,
	} {
		key, err := mint(secret, now, now.AddDate(10, 0, 0))
		require.NoError(t, err)
		claims, err := jwtauth.Verify(secret, key)
		require.NoError(t, err)
		assert.Equal(t, jwt.MapClaims{
			"iss": "supabase", "ref": "madbase", "role": role,
			"iat": float64(now.Unix()), "exp": float64(now.AddDate(10, 0, 0).Unix()),
		}, claims)
		header, _, _ := strings.Cut(key, ".")
		raw, err := base64.RawURLEncoding.DecodeString(header)
		require.NoError(t, err)
		assert.JSONEq(t, `{"alg":"HS256","typ":"JWT"}`, string(raw))
	}
	_, err = jwtauth.AnonKey(secret, now, now)
	require.Error(t, err, "a key that is expired when minted is a mistake")
}

func TestJWTRejectsAlgNone(t *testing.T) {
	t.Parallel()
	payload := b64(map[string]any{"role": "service_role", "sub": "attacker"})
	for _, alg := range []string{"none", "None", "NONE", "nOnE"} {
		header := b64(map[string]any{"alg": alg, "typ": "JWT"})
		for _, sig := range []string{"", hs256(secret, header+"."+payload), "AAAA"} {
			_, err := jwtauth.Verify(secret, header+"."+payload+"."+sig)
			require.ErrorIs(t, err, jwtauth.ErrInvalidToken, "alg %q sig %q", alg, sig)
		}
	}
	// jwt's own "none" method, whose magic key Verify never supplies.
	tok, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"role": "service_role"}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	require.NoError(t, err)
	_, err = jwtauth.Verify(secret, tok)
	require.ErrorIs(t, err, jwtauth.ErrInvalidToken)
}

func TestJWTRejectsWrongAlg(t *testing.T) {
	t.Parallel()
	claims := jwt.MapClaims{"role": "service_role"}
	for _, m := range []jwt.SigningMethod{jwt.SigningMethodHS384, jwt.SigningMethodHS512} {
		tok, err := jwt.NewWithClaims(m, claims).SignedString(secret)
		require.NoError(t, err)
		_, err = jwtauth.Verify(secret, tok)
		require.ErrorIs(t, err, jwt.ErrTokenSignatureInvalid, m.Alg())
		require.ErrorIs(t, err, jwtauth.ErrInvalidToken, m.Alg())
	}

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	tok, err := jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(rsaKey)
	require.NoError(t, err)
	_, err = jwtauth.Verify(secret, tok)
	require.ErrorIs(t, err, jwtauth.ErrInvalidToken)

	// Key confusion: an RS256 header over a signature made with the HMAC secret.
	header := b64(map[string]any{"alg": "RS256", "typ": "JWT"})
	payload := b64(claims)
	_, err = jwtauth.Verify(secret, header+"."+payload+"."+hs256(secret, header+"."+payload))
	require.ErrorIs(t, err, jwtauth.ErrInvalidToken)
}

func TestJWTRejectsWrongSecret(t *testing.T) {
	t.Parallel()
	tok, err := jwtauth.Sign([]byte("another-secret-that-is-also-long-enough!!"), jwt.MapClaims{"role": "service_role"})
	require.NoError(t, err)
	_, err = jwtauth.Verify(secret, tok)
	require.ErrorIs(t, err, jwt.ErrTokenSignatureInvalid)

	// A payload edited after signing.
	good, err := jwtauth.Sign(secret, jwt.MapClaims{"role": "anon"})
	require.NoError(t, err)
	parts := strings.Split(good, ".")
	_, err = jwtauth.Verify(secret, parts[0]+"."+b64(jwt.MapClaims{"role": "service_role"})+"."+parts[2])
	require.ErrorIs(t, err, jwt.ErrTokenSignatureInvalid)

	_, err = jwtauth.Verify(nil, good)
	require.ErrorIs(t, err, jwtauth.ErrNoSecret)
	_, err = jwtauth.Sign(nil, jwt.MapClaims{})
	require.ErrorIs(t, err, jwtauth.ErrNoSecret)
}

func TestJWTRejectsExpired(t *testing.T) {
	t.Parallel()
	now := time.Now()
	for _, tc := range []struct {
		name   string
		claims jwt.MapClaims
		want   error // nil: accepted
	}{
		{"expired an hour ago", jwt.MapClaims{"exp": now.Add(-time.Hour).Unix()}, jwt.ErrTokenExpired},
		{"expired within the leeway", jwt.MapClaims{"exp": now.Add(-5 * time.Second).Unix()}, nil},
		{"not valid yet", jwt.MapClaims{"nbf": now.Add(time.Hour).Unix()}, jwt.ErrTokenNotValidYet},
		{"issued in the future", jwt.MapClaims{"iat": now.Add(time.Hour).Unix()}, jwt.ErrTokenUsedBeforeIssued},
		{"exp not a number", jwt.MapClaims{"exp": "tomorrow"}, jwt.ErrTokenInvalidClaims},
		{"no exp at all (as Supabase accepts)", jwt.MapClaims{"role": "anon"}, nil},
	} {
		tok, err := jwtauth.Sign(secret, tc.claims)
		require.NoError(t, err)
		_, err = jwtauth.Verify(secret, tok)
		if tc.want == nil {
			assert.NoError(t, err, tc.name)
		} else {
			assert.ErrorIs(t, err, tc.want, tc.name)
			assert.ErrorIs(t, err, jwtauth.ErrInvalidToken, tc.name)
		}
	}
}

func TestJWTRejectsMalformed(t *testing.T) {
	t.Parallel()
	good, err := jwtauth.Sign(secret, jwt.MapClaims{"role": "anon"})
	require.NoError(t, err)
	parts := strings.Split(good, ".")
	for _, tok := range []string{
		"", ".", "..", "a.b.c", "not a token", good + ".", good + "=", "Bearer " + good,
		parts[0] + "." + parts[1],                   // no signature
		parts[0] + "=." + parts[1] + "." + parts[2], // padded: a second spelling of the same token
	} {
		_, err := jwtauth.Verify(secret, tok)
		assert.ErrorIs(t, err, jwtauth.ErrInvalidToken, "%q", tok)
	}
}
