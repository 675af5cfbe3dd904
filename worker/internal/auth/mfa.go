package auth

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/madbase/madbase/shared/apierr"
	"github.com/madbase/madbase/shared/config"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// Multi-factor authentication (auth-js `supabase.auth.mfa`): TOTP and phone
// factors in auth.mfa_factors, challenges in auth.mfa_challenges. A
// verified challenge raises the caller's session to aal2 and adds the
// factor's method to its amr claims (auth.mfa_amr_claims), which refreshes
// keep.

// MFA error codes (auth-js lib/error-codes.ts); part of the wire contract.
const (
	CodeInsufficientAAL        = "insufficient_aal"
	CodeMFAVerificationFailed  = "mfa_verification_failed"
	CodeMFAChallengeExpired    = "mfa_challenge_expired"
	CodeMFAIPAddressMismatch   = "mfa_ip_address_mismatch"
	CodeMFAFactorNameConflict  = "mfa_factor_name_conflict"
	CodeTooManyEnrolledFactors = "too_many_enrolled_mfa_factors"
	CodeMFATOTPEnrollDisabled  = "mfa_totp_enroll_not_enabled"
	CodeMFATOTPVerifyDisabled  = "mfa_totp_verify_not_enabled"
	CodeMFAPhoneEnrollDisabled = "mfa_phone_enroll_not_enabled"
	CodeMFAPhoneVerifyDisabled = "mfa_phone_verify_not_enabled"
)

// Factor types and statuses (auth.factor_type, auth.factor_status).
const (
	factorTOTP     = "totp"
	factorPhone    = "phone"
	factorVerified = "verified"
)

// amrMethod is the amr claim's method for a factor type (auth-js
// AMRMethods): "totp" as GoTrue writes it, "mfa/phone".
func amrMethod(factorType string) string {
	if factorType == factorPhone {
		return "mfa/phone"
	}
	return factorType
}

// totpPeriod and totpDigits are what authenticator apps assume.
const (
	totpPeriod = 30
	totpDigits = 6
)

// mfaSettings are the MFA and SMS settings, resolved.
type mfaSettings struct {
	totpEnroll, totpVerify   bool
	phoneEnroll, phoneVerify bool
	maxFactors               int
	challengeExp             time.Duration
	maxFailed                int
	lockout                  time.Duration
	phoneMaxFrequency        time.Duration
	testOTP                  map[string]string
	twilioSID, twilioToken   string
	twilioFrom               string
}

func resolveMFA(a config.Auth) (mfaSettings, error) {
	test, err := config.ParseTestOTP(a.SMSTestOTP)
	if err != nil {
		return mfaSettings{}, fmt.Errorf("AUTH_SMS_TEST_OTP: %w", err)
	}
	return mfaSettings{
		totpEnroll: a.MFATOTPEnroll, totpVerify: a.MFATOTPVerify,
		phoneEnroll: a.MFAPhoneEnroll, phoneVerify: a.MFAPhoneVerify,
		maxFactors: a.MFAMaxFactors, challengeExp: a.MFAChallengeExp,
		maxFailed: a.MFAMaxFailed, lockout: a.MFAFailedLockout, phoneMaxFrequency: a.MFAPhoneMaxFrequency,
		testOTP:   test,
		twilioSID: a.SMSTwilioAccountSID, twilioToken: a.SMSTwilioAuthToken, twilioFrom: a.SMSTwilioMessagingSID,
	}, nil
}

// smsSender picks the SMS sender: the test's, else Twilio when configured,
// else none (phone challenges then work only for AUTH_SMS_TEST_OTP numbers).
func smsSender(opts Options, m mfaSettings) SMSSender {
	if opts.SMS != nil {
		return opts.SMS
	}
	if m.twilioSID != "" {
		return newTwilioSender("", m.twilioSID, m.twilioToken, m.twilioFrom)
	}
	return nil
}

func (s *service) mfaRoutes(g fiber.Router) {
	f := g.Group("/factors", s.needDB)
	f.Get("/", s.listFactors)
	f.Post("/", s.enrollFactor)
	f.Post("/:factor/challenge", s.challengeFactor)
	f.Post("/:factor/verify", s.verifyFactor)
	f.Delete("/:factor", s.unenrollFactor)
}

