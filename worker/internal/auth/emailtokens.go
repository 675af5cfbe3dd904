package auth

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// tokenColumns says where a kind of one-time token is kept on auth.users.
type tokenColumns struct {
	token, sentAt string
	verifyType    string // the verify "type" its link carries
}

var tokenKinds = map[string]tokenColumns{
	mailSignup:             {"confirmation_token", "confirmation_sent_at", "signup"},
	mailInvite:             {"confirmation_token", "confirmation_sent_at", "invite"},
	mailMagicLink:          {"recovery_token", "recovery_sent_at", "magiclink"},
	mailRecovery:           {"recovery_token", "recovery_sent_at", "recovery"},
	mailEmailChangeNew:     {"email_change_token_new", "email_change_sent_at", "email_change"},
	mailEmailChangeCurrent: {"email_change_token_current", "email_change_sent_at", "email_change"},
	mailReauthentication:   {"reauthentication_token", "reauthentication_sent_at", ""},
}

// emailToken is a one-time token just issued.
type emailToken struct {
	OTP       string // the code the user types
	Hash      string // hex SHA-224 of address and code (token_hash)
	Stored    string // what the column holds: Hash, or pkce_Hash
	Link      string // the verify link ("" for reauthentication)
	SentAt    time.Time
	Redirect  string
	VerifyTyp string
}

// pkceRequest is a PKCE code challenge sent with a flow that mails a link.
type pkceRequest struct {
	Challenge, Method string
}

// issueEmailToken makes a one-time token of kind for address, stores it on
// the user (with the sent time), and, for PKCE, starts the flow state. It
// does not send anything: callers mail it (or return it, generate_link).
func (s *service) issueEmailToken(ctx context.Context, q querier, u *user, kind, address, redirect, base string, pkce *pkceRequest) (*emailToken, error) {
	cols := tokenKinds[kind]
	now := s.now().UTC().Round(time.Microsecond)
	t := &emailToken{OTP: newOTP(s.cfg.otpLength), SentAt: now, Redirect: redirect, VerifyTyp: cols.verifyType}
	t.Hash = tokenHash(address, t.OTP)
	t.Stored = t.Hash
	if pkce != nil && pkce.Challenge != "" {
		t.Stored = pkcePrefix + t.Hash
		if err := s.createFlowState(ctx, q, u.ID, pkce, flowMethod(kind), now); err != nil {
			return nil, err
		}
	}
	// Column names come from the fixed table above, never from input.
	if _, err := q.Exec(ctx, `update auth.users set `+cols.token+` = $2, `+cols.sentAt+` = $3 where id = $1`,
		u.ID, t.Stored, now); err != nil {
		return nil, dbError(err)
	}
	switch kind {
	case mailSignup, mailInvite:
		u.ConfirmationToken, u.ConfirmationSentAt = t.Stored, &now
	case mailMagicLink, mailRecovery:
		u.RecoveryToken, u.RecoverySentAt = t.Stored, &now
	case mailEmailChangeNew:
		u.EmailChangeTokenNew, u.EmailChangeSentAt = t.Stored, &now
	case mailEmailChangeCurrent:
		u.EmailChangeTokenCurrent, u.EmailChangeSentAt = t.Stored, &now
	case mailReauthentication:
		u.ReauthenticationToken, u.ReauthenticationSentAt = t.Stored, &now
	}
	if cols.verifyType != "" {
		t.Link = verifyLink(base, t.Stored, cols.verifyType, redirect)
	}
	return t, nil
}

// mailToken issues a token of kind and mails it to address.
func (s *service) mailToken(ctx context.Context, q querier, u *user, kind, address, redirect, base string, pkce *pkceRequest) error {
	t, err := s.issueEmailToken(ctx, q, u, kind, address, redirect, base, pkce)
	if err != nil {
		return err
	}
	newEmail := u.EmailChange
	return s.sendMail(ctx, kind, address, mailData{
		Link: t.Link, OTP: t.OTP, TokenHash: t.Hash, Email: u.Email, NewEmail: newEmail, RedirectTo: redirect,
	})
}

// flowMethod is the flow_state authentication method of a mail kind.
func flowMethod(kind string) string {
	switch kind {
	case mailSignup:
		return methodEmailSignup
	case mailInvite:
		return methodInvite
	case mailMagicLink:
		return methodMagicLink
	case mailRecovery:
		return methodRecovery
	case mailEmailChangeNew, mailEmailChangeCurrent:
		return methodEmailChange
	}
	return kind
}

// confirmEmail marks the user's email confirmed (and the user no longer
// anonymous), as GoTrue's Confirm does: email_verified in the metadata and
// the email identity.
func (s *service) confirmEmail(ctx context.Context, q querier, u *user) error {
	now := s.now().UTC().Round(time.Microsecond)
	_, err := q.Exec(ctx, `with i as (update auth.identities
			set identity_data = identity_data || '{"email_verified": true}'::jsonb, updated_at = $2
			where user_id = $1 and provider = 'email')
		update auth.users set email_confirmed_at = coalesce(email_confirmed_at, $2), confirmation_token = '',
			raw_user_meta_data = coalesce(raw_user_meta_data, '{}'::jsonb) || '{"email_verified": true}'::jsonb,
			updated_at = $2
		where id = $1`, u.ID, now)
	if err != nil {
		return dbError(err)
	}
	return nil
}

// reload reads the user again (after triggers or several updates).
func (s *service) reload(ctx context.Context, q querier, id uuid.UUID) (*user, error) {
	u, err := userByID(ctx, q, id)
	if err != nil {
		return nil, dbError(err)
	}
	return u, nil
}
