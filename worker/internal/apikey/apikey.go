// Package apikey resolves what a request presents — the apikey header (or
// ?apikey=) and the Authorization bearer — into the JWT claims it runs with,
// as Supabase's gateway and PostgREST do: the legacy anon and service-role
// keys are JWTs; the opaque sb_publishable_/sb_secret_ keys stand for the
// anon and service_role roles; a user's access token carries its own role.
// Each API surface renders the errors in its own shape.
package apikey

import (
	"crypto/subtle"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/golang-jwt/jwt/v5"
	"github.com/madbase/madbase/shared/db"
	"github.com/madbase/madbase/shared/jwtauth"
)

var (
	// ErrNoKey: no apikey was sent.
	ErrNoKey = errors.New("no API key found in request")
	// ErrBadKey: the apikey is neither a valid key JWT nor a known opaque key.
	ErrBadKey = errors.New("invalid API key")
	// ErrBadJWT: the bearer token is not a valid JWT signed with the secret.
	ErrBadJWT = errors.New("invalid JWT")
	// ErrExpiredJWT: the bearer token is a valid JWT whose exp has passed.
	ErrExpiredJWT = errors.New("JWT expired")
	// ErrBadRole: the token's role is not one requests may run as.
	ErrBadRole = errors.New("JWT role is not anon, authenticated or service_role")
)

// Keys knows the project's secret and its opaque keys.
type Keys struct {
	secret      []byte
	verifier    *jwtauth.Verifier
	publishable string
	secretKey   string
	// roleClaims are the claims an opaque key or a key-only request runs
	// with, and roleJSON their JSON.
	roleClaims map[string]db.Claims
	roleJSON   map[string]string
	// oldPublishable and oldSecretKey are the opaque keys of a rotated-out
	// secret, accepted until oldUntil (see Retire).
	oldPublishable, oldSecretKey string
	oldUntil                     time.Time
}

// retiring maps a current JWT secret to the rotated-out secret that still
// verifies beside it (see Retire).
var retiring sync.Map // string → retired

type retired struct {
	secret string
	until  time.Time
}

// Retire makes the Keys that New(current) makes from now on also accept the
// keys and tokens signed with old, until until: a project's grace period
// after a rotation. The capabilities build their Keys from the JWT secret
// alone, so the retiring secret is found here by the current one, which is
// unique to its project. Forget(current) undoes it.
func Retire(current, old string, until time.Time) {
	retiring.Store(current, retired{secret: old, until: until})
}

// Forget drops what Retire registered for current.
func Forget(current string) { retiring.Delete(current) }

// signingKeys maps a JWT secret to the JWT_KEYS keys that sign and verify
// beside it (see UseKeys).
var signingKeys sync.Map // string → []*jwtauth.Key

// UseKeys makes the Keys that New(secret) makes from now on sign and verify
// with keys (JWT_KEYS, see jwtauth.LoadKeys) as well as secret, which keeps
// verifying the tokens without a kid (the legacy API keys). As with Retire,
// the capabilities build their Keys from the secret alone, so the keys are
// found here by it. A nil or empty keys undoes it. The set is checked
// first: an error leaves what was registered unchanged.
func UseKeys(secret string, keys []*jwtauth.Key) error {
	if len(keys) == 0 {
		signingKeys.Delete(secret)
		return nil
	}
	if _, err := jwtauth.NewKeySet([]byte(secret), keys); err != nil {
		return err
	}
	signingKeys.Store(secret, keys)
	return nil
}

// New makes the resolver for a JWT secret, with the secret it replaced when
// one was registered with Retire and the signing keys registered with
// UseKeys.
func New(jwtSecret string) *Keys {
	k := &Keys{secret: []byte(jwtSecret)}
	var extra []*jwtauth.Key
	if v, ok := signingKeys.Load(jwtSecret); ok {
		extra = v.([]*jwtauth.Key)
	}
	if ks, err := jwtauth.NewKeySet(k.secret, extra); err == nil {
		k.verifier = jwtauth.NewKeySetVerifier(ks, 0)
	} else {
		// An empty secret and no keys: nothing verifies, as before.
		k.verifier = jwtauth.NewVerifier(k.secret, 0)
	}
	k.publishable, k.secretKey = jwtauth.OpaqueKeys(k.secret)
	if r, ok := retiring.Load(jwtSecret); ok {
		old := r.(retired)
		if old.secret != "" && time.Now().Before(old.until) {
			k.verifier.WithRetiring([]byte(old.secret), old.until)
			k.oldPublishable, k.oldSecretKey = jwtauth.OpaqueKeys([]byte(old.secret))
			k.oldUntil = old.until
		}
	}
	k.roleClaims = map[string]db.Claims{
		db.RoleAnon:        {"role": db.RoleAnon, "iss": jwtauth.Issuer},
		db.RoleServiceRole: {"role": db.RoleServiceRole, "iss": jwtauth.Issuer},
	}
	k.roleJSON = map[string]string{}
	for role, c := range k.roleClaims {
		k.roleJSON[role], _ = c.JSON() // strings only: cannot fail
	}
	return k
}

// Result is who a request acts as.
type Result struct {
	// KeyRole is the role of the apikey (anon or service_role); empty when
	// no apikey was sent.
	KeyRole string
	// Role is the PostgreSQL role the request runs as.
	Role string
	// Claims are the JWT claims for db.WithClaims (request.jwt.claims),
	// and ClaimsJSON the same encoded (see Encoded). The map is shared with
	// every request that sent the same token or key: read it, never change it.
	Claims     db.Claims
	ClaimsJSON string
	// Token is the bearer JWT the claims came from; empty when they came
	// from an opaque key.
	Token string
}

