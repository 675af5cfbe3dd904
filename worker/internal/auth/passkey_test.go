package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/madbase/madbase/shared/apitest"
	"github.com/madbase/madbase/shared/db/dbtest"
	"github.com/madbase/madbase/shared/db/platform"
	authmig "github.com/madbase/madbase/worker/migrations/auth"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The test environment's SITE_URL is http://app.test:3000: the relying
// party is app.test and its one origin that page.
const (
	testRPID   = "app.test"
	testOrigin = "http://app.test:3000"
)

func newPasskeyEnv(t *testing.T, vars map[string]string) *env {
	t.Helper()
	all := map[string]string{"AUTH_AUTOCONFIRM": "true", "AUTH_PASSKEY_ENABLED": "true"}
	for k, v := range vars {
		all[k] = v
	}
	return newEnv(t, false, all)
}

// registrationOptions asks for a registration challenge with tok.
func (e *env) registrationOptions(t *testing.T, tok string, headers ...map[string]string) (string, map[string]any) {
	t.Helper()
	h := bearer(tok)
	for _, extra := range headers {
		for k, v := range extra {
			h[k] = v
		}
	}
	r := e.api.Do(t, apitest.Request{Method: "POST", URL: "/passkeys/registration/options", Headers: h, Body: map[string]any{}})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	m := r.Map(t)
	return m["challenge_id"].(string), m["options"].(map[string]any)
}

func (e *env) registrationVerify(t *testing.T, tok, challengeID string, cred map[string]any) *apitest.Response {
	t.Helper()
	return e.api.Do(t, apitest.Request{Method: "POST", URL: "/passkeys/registration/verify", Headers: bearer(tok),
		Body: map[string]any{"challenge_id": challengeID, "credential": cred}})
}

// register makes a passkey for the user of tok on a and returns its id.
func (e *env) register(t *testing.T, tok string, a *softAuthenticator) string {
	t.Helper()
	id, opts := e.registrationOptions(t, tok)
	r := e.registrationVerify(t, tok, id, a.create(t, opts))
	require.Equal(t, 200, r.Status, "%s", r.Body)
	return r.Map(t)["id"].(string)
}

// authenticationOptions asks for a sign-in challenge, as auth-js does (the
// anon key, no user).
func (e *env) authenticationOptions(t *testing.T, headers ...map[string]string) (string, map[string]any) {
	t.Helper()
	var h map[string]string
	if len(headers) > 0 {
		h = headers[0]
	}
	r := e.api.Do(t, apitest.Request{Method: "POST", URL: "/passkeys/authentication/options", Headers: h,
		Body: map[string]any{"gotrue_meta_security": map[string]any{}}})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	m := r.Map(t)
	return m["challenge_id"].(string), m["options"].(map[string]any)
}

func (e *env) authenticationVerify(t *testing.T, challengeID string, cred map[string]any) *apitest.Response {
	t.Helper()
	return e.api.Do(t, apitest.Request{Method: "POST", URL: "/passkeys/authentication/verify",
		Body: map[string]any{"challenge_id": challengeID, "credential": cred}})
}

// passkeySignIn signs in with a and returns the answer.
func (e *env) passkeySignIn(t *testing.T, a *softAuthenticator) *apitest.Response {
	t.Helper()
	id, opts := e.authenticationOptions(t)
	return e.authenticationVerify(t, id, a.get(t, opts))
}

func (e *env) storedSignCount(t *testing.T, passkeyID string) int64 {
	t.Helper()
	var n int64
	require.NoError(t, e.pool.QueryRow(context.Background(),
		`select sign_count from auth.webauthn_credentials where id = $1`, passkeyID).Scan(&n))
	return n
}

