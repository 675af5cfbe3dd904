package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/madbase/madbase/shared/apierr"
	"github.com/madbase/madbase/shared/db"
	"github.com/madbase/madbase/shared/httpserver"
)

// Error codes auth-js classifies errors by (docs/api/auth.md §4.2; auth-js
// lib/error-codes.ts). They are part of the wire contract.
const (
	CodeUnexpectedFailure        = "unexpected_failure"
	CodeValidationFailed         = "validation_failed"
	CodeBadJSON                  = "bad_json"
	CodeEmailExists              = "email_exists"
	CodePhoneExists              = "phone_exists"
	CodeBadJWT                   = "bad_jwt"
	CodeNotAdmin                 = "not_admin"
	CodeNoAuthorization          = "no_authorization"
	CodeUserNotFound             = "user_not_found"
	CodeSessionNotFound          = "session_not_found"
	CodeSessionExpired           = "session_expired"
	CodeFlowStateNotFound        = "flow_state_not_found"
	CodeFlowStateExpired         = "flow_state_expired"
	CodeSignupDisabled           = "signup_disabled"
	CodeUserBanned               = "user_banned"
	CodeProviderEmailNeedsVerify = "provider_email_needs_verification"
	CodeInviteNotFound           = "invite_not_found"
	CodeBadOAuthState            = "bad_oauth_state"
	CodeBadCodeVerifier          = "bad_code_verifier"
	CodeEmailNotConfirmed        = "email_not_confirmed"
	CodePhoneNotConfirmed        = "phone_not_confirmed"
	CodeReauthNonceMissing       = "reauth_nonce_missing"
	CodeUserAlreadyExists        = "user_already_exists"
	CodeWeakPassword             = "weak_password"
	CodeSamePassword             = "same_password"
	CodeReauthenticationNeeded   = "reauthentication_needed"
	CodeReauthenticationNotValid = "reauthentication_not_valid"
	CodeOTPExpired               = "otp_expired"
	CodeOTPDisabled              = "otp_disabled"
	CodeInvalidCredentials       = "invalid_credentials"
	CodeRefreshTokenNotFound     = "refresh_token_not_found"
	CodeRefreshTokenAlreadyUsed  = "refresh_token_already_used"
	CodeOverRequestRateLimit     = "over_request_rate_limit"
	CodeOverEmailSendRateLimit   = "over_email_send_rate_limit"
	CodeOverSMSSendRateLimit     = "over_sms_send_rate_limit"
	CodeEmailProviderDisabled    = "email_provider_disabled"
	CodePhoneProviderDisabled    = "phone_provider_disabled"
	CodeAnonymousDisabled        = "anonymous_provider_disabled"
	CodeEmailAddressInvalid      = "email_address_invalid"
	CodeRequestTooLarge          = "request_entity_too_large"
	CodeNotFound                 = "not_found"
	CodeCaptchaFailed            = "captcha_failed"
	CodeMFAFactorNotFound        = "mfa_factor_not_found"
	// External providers and identities.
	CodeBadOAuthCallback               = "bad_oauth_callback"
	CodeFlowStateAlreadyUsed           = "flow_state_already_used"
	CodeOAuthProviderNotSupported      = "oauth_provider_not_supported"
	CodeProviderDisabled               = "provider_disabled"
	CodeIdentityAlreadyExists          = "identity_already_exists"
	CodeIdentityNotFound               = "identity_not_found"
	CodeSingleIdentityNotDeletable     = "single_identity_not_deletable"
	CodeEmailConflictIdentityNotDelete = "email_conflict_identity_not_deletable"
	CodeManualLinkingDisabled          = "manual_linking_disabled"
	CodeSAMLProviderDisabled           = "saml_provider_disabled"
	CodeWeb3ProviderDisabled           = "web3_provider_disabled"
	// CodeDatabaseUnavailable is MadBase's own (GoTrue has none): a 503
	// while the database cannot be reached, which auth-js retries.
	CodeDatabaseUnavailable = "database_unavailable"
	CodeRequestTimeout      = "request_timeout"
	// CodeInvalidRequest is the OAuth error name of a malformed /token
	// request (oauthError's shape).
	CodeInvalidRequest = "invalid_request"
)

// oauthErrorNames maps statuses to the OAuth error names redirects carry.
var oauthErrorNames = map[int]string{
	http.StatusBadRequest:          CodeInvalidRequest,
	http.StatusUnauthorized:        "unauthorized_client",
	http.StatusForbidden:           "access_denied",
	http.StatusNotFound:            CodeInvalidRequest,
	http.StatusUnprocessableEntity: CodeInvalidRequest,
	http.StatusTooManyRequests:     CodeInvalidRequest,
	http.StatusInternalServerError: "server_error",
	http.StatusServiceUnavailable:  "temporarily_unavailable",
}

