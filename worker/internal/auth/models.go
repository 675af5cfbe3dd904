package auth

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// user is a row of auth.users with its identities.
type user struct {
	ID                uuid.UUID
	Aud               string
	Role              string
	Email             string // lower-cased; "" when unset
	Phone             string // digits only; "" when unset
	EncryptedPassword string

	EmailConfirmedAt       *time.Time
	PhoneConfirmedAt       *time.Time
	InvitedAt              *time.Time
	ConfirmationSentAt     *time.Time
	RecoverySentAt         *time.Time
	EmailChangeSentAt      *time.Time
	PhoneChangeSentAt      *time.Time
	ReauthenticationSentAt *time.Time
	LastSignInAt           *time.Time
	BannedUntil            *time.Time
	DeletedAt              *time.Time

	ConfirmationToken        string
	RecoveryToken            string
	EmailChangeTokenNew      string
	EmailChangeTokenCurrent  string
	EmailChange              string // pending new email
	EmailChangeConfirmStatus int
	PhoneChange              string
	PhoneChangeToken         string
	ReauthenticationToken    string

	AppMetaData  map[string]any
	UserMetaData map[string]any
	IsAnonymous  bool
	CreatedAt    time.Time
	UpdatedAt    time.Time

	Identities []identity
	Factors    []factorJSON // MFA factors; nil when none

	// appMetaRaw and userMetaRaw hold the metadata as stored, for a user
	// read only to be shown (GET /user), whose maps are then left nil.
	appMetaRaw, userMetaRaw []byte
	// shown is the user's JSON, written once, for a user a shownCache
	// hands out (shared: read only).
	shown []byte
}

// identity is a row of auth.identities in its wire shape (docs/api/auth.md §2.2): JSON
// "id" is the provider's subject, "identity_id" the row id.
type identity struct {
	IdentityID   uuid.UUID       `json:"identity_id"`
	ID           string          `json:"id"`
	UserID       uuid.UUID       `json:"user_id"`
	IdentityData json.RawMessage `json:"identity_data"` // passed through as stored
	Provider     string          `json:"provider"`
	LastSignInAt *time.Time      `json:"last_sign_in_at,omitempty"`
	CreatedAt    time.Time       `json:"created_at"`
	UpdatedAt    time.Time       `json:"updated_at"`
	Email        string          `json:"email,omitempty"`
}

// utc puts the identity's times in UTC, as the wire object has them.
func (i *identity) utc() {
	i.LastSignInAt = utcPtr(i.LastSignInAt)
	i.CreatedAt, i.UpdatedAt = i.CreatedAt.UTC(), i.UpdatedAt.UTC()
}

// confirmedAt is the earlier of the two confirmations, as the generated
// column computes it.
func (u *user) confirmedAt() *time.Time {
	switch {
	case u.EmailConfirmedAt == nil:
		return u.PhoneConfirmedAt
	case u.PhoneConfirmedAt == nil:
		return u.EmailConfirmedAt
	case u.PhoneConfirmedAt.Before(*u.EmailConfirmedAt):
		return u.PhoneConfirmedAt
	}
	return u.EmailConfirmedAt
}

func (u *user) emailConfirmed() bool { return u.EmailConfirmedAt != nil }
func (u *user) phoneConfirmed() bool { return u.PhoneConfirmedAt != nil }

// banned reports whether the user is banned at now.
func (u *user) banned(now time.Time) bool {
	return u.BannedUntil != nil && u.BannedUntil.After(now)
}

// userJSON is the user object (docs/api/auth.md §2.1), a contract with auth-js: field
// names are GoTrue's, times RFC 3339 in UTC, optional times omitted when
// null, email/phone always strings, metadata always objects, identities
// always an array.
type userJSON struct {
	ID                     string         `json:"id"`
	Aud                    string         `json:"aud"`
	Role                   string         `json:"role"`
	Email                  string         `json:"email"`
	EmailConfirmedAt       *time.Time     `json:"email_confirmed_at,omitempty"`
	Phone                  string         `json:"phone"`
	PhoneConfirmedAt       *time.Time     `json:"phone_confirmed_at,omitempty"`
	ConfirmationSentAt     *time.Time     `json:"confirmation_sent_at,omitempty"`
	ConfirmedAt            *time.Time     `json:"confirmed_at,omitempty"`
	InvitedAt              *time.Time     `json:"invited_at,omitempty"`
	RecoverySentAt         *time.Time     `json:"recovery_sent_at,omitempty"`
	NewEmail               string         `json:"new_email,omitempty"`
	EmailChangeSentAt      *time.Time     `json:"email_change_sent_at,omitempty"`
	NewPhone               string         `json:"new_phone,omitempty"`
	PhoneChangeSentAt      *time.Time     `json:"phone_change_sent_at,omitempty"`
	ReauthenticationSentAt *time.Time     `json:"reauthentication_sent_at,omitempty"`
	LastSignInAt           *time.Time     `json:"last_sign_in_at,omitempty"`
	AppMetaData            map[string]any `json:"app_metadata"`
	UserMetaData           map[string]any `json:"user_metadata"`
	Identities             []identity     `json:"identities"`
	Factors                []factorJSON   `json:"factors,omitempty"`
	BannedUntil            *time.Time     `json:"banned_until,omitempty"`
	CreatedAt              time.Time      `json:"created_at"`
	UpdatedAt              time.Time      `json:"updated_at"`
	DeletedAt              *time.Time     `json:"deleted_at,omitempty"`
	IsAnonymous            bool           `json:"is_anonymous"`

	// appMetaRaw and userMetaRaw stand for the metadata maps when those are
	// nil: JSON as stored, written compacted.
	appMetaRaw, userMetaRaw []byte
}