func TestPasskeyRegisterAndSignIn(t *testing.T) {
	t.Parallel()
	e := newPasskeyEnv(t, nil)
	sess := e.signUp(t, "pk@example.com", "secret-123")
	tok := sess["access_token"].(string)
	uid := sess["user"].(map[string]any)["id"].(string)

	before := e.clock.now()
	r := e.api.Do(t, apitest.Request{Method: "POST", URL: "/passkeys/registration/options", Headers: bearer(tok), Body: map[string]any{}})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	m := r.Map(t)
	challengeID := m["challenge_id"].(string)
	_, err := uuid.Parse(challengeID)
	require.NoError(t, err)
	assert.Equal(t, float64(before.Add(5*time.Minute).Unix()), m["expires_at"])
	opts := m["options"].(map[string]any)
	assert.Equal(t, map[string]any{"id": testRPID, "name": testRPID}, opts["rp"])
	user := opts["user"].(map[string]any)
	assert.Equal(t, b64.EncodeToString([]byte(uid)), user["id"], "the user handle is the user id as text")
	assert.Equal(t, "pk@example.com", user["name"])
	assert.NotEmpty(t, opts["challenge"])
	assert.Equal(t, "required", opts["authenticatorSelection"].(map[string]any)["residentKey"])
	assert.Contains(t, opts["pubKeyCredParams"], map[string]any{"type": "public-key", "alg": float64(-7)})
	assert.Nil(t, opts["excludeCredentials"], "no passkeys to exclude yet")

	a := newSoftAuthenticator(t, testOrigin)
	a.SignCount = 1
	r = e.registrationVerify(t, tok, challengeID, a.create(t, opts))
	require.Equal(t, 200, r.Status, "%s", r.Body)
	reg := r.Map(t)
	pkID := reg["id"].(string)
	assert.Equal(t, "Passkey", reg["friendly_name"])
	assert.NotEmpty(t, reg["created_at"])

	// What is stored: the credential, its key, counter, model and transports.
	var (
		credID, pub    []byte
		aaguid         uuid.UUID
		count          int64
		transports     string
		owner          string
		be, bs         bool
		lastUsedAtNull bool
	)
	require.NoError(t, e.pool.QueryRow(context.Background(), `select credential_id, public_key, aaguid, sign_count,
		transports::text, user_id::text, backup_eligible, backed_up, last_used_at is null
		from auth.webauthn_credentials where id = $1`, pkID).
		Scan(&credID, &pub, &aaguid, &count, &transports, &owner, &be, &bs, &lastUsedAtNull))
	assert.Equal(t, a.credID, credID)
	assert.NotEmpty(t, pub)
	assert.Equal(t, uuid.UUID(a.aaguid), aaguid)
	assert.Equal(t, int64(1), count)
	assert.JSONEq(t, `["internal", "hybrid"]`, transports)
	assert.Equal(t, uid, owner)
	assert.False(t, be || bs)
	assert.True(t, lastUsedAtNull)

	// The next registration excludes it.
	_, opts2 := e.registrationOptions(t, tok)
	ex := opts2["excludeCredentials"].([]any)
	require.Len(t, ex, 1)
	assert.Equal(t, b64.EncodeToString(a.credID), ex[0].(map[string]any)["id"])

	// Sign in without naming the user.
	id, aopts := e.authenticationOptions(t)
	assert.Equal(t, testRPID, aopts["rpId"])
	assert.Nil(t, aopts["allowCredentials"], "discoverable: any passkey of the relying party")
	assert.Equal(t, "preferred", aopts["userVerification"])
	r = e.authenticationVerify(t, id, a.get(t, aopts))
	require.Equal(t, 200, r.Status, "%s", r.Body)
	s := r.Map(t)
	for _, k := range []string{"access_token", "refresh_token", "expires_in", "expires_at"} {
		assert.NotEmpty(t, s[k], k)
	}
	assert.Equal(t, "bearer", s["token_type"])
	assert.Equal(t, uid, s["user"].(map[string]any)["id"])
	c := claims(t, s["access_token"].(string))
	assert.Equal(t, uid, c["sub"])
	assert.Equal(t, "aal1", c["aal"])
	assert.Equal(t, []string{"passkey"}, methods(t, s["access_token"].(string)))

	// The session is a session like any: the user, a refresh.
	r = e.api.Do(t, apitest.Request{URL: "/user", Headers: bearer(s["access_token"].(string))})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	assert.Equal(t, "pk@example.com", r.Map(t)["email"])
	r = e.refresh(t, s["refresh_token"].(string))
	require.Equal(t, 200, r.Status, "%s", r.Body)
	assert.Equal(t, []string{"passkey"}, methods(t, r.Map(t)["access_token"].(string)), "refreshes keep the amr")

	// The counter moved on and the passkey shows when it was used.
	assert.Equal(t, int64(2), e.storedSignCount(t, pkID))
	r = e.api.Do(t, apitest.Request{URL: "/passkeys", Headers: bearer(tok)})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	var list []map[string]any
	r.JSON(t, &list)
	require.Len(t, list, 1)
	assert.Equal(t, pkID, list[0]["id"])
	assert.Equal(t, "Passkey", list[0]["friendly_name"])
	assert.NotEmpty(t, list[0]["last_used_at"])
	assert.NotContains(t, r.String(), "public_key")
}

