package auth

import (
	"context"
	"errors"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"
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
		return nil, errEmailExists
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

// linkKinds maps generate_link's types to the mail kind whose token the
// link carries.
var linkKinds = map[string]string{
	"signup":               mailSignup,
	"invite":               mailInvite,
	"magiclink":            mailMagicLink,
	"recovery":             mailRecovery,
	"email_change_current": mailEmailChangeCurrent,
	"email_change_new":     mailEmailChangeNew,
}

// linkRequest is a checked generate_link request.
type linkRequest struct {
	kind        string // the mail kind
	email       string // normalized
	newEmail    string // normalized; email change links only
	password    string // signup links only
	data        map[string]any
	rawRedirect string // as asked: ?redirect_to=, else the body's
}

// generateLink makes the link (and code) a mail would carry, without
// sending it, for apps that send their own mails.
func (s *service) generateLink(c *fiber.Ctx) error {
	req, err := parseLinkRequest(c)
	if err != nil {
		return err
	}
	ctx, cancel := s.ctx()
	defer cancel()
	encrypted, err := s.linkPassword(ctx, req)
	if err != nil {
		return err
	}
	redirect, base := s.cfg.redirectTo(req.rawRedirect), s.externalURL(c)
	var (
		u   *user
		tok *emailToken
	)
	err = s.tx(ctx, func(tx pgx.Tx) error {
		var err error
		u, tok, err = s.issueLink(ctx, tx, req, encrypted, redirect, base)
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

// parseLinkRequest reads and checks the request.
func parseLinkRequest(c *fiber.Ctx) (*linkRequest, error) {
	var p generateLinkParams
	if err := readJSON(c, &p); err != nil {
		return nil, err
	}
	kind, ok := linkKinds[p.Type]
	if !ok {
		return nil, validationFailed("Invalid email action link type requested")
	}
	email, err := normalizeEmail(p.Email)
	if err != nil {
		return nil, err
	}
	req := &linkRequest{kind: kind, email: email, data: p.Data}
	if kind == mailSignup {
		req.password = p.Password
	}
	if kind == mailEmailChangeCurrent || kind == mailEmailChangeNew {
		if p.NewEmail == "" {
			return nil, validationFailed("The new email address is required to generate an email change link")
		}
		if req.newEmail, err = normalizeEmail(p.NewEmail); err != nil {
			return nil, err
		}
	}
	for _, r := range []string{c.Query("redirect_to"), p.RedirectTo, p.Redirect2} {
		if r != "" {
			req.rawRedirect = r
			break
		}
	}
	return req, nil
}

// linkPassword checks and hashes a signup link's password ("" when none).
func (s *service) linkPassword(ctx context.Context, req *linkRequest) (string, error) {
	if req.password == "" {
		return "", nil
	}
	if werr := s.cfg.checkPassword(req.password); werr != nil {
		return "", werr
	}
	encrypted, err := s.hasher.hash(ctx, req.password)
	if err != nil {
		return "", internalError("Unexpected failure", err)
	}
	return encrypted, nil
}

// issueLink finds or makes the link's user, issues its token (sent to the
// new address for email_change_new) and returns the user as it is now.
func (s *service) issueLink(ctx context.Context, tx pgx.Tx, req *linkRequest, encrypted, redirect, base string) (*user, *emailToken, error) {
	existing, err := userByEmail(ctx, tx, req.email)
	if errors.Is(err, errNoUser) {
		existing = nil
	} else if err != nil {
		return nil, nil, dbError(err)
	}
	var u *user
	switch req.kind {
	case mailSignup:
		u, err = s.signupLinkUser(ctx, tx, existing, req, encrypted)
	case mailInvite:
		u, err = s.inviteUser(ctx, tx, req.email, req.data)
	case mailMagicLink:
		u, err = s.magicLinkUser(ctx, tx, existing, req)
	case mailRecovery:
		u = existing
		if u == nil {
			err = errUserNotFound
		}
	default: // email change
		u, err = emailChangeLinkUser(ctx, tx, existing, req.newEmail)
	}
	if err != nil {
		return nil, nil, err
	}
	address := u.Email
	if req.kind == mailEmailChangeNew {
		address = req.newEmail
	}
	tok, err := s.issueEmailToken(ctx, tx, u, req.kind, address, redirect, base, nil)
	if err != nil {
		return nil, nil, err
	}
	if u, err = s.reload(ctx, tx, u.ID); err != nil {
		return nil, nil, err
	}
	return u, tok, nil
}

// signupLinkUser is a signup link's user: a new one (with the password), or
// the unconfirmed one of the address (its password replaced when one is
// given); a confirmed address is email_exists.
func (s *service) signupLinkUser(ctx context.Context, tx pgx.Tx, existing *user, req *linkRequest, encrypted string) (*user, error) {
	switch {
	case existing == nil:
		if encrypted == "" {
			return nil, validationFailed("Signup requires a valid password")
		}
		return s.createUser(ctx, tx, newUser{Email: req.email, Encrypted: encrypted, Provider: "email", UserMetaData: req.data})
	case existing.emailConfirmed():
		return nil, errEmailExists
	}
	if encrypted != "" {
		if _, err := tx.Exec(ctx, `update auth.users set encrypted_password = $2 where id = $1`, existing.ID, encrypted); err != nil {
			return nil, dbError(err)
		}
	}
	return existing, nil
}

// magicLinkUser is a magic link's user: the address's, or a new one (a
// magic link to an unknown address signs up, unless signups are off).
func (s *service) magicLinkUser(ctx context.Context, tx pgx.Tx, existing *user, req *linkRequest) (*user, error) {
	if existing != nil {
		return existing, nil
	}
	if s.cfg.disableSignup {
		return nil, unprocessable(CodeSignupDisabled, "Signups not allowed for this instance")
	}
	return s.createUser(ctx, tx, newUser{Email: req.email, Provider: "email", UserMetaData: req.data})
}

// emailChangeLinkUser is an email change link's user, with newEmail made
// its pending change (any earlier change's tokens dropped).
func emailChangeLinkUser(ctx context.Context, tx pgx.Tx, existing *user, newEmail string) (*user, error) {
	if existing == nil {
		return nil, errUserNotFound
	}
	u := existing
	taken, err := emailTaken(ctx, tx, newEmail, u.ID)
	if err != nil {
		return nil, dbError(err)
	}
	if taken {
		return nil, errEmailExists
	}
	if _, err := tx.Exec(ctx, `update auth.users set email_change = $2, email_change_confirm_status = 0,
		email_change_token_new = '', email_change_token_current = '' where id = $1`, u.ID, newEmail); err != nil {
		return nil, dbError(err)
	}
	u.EmailChange, u.EmailChangeTokenNew, u.EmailChangeTokenCurrent = newEmail, "", ""
	return u, nil
}
