package auth

import (
	"context"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/madbase/madbase/shared/apitest"
	"github.com/madbase/madbase/shared/config"
	"github.com/madbase/madbase/shared/db/dbtest"
	"github.com/madbase/madbase/shared/db/platform"
	"github.com/madbase/madbase/worker/internal/api"
	authmig "github.com/madbase/madbase/worker/migrations/auth"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"
)

// newEnvSMS is a dev auth API on its own database whose SMS go to sms.
func newEnvSMS(t *testing.T, vars map[string]string, sms SMSSender) *env {
	t.Helper()
	all := map[string]string{"JWT_SECRET": testSecret, "SITE_URL": "http://app.test:3000"}
	for k, v := range vars {
		all[k] = v
	}
	var cfg config.Worker
	require.NoError(t, config.Load(&cfg, config.Map(all)))
	require.NoError(t, cfg.Auth.Validate(true))
	e := &env{pool: dbtest.New(t, platform.Source, authmig.Source), clock: &testClock{t: time.Now()},
		bcryptCost: bcrypt.MinCost, mail: &captureMailer{}}
	e.app = api.New(api.Options{
		ID:   "w1",
		Deps: api.Deps{Log: testLogger(t), DB: e.pool, Config: cfg, Registry: prometheus.NewRegistry(), Dev: true},
		Capabilities: []api.Capability{func(r fiber.Router, d api.Deps) {
			RegisterWith(r, d, Options{Now: e.clock.now, bcryptCost: e.bcryptCost, Mailer: e.mail, SMS: sms})
		}},
	})
	e.api = newAPI(t, e.app)
	return e
}

// totpCode is the code of secret at time at, computed as an authenticator
// app does.
func totpCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	code, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	require.NoError(t, err)
	return code
}

// wrongCode is a 6-digit code that is not code.
func wrongCode(code string) string {
	b := []byte(code)
	b[0] = '0' + (b[0]-'0'+5)%10
	return string(b)
}

func (e *env) enrollTOTP(t *testing.T, tok, name string) (id, secret string) {
	t.Helper()
	r := e.api.Do(t, apitest.Request{Method: "POST", URL: "/factors", Headers: bearer(tok),
		Body: map[string]any{"factor_type": "totp", "friendly_name": name}})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	m := r.Map(t)
	tp := m["totp"].(map[string]any)
	return m["id"].(string), tp["secret"].(string)
}

func (e *env) challenge(t *testing.T, tok, factorID string) string {
	t.Helper()
	r := e.api.Do(t, apitest.Request{Method: "POST", URL: "/factors/" + factorID + "/challenge", Headers: bearer(tok),
		Body: map[string]any{}})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	return r.Map(t)["id"].(string)
}

func (e *env) verifyMFA(t *testing.T, tok, factorID, challengeID, code string) *apitest.Response {
	t.Helper()
	return e.api.Do(t, apitest.Request{Method: "POST", URL: "/factors/" + factorID + "/verify", Headers: bearer(tok),
		Body: map[string]any{"challenge_id": challengeID, "code": code}})
}

// requireErr checks an auth error's status and code.
func requireErr(t *testing.T, r *apitest.Response, status int, code string) {
	t.Helper()
	require.Equal(t, status, r.Status, "%s", r.Body)
	require.Equal(t, code, r.Map(t)["code"], "%s", r.Body)
	require.Equal(t, code, r.Header.Get("X-Sb-Error-Code"))
}

func methods(t *testing.T, tok string) []string {
	t.Helper()
	var out []string
	for _, a := range claims(t, tok)["amr"].([]any) {
		out = append(out, a.(map[string]any)["method"].(string))
	}
	return out
}

func (e *env) userFactors(t *testing.T, tok string) []any {
	t.Helper()
	r := e.api.Do(t, apitest.Request{URL: "/user", Headers: bearer(tok)})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	fs, _ := r.Map(t)["factors"].([]any)
	return fs
}

