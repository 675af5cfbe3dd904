package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"
	"github.com/madbase/madbase/shared/httpserver"
)

// verifyParams is POST /verify's body (verifyOtp) and GET /verify's query.
type verifyParams struct {
	Type      string `json:"type"`
	Token     string `json:"token"`
	TokenHash string `json:"token_hash"`
	Email     string `json:"email"`
	Phone     string `json:"phone"`
}

// verifyKinds lists, per verify type, the pending tokens it may consume, in
// the order they are tried.
var verifyKinds = map[string][]string{
	"signup":       {mailSignup},
	"invite":       {mailInvite},
	"magiclink":    {mailMagicLink},
	"recovery":     {mailRecovery},
	"email":        {mailSignup, mailMagicLink},
	"email_change": {mailEmailChangeNew, mailEmailChangeCurrent},
}

// emailChangeHalfMessage answers the first of the two confirmations a
// secure email change needs.
const emailChangeHalfMessage = "Confirmation link accepted. Please proceed to confirm link sent to the other email"

// verifyOutcome is what a successful verification leads to.
type verifyOutcome struct {
	user     *user
	kind     string // the token kind consumed
	pkce     bool   // the token belonged to a PKCE flow
	halfDone bool   // first half of a secure email change
}

// tokenEqual compares a stored token (maybe pkce_-prefixed) with a hash in
// constant time.
func tokenEqual(stored, hash string) bool {
	stored = strings.TrimPrefix(stored, pkcePrefix)
	return stored != "" && subtle.ConstantTimeCompare([]byte(stored), []byte(hash)) == 1
}

// storedToken returns the user's pending token and its sent time for kind.
func (u *user) storedToken(kind string) (string, *time.Time) {
	switch kind {
	case mailSignup, mailInvite:
		return u.ConfirmationToken, u.ConfirmationSentAt
	case mailMagicLink, mailRecovery:
		return u.RecoveryToken, u.RecoverySentAt
	case mailEmailChangeNew:
		return u.EmailChangeTokenNew, u.EmailChangeSentAt
	case mailEmailChangeCurrent:
		return u.EmailChangeTokenCurrent, u.EmailChangeSentAt
	}
	return "", nil
}

// findByStoredToken finds and locks the user whose kind token is value
// (exactly, for links) or value's pkce_ form too (token_hash).
func findByStoredToken(ctx context.Context, q querier, kind, value string) (*user, error) {
	col := tokenKinds[kind].token // from the fixed table, never input
	return oneUser(q.QueryRow(ctx, `select `+userColumns+` from auth.users u
		where u.`+col+` in ($1, $2) and u.`+col+` <> '' for update of u limit 1`, value, pkcePrefix+value))
}

