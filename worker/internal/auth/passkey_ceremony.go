package auth

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// optionsJSON answers both options requests (auth-js
// PasskeyRegistrationOptionsResponse / PasskeyAuthenticationOptionsResponse);
// a contract. Options is what navigator.credentials.create() or get() takes
// as publicKey, in its JSON form (binary fields base64url).
type optionsJSON struct {
	ChallengeID uuid.UUID `json:"challenge_id"`
	Options     any       `json:"options"`
	ExpiresAt   int64     `json:"expires_at"`
}

// registeredJSON answers a registration (auth-js PasskeyMetadata); a
// contract.
type registeredJSON struct {
	ID           uuid.UUID `json:"id"`
	FriendlyName string    `json:"friendly_name,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
}

// passkeyOwner is the caller of a registration or a passkey change: a
// signed-in, non-anonymous user whose session meets GoTrue's rule (aal2
// once the user has a verified MFA factor) when strict.
func (s *service) passkeyOwner(ctx context.Context, c *fiber.Ctx, strict bool) (*mfaCaller, error) {
	who, err := s.caller(ctx, c)
	if err != nil {
		return nil, err
	}
	if who.u.IsAnonymous {
		return nil, forbidden(CodeNoAuthorization, "Anonymous user not allowed to perform these actions")
	}
	if strict && who.aal != "aal2" {
		for _, f := range who.u.Factors {
			if f.Status == factorVerified {
				return nil, forbidden(CodeInsufficientAAL, "AAL2 session is required to manage passkeys when MFA is enabled")
			}
		}
	}
	return who, nil
}

// passkeyRegistrationOptions is POST /passkeys/registration/options: a
// challenge for the caller's next passkey, excluding those they have.
func (s *service) passkeyRegistrationOptions(c *fiber.Ctx) error {
	ctx, cancel := s.ctx()
	defer cancel()
	who, err := s.passkeyOwner(ctx, c, true)
	if err != nil {
		return err
	}
	have, err := userPasskeys(ctx, s.db, who.u.ID)
	if err != nil {
		return err
	}
	if len(have) >= s.cfg.passkey.maxPerUser {
		return unprocessable(CodeTooManyPasskeys, "Maximum number of passkeys reached")
	}
	rp, err := s.relyingParty(c)
	if err != nil {
		return err
	}
	w, err := s.webAuthn(rp.ID, rp.Name, rp.Origins)
	if err != nil {
		return err
	}
	wu := newWebAuthnUser(who.u, have)
	exclude := webauthn.Credentials(wu.creds).CredentialDescriptors()
	creation, session, err := w.BeginRegistration(wu, webauthn.WithExclusions(exclude))
	if err != nil {
		return internalError("Failed to generate WebAuthn registration options", err)
	}
	id, exp, err := s.saveCeremony(ctx, ceremonyRegistration, who.u.ID,
		&ceremony{Session: *session, RPID: rp.ID, RPName: rp.Name, Origins: rp.Origins})
	if err != nil {
		return err
	}
	return c.JSON(optionsJSON{ChallengeID: id, Options: creation.Response, ExpiresAt: exp.Unix()})
}

// passkeyRegistrationVerify is POST /passkeys/registration/verify: the
// authenticator's answer checked against the caller's challenge, and the
// passkey stored.
func (s *service) passkeyRegistrationVerify(c *fiber.Ctx) error {
	var p ceremonyParams
	if err := readJSON(c, &p); err != nil {
		return err
	}
	ctx, cancel := s.ctx()
	defer cancel()
	who, err := s.passkeyOwner(ctx, c, true)
	if err != nil {
		return err
	}
	challengeID, err := p.check()
	if err != nil {
		return err
	}
	cer, err := s.takeCeremony(ctx, challengeID, ceremonyRegistration, who.u.ID)
	if err != nil {
		return err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(p.Credential)
	if err != nil {
		return badRequest(CodeWebAuthnVerificationFailed, "Invalid credential response").WithInternal(err)
	}
	w, err := s.webAuthn(cer.RPID, cer.RPName, cer.Origins)
	if err != nil {
		return err
	}
	have, err := userPasskeys(ctx, s.db, who.u.ID)
	if err != nil {
		return err
	}
	cred, err := w.CreateCredential(newWebAuthnUser(who.u, have), cer.Session, parsed)
	if err != nil {
		return badRequest(CodeWebAuthnVerificationFailed, "Credential verification failed").WithInternal(err)
	}
	pk, err := s.storePasskey(ctx, who.u.ID, cred)
	if err != nil {
		return err
	}
	return c.JSON(registeredJSON{ID: pk.ID, FriendlyName: pk.FriendlyName, CreatedAt: pk.CreatedAt.UTC()})
}

// storePasskey inserts a verified credential, within the user's limit
// (their row locked, so two registrations cannot both pass it).
func (s *service) storePasskey(ctx context.Context, userID uuid.UUID, cred *webauthn.Credential) (*passkey, error) {
	transports, err := json.Marshal(cred.Transport)
	if err != nil || cred.Transport == nil {
		transports = []byte("[]")
	}
	var aaguid any
	if id, err := uuid.FromBytes(cred.Authenticator.AAGUID); err == nil {
		aaguid = pgUUID(id)
	}
	var pk *passkey
	err = s.tx(ctx, func(tx pgx.Tx) error {
		var n int
		err := tx.QueryRow(ctx, `select count(*) from auth.webauthn_credentials
			where user_id = (select id from auth.users where id = $1 for update)`, pgUUID(userID)).Scan(&n)
		if err != nil {
			return dbError(err)
		}
		if n >= s.cfg.passkey.maxPerUser {
			return unprocessable(CodeTooManyPasskeys, "Maximum number of passkeys reached")
		}
		now := s.now().UTC().Round(time.Microsecond)
		pk, err = scanPasskey(tx.QueryRow(ctx, `insert into auth.webauthn_credentials (id, user_id, credential_id,
				public_key, attestation_type, aaguid, sign_count, transports, backup_eligible, backed_up, friendly_name,
				created_at, updated_at)
			values ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10, $11, $12, $12)
			returning `+passkeyColumns,
			pgUUID(uuid.New()), pgUUID(userID), cred.ID, cred.PublicKey, cred.AttestationType, aaguid,
			int64(cred.Authenticator.SignCount), string(transports), cred.Flags.BackupEligible, cred.Flags.BackupState,
			"Passkey", now))
		if isUniqueViolation(err) {
			return unprocessable(CodeWebAuthnCredentialExists, "This credential is already registered")
		}
		if err != nil {
			return dbError(err)
		}
		return nil
	})
	return pk, err
}

// passkeyAuthenticationOptions is POST /passkeys/authentication/options: a
// sign-in challenge for any passkey of the relying party (the
// authenticator says whose it is).
func (s *service) passkeyAuthenticationOptions(c *fiber.Ctx) error {
	var body struct{} // gotrue_meta_security: no captcha here
	if err := readJSON(c, &body); err != nil {
		return err
	}
	ctx, cancel := s.ctx()
	defer cancel()
	if err := s.rateLimit(ctx, "sign_in", clientOf(c).IP, s.cfg.rateSignIn); err != nil {
		return err
	}
	rp, err := s.relyingParty(c)
	if err != nil {
		return err
	}
	w, err := s.webAuthn(rp.ID, rp.Name, rp.Origins)
	if err != nil {
		return err
	}
	assertion, session, err := w.BeginDiscoverableLogin()
	if err != nil {
		return internalError("Failed to generate WebAuthn authentication options", err)
	}
	id, exp, err := s.saveCeremony(ctx, ceremonyAuthentication, uuid.Nil,
		&ceremony{Session: *session, RPID: rp.ID, RPName: rp.Name, Origins: rp.Origins})
	if err != nil {
		return err
	}
	return c.JSON(optionsJSON{ChallengeID: id, Options: assertion.Response, ExpiresAt: exp.Unix()})
}

// passkeyAuthenticationVerify is POST /passkeys/authentication/verify: the
// assertion checked against the challenge and the passkey it names, then a
// session as a password sign-in makes one (amr "passkey").
func (s *service) passkeyAuthenticationVerify(c *fiber.Ctx) error {
	var p ceremonyParams
	if err := readJSON(c, &p); err != nil {
		return err
	}
	challengeID, err := p.check()
	if err != nil {
		return err
	}
	ctx, cancel := s.ctx()
	defer cancel()
	cer, err := s.takeCeremony(ctx, challengeID, ceremonyAuthentication, uuid.Nil)
	if err != nil {
		return err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(p.Credential)
	if err != nil {
		return badRequest(CodeWebAuthnVerificationFailed, "Invalid credential response").WithInternal(err)
	}
	w, err := s.webAuthn(cer.RPID, cer.RPName, cer.Origins)
	if err != nil {
		return err
	}
	var (
		owner     *webAuthnUser
		lookupErr error // a database failure, which is no refusal
	)
	find := func(_, userHandle []byte) (webauthn.User, error) {
		id, err := uuid.Parse(string(userHandle))
		if err != nil {
			return nil, errors.New("the user handle is not a user id")
		}
		u, err := userByID(ctx, s.db, id)
		if errors.Is(err, errNoUser) || (err == nil && u.DeletedAt != nil) {
			return nil, errNoUser
		}
		if err != nil {
			lookupErr = dbError(err)
			return nil, err
		}
		have, err := userPasskeys(ctx, s.db, u.ID)
		if err != nil {
			lookupErr = err
			return nil, err
		}
		if len(have) == 0 {
			return nil, errors.New("the user has no passkeys")
		}
		owner = newWebAuthnUser(u, have)
		return owner, nil
	}
	_, cred, err := w.ValidatePasskeyLogin(find, cer.Session, parsed)
	if lookupErr != nil {
		return lookupErr
	}
	if err != nil {
		return badRequest(CodeWebAuthnVerificationFailed, "Credential verification failed").WithInternal(err)
	}
	u := owner.u
	switch {
	case u.Email != "" && !u.emailConfirmed():
		return forbidden(CodeEmailNotConfirmed, "Email not confirmed")
	case u.Phone != "" && !u.phoneConfirmed():
		return forbidden(CodePhoneNotConfirmed, "Phone not confirmed")
	case u.banned(s.now()):
		return forbidden(CodeUserBanned, "User is banned")
	}
	if cred.Authenticator.CloneWarning {
		// The library keeps the stored counter and lets the sign-in
		// through (as GoTrue does); the operator hears of it.
		s.log.Warn("passkey sign count did not increase: the authenticator may be cloned",
			"user_id", u.ID.String(), "sign_count", parsed.Response.AuthenticatorData.Counter,
			"stored_sign_count", cred.Authenticator.SignCount)
	}
	cl := clientOf(c)
	iss := s.issuer(c)
	var sess *sessionJSON
	err = s.tx(ctx, func(tx pgx.Tx) error {
		now := s.now().UTC().Round(time.Microsecond)
		tag, err := tx.Exec(ctx, `update auth.webauthn_credentials
			set sign_count = greatest(sign_count, $2), backed_up = $3, last_used_at = $4, updated_at = $4
			where credential_id = $1 and user_id = $5`,
			cred.ID, int64(cred.Authenticator.SignCount), cred.Flags.BackupState, now, pgUUID(u.ID))
		if err != nil {
			return dbError(err)
		}
		if tag.RowsAffected() == 0 { // deleted meanwhile
			return badRequest(CodeWebAuthnVerificationFailed, "Credential verification failed")
		}
		sess, err = s.newSession(ctx, tx, u, methodPasskey, cl, iss)
		return err
	})
	if err != nil {
		return err
	}
	return c.JSON(sess)
}