func TestMFATOTPEnrollVerifyUnenroll(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	sess := e.signUp(t, "mfa@example.com", "secret-123")
	tok, refresh := sess["access_token"].(string), sess["refresh_token"].(string)
	require.Empty(t, e.userFactors(t, tok), "no factors before enrolment")

	r := e.api.Do(t, apitest.Request{Method: "POST", URL: "/factors", Headers: bearer(tok),
		Body: map[string]any{"factor_type": "totp", "friendly_name": "phone app", "issuer": "madbase.test"}})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	enrolled := r.Map(t)
	fid := enrolled["id"].(string)
	assert.Equal(t, "totp", enrolled["type"])
	assert.Equal(t, "phone app", enrolled["friendly_name"])
	tp := enrolled["totp"].(map[string]any)
	secret := tp["secret"].(string)
	require.Regexp(t, `^[A-Z2-7]{32}$`, secret)
	uri, err := url.Parse(tp["uri"].(string))
	require.NoError(t, err)
	assert.Equal(t, "otpauth", uri.Scheme)
	assert.Equal(t, "totp", uri.Host)
	assert.Equal(t, "/madbase.test:mfa@example.com", uri.Path)
	assert.Equal(t, secret, uri.Query().Get("secret"))
	qr := tp["qr_code"].(string)
	require.True(t, strings.HasPrefix(qr, "<svg "), qr[:min(len(qr), 40)])
	require.NoError(t, xml.Unmarshal([]byte(qr), new(struct{})), "the QR code is well-formed SVG")

	fs := e.userFactors(t, tok)
	require.Len(t, fs, 1)
	f := fs[0].(map[string]any)
	assert.Equal(t, fid, f["id"])
	assert.Equal(t, "unverified", f["status"])
	assert.Equal(t, "totp", f["factor_type"])
	assert.Equal(t, "phone app", f["friendly_name"])

	cid := e.challenge(t, tok, fid)
	code := totpCode(t, secret, e.clock.now())
	requireErr(t, e.verifyMFA(t, tok, fid, cid, wrongCode(code)), 422, "mfa_verification_failed")
	requireErr(t, e.verifyMFA(t, tok, fid, cid, "12ab56"), 422, "mfa_verification_failed")

	r = e.verifyMFA(t, tok, fid, cid, code)
	require.Equal(t, 200, r.Status, "%s", r.Body)
	raised := r.Map(t)
	tok2 := raised["access_token"].(string)
	c := claims(t, tok2)
	assert.Equal(t, "aal2", c["aal"])
	assert.Equal(t, []string{"password", "totp"}, methods(t, tok2))
	assert.Equal(t, claims(t, tok)["session_id"], c["session_id"], "the same session, raised")
	assert.NotEqual(t, refresh, raised["refresh_token"])
	assert.Equal(t, "verified", raised["user"].(map[string]any)["factors"].([]any)[0].(map[string]any)["status"])
	assert.Equal(t, "verified", e.userFactors(t, tok2)[0].(map[string]any)["status"])

	// The spent challenge and the used code are good only once.
	requireErr(t, e.verifyMFA(t, tok2, fid, cid, code), 422, "mfa_factor_not_found")
	requireErr(t, e.verifyMFA(t, tok2, fid, e.challenge(t, tok2, fid), code), 422, "mfa_verification_failed")

	// Refreshes keep the session's level and methods.
	rr := e.refresh(t, raised["refresh_token"].(string))
	require.Equal(t, 200, rr.Status, "%s", rr.Body)
	tok3 := rr.Map(t)["access_token"].(string)
	assert.Equal(t, "aal2", claims(t, tok3)["aal"])
	assert.Equal(t, []string{"password", "totp"}, methods(t, tok3))
	// The refresh token the client held before verifying gets the new one.
	old := e.refresh(t, refresh)
	require.Equal(t, 200, old.Status, "%s", old.Body)

	r = e.api.Do(t, apitest.Request{URL: "/factors", Headers: bearer(tok3)})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	assert.Contains(t, r.String(), fid)

	// A second sign-in is aal1: it may neither remove the verified factor
	// nor add another.
	b := e.signIn(t, "mfa@example.com", "secret-123")["access_token"].(string)
	assert.Equal(t, "aal1", claims(t, b)["aal"])
	requireErr(t, e.api.Do(t, apitest.Request{Method: "DELETE", URL: "/factors/" + fid, Headers: bearer(b)}), 403, "insufficient_aal")
	requireErr(t, e.api.Do(t, apitest.Request{Method: "POST", URL: "/factors", Headers: bearer(b),
		Body: map[string]any{"factor_type": "totp", "friendly_name": "second"}}), 403, "insufficient_aal")

	r = e.api.Do(t, apitest.Request{Method: "DELETE", URL: "/factors/" + fid, Headers: bearer(tok3)})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	assert.JSONEq(t, fmt.Sprintf(`{"id":%q}`, fid), r.String())
	assert.Empty(t, e.userFactors(t, tok3))
	var aal string
	require.NoError(t, e.pool.QueryRow(context.Background(), `select aal::text from auth.sessions where id = $1`,
		c["session_id"]).Scan(&aal))
	assert.Equal(t, "aal1", aal, "the session the factor raised falls back")
	requireErr(t, e.api.Do(t, apitest.Request{Method: "DELETE", URL: "/factors/" + fid, Headers: bearer(tok3)}), 404, "mfa_factor_not_found")
}

