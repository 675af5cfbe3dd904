package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/madbase/madbase/shared/config"
)

// Passkeys (auth-js `supabase.auth.passkey`, `signInWithPasskey`,
// `registerPasskey`, `auth.admin.passkey`): WebAuthn credentials a signed-in
// user registers (auth.webauthn_credentials) and signs in with later, without
// naming themselves (discoverable credentials). Each ceremony's challenge is
// kept server-side (auth.webauthn_challenges) until it is answered, once, or
// expires. The WebAuthn checks are github.com/go-webauthn/webauthn's.
// docs/api/auth-passkeys.md is the contract.

// Passkey error codes (auth-js lib/error-codes.ts, GoTrue's); part of the
// wire contract.
const (
	CodePasskeyDisabled            = "passkey_disabled"
	CodeTooManyPasskeys            = "too_many_passkeys"
	CodeWebAuthnChallengeNotFound  = "webauthn_challenge_not_found"
	CodeWebAuthnChallengeExpired   = "webauthn_challenge_expired"
	CodeWebAuthnVerificationFailed = "webauthn_verification_failed"
	CodeWebAuthnCredentialExists   = "webauthn_credential_exists"
)

// methodPasskey is the amr method of a passkey sign-in.
const methodPasskey = "passkey"

// Ceremony kinds (auth.webauthn_challenges.challenge_type).
const (
	ceremonyRegistration   = "registration"
	ceremonyAuthentication = "authentication"
)

// maxFriendlyName is the longest passkey name accepted, in characters.
const maxFriendlyName = 120

// passkeySettings are the passkey settings, resolved.
type passkeySettings struct {
	enabled      bool
	rp           config.PasskeyRP
	namedRP      bool // AUTH_PASSKEY_RP_NAME is set
	fromPage     bool // dev without a relying party set: the calling page's Origin is the relying party
	challengeExp time.Duration
	maxPerUser   int
}

func resolvePasskey(a config.Auth, dev bool) (passkeySettings, error) {
	on, err := config.AutoBool(a.PasskeyEnabled, dev)
	if err != nil {
		return passkeySettings{}, fmt.Errorf("AUTH_PASSKEY_ENABLED: %w", err)
	}
	return passkeySettings{
		enabled:      on,
		rp:           a.PasskeyRP(),
		namedRP:      a.PasskeyRPName != "",
		fromPage:     dev && a.PasskeyRPID == "" && len(a.PasskeyRPOrigins) == 0,
		challengeExp: a.PasskeyChallengeExp,
		maxPerUser:   a.PasskeyMaxPerUser,
	}, nil
}

// passkeyRoutes mounts /passkeys and the admin listing and removal. The
// admin routes answer whether or not passkeys are enabled, as GoTrue's do.
func (s *service) passkeyRoutes(g fiber.Router) {
	p := g.Group("/passkeys", s.needDB, s.requirePasskeys)
	p.Post("/authentication/options", s.passkeyAuthenticationOptions)
	p.Post("/authentication/verify", s.passkeyAuthenticationVerify)
	p.Post("/registration/options", s.passkeyRegistrationOptions)
	p.Post("/registration/verify", s.passkeyRegistrationVerify)
	p.Get("/", s.listPasskeys)
	p.Patch("/:passkey", s.updatePasskey)
	p.Delete("/:passkey", s.deletePasskey)

	g.Get("/admin/users/:id/passkeys", s.needDB, s.requireAdmin, s.adminListPasskeys)
	g.Delete("/admin/users/:id/passkeys/:passkey", s.needDB, s.requireAdmin, s.adminDeletePasskey)
}

// requirePasskeys answers GoTrue's 404 passkey_disabled while passkeys are
// off.
func (s *service) requirePasskeys(c *fiber.Ctx) error {
	if !s.cfg.passkey.enabled {
		return notFound(CodePasskeyDisabled, "Passkeys are disabled")
	}
	return c.Next()
}

// relyingParty is the relying party of a ceremony begun by this request: the
// configured one, or in madbase dev without one configured, the domain of
// the page that calls (its Origin header), so that an app on any local port
// works without settings.
func (s *service) relyingParty(c *fiber.Ctx) (config.PasskeyRP, error) {
	ps := s.cfg.passkey
	rp := ps.rp
	if ps.fromPage {
		if o, err := config.PageOrigin(c.Get(fiber.HeaderOrigin)); err == nil {
			if u, err := url.Parse(o); err == nil && config.CheckRPID(u.Hostname()) == nil {
				rp.ID, rp.Origins = u.Hostname(), []string{o}
				if !ps.namedRP {
					rp.Name = rp.ID
				}
			}
		}
	}
	if err := config.CheckRPID(rp.ID); err != nil || len(rp.Origins) == 0 {
		return rp, internalError("Passkeys need a relying party: set AUTH_PASSKEY_RP_ID and AUTH_PASSKEY_RP_ORIGINS",
			fmt.Errorf("relying party %q, origins %v: %v", rp.ID, rp.Origins, err))
	}
	return rp, nil
}