// factorJSON is a factor on the wire (docs/api/auth.md §2.1, the user object's
// "factors"), a contract with auth-js's Factor type.
type factorJSON struct {
	ID               uuid.UUID  `json:"id"`
	FriendlyName     string     `json:"friendly_name"`
	FactorType       string     `json:"factor_type"`
	Status           string     `json:"status"`
	Phone            string     `json:"phone,omitempty"`
	CreatedAt        time.Time  `json:"created_at"`
	UpdatedAt        time.Time  `json:"updated_at"`
	LastChallengedAt *time.Time `json:"last_challenged_at,omitempty"`
}

func (f *factorJSON) utc() {
	f.CreatedAt, f.UpdatedAt = f.CreatedAt.UTC(), f.UpdatedAt.UTC()
	f.LastChallengedAt = utcPtr(f.LastChallengedAt)
}

// factorsColumn selects a user's factors as a JSON array, NULL when none:
// a column of userColumns and shownUser (user u).
const factorsColumn = `(select json_agg(json_build_object('id', f.id, 'friendly_name', coalesce(f.friendly_name, ''),
		'factor_type', f.factor_type, 'status', f.status, 'phone', coalesce(f.phone, ''), 'created_at', f.created_at,
		'updated_at', f.updated_at, 'last_challenged_at', f.last_challenged_at) order by f.created_at, f.id)
		from auth.mfa_factors f where f.user_id = u.id)`

// decodeFactors reads factorsColumn.
func decodeFactors(b []byte) ([]factorJSON, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var fs []factorJSON
	if err := json.Unmarshal(b, &fs); err != nil {
		return nil, err
	}
	for i := range fs {
		fs[i].utc()
	}
	return fs, nil
}

// factor is a row of auth.mfa_factors.
type factor struct {
	factorJSON
	UserID       uuid.UUID
	Secret       string
	LastStep     *int64
	Failed       int
	LastFailedAt *time.Time
}

const factorColumns = `f.id, coalesce(f.friendly_name, ''), f.factor_type::text, f.status::text, coalesce(f.phone, ''),
	f.created_at, f.updated_at, f.last_challenged_at, f.user_id, coalesce(f.secret, ''), f.last_totp_step,
	f.failed_verifications, f.last_failed_at`

func scanFactor(row pgx.Row) (*factor, error) {
	f := &factor{}
	err := row.Scan(&f.ID, &f.FriendlyName, &f.FactorType, &f.Status, &f.Phone, &f.CreatedAt, &f.UpdatedAt,
		&f.LastChallengedAt, &f.UserID, &f.Secret, &f.LastStep, &f.Failed, &f.LastFailedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errFactorNotFound
	}
	if err != nil {
		return nil, dbError(err)
	}
	f.utc()
	return f, nil
}

var errFactorNotFound = notFound(CodeMFAFactorNotFound, "Factor not found")

// userFactor loads factor id of user uid, locked for the transaction.
func userFactor(ctx context.Context, q querier, uid uuid.UUID, id string) (*factor, error) {
	fid, err := uuid.Parse(id)
	if err != nil {
		return nil, errFactorNotFound
	}
	return scanFactor(q.QueryRow(ctx, `select `+factorColumns+` from auth.mfa_factors f
		where f.id = $1 and f.user_id = $2 for update`, fid, uid))
}

// mfaCaller is a request's signed-in user and session.
type mfaCaller struct {
	p   *principal
	u   *user
	aal string // the session's
}

// caller loads the user of the bearer token, which must belong to a live
// session, and the session's assurance level.
func (s *service) caller(ctx context.Context, c *fiber.Ctx) (*mfaCaller, error) {
	p, err := s.userPrincipal(c)
	if err != nil {
		return nil, err
	}
	if p.SessionID == uuid.Nil {
		return nil, forbidden(CodeSessionNotFound, "Session from session_id claim in JWT does not exist")
	}
	u, err := s.loadPrincipalUser(ctx, s.db, p)
	if err != nil {
		return nil, err
	}
	var aal string
	err = s.db.QueryRow(ctx, `select coalesce(aal::text, 'aal1') from auth.sessions where id = $1`, p.SessionID).Scan(&aal)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, forbidden(CodeSessionNotFound, "Session from session_id claim in JWT does not exist")
	}
	if err != nil {
		return nil, dbError(err)
	}
	return &mfaCaller{p: p, u: u, aal: aal}, nil
}

