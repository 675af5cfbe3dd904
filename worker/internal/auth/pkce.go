package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/madbase/madbase/shared/apierr"
)

// flowStateLifetime is how long a PKCE auth code may be exchanged after the
// link was followed (GoTrue's default).
const flowStateLifetime = 5 * time.Minute

// pkceFrom validates a code challenge sent with a flow; nil when none.
func pkceFrom(challenge, method string) (*pkceRequest, error) {
	if challenge == "" && method == "" {
		return nil, nil
	}
	if challenge == "" || method == "" {
		return nil, validationFailed("PKCE flow requires code_challenge_method and code_challenge")
	}
	m := strings.ToLower(method)
	if m != "s256" && m != "plain" {
		return nil, validationFailed("code challenge method not supported")
	}
	if n := len(challenge); n < 43 || n > 128 {
		return nil, validationFailed("code challenge has to be between 43 and 128 characters")
	}
	return &pkceRequest{Challenge: challenge, Method: m}, nil
}

// createFlowState records a PKCE flow waiting for its link to be followed.
func (s *service) createFlowState(ctx context.Context, q querier, userID uuid.UUID, p *pkceRequest, method string, now time.Time) error {
	_, err := q.Exec(ctx, `insert into auth.flow_state (id, user_id, auth_code, code_challenge_method, code_challenge,
		provider_type, created_at, updated_at, authentication_method)
		values ($1, $2, $3, $4, $5, 'email', $6, $6, $7)`,
		uuid.New(), userID, uuid.NewString(), p.Method, p.Challenge, now, method)
	if err != nil {
		return dbError(err)
	}
	return nil
}

// issueAuthCode is the PKCE half of following a link: the user's latest
// flow for method gets its auth code issued now; the code goes to the app.
func (s *service) issueAuthCode(ctx context.Context, q querier, userID uuid.UUID, method string) (string, error) {
	var code string
	err := q.QueryRow(ctx, `update auth.flow_state set auth_code_issued_at = $3, updated_at = $3
		where id = (select id from auth.flow_state where user_id = $1 and authentication_method = $2
			order by created_at desc limit 1)
		returning auth_code`, userID, method, s.now().UTC()).Scan(&code)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", notFound(CodeFlowStateNotFound, "No associated flow state found")
	}
	if err != nil {
		return "", dbError(err)
	}
	return code, nil
}

// pkceGrant is POST /token?grant_type=pkce: an auth code and the verifier
// of its challenge become a session.
func (s *service) pkceGrant(ctx context.Context, p tokenParams, cl client, iss string) (*sessionJSON, error) {
	if p.AuthCode == "" || p.CodeVerifier == "" {
		return nil, validationFailed("invalid request: both auth code and code verifier should be non-empty")
	}
	var sess *sessionJSON
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var (
			id                         uuid.UUID
			userID                     *uuid.UUID
			method, challenge, authMth string
			issued                     *time.Time
			providerToken, providerRT  string
		)
		err := tx.QueryRow(ctx, `delete from auth.flow_state where auth_code = $1
			returning id, user_id, code_challenge_method::text, code_challenge, authentication_method, auth_code_issued_at,
				coalesce(provider_access_token, ''), coalesce(provider_refresh_token, '')`,
			p.AuthCode).Scan(&id, &userID, &method, &challenge, &authMth, &issued, &providerToken, &providerRT)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound(CodeFlowStateNotFound, "invalid flow state, no valid flow state found")
		}
		if err != nil {
			return dbError(err)
		}
		if issued == nil || userID == nil || s.now().After(issued.Add(flowStateLifetime)) {
			return unprocessable(CodeFlowStateExpired, "invalid flow state, flow state has expired")
		}
		if !verifierMatches(method, challenge, p.CodeVerifier) {
			return badRequest(CodeBadCodeVerifier, "code challenge does not match previously saved code verifier")
		}
		u, err := userByID(ctx, tx, *userID)
		if errors.Is(err, errNoUser) {
			return errUserNotFound
		}
		if err != nil {
			return dbError(err)
		}
		if u.banned(s.now()) {
			return badRequest(CodeUserBanned, "User is banned")
		}
		sess, err = s.newSession(ctx, tx, u, authMth, cl, iss)
		if sess != nil {
			sess.ProviderToken, sess.ProviderRefreshToken = providerToken, providerRT
		}
		return err
	})
	if err != nil {
		var ae *apierr.Error
		if errors.As(err, &ae) && (ae.Code == CodeFlowStateExpired || ae.Code == CodeBadCodeVerifier) {
			// The flow is spent either way; the delete must stand.
			_, _ = s.db.Exec(ctx, `delete from auth.flow_state where auth_code = $1`, p.AuthCode)
		}
		return nil, err
	}
	return sess, nil
}

// verifierMatches checks a PKCE code verifier against its challenge.
func verifierMatches(method, challenge, verifier string) bool {
	want := verifier
	if method == "s256" {
		sum := sha256.Sum256([]byte(verifier))
		want = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	return subtle.ConstantTimeCompare([]byte(want), []byte(challenge)) == 1
}
