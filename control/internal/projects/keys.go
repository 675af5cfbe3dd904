package projects

import (
	"crypto/rand"
	"encoding/base64"
	"time"

	"github.com/madbase/madbase/shared/jwtauth"
)

// KeyLifetime is how long a project's legacy anon and service_role keys stay
// valid, as the keys `madbase keys` prints.
const KeyLifetime = 10 * 365 * 24 * time.Hour

// jwtSecretBytes is the randomness of a project's JWT secret (64 characters
// once encoded, like `madbase keys --new-secret`).
const jwtSecretBytes = 48

// Keys are a project's API keys: the legacy JWTs (anon, service_role) with
// the project's ref claim, and the opaque sb_publishable_/sb_secret_ keys
// derived from the same secret.
type Keys struct {
	Anon        string `json:"anon"`
	ServiceRole string `json:"service_role"`
	Publishable string `json:"publishable"`
	Secret      string `json:"secret"`
}

// newJWTSecret returns a fresh random JWT secret.
func newJWTSecret() string {
	b := make([]byte, jwtSecretBytes)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// makeKeys signs a project's keys with secret. iat fixes them: the same
// secret and iat give the same keys, so they are recomputed rather than kept.
func makeKeys(secret []byte, ref string, iat time.Time) (Keys, error) {
	var k Keys
	var err error
	if k.Anon, err = legacyKey(secret, ref, "anon", iat); err != nil {
		return Keys{}, err
	}
	if k.ServiceRole, err = legacyKey(secret, ref, "service_role", iat); err != nil {
		return Keys{}, err
	}
	k.Publishable, k.Secret = jwtauth.OpaqueKeys(secret)
	return k, nil
}

// legacyKey is an API key JWT as Supabase mints them: the issuer, the
// project's ref and the role.
func legacyKey(secret []byte, ref, role string, iat time.Time) (string, error) {
	// An unnamed map type is assignable to jwt.MapClaims, which keeps the jwt
	// module out of control's dependencies.
	return jwtauth.Sign(secret, map[string]any{
		"iss":  jwtauth.Issuer,
		"ref":  ref,
		"role": role,
		"iat":  iat.Unix(),
		"exp":  iat.Add(KeyLifetime).Unix(),
	})
}
