package auth

import (
	"context"
	"errors"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/madbase/madbase/shared/apierr"
)

// signupParams is POST /signup's body (auth-js signUp / signInAnonymously).
type signupParams struct {
	Email               string         `json:"email"`
	Phone               string         `json:"phone"`
	Password            string         `json:"password"`
	Data                map[string]any `json:"data"`
	Channel             string         `json:"channel"`
	CodeChallenge       string         `json:"code_challenge"`
	CodeChallengeMethod string         `json:"code_challenge_method"`
}

// newUser describes a user to create.
type newUser struct {
	ID             uuid.UUID
	Email, Phone   string
	Encrypted      string
	Role           string
	Provider       string // email, phone or anonymous
	UserMetaData   map[string]any
	AppMetaData    map[string]any
	EmailConfirmed bool
	PhoneConfirmed bool
	Invited        bool
	Anonymous      bool
	BannedUntil    *time.Time
	// MetadataAsSent keeps user_metadata exactly as given (the admin API);
	// sign-ups copy the identity's data into it, as GoTrue does.
	MetadataAsSent bool
}

const defaultAud = "authenticated"

// createUser inserts a user with its identity (email or phone) and reloads
// it, so what triggers on auth.users changed shows. A taken email or phone
// is 422 email_exists / phone_exists.
func (s *service) createUser(ctx context.Context, tx pgx.Tx, p newUser) (*user, error) {
	now := s.now().UTC().Round(time.Microsecond)
	if p.ID == uuid.Nil {
		p.ID = uuid.New()
	}
	if p.Role == "" {
		p.Role = defaultAud
	}
	app := map[string]any{"provider": p.Provider, "providers": []string{p.Provider}}
	for k, v := range p.AppMetaData {
		app[k] = v
	}
	meta := map[string]any{}
	for k, v := range p.UserMetaData {
		meta[k] = v
	}
	var idData map[string]any
	switch p.Provider {
	case "email":
		idData = map[string]any{"sub": p.ID.String(), "email": p.Email, "email_verified": p.EmailConfirmed, "phone_verified": false}
	case "phone":
		idData = map[string]any{"sub": p.ID.String(), "phone": p.Phone, "email_verified": false, "phone_verified": p.PhoneConfirmed}
	}
	for k, v := range idData {
		if _, ok := meta[k]; !ok && !p.MetadataAsSent {
			meta[k] = v
		}
	}
	for k, v := range p.UserMetaData {
		if _, ok := idData[k]; !ok && idData != nil {
			idData[k] = v
		}
	}
	u := &user{
		ID: p.ID, Aud: defaultAud, Role: p.Role, Email: p.Email, Phone: p.Phone, EncryptedPassword: p.Encrypted,
		AppMetaData: app, UserMetaData: meta, IsAnonymous: p.Anonymous, CreatedAt: now, UpdatedAt: now,
		BannedUntil: p.BannedUntil,
	}
	if p.EmailConfirmed {
		u.EmailConfirmedAt = &now
	}
	if p.PhoneConfirmed {
		u.PhoneConfirmedAt = &now
	}
	if p.Invited {
		u.InvitedAt = &now
	}
	// A savepoint, so a lost race for the email becomes a clean 422 and the
	// caller's transaction stays usable.
	err := pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) error {
		if err := insertUser(ctx, sp, u); err != nil {
			return err
		}
		if idData != nil {
			return insertIdentity(ctx, sp, u.ID, p.Provider, idData, now)
		}
		return nil
	})
	if err != nil {
		if isUniqueViolation(err) {
			if p.Phone != "" && p.Email == "" {
				return nil, errPhoneExists
			}
			return nil, errEmailExists
		}
		return nil, dbError(err)
	}
	return s.reload(ctx, tx, u.ID)
}

