package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// stateLifetime is how long a redirect to a provider may take to come
// back (GoTrue's flow state expiry).
const stateLifetime = 10 * time.Minute

// oauthState is the state parameter of a redirect to a provider: a JWT
// signed with a key derived from the project's JWT secret, so any worker
// can read it and nobody can forge it. It names the provider, where the
// browser goes back to, the PKCE flow of the app (flow_state row) and the
// user an identity is being linked to. Its id derives the PKCE verifier
// and the OIDC nonce MadBase uses toward the provider, which therefore
// never travel.
type oauthState struct {
	Provider    string `json:"provider"`
	Referrer    string `json:"referrer"`
	RedirectURI string `json:"callback"`
	FlowID      string `json:"flow_state_id,omitempty"`
	LinkUser    string `json:"link_user,omitempty"`
	jwt.RegisteredClaims
}

// stateKey is the HMAC key of states and of what they derive.
func (s *service) stateKey() []byte {
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte("madbase oauth state"))
	return m.Sum(nil)
}

// derive is an HMAC of the state's id for purpose, base64url: 43
// characters, a valid PKCE verifier.
func (s *service) derive(st *oauthState, purpose string) string {
	m := hmac.New(sha256.New, s.stateKey())
	m.Write([]byte(purpose + ":" + st.ID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (s *service) signState(st *oauthState) (string, error) {
	now := s.now()
	st.ID = uuid.NewString()
	st.IssuedAt = jwt.NewNumericDate(now)
	st.ExpiresAt = jwt.NewNumericDate(now.Add(stateLifetime))
	return jwt.NewWithClaims(jwt.SigningMethodHS256, st).SignedString(s.stateKey())
}

var (
	errStateMissing = badRequest(CodeBadOAuthCallback, "OAuth state parameter missing")
	errStateInvalid = badRequest(CodeBadOAuthState, "OAuth state parameter is invalid")
	errStateExpired = badRequest(CodeBadOAuthState, "OAuth state has expired")
)

// parseState checks a state that came back from a provider.
func (s *service) parseState(raw string) (*oauthState, error) {
	if raw == "" {
		return nil, errStateMissing
	}
	if len(raw) > 8192 {
		return nil, errStateInvalid
	}
	st := &oauthState{}
	_, err := jwt.ParseWithClaims(raw, st, func(*jwt.Token) (any, error) { return s.stateKey(), nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(s.now))
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, errStateExpired
	case err != nil || st.Provider == "" || st.ID == "" || st.Referrer == "":
		return nil, errStateInvalid
	}
	return st, nil
}