func TestMFAVerifyEndsOtherAAL1Sessions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	a := e.signUp(t, "ends@example.com", "secret-123")["access_token"].(string)
	other := e.signIn(t, "ends@example.com", "secret-123")
	fid, secret := e.enrollTOTP(t, a, "")
	spare, _ := e.enrollTOTP(t, a, "spare")
	r := e.verifyMFA(t, a, fid, e.challenge(t, a, fid), totpCode(t, secret, e.clock.now()))
	require.Equal(t, 200, r.Status, "%s", r.Body)
	requireErr(t, e.api.Do(t, apitest.Request{URL: "/user", Headers: bearer(other["access_token"].(string))}), 403, "session_not_found")
	fs := r.Map(t)["user"].(map[string]any)["factors"].([]any)
	require.Len(t, fs, 1, "the other unverified factor is gone")
	assert.Equal(t, fid, fs[0].(map[string]any)["id"])
	requireErr(t, e.api.Do(t, apitest.Request{Method: "DELETE", URL: "/factors/" + spare, Headers: bearer(a)}), 404, "mfa_factor_not_found")
	// An unverified factor can be removed from an aal1 session.
	b := e.signIn(t, "ends@example.com", "secret-123")["access_token"].(string)
	tok := r.Map(t)["access_token"].(string)
	fid2, _ := e.enrollTOTP(t, tok, "spare")
	r = e.api.Do(t, apitest.Request{Method: "DELETE", URL: "/factors/" + fid2, Headers: bearer(b)})
	require.Equal(t, 200, r.Status, "%s", r.Body)
}

func TestMFAChallengeExpires(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, map[string]string{"AUTH_MFA_CHALLENGE_EXPIRY": "2m"})
	tok := e.signUp(t, "late@example.com", "secret-123")["access_token"].(string)
	fid, secret := e.enrollTOTP(t, tok, "")
	cid := e.challenge(t, tok, fid)
	e.clock.advance(2*time.Minute + time.Second)
	requireErr(t, e.verifyMFA(t, tok, fid, cid, totpCode(t, secret, e.clock.now())), 422, "mfa_challenge_expired")
	requireErr(t, e.verifyMFA(t, tok, fid, cid, totpCode(t, secret, e.clock.now())), 422, "mfa_factor_not_found")
	// A fresh challenge works.
	r := e.verifyMFA(t, tok, fid, e.challenge(t, tok, fid), totpCode(t, secret, e.clock.now()))
	require.Equal(t, 200, r.Status, "%s", r.Body)
}

func TestMFAFailedVerificationLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, map[string]string{"AUTH_MFA_MAX_FAILED_VERIFICATIONS": "3", "AUTH_MFA_FAILED_VERIFICATION_LOCKOUT": "10m"})
	tok := e.signUp(t, "guess@example.com", "secret-123")["access_token"].(string)
	fid, secret := e.enrollTOTP(t, tok, "")
	cid := e.challenge(t, tok, fid)
	right := totpCode(t, secret, e.clock.now())
	for i := 0; i < 3; i++ {
		requireErr(t, e.verifyMFA(t, tok, fid, cid, wrongCode(right)), 422, "mfa_verification_failed")
	}
	// The limit holds for the right code and for new challenges.
	requireErr(t, e.verifyMFA(t, tok, fid, cid, right), 429, "over_request_rate_limit")
	requireErr(t, e.verifyMFA(t, tok, fid, e.challenge(t, tok, fid), right), 429, "over_request_rate_limit")

	e.clock.advance(11 * time.Minute)
	r := e.verifyMFA(t, tok, fid, e.challenge(t, tok, fid), totpCode(t, secret, e.clock.now()))
	require.Equal(t, 200, r.Status, "%s", r.Body)
	var failed int
	require.NoError(t, e.pool.QueryRow(context.Background(), `select failed_verifications from auth.mfa_factors where id = $1`, fid).Scan(&failed))
	assert.Zero(t, failed, "a right code clears the count")
}

func TestMFARateLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, map[string]string{"AUTH_RATE_LIMIT_VERIFY": "2/1h", "AUTH_RATE_LIMIT_OTP": "3/1h"})
	tok := e.signUp(t, "rate@example.com", "secret-123")["access_token"].(string)
	fid, secret := e.enrollTOTP(t, tok, "")
	cid := e.challenge(t, tok, fid)
	e.challenge(t, tok, fid)
	e.challenge(t, tok, fid)
	requireErr(t, e.api.Do(t, apitest.Request{Method: "POST", URL: "/factors/" + fid + "/challenge", Headers: bearer(tok),
		Body: map[string]any{}}), 429, "over_request_rate_limit")
	code := totpCode(t, secret, e.clock.now())
	requireErr(t, e.verifyMFA(t, tok, fid, cid, wrongCode(code)), 422, "mfa_verification_failed")
	requireErr(t, e.verifyMFA(t, tok, fid, cid, wrongCode(code)), 422, "mfa_verification_failed")
	requireErr(t, e.verifyMFA(t, tok, fid, cid, code), 429, "over_request_rate_limit")
}

func TestMFAErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, map[string]string{"AUTH_MFA_MAX_ENROLLED_FACTORS": "2"})
	tok := e.signUp(t, "errs@example.com", "secret-123")["access_token"].(string)
	otherTok := e.signUp(t, "other@example.com", "secret-123")["access_token"].(string)
	fid, _ := e.enrollTOTP(t, tok, "one")
	otherFid, _ := e.enrollTOTP(t, otherTok, "theirs")
	cid := e.challenge(t, tok, fid)
	totpBody := map[string]any{"factor_type": "totp", "friendly_name": "two"}
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "list without a bearer", URL: "/factors", Headers: map[string]string{"Authorization": ""},
			WantStatus: 401, WantFields: errCode("no_authorization"), WantContains: []string{"requires a valid Bearer token"}},
		{Name: "enroll with the anon key", Method: "POST", URL: "/factors", Body: totpBody,
			WantStatus: 403, WantFields: errCode("bad_jwt")},
		{Name: "unknown factor type", Method: "POST", URL: "/factors", Headers: bearer(tok),
			Body: map[string]any{"factor_type": "webauthn"}, WantStatus: 400, WantFields: errCode("validation_failed")},
		{Name: "phone factors off by default", Method: "POST", URL: "/factors", Headers: bearer(tok),
			Body: map[string]any{"factor_type": "phone", "phone": "+15550001111"}, WantStatus: 422, WantFields: errCode("mfa_phone_enroll_not_enabled")},
		{Name: "friendly name taken", Method: "POST", URL: "/factors", Headers: bearer(tok),
			Body: map[string]any{"factor_type": "totp", "friendly_name": "one"}, WantStatus: 422, WantFields: errCode("mfa_factor_name_conflict")},
		{Name: "second factor", Method: "POST", URL: "/factors", Headers: bearer(tok), Body: totpBody, WantStatus: 200},
		{Name: "too many factors", Method: "POST", URL: "/factors", Headers: bearer(tok),
			Body: map[string]any{"factor_type": "totp", "friendly_name": "three"}, WantStatus: 422, WantFields: errCode("too_many_enrolled_mfa_factors")},
		{Name: "challenge another user's factor", Method: "POST", URL: "/factors/" + otherFid + "/challenge", Headers: bearer(tok),
			Body: map[string]any{}, WantStatus: 404, WantFields: errCode("mfa_factor_not_found")},
		{Name: "challenge a non-uuid factor", Method: "POST", URL: "/factors/nope/challenge", Headers: bearer(tok),
			Body: map[string]any{}, WantStatus: 404, WantFields: errCode("mfa_factor_not_found")},
		{Name: "verify without a challenge id", Method: "POST", URL: "/factors/" + fid + "/verify", Headers: bearer(tok),
			Body: map[string]any{"code": "123456"}, WantStatus: 400, WantFields: errCode("validation_failed")},
		{Name: "verify another factor's challenge", Method: "POST", URL: "/factors/" + otherFid + "/verify", Headers: bearer(otherTok),
			Body: map[string]any{"challenge_id": cid, "code": "123456"}, WantStatus: 422, WantFields: errCode("mfa_factor_not_found")},
		{Name: "verify from another address", Method: "POST", URL: "/factors/" + fid + "/verify",
			Headers: map[string]string{"Authorization": apitest.Bearer(tok), "X-Forwarded-For": "10.9.9.9"},
			Body:    map[string]any{"challenge_id": cid, "code": "123456"}, WantStatus: 422, WantFields: errCode("mfa_ip_address_mismatch")},
		{Name: "unenroll another user's factor", Method: "DELETE", URL: "/factors/" + otherFid, Headers: bearer(tok),
			WantStatus: 404, WantFields: errCode("mfa_factor_not_found")},
	})

	off := newEnv(t, true, map[string]string{"AUTH_MFA_TOTP_ENROLL_ENABLED": "false", "AUTH_MFA_TOTP_VERIFY_ENABLED": "false"})
	offTok := off.signUp(t, "off@example.com", "secret-123")["access_token"].(string)
	requireErr(t, off.api.Do(t, apitest.Request{Method: "POST", URL: "/factors", Headers: bearer(offTok), Body: totpBody}),
		422, "mfa_totp_enroll_not_enabled")
	var uid string
	require.NoError(t, off.pool.QueryRow(context.Background(), `select id::text from auth.users where email = 'off@example.com'`).Scan(&uid))
	_, err := off.pool.Exec(context.Background(), `insert into auth.mfa_factors (id, user_id, factor_type, status, created_at, updated_at, secret)
		values (gen_random_uuid(), $1, 'totp', 'unverified', now(), now(), 'JBSWY3DPEHPK3PXP')`, uid)
	require.NoError(t, err)
	var offFid string
	require.NoError(t, off.pool.QueryRow(context.Background(), `select id::text from auth.mfa_factors where user_id = $1`, uid).Scan(&offFid))
	requireErr(t, off.api.Do(t, apitest.Request{Method: "POST", URL: "/factors/" + offFid + "/challenge", Headers: bearer(offTok),
		Body: map[string]any{}}), 422, "mfa_totp_verify_not_enabled")
}

