package auth

import (
	"context"
	"errors"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// loadPrincipalUser loads the user of a user access token and checks that
// its session still exists (403 user_not_found / session_not_found).
func (s *service) loadPrincipalUser(ctx context.Context, q querier, p *principal) (*user, error) {
	return principalUser(ctx, q, p, userWithSession)
}

// principalUser is loadPrincipalUser with the lookup to use.
func principalUser(ctx context.Context, q querier, p *principal,
	load func(ctx context.Context, q querier, id, sessionID uuid.UUID) (*user, bool, error)) (*user, error) {
	u, ok, err := load(ctx, q, p.UserID, p.SessionID)
	if errors.Is(err, errNoUser) {
		return nil, forbidden(CodeUserNotFound, "User from sub claim in JWT does not exist")
	}
	if err != nil {
		return nil, dbError(err)
	}
	if p.SessionID != uuid.Nil && !ok {
		return nil, forbidden(CodeSessionNotFound, "Session from session_id claim in JWT does not exist")
	}
	return u, nil
}

// getUser is GET /user: the signed-in user, in one statement.
func (s *service) getUser(c *fiber.Ctx) error {
	p, err := s.userPrincipal(c)
	if err != nil {
		return err
	}
	// showUser bounds the read's time itself (a batch's deadline covers
	// the reads it carries), so this busiest route makes no context of its
	// own.
	u, err := principalUser(s.base, s.db, p, s.showUser)
	if err != nil {
		return err
	}
	return sendUser(c, u)
}

// sendUser answers 200 with the user object, written straight into the
// response's body buffer (pooled by fasthttp with its capacity).
func sendUser(c *fiber.Ctx, u *user) error {
	resp := c.Response()
	if u.shown != nil {
		resp.SetBodyRaw(u.shown)
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		return nil
	}
	b, err := u.wire().appendJSON(resp.SwapBody(nil)[:0])
	resp.SwapBody(b)
	if err != nil {
		resp.ResetBody()
		return internalError("Unable to write the user", err)
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return nil
}

// updateUserParams is PUT /user's body (auth-js updateUser).
type updateUserParams struct {
	Email               *string        `json:"email"`
	Phone               *string        `json:"phone"`
	Password            *string        `json:"password"`
	CurrentPassword     *string        `json:"current_password"`
	Nonce               string         `json:"nonce"`
	Data                map[string]any `json:"data"`
	AppData             map[string]any `json:"app_metadata"`
	Channel             string         `json:"channel"`
	CodeChallenge       string         `json:"code_challenge"`
	CodeChallengeMethod string         `json:"code_challenge_method"`
}

// reauthWindow is how old a session may be before a password change needs
// a reauthentication nonce (with AUTH_SECURE_PASSWORD_CHANGE).
const reauthWindow = 24 * time.Hour

// updateUser is PUT /user: metadata merge, password change (which signs out
// the user's other sessions) and email change (confirmed by mail unless
// autoconfirm is on).
func (s *service) updateUser(c *fiber.Ctx) error {
	p, err := s.userPrincipal(c)
	if err != nil {
		return err
	}
	var params updateUserParams
	if err := readJSON(c, &params); err != nil {
		return err
	}
	if params.AppData != nil {
		return forbidden(CodeNotAdmin, "Updating app_metadata requires admin privileges")
	}
	if params.Phone != nil && *params.Phone != "" {
		return unprocessable(CodePhoneProviderDisabled, "Phone provider is disabled: phone numbers cannot be changed")
	}
	pkce, err := pkceFrom(params.CodeChallenge, params.CodeChallengeMethod)
	if err != nil {
		return err
	}
	ctx, cancel := s.ctx()
	defer cancel()
	u, err := s.loadPrincipalUser(ctx, s.db, p)
	if err != nil {
		return err
	}
	if u.banned(s.now()) {
		return forbidden(CodeUserBanned, "User is banned")
	}

	var newEmail string
	if params.Email != nil && *params.Email != "" {
		if newEmail, err = normalizeEmail(*params.Email); err != nil {
			return err
		}
		if newEmail == u.Email {
			newEmail = ""
		}
	}

	var encrypted string
	if params.Password != nil {
		pw := *params.Password
		if u.IsAnonymous && u.Email == "" && u.Phone == "" {
			return unprocessable(CodeValidationFailed, "Updating password of an anonymous user without an email or phone is not allowed")
		}
		if werr := s.cfg.checkPassword(pw); werr != nil {
			return werr
		}
		if u.EncryptedPassword != "" {
			same, err := s.hasher.compare(ctx, u.EncryptedPassword, pw)
			if err != nil {
				return internalError("Unexpected failure", err)
			}
			if same {
				return unprocessable(CodeSamePassword, "New password should be different from the old password.")
			}
		}
		if s.cfg.reauthPassword {
			if err := s.checkReauth(ctx, u, p.SessionID, params.Nonce); err != nil {
				return err
			}
		}
		if encrypted, err = s.hasher.hash(ctx, pw); err != nil {
			return internalError("Unexpected failure", err)
		}
	}

	redirect := s.cfg.redirectTo(c.Query("redirect_to"))
	base := s.externalURL(c)
	err = s.tx(ctx, func(tx pgx.Tx) error {
		u, err := userByIDForUpdate(ctx, tx, u.ID)
		if errors.Is(err, errNoUser) {
			return forbidden(CodeUserNotFound, "User from sub claim in JWT does not exist")
		}
		if err != nil {
			return dbError(err)
		}
		now := s.now().UTC().Round(time.Microsecond)
		if params.Data != nil {
			if _, err := tx.Exec(ctx, `update auth.users set raw_user_meta_data = $2, updated_at = $3 where id = $1`,
				u.ID, mergeMetadata(u.UserMetaData, params.Data), now); err != nil {
				return dbError(err)
			}
		}
		if encrypted != "" {
			if _, err := tx.Exec(ctx, `update auth.users set encrypted_password = $2, reauthentication_token = '',
				updated_at = $3 where id = $1`, u.ID, encrypted, now); err != nil {
				return dbError(err)
			}
			if _, err := tx.Exec(ctx, `delete from auth.sessions where user_id = $1 and id <> $2`, u.ID, p.SessionID); err != nil {
				return dbError(err)
			}
		}
		if newEmail != "" {
			if err := s.changeEmail(ctx, tx, u, newEmail, redirect, base, pkce); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	u, err = s.reload(ctx, s.db, u.ID)
	if err != nil {
		return err
	}
	return c.JSON(u.wire())
}

// changeEmail starts (or, with autoconfirm, makes) a user's email change.
func (s *service) changeEmail(ctx context.Context, tx pgx.Tx, u *user, newEmail, redirect, base string, pkce *pkceRequest) error {
	taken, err := emailTaken(ctx, tx, newEmail, u.ID)
	if err != nil {
		return dbError(err)
	}
	if taken {
		return errEmailExists
	}
	if s.cfg.autoconfirm {
		u.EmailChange = newEmail
		return s.applyEmailChange(ctx, tx, u)
	}
	if err := s.tooSoon(u.EmailChangeSentAt); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `update auth.users set email_change = $2, email_change_confirm_status = 0,
		email_change_token_new = '', email_change_token_current = '' where id = $1`, u.ID, newEmail); err != nil {
		return dbError(err)
	}
	u.EmailChange = newEmail
	if err := s.mailToken(ctx, tx, u, mailEmailChangeNew, newEmail, redirect, base, pkce); err != nil {
		return err
	}
	if s.cfg.secureEmailChange && u.Email != "" {
		return s.mailToken(ctx, tx, u, mailEmailChangeCurrent, u.Email, redirect, base, nil)
	}
	return nil
}

// applyEmailChange makes the pending email the user's, confirmed, and keeps
// the email identity in step; an anonymous user becomes a permanent one.
func (s *service) applyEmailChange(ctx context.Context, tx pgx.Tx, u *user) error {
	now := s.now().UTC().Round(time.Microsecond)
	if _, err := tx.Exec(ctx, `update auth.users set email = $2::text, email_change = '', email_change_token_new = '',
		email_change_token_current = '', email_change_confirm_status = 0, email_change_sent_at = null,
		email_confirmed_at = coalesce(email_confirmed_at, $3), is_anonymous = false, updated_at = $3,
		raw_user_meta_data = case when coalesce(raw_user_meta_data, '{}'::jsonb) ? 'email'
			then raw_user_meta_data || jsonb_build_object('email', $2::text) else raw_user_meta_data end
		where id = $1`, u.ID, u.EmailChange, now); err != nil {
		if isUniqueViolation(err) {
			return errEmailExists
		}
		return dbError(err)
	}
	if err := insertIdentity(ctx, tx, u.ID, "email", map[string]any{
		"sub": u.ID.String(), "email": u.EmailChange, "email_verified": true, "phone_verified": false,
	}, now); err != nil {
		return dbError(err)
	}
	if err := addProvider(ctx, tx, u.ID, "email"); err != nil {
		return dbError(err)
	}
	return nil
}

// checkReauth enforces AUTH_SECURE_PASSWORD_CHANGE: a session older than
// reauthWindow needs the nonce GET /reauthenticate mailed.
func (s *service) checkReauth(ctx context.Context, u *user, sessionID uuid.UUID, nonce string) error {
	var created time.Time
	err := s.db.QueryRow(ctx, `select coalesce(created_at, now()) from auth.sessions where id = $1`, sessionID).Scan(&created)
	if err == nil && s.now().Before(created.Add(reauthWindow)) {
		return nil
	}
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return dbError(err)
	}
	if nonce == "" {
		return badRequest(CodeReauthenticationNeeded, "Password update requires reauthentication")
	}
	address := u.Email
	if address == "" {
		address = u.Phone
	}
	expired := u.ReauthenticationSentAt == nil || s.now().After(u.ReauthenticationSentAt.Add(s.cfg.otpExp))
	if expired || u.ReauthenticationToken == "" || !tokenEqual(u.ReauthenticationToken, tokenHash(address, nonce)) {
		return unprocessable(CodeReauthenticationNotValid, "Requested password update is invalid or nonce has expired")
	}
	return nil
}

// mergeMetadata applies a metadata update: keys with null values are
// removed, others set.
func mergeMetadata(cur, upd map[string]any) map[string]any {
	out := make(map[string]any, len(cur)+len(upd))
	for k, v := range cur {
		out[k] = v
	}
	for k, v := range upd {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}