// verify finds the user a one-time token belongs to and consumes it. link
// is true for GET /verify, whose token is the stored value itself.
func (s *service) verify(ctx context.Context, tx pgx.Tx, p verifyParams, link bool) (*verifyOutcome, error) {
	kinds, ok := verifyKinds[p.Type]
	switch {
	case p.Type == "sms" || p.Type == "phone_change":
		if _, err := normalizePhone(p.Phone); err != nil {
			return nil, err // GoTrue checks the number before the token
		}
		return nil, errOTPExpired // no SMS was ever sent: no phone token can be valid
	case !ok:
		return nil, validationFailed("Verify requires a valid verification type")
	}
	if link && p.Type == "email" {
		return nil, validationFailed("Verify requires a valid verification type")
	}
	var (
		u       *user
		matched string
	)
	switch {
	case link || p.TokenHash != "":
		value := p.TokenHash
		if link {
			value = strings.ReplaceAll(p.Token, "-", "")
		}
		if value == "" || len(value) > 128 {
			return nil, errOTPExpired
		}
		for _, k := range kinds {
			found, err := findByStoredToken(ctx, tx, k, value)
			if errors.Is(err, errNoUser) {
				continue
			}
			if err != nil {
				return nil, dbError(err)
			}
			u, matched = found, k
			break
		}
	default:
		if p.Token == "" {
			return nil, validationFailed("Verify requires either a token or a token hash")
		}
		if p.Phone != "" {
			return nil, errOTPExpired
		}
		if p.Email == "" {
			return nil, validationFailed("Only an email address or phone number should be provided on verify")
		}
		email, err := normalizeEmail(p.Email)
		if err != nil {
			return nil, err
		}
		otp := strings.ReplaceAll(p.Token, "-", "")
		hash := tokenHash(email, otp)
		for _, k := range kinds {
			var cand *user
			if k == mailEmailChangeNew {
				cand, err = oneUser(tx.QueryRow(ctx, `select `+userColumns+` from auth.users u
					where u.email_change = $1 for update of u limit 1`, email))
			} else {
				cand, err = oneUser(tx.QueryRow(ctx, `select `+userColumns+` from auth.users u
					where u.email = $1 and not u.is_sso_user for update of u limit 1`, email))
			}
			if errors.Is(err, errNoUser) {
				continue
			}
			if err != nil {
				return nil, dbError(err)
			}
			if stored, _ := cand.storedToken(k); tokenEqual(stored, hash) {
				u, matched = cand, k
				break
			}
		}
	}
	if u == nil {
		return nil, errOTPExpired
	}
	stored, sentAt := u.storedToken(matched)
	now := s.now()
	if sentAt == nil || now.After(sentAt.Add(s.cfg.otpExp)) {
		return nil, errOTPExpired
	}
	if u.banned(now) {
		return nil, forbidden(CodeUserBanned, "User is banned")
	}
	out := &verifyOutcome{user: u, kind: matched, pkce: strings.HasPrefix(stored, pkcePrefix)}

	switch matched {
	case mailSignup, mailInvite:
		if err := s.confirmEmail(ctx, tx, u); err != nil {
			return nil, err
		}
	case mailMagicLink, mailRecovery:
		if _, err := tx.Exec(ctx, `update auth.users set recovery_token = '' where id = $1`, u.ID); err != nil {
			return nil, dbError(err)
		}
		if !u.emailConfirmed() {
			if err := s.confirmEmail(ctx, tx, u); err != nil {
				return nil, err
			}
		}
	case mailEmailChangeNew, mailEmailChangeCurrent:
		other := u.EmailChangeTokenCurrent
		col := "email_change_token_new"
		if matched == mailEmailChangeCurrent {
			other, col = u.EmailChangeTokenNew, "email_change_token_current"
		}
		if s.cfg.secureEmailChange && u.EmailChangeConfirmStatus == 0 && u.Email != "" && other != "" {
			if _, err := tx.Exec(ctx, `update auth.users set email_change_confirm_status = 1, `+col+` = '' where id = $1`, u.ID); err != nil {
				return nil, dbError(err)
			}
			out.halfDone = true
			return out, nil
		}
		if err := s.applyEmailChange(ctx, tx, u); err != nil {
			return nil, err
		}
	}
	var err error
	if out.user, err = s.reload(ctx, tx, u.ID); err != nil {
		return nil, err
	}
	return out, nil
}

// verifyPost is verifyOtp: a code with its email, or a token_hash, becomes
// a session.
func (s *service) verifyPost(c *fiber.Ctx) error {
	var p verifyParams
	if err := readJSON(c, &p); err != nil {
		return err
	}
	if p.Type == "" {
		return validationFailed("Verify requires a verification type")
	}
	if p.Token == "" && p.TokenHash == "" {
		return validationFailed("Verify requires either a token or a token hash")
	}
	if p.Token != "" && p.TokenHash != "" {
		return validationFailed("Verify requires either a token or a token hash, not both")
	}
	if p.Token != "" && p.Email != "" && p.Phone != "" {
		return validationFailed("Only an email address or phone number should be provided on verify")
	}
	ctx, cancel := s.ctx()
	defer cancel()
	cl := clientOf(c)
	if err := s.rateLimit(ctx, "verify", cl.IP, s.cfg.rateVerify); err != nil {
		return err
	}
	iss := s.issuer(c)
	var (
		sess *sessionJSON
		half bool
	)
	err := s.tx(ctx, func(tx pgx.Tx) error {
		out, err := s.verify(ctx, tx, p, false)
		if err != nil {
			return err
		}
		if out.halfDone {
			half = true
			return nil
		}
		sess, err = s.newSession(ctx, tx, out.user, methodOTP, cl, iss)
		return err
	})
	if err != nil {
		return err
	}
	if half {
		return c.JSON(fiber.Map{"msg": emailChangeHalfMessage, "code": http.StatusOK})
	}
	return c.JSON(sess)
}

