package auth

import (
	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
)

// logout is POST /logout?scope=global|local|others: it deletes sessions
// (their refresh tokens go with them) and answers 204. Access tokens stay
// valid until they expire, but session-loading endpoints refuse them.
func (s *service) logout(c *fiber.Ctx) error {
	p, err := s.userPrincipal(c)
	if err != nil {
		return err
	}
	scope := c.Query("scope", "global")
	switch scope {
	case "global", "local", "others":
	default:
		return validationFailed("Unsupported logout scope %q", truncate(scope, 32))
	}
	ctx, cancel := s.ctx()
	defer cancel()
	if _, err := s.loadPrincipalUser(ctx, s.db, p); err != nil {
		return err
	}
	switch {
	case scope == "global" || p.SessionID == uuid.Nil:
		// A token without a session signs out everywhere, as in GoTrue.
		_, err = s.db.Exec(ctx, `delete from auth.sessions where user_id = $1`, p.UserID)
	case scope == "local":
		_, err = s.db.Exec(ctx, `delete from auth.sessions where id = $1 and user_id = $2`, p.SessionID, p.UserID)
	case scope == "others":
		_, err = s.db.Exec(ctx, `delete from auth.sessions where user_id = $1 and id <> $2`, p.UserID, p.SessionID)
	}
	if err != nil {
		return dbError(err)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// truncate shortens user input quoted in a message.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "..."
}
