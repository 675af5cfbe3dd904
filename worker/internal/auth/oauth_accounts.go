package auth

import (
	"context"
	"errors"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/madbase/madbase/shared/apierr"
)

// externalSignIn is a provider's user signing in, or being linked to a
// signed-in user.
type externalSignIn struct {
	provider string
	user     *providerUser
	// linkTo is the user the identity is linked to (uuid.Nil: a sign-in).
	linkTo uuid.UUID
	// redirect and base build the link of a confirmation mail.
	redirect, base string
}

// externalAccount finds, links or creates the user of a provider identity,
// as GoTrue decides (its default linking domain):
//
//   - the identity (provider, subject) is known: its user, the identity data
//     refreshed;
//   - else a user whose address is one of the provider's verified
//     addresses gets the identity linked;
//   - else a new user with the provider's address, unless sign-ups are off.
//
// A user whose address is not confirmed loses the identities and password
// nobody proved, and is confirmed when the provider verified the address
// (or autoconfirm is on); else a confirmation mail goes out and pending is
// the 422 to answer once the transaction committed.
func (s *service) externalAccount(ctx context.Context, tx pgx.Tx, in externalSignIn) (u *user, pending *apierr.Error, err error) {
	pu := in.user
	if len(pu.Emails) == 0 {
		return nil, nil, internalError("Error getting user email from external provider", errors.New("the provider gave no email address"))
	}
	chosen := pu.email()
	email, verr := normalizeEmail(chosen.Address)
	if verr != nil {
		return nil, nil, internalError("Error getting user email from external provider", verr)
	}
	data := make(map[string]any, len(pu.Data)+2)
	for k, v := range pu.Data {
		data[k] = v
	}
	data["email"], data["email_verified"] = email, chosen.Verified
	if in.linkTo != uuid.Nil {
		return s.linkExternal(ctx, tx, in, data, email, chosen.Verified)
	}
	now := s.externalTime()

	var (
		uid        uuid.UUID
		identityID uuid.UUID
		created    bool
	)
	err = tx.QueryRow(ctx, `update auth.identities set identity_data = $3, updated_at = $4
		where provider_id = $1 and provider = $2 returning user_id, id`, pu.Subject, in.provider, data, now).Scan(&uid, &identityID)
	switch {
	case err == nil:
		if err := mergeIdentityData(ctx, tx, uid, in.provider, data); err != nil {
			return nil, nil, err
		}
	case errors.Is(err, pgx.ErrNoRows):
		var verified []string
		for _, e := range pu.Emails {
			if a, err := normalizeEmail(e.Address); err == nil && e.Verified {
				verified = append(verified, a)
			}
		}
		var ids []uuid.UUID
		if len(verified) > 0 {
			rows, err := tx.Query(ctx, `select id from auth.users where email = any($1) and not is_sso_user limit 2`, verified)
			if err != nil {
				return nil, nil, dbError(err)
			}
			ids, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
			if err != nil {
				return nil, nil, dbError(err)
			}
		}
		switch len(ids) {
		case 0:
			if s.cfg.disableSignup {
				return nil, nil, unprocessable(CodeSignupDisabled, "Signups not allowed for this instance")
			}
			nu, err := s.createUser(ctx, tx, newUser{Email: email, Provider: in.provider, UserMetaData: data})
			if err != nil {
				return nil, nil, err
			}
			uid, created = nu.ID, true
		case 1:
			uid = ids[0]
			if err := mergeIdentityData(ctx, tx, uid, in.provider, data); err != nil {
				return nil, nil, err
			}
		default:
			return nil, nil, internalError("Multiple accounts with the same email address in the same linking domain detected: default", nil)
		}
		if identityID, err = insertExternalIdentity(ctx, tx, uid, in.provider, pu.Subject, data, now); err != nil {
			return nil, nil, err
		}
	default:
		return nil, nil, dbError(err)
	}

	u, err = userByIDForUpdate(ctx, tx, uid)
	if err != nil {
		return nil, nil, dbError(err)
	}
	if u.banned(s.now()) {
		return nil, nil, forbidden(CodeUserBanned, "User is banned")
	}
	if !u.emailConfirmed() {
		if !created {
			// Nobody proved the other ways in: they go, as in GoTrue, so an
			// account made beforehand with the victim's address is no door.
			if _, err := tx.Exec(ctx, `with i as (delete from auth.identities where user_id = $1 and id <> $2)
				update auth.users set encrypted_password = '', phone = null, phone_confirmed_at = null where id = $1`,
				uid, identityID); err != nil {
				return nil, nil, dbError(err)
			}
		}
		if chosen.Verified || s.cfg.autoconfirm {
			if err := s.confirmEmail(ctx, tx, u); err != nil {
				return nil, nil, err
			}
		} else {
			if u.Email == "" {
				return nil, nil, internalError("Error getting user email from external provider", errors.New("the user has no address"))
			}
			if err := s.mailToken(ctx, tx, u, mailSignup, u.Email, in.redirect, in.base, nil); err != nil {
				return nil, nil, err
			}
			return nil, unprocessable(CodeProviderEmailNeedsVerify,
				"Unverified email with %s. A confirmation email has been sent to your %s email", in.provider, in.provider), nil
		}
	}
	u, err = s.reload(ctx, tx, uid)
	return u, nil, err
}

