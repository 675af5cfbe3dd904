package jwtauth_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/madbase/madbase/shared/jwtauth"
)

const keysSecret = "the-jwt-secret-of-the-key-set-tests-0123456789"

// newJWK makes a private JWK of alg, as madbase keys --new-signing-key does.
func newJWK(t testing.TB, alg string) map[string]any {
	t.Helper()
	k, err := jwtauth.NewSigningKey(alg)
	require.NoError(t, err)
	return k
}

func parse(t testing.TB, jwks ...map[string]any) []*jwtauth.Key {
	t.Helper()
	b, err := json.Marshal(jwks)
	require.NoError(t, err)
	keys, err := jwtauth.ParseKeys(b)
	require.NoError(t, err)
	return keys
}

func keySet(t testing.TB, secret string, jwks ...map[string]any) *jwtauth.KeySet {
	t.Helper()
	var keys []*jwtauth.Key
	if len(jwks) > 0 {
		keys = parse(t, jwks...)
	}
	ks, err := jwtauth.NewKeySet([]byte(secret), keys)
	require.NoError(t, err)
	return ks
}

func without(m map[string]any, drop ...string) map[string]any {
	c := maps.Clone(m)
	for _, d := range drop {
		delete(c, d)
	}
	return c
}

func with(m map[string]any, k string, v any) map[string]any {
	c := maps.Clone(m)
	c[k] = v
	return c
}

func header(t *testing.T, token string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	require.NoError(t, err)
	var h map[string]any
	require.NoError(t, json.Unmarshal(b, &h))
	return h
}

func TestParseKeysAndSignWithKid(t *testing.T) {
	t.Parallel()
	oct := map[string]any{"kty": "oct", "kid": "hs", "alg": "HS256",
		"k": base64.RawURLEncoding.EncodeToString([]byte("an-hs256-key-of-at-least-32-bytes-long"))}
	for _, jwk := range []map[string]any{newJWK(t, "RS256"), newJWK(t, "ES256"), oct} {
		alg, kid := jwk["alg"].(string), jwk["kid"].(string)
		t.Run(alg, func(t *testing.T) {
			ks := keySet(t, keysSecret, jwk)
			gotKid, gotAlg := ks.Signer()
			assert.Equal(t, kid, gotKid)
			assert.Equal(t, alg, gotAlg)
			tok, err := ks.Sign(jwt.MapClaims{"role": "authenticated", "sub": "u1", "exp": time.Now().Add(time.Hour).Unix()})
			require.NoError(t, err)
			h := header(t, tok)
			assert.Equal(t, kid, h["kid"])
			assert.Equal(t, alg, h["alg"])
			claims, err := ks.Verify(tok)
			require.NoError(t, err)
			assert.Equal(t, "u1", claims["sub"])
			// The JWT secret alone does not verify it.
			_, err = jwtauth.Verify([]byte(keysSecret), tok)
			require.Error(t, err)
		})
	}
}

func TestLoadKeysFromFileOrInline(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal([]any{newJWK(t, "ES256")})
	require.NoError(t, err)
	inline, err := jwtauth.LoadKeys(string(b))
	require.NoError(t, err)
	require.Len(t, inline, 1)
	path := filepath.Join(t.TempDir(), "keys.json")
	require.NoError(t, os.WriteFile(path, b, 0o600))
	fromFile, err := jwtauth.LoadKeys(path)
	require.NoError(t, err)
	require.Len(t, fromFile, 1)
	assert.Equal(t, inline[0].Kid, fromFile[0].Kid)
	// A JWK set object works too.
	set, err := jwtauth.ParseKeys([]byte(`{"keys":` + string(b) + `}`))
	require.NoError(t, err)
	require.Len(t, set, 1)
	none, err := jwtauth.LoadKeys("  ")
	require.NoError(t, err)
	assert.Empty(t, none)
	_, err = jwtauth.LoadKeys(filepath.Join(t.TempDir(), "missing.json"))
	require.ErrorIs(t, err, jwtauth.ErrBadKey)
}