func TestPasskeyRefusals(t *testing.T) {
	t.Parallel()
	e := newPasskeyEnv(t, nil)
	tok := e.signUp(t, "refused@example.com", "secret-123")["access_token"].(string)
	a := newSoftAuthenticator(t, testOrigin)

	t.Run("registration from another origin", func(t *testing.T) {
		evil := newSoftAuthenticator(t, "http://evil.test:3000")
		id, opts := e.registrationOptions(t, tok)
		requireErr(t, e.registrationVerify(t, tok, id, evil.create(t, opts)), 400, CodeWebAuthnVerificationFailed)
	})
	t.Run("registration for another relying party", func(t *testing.T) {
		other := newSoftAuthenticator(t, testOrigin)
		other.RPID = "evil.test"
		id, opts := e.registrationOptions(t, tok)
		requireErr(t, e.registrationVerify(t, tok, id, other.create(t, opts)), 400, CodeWebAuthnVerificationFailed)
	})

	e.register(t, tok, a)

	t.Run("sign-in from another origin", func(t *testing.T) {
		id, opts := e.authenticationOptions(t)
		a.Origin = "http://evil.test:3000"
		defer func() { a.Origin = testOrigin }()
		requireErr(t, e.authenticationVerify(t, id, a.get(t, opts)), 400, CodeWebAuthnVerificationFailed)
	})
	t.Run("a challenge answered twice", func(t *testing.T) {
		id, opts := e.authenticationOptions(t)
		cred := a.get(t, opts)
		require.Equal(t, 200, e.authenticationVerify(t, id, cred).Status)
		requireErr(t, e.authenticationVerify(t, id, cred), 400, CodeWebAuthnChallengeNotFound)
	})
	t.Run("an old answer to a new challenge", func(t *testing.T) {
		id, opts := e.authenticationOptions(t)
		old := a.get(t, opts)
		require.Equal(t, 200, e.authenticationVerify(t, id, old).Status)
		id2, _ := e.authenticationOptions(t)
		requireErr(t, e.authenticationVerify(t, id2, old), 400, CodeWebAuthnVerificationFailed)
	})
	t.Run("a registration challenge answered twice", func(t *testing.T) {
		b := newSoftAuthenticator(t, testOrigin)
		id, opts := e.registrationOptions(t, tok)
		cred := b.create(t, opts)
		require.Equal(t, 200, e.registrationVerify(t, tok, id, cred).Status)
		requireErr(t, e.registrationVerify(t, tok, id, cred), 400, CodeWebAuthnChallengeNotFound)
	})
	t.Run("a registration challenge is for a sign-in no use", func(t *testing.T) {
		id, opts := e.registrationOptions(t, tok)
		opts["rpId"] = testRPID
		requireErr(t, e.authenticationVerify(t, id, a.get(t, opts)), 400, CodeWebAuthnChallengeNotFound)
	})
	t.Run("another user's registration challenge", func(t *testing.T) {
		other := e.signUp(t, "other@example.com", "secret-123")["access_token"].(string)
		id, opts := e.registrationOptions(t, other)
		b := newSoftAuthenticator(t, testOrigin)
		requireErr(t, e.registrationVerify(t, tok, id, b.create(t, opts)), 400, CodeWebAuthnChallengeNotFound)
	})
	t.Run("an expired challenge", func(t *testing.T) {
		id, opts := e.authenticationOptions(t)
		e.clock.advance(5*time.Minute + time.Second)
		requireErr(t, e.authenticationVerify(t, id, a.get(t, opts)), 400, CodeWebAuthnChallengeExpired)
	})
	t.Run("a signature that does not verify", func(t *testing.T) {
		id, opts := e.authenticationOptions(t)
		cred := a.get(t, opts)
		resp := cred["response"].(map[string]any)
		sig, _ := b64.DecodeString(resp["signature"].(string))
		sig[len(sig)-1] ^= 1
		resp["signature"] = b64.EncodeToString(sig)
		requireErr(t, e.authenticationVerify(t, id, cred), 400, CodeWebAuthnVerificationFailed)
	})
	t.Run("an unknown passkey", func(t *testing.T) {
		stranger := newSoftAuthenticator(t, testOrigin)
		stranger.userHandle = []byte(uuid.NewString())
		id, opts := e.authenticationOptions(t)
		requireErr(t, e.authenticationVerify(t, id, stranger.get(t, opts)), 400, CodeWebAuthnVerificationFailed)
	})
	t.Run("the same credential registered again", func(t *testing.T) {
		id, opts := e.registrationOptions(t, tok)
		requireErr(t, e.registrationVerify(t, tok, id, a.create(t, opts)), 422, CodeWebAuthnCredentialExists)
	})

	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "registration needs a session", Method: "POST", URL: "/passkeys/registration/options", Body: map[string]any{},
			Headers: map[string]string{"Authorization": ""}, WantStatus: 401, WantFields: errCode(CodeNoAuthorization)},
		{Name: "listing needs a user", URL: "/passkeys", WantStatus: 403, WantFields: errCode(CodeBadJWT)},
		{Name: "listing needs a session", URL: "/passkeys", Headers: map[string]string{"Authorization": ""}, WantStatus: 401, WantFields: errCode(CodeNoAuthorization)},
		{Name: "no challenge id", Method: "POST", URL: "/passkeys/authentication/verify",
			Body: map[string]any{"credential": map[string]any{}}, WantStatus: 400, WantFields: map[string]any{"code": CodeValidationFailed, "message": "challenge_id is required"}},
		{Name: "no credential", Method: "POST", URL: "/passkeys/authentication/verify",
			Body: map[string]any{"challenge_id": uuid.NewString()}, WantStatus: 400, WantFields: map[string]any{"code": CodeValidationFailed, "message": "credential is required"}},
		{Name: "a challenge id that is no uuid", Method: "POST", URL: "/passkeys/authentication/verify",
			Body: map[string]any{"challenge_id": "x", "credential": map[string]any{}}, WantStatus: 400, WantFields: errCode(CodeValidationFailed)},
		{Name: "an unknown challenge", Method: "POST", URL: "/passkeys/authentication/verify",
			Body: map[string]any{"challenge_id": uuid.NewString(), "credential": map[string]any{}}, WantStatus: 400,
			WantFields: map[string]any{"code": CodeWebAuthnChallengeNotFound, "message": "Challenge not found or already used"}},
		{Name: "not JSON", Method: "POST", URL: "/passkeys/authentication/verify", Body: "{", WantStatus: 400, WantFields: errCode(CodeBadJSON)},
	})
}