// APIVersionHeader is the header auth-js sends on every request and reads on
// error responses to choose between the error shapes.
const APIVersionHeader = "X-Supabase-Api-Version"

// apiVersion20240101 is the only API version so far.
const apiVersion20240101 = "2024-01-01"

var apiVersion20240101Time = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// errExtra is what auth's renderer reads from apierr.Error.Extra: the shape
// the error is written in, and the weak_password reasons.
type errExtra struct {
	// Reasons are the weak_password reasons (length, characters, pwned).
	Reasons []string
	// OAuth renders {"error","error_description"} (some /token errors).
	OAuth bool
	// Gateway renders {"message"} as the API gateway does for key errors.
	Gateway bool
}

// extraOf is e's auth extra, zero when it has none.
func extraOf(e *apierr.Error) errExtra {
	x, _ := e.Extra.(errExtra)
	return x
}

func newError(status int, code, format string, args ...any) *apierr.Error {
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	return apierr.New(status, code, msg)
}

func badRequest(code, format string, args ...any) *apierr.Error {
	return newError(http.StatusBadRequest, code, format, args...)
}

func unprocessable(code, format string, args ...any) *apierr.Error {
	return newError(http.StatusUnprocessableEntity, code, format, args...)
}

func forbidden(code, format string, args ...any) *apierr.Error {
	return newError(http.StatusForbidden, code, format, args...)
}

func notFound(code, format string, args ...any) *apierr.Error {
	return newError(http.StatusNotFound, code, format, args...)
}

func tooManyRequests(code, format string, args ...any) *apierr.Error {
	return newError(http.StatusTooManyRequests, code, format, args...)
}

// internalError is a generic 500 whose cause only goes to the logs.
func internalError(msg string, cause error) *apierr.Error {
	return &apierr.Error{Status: http.StatusInternalServerError, Code: CodeUnexpectedFailure, Message: msg, Internal: cause}
}

// dbError is what every unexpected database failure becomes: never SQL text.
// The renderer turns it into dbUnavailable when the database could not be
// reached.
func dbError(cause error) *apierr.Error {
	return internalError("Database error", cause)
}

// retryAfterSeconds is the Retry-After of the answers given while the
// database cannot be reached.
const retryAfterSeconds = "1"

// dbUnavailable is the 503 of a request the database could not serve
// because it could not be reached: auth-js retries a 503 and keeps its
// session, where a 500 would read as the server's own failure.
func dbUnavailable(cause error) *apierr.Error {
	return &apierr.Error{Status: http.StatusServiceUnavailable, Code: CodeDatabaseUnavailable,
		Message: "The database cannot be reached; retry later", Internal: cause,
		Headers: map[string]string{fiber.HeaderRetryAfter: retryAfterSeconds}}
}

// errRequestTimeout is GoTrue's answer to a request that ran out of time.
func errRequestTimeout(cause error) *apierr.Error {
	return &apierr.Error{Status: http.StatusGatewayTimeout, Code: CodeRequestTimeout,
		Message: "Processing this request timed out, please retry after a moment.", Internal: cause}
}

func validationFailed(format string, args ...any) *apierr.Error {
	return badRequest(CodeValidationFailed, format, args...)
}

func oauthError(code, desc string) *apierr.Error {
	return &apierr.Error{Status: http.StatusBadRequest, Code: code, Message: desc, Extra: errExtra{OAuth: true}}
}

// gatewayError is a 401 in the gateway's {"message"} shape, with no code.
func gatewayError(msg string) *apierr.Error {
	return &apierr.Error{Status: http.StatusUnauthorized, Message: msg, Extra: errExtra{Gateway: true}}
}

var (
	errInvalidCredentials = badRequest(CodeInvalidCredentials, "Invalid login credentials")
	errOTPExpired         = forbidden(CodeOTPExpired, "Token has expired or is invalid")
	errNotAdmin           = forbidden(CodeNotAdmin, "User not allowed")
	errUserNotFound       = notFound(CodeUserNotFound, "User not found")
	errEmailExists        = unprocessable(CodeEmailExists, "A user with this email address has already been registered")
	errPhoneExists        = unprocessable(CodePhoneExists, "Phone number already registered by another user")
)

// wire bodies (contracts with auth-js; errors_test.go pins them).
type errorBody struct {
	Code         string        `json:"code"`
	Message      string        `json:"message"`
	WeakPassword *weakPassword `json:"weak_password,omitempty"`
}

