package auth

import (
	"context"
	"errors"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"
)

// emptyObject is the {} most mail-sending endpoints answer.
var emptyObject = fiber.Map{}

// recoverParams is POST /recover's body (resetPasswordForEmail).
type recoverParams struct {
	Email               string `json:"email"`
	CodeChallenge       string `json:"code_challenge"`
	CodeChallengeMethod string `json:"code_challenge_method"`
}

// recover mails a password recovery link. Unknown addresses get the same
// {} so addresses cannot be enumerated.
func (s *service) recover(c *fiber.Ctx) error {
	var p recoverParams
	if err := readJSON(c, &p); err != nil {
		return err
	}
	if p.Email == "" {
		return validationFailed("Password recovery requires an email")
	}
	return s.mailToAddress(c, p.Email, p.CodeChallenge, p.CodeChallengeMethod, func(ctx context.Context, tx pgx.Tx, u *user, m *mailTo) error {
		if u == nil {
			return nil
		}
		if err := s.tooSoon(u.RecoverySentAt); err != nil {
			return err
		}
		return s.mailToken(ctx, tx, u, mailRecovery, u.Email, m.redirect, m.base, m.pkce)
	})
}

// mailTo is what recover, otp and resend mail their tokens with.
type mailTo struct {
	email          string // the address, normalized
	redirect, base string
	pkce           *pkceRequest
}

// mailToAddress is what recover, otp and resend share: the address
// normalized, PKCE read, the OTP rate limit per IP, then fn in a
// transaction with the address's user locked (u is nil when nobody has the
// address), and {} as the answer, so that whether an address exists never
// shows.
func (s *service) mailToAddress(c *fiber.Ctx, address, challenge, method string, fn func(ctx context.Context, tx pgx.Tx, u *user, m *mailTo) error) error {
	email, err := normalizeEmail(address)
	if err != nil {
		return err
	}
	pkce, err := pkceFrom(challenge, method)
	if err != nil {
		return err
	}
	ctx, cancel := s.ctx()
	defer cancel()
	if err := s.rateLimit(ctx, "otp", clientOf(c).IP, s.cfg.rateOTP); err != nil {
		return err
	}
	m := &mailTo{email: email, redirect: s.cfg.redirectTo(c.Query("redirect_to")), base: s.externalURL(c), pkce: pkce}
	err = s.tx(ctx, func(tx pgx.Tx) error {
		u, err := userByEmailForUpdate(ctx, tx, email)
		switch {
		case errors.Is(err, errNoUser):
			u = nil
		case err != nil:
			return dbError(err)
		}
		return fn(ctx, tx, u, m)
	})
	if err != nil {
		return err
	}
	return c.JSON(emptyObject)
}

// otpParams is POST /otp's body (signInWithOtp).
type otpParams struct {
	Email               string         `json:"email"`
	Phone               string         `json:"phone"`
	Data                map[string]any `json:"data"`
	CreateUser          *bool          `json:"create_user"`
	Channel             string         `json:"channel"`
	CodeChallenge       string         `json:"code_challenge"`
	CodeChallengeMethod string         `json:"code_challenge_method"`
}

// otp mails a magic link with a one-time code. An unknown address signs up
// (unless create_user is false); an unconfirmed user gets the sign-up
// confirmation, which signs in as well.
func (s *service) otp(c *fiber.Ctx) error {
	var p otpParams
	if err := readJSON(c, &p); err != nil {
		return err
	}
	if p.Email != "" && p.Phone != "" {
		return validationFailed("Only an email address or phone number should be provided")
	}
	if p.Phone != "" {
		return unprocessable(CodePhoneProviderDisabled, "Phone logins are disabled: no SMS provider is configured")
	}
	if p.Email == "" {
		return validationFailed("An email address or phone number is required")
	}
	if !s.cfg.emailEnabled {
		return unprocessable(CodeEmailProviderDisabled, "Email logins are disabled")
	}
	createUser := p.CreateUser == nil || *p.CreateUser
	return s.mailToAddress(c, p.Email, p.CodeChallenge, p.CodeChallengeMethod, func(ctx context.Context, tx pgx.Tx, u *user, m *mailTo) error {
		if u == nil {
			if !createUser {
				return unprocessable(CodeOTPDisabled, "Signups not allowed for otp")
			}
			if s.cfg.disableSignup {
				return unprocessable(CodeSignupDisabled, "Signups not allowed for this instance")
			}
			var err error
			if u, err = s.createUser(ctx, tx, newUser{Email: m.email, Provider: "email", UserMetaData: p.Data}); err != nil {
				return err
			}
		}
		if !u.emailConfirmed() && !s.cfg.autoconfirm {
			if err := s.tooSoon(u.ConfirmationSentAt); err != nil {
				return err
			}
			return s.mailToken(ctx, tx, u, mailSignup, u.Email, m.redirect, m.base, m.pkce)
		}
		if err := s.tooSoon(u.RecoverySentAt); err != nil {
			return err
		}
		return s.mailToken(ctx, tx, u, mailMagicLink, u.Email, m.redirect, m.base, m.pkce)
	})
}