func TestPasskeyAnonymousAndMFA(t *testing.T) {
	t.Parallel()
	e := newPasskeyEnv(t, map[string]string{"AUTH_ANONYMOUS_USERS": "true"})
	r := e.api.Do(t, apitest.Request{Method: "POST", URL: "/signup", Body: map[string]any{"data": map[string]any{}}})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	anon := r.Map(t)["access_token"].(string)
	r = e.api.Do(t, apitest.Request{Method: "POST", URL: "/passkeys/registration/options", Headers: bearer(anon), Body: map[string]any{}})
	requireErr(t, r, 403, CodeNoAuthorization)

	// A user with a verified factor manages passkeys from an aal2 session.
	sess := e.signUp(t, "mfa-pk@example.com", "secret-123")
	tok := sess["access_token"].(string)
	a := newSoftAuthenticator(t, testOrigin)
	pkID := e.register(t, tok, a)
	fid, secret := e.enrollTOTP(t, tok, "app")
	cid := e.challenge(t, tok, fid)
	r = e.verifyMFA(t, tok, fid, cid, totpCode(t, secret, e.clock.now()))
	require.Equal(t, 200, r.Status, "%s", r.Body)
	aal2 := r.Map(t)["access_token"].(string)
	aal1 := e.signIn(t, "mfa-pk@example.com", "secret-123")["access_token"].(string)

	r = e.api.Do(t, apitest.Request{Method: "POST", URL: "/passkeys/registration/options", Headers: bearer(aal1), Body: map[string]any{}})
	requireErr(t, r, 403, CodeInsufficientAAL)
	r = e.api.Do(t, apitest.Request{Method: "DELETE", URL: "/passkeys/" + pkID, Headers: bearer(aal1)})
	requireErr(t, r, 403, CodeInsufficientAAL)
	e.registrationOptions(t, aal2)
	r = e.api.Do(t, apitest.Request{Method: "DELETE", URL: "/passkeys/" + pkID, Headers: bearer(aal2)})
	require.Equal(t, 204, r.Status, "%s", r.Body)
}

