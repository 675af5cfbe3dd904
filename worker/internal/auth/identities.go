package auth

import (
	"context"
	"errors"
	"net/http"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Identity linking (linkIdentity, unlinkIdentity): GET
// /user/identities/authorize starts a redirect flow whose identity is
// linked to the signed-in user, DELETE /user/identities/{id} removes one of
// the user's identities. Both need AUTH_MANUAL_LINKING_ENABLED; the
// identities themselves are listed in the user object (getUserIdentities).

var errManualLinkingDisabled = newError(http.StatusNotFound, CodeManualLinkingDisabled, "Manual linking is disabled")

// requireManualLinking answers 404 manual_linking_disabled, after the
// bearer was checked, when manual linking is off (GoTrue's order).
func (s *service) requireManualLinking(c *fiber.Ctx) error {
	if _, err := s.userPrincipal(c); err != nil {
		return err
	}
	if !s.cfg.manualLinking {
		return errManualLinkingDisabled
	}
	return c.Next()
}

// linkIdentity is GET /user/identities/authorize: the provider's URL as
// {"url"} with skip_http_redirect=true (auth-js), else a 302 to it.
func (s *service) linkIdentity(c *fiber.Ctx) error {
	uid, err := s.linkPrincipal(c)
	if err != nil {
		return err
	}
	to, err := s.providerRedirect(c, uid)
	if err != nil {
		return err
	}
	if c.Query("skip_http_redirect") == "true" {
		return c.JSON(fiber.Map{"url": to})
	}
	return c.Redirect(to, http.StatusFound)
}

// unlinkIdentity is DELETE /user/identities/{id}: the identity goes unless
// it is the user's last; the user's address follows the identities left
// (GoTrue's UpdateUserEmailFromIdentities), and app_metadata.providers
// lists what is left.
func (s *service) unlinkIdentity(c *fiber.Ctx) error {
	id, err := uuid.Parse(c.Params("id"))
	if err != nil {
		return notFound(CodeValidationFailed, "identity_id must be an UUID")
	}
	p, err := s.userPrincipal(c)
	if err != nil {
		return err
	}
	ctx, cancel := s.ctx()
	defer cancel()
	if _, err := s.loadPrincipalUser(ctx, s.db, p); err != nil {
		return err
	}
	err = s.tx(ctx, func(tx pgx.Tx) error {
		u, err := userByIDForUpdate(ctx, tx, p.UserID)
		if errors.Is(err, errNoUser) {
			return forbidden(CodeUserNotFound, "User from sub claim in JWT does not exist")
		}
		if err != nil {
			return dbError(err)
		}
		if len(u.Identities) <= 1 {
			return unprocessable(CodeSingleIdentityNotDeletable, "User must have at least 1 identity after unlinking")
		}
		var gone *identity
		for i := range u.Identities {
			if u.Identities[i].IdentityID == id {
				gone = &u.Identities[i]
			}
		}
		if gone == nil {
			return unprocessable(CodeIdentityNotFound, "Identity doesn't exist")
		}
		now := s.externalTime()
		if _, err := tx.Exec(ctx, `delete from auth.identities where id = $1`, id); err != nil {
			return dbError(err)
		}
		if gone.Provider == "phone" {
			if _, err := tx.Exec(ctx, `update auth.users set phone = null, phone_confirmed_at = null, updated_at = $2 where id = $1`,
				u.ID, now); err != nil {
				return dbError(err)
			}
		} else if err := s.emailFromIdentities(ctx, tx, u, id); err != nil {
			return err
		}
		// providers: those of the identities left; provider stays as it was.
		_, err = tx.Exec(ctx, `update auth.users set raw_app_meta_data = jsonb_set(coalesce(raw_app_meta_data, '{}'::jsonb),
				'{providers}', (select coalesce(jsonb_agg(distinct provider), '[]'::jsonb) from auth.identities where user_id = $1)),
			updated_at = $2 where id = $1`, u.ID, now)
		if err != nil {
			return dbError(err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{})
}

// emailFromIdentities keeps the user's address when an identity left
// carries it; else the address becomes the first identity's that has one
// (confirmed as that identity says), or none.
func (s *service) emailFromIdentities(ctx context.Context, tx pgx.Tx, u *user, gone uuid.UUID) error {
	next, verified := "", false
	for _, i := range u.Identities {
		if i.IdentityID == gone || i.Email == "" {
			continue
		}
		if i.Email == u.Email {
			return nil
		}
		if next == "" {
			next = i.Email
			var d struct {
				EmailVerified any `json:"email_verified"`
			}
			_ = decodeJSON(i.IdentityData, &d)
			verified = truthy(d.EmailVerified)
		}
	}
	var email any
	if next != "" {
		email = next
	}
	now := s.externalTime()
	_, err := tx.Exec(ctx, `update auth.users set email = $2::text,
			email_confirmed_at = case when $2::text is null then null when $3 then coalesce(email_confirmed_at, $4) else null end,
			updated_at = $4
		where id = $1`, u.ID, email, verified, now)
	if isUniqueViolation(err) {
		return unprocessable(CodeEmailConflictIdentityNotDelete, "Unable to unlink identity due to email conflict")
	}
	if err != nil {
		return dbError(err)
	}
	return nil
}
