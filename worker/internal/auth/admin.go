package auth

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// adminUserParams is the body of admin createUser and updateUserById.
type adminUserParams struct {
	ID           string         `json:"id"`
	Role         string         `json:"role"`
	Email        *string        `json:"email"`
	Phone        *string        `json:"phone"`
	Password     *string        `json:"password"`
	PasswordHash string         `json:"password_hash"`
	EmailConfirm bool           `json:"email_confirm"`
	PhoneConfirm bool           `json:"phone_confirm"`
	UserMetaData map[string]any `json:"user_metadata"`
	AppMetaData  map[string]any `json:"app_metadata"`
	BanDuration  string         `json:"ban_duration"`
	Nonce        string         `json:"nonce"`
}

// banUntil reads ban_duration: "none" lifts a ban (nil, true); a Go
// duration bans until now plus it.
func (s *service) banUntil(d string) (until *time.Time, set bool, err error) {
	switch d {
	case "":
		return nil, false, nil
	case "none":
		return nil, true, nil
	}
	dur, perr := time.ParseDuration(d)
	if perr != nil || dur < 0 {
		return nil, false, validationFailed("invalid format for ban duration: %s", truncate(d, 32))
	}
	t := s.now().UTC().Add(dur).Round(time.Microsecond)
	return &t, true, nil
}

// adminPassword checks and hashes an admin-given password or imported hash.
func (s *service) adminPassword(ctx context.Context, p adminUserParams) (string, error) {
	if p.PasswordHash != "" {
		if p.Password != nil && *p.Password != "" {
			return "", validationFailed("Only a password or a password hash should be provided")
		}
		if err := checkImportedHash(p.PasswordHash); err != nil {
			return "", validationFailed("Invalid password hash: %s", err.Error())
		}
		return p.PasswordHash, nil
	}
	if p.Password == nil || *p.Password == "" {
		return "", nil
	}
	if werr := s.cfg.checkPassword(*p.Password); werr != nil {
		return "", werr
	}
	h, err := s.hasher.hash(ctx, *p.Password)
	if err != nil {
		return "", internalError("Unexpected failure", err)
	}
	return h, nil
}

// adminCreateUser is POST /admin/users.
func (s *service) adminCreateUser(c *fiber.Ctx) error {
	var p adminUserParams
	if err := readJSON(c, &p); err != nil {
		return err
	}
	var email, phone string
	var err error
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
	if email == "" && phone == "" {
		return validationFailed("Cannot create a user without either an email or phone")
	}
	var id uuid.UUID
	if p.ID != "" {
		if id, err = uuid.Parse(p.ID); err != nil {
			return validationFailed("id must be a UUID")
		}
	}
	ban, _, err := s.banUntil(p.BanDuration)
	if err != nil {
		return err
	}
	ctx, cancel := s.ctx()
	defer cancel()
	encrypted, err := s.adminPassword(ctx, p)
	if err != nil {
		return err
	}
	provider := "email"
	if email == "" {
		provider = "phone"
	}
	var u *user
	err = s.tx(ctx, func(tx pgx.Tx) error {
		if email != "" {
			if taken, err := emailTaken(ctx, tx, email, uuid.Nil); err != nil {
				return dbError(err)
			} else if taken {
				return errEmailExists
			}
		}
		if phone != "" {
			if taken, err := phoneTaken(ctx, tx, phone, uuid.Nil); err != nil {
				return dbError(err)
			} else if taken {
				return errPhoneExists
			}
		}
		var err error
		u, err = s.createUser(ctx, tx, newUser{
			ID: id, Email: email, Phone: phone, Encrypted: encrypted, Role: p.Role, Provider: provider,
			UserMetaData: p.UserMetaData, AppMetaData: p.AppMetaData,
			EmailConfirmed: p.EmailConfirm && email != "", PhoneConfirmed: p.PhoneConfirm && phone != "",
			BannedUntil: ban, MetadataAsSent: true,
		})
		if err != nil {
			return err
		}
		if email != "" && phone != "" {
			now := s.now().UTC()
			if err := insertIdentity(ctx, tx, u.ID, "phone", map[string]any{
				"sub": u.ID.String(), "phone": phone, "email_verified": false, "phone_verified": p.PhoneConfirm,
			}, now); err != nil {
				return dbError(err)
			}
			if err := addProvider(ctx, tx, u.ID, "phone"); err != nil {
				return dbError(err)
			}
			u, err = s.reload(ctx, tx, u.ID)
		}
		return err
	})
	if err != nil {
		return err
	}
	return c.JSON(u.wire())
}