func TestPasskeySignCountRegression(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	var mu sync.Mutex
	e := newEnvOpts(t, dbtest.New(t, platform.Source, authmig.Source), false,
		map[string]string{"AUTH_AUTOCONFIRM": "true", "AUTH_PASSKEY_ENABLED": "true"},
		&captureMailer{}, testLoggerTo(&lockedWriter{w: &logs, mu: &mu}))
	tok := e.signUp(t, "clone@example.com", "secret-123")["access_token"].(string)
	a := newSoftAuthenticator(t, testOrigin)
	pkID := e.register(t, tok, a)

	a.SignCount = 10
	require.Equal(t, 200, e.passkeySignIn(t, a).Status)
	require.Equal(t, int64(10), e.storedSignCount(t, pkID))

	// A counter that goes back (a cloned key, or a broken authenticator):
	// the sign-in goes through as the WebAuthn library and GoTrue let it,
	// the stored counter stays where it was, and the log says so.
	a.SignCount = 4
	r := e.passkeySignIn(t, a)
	require.Equal(t, 200, r.Status, "%s", r.Body)
	assert.Equal(t, int64(10), e.storedSignCount(t, pkID), "the counter never goes back")
	mu.Lock()
	assert.Contains(t, logs.String(), "passkey sign count did not increase")
	mu.Unlock()

	// Authenticators without a counter (synced passkeys) always say 0.
	b := newSoftAuthenticator(t, testOrigin)
	b.BackupEligible = true
	pk2 := e.register(t, tok, b)
	for range 2 {
		b.SignCount = 0
		require.Equal(t, 200, e.passkeySignIn(t, b).Status)
	}
	assert.Equal(t, int64(0), e.storedSignCount(t, pk2))
}