func TestParseKeysRefusesBadKeys(t *testing.T) {
	t.Parallel()
	rs, es := newJWK(t, "RS256"), newJWK(t, "ES256")
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	enc := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	smallRSA := with(with(rs, "n", enc(small.N.Bytes())), "d", enc(small.D.Bytes()))
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	offCurve := with(without(es, "d"), "y", enc(other.Y.FillBytes(make([]byte, 32))))
	short := map[string]any{"kty": "oct", "kid": "s", "alg": "HS256", "k": enc([]byte("short"))}

	cases := map[string]struct {
		json string
		want string
	}{
		"not JSON":           {`nope[`, "JSON array"},
		"empty":              {`[]`, "empty"},
		"no kid":             {js(t, without(rs, "kid")), "kid is required"},
		"twice the same kid": {js(t, rs, rs), "appears twice"},
		"alg none":           {js(t, with(rs, "alg", "none")), "needs alg RS256"},
		"RSA as ES256":       {js(t, with(rs, "alg", "ES256")), "needs alg RS256"},
		"EC as RS256":        {js(t, with(es, "alg", "RS256")), "needs alg ES256"},
		"unknown kty":        {js(t, with(rs, "kty", "OKP")), `kty "OKP"`},
		"use enc":            {js(t, with(rs, "use", "enc")), "not sig"},
		"RSA 1024 bits":      {js(t, smallRSA), "at least 2048 bits"},
		"RSA without n":      {js(t, without(rs, "n")), "member n is missing"},
		"RSA bad base64":     {js(t, with(rs, "e", "!!")), "not base64url"},
		"RSA d of another":   {js(t, with(rs, "d", enc(small.D.Bytes()))), "inconsistent"},
		"RSA without p":      {js(t, without(rs, "p")), "member p is missing"},
		"EC on P-384":        {js(t, with(es, "crv", "P-384")), "not P-256"},
		"EC point off curve": {js(t, offCurve), "not on P-256"},
		"EC x too long":      {js(t, with(es, "x", enc(p384.X.FillBytes(make([]byte, 48))))), "not on P-256"},
		"EC d of another":    {js(t, with(es, "d", enc(other.D.FillBytes(make([]byte, 32))))), "does not match"},
		"EC d too short":     {js(t, with(es, "d", enc([]byte{1, 2, 3}))), "32 bytes"},
		"HS256 too short":    {js(t, short), "at least 32 bytes"},
		// NewSigningKey's keys have key_ops sign: without d they cannot.
		"sign on a public key": {js(t, without(es, "d")), `has "sign" but the private part is missing`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			keys, err := jwtauth.ParseKeys([]byte(c.json))
			require.ErrorIs(t, err, jwtauth.ErrBadKey)
			assert.Contains(t, err.Error(), c.want)
			assert.Nil(t, keys)
			// Error messages never carry key material.
			assert.NotContains(t, err.Error(), es["d"])
			assert.NotContains(t, err.Error(), rs["d"])
		})
	}
}

func js(t testing.TB, jwks ...map[string]any) string {
	t.Helper()
	b, err := json.Marshal(jwks)
	require.NoError(t, err)
	return string(b)
}