func (s *service) signup(c *fiber.Ctx) error {
	var p signupParams
	if err := readJSON(c, &p); err != nil {
		return err
	}
	ctx, cancel := s.ctx()
	defer cancel()
	cl := clientOf(c)
	if p.Email == "" && p.Phone == "" {
		if p.Password != "" {
			return validationFailed("To signup, please provide your email")
		}
		return s.signupAnonymous(c, ctx, p, cl)
	}
	if err := s.rateLimit(ctx, "sign_in", cl.IP, s.cfg.rateSignIn); err != nil {
		return err
	}
	if s.cfg.disableSignup {
		return unprocessable(CodeSignupDisabled, "Signups not allowed for this instance")
	}
	if p.Email != "" && p.Phone != "" {
		return validationFailed("Only an email address or phone number should be provided on signup.")
	}
	if p.Phone != "" {
		return unprocessable(CodePhoneProviderDisabled, "Phone signups are disabled")
	}
	if !s.cfg.emailEnabled {
		return unprocessable(CodeEmailProviderDisabled, "Email signups are disabled")
	}
	email, err := normalizeEmail(p.Email)
	if err != nil {
		return err
	}
	if p.Password == "" {
		return validationFailed("Signup requires a valid password")
	}
	if werr := s.cfg.checkPassword(p.Password); werr != nil {
		return werr
	}
	pkce, err := pkceFrom(p.CodeChallenge, p.CodeChallengeMethod)
	if err != nil {
		return err
	}
	redirect := s.cfg.redirectTo(c.Query("redirect_to"))
	base, iss := s.externalURL(c), s.issuer(c)

	existing, err := userByEmail(ctx, s.db, email)
	if err != nil && !errors.Is(err, errNoUser) {
		return dbError(err)
	}
	if existing != nil {
		if existing.emailConfirmed() || s.cfg.autoconfirm {
			// With autoconfirm, an unconfirmed existing user is refused too:
			// confirming it here would hand its account to whoever signs up.
			if s.cfg.autoconfirm {
				return unprocessable(CodeUserAlreadyExists, "User already registered")
			}
			return c.JSON(obfuscatedUser(existing, p.Data, s.now()))
		}
		// Not confirmed yet: mail the confirmation again, change nothing else.
		err := s.tx(ctx, func(tx pgx.Tx) error {
			u, err := userByIDForUpdate(ctx, tx, existing.ID)
			if err != nil {
				return dbError(err)
			}
			if err := s.tooSoon(u.ConfirmationSentAt); err != nil {
				return err
			}
			existing = u
			return s.mailToken(ctx, tx, u, mailSignup, u.Email, redirect, base, pkce)
		})
		if err != nil {
			return err
		}
		return c.JSON(existing)
	}

	encrypted, err := s.hasher.hash(ctx, p.Password)
	if err != nil {
		return internalError("Unexpected failure", err)
	}
	var u *user
	var sess *sessionJSON
	err = s.tx(ctx, func(tx pgx.Tx) error {
		var err error
		u, err = s.createUser(ctx, tx, newUser{
			Email: email, Encrypted: encrypted, Provider: "email", UserMetaData: p.Data,
		})
		if err != nil {
			var ae *apierr.Error
			if errors.As(err, &ae) && ae.Code == CodeEmailExists {
				return unprocessable(CodeUserAlreadyExists, "User already registered")
			}
			return err
		}
		if s.cfg.autoconfirm {
			if err := s.confirmEmail(ctx, tx, u); err != nil {
				return err
			}
			if u, err = s.reload(ctx, tx, u.ID); err != nil {
				return err
			}
			sess, err = s.newSession(ctx, tx, u, methodPassword, cl, iss)
			return err
		}
		return s.mailToken(ctx, tx, u, mailSignup, u.Email, redirect, base, pkce)
	})
	if err != nil {
		return err
	}
	if sess != nil {
		return c.JSON(sess)
	}
	return c.JSON(u.wire())
}

// obfuscatedUser is the answer to a sign-up for an address that is already
// registered when confirmations are on: a user-shaped object that reveals
// nothing (random id, no identities), so addresses cannot be enumerated.
func obfuscatedUser(u *user, data map[string]any, now time.Time) *user {
	now = now.UTC()
	meta := data
	if meta == nil {
		meta = map[string]any{}
	}
	return &user{
		ID: uuid.New(), Aud: defaultAud, Role: "", Email: u.Email,
		AppMetaData:        map[string]any{"provider": "email", "providers": []string{"email"}},
		UserMetaData:       meta,
		Identities:         []identity{},
		ConfirmationSentAt: &now, CreatedAt: now, UpdatedAt: now,
	}
}

// signupAnonymous is signInAnonymously: a user without email, phone or
// identities, signed in at once.
func (s *service) signupAnonymous(c *fiber.Ctx, ctx context.Context, p signupParams, cl client) error {
	if !s.cfg.anonymous {
		return unprocessable(CodeAnonymousDisabled, "Anonymous sign-ins are disabled")
	}
	if s.cfg.disableSignup {
		return unprocessable(CodeSignupDisabled, "Signups not allowed for this instance")
	}
	if err := s.rateLimit(ctx, "anonymous", cl.IP, s.cfg.rateAnonymous); err != nil {
		return err
	}
	iss := s.issuer(c)
	var sess *sessionJSON
	err := s.tx(ctx, func(tx pgx.Tx) error {
		u, err := s.createUser(ctx, tx, newUser{Provider: "anonymous", Anonymous: true, UserMetaData: p.Data})
		if err != nil {
			return err
		}
		sess, err = s.newSession(ctx, tx, u, methodAnonymous, cl, iss)
		return err
	})
	if err != nil {
		return err
	}
	return c.JSON(sess)
}
