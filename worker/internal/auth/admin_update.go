package auth

import (
	"context"
	"errors"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// adminUpdate is a checked PUT /admin/users/{id}: what to change, parsed
// and normalized before any database work.
type adminUpdate struct {
	id           uuid.UUID
	params       adminUserParams
	email, phone string     // normalized; "" leaves them as they are
	ban          *time.Time // with banSet: the new banned_until (nil lifts it)
	banSet       bool
}

// adminUpdateUser is PUT /admin/users/{id}: metadata merged, email and phone
// set directly, password, role and ban changed.
func (s *service) adminUpdateUser(c *fiber.Ctx) error {
	upd, err := s.parseAdminUpdate(c)
	if err != nil {
		return err
	}
	ctx, cancel := s.ctx()
	defer cancel()
	encrypted, err := s.adminPassword(ctx, upd.params)
	if err != nil {
		return err
	}
	var u *user
	err = s.tx(ctx, func(tx pgx.Tx) error {
		var err error
		u, err = s.applyAdminUpdate(ctx, tx, upd, encrypted)
		return err
	})
	if err != nil {
		return err
	}
	return c.JSON(u.wire())
}

// parseAdminUpdate reads and checks the request.
func (s *service) parseAdminUpdate(c *fiber.Ctx) (*adminUpdate, error) {
	id, err := userIDParam(c)
	if err != nil {
		return nil, err
	}
	upd := &adminUpdate{id: id}
	if err := readJSON(c, &upd.params); err != nil {
		return nil, err
	}
	p := &upd.params
	if p.Email != nil && *p.Email != "" {
		if upd.email, err = normalizeEmail(*p.Email); err != nil {
			return nil, err
		}
	}
	if p.Phone != nil && *p.Phone != "" {
		if upd.phone, err = normalizePhone(*p.Phone); err != nil {
			return nil, err
		}
	}
	if upd.ban, upd.banSet, err = s.banUntil(p.BanDuration); err != nil {
		return nil, err
	}
	return upd, nil
}

// applyAdminUpdate locks the user, makes each change asked for and returns
// the user as it is now.
func (s *service) applyAdminUpdate(ctx context.Context, tx pgx.Tx, upd *adminUpdate, encrypted string) (*user, error) {
	cur, err := userByIDForUpdate(ctx, tx, upd.id)
	if errors.Is(err, errNoUser) {
		return nil, errUserNotFound
	}
	if err != nil {
		return nil, dbError(err)
	}
	id, p := upd.id, &upd.params
	now := s.now().UTC().Round(time.Microsecond)
	if p.Role != "" {
		if err := adminExec(ctx, tx, `update auth.users set role = $2 where id = $1`, id, p.Role); err != nil {
			return nil, err
		}
	}
	if upd.email != "" && upd.email != cur.Email {
		if err := adminSetEmail(ctx, tx, id, upd.email, p.EmailConfirm, now); err != nil {
			return nil, err
		}
	}
	if p.EmailConfirm {
		if err := adminExec(ctx, tx, `update auth.users set email_confirmed_at = coalesce(email_confirmed_at, $2)
			where id = $1 and email is not null`, id, now); err != nil {
			return nil, err
		}
	}
	if upd.phone != "" && upd.phone != cur.Phone {
		if err := adminSetPhone(ctx, tx, id, upd.phone, p.PhoneConfirm, now); err != nil {
			return nil, err
		}
	}
	if p.PhoneConfirm {
		if err := adminExec(ctx, tx, `update auth.users set phone_confirmed_at = coalesce(phone_confirmed_at, $2)
			where id = $1 and phone is not null`, id, now); err != nil {
			return nil, err
		}
	}
	if encrypted != "" {
		if err := adminExec(ctx, tx, `update auth.users set encrypted_password = $2 where id = $1`, id, encrypted); err != nil {
			return nil, err
		}
	}
	if p.UserMetaData != nil {
		if err := adminExec(ctx, tx, `update auth.users set raw_user_meta_data = $2 where id = $1`,
			id, mergeMetadata(cur.UserMetaData, p.UserMetaData)); err != nil {
			return nil, err
		}
	}
	if p.AppMetaData != nil {
		if err := adminExec(ctx, tx, `update auth.users set raw_app_meta_data = $2 where id = $1`,
			id, mergeMetadata(cur.AppMetaData, p.AppMetaData)); err != nil {
			return nil, err
		}
	}
	if upd.banSet {
		if err := adminSetBan(ctx, tx, id, upd.ban); err != nil {
			return nil, err
		}
	}
	if err := adminExec(ctx, tx, `update auth.users set updated_at = $2 where id = $1`, id, now); err != nil {
		return nil, err
	}
	return s.reload(ctx, tx, id)
}

// adminExec runs one update of an admin change; a unique violation (the
// address taken by a concurrent request) is email_exists.
func adminExec(ctx context.Context, tx pgx.Tx, sql string, args ...any) error {
	if _, err := tx.Exec(ctx, sql, args...); err != nil {
		if isUniqueViolation(err) {
			return errEmailExists
		}
		return dbError(err)
	}
	return nil
}

// adminSetEmail gives the user another address (dropping a pending change)
// and its email identity; the user is no longer anonymous.
func adminSetEmail(ctx context.Context, tx pgx.Tx, id uuid.UUID, email string, confirmed bool, now time.Time) error {
	if taken, err := emailTaken(ctx, tx, email, id); err != nil {
		return dbError(err)
	} else if taken {
		return errEmailExists
	}
	if err := adminExec(ctx, tx, `update auth.users set email = $2, email_change = '', email_change_token_new = '',
		email_change_token_current = '', is_anonymous = false where id = $1`, id, email); err != nil {
		return err
	}
	if err := insertIdentity(ctx, tx, id, "email", map[string]any{
		"sub": id.String(), "email": email, "email_verified": confirmed, "phone_verified": false,
	}, now); err != nil {
		return dbError(err)
	}
	if err := addProvider(ctx, tx, id, "email"); err != nil {
		return dbError(err)
	}
	return nil
}

// adminSetPhone gives the user another phone number and its phone
// identity; the user is no longer anonymous.
func adminSetPhone(ctx context.Context, tx pgx.Tx, id uuid.UUID, phone string, confirmed bool, now time.Time) error {
	if taken, err := phoneTaken(ctx, tx, phone, id); err != nil {
		return dbError(err)
	} else if taken {
		return errPhoneExists
	}
	if _, err := tx.Exec(ctx, `update auth.users set phone = $2, is_anonymous = false where id = $1`, id, phone); err != nil {
		if isUniqueViolation(err) {
			return errPhoneExists
		}
		return dbError(err)
	}
	if err := insertIdentity(ctx, tx, id, "phone", map[string]any{
		"sub": id.String(), "phone": phone, "email_verified": false, "phone_verified": confirmed,
	}, now); err != nil {
		return dbError(err)
	}
	if err := addProvider(ctx, tx, id, "phone"); err != nil {
		return dbError(err)
	}
	return nil
}

// adminSetBan sets or lifts (until nil) a ban; a ban ends the user's
// sessions.
func adminSetBan(ctx context.Context, tx pgx.Tx, id uuid.UUID, until *time.Time) error {
	if err := adminExec(ctx, tx, `update auth.users set banned_until = $2 where id = $1`, id, until); err != nil {
		return err
	}
	if until == nil {
		return nil
	}
	return adminExec(ctx, tx, `delete from auth.sessions where user_id = $1`, id)
}

// deleteParams is DELETE /admin/users/{id}'s (optional) body.
type deleteParams struct {
	ShouldSoftDelete bool `json:"should_soft_delete"`
}

// adminDeleteUser is DELETE /admin/users/{id}: a hard delete cascades to
// identities, sessions and refresh tokens; a soft delete keeps the row with
// deleted_at, frees the address and phone, and ends the sessions.
func (s *service) adminDeleteUser(c *fiber.Ctx) error {
	id, err := userIDParam(c)
	if err != nil {
		return err
	}
	var p deleteParams
	if err := readJSON(c, &p); err != nil {
		return err
	}
	ctx, cancel := s.ctx()
	defer cancel()
	err = s.tx(ctx, func(tx pgx.Tx) error {
		if p.ShouldSoftDelete {
			tag, err := tx.Exec(ctx, `update auth.users set deleted_at = coalesce(deleted_at, $2), email = null, phone = null,
				encrypted_password = '', email_change = '', phone_change = '', confirmation_token = '', recovery_token = '',
				email_change_token_new = '', email_change_token_current = '', reauthentication_token = '',
				phone_change_token = '', updated_at = $2 where id = $1`, id, s.now().UTC())
			if err != nil {
				return dbError(err)
			}
			if tag.RowsAffected() == 0 {
				return errUserNotFound
			}
			if _, err := tx.Exec(ctx, `update auth.identities set provider_id = md5(provider_id || id::text),
				identity_data = jsonb_build_object('sub', identity_data -> 'sub') where user_id = $1`, id); err != nil {
				return dbError(err)
			}
			if _, err := tx.Exec(ctx, `delete from auth.sessions where user_id = $1`, id); err != nil {
				return dbError(err)
			}
			return nil
		}
		tag, err := tx.Exec(ctx, `delete from auth.users where id = $1`, id)
		if err != nil {
			return dbError(err)
		}
		if tag.RowsAffected() == 0 {
			return errUserNotFound
		}
		return nil
	})
	if err != nil {
		return err
	}
	return c.JSON(emptyObject)
}