// resendParams is POST /resend's body.
type resendParams struct {
	Type                string `json:"type"`
	Email               string `json:"email"`
	Phone               string `json:"phone"`
	CodeChallenge       string `json:"code_challenge"`
	CodeChallengeMethod string `json:"code_challenge_method"`
}

// resend mails a sign-up confirmation or an email change confirmation
// again. Unknown or already confirmed addresses get {} as well.
func (s *service) resend(c *fiber.Ctx) error {
	var p resendParams
	if err := readJSON(c, &p); err != nil {
		return err
	}
	switch p.Type {
	case "signup", "email_change":
	case "sms", "phone_change":
		return unprocessable(CodePhoneProviderDisabled, "Phone logins are disabled: no SMS provider is configured")
	default:
		return validationFailed("Missing one of these types: signup, email_change, sms, phone_change")
	}
	if p.Email == "" {
		return validationFailed("An email address is required")
	}
	return s.mailToAddress(c, p.Email, p.CodeChallenge, p.CodeChallengeMethod, func(ctx context.Context, tx pgx.Tx, u *user, m *mailTo) error {
		if u == nil {
			return nil
		}
		switch p.Type {
		case "signup":
			if u.emailConfirmed() {
				return nil
			}
			if err := s.tooSoon(u.ConfirmationSentAt); err != nil {
				return err
			}
			return s.mailToken(ctx, tx, u, mailSignup, u.Email, m.redirect, m.base, m.pkce)
		default: // email_change
			if u.EmailChange == "" {
				return nil
			}
			if err := s.tooSoon(u.EmailChangeSentAt); err != nil {
				return err
			}
			if err := s.mailToken(ctx, tx, u, mailEmailChangeNew, u.EmailChange, m.redirect, m.base, m.pkce); err != nil {
				return err
			}
			if s.cfg.secureEmailChange && u.EmailChangeConfirmStatus == 0 && u.Email != "" {
				return s.mailToken(ctx, tx, u, mailEmailChangeCurrent, u.Email, m.redirect, m.base, nil)
			}
			return nil
		}
	})
}

// reauthenticate mails the signed-in user a nonce that PUT /user accepts
// for a password change.
func (s *service) reauthenticate(c *fiber.Ctx) error {
	p, err := s.userPrincipal(c)
	if err != nil {
		return err
	}
	ctx, cancel := s.ctx()
	defer cancel()
	u, err := s.loadPrincipalUser(ctx, s.db, p)
	if err != nil {
		return err
	}
	if u.Email == "" {
		if u.Phone != "" {
			return unprocessable(CodePhoneProviderDisabled, "Phone logins are disabled: no SMS provider is configured")
		}
		return unprocessable(CodeValidationFailed, "Reauthentication requires the user to have an email or a phone number")
	}
	if !u.emailConfirmed() {
		return unprocessable(CodeEmailNotConfirmed, "Please verify your email first.")
	}
	if err := s.rateLimit(ctx, "otp", clientOf(c).IP, s.cfg.rateOTP); err != nil {
		return err
	}
	base := s.externalURL(c)
	err = s.tx(ctx, func(tx pgx.Tx) error {
		u, err := userByIDForUpdate(ctx, tx, u.ID)
		if err != nil {
			return dbError(err)
		}
		if err := s.tooSoon(u.ReauthenticationSentAt); err != nil {
			return err
		}
		return s.mailToken(ctx, tx, u, mailReauthentication, u.Email, "", base, nil)
	})
	if err != nil {
		return err
	}
	return c.JSON(emptyObject)
}
