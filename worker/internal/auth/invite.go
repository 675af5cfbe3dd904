package auth

import (
	"context"
	"errors"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"
	"github.com/madbase/madbase/shared/apierr"
)

// inviteParams is POST /invite's body (admin inviteUserByEmail).
type inviteParams struct {
	Email string         `json:"email"`
	Data  map[string]any `json:"data"`
}

// invite creates (or re-invites) a user without a password and mails them
// a link that confirms the address and signs them in.
func (s *service) invite(c *fiber.Ctx) error {
	var p inviteParams
	if err := readJSON(c, &p); err != nil {
		return err
	}
	email, err := normalizeEmail(p.Email)
	if err != nil {
		return err
	}
	ctx, cancel := s.ctx()
	defer cancel()
	redirect, base := s.cfg.redirectTo(c.Query("redirect_to")), s.externalURL(c)
	var u *user
	err = s.tx(ctx, func(tx pgx.Tx) error {
		var err error
		u, err = s.inviteUser(ctx, tx, email, p.Data)
		if err != nil {
			return err
		}
		if err := s.mailToken(ctx, tx, u, mailInvite, u.Email, redirect, base, nil); err != nil {
			return err
		}
		u, err = s.reload(ctx, tx, u.ID)
		return err
	})
	if err != nil {
		return err
	}
	return c.JSON(u.wire())
}

// inviteUser finds or creates the invited user; a confirmed address is 422
// email_exists.
func (s *service) inviteUser(rctx context.Context, tx pgx.Tx, email string, data map[string]any) (*user, error) {
	u, err := userByEmail(rctx, tx, email)
	switch {
	case errors.Is(err, errNoUser):
		return s.createUser(rctx, tx, newUser{Email: email, Provider: "email", UserMetaData: data, Invited: true})
	case err != nil:
		return nil, dbError(err)
	case u.emailConfirmed():
		return nil, unprocessable(CodeEmailExists, "A user with this email address has already been registered")
	}
	if _, err := tx.Exec(rctx, `update auth.users set invited_at = $2 where id = $1`, u.ID, s.now().UTC()); err != nil {
		return nil, dbError(err)
	}
	return s.reload(rctx, tx, u.ID)
}

// generateLinkParams is POST /admin/generate_link's body (options spread in).
type generateLinkParams struct {
	Type       string         `json:"type"`
	Email      string         `json:"email"`
	NewEmail   string         `json:"new_email"`
	Password   string         `json:"password"`
	Data       map[string]any `json:"data"`
	RedirectTo string         `json:"redirect_to"`
	Redirect2  string         `json:"redirectTo"`
}

// generateLinkBody is the flat answer: the user's fields, then the link's.
type generateLinkBody struct {
	user                                                            *userJSON
	actionLink, emailOTP, hashedToken, verificationType, redirectTo string
}

// MarshalJSON writes the user object with the link's members added.
func (g generateLinkBody) MarshalJSON() ([]byte, error) {
	b, err := g.user.appendJSON(make([]byte, 0, 1024))
	if err != nil {
		return nil, err
	}
	w := objectWriter{b: b[:len(b)-1]} // reopened before its closing brace
	w.str(`,"action_link":`, g.actionLink)
	w.str(`,"email_otp":`, g.emailOTP)
	w.str(`,"hashed_token":`, g.hashedToken)
	w.str(`,"verification_type":`, g.verificationType)
	w.str(`,"redirect_to":`, g.redirectTo)
	return append(w.b, '}'), nil
}

