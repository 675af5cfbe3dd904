package auth

import (
	"context"
	"errors"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/madbase/madbase/shared/apierr"
)

// tokenParams is POST /token's body for every grant type.
type tokenParams struct {
	Email        string `json:"email"`
	Phone        string `json:"phone"`
	Password     string `json:"password"`
	RefreshToken string `json:"refresh_token"`
	AuthCode     string `json:"auth_code"`
	CodeVerifier string `json:"code_verifier"`
	// id_token grant (signInWithIdToken)
	IDToken      string `json:"id_token"`
	AccessToken  string `json:"access_token"`
	Nonce        string `json:"nonce"`
	Provider     string `json:"provider"`
	ClientID     string `json:"client_id"`
	Issuer       string `json:"issuer"`
	LinkIdentity bool   `json:"link_identity"`
}

func (s *service) token(c *fiber.Ctx) error {
	grant := c.Query("grant_type")
	var p tokenParams
	if err := readJSON(c, &p); err != nil {
		return err
	}
	ctx, cancel := s.ctx()
	defer cancel()
	cl := clientOf(c)
	iss := s.issuer(c)
	var (
		sess *sessionJSON
		err  error
	)
	switch grant {
	case "password":
		sess, err = s.passwordGrant(ctx, p, cl, iss)
	case "refresh_token":
		if err := s.rateLimit(ctx, "token_refresh", cl.IP, s.cfg.rateRefresh); err != nil {
			return err
		}
		sess, err = s.refreshGrant(ctx, p.RefreshToken, iss)
	case "pkce":
		sess, err = s.pkceGrant(ctx, p, cl, iss)
	case "id_token":
		sess, err = s.idTokenGrant(c, ctx, p, cl, iss)
	case "web3":
		return errWeb3Disabled
	default:
		return badRequest(CodeInvalidCredentials, "unsupported_grant_type")
	}
	if err != nil {
		return err
	}
	return c.JSON(sess)
}

// passwordGrant is signInWithPassword.
func (s *service) passwordGrant(ctx context.Context, p tokenParams, cl client, iss string) (*sessionJSON, error) {
	if err := s.rateLimit(ctx, "sign_in", cl.IP, s.cfg.rateSignIn); err != nil {
		return nil, err
	}
	var (
		u   *user
		err error
		who string
	)
	switch {
	case p.Email != "" && p.Phone != "":
		return nil, validationFailed("Only an email address or phone number should be provided on login.")
	case p.Email != "":
		if !s.cfg.emailEnabled {
			return nil, badRequest(CodeEmailProviderDisabled, "Email logins are disabled")
		}
		email, verr := normalizeEmail(p.Email)
		if verr != nil {
			return nil, errInvalidCredentials
		}
		who = email
		if err := s.rateLimit(ctx, "sign_in_email", who, s.cfg.rateSignInEmail); err != nil {
			return nil, err
		}
		u, err = userByEmail(ctx, s.db, email)
	case p.Phone != "":
		phone, verr := normalizePhone(p.Phone)
		if verr != nil {
			return nil, errInvalidCredentials
		}
		who = phone
		if err := s.rateLimit(ctx, "sign_in_email", who, s.cfg.rateSignInEmail); err != nil {
			return nil, err
		}
		u, err = userByPhone(ctx, s.db, phone)
	default:
		return nil, validationFailed("missing email or phone")
	}
	if p.Password == "" {
		return nil, validationFailed("missing password")
	}
	if err != nil && !errors.Is(err, errNoUser) {
		return nil, dbError(err)
	}
	hash := ""
	if u != nil && u.DeletedAt == nil {
		hash = u.EncryptedPassword
	}
	ok, err := s.hasher.compare(ctx, hash, p.Password)
	if err != nil {
		return nil, internalError("Unexpected failure", err)
	}
	if !ok || u == nil {
		return nil, errInvalidCredentials
	}
	if u.banned(s.now()) {
		return nil, badRequest(CodeUserBanned, "User is banned")
	}
	if p.Email != "" && !u.emailConfirmed() {
		return nil, badRequest(CodeEmailNotConfirmed, "Email not confirmed")
	}
	if p.Phone != "" && !u.phoneConfirmed() {
		return nil, badRequest(CodePhoneNotConfirmed, "Phone not confirmed")
	}
	var sess *sessionJSON
	err = s.tx(ctx, func(tx pgx.Tx) error {
		var err error
		sess, err = s.newSession(ctx, tx, u, methodPassword, cl, iss)
		return err
	})
	if err != nil {
		return nil, err
	}
	if werr := s.cfg.checkPassword(p.Password); werr != nil {
		sess.WeakPassword = &weakPassword{Message: werr.Message, Reasons: extraOf(werr).Reasons}
	}
	return sess, nil
}