// verifyGet is the link in a mail: it verifies and sends the browser on to
// redirect_to (or SITE_URL) with the session in the fragment, a PKCE ?code=,
// or the error.
func (s *service) verifyGet(c *fiber.Ctx) error {
	p := verifyParams{Type: strings.Clone(c.Query("type")), Token: strings.Clone(c.Query("token"))}
	target := s.cfg.redirectTo(c.Query("redirect_to"))
	pkce := strings.HasPrefix(p.Token, pkcePrefix)
	if p.Type == "" || p.Token == "" {
		return s.redirectError(c, target, validationFailed("Verify requires a token and a type"), pkce)
	}
	ctx, cancel := s.ctx()
	defer cancel()
	cl := clientOf(c)
	if err := s.rateLimit(ctx, "verify", cl.IP, s.cfg.rateVerify); err != nil {
		return s.redirectError(c, target, err, pkce)
	}
	iss := s.issuer(c)
	var (
		sess *sessionJSON
		code string
		half bool
	)
	err := s.tx(ctx, func(tx pgx.Tx) error {
		out, err := s.verify(ctx, tx, p, true)
		if err != nil {
			return err
		}
		pkce = out.pkce
		switch {
		case out.halfDone:
			half = true
			return nil
		case out.pkce:
			code, err = s.issueAuthCode(ctx, tx, out.user.ID, flowMethod(out.kind))
			return err
		}
		sess, err = s.newSession(ctx, tx, out.user, methodOTP, cl, iss)
		return err
	})
	if err != nil {
		return s.redirectError(c, target, err, pkce)
	}
	u, perr := url.Parse(target)
	if perr != nil {
		return internalError("Unexpected failure", perr)
	}
	switch {
	case half:
		q := url.Values{"message": {emailChangeHalfMessage}}
		u.Fragment = ""
		u.RawFragment = ""
		return c.Redirect(u.String()+"#"+q.Encode(), http.StatusSeeOther)
	case code != "":
		q := u.Query()
		q.Set("code", code)
		u.RawQuery = q.Encode()
		return c.Redirect(u.String(), http.StatusSeeOther)
	}
	f := url.Values{}
	f.Set("access_token", sess.AccessToken)
	f.Set("token_type", sess.TokenType)
	f.Set("expires_in", strconv.Itoa(sess.ExpiresIn))
	f.Set("expires_at", strconv.FormatInt(sess.ExpiresAt, 10))
	f.Set("refresh_token", sess.RefreshToken)
	f.Set("type", p.Type)
	f.Set("sb", "")
	u.Fragment, u.RawFragment = "", ""
	return c.Redirect(u.String()+"#"+f.Encode(), http.StatusSeeOther)
}

// redirectError sends a failed link's browser on with the error in the
// fragment (and the query, for PKCE), as GoTrue does.
func (s *service) redirectError(c *fiber.Ctx, target string, err error, pkce bool) error {
	e := toError(err)
	if e.Internal != nil || e.Status >= 500 {
		s.log.Warn("verify link failed", "request_id", httpserver.RequestID(c), "status", e.Status, "code", e.Code, "cause", e.Cause())
	}
	u, perr := url.Parse(target)
	if perr != nil {
		return e
	}
	q := url.Values{}
	name := oauthErrorNames[e.Status]
	if name == "" {
		name = "server_error"
	}
	q.Set("error", name)
	q.Set("error_code", e.Code)
	q.Set("error_description", e.Message)
	q.Set("sb", "")
	u.RawQuery = ""
	if pkce {
		u.RawQuery = q.Encode()
	}
	u.Fragment, u.RawFragment = "", ""
	return c.Redirect(u.String()+"#"+q.Encode(), http.StatusSeeOther)
}