// listFactors is GET /factors: the caller's factors (the user object has
// them too, which is where auth-js's listFactors reads them).
func (s *service) listFactors(c *fiber.Ctx) error {
	ctx, cancel := s.ctx()
	defer cancel()
	who, err := s.caller(ctx, c)
	if err != nil {
		return err
	}
	fs := who.u.Factors
	if fs == nil {
		fs = []factorJSON{}
	}
	return c.JSON(fs)
}

// enrollParams is POST /factors' body (auth-js mfa.enroll).
type enrollParams struct {
	FactorType   string `json:"factor_type"`
	FriendlyName string `json:"friendly_name"`
	Issuer       string `json:"issuer"`
	Phone        string `json:"phone"`
}

// enrollTOTPJSON and enrollPhoneJSON answer POST /factors.
type enrollTOTPJSON struct {
	ID           uuid.UUID `json:"id"`
	Type         string    `json:"type"`
	FriendlyName string    `json:"friendly_name"`
	TOTP         struct {
		QRCode string `json:"qr_code"` // SVG; auth-js makes it a data: URI
		Secret string `json:"secret"`
		URI    string `json:"uri"`
	} `json:"totp"`
}

type enrollPhoneJSON struct {
	ID           uuid.UUID `json:"id"`
	Type         string    `json:"type"`
	FriendlyName string    `json:"friendly_name"`
	Phone        string    `json:"phone"`
}

