// Package apierr is MadBase's one error type. Handlers return *Error (or any
// error, which becomes a generic 500); one renderer per API surface writes it
// in the shape that surface's client reads. Internal causes are logged with the
// request id and never rendered.
package apierr

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Machine codes shared by the platform's own endpoints. Each API surface may
// define more next to its renderer.
const (
	CodeBadRequest      = "bad_request"
	CodeUnauthorized    = "unauthorized"
	CodeForbidden       = "forbidden"
	CodeNotFound        = "not_found"
	CodeConflict        = "conflict"
	CodeTooLarge        = "request_too_large"
	CodeTooManyRequests = "too_many_requests"
	CodeInternal        = "internal_error"
	CodeUnavailable     = "service_unavailable"
	CodeBadGateway      = "bad_gateway"
	CodeGatewayTimeout  = "gateway_timeout"
)

// Error is an error with an HTTP status. Every API surface returns it; the
// surface's renderer decides which fields reach the wire and in what shape.
type Error struct {
	Status  int
	Code    string
	Message string
	// Details and Hint are optional: a string, or structured data where a
	// surface's clients read it (PostgREST's PGRST201 lists candidates).
	Details any
	Hint    any
	// Headers are set on the response (Retry-After, WWW-Authenticate ...).
	Headers map[string]string
	// Extra holds what one surface's renderer alone reads (auth's
	// weak-password reasons, storage's status line); other renderers ignore
	// it.
	Extra any
	// Internal is the cause: logged with the request id, never serialized.
	Internal error
}

func (e *Error) Error() string {
	if e.Internal != nil {
		return fmt.Sprintf("%d %s: %s: %v", e.Status, e.Code, e.Message, e.Internal)
	}
	return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
}

// Unwrap exposes the internal cause to errors.Is and errors.As.
func (e *Error) Unwrap() error { return e.Internal }

// WithInternal returns a copy of e that carries cause for the logs.
func (e *Error) WithInternal(cause error) *Error {
	c := *e
	c.Internal = cause
	return &c
}

// WithDetails returns a copy of e carrying details.
func (e *Error) WithDetails(details any) *Error {
	c := *e
	c.Details = details
	return &c
}

// WithHint returns a copy of e carrying hint.
func (e *Error) WithHint(hint any) *Error {
	c := *e
	c.Hint = hint
	return &c
}

// Cause is the internal cause's text for the logs, or "".
func (e *Error) Cause() string {
	if e.Internal == nil {
		return ""
	}
	return e.Internal.Error()
}

// Shared reports whether e carries one of the codes above, that is whether
// shared code made it rather than an API surface with its own codes. A
// surface's renderer translates these into its own vocabulary.
func (e *Error) Shared() bool {
	switch e.Code {
	case CodeBadRequest, CodeUnauthorized, CodeForbidden, CodeNotFound, CodeConflict, CodeTooLarge,
		CodeTooManyRequests, CodeInternal, CodeUnavailable, CodeBadGateway, CodeGatewayTimeout:
		return true
	}
	return false
}

// New makes an error with a status, code and message.
func New(status int, code, msg string) *Error {
	return &Error{Status: status, Code: code, Message: msg}
}

// BadRequest is a 400.
func BadRequest(msg string) *Error { return New(http.StatusBadRequest, CodeBadRequest, msg) }

// Unauthorized is a 401.
func Unauthorized(msg string) *Error { return New(http.StatusUnauthorized, CodeUnauthorized, msg) }

// Forbidden is a 403.
func Forbidden(msg string) *Error { return New(http.StatusForbidden, CodeForbidden, msg) }

// NotFound is a 404.
func NotFound(msg string) *Error { return New(http.StatusNotFound, CodeNotFound, msg) }

// Conflict is a 409.
func Conflict(msg string) *Error { return New(http.StatusConflict, CodeConflict, msg) }

// TooLarge is a 413.
func TooLarge(msg string) *Error { return New(http.StatusRequestEntityTooLarge, CodeTooLarge, msg) }

// Unavailable is a 503.
func Unavailable(msg string) *Error { return New(http.StatusServiceUnavailable, CodeUnavailable, msg) }

// Internal is a 500 whose message is generic; cause goes to the logs only.
func Internal(cause error) *Error {
	return &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "internal server error", Internal: cause}
}

// From turns any error into an *Error: an *Error found with errors.As is
// returned as is, anything else becomes Internal(err).
func From(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return Internal(err)
}

// body is the default wire shape, used by edge and control:
// {"error": "<message>", "code": <status>} plus the request id on 5xx.
// It is a contract with clients; apierr_test.go pins it.
type body struct {
	Error     string `json:"error"`
	Code      int    `json:"code"`
	RequestID string `json:"request_id,omitempty"`
}

// JSON renders e in the default shape. requestID is included on 5xx answers
// so a user can quote it to an operator.
func (e *Error) JSON(requestID string) []byte {
	b := body{Error: e.Message, Code: e.Status}
	if e.Status >= 500 {
		b.RequestID = requestID
	}
	out, _ := json.Marshal(b)
	return out
}