func TestPasskeyManage(t *testing.T) {
	t.Parallel()
	e := newPasskeyEnv(t, map[string]string{"AUTH_PASSKEY_MAX_PER_USER": "2"})
	sess := e.signUp(t, "manage@example.com", "secret-123")
	tok := sess["access_token"].(string)
	uid := sess["user"].(map[string]any)["id"].(string)
	other := e.signUp(t, "someone@example.com", "secret-123")["access_token"].(string)
	a, b := newSoftAuthenticator(t, testOrigin), newSoftAuthenticator(t, testOrigin)
	first := e.register(t, tok, a)
	e.clock.advance(time.Second)
	second := e.register(t, tok, b)

	r := e.api.Do(t, apitest.Request{Method: "POST", URL: "/passkeys/registration/options", Headers: bearer(tok), Body: map[string]any{}})
	requireErr(t, r, 422, CodeTooManyPasskeys)

	long := strings.Repeat("é", maxFriendlyName+1)
	admin := map[string]string{"Authorization": apitest.Bearer(e.api.Service)}
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "rename", Method: "PATCH", URL: "/passkeys/" + first, Headers: bearer(tok), Body: map[string]any{"friendly_name": " Laptop "},
			WantStatus: 200, WantFields: map[string]any{"id": first, "friendly_name": "Laptop"}},
		{Name: "rename without a name", Method: "PATCH", URL: "/passkeys/" + first, Headers: bearer(tok), Body: map[string]any{},
			WantStatus: 400, WantFields: map[string]any{"code": CodeValidationFailed, "message": "friendly_name is required"}},
		{Name: "a name too long", Method: "PATCH", URL: "/passkeys/" + first, Headers: bearer(tok), Body: map[string]any{"friendly_name": long},
			WantStatus: 400, WantFields: errCode(CodeValidationFailed)},
		{Name: "rename someone else's", Method: "PATCH", URL: "/passkeys/" + first, Headers: bearer(other), Body: map[string]any{"friendly_name": "mine"},
			WantStatus: 404, WantFields: map[string]any{"code": CodeValidationFailed, "message": "Passkey not found"}},
		{Name: "delete someone else's", Method: "DELETE", URL: "/passkeys/" + first, Headers: bearer(other), WantStatus: 404, WantFields: errCode(CodeValidationFailed)},
		{Name: "delete a non-id", Method: "DELETE", URL: "/passkeys/nope", Headers: bearer(tok), WantStatus: 404, WantFields: errCode(CodeValidationFailed)},
		{Name: "others see none", URL: "/passkeys", Headers: bearer(other), WantStatus: 200, WantJSON: "[]"},
		{Name: "admin list needs the service role", URL: "/admin/users/" + uid + "/passkeys", Headers: bearer(tok), WantStatus: 403, WantFields: errCode(CodeNotAdmin)},
		{Name: "admin list of an unknown user", URL: "/admin/users/" + uuid.NewString() + "/passkeys", Headers: admin, WantStatus: 404, WantFields: errCode(CodeUserNotFound)},
		{Name: "admin list of a non-id", URL: "/admin/users/nope/passkeys", Headers: admin, WantStatus: 404, WantFields: errCode(CodeValidationFailed)},
		{Name: "admin delete of another user's passkey", Method: "DELETE", URL: "/admin/users/" + uuid.NewString() + "/passkeys/" + first, Headers: admin,
			WantStatus: 404, WantFields: errCode(CodeUserNotFound)},
	})

	r = e.api.Do(t, apitest.Request{URL: "/admin/users/" + uid + "/passkeys", Headers: admin})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	var list []map[string]any
	r.JSON(t, &list)
	require.Len(t, list, 2)
	assert.Equal(t, first, list[0]["id"])
	assert.Equal(t, "Laptop", list[0]["friendly_name"])
	assert.Equal(t, second, list[1]["id"])

	// The user deletes one: it no longer signs in.
	r = e.api.Do(t, apitest.Request{Method: "DELETE", URL: "/passkeys/" + first, Headers: bearer(tok)})
	require.Equal(t, 204, r.Status, "%s", r.Body)
	assert.Empty(t, r.Body)
	requireErr(t, e.passkeySignIn(t, a), 400, CodeWebAuthnVerificationFailed)

	// The admin deletes the other: the user has none left.
	r = e.api.Do(t, apitest.Request{Method: "DELETE", URL: "/admin/users/" + uid + "/passkeys/" + second, Headers: admin})
	require.Equal(t, 204, r.Status, "%s", r.Body)
	requireErr(t, e.passkeySignIn(t, b), 400, CodeWebAuthnVerificationFailed)
	r = e.api.Do(t, apitest.Request{Method: "DELETE", URL: "/admin/users/" + uid + "/passkeys/" + second, Headers: admin})
	requireErr(t, r, 404, CodeValidationFailed)
	r = e.api.Do(t, apitest.Request{URL: "/passkeys", Headers: bearer(tok)})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	assert.Equal(t, "[]", r.String())
}