func TestKeySetVerifiesWithAnyKey(t *testing.T) {
	t.Parallel()
	rs, es := newJWK(t, "RS256"), newJWK(t, "ES256")
	claims := jwt.MapClaims{"role": "anon", "exp": time.Now().Add(time.Hour).Unix()}
	// ES256 signs (key_ops sign); RS256 only verifies.
	rsVerifyOnly := with(rs, "key_ops", []string{"verify"})
	ks := keySet(t, keysSecret, rsVerifyOnly, es)
	kid, alg := ks.Signer()
	assert.Equal(t, es["kid"], kid)
	assert.Equal(t, "ES256", alg)

	byES, err := ks.Sign(claims)
	require.NoError(t, err)
	byRS, err := keySet(t, "", rs).Sign(claims)
	require.NoError(t, err)
	bySecret, err := jwtauth.Sign([]byte(keysSecret), claims)
	require.NoError(t, err)
	for _, tok := range []string{byES, byRS, bySecret} {
		_, err := ks.Verify(tok)
		require.NoError(t, err)
	}

	// A key of the same kid but another key pair: refused.
	impostor := newJWK(t, "RS256")
	impostor["kid"] = rs["kid"]
	forged, err := keySet(t, "", impostor).Sign(claims)
	require.NoError(t, err)
	_, err = ks.Verify(forged)
	require.ErrorIs(t, err, jwtauth.ErrInvalidToken)

	// An unknown kid, or none, on an RS256 token: refused.
	stranger, err := keySet(t, "", newJWK(t, "RS256")).Sign(claims)
	require.NoError(t, err)
	_, err = ks.Verify(stranger)
	require.ErrorIs(t, err, jwtauth.ErrInvalidToken)

	// Algorithm confusion: an HS256 token naming the RSA key's kid, its
	// "secret" the public modulus, is refused.
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	tok.Header["kid"] = rs["kid"]
	n, err := base64.RawURLEncoding.DecodeString(rs["n"].(string))
	require.NoError(t, err)
	confused, err := tok.SignedString(n)
	require.NoError(t, err)
	_, err = ks.Verify(confused)
	require.ErrorIs(t, err, jwtauth.ErrInvalidToken)
	// ... and an ES256 token naming the RSA kid.
	signedES, err := keySet(t, "", with(es, "kid", rs["kid"])).Sign(claims)
	require.NoError(t, err)
	_, err = ks.Verify(signedES)
	require.ErrorIs(t, err, jwtauth.ErrInvalidToken)

	// alg none is never accepted.
	unsigned, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims).SignedString(jwt.UnsafeAllowNoneSignatureType)
	require.NoError(t, err)
	_, err = ks.Verify(unsigned)
	require.ErrorIs(t, err, jwtauth.ErrInvalidToken)

	// Expiry is checked as for HS256.
	expired, err := ks.Sign(jwt.MapClaims{"role": "anon", "exp": time.Now().Add(-time.Hour).Unix()})
	require.NoError(t, err)
	_, err = ks.Verify(expired)
	require.ErrorIs(t, err, jwt.ErrTokenExpired)
}

// TestKeySetRotation walks a rotation: a new key is added (verifying only),
// made current, and the old one retired.
func TestKeySetRotation(t *testing.T) {
	t.Parallel()
	old, next := newJWK(t, "RS256"), newJWK(t, "ES256")
	claims := jwt.MapClaims{"role": "authenticated", "exp": time.Now().Add(time.Hour).Unix()}

	step1 := keySet(t, keysSecret, old, with(next, "key_ops", []string{"verify"}))
	kid, _ := step1.Signer()
	require.Equal(t, old["kid"], kid, "the added key does not sign yet")
	byOld, err := step1.Sign(claims)
	require.NoError(t, err)

	step2 := keySet(t, keysSecret, with(old, "key_ops", []string{"verify"}), next)
	kid, _ = step2.Signer()
	require.Equal(t, next["kid"], kid)
	byNext, err := step2.Sign(claims)
	require.NoError(t, err)
	for _, ks := range []*jwtauth.KeySet{step1, step2} {
		for _, tok := range []string{byOld, byNext} {
			_, err := ks.Verify(tok)
			require.NoError(t, err)
		}
	}

	step3 := keySet(t, keysSecret, next)
	_, err = step3.Verify(byNext)
	require.NoError(t, err)
	_, err = step3.Verify(byOld)
	require.ErrorIs(t, err, jwtauth.ErrInvalidToken)
}

