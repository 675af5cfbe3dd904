package auth

import (
	"errors"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"
)

// adminUpdateUser is PUT /admin/users/{id}: metadata merged, email and phone
// set directly, password, role and ban changed.
func (s *service) adminUpdateUser(c *fiber.Ctx) error {
	id, err := userIDParam(c)
	if err != nil {
		return err
	}
	var p adminUserParams
	if err := readJSON(c, &p); err != nil {
		return err
	}
	var email, phone string
	if p.Email != nil && *p.Email != "" {
		if email, err = normalizeEmail(*p.Email); err != nil {
			return err
		}
	}
	if p.Phone != nil && *p.Phone != "" {
		if phone, err = normalizePhone(*p.Phone); err != nil {
			return err
		}
	}
	ban, banSet, err := s.banUntil(p.BanDuration)
	if err != nil {
		return err
	}
	ctx, cancel := s.ctx()
	defer cancel()
	encrypted, err := s.adminPassword(ctx, p)
	if err != nil {
		return err
	}
	var u *user
	err = s.tx(ctx, func(tx pgx.Tx) error {
		cur, err := userByIDForUpdate(ctx, tx, id)
		if errors.Is(err, errNoUser) {
			return errUserNotFound
		}
		if err != nil {
			return dbError(err)
		}
		now := s.now().UTC().Round(time.Microsecond)
		exec := func(sql string, args ...any) error {
			if _, err := tx.Exec(ctx, sql, args...); err != nil {
				if isUniqueViolation(err) {
					return unprocessable(CodeEmailExists, "A user with this email address has already been registered")
				}
				return dbError(err)
			}
			return nil
		}
		if p.Role != "" {
			if err := exec(`update auth.users set role = $2 where id = $1`, id, p.Role); err != nil {
				return err
			}
		}
		if email != "" && email != cur.Email {
			if taken, err := emailTaken(ctx, tx, email, id); err != nil {
				return dbError(err)
			} else if taken {
				return unprocessable(CodeEmailExists, "A user with this email address has already been registered")
			}
			if err := exec(`update auth.users set email = $2, email_change = '', email_change_token_new = '',
				email_change_token_current = '', is_anonymous = false where id = $1`, id, email); err != nil {
				return err
			}
			if err := insertIdentity(ctx, tx, id, "email", map[string]any{
				"sub": id.String(), "email": email, "email_verified": p.EmailConfirm, "phone_verified": false,
			}, now); err != nil {
				return dbError(err)
			}
			if err := addProvider(ctx, tx, id, "email"); err != nil {
				return dbError(err)
			}
		}
		if p.EmailConfirm {
			if err := exec(`update auth.users set email_confirmed_at = coalesce(email_confirmed_at, $2)
				where id = $1 and email is not null`, id, now); err != nil {
				return err
			}
		}
		if phone != "" && phone != cur.Phone {
			if taken, err := phoneTaken(ctx, tx, phone, id); err != nil {
				return dbError(err)
			} else if taken {
				return unprocessable(CodePhoneExists, "Phone number already registered by another user")
			}
			if err := exec(`update auth.users set phone = $2, is_anonymous = false where id = $1`, id, phone); err != nil {
				return err
			}
			if err := insertIdentity(ctx, tx, id, "phone", map[string]any{
				"sub": id.String(), "phone": phone, "email_verified": false, "phone_verified": p.PhoneConfirm,
			}, now); err != nil {
				return dbError(err)
			}
			if err := addProvider(ctx, tx, id, "phone"); err != nil {
				return dbError(err)
			}
		}
		if p.PhoneConfirm {
			if err := exec(`update auth.users set phone_confirmed_at = coalesce(phone_confirmed_at, $2)
				where id = $1 and phone is not null`, id, now); err != nil {
				return err
			}
		}
		if encrypted != "" {
			if err := exec(`update auth.users set encrypted_password = $2 where id = $1`, id, encrypted); err != nil {
				return err
			}
		}
		if p.UserMetaData != nil {
			if err := exec(`update auth.users set raw_user_meta_data = $2 where id = $1`, id, mergeMetadata(cur.UserMetaData, p.UserMetaData)); err != nil {
				return err
			}
		}
		if p.AppMetaData != nil {
			if err := exec(`update auth.users set raw_app_meta_data = $2 where id = $1`, id, mergeMetadata(cur.AppMetaData, p.AppMetaData)); err != nil {
				return err
			}
		}
		if banSet {
			if err := exec(`update auth.users set banned_until = $2 where id = $1`, id, ban); err != nil {
				return err
			}
			if ban != nil {
				if err := exec(`delete from auth.sessions where user_id = $1`, id); err != nil {
					return err
				}
			}
		}
		if err := exec(`update auth.users set updated_at = $2 where id = $1`, id, now); err != nil {
			return err
		}
		u, err = s.reload(ctx, tx, id)
		return err
	})
	if err != nil {
		return err
	}
	return c.JSON(u.wire())
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

// adminListFactors is GET /admin/users/{id}/factors: MFA is not built yet,
// so every user has none.
func (s *service) adminListFactors(c *fiber.Ctx) error {
	id, err := userIDParam(c)
	if err != nil {
		return err
	}
	ctx, cancel := s.ctx()
	defer cancel()
	if _, err := userByID(ctx, s.db, id); errors.Is(err, errNoUser) {
		return errUserNotFound
	} else if err != nil {
		return dbError(err)
	}
	return c.JSON([]any{})
}

func (s *service) adminDeleteFactor(c *fiber.Ctx) error {
	if _, err := userIDParam(c); err != nil {
		return err
	}
	return notFound(CodeMFAFactorNotFound, "Factor not found")
}
