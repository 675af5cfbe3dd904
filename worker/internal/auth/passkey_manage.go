package auth

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// errPasskeyNotFound is GoTrue's answer for a passkey that is not the
// user's (or no passkey id at all).
var errPasskeyNotFound = notFound(CodeValidationFailed, "Passkey not found")

// passkeyIDParam reads :passkey.
func passkeyIDParam(c *fiber.Ctx) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Params("passkey"))
	if err != nil {
		return uuid.Nil, errPasskeyNotFound
	}
	return id, nil
}

// listPasskeys is GET /passkeys: the caller's passkeys, oldest first.
func (s *service) listPasskeys(c *fiber.Ctx) error {
	ctx, cancel := s.ctx()
	defer cancel()
	who, err := s.caller(ctx, c)
	if err != nil {
		return err
	}
	ps, err := userPasskeys(ctx, s.db, who.u.ID)
	if err != nil {
		return err
	}
	return c.JSON(passkeysJSON(ps))
}

// updatePasskey is PATCH /passkeys/{id}: renames one of the caller's
// passkeys.
func (s *service) updatePasskey(c *fiber.Ctx) error {
	var p struct {
		FriendlyName string `json:"friendly_name"`
	}
	if err := readJSON(c, &p); err != nil {
		return err
	}
	ctx, cancel := s.ctx()
	defer cancel()
	who, err := s.caller(ctx, c)
	if err != nil {
		return err
	}
	id, err := passkeyIDParam(c)
	if err != nil {
		return err
	}
	name := strings.TrimSpace(p.FriendlyName)
	if name == "" {
		return validationFailed("friendly_name is required")
	}
	if utf8.RuneCountInString(name) > maxFriendlyName {
		return validationFailed("friendly_name must be %d characters or less", maxFriendlyName)
	}
	pk, err := scanPasskey(s.db.QueryRow(ctx, `update auth.webauthn_credentials set friendly_name = $3, updated_at = $4
		where id = $1 and user_id = $2 returning `+passkeyColumns,
		pgUUID(id), pgUUID(who.u.ID), name, s.now().UTC().Round(time.Microsecond)))
	if errors.Is(err, pgx.ErrNoRows) {
		return errPasskeyNotFound
	}
	if err != nil {
		return dbError(err)
	}
	return c.JSON(pk.wire())
}

// deletePasskey is DELETE /passkeys/{id}: removes one of the caller's
// passkeys (aal2 needed once they have a verified MFA factor). 204.
func (s *service) deletePasskey(c *fiber.Ctx) error {
	ctx, cancel := s.ctx()
	defer cancel()
	who, err := s.passkeyOwner(ctx, c, true)
	if err != nil {
		return err
	}
	id, err := passkeyIDParam(c)
	if err != nil {
		return err
	}
	if err := removePasskey(ctx, s, who.u.ID, id); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func removePasskey(ctx context.Context, s *service, userID, id uuid.UUID) error {
	tag, err := s.db.Exec(ctx, `delete from auth.webauthn_credentials where id = $1 and user_id = $2`, pgUUID(id), pgUUID(userID))
	if err != nil {
		return dbError(err)
	}
	if tag.RowsAffected() == 0 {
		return errPasskeyNotFound
	}
	return nil
}

// adminUser reads :id and checks the user exists (404 user_not_found).
func (s *service) adminUser(ctx context.Context, c *fiber.Ctx) (uuid.UUID, error) {
	id, err := userIDParam(c)
	if err != nil {
		return uuid.Nil, err
	}
	var ok bool
	if err := s.db.QueryRow(ctx, `select exists(select 1 from auth.users where id = $1)`, pgUUID(id)).Scan(&ok); err != nil {
		return uuid.Nil, dbError(err)
	}
	if !ok {
		return uuid.Nil, errUserNotFound
	}
	return id, nil
}

// adminListPasskeys is GET /admin/users/{id}/passkeys.
func (s *service) adminListPasskeys(c *fiber.Ctx) error {
	ctx, cancel := s.ctx()
	defer cancel()
	uid, err := s.adminUser(ctx, c)
	if err != nil {
		return err
	}
	ps, err := userPasskeys(ctx, s.db, uid)
	if err != nil {
		return err
	}
	return c.JSON(passkeysJSON(ps))
}

// adminDeletePasskey is DELETE /admin/users/{id}/passkeys/{passkey}. 204.
func (s *service) adminDeletePasskey(c *fiber.Ctx) error {
	ctx, cancel := s.ctx()
	defer cancel()
	uid, err := s.adminUser(ctx, c)
	if err != nil {
		return err
	}
	id, err := passkeyIDParam(c)
	if err != nil {
		return err
	}
	if err := removePasskey(ctx, s, uid, id); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}
