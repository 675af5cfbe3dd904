// Package jwtauth signs and verifies the HS256 JWTs Supabase clients carry: the anon and
// service-role API keys, and the access tokens the auth API issues. One secret signs them
// all, as in Supabase, so a token's "role" claim is trusted only after Verify.
package jwtauth

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Leeway is the clock skew tolerated on exp, nbf and iat: enough for machines whose clocks
// disagree a little, far too little to matter for a token's lifetime.
const Leeway = 30 * time.Second

// Claims written into the API keys, as in the keys of a self-hosted Supabase.
const (
	Issuer = "supabase"
	Ref    = "madbase"
)

var (
	// ErrInvalidToken wraps every reason Verify refuses a token; the jwt package's own
	// errors (jwt.ErrTokenExpired, ...) are wrapped too, for callers that tell them apart.
	ErrInvalidToken = errors.New("jwtauth: invalid token")
	// ErrNoSecret is returned for an empty secret, with which anyone could sign tokens.
	ErrNoSecret = errors.New("jwtauth: the JWT secret is empty")
)

// validMethods is the whole allow-list. Accepting what the token's header asks for is the
// classic JWT hole: "none" skips the signature, and RS256 with an HMAC secret as "public
// key" lets anyone sign.
var validMethods = []string{jwt.SigningMethodHS256.Alg()}

// Sign returns claims signed with secret using HS256.
func Sign(secret []byte, claims jwt.MapClaims) (string, error) {
	if len(secret) == 0 {
		return "", ErrNoSecret
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("jwtauth: signing: %w", err)
	}
	return s, nil
}

// Verify returns the claims of token if it is an HS256 JWT signed with secret and its exp,
// nbf and iat claims (each optional, as in Supabase) hold now, within Leeway.
func Verify(secret []byte, token string) (jwt.MapClaims, error) {
	if len(secret) == 0 {
		return nil, ErrNoSecret
	}
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return secret, nil },
		jwt.WithValidMethods(validMethods),
		jwt.WithLeeway(Leeway),
		jwt.WithIssuedAt(),
		jwt.WithStrictDecoding(), // one token, one encoding: no padded or non-canonical variants
	)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	return claims, nil
}

// AnonKey mints the anon API key: what a browser app ships, and what makes a request run
// as the anon role.
func AnonKey(secret []byte, issuedAt, expiresAt time.Time) (string, error) {
	return apiKey(secret, "anon", issuedAt, expiresAt)
}

// ServiceRoleKey mints the service-role API key, which bypasses row-level security: for
// trusted servers only.
func ServiceRoleKey(secret []byte, issuedAt, expiresAt time.Time) (string, error) {
	return apiKey(secret, "service_role", issuedAt, expiresAt)
}

func apiKey(secret []byte, role string, issuedAt, expiresAt time.Time) (string, error) {
	claims, err := apiKeyClaims(role, issuedAt, expiresAt)
	if err != nil {
		return "", err
	}
	return Sign(secret, claims)
}

// APIKey mints the anon or service_role API key signed with the set's
// signing key (RS256 or ES256 with JWT_KEYS), its kid in the header.
func (ks *KeySet) APIKey(role string, issuedAt, expiresAt time.Time) (string, error) {
	claims, err := apiKeyClaims(role, issuedAt, expiresAt)
	if err != nil {
		return "", err
	}
	return ks.Sign(claims)
}

func apiKeyClaims(role string, issuedAt, expiresAt time.Time) (jwt.MapClaims, error) {
	if !expiresAt.After(issuedAt) {
		return nil, fmt.Errorf("jwtauth: an API key must expire after it is issued (iat %s, exp %s)", issuedAt, expiresAt)
	}
	return jwt.MapClaims{
		"iss":  Issuer,
		"ref":  Ref,
		"role": role,
		"iat":  issuedAt.Unix(),
		"exp":  expiresAt.Unix(),
	}, nil
}

// UnverifiedRef returns the "ref" claim of a JWT without checking its
// signature, "" when token is not a JWT or has no such claim. It only picks
// which project's secret verifies the token: never trust it before that.
func UnverifiedRef(token string) string {
	first := strings.IndexByte(token, '.')
	if first < 0 {
		return ""
	}
	rest := token[first+1:]
	second := strings.IndexByte(rest, '.')
	if second < 0 || second > 8192 {
		return ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(rest[:second])
	if err != nil {
		return ""
	}
	var c struct {
		Ref string `json:"ref"`
	}
	if json.Unmarshal(payload, &c) != nil {
		return ""
	}
	return c.Ref
}