func TestPasskeyUserChecksAtSignIn(t *testing.T) {
	t.Parallel()
	e := newPasskeyEnv(t, nil)
	sess := e.signUp(t, "banned@example.com", "secret-123")
	tok, uid := sess["access_token"].(string), sess["user"].(map[string]any)["id"].(string)
	a := newSoftAuthenticator(t, testOrigin)
	e.register(t, tok, a)
	admin := map[string]string{"Authorization": apitest.Bearer(e.api.Service)}
	r := e.api.Do(t, apitest.Request{Method: "PUT", URL: "/admin/users/" + uid, Headers: admin, Body: map[string]any{"ban_duration": "24h"}})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	requireErr(t, e.passkeySignIn(t, a), 403, CodeUserBanned)

	// A deleted user's passkeys go with them.
	r = e.api.Do(t, apitest.Request{Method: "DELETE", URL: "/admin/users/" + uid, Headers: admin, Body: map[string]any{}})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	requireErr(t, e.passkeySignIn(t, a), 400, CodeWebAuthnVerificationFailed)
	var n int
	require.NoError(t, e.pool.QueryRow(context.Background(), `select count(*) from auth.webauthn_credentials`).Scan(&n))
	assert.Zero(t, n)
}

func TestPasskeyDisabled(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, map[string]string{"AUTH_AUTOCONFIRM": "true"}) // off by default outside dev
	sess := e.signUp(t, "off@example.com", "secret-123")
	tok, uid := sess["access_token"].(string), sess["user"].(map[string]any)["id"].(string)
	disabled := map[string]any{"code": CodePasskeyDisabled, "message": "Passkeys are disabled"}
	admin := map[string]string{"Authorization": apitest.Bearer(e.api.Service)}
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "registration options", Method: "POST", URL: "/passkeys/registration/options", Headers: bearer(tok), Body: map[string]any{}, WantStatus: 404, WantFields: disabled},
		{Name: "registration verify", Method: "POST", URL: "/passkeys/registration/verify", Headers: bearer(tok), Body: map[string]any{}, WantStatus: 404, WantFields: disabled},
		{Name: "authentication options", Method: "POST", URL: "/passkeys/authentication/options", Body: map[string]any{}, WantStatus: 404, WantFields: disabled},
		{Name: "authentication verify", Method: "POST", URL: "/passkeys/authentication/verify", Body: map[string]any{}, WantStatus: 404, WantFields: disabled},
		{Name: "list", URL: "/passkeys", Headers: bearer(tok), WantStatus: 404, WantFields: disabled},
		{Name: "delete", Method: "DELETE", URL: "/passkeys/" + uuid.NewString(), Headers: bearer(tok), WantStatus: 404, WantFields: disabled},
		{Name: "the admin still lists", URL: "/admin/users/" + uid + "/passkeys", Headers: admin, WantStatus: 200, WantJSON: "[]"},
	})
}