// fakeTwilio is an in-process stand-in for Twilio's Messages API: it
// checks what Twilio checks (account path, basic auth, form fields) and
// keeps the messages.
type fakeTwilio struct {
	srv  *httptest.Server
	mu   sync.Mutex
	msgs []url.Values
	// failTo makes messages to this number fail as Twilio does for an
	// invalid number.
	failTo string
}

func newFakeTwilio(t *testing.T, sid, token string) *fakeTwilio {
	f := &fakeTwilio{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		user, pass, ok := r.BasicAuth()
		if !ok || user != sid || pass != token {
			w.WriteHeader(401)
			fmt.Fprint(w, `{"code":20003,"message":"Authenticate","status":401}`)
			return
		}
		if r.Method != "POST" || r.URL.Path != "/2010-04-01/Accounts/"+sid+"/Messages.json" {
			w.WriteHeader(404)
			fmt.Fprint(w, `{"code":20404,"message":"The requested resource was not found","status":404}`)
			return
		}
		if err := r.ParseForm(); err != nil || r.PostForm.Get("Body") == "" || r.PostForm.Get("To") == "" ||
			(r.PostForm.Get("MessagingServiceSid") == "" && r.PostForm.Get("From") == "") {
			w.WriteHeader(400)
			fmt.Fprint(w, `{"code":21602,"message":"Message body is required.","status":400}`)
			return
		}
		if r.PostForm.Get("To") == f.failTo {
			w.WriteHeader(400)
			fmt.Fprintf(w, `{"code":21211,"message":"The 'To' number %s is not a valid phone number.","status":400}`, f.failTo)
			return
		}
		f.mu.Lock()
		f.msgs = append(f.msgs, r.PostForm)
		f.mu.Unlock()
		w.WriteHeader(201)
		fmt.Fprint(w, `{"sid":"SM123","status":"accepted","error_code":null,"error_message":null}`)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeTwilio) sent() []url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]url.Values(nil), f.msgs...)
}

var smsCode = regexp.MustCompile(`\b[0-9]{6}\b`)