type legacyErrorBody struct {
	Code         int           `json:"code"`
	ErrorCode    string        `json:"error_code,omitempty"`
	Msg          string        `json:"msg"`
	ErrorID      string        `json:"error_id,omitempty"`
	WeakPassword *weakPassword `json:"weak_password,omitempty"`
}

type weakPassword struct {
	Message string   `json:"message,omitempty"`
	Reasons []string `json:"reasons"`
}

type oauthErrorBody struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

type gatewayErrorBody struct {
	Message string `json:"message"`
	Hint    string `json:"hint,omitempty"`
}

// requestAPIVersion reports whether the request asked for the 2024-01-01
// error shape (auth-js always does).
func requestAPIVersion(c *fiber.Ctx) bool {
	v := strings.TrimSpace(c.Get(APIVersionHeader))
	if v == "" {
		return false
	}
	t, err := time.Parse("2006-01-02", v)
	return err == nil && !t.Before(apiVersion20240101Time)
}

// toError maps any error a handler returned to an *apierr.Error in auth's
// vocabulary: a failure caused by a database that cannot be reached is
// dbUnavailable, whatever wrapped it; other errors are classified.
func toError(err error) *apierr.Error {
	e := classify(err)
	switch {
	case e.Status < 500 || e.Code == CodeDatabaseUnavailable:
	case errors.Is(err, context.DeadlineExceeded):
		return errRequestTimeout(err)
	case db.Unreachable(err):
		return dbUnavailable(err)
	}
	return e
}

// classify maps an error to auth's vocabulary: errors with auth's codes as
// they are, errors with the shared codes and fiber's own by their status,
// anything else a generic 500.
func classify(err error) *apierr.Error {
	var ae *apierr.Error
	if errors.As(err, &ae) {
		if !ae.Shared() {
			return ae
		}
		t := *ae
		switch {
		case ae.Status == http.StatusRequestEntityTooLarge:
			t.Code = CodeRequestTooLarge
		case ae.Status == http.StatusNotFound:
			t.Code = CodeNotFound
		case ae.Status >= 500:
			return internalError("Unexpected failure", ae)
		default:
			t.Code = CodeValidationFailed
		}
		return &t
	}
	var fe *fiber.Error
	if errors.As(err, &fe) {
		switch fe.Code {
		case http.StatusNotFound:
			return notFound(CodeNotFound, "Not found")
		case http.StatusMethodNotAllowed:
			return newError(fe.Code, CodeValidationFailed, "Method not allowed")
		case http.StatusRequestEntityTooLarge:
			return newError(fe.Code, CodeRequestTooLarge, "Request body too large")
		}
		if fe.Code >= 500 {
			return internalError("Unexpected failure", fe)
		}
		return newError(fe.Code, CodeValidationFailed, "%s", fe.Message)
	}
	return internalError("Unexpected failure", err)
}

// render writes e in the shape the request asks for: the 2024-01-01 shape
// {code, message} with the version header echoed, the legacy shape
// {code:int, error_code, msg}, an OAuth {error, error_description} or the
// gateway's {message}. x-sb-error-code is set on every one.
func (s *service) render(c *fiber.Ctx, e *apierr.Error) error {
	rid := httpserver.RequestID(c)
	if e.Internal != nil || e.Status >= 500 {
		lvl := s.log.Warn
		if e.Status >= 500 {
			lvl = s.log.Error
		}
		lvl("auth request failed", "request_id", rid, "status", e.Status, "code", e.Code,
			"method", c.Method(), "path", c.Path(), "cause", e.Cause())
	}
	for k, v := range e.Headers {
		c.Set(k, v)
	}
	if e.Code != "" {
		c.Set("X-Sb-Error-Code", e.Code)
	}
	x := extraOf(e)
	var body any
	switch {
	case x.Gateway:
		body = gatewayErrorBody{Message: e.Message}
	case x.OAuth:
		body = oauthErrorBody{Error: e.Code, ErrorDescription: e.Message}
	case requestAPIVersion(c):
		c.Set(APIVersionHeader, apiVersion20240101)
		b := errorBody{Code: e.Code, Message: e.Message}
		if e.Code == CodeWeakPassword {
			b.WeakPassword = &weakPassword{Reasons: nonNil(x.Reasons)}
		}
		body = b
	default:
		b := legacyErrorBody{Code: e.Status, ErrorCode: e.Code, Msg: e.Message}
		if e.Status >= 500 {
			b.ErrorID = rid
		}
		if e.Code == CodeWeakPassword {
			b.WeakPassword = &weakPassword{Reasons: nonNil(x.Reasons)}
		}
		body = b
	}
	out, err := json.Marshal(body)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	return c.Status(e.Status).Send(out)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