// userIDParam reads :id; a non-UUID is 404 validation_failed as in GoTrue.
func userIDParam(c *fiber.Ctx) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Params("id"))
	if err != nil {
		return uuid.Nil, notFound(CodeValidationFailed, "user_id must be an UUID")
	}
	return id, nil
}

// adminGetUser is GET /admin/users/{id}.
func (s *service) adminGetUser(c *fiber.Ctx) error {
	id, err := userIDParam(c)
	if err != nil {
		return err
	}
	ctx, cancel := s.ctx()
	defer cancel()
	u, err := userByID(ctx, s.db, id)
	if errors.Is(err, errNoUser) {
		return errUserNotFound
	}
	if err != nil {
		return dbError(err)
	}
	return c.JSON(u.wire())
}

// listUsersBody is GET /admin/users' answer.
type listUsersBody struct {
	Users []*user `json:"users"`
	Aud   string  `json:"aud"`
}

const maxPerPage = 1000

// adminListUsers is GET /admin/users?page=&per_page=: newest first, with
// X-Total-Count and a Link header auth-js parses for nextPage/lastPage.
func (s *service) adminListUsers(c *fiber.Ctx) error {
	page, err := pageParam(c.Query("page"), 1)
	if err != nil {
		return err
	}
	perPage, err := pageParam(c.Query("per_page"), 50)
	if err != nil {
		return err
	}
	if perPage > maxPerPage {
		perPage = maxPerPage
	}
	filter := strings.TrimSpace(c.Query("filter"))
	if len(filter) > 255 {
		filter = filter[:255]
	}
	ctx, cancel := s.ctx()
	defer cancel()
	pattern := "%" + strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(filter) + "%"
	var total int64
	if err := s.db.QueryRow(ctx, `select count(*) from auth.users u
		where $1 = '' or u.email ilike $2 or u.phone ilike $2`, filter, pattern).Scan(&total); err != nil {
		return dbError(err)
	}
	rows, err := s.db.Query(ctx, `select `+userColumns+` from auth.users u
		where $1 = '' or u.email ilike $2 or u.phone ilike $2
		order by u.created_at desc, u.id desc limit $3 offset $4`,
		filter, pattern, perPage, int64(page-1)*int64(perPage))
	if err != nil {
		return dbError(err)
	}
	users := []*user{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			rows.Close()
			return dbError(err)
		}
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		return dbError(err)
	}
	last := (total + int64(perPage) - 1) / int64(perPage)
	var links []string
	if int64(page) < last {
		links = append(links, fmt.Sprintf(`</admin/users?page=%d&per_page=%d>; rel="next"`, page+1, perPage))
	}
	links = append(links, fmt.Sprintf(`</admin/users?page=%d&per_page=%d>; rel="last"`, last, perPage))
	c.Set("X-Total-Count", strconv.FormatInt(total, 10))
	c.Set("Link", strings.Join(links, ", "))
	return c.JSON(listUsersBody{Users: users, Aud: defaultAud})
}

// pageParam reads a pagination number; "" is the default.
func pageParam(raw string, def int) (int, error) {
	if raw == "" {
		return def, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > 1_000_000 {
		return 0, validationFailed("Bad Pagination Parameters")
	}
	return n, nil
}
