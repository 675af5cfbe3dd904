package jwtauth

import (
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// CacheLen is how many tokens v remembers (for tests).
func CacheLen(v *Verifier) int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return len(v.cache)
}

// Expiry is when v stops serving token from its cache; ok is false when
// token is not remembered.
func Expiry(v *Verifier, token string) (expires time.Time, ok bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	e, ok := v.cache[token]
	return e.expires, ok
}

// Remember puts token in v's cache as a token that verified earlier, whose
// entry expires at expires (zero: never): the state a Verifier is in once
// a remembered token's time has run out, without waiting for it.
func Remember(v *Verifier, token string, claims jwt.MapClaims, expires time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.cache[token] = verified{claims: claims, json: "{}", expires: expires}
}
