package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"math/big"
	"net"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/madbase/madbase/shared/jwtauth"
)

const alphanumerics = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// randomString returns n random characters of alphabet.
func randomString(n int, alphabet string) string {
	b := make([]byte, n)
	max := big.NewInt(int64(len(alphabet)))
	for i := range b {
		x, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic(err) // crypto/rand never fails on supported platforms
		}
		b[i] = alphabet[x.Int64()]
	}
	return string(b)
}

// newRefreshToken makes an opaque, URL-safe refresh token.
func newRefreshToken() string { return randomString(24, alphanumerics) }

// newOTP makes a numeric one-time code.
func newOTP(n int) string { return randomString(n, "0123456789") }

// tokenHash is how one-time tokens are stored and put in links: hex
// SHA-224 of the address (email or phone) and the code, as GoTrue does.
func tokenHash(address, otp string) string {
	sum := sha256.Sum224([]byte(address + otp))
	return hex.EncodeToString(sum[:])
}

// pkcePrefix marks a stored token whose link finishes a PKCE flow.
const pkcePrefix = "pkce_"

// accessToken signs the access token of a session (docs/api/auth.md §2.4).
func (s *service) accessToken(u *user, sessionID uuid.UUID, aal string, amr []amrEntry, iss string, now time.Time) (string, int64, error) {
	exp := now.Add(s.cfg.jwtExp).Unix()
	if amr == nil {
		amr = []amrEntry{}
	}
	claims := jwt.MapClaims{
		"sub":           u.ID.String(),
		"aud":           u.Aud,
		"exp":           exp,
		"iat":           now.Unix(),
		"email":         u.Email,
		"phone":         u.Phone,
		"app_metadata":  nonNilMap(u.AppMetaData),
		"user_metadata": nonNilMap(u.UserMetaData),
		"role":          u.Role,
		"aal":           aal,
		"amr":           amr,
		"session_id":    sessionID.String(),
		"is_anonymous":  u.IsAnonymous,
	}
	if iss != "" {
		claims["iss"] = iss
	}
	tok, err := s.sign(claims)
	return tok, exp, err
}

// sign signs claims with the project's signing key (JWT_KEYS' current key,
// its kid in the header; else the JWT secret, HS256).
func (s *service) sign(claims jwt.MapClaims) (string, error) {
	if ks := s.keys.KeySet(); ks != nil {
		return ks.Sign(claims)
	}
	return jwtauth.Sign(s.secret, claims)
}

// sessionResponse builds the access token response for a session.
func (s *service) sessionResponse(u *user, sessionID uuid.UUID, aal string, amr []amrEntry, refresh, iss string, now time.Time) (*sessionJSON, error) {
	tok, exp, err := s.accessToken(u, sessionID, aal, amr, iss, now)
	if err != nil {
		return nil, internalError("Unexpected failure", err)
	}
	return &sessionJSON{
		AccessToken:  tok,
		TokenType:    "bearer",
		ExpiresIn:    int(s.cfg.jwtExp / time.Second),
		ExpiresAt:    exp,
		RefreshToken: refresh,
		User:         u.wire(),
	}, nil
}

// newSession signs u in: a session row, its first refresh token and its amr
// claim in one statement, last_sign_in_at updated. It returns the session
// response with u as it is now.
func (s *service) newSession(ctx context.Context, q querier, u *user, method string, cl client, iss string) (*sessionJSON, error) {
	now := s.now().UTC().Round(time.Microsecond)
	sessionID := uuid.New()
	refresh := newRefreshToken()
	var ip any
	if parsed := net.ParseIP(cl.IP); parsed != nil {
		ip = parsed.String()
	}
	var ua any
	if cl.UserAgent != "" {
		ua = cl.UserAgent
	}
	var notAfter any
	if s.cfg.timebox > 0 {
		notAfter = now.Add(s.cfg.timebox)
	}
	_, err := q.Exec(ctx, `with s as (
			insert into auth.sessions (id, user_id, created_at, updated_at, aal, not_after, user_agent, ip)
			values ($1, $2, $3, $3, 'aal1', $4, $5, $6::inet) returning id),
		a as (insert into auth.mfa_amr_claims (id, session_id, created_at, updated_at, authentication_method)
			select $7, id, $3, $3, $8 from s),
		r as (insert into auth.refresh_tokens (instance_id, token, user_id, revoked, created_at, updated_at, session_id)
			select '00000000-0000-0000-0000-000000000000', $9, $2::text, false, $3, $3, id from s),
		i as (update auth.identities set last_sign_in_at = $3 where user_id = $2)
		update auth.users set last_sign_in_at = $3 where id = $2`,
		sessionID, u.ID, now, notAfter, ua, ip, uuid.New(), method, refresh)
	if err != nil {
		return nil, dbError(err)
	}
	u.LastSignInAt = &now
	for i := range u.Identities {
		u.Identities[i].LastSignInAt = utcPtr(&now)
	}
	return s.sessionResponse(u, sessionID, "aal1", []amrEntry{{Method: method, Timestamp: now.Unix()}}, refresh, iss, now)
}