// generateLink makes the link (and code) a mail would carry, without
// sending it, for apps that send their own mails.
func (s *service) generateLink(c *fiber.Ctx) error {
	var p generateLinkParams
	if err := readJSON(c, &p); err != nil {
		return err
	}
	var kind string
	switch p.Type {
	case "signup":
		kind = mailSignup
	case "invite":
		kind = mailInvite
	case "magiclink":
		kind = mailMagicLink
	case "recovery":
		kind = mailRecovery
	case "email_change_current":
		kind = mailEmailChangeCurrent
	case "email_change_new":
		kind = mailEmailChangeNew
	default:
		return validationFailed("Invalid email action link type requested")
	}
	email, err := normalizeEmail(p.Email)
	if err != nil {
		return err
	}
	var newEmail string
	if kind == mailEmailChangeCurrent || kind == mailEmailChangeNew {
		if p.NewEmail == "" {
			return validationFailed("The new email address is required to generate an email change link")
		}
		if newEmail, err = normalizeEmail(p.NewEmail); err != nil {
			return err
		}
	}
	ctx, cancel := s.ctx()
	defer cancel()
	var encrypted string
	if kind == mailSignup && p.Password != "" {
		if werr := s.cfg.checkPassword(p.Password); werr != nil {
			return werr
		}
		if encrypted, err = s.hasher.hash(ctx, p.Password); err != nil {
			return internalError("Unexpected failure", err)
		}
	}
	rawRedirect := c.Query("redirect_to")
	if rawRedirect == "" {
		rawRedirect = p.RedirectTo
	}
	if rawRedirect == "" {
		rawRedirect = p.Redirect2
	}
	redirect, base := s.cfg.redirectTo(rawRedirect), s.externalURL(c)
	var (
		u   *user
		tok *emailToken
	)
	err = s.tx(ctx, func(tx pgx.Tx) error {
		existing, err := userByEmail(ctx, tx, email)
		if err != nil && !errors.Is(err, errNoUser) {
			return dbError(err)
		}
		switch kind {
		case mailSignup:
			switch {
			case existing == nil:
				if encrypted == "" {
					return validationFailed("Signup requires a valid password")
				}
				u, err = s.createUser(ctx, tx, newUser{Email: email, Encrypted: encrypted, Provider: "email", UserMetaData: p.Data})
			case existing.emailConfirmed():
				return unprocessable(CodeEmailExists, "A user with this email address has already been registered")
			default:
				u = existing
				if encrypted != "" {
					_, err = tx.Exec(ctx, `update auth.users set encrypted_password = $2 where id = $1`, u.ID, encrypted)
				}
			}
		case mailInvite:
			u, err = s.inviteUser(ctx, tx, email, p.Data)
		case mailMagicLink:
			if existing == nil {
				if s.cfg.disableSignup {
					return unprocessable(CodeSignupDisabled, "Signups not allowed for this instance")
				}
				u, err = s.createUser(ctx, tx, newUser{Email: email, Provider: "email", UserMetaData: p.Data})
			} else {
				u = existing
			}
		case mailRecovery:
			if existing == nil {
				return errUserNotFound
			}
			u = existing
		default: // email change
			if existing == nil {
				return errUserNotFound
			}
			u = existing
			taken, terr := emailTaken(ctx, tx, newEmail, u.ID)
			if terr != nil {
				return dbError(terr)
			}
			if taken {
				return unprocessable(CodeEmailExists, "A user with this email address has already been registered")
			}
			_, err = tx.Exec(ctx, `update auth.users set email_change = $2, email_change_confirm_status = 0,
				email_change_token_new = '', email_change_token_current = '' where id = $1`, u.ID, newEmail)
			u.EmailChange, u.EmailChangeTokenNew, u.EmailChangeTokenCurrent = newEmail, "", ""
		}
		if err != nil {
			var ae *apierr.Error
			if errors.As(err, &ae) {
				return ae
			}
			return dbError(err)
		}
		address := u.Email
		if kind == mailEmailChangeNew {
			address = newEmail
		}
		if tok, err = s.issueEmailToken(ctx, tx, u, kind, address, redirect, base, nil); err != nil {
			return err
		}
		u, err = s.reload(ctx, tx, u.ID)
		return err
	})
	if err != nil {
		return err
	}
	return c.JSON(generateLinkBody{
		user:             u.wire(),
		actionLink:       tok.Link,
		emailOTP:         tok.OTP,
		hashedToken:      tok.Hash,
		verificationType: tok.VerifyTyp,
		redirectTo:       redirect,
	})
}