// refreshLockRetries bounds retries of a refresh that lost a serialization
// race (the session row lock makes them rare).
const refreshLockRetries = 5

// refreshGrant rotates a refresh token (docs/api/auth.md §5). Every failure is a 4xx:
// auth-js treats 5xx as "retry, keep the session".
func (s *service) refreshGrant(ctx context.Context, token, iss string) (*sessionJSON, error) {
	if token == "" {
		return nil, oauthError("invalid_request", "refresh_token required")
	}
	if len(token) > 255 {
		return nil, badRequest(CodeRefreshTokenNotFound, "Invalid Refresh Token: Refresh Token Not Found")
	}
	for attempt := 0; ; attempt++ {
		sess, err := s.refreshOnce(ctx, token, iss)
		var pe *pgconn.PgError
		if errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01" || pe.Code == "55P03") && attempt < refreshLockRetries {
			continue
		}
		return sess, err
	}
}

func (s *service) refreshOnce(ctx context.Context, token, iss string) (*sessionJSON, error) {
	var (
		sess   *sessionJSON
		reused *apierr.Error
	)
	err := s.tx(ctx, func(tx pgx.Tx) error {
		now := s.now().UTC().Round(time.Microsecond)
		// Lock the session first: every refresh of one session is serialized
		// here, so concurrent refreshes see each other's rotation.
		// The token's row is locked too, so that after waiting for a
		// concurrent refresh this statement reads the token as that one
		// left it (revoked), not as it was when the statement began.
		var (
			sessionID   uuid.UUID
			aal         string
			notAfter    *time.Time
			refreshedAt *time.Time
			createdAt   *time.Time
			amr         []amrEntry
			tokenID     int64
			revoked     bool
			updatedAt   time.Time
		)
		u, err := oneUser(tx.QueryRow(ctx, `select `+userColumns+`, s.id, coalesce(s.aal::text, 'aal1'), s.not_after,
				s.refreshed_at, s.created_at,
				coalesce((select json_agg(json_build_object('method', a.authentication_method,
					'timestamp', extract(epoch from a.created_at)::bigint) order by a.created_at)
					from auth.mfa_amr_claims a where a.session_id = s.id), '[]'::json),
				rt.id, coalesce(rt.revoked, false), coalesce(rt.updated_at, rt.created_at, now())
			from auth.refresh_tokens rt join auth.sessions s on s.id = rt.session_id join auth.users u on u.id = s.user_id
			where rt.token = $1
			for update of s, rt`, token),
			&sessionID, &aal, &notAfter, &refreshedAt, &createdAt, &amr, &tokenID, &revoked, &updatedAt)
		if errors.Is(err, errNoUser) {
			var exists bool
			if err := tx.QueryRow(ctx, `select exists(select 1 from auth.refresh_tokens where token = $1)`, token).Scan(&exists); err != nil {
				return err
			}
			if exists {
				return badRequest(CodeSessionNotFound, "Invalid Refresh Token: No Valid Session Found")
			}
			return badRequest(CodeRefreshTokenNotFound, "Invalid Refresh Token: Refresh Token Not Found")
		}
		if err != nil {
			return err
		}
		if u.banned(now) {
			return badRequest(CodeUserBanned, "Invalid Refresh Token: User Banned")
		}
		if notAfter != nil && !now.Before(*notAfter) {
			return badRequest(CodeSessionExpired, "Invalid Refresh Token: Session Expired")
		}
		if s.cfg.inactivity > 0 {
			last := updatedAt
			if refreshedAt != nil && refreshedAt.After(last) {
				last = *refreshedAt
			}
			if now.After(last.Add(s.cfg.inactivity)) {
				return badRequest(CodeSessionExpired, "Invalid Refresh Token: Session Expired (Inactivity)")
			}
		}

		issued := ""
		if revoked {
			active, reuse, err := s.reuseOfRevoked(ctx, tx, token, sessionID, updatedAt, now)
			if err != nil {
				return err
			}
			if reuse != nil {
				reused = reuse
				return nil // commit the revocation
			}
			issued = active
		}
		if issued == "" {
			issued = newRefreshToken()
			if _, err := tx.Exec(ctx, `with r as (update auth.refresh_tokens set revoked = true, updated_at = $2 where id = $1),
					t as (insert into auth.refresh_tokens (instance_id, token, user_id, revoked, created_at, updated_at, parent, session_id)
						values ('00000000-0000-0000-0000-000000000000', $3, $4, false, $2, $2, $5, $6))
				update auth.sessions set refreshed_at = $2::timestamptz at time zone 'UTC', updated_at = $2 where id = $6`,
				tokenID, now, issued, u.ID.String(), token, sessionID); err != nil {
				return err
			}
		}
		sess, err = s.sessionResponse(u, sessionID, aal, amr, issued, iss, now)
		return err
	})
	if err != nil {
		var ae *apierr.Error
		if errors.As(err, &ae) {
			return nil, ae
		}
		var pe *pgconn.PgError
		if errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01" || pe.Code == "55P03") {
			return nil, pe
		}
		return nil, dbError(err)
	}
	if reused != nil {
		return nil, reused
	}
	return sess, nil
}