// webAuthn is the library's relying party for a ceremony: resident
// (discoverable) keys required so that sign-in needs no user name, user
// verification preferred, no attestation asked (GoTrue's choices).
func (s *service) webAuthn(rpID, rpName string, origins []string) (*webauthn.WebAuthn, error) {
	timeout := webauthn.TimeoutConfig{Timeout: s.cfg.passkey.challengeExp, TimeoutUVD: s.cfg.passkey.challengeExp}
	w, err := webauthn.New(&webauthn.Config{
		RPID:                  rpID,
		RPDisplayName:         rpName,
		RPOrigins:             origins,
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:      protocol.ResidentKeyRequirementRequired,
			UserVerification: protocol.VerificationPreferred,
		},
		Timeouts: webauthn.TimeoutsConfig{Login: timeout, Registration: timeout},
	})
	if err != nil {
		return nil, internalError("Failed to initialize WebAuthn", err)
	}
	return w, nil
}

// ceremony is what a challenge row keeps between options and verify: the
// library's session data and the relying party the options named.
type ceremony struct {
	Session webauthn.SessionData `json:"session"`
	RPID    string               `json:"rp_id"`
	RPName  string               `json:"rp_name"`
	Origins []string             `json:"origins"`
}

// challengeRetention is how long expired challenges stay (to be answered
// "expired" rather than "not found") before options requests sweep them.
const challengeRetention = time.Hour

// saveCeremony stores a new challenge and sweeps long-expired ones; userID
// is uuid.Nil for a sign-in.
func (s *service) saveCeremony(ctx context.Context, kind string, userID uuid.UUID, cer *ceremony) (uuid.UUID, time.Time, error) {
	now := s.now().UTC()
	exp := now.Add(s.cfg.passkey.challengeExp)
	data, err := json.Marshal(cer)
	if err != nil {
		return uuid.Nil, exp, internalError("Unexpected failure", err)
	}
	var owner any
	if userID != uuid.Nil {
		owner = pgUUID(userID)
	}
	id := uuid.New()
	_, err = s.db.Exec(ctx, `with sweep as (delete from auth.webauthn_challenges where expires_at < $6)
		insert into auth.webauthn_challenges (id, user_id, challenge_type, session_data, created_at, expires_at)
		values ($1, $2, $3, $4::jsonb, $5, $7)`,
		pgUUID(id), owner, kind, string(data), now, now.Add(-challengeRetention), exp)
	if err != nil {
		return uuid.Nil, exp, dbError(err)
	}
	return id, exp, nil
}

// ceremonyParams is the body of both verify requests.
type ceremonyParams struct {
	ChallengeID string          `json:"challenge_id"`
	Credential  json.RawMessage `json:"credential"`
}

func (p *ceremonyParams) check() (uuid.UUID, error) {
	if p.ChallengeID == "" {
		return uuid.Nil, validationFailed("challenge_id is required")
	}
	if len(p.Credential) == 0 || string(p.Credential) == "null" {
		return uuid.Nil, validationFailed("credential is required")
	}
	id, err := uuid.Parse(p.ChallengeID)
	if err != nil {
		return uuid.Nil, validationFailed("challenge_id must be a valid UUID")
	}
	return id, nil
}

// takeCeremony consumes a challenge: it is deleted as it is read, so a
// second answer (a replay, or a race) finds nothing. A registration's
// challenge must be the caller's.
func (s *service) takeCeremony(ctx context.Context, id uuid.UUID, kind string, userID uuid.UUID) (*ceremony, error) {
	var (
		data []byte
		exp  time.Time
	)
	var owner any
	if userID != uuid.Nil {
		owner = pgUUID(userID)
	}
	err := s.db.QueryRow(ctx, `delete from auth.webauthn_challenges
		where id = $1 and challenge_type = $2 and user_id is not distinct from $3::uuid
		returning session_data, expires_at`, pgUUID(id), kind, owner).Scan(&data, &exp)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, badRequest(CodeWebAuthnChallengeNotFound, "Challenge not found or already used")
	}
	if err != nil {
		return nil, dbError(err)
	}
	if !s.now().Before(exp) {
		return nil, badRequest(CodeWebAuthnChallengeExpired, "Challenge has expired")
	}
	cer := &ceremony{}
	if err := json.Unmarshal(data, cer); err != nil {
		return nil, internalError("Unexpected failure", err)
	}
	return cer, nil
}

