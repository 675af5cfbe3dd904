package jwtauth

import (
	"encoding/json"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// DefaultCacheSize is how many verified tokens a Verifier remembers.
const DefaultCacheSize = 16384

// Verifier verifies tokens like Verify and remembers the ones that passed,
// until they expire: a client sends the same apikey and access token with
// every request, and decoding and checking them again each time costs more
// than the rest of a small request's work in the worker (PostgREST caches
// JWT validations for the same reason). Only tokens that verified are kept,
// so forged tokens cannot fill the cache; each entry's exp is checked again
// on every hit.
type Verifier struct {
	secret []byte
	// keys, when set, verifies instead of secret (NewKeySetVerifier).
	keys *KeySet
	max  int
	// retiring is a rotated-out secret that still verifies until
	// retiresAt (see WithRetiring).
	retiring  []byte
	retiresAt time.Time

	mu    sync.RWMutex
	cache map[string]verified
}

type verified struct {
	claims jwt.MapClaims
	// json is claims encoded by encoding/json, for VerifyShared.
	json string
	// expires is exp plus Leeway, zero for a token without exp.
	expires time.Time
}

// NewVerifier makes a Verifier for secret that remembers up to size tokens
// (DefaultCacheSize when size <= 0).
func NewVerifier(secret []byte, size int) *Verifier {
	if size <= 0 {
		size = DefaultCacheSize
	}
	return &Verifier{secret: secret, max: size, cache: make(map[string]verified)}
}

// NewKeySetVerifier makes a Verifier that accepts tokens signed by any key
// of ks (see KeySet.Verify), remembering up to size tokens. RS256 and ES256
// cost their signature check on a token's first sight only, like HS256.
func NewKeySetVerifier(ks *KeySet, size int) *Verifier {
	v := NewVerifier(nil, size)
	v.keys = ks
	return v
}

// Keys returns the set v verifies with; nil for a Verifier of a secret.
func (v *Verifier) Keys() *KeySet { return v.keys }

// WithRetiring makes v also accept tokens signed with a rotated-out secret
// until retiresAt, and returns v. A token it verified is remembered no longer
// than retiresAt. Call it before v is used.
func (v *Verifier) WithRetiring(secret []byte, retiresAt time.Time) *Verifier {
	if len(secret) > 0 && time.Now().Before(retiresAt) {
		v.retiring, v.retiresAt = secret, retiresAt
	}
	return v
}

// Verify returns the claims of token, as Verify does. The map is the
// caller's own: changing it does not change what later calls return.
func (v *Verifier) Verify(token string) (jwt.MapClaims, error) {
	claims, _, err := v.VerifyShared(token)
	return maps.Clone(claims), err
}

// VerifyShared is Verify without the copy, and with the claims as
// encoding/json writes them, encoded once per token: the map is the one
// every caller with the same token gets, to be read and never changed (a
// copy per request cost an allocation per claim).
func (v *Verifier) VerifyShared(token string) (jwt.MapClaims, string, error) {
	v.mu.RLock()
	e, ok := v.cache[token]
	v.mu.RUnlock()
	if ok {
		if e.expires.IsZero() || time.Now().Before(e.expires) {
			return e.claims, e.json, nil
		}
		v.mu.Lock()
		delete(v.cache, token)
		v.mu.Unlock()
	}

	var claims jwt.MapClaims
	var err error
	if v.keys != nil {
		claims, err = v.keys.Verify(token)
	} else {
		claims, err = Verify(v.secret, token)
	}
	var until time.Time
	if err != nil && v.retiring != nil && time.Now().Before(v.retiresAt) {
		if old, oerr := Verify(v.retiring, token); oerr == nil {
			claims, err, until = old, nil, v.retiresAt
		}
	}
	if err != nil {
		return nil, "", err
	}
	enc, err := json.Marshal(claims)
	if err != nil {
		return nil, "", err
	}
	e = verified{claims: claims, json: string(enc)}
	if exp, err := claims.GetExpirationTime(); err == nil && exp != nil {
		e.expires = exp.Add(Leeway)
	}
	if !until.IsZero() && (e.expires.IsZero() || until.Before(e.expires)) {
		e.expires = until
	}
	v.mu.Lock()
	if len(v.cache) >= v.max {
		// Full: forget an eighth of the entries, whichever the map's
		// iteration order yields first; they are verified again when used.
		n := v.max/8 + 1
		for k := range v.cache {
			delete(v.cache, k)
			if n--; n == 0 {
				break
			}
		}
	}
	// A copy: callers may pass strings that alias a reused buffer (fiber's
	// zero-copy header and query values), which would change the map's key.
	v.cache[strings.Clone(token)] = e
	v.mu.Unlock()
	return claims, e.json, nil
}