func TestMFAPhoneFactorThroughTwilio(t *testing.T) {
	t.Parallel()
	tw := newFakeTwilio(t, "AC123", "tw-token")
	tw.failTo = "+15550009999"
	e := newEnvSMS(t, map[string]string{
		"AUTH_MFA_PHONE_ENROLL_ENABLED": "true", "AUTH_MFA_PHONE_VERIFY_ENABLED": "true",
		"AUTH_SMS_TEST_OTP": "15550001111:123456",
	}, newTwilioSender(tw.srv.URL, "AC123", "tw-token", "MG999"))
	tok := e.signUp(t, "sms@example.com", "secret-123")["access_token"].(string)

	r := e.api.Do(t, apitest.Request{Method: "POST", URL: "/factors", Headers: bearer(tok),
		Body: map[string]any{"factor_type": "phone", "phone": "+1 555 000 2222", "friendly_name": "mobile"}})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	m := r.Map(t)
	fid := m["id"].(string)
	assert.Equal(t, "phone", m["type"])
	assert.Equal(t, "15550002222", m["phone"])
	requireErr(t, e.api.Do(t, apitest.Request{Method: "POST", URL: "/factors", Headers: bearer(tok),
		Body: map[string]any{"factor_type": "phone", "phone": "+15550002222", "friendly_name": "again"}}), 422, "phone_exists")

	r = e.api.Do(t, apitest.Request{Method: "POST", URL: "/factors/" + fid + "/challenge", Headers: bearer(tok), Body: map[string]any{}})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	ch := r.Map(t)
	assert.Equal(t, "phone", ch["type"])
	assert.InDelta(t, float64(e.clock.now().Add(5*time.Minute).Unix()), ch["expires_at"], 2)
	msgs := tw.sent()
	require.Len(t, msgs, 1)
	assert.Equal(t, "+15550002222", msgs[0].Get("To"))
	assert.Equal(t, "MG999", msgs[0].Get("MessagingServiceSid"))
	code := smsCode.FindString(msgs[0].Get("Body"))
	require.NotEmpty(t, code, msgs[0].Get("Body"))

	// One SMS per AUTH_MFA_PHONE_MAX_FREQUENCY.
	requireErr(t, e.api.Do(t, apitest.Request{Method: "POST", URL: "/factors/" + fid + "/challenge", Headers: bearer(tok),
		Body: map[string]any{}}), 429, "over_sms_send_rate_limit")
	require.Len(t, tw.sent(), 1)

	requireErr(t, e.verifyMFA(t, tok, fid, ch["id"].(string), wrongCode(code)), 422, "mfa_verification_failed")
	r = e.verifyMFA(t, tok, fid, ch["id"].(string), code)
	require.Equal(t, 200, r.Status, "%s", r.Body)
	tok2 := r.Map(t)["access_token"].(string)
	assert.Equal(t, "aal2", claims(t, tok2)["aal"])
	assert.Equal(t, []string{"password", "mfa/phone"}, methods(t, tok2))

	// A number Twilio refuses: 500, and no challenge is left behind.
	r = e.api.Do(t, apitest.Request{Method: "POST", URL: "/factors", Headers: bearer(tok2),
		Body: map[string]any{"factor_type": "phone", "phone": "15550009999", "friendly_name": "bad"}})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	bad := r.Map(t)["id"].(string)
	r = e.api.Do(t, apitest.Request{Method: "POST", URL: "/factors/" + bad + "/challenge", Headers: bearer(tok2), Body: map[string]any{}})
	require.Equal(t, 500, r.Status, "%s", r.Body)
	assert.NotContains(t, r.String(), "tw-token")
	var n int
	require.NoError(t, e.pool.QueryRow(context.Background(), `select count(*) from auth.mfa_challenges where factor_id = $1`, bad).Scan(&n))
	assert.Zero(t, n)

	// A test number gets its fixed code and no SMS.
	r = e.api.Do(t, apitest.Request{Method: "POST", URL: "/factors", Headers: bearer(tok2),
		Body: map[string]any{"factor_type": "phone", "phone": "+15550001111", "friendly_name": "test"}})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	testFid := r.Map(t)["id"].(string)
	cid := e.challenge(t, tok2, testFid)
	require.Len(t, tw.sent(), 1)
	requireErr(t, e.verifyMFA(t, tok2, testFid, cid, "654321"), 422, "mfa_verification_failed")
	r = e.verifyMFA(t, tok2, testFid, cid, "123456")
	require.Equal(t, 200, r.Status, "%s", r.Body)
}

func TestMFAPhoneWithoutProvider(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, map[string]string{"AUTH_MFA_PHONE_ENROLL_ENABLED": "true", "AUTH_MFA_PHONE_VERIFY_ENABLED": "true"})
	tok := e.signUp(t, "nosms@example.com", "secret-123")["access_token"].(string)
	r := e.api.Do(t, apitest.Request{Method: "POST", URL: "/factors", Headers: bearer(tok),
		Body: map[string]any{"factor_type": "phone", "phone": "+15550003333"}})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	r = e.api.Do(t, apitest.Request{Method: "POST", URL: "/factors/" + r.Map(t)["id"].(string) + "/challenge", Headers: bearer(tok),
		Body: map[string]any{}})
	require.Equal(t, 500, r.Status, "%s", r.Body)
	assert.Contains(t, r.String(), "Unable to send the SMS")
}

func TestTwilioSender(t *testing.T) {
	t.Parallel()
	tw := newFakeTwilio(t, "AC1", "right")
	ctx := context.Background()
	require.NoError(t, newTwilioSender(tw.srv.URL, "AC1", "right", "+15550000000").SendSMS(ctx, "15551112222", "Your code is 111111"))
	msgs := tw.sent()
	require.Len(t, msgs, 1)
	assert.Equal(t, "+15550000000", msgs[0].Get("From"), "a sender number goes as From")
	assert.Empty(t, msgs[0].Get("MessagingServiceSid"))
	assert.Equal(t, "+15551112222", msgs[0].Get("To"))

	err := newTwilioSender(tw.srv.URL, "AC1", "wrong-token", "MG1").SendSMS(ctx, "15551112222", "x")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "20003")
	assert.NotContains(t, err.Error(), "wrong-token")

	failed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(201)
		fmt.Fprint(w, `{"sid":"SM9","status":"failed","error_code":30003,"error_message":"Unreachable destination handset"}`)
	}))
	defer failed.Close()
	err = newTwilioSender(failed.URL, "AC1", "right", "MG1").SendSMS(ctx, "15551112222", "x")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "30003")
}