// passkey is a row of auth.webauthn_credentials.
type passkey struct {
	ID              uuid.UUID
	UserID          uuid.UUID
	CredentialID    []byte
	PublicKey       []byte
	AttestationType string
	AAGUID          pgtype.UUID
	SignCount       int64
	Transports      []byte
	BackupEligible  bool
	BackedUp        bool
	FriendlyName    string
	CreatedAt       time.Time
	LastUsedAt      *time.Time
}

const passkeyColumns = `id, user_id, credential_id, public_key, attestation_type, aaguid, sign_count, transports,
	backup_eligible, backed_up, friendly_name, created_at, last_used_at`

func scanPasskey(row pgx.Row) (*passkey, error) {
	p := &passkey{}
	err := row.Scan((*[16]byte)(&p.ID), (*[16]byte)(&p.UserID), &p.CredentialID, &p.PublicKey, &p.AttestationType, &p.AAGUID,
		&p.SignCount, &p.Transports, &p.BackupEligible, &p.BackedUp, &p.FriendlyName, &p.CreatedAt, &p.LastUsedAt)
	return p, err
}

// userPasskeys lists a user's passkeys, oldest first.
func userPasskeys(ctx context.Context, q querier, userID uuid.UUID) ([]*passkey, error) {
	rows, err := q.Query(ctx, `select `+passkeyColumns+` from auth.webauthn_credentials
		where user_id = $1 order by created_at, id`, pgUUID(userID))
	if err != nil {
		return nil, dbError(err)
	}
	defer rows.Close()
	var out []*passkey
	for rows.Next() {
		p, err := scanPasskey(rows)
		if err != nil {
			return nil, dbError(err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, dbError(err)
	}
	return out, nil
}

// credential is the row as the library's credential record.
func (p *passkey) credential() webauthn.Credential {
	c := webauthn.Credential{
		ID:              p.CredentialID,
		PublicKey:       p.PublicKey,
		AttestationType: p.AttestationType,
		Flags:           webauthn.CredentialFlags{BackupEligible: p.BackupEligible, BackupState: p.BackedUp},
		Authenticator:   webauthn.Authenticator{SignCount: uint32(p.SignCount)},
	}
	if p.AAGUID.Valid {
		c.Authenticator.AAGUID = p.AAGUID.Bytes[:]
	}
	_ = json.Unmarshal(p.Transports, &c.Transport) // a bad list only loses the hint
	return c
}

// passkeyJSON is a passkey on the wire (auth-js PasskeyListItem); a
// contract.
type passkeyJSON struct {
	ID           uuid.UUID  `json:"id"`
	FriendlyName string     `json:"friendly_name,omitempty"`
	CreatedAt    time.Time  `json:"created_at"`
	LastUsedAt   *time.Time `json:"last_used_at,omitempty"`
}

func (p *passkey) wire() passkeyJSON {
	return passkeyJSON{ID: p.ID, FriendlyName: p.FriendlyName, CreatedAt: p.CreatedAt.UTC(), LastUsedAt: utcPtr(p.LastUsedAt)}
}

func passkeysJSON(ps []*passkey) []passkeyJSON {
	out := make([]passkeyJSON, len(ps))
	for i, p := range ps {
		out[i] = p.wire()
	}
	return out
}

// webAuthnUser is a user and their passkeys as the library sees them. The
// user handle is the user id as text, as GoTrue's, so passkeys made there
// sign in here.
type webAuthnUser struct {
	u     *user
	creds []webauthn.Credential
}

var _ webauthn.User = (*webAuthnUser)(nil)

func newWebAuthnUser(u *user, ps []*passkey) *webAuthnUser {
	w := &webAuthnUser{u: u}
	for _, p := range ps {
		w.creds = append(w.creds, p.credential())
	}
	return w
}

func (w *webAuthnUser) WebAuthnID() []byte { return []byte(w.u.ID.String()) }

func (w *webAuthnUser) WebAuthnName() string {
	switch {
	case w.u.Email != "":
		return w.u.Email
	case w.u.Phone != "":
		return w.u.Phone
	}
	return w.u.ID.String()
}

func (w *webAuthnUser) WebAuthnDisplayName() string {
	if name, ok := w.u.UserMetaData["name"].(string); ok && name != "" {
		return name
	}
	return w.WebAuthnName()
}

func (w *webAuthnUser) WebAuthnCredentials() []webauthn.Credential { return w.creds }