// wire returns the user's wire object.
func (u *user) wire() *userJSON {
	app, meta, ids := u.AppMetaData, u.UserMetaData, u.Identities
	if app == nil && u.appMetaRaw == nil {
		app = map[string]any{}
	}
	if meta == nil && u.userMetaRaw == nil {
		meta = map[string]any{}
	}
	if ids == nil {
		ids = []identity{}
	}
	return &userJSON{
		ID:                     u.ID.String(),
		Aud:                    u.Aud,
		Role:                   u.Role,
		Email:                  u.Email,
		EmailConfirmedAt:       utcPtr(u.EmailConfirmedAt),
		Phone:                  u.Phone,
		PhoneConfirmedAt:       utcPtr(u.PhoneConfirmedAt),
		ConfirmationSentAt:     utcPtr(u.ConfirmationSentAt),
		ConfirmedAt:            utcPtr(u.confirmedAt()),
		InvitedAt:              utcPtr(u.InvitedAt),
		RecoverySentAt:         utcPtr(u.RecoverySentAt),
		NewEmail:               u.EmailChange,
		EmailChangeSentAt:      utcPtr(u.EmailChangeSentAt),
		NewPhone:               u.PhoneChange,
		PhoneChangeSentAt:      utcPtr(u.PhoneChangeSentAt),
		ReauthenticationSentAt: utcPtr(u.ReauthenticationSentAt),
		LastSignInAt:           utcPtr(u.LastSignInAt),
		AppMetaData:            app,
		UserMetaData:           meta,
		Identities:             ids,
		Factors:                u.Factors,
		BannedUntil:            utcPtr(u.BannedUntil),
		CreatedAt:              u.CreatedAt.UTC(),
		UpdatedAt:              u.UpdatedAt.UTC(),
		DeletedAt:              utcPtr(u.DeletedAt),
		IsAnonymous:            u.IsAnonymous,
		appMetaRaw:             u.appMetaRaw,
		userMetaRaw:            u.userMetaRaw,
	}
}

// MarshalJSON writes the wire object, so a *user can never be sent with
// its Go fields (password hash, tokens). Handlers send u.wire() directly:
// a Marshaler's output is scanned again by the encoder.
func (u *user) MarshalJSON() ([]byte, error) { return json.Marshal(u.wire()) }

// utcPtr returns t in UTC: t itself when it already is (a user's times are
// replaced, never changed in place), else a copy.
func utcPtr(t *time.Time) *time.Time {
	if t == nil || t.Location() == time.UTC {
		return t
	}
	u := t.UTC()
	return &u
}

// sessionJSON is the access token response (docs/api/auth.md §2.3), a contract with
// auth-js: a response is a session only when access_token, refresh_token and
// expires_in are all set.
type sessionJSON struct {
	AccessToken  string        `json:"access_token"`
	TokenType    string        `json:"token_type"`
	ExpiresIn    int           `json:"expires_in"`
	ExpiresAt    int64         `json:"expires_at"`
	RefreshToken string        `json:"refresh_token"`
	User         *userJSON     `json:"user"`
	WeakPassword *weakPassword `json:"weak_password,omitempty"`
	// ProviderToken and ProviderRefreshToken are an external provider's
	// tokens, on the session of a PKCE provider sign-in.
	ProviderToken        string `json:"provider_token,omitempty"`
	ProviderRefreshToken string `json:"provider_refresh_token,omitempty"`
}

// amrEntry is one element of the amr claim.
type amrEntry struct {
	Method    string `json:"method"`
	Timestamp int64  `json:"timestamp"`
}

// Authentication methods (amr "method" values and flow_state methods).
const (
	methodPassword    = "password"
	methodOTP         = "otp"
	methodMagicLink   = "magiclink"
	methodAnonymous   = "anonymous"
	methodRecovery    = "recovery"
	methodInvite      = "invite"
	methodEmailSignup = "email/signup"
	methodEmailChange = "email_change"
)