// enrollFactor is POST /factors: a new unverified factor. A user with a
// verified factor needs an aal2 session to add another (GoTrue's rule).
func (s *service) enrollFactor(c *fiber.Ctx) error {
	var p enrollParams
	if err := readJSON(c, &p); err != nil {
		return err
	}
	ctx, cancel := s.ctx()
	defer cancel()
	who, err := s.caller(ctx, c)
	if err != nil {
		return err
	}
	p.FriendlyName = strings.TrimSpace(p.FriendlyName)
	if len(p.FriendlyName) > 255 {
		return validationFailed("friendly_name is too long")
	}
	m := s.cfg.mfa
	var phone string
	switch p.FactorType {
	case factorTOTP:
		if !m.totpEnroll {
			return unprocessable(CodeMFATOTPEnrollDisabled, "MFA enroll is disabled for TOTP")
		}
	case factorPhone:
		if !m.phoneEnroll {
			return unprocessable(CodeMFAPhoneEnrollDisabled, "MFA enroll is disabled for Phone")
		}
		if phone, err = normalizePhone(p.Phone); err != nil {
			return err
		}
	default:
		return validationFailed("factor_type needs to be totp or phone")
	}

	now := s.now().UTC().Round(time.Microsecond)
	id := uuid.New()
	var secret, uri, svg string
	if p.FactorType == factorTOTP {
		issuer := strings.TrimSpace(p.Issuer)
		if issuer == "" {
			issuer = s.cfg.siteHost
		}
		account := who.u.Email
		if account == "" {
			account = who.u.Phone
		}
		if account == "" {
			account = who.u.ID.String()
		}
		key, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: account, Period: totpPeriod,
			Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			return validationFailed("Unable to make a TOTP key: %s", err.Error())
		}
		secret, uri = key.Secret(), key.URL()
		if svg, err = qrSVG(uri); err != nil {
			return internalError("Unable to draw the QR code", err)
		}
	}
	err = s.tx(ctx, func(tx pgx.Tx) error {
		// The user's row lock serializes enrolments, so the count holds.
		var total, verified int
		if err := tx.QueryRow(ctx, `with l as (select id from auth.users where id = $1 for update)
			select count(*), count(*) filter (where status = 'verified') from auth.mfa_factors
			where user_id = (select id from l)`, who.u.ID).Scan(&total, &verified); err != nil {
			return dbError(err)
		}
		if verified > 0 && who.aal != "aal2" {
			return forbidden(CodeInsufficientAAL, "AAL2 required to enroll a new factor")
		}
		if total >= m.maxFactors {
			return unprocessable(CodeTooManyEnrolledFactors, "Maximum number of enrolled factors reached, unenroll to continue")
		}
		_, err := tx.Exec(ctx, `insert into auth.mfa_factors (id, user_id, friendly_name, factor_type, status,
				created_at, updated_at, secret, phone)
			values ($1, $2, $3, $4::auth.factor_type, 'unverified', $5, $5, nullif($6, ''), nullif($7, ''))`,
			id, who.u.ID, p.FriendlyName, p.FactorType, now, secret, phone)
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23505" {
			if pe.ConstraintName == "unique_phone_factor_per_user" {
				return unprocessable(CodePhoneExists, "A factor with this phone number already exists")
			}
			return unprocessable(CodeMFAFactorNameConflict, "A factor with the friendly name %q for this user already exists", p.FriendlyName)
		}
		if err != nil {
			return dbError(err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if p.FactorType == factorPhone {
		return c.JSON(enrollPhoneJSON{ID: id, Type: factorPhone, FriendlyName: p.FriendlyName, Phone: phone})
	}
	out := enrollTOTPJSON{ID: id, Type: factorTOTP, FriendlyName: p.FriendlyName}
	out.TOTP.QRCode, out.TOTP.Secret, out.TOTP.URI = svg, secret, uri
	return c.JSON(out)
}

// challengeJSON answers POST /factors/{id}/challenge.
type challengeJSON struct {
	ID        uuid.UUID `json:"id"`
	Type      string    `json:"type"`
	ExpiresAt int64     `json:"expires_at"`
}

// verifyEnabled refuses challenges and verifications of disabled types.
func (m *mfaSettings) verifyEnabled(factorType string) error {
	switch {
	case factorType == factorTOTP && !m.totpVerify:
		return unprocessable(CodeMFATOTPVerifyDisabled, "MFA verification is disabled for TOTP")
	case factorType == factorPhone && !m.phoneVerify:
		return unprocessable(CodeMFAPhoneVerifyDisabled, "MFA verification is disabled for Phone")
	case factorType != factorTOTP && factorType != factorPhone:
		return validationFailed("Factors of type %s cannot be verified here", factorType)
	}
	return nil
}

// challengeFactor is POST /factors/{id}/challenge: a challenge to verify
// within AUTH_MFA_CHALLENGE_EXPIRY, from the same address. For a phone
// factor it sends the code by SMS (or uses AUTH_SMS_TEST_OTP's).
func (s *service) challengeFactor(c *fiber.Ctx) error {
	ctx, cancel := s.ctx()
	defer cancel()
	cl := clientOf(c)
	if err := s.rateLimit(ctx, "mfa_challenge", cl.IP, s.cfg.rateOTP); err != nil {
		return err
	}
	who, err := s.caller(ctx, c)
	if err != nil {
		return err
	}
	now := s.now().UTC().Round(time.Microsecond)
	out := challengeJSON{ID: uuid.New(), ExpiresAt: now.Add(s.cfg.mfa.challengeExp).Unix()}
	err = s.tx(ctx, func(tx pgx.Tx) error {
		f, err := userFactor(ctx, tx, who.u.ID, c.Params("factor"))
		if err != nil {
			return err
		}
		if err := s.cfg.mfa.verifyEnabled(f.FactorType); err != nil {
			return err
		}
		out.Type = f.FactorType
		var codeHash any
		code := ""
		if f.FactorType == factorPhone {
			if f.LastChallengedAt != nil && now.Before(f.LastChallengedAt.Add(s.cfg.mfa.phoneMaxFrequency)) {
				wait := f.LastChallengedAt.Add(s.cfg.mfa.phoneMaxFrequency).Sub(now)
				return tooManyRequests(CodeOverSMSSendRateLimit, "For security purposes, you can only request this after %d seconds.",
					int(wait.Seconds())+1)
			}
			if test, ok := s.cfg.mfa.testOTP[f.Phone]; ok {
				code = test
			} else {
				code = newOTP(totpDigits)
			}
			codeHash = tokenHash(f.Phone, code)
		}
		if _, err := tx.Exec(ctx, `with c as (insert into auth.mfa_challenges (id, factor_id, created_at, ip_address, otp_code)
				values ($1, $2, $3, $4::inet, $5))
			update auth.mfa_factors set last_challenged_at = $3 where id = $2`,
			out.ID, f.ID, now, ipOf(cl), codeHash); err != nil {
			return dbError(err)
		}
		if f.FactorType == factorPhone {
			if _, test := s.cfg.mfa.testOTP[f.Phone]; !test {
				if s.sms == nil {
					return internalError("Unable to send the SMS", errNoSMSProvider)
				}
				// Sent before the commit: a failed SMS leaves no challenge.
				if err := s.sms.SendSMS(ctx, f.Phone, "Your code is "+code); err != nil {
					return internalError("Unable to send the SMS", err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return c.JSON(out)
}

// ipOf is the client's address for an inet column.
func ipOf(cl client) string {
	if ip := net.ParseIP(cl.IP); ip != nil {
		return ip.String()
	}
	return "0.0.0.0"
}

// factorVerifyParams is POST /factors/{id}/verify's body.
type factorVerifyParams struct {
	ChallengeID string `json:"challenge_id"`
	Code        string `json:"code"`
}

// verifyFactor is POST /factors/{id}/verify: the code of a challenge. A
// right code verifies the factor, raises the session to aal2 with the
// factor's method in its amr claim, rotates its refresh token and ends the
// user's other aal1 sessions (GoTrue's rule); the answer is the new
// session. The user's other unverified factors of the type go. Wrong codes count against the factor: after
// AUTH_MFA_MAX_FAILED_VERIFICATIONS in a row it refuses every code for
// AUTH_MFA_FAILED_VERIFICATION_LOCKOUT. A TOTP code is good once.
func (s *service) verifyFactor(c *fiber.Ctx) error {
	var p factorVerifyParams
	if err := readJSON(c, &p); err != nil {
		return err
	}
	ctx, cancel := s.ctx()
	defer cancel()
	cl := clientOf(c)
	if err := s.rateLimit(ctx, "mfa_verify", cl.IP, s.cfg.rateVerify); err != nil {
		return err
	}
	who, err := s.caller(ctx, c)
	if err != nil {
		return err
	}
	challengeID, err := uuid.Parse(p.ChallengeID)
	if err != nil {
		return validationFailed("challenge_id must be a UUID")
	}
	code := strings.TrimSpace(p.Code)
	if code == "" {
		return validationFailed("code is required")
	}
	iss := s.issuer(c)
	var (
		sess    *sessionJSON
		refusal *apierr.Error // answered after the commit of its bookkeeping
	)
	err = s.tx(ctx, func(tx pgx.Tx) error {
		now := s.now().UTC().Round(time.Microsecond)
		f, err := userFactor(ctx, tx, who.u.ID, c.Params("factor"))
		if err != nil {
			return err
		}
		if err := s.cfg.mfa.verifyEnabled(f.FactorType); err != nil {
			return err
		}
		m := s.cfg.mfa
		failed := f.Failed
		if f.LastFailedAt != nil && now.After(f.LastFailedAt.Add(m.lockout)) {
			failed = 0 // the lockout has passed
		}
		if m.maxFailed > 0 && failed >= m.maxFailed {
			return tooManyRequests(CodeOverRequestRateLimit, "Too many wrong codes for this factor; try again later")
		}
		var (
			createdAt time.Time
			ip        net.IP
			otpHash   string
		)
		err = tx.QueryRow(ctx, `select created_at, host(ip_address), coalesce(otp_code, '') from auth.mfa_challenges
			where id = $1 and factor_id = $2 and verified_at is null for update`, challengeID, f.ID).
			Scan(&createdAt, (*ipText)(&ip), &otpHash)
		if errors.Is(err, pgx.ErrNoRows) {
			return unprocessable(CodeMFAFactorNotFound, "MFA factor with the provided challenge ID not found")
		}
		if err != nil {
			return dbError(err)
		}
		if now.After(createdAt.Add(m.challengeExp)) {
			if _, err := tx.Exec(ctx, `delete from auth.mfa_challenges where id = $1`, challengeID); err != nil {
				return dbError(err)
			}
			refusal = unprocessable(CodeMFAChallengeExpired,
				"MFA challenge %s has expired, verify against another challenge or create a new challenge.", challengeID)
			return nil
		}
		if !ip.Equal(net.ParseIP(ipOf(cl))) {
			return unprocessable(CodeMFAIPAddressMismatch, "Challenge and verify IP addresses mismatch")
		}
		var (
			ok   bool
			step *int64
		)
		switch f.FactorType {
		case factorTOTP:
			var st int64
			st, ok = matchTOTP(f.Secret, code, now)
			if ok && f.LastStep != nil && st <= *f.LastStep {
				ok = false // a code already used, or an older one
			}
			step = &st
		case factorPhone:
			ok = otpHash != "" && subtle.ConstantTimeCompare([]byte(tokenHash(f.Phone, code)), []byte(otpHash)) == 1
		}
		if !ok {
			if _, err := tx.Exec(ctx, `update auth.mfa_factors set failed_verifications = $2, last_failed_at = $3
				where id = $1`, f.ID, failed+1, now); err != nil {
				return dbError(err)
			}
			msg := "Invalid TOTP code entered"
			if f.FactorType == factorPhone {
				msg = "Invalid MFA Phone code entered"
			}
			refusal = unprocessable(CodeMFAVerificationFailed, "%s", msg)
			return nil
		}
		sess, err = s.raiseSession(ctx, tx, who, f, challengeID, step, iss, now)
		return err
	})
	if err != nil {
		return err
	}
	if refusal != nil {
		return refusal
	}
	return c.JSON(sess)
}

// raiseSession records a verified challenge: the factor verified, the
// challenge spent, the session at aal2 with the factor's amr claim and a new
// refresh token (the active one its parent), the user's other aal1
// sessions ended and their other unverified factors of the type removed
// (GoTrue's rules). It returns the new session.
func (s *service) raiseSession(ctx context.Context, tx pgx.Tx, who *mfaCaller, f *factor, challengeID uuid.UUID,
	step *int64, iss string, now time.Time) (*sessionJSON, error) {
	sid := who.p.SessionID
	refresh := newRefreshToken()
	var amr []amrEntry
	err := tx.QueryRow(ctx, `with
		fa as (update auth.mfa_factors set status = 'verified', updated_at = $3, failed_verifications = 0,
			last_failed_at = null, last_totp_step = coalesce($5, last_totp_step) where id = $2),
		ch as (update auth.mfa_challenges set verified_at = $3 where id = $4),
		se as (update auth.sessions set aal = 'aal2', factor_id = $2, updated_at = $3 where id = $1),
		am as (insert into auth.mfa_amr_claims (id, session_id, created_at, updated_at, authentication_method)
			values ($6, $1, $3, $3, $7)
			on conflict (session_id, authentication_method) do update set created_at = $3, updated_at = $3),
		cur as (select id, token from auth.refresh_tokens where session_id = $1 and not coalesce(revoked, false)
			order by id desc limit 1),
		rv as (update auth.refresh_tokens set revoked = true, updated_at = $3
			where session_id = $1 and not coalesce(revoked, false)),
		rt as (insert into auth.refresh_tokens (instance_id, token, user_id, revoked, created_at, updated_at, parent, session_id)
			values ('00000000-0000-0000-0000-000000000000', $8, $9::text, false, $3, $3, (select token from cur), $1)),
		others as (delete from auth.sessions where user_id = $9::uuid and id <> $1 and coalesce(aal::text, 'aal1') = 'aal1'),
		spare as (delete from auth.mfa_factors where user_id = $9::uuid and id <> $2 and status = 'unverified'
			and factor_type = $10::auth.factor_type)
		select coalesce(json_agg(json_build_object('method', a.authentication_method,
			'timestamp', extract(epoch from a.created_at)::bigint) order by a.created_at), '[]'::json)
		from auth.mfa_amr_claims a where a.session_id = $1 and a.authentication_method <> $7`,
		sid, f.ID, now, challengeID, step, uuid.New(), amrMethod(f.FactorType), refresh, who.u.ID.String(), f.FactorType).Scan(&amr)
	if err != nil {
		return nil, dbError(err)
	}
	// The statement saw the claims as they were before it: the factor's
	// method, set now, comes last.
	amr = append(amr, amrEntry{Method: amrMethod(f.FactorType), Timestamp: now.Unix()})
	u, err := userByID(ctx, tx, who.u.ID)
	if err != nil {
		return nil, dbError(err)
	}
	return s.sessionResponse(u, sid, "aal2", amr, refresh, iss, now)
}

// ipText scans host(inet) text into a net.IP.
type ipText net.IP

func (p *ipText) Scan(src any) error {
	s, _ := src.(string)
	*p = ipText(net.ParseIP(s))
	return nil
}

// matchTOTP checks a 6-digit code against the secret at now, one period of
// clock drift either way allowed, and returns the time step it belongs to.
func matchTOTP(secret, code string, now time.Time) (int64, bool) {
	if len(code) != totpDigits || strings.Trim(code, "0123456789") != "" {
		return 0, false
	}
	step := now.Unix() / totpPeriod
	opts := totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}
	for _, d := range []int64{0, -1, 1} {
		want, err := totp.GenerateCodeCustom(secret, time.Unix((step+d)*totpPeriod, 0), opts)
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return step + d, true
		}
	}
	return 0, false
}

// unenrollFactor is DELETE /factors/{id}. Removing a verified factor needs
// an aal2 session (GoTrue's rule); sessions raised by the factor fall back
// to aal1.
func (s *service) unenrollFactor(c *fiber.Ctx) error {
	ctx, cancel := s.ctx()
	defer cancel()
	who, err := s.caller(ctx, c)
	if err != nil {
		return err
	}
	var id uuid.UUID
	err = s.tx(ctx, func(tx pgx.Tx) error {
		f, err := userFactor(ctx, tx, who.u.ID, c.Params("factor"))
		if err != nil {
			return err
		}
		if f.Status == factorVerified && who.aal != "aal2" {
			return forbidden(CodeInsufficientAAL, "AAL2 required to unenroll verified factor")
		}
		id = f.ID
		return deleteFactor(ctx, tx, f.ID)
	})
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"id": id})
}

// deleteFactor removes a factor and its challenges, and lowers the sessions
// it raised to aal1.
func deleteFactor(ctx context.Context, q querier, id uuid.UUID) error {
	_, err := q.Exec(ctx, `with s as (update auth.sessions set aal = 'aal1', factor_id = null where factor_id = $1)
		delete from auth.mfa_factors where id = $1`, id)
	if err != nil {
		return dbError(err)
	}
	return nil
}

// adminListFactors is GET /admin/users/{id}/factors: the user's factors.
func (s *service) adminListFactors(c *fiber.Ctx) error {
	id, err := userIDParam(c)
	if err != nil {
		return err
	}
	ctx, cancel := s.ctx()
	defer cancel()
	u, err := userByID(ctx, s.db, id)
	if errors.Is(err, errNoUser) {
		return errUserNotFound
	} else if err != nil {
		return dbError(err)
	}
	fs := u.Factors
	if fs == nil {
		fs = []factorJSON{}
	}
	return c.JSON(fs)
}

// adminDeleteFactor is DELETE /admin/users/{id}/factors/{factor}: it
// answers the deleted factor.
func (s *service) adminDeleteFactor(c *fiber.Ctx) error {
	uid, err := userIDParam(c)
	if err != nil {
		return err
	}
	ctx, cancel := s.ctx()
	defer cancel()
	var f *factor
	err = s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := userByID(ctx, tx, uid); errors.Is(err, errNoUser) {
			return errUserNotFound
		} else if err != nil {
			return dbError(err)
		}
		if f, err = userFactor(ctx, tx, uid, c.Params("factor")); err != nil {
			return err
		}
		return deleteFactor(ctx, tx, f.ID)
	})
	if err != nil {
		return err
	}
	return c.JSON(f.factorJSON)
}