func TestAdminFactors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil)
	sess := e.signUp(t, "admin-mfa@example.com", "secret-123")
	tok := sess["access_token"].(string)
	uid := sess["user"].(map[string]any)["id"].(string)
	fid, secret := e.enrollTOTP(t, tok, "app")
	r := e.verifyMFA(t, tok, fid, e.challenge(t, tok, fid), totpCode(t, secret, e.clock.now()))
	require.Equal(t, 200, r.Status, "%s", r.Body)
	aal2 := r.Map(t)["access_token"].(string)
	svc := bearer(e.api.Service)
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "user token", URL: "/admin/users/" + uid + "/factors", Headers: bearer(tok), WantStatus: 403, WantFields: errCode("not_admin")},
		{Name: "list", URL: "/admin/users/" + uid + "/factors", Headers: svc, WantStatus: 200,
			WantContains:    []string{`"id":"` + fid + `"`, `"status":"verified"`, `"factor_type":"totp"`, `"friendly_name":"app"`},
			WantNotContains: []string{secret}},
		{Name: "unknown user", URL: "/admin/users/00000000-0000-0000-0000-000000000001/factors", Headers: svc,
			WantStatus: 404, WantFields: errCode("user_not_found")},
		{Name: "delete", Method: "DELETE", URL: "/admin/users/" + uid + "/factors/" + fid, Headers: svc, WantStatus: 200,
			WantFields: map[string]any{"id": fid, "status": "verified"}},
		{Name: "listed no more", URL: "/admin/users/" + uid + "/factors", Headers: svc, WantStatus: 200, WantJSON: `[]`},
		{Name: "delete again", Method: "DELETE", URL: "/admin/users/" + uid + "/factors/" + fid, Headers: svc,
			WantStatus: 404, WantFields: errCode("mfa_factor_not_found")},
	})
	// The session the factor raised is aal1 again: its next refresh says so.
	var aal string
	require.NoError(t, e.pool.QueryRow(context.Background(), `select aal::text from auth.sessions where id = $1`,
		claims(t, aal2)["session_id"]).Scan(&aal))
	assert.Equal(t, "aal1", aal)
}

func TestQRSVG(t *testing.T) {
	t.Parallel()
	svg, err := qrSVG("otpauth://totp/x:y?secret=JBSWY3DPEHPK3PXP&issuer=x")
	require.NoError(t, err)
	var doc struct {
		XMLName xml.Name `xml:"svg"`
		ViewBox string   `xml:"viewBox,attr"`
		Path    struct {
			D string `xml:"d,attr"`
		} `xml:"path"`
	}
	require.NoError(t, xml.Unmarshal([]byte(svg), &doc))
	var n int
	_, err = fmt.Sscanf(doc.ViewBox, "0 0 %d %d", &n, &n)
	require.NoError(t, err, doc.ViewBox)
	require.Zero(t, (n-2*qrQuietZone-17)%4, "a QR code is 17+4v modules wide: %s", doc.ViewBox)
	// The three finder patterns' corners are dark.
	far := n - qrQuietZone - 7
	for _, at := range []string{"M4 4h", fmt.Sprintf("M%d 4h", far), fmt.Sprintf("M4 %dh", far)} {
		assert.Contains(t, doc.Path.D, at)
	}
	assert.NotContains(t, doc.Path.D, "M3 3h", "the quiet zone is blank")
}
