package auth

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/madbase/madbase/shared/db"
)

// principal is who the bearer token of a request says the caller is.
type principal struct {
	Role string
	// Claims are shared with every request that sent the same token (see
	// jwtauth.Verifier.VerifyShared): read them, never change them.
	Claims    jwt.MapClaims
	UserID    uuid.UUID // uuid.Nil when the token has no sub
	SessionID uuid.UUID // uuid.Nil when the token has no session_id
}

var errNoAuthorization = newError(http.StatusUnauthorized, CodeNoAuthorization, "This endpoint requires a valid Bearer token")

// bearer reads and verifies the Authorization bearer: a JWT signed with the
// project secret, or an opaque key standing for its role.
func (s *service) bearer(c *fiber.Ctx) (*principal, error) {
	h := c.Get(fiber.HeaderAuthorization)
	if len(h) < 8 || !strings.EqualFold(h[:7], "bearer ") {
		return nil, errNoAuthorization
	}
	tok := strings.TrimSpace(h[7:])
	if tok == "" {
		return nil, errNoAuthorization
	}
	if strings.HasPrefix(tok, "sb_") {
		role, ok := s.keys.OpaqueRole(tok)
		if !ok {
			return nil, forbidden(CodeBadJWT, "invalid JWT: unable to parse or verify signature, token is malformed")
		}
		return &principal{Role: role, Claims: jwt.MapClaims{"role": role}}, nil
	}
	claims, err := s.keys.VerifyShared(tok)
	if err != nil {
		reason := "token is malformed"
		switch {
		case errors.Is(err, jwt.ErrTokenExpired):
			reason = "token has invalid claims: token is expired"
		case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
			reason = "signature is invalid"
		case errors.Is(err, jwt.ErrTokenInvalidClaims):
			reason = "token has invalid claims"
		}
		return nil, forbidden(CodeBadJWT, "invalid JWT: unable to parse or verify signature, %s", reason)
	}
	p := &principal{Claims: claims}
	p.Role, _ = claims["role"].(string)
	if sub, ok := claims["sub"].(string); ok && sub != "" {
		id, err := uuid.Parse(sub)
		if err != nil {
			return nil, badRequest(CodeBadJWT, "invalid claim: sub claim must be a UUID")
		}
		p.UserID = id
	}
	if sid, ok := claims["session_id"].(string); ok && sid != "" {
		if id, err := uuid.Parse(sid); err == nil {
			p.SessionID = id
		}
	}
	return p, nil
}

// userPrincipal requires a user's access token (with a sub).
func (s *service) userPrincipal(c *fiber.Ctx) (*principal, error) {
	p, err := s.bearer(c)
	if err != nil {
		return nil, err
	}
	if p.UserID == uuid.Nil {
		return nil, forbidden(CodeBadJWT, "invalid claim: missing sub claim")
	}
	return p, nil
}

// requireAdmin lets through bearers with the service_role (or
// supabase_admin) role: the service-role key or sb_secret_ key.
func (s *service) requireAdmin(c *fiber.Ctx) error {
	p, err := s.bearer(c)
	if err != nil {
		return err
	}
	if p.Role != db.RoleServiceRole && p.Role != "supabase_admin" {
		return errNotAdmin
	}
	return c.Next()
}