// linkExternal links a provider identity to a signed-in user
// (linkIdentity); a user without an address takes the identity's.
func (s *service) linkExternal(ctx context.Context, tx pgx.Tx, in externalSignIn, data map[string]any, email string, verified bool) (*user, *apierr.Error, error) {
	var owner uuid.UUID
	err := tx.QueryRow(ctx, `select user_id from auth.identities where provider_id = $1 and provider = $2`,
		in.user.Subject, in.provider).Scan(&owner)
	switch {
	case err == nil && owner == in.linkTo:
		return nil, nil, unprocessable(CodeIdentityAlreadyExists, "Identity is already linked")
	case err == nil:
		return nil, nil, unprocessable(CodeIdentityAlreadyExists, "Identity is already linked to another user")
	case !errors.Is(err, pgx.ErrNoRows):
		return nil, nil, dbError(err)
	}
	u, err := userByIDForUpdate(ctx, tx, in.linkTo)
	if errors.Is(err, errNoUser) {
		return nil, nil, unprocessable(CodeUserNotFound, "Linking target user not found")
	}
	if err != nil {
		return nil, nil, dbError(err)
	}
	now := s.externalTime()
	if _, err := insertExternalIdentity(ctx, tx, u.ID, in.provider, in.user.Subject, data, now); err != nil {
		return nil, nil, err
	}
	if err := addProvider(ctx, tx, u.ID, in.provider); err != nil {
		return nil, nil, dbError(err)
	}
	if u.Email == "" {
		taken, err := emailTaken(ctx, tx, email, u.ID)
		if err != nil {
			return nil, nil, dbError(err)
		}
		if taken {
			return nil, nil, badRequest(CodeEmailExists, "A user with this email address has already been registered")
		}
		if _, err := tx.Exec(ctx, `update auth.users set email = $2, updated_at = $3 where id = $1`, u.ID, email, now); err != nil {
			return nil, nil, dbError(err)
		}
		u.Email = email
		if !verified {
			if err := s.mailToken(ctx, tx, u, mailSignup, email, in.redirect, in.base, nil); err != nil {
				return nil, nil, err
			}
			return nil, unprocessable(CodeEmailNotConfirmed,
				"Unverified email with %s. A confirmation email has been sent to your %s email", in.provider, in.provider), nil
		}
		if err := s.confirmEmail(ctx, tx, u); err != nil {
			return nil, nil, err
		}
		if _, err := tx.Exec(ctx, `update auth.users set is_anonymous = false where id = $1`, u.ID); err != nil {
			return nil, nil, dbError(err)
		}
	}
	u, err = s.reload(ctx, tx, u.ID)
	return u, nil, err
}

// insertExternalIdentity adds a provider identity (subject sub) to a user.
func insertExternalIdentity(ctx context.Context, tx pgx.Tx, userID uuid.UUID, provider, sub string, data map[string]any, now any) (uuid.UUID, error) {
	id := uuid.New()
	_, err := tx.Exec(ctx, `insert into auth.identities (id, provider_id, user_id, identity_data, provider, last_sign_in_at, created_at, updated_at)
		values ($1, $2, $3, $4, $5, $6, $6, $6)`, id, sub, userID, data, provider, now)
	if isUniqueViolation(err) {
		return uuid.Nil, unprocessable(CodeIdentityAlreadyExists, "Identity is already linked to another user")
	}
	if err != nil {
		return uuid.Nil, dbError(err)
	}
	return id, nil
}

// mergeIdentityData merges an identity's data into the user's metadata and
// records the provider in app_metadata, as GoTrue does on every provider
// sign-in.
func mergeIdentityData(ctx context.Context, tx pgx.Tx, userID uuid.UUID, provider string, data map[string]any) error {
	if _, err := tx.Exec(ctx, `update auth.users set raw_user_meta_data = coalesce(raw_user_meta_data, '{}'::jsonb) || $2
		where id = $1`, userID, data); err != nil {
		return dbError(err)
	}
	if err := addProvider(ctx, tx, userID, provider); err != nil {
		return dbError(err)
	}
	return nil
}