// reuseOfRevoked decides what a revoked refresh token gets (docs/api/auth.md §5), the
// session locked:
//
//   - the parent of the session's active token gets that active token: the
//     client lost the answer to its last refresh, or another tab of it got
//     there first (at any time, as GoTrue);
//   - a token revoked no longer than the reuse interval ago gets the active
//     token too: tabs or servers of one client refreshing at once, the
//     family does not branch;
//   - anything else is reuse of a token that may have been stolen: with
//     rotation on, the session is ended at once, its refresh tokens with
//     it, so the newest token fails its next refresh and the session's
//     access tokens fail wherever the session is checked (GET /user).
//     GoTrue only revokes the family's tokens, and its reuse interval then
//     lets the newest of them refresh again for that long.
//
// A session without an active token is one whose family was revoked: its
// tokens get nothing, within the interval or not. Without rotation a late
// reuse is refused and the session lives on.
func (s *service) reuseOfRevoked(ctx context.Context, tx pgx.Tx, token string, sessionID uuid.UUID,
	revokedAt, now time.Time) (active string, reused *apierr.Error, err error) {
	var parent string
	err = tx.QueryRow(ctx, `select token, coalesce(parent, '') from auth.refresh_tokens
		where session_id = $1 and not coalesce(revoked, false) order by id desc limit 1`, sessionID).Scan(&active, &parent)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return "", nil, err
	}
	switch {
	case active != "" && parent == token:
		return active, nil, nil
	case active != "" && !now.After(revokedAt.Add(s.cfg.reuseInterval)):
		return active, nil, nil
	}
	if s.cfg.rotation {
		if _, err := tx.Exec(ctx, `delete from auth.sessions where id = $1`, sessionID); err != nil {
			return "", nil, err
		}
	}
	return "", badRequest(CodeRefreshTokenAlreadyUsed, "Invalid Refresh Token: Already Used"), nil
}