func TestPublicJWKSHasNoPrivateMembers(t *testing.T) {
	t.Parallel()
	rs, es := newJWK(t, "RS256"), newJWK(t, "ES256")
	oct := map[string]any{"kty": "oct", "kid": "hs", "alg": "HS256",
		"k": base64.RawURLEncoding.EncodeToString([]byte("an-hs256-key-of-at-least-32-bytes-long"))}
	ks := keySet(t, keysSecret, rs, es, oct)
	pub := ks.PublicJWKS()
	require.Len(t, pub, 2, "HS256 keys and the JWT secret are never published")
	b, err := json.Marshal(map[string]any{"keys": pub})
	require.NoError(t, err)
	for _, k := range pub {
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
			assert.NotContains(t, k, private)
		}
	}
	for _, secret := range []string{rs["d"].(string), es["d"].(string), oct["k"].(string), keysSecret} {
		assert.NotContains(t, string(b), secret)
	}
	// The published keys verify what the set signs: a set of the public
	// parts alone (verify only) accepts its tokens.
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	require.NoError(t, json.Unmarshal(b, &set))
	verifyOnly, err := jwtauth.ParseKeys(b)
	require.NoError(t, err)
	public, err := jwtauth.NewKeySet([]byte("unrelated-secret-that-signs-0123456789ab"), verifyOnly)
	require.NoError(t, err)
	for _, signer := range []map[string]any{rs, es} {
		tok, err := keySet(t, "", signer).Sign(jwt.MapClaims{"role": "anon"})
		require.NoError(t, err)
		_, err = public.Verify(tok)
		require.NoError(t, err, "%s", signer["alg"])
	}
	assert.Equal(t, rs["n"], set.Keys[0]["n"])
	assert.Equal(t, es["x"], set.Keys[1]["x"])
	// A secret-only set publishes nothing.
	assert.Empty(t, keySet(t, keysSecret).PublicJWKS())
}

func TestNewKeySetNeedsASigner(t *testing.T) {
	t.Parallel()
	public := parse(t, with(without(newJWK(t, "ES256"), "d"), "key_ops", []string{"verify"}))
	_, err := jwtauth.NewKeySet(nil, public)
	require.ErrorIs(t, err, jwtauth.ErrBadKey)
	_, err = jwtauth.NewKeySet(nil, nil)
	require.ErrorIs(t, err, jwtauth.ErrNoSecret)
	_, err = jwtauth.NewSigningKey("HS512")
	require.Error(t, err)
}

func TestKeySetVerifierCaches(t *testing.T) {
	t.Parallel()
	for _, alg := range []string{"RS256", "ES256"} {
		ks := keySet(t, keysSecret, newJWK(t, alg))
		v := jwtauth.NewKeySetVerifier(ks, 0)
		tok, err := ks.Sign(jwt.MapClaims{"role": "anon", "exp": time.Now().Add(time.Hour).Unix()})
		require.NoError(t, err)
		for range 2 {
			_, err = v.Verify(tok)
			require.NoError(t, err)
		}
		assert.Equal(t, 1, jwtauth.CacheLen(v), alg)
		legacy, err := jwtauth.Sign([]byte(keysSecret), jwt.MapClaims{"role": "anon"})
		require.NoError(t, err)
		_, err = v.Verify(legacy)
		require.NoError(t, err)
		_, err = v.Verify(tok + "x")
		require.Error(t, err)
		assert.Equal(t, 2, jwtauth.CacheLen(v), alg)
	}
}

// BenchmarkVerifier compares HS256, RS256 and ES256 through the Verifier:
// "first" verifies a token never seen (the signature check), "cached" one
// seen before (what every later request with it costs).
func BenchmarkVerifier(b *testing.B) {
	for _, alg := range []string{"HS256", "RS256", "ES256"} {
		ks := keySet(b, keysSecret)
		if alg != "HS256" {
			ks = keySet(b, keysSecret, newJWK(b, alg))
		}
		b.Run(alg+"/first", func(b *testing.B) {
			toks := make([]string, b.N)
			for i := range toks {
				tok, err := ks.Sign(jwt.MapClaims{"role": "authenticated", "sub": fmt.Sprint(i), "exp": time.Now().Add(time.Hour).Unix()})
				require.NoError(b, err)
				toks[i] = tok
			}
			v := jwtauth.NewKeySetVerifier(ks, b.N+1)
			b.ResetTimer()
			for i := range b.N {
				if _, _, err := v.VerifyShared(toks[i]); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(alg+"/cached", func(b *testing.B) {
			tok, err := ks.Sign(jwt.MapClaims{"role": "authenticated", "sub": "u", "exp": time.Now().Add(time.Hour).Unix()})
			require.NoError(b, err)
			v := jwtauth.NewKeySetVerifier(ks, 0)
			_, _, err = v.VerifyShared(tok)
			require.NoError(b, err)
			b.ResetTimer()
			for range b.N {
				if _, _, err := v.VerifyShared(tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