// In madbase dev, with no relying party configured, the page that calls is
// the relying party: an app on any local port works without settings.
func TestPasskeyDevRelyingPartyFromThePage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true, nil) // dev: passkeys on, autoconfirm on
	tok := e.signUp(t, "dev@example.com", "secret-123")["access_token"].(string)
	page := map[string]string{"Origin": "http://localhost:5173"}
	a := newSoftAuthenticator(t, "http://localhost:5173")
	id, opts := e.registrationOptions(t, tok, page)
	assert.Equal(t, "localhost", opts["rp"].(map[string]any)["id"])
	r := e.registrationVerify(t, tok, id, a.create(t, opts))
	require.Equal(t, 200, r.Status, "%s", r.Body)

	cid, aopts := e.authenticationOptions(t, page)
	assert.Equal(t, "localhost", aopts["rpId"])
	require.Equal(t, 200, e.authenticationVerify(t, cid, a.get(t, aopts)).Status)

	// The challenge is bound to the page that asked for it.
	cid, aopts = e.authenticationOptions(t, page)
	a.Origin = "http://localhost:4000"
	requireErr(t, e.authenticationVerify(t, cid, a.get(t, aopts)), 400, CodeWebAuthnVerificationFailed)

	// Without an Origin (a server, a test), SITE_URL is the page.
	_, aopts = e.authenticationOptions(t)
	assert.Equal(t, testRPID, aopts["rpId"])
	// An IP address cannot be a relying party: SITE_URL's again.
	_, aopts = e.authenticationOptions(t, map[string]string{"Origin": "http://127.0.0.1:5173"})
	assert.Equal(t, testRPID, aopts["rpId"])
}

// Outside dev the configured relying party is the only one, whatever the
// page says.
func TestPasskeyConfiguredRelyingParty(t *testing.T) {
	t.Parallel()
	e := newPasskeyEnv(t, map[string]string{"AUTH_PASSKEY_RP_ID": "example.com", "AUTH_PASSKEY_RP_NAME": "Example",
		"AUTH_PASSKEY_RP_ORIGINS": "https://example.com,https://app.example.com"})
	tok := e.signUp(t, "rp@example.com", "secret-123")["access_token"].(string)
	a := newSoftAuthenticator(t, "https://app.example.com")
	id, opts := e.registrationOptions(t, tok, map[string]string{"Origin": "https://evil.test"})
	assert.Equal(t, map[string]any{"id": "example.com", "name": "Example"}, opts["rp"])
	require.Equal(t, 200, e.registrationVerify(t, tok, id, a.create(t, opts)).Status)
	a.Origin = "https://example.com"
	require.Equal(t, 200, e.passkeySignIn(t, a).Status)
	a.Origin = "https://evil.test"
	requireErr(t, e.passkeySignIn(t, a), 400, CodeWebAuthnVerificationFailed)
}

// The passkey objects are auth-js's PasskeyListItem, PasskeyMetadata and
// the options responses: field names and omissions pinned.
func TestPasskeyWireShapes(t *testing.T) {
	id := uuid.MustParse("0b6c5c5e-3f5a-4d43-9d9e-6c0f3c1c2a01")
	at := time.Date(2026, 12, 7, 8, 0, 0, 123456000, time.FixedZone("x", 3600))
	p := &passkey{ID: id, FriendlyName: "Laptop", CreatedAt: at}
	for _, c := range []struct {
		v    any
		want string
	}{
		{p.wire(), `{"id":"0b6c5c5e-3f5a-4d43-9d9e-6c0f3c1c2a01","friendly_name":"Laptop","created_at":"2026-12-07T07:00:00.123456Z"}`},
		{(&passkey{ID: id, CreatedAt: at, LastUsedAt: &at}).wire(),
			`{"id":"0b6c5c5e-3f5a-4d43-9d9e-6c0f3c1c2a01","created_at":"2026-12-07T07:00:00.123456Z","last_used_at":"2026-12-07T07:00:00.123456Z"}`},
		{passkeysJSON(nil), `[]`},
		{registeredJSON{ID: id, FriendlyName: "Passkey", CreatedAt: at.UTC()},
			`{"id":"0b6c5c5e-3f5a-4d43-9d9e-6c0f3c1c2a01","friendly_name":"Passkey","created_at":"2026-12-07T07:00:00.123456Z"}`},
		{optionsJSON{ChallengeID: id, Options: map[string]any{}, ExpiresAt: 1797000000},
			`{"challenge_id":"0b6c5c5e-3f5a-4d43-9d9e-6c0f3c1c2a01","options":{},"expires_at":1797000000}`},
	} {
		b, err := json.Marshal(c.v)
		require.NoError(t, err)
		assert.JSONEq(t, c.want, string(b))
	}
}