// OpaqueRole maps an sb_publishable_/sb_secret_ key to its role.
func (k *Keys) OpaqueRole(key string) (string, bool) {
	switch {
	case strings.HasPrefix(key, jwtauth.PublishablePrefix) &&
		subtle.ConstantTimeCompare([]byte(key), []byte(k.publishable)) == 1:
		return db.RoleAnon, true
	case strings.HasPrefix(key, jwtauth.SecretPrefix) &&
		subtle.ConstantTimeCompare([]byte(key), []byte(k.secretKey)) == 1:
		return db.RoleServiceRole, true
	}
	if k.oldPublishable == "" || !time.Now().Before(k.oldUntil) {
		return "", false
	}
	switch {
	case subtle.ConstantTimeCompare([]byte(key), []byte(k.oldPublishable)) == 1:
		return db.RoleAnon, true
	case subtle.ConstantTimeCompare([]byte(key), []byte(k.oldSecretKey)) == 1:
		return db.RoleServiceRole, true
	}
	return "", false
}

// Verify checks a JWT signed with the project secret or a key of its set,
// as jwtauth.KeySet.Verify does, remembering tokens that passed (see
// jwtauth.Verifier).
func (k *Keys) Verify(token string) (jwt.MapClaims, error) { return k.verifier.Verify(token) }

// VerifyShared is Verify without the copy of the claims: the map is shared
// with every caller that sent the same token, to be read and never changed.
func (k *Keys) VerifyShared(token string) (jwt.MapClaims, error) {
	claims, _, err := k.verifier.VerifyShared(token)
	return claims, err
}

// KeySet returns the keys that sign and verify the project's tokens; nil
// when the secret is empty and no key was registered.
func (k *Keys) KeySet() *jwtauth.KeySet { return k.verifier.Keys() }

// KeyRole returns the role of an apikey value: an opaque key's role, or
// the role claim of a key JWT.
func (k *Keys) KeyRole(key string) (string, error) {
	if key == "" {
		return "", ErrNoKey
	}
	if strings.HasPrefix(key, "sb_") {
		if role, ok := k.OpaqueRole(key); ok {
			return role, nil
		}
		return "", ErrBadKey
	}
	claims, _, err := k.verifier.VerifyShared(key)
	if err != nil {
		return "", ErrBadKey
	}
	role, _ := claims["role"].(string)
	if role != db.RoleAnon && role != db.RoleServiceRole {
		return "", ErrBadKey
	}
	return role, nil
}

// Resolve works out who a request acts as from its apikey and its
// Authorization header. When Authorization is absent or holds an opaque
// key, the request runs with the apikey's role (as the gateway substitutes
// a role JWT); otherwise the bearer must be a valid JWT, whose role claim
// (anon when absent, as in PostgREST) must be one requests may take.
// An empty apikey is allowed here (storage needs none); callers that
// require one check Result.KeyRole.
func (k *Keys) Resolve(apiKey, authorization string) (Result, error) {
	var res Result
	if apiKey != "" {
		role, err := k.KeyRole(apiKey)
		if err != nil {
			return res, err
		}
		res.KeyRole = role
	}
	bearer := bearerToken(authorization)
	switch {
	case bearer == "" && res.KeyRole == "":
		res.Role, res.Claims, res.ClaimsJSON = db.RoleAnon, k.roleClaims[db.RoleAnon], k.roleJSON[db.RoleAnon]
		return res, nil
	case bearer == "":
		res.Role, res.Claims, res.ClaimsJSON = res.KeyRole, k.roleClaims[res.KeyRole], k.roleJSON[res.KeyRole]
		return res, nil
	case strings.HasPrefix(bearer, "sb_"):
		role, ok := k.OpaqueRole(bearer)
		if !ok {
			return res, ErrBadKey
		}
		res.Role, res.Claims, res.ClaimsJSON = role, k.roleClaims[role], k.roleJSON[role]
		return res, nil
	}
	claims, claimsJSON, err := k.verifier.VerifyShared(bearer)
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return res, ErrExpiredJWT
		}
		return res, ErrBadJWT
	}
	role, _ := claims["role"].(string)
	if role == "" {
		role = db.RoleAnon
	}
	switch role {
	case db.RoleAnon, db.RoleAuthenticated, db.RoleServiceRole:
	default:
		return res, ErrBadRole
	}
	res.Role, res.Claims, res.ClaimsJSON, res.Token = role, db.Claims(claims), claimsJSON, bearer
	return res, nil
}

// ClaimSet returns the claims for db.WithClaims, with their JSON when
// Resolve had it.
func (r Result) ClaimSet() db.ClaimSet {
	if r.ClaimsJSON == "" {
		return r.Claims
	}
	return db.Encoded{Claims: r.Claims, Text: r.ClaimsJSON}
}

// FromRequest reads the apikey (header, else ?apikey=) and Authorization of
// a fiber request, copied so they outlive the handler.
func FromRequest(c *fiber.Ctx) (apiKey, authorization string) {
	apiKey = c.Get("apikey")
	if apiKey == "" {
		apiKey = c.Query("apikey")
	}
	return strings.Clone(apiKey), strings.Clone(c.Get(fiber.HeaderAuthorization))
}

func bearerToken(h string) string {
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// ExpiresAt returns a claims' exp as a time, zero when absent.
func ExpiresAt(c db.Claims) time.Time {
	if exp, ok := c["exp"].(float64); ok {
		return time.Unix(int64(exp), 0)
	}
	return time.Time{}
}
