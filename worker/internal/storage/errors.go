package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/madbase/madbase/shared/apierr"
	"github.com/madbase/madbase/shared/db"
)

// errExtra is what storage's renderer reads from apierr.Error.Extra. The
// error's Status is the semantic status written as the body's statusCode;
// HTTP is the status line (upstream answers 400 for most 4xx, docs/api/storage.md §2) and
// Label the body's "error". Every error storage makes carries one.
type errExtra struct {
	HTTP  int
	Label string
	// Gateway renders the error as Supabase's gateway answers, before
	// storage-api sees the request: {"message", "hint"}.
	Gateway bool
}

// gatewayBody is the gateway's error shape (a contract with supabase-js,
// which reads message).
type gatewayBody struct {
	Message string `json:"message"`
	Hint    any    `json:"hint,omitempty"`
}

// errBadAPIKey is the gateway's answer to an apikey that is not one of the
// project's keys.
func errBadAPIKey() *apierr.Error {
	return &apierr.Error{Status: 401, Message: "Invalid API key",
		Hint: "Double check your Supabase `anon` or `service_role` API key.", Extra: errExtra{HTTP: 401, Gateway: true}}
}

// errorBody is the wire shape storage-js reads; statusCode is a string. It
// is a contract with storage-js.
type errorBody struct {
	StatusCode string `json:"statusCode"`
	Code       string `json:"code"`
	Error      string `json:"error"`
	Message    string `json:"message"`
}

// Storage error codes (docs/api/storage.md §2).
const (
	codeNoSuchKey        = "NoSuchKey"
	codeNoSuchBucket     = "NoSuchBucket"
	codeAccessDenied     = "AccessDenied"
	codeKeyExists        = "KeyAlreadyExists"
	codeBucketExists     = "BucketAlreadyExists"
	codeResourceExists   = "ResourceAlreadyExists"
	codeNotEmpty         = "ResourceNotEmpty"
	codeTooLarge         = "EntityTooLarge"
	codeInvalidMime      = "InvalidMimeType"
	codeInvalidKey       = "InvalidKey"
	codeInvalidBucket    = "InvalidBucketName"
	codeInvalidJWT       = "InvalidJWT"
	codeInvalidSignature = "InvalidSignature"
	codeExpiredToken     = "ExpiredToken"
	codeInvalidRequest   = "InvalidRequest"
	codeReferenced       = "ResourceReferenced"
	codeInternal         = "InternalError"
	codeInvalidRange     = "InvalidRange"
	codeDatabase         = "DatabaseError"
)

// newErr makes a storage error sent with a 400 status line below 500.
func newErr(status int, code, label, msg string) *apierr.Error {
	httpStatus := 400
	if status >= 500 {
		httpStatus = status
	}
	return &apierr.Error{Status: status, Code: code, Message: msg, Extra: errExtra{HTTP: httpStatus, Label: label}}
}

// newErrAsIs makes a storage error whose status line is its status (the
// few answers upstream does not turn into 400s: 416, tus's 404/409/415).
func newErrAsIs(status int, code, label, msg string) *apierr.Error {
	return &apierr.Error{Status: status, Code: code, Message: msg, Extra: errExtra{HTTP: status, Label: label}}
}

func errNoSuchKey() *apierr.Error { return newErr(404, codeNoSuchKey, "not_found", "Object not found") }
func errNoSuchBucket() *apierr.Error {
	return newErr(404, codeNoSuchBucket, "Bucket not found", "Bucket not found")
}
func errRLS() *apierr.Error {
	return newErr(403, codeAccessDenied, "Unauthorized", "new row violates row-level security policy")
}
func errKeyExists() *apierr.Error {
	return newErr(409, codeKeyExists, "Duplicate", "The resource already exists")
}
func errTooLarge() *apierr.Error {
	return newErr(413, codeTooLarge, "Payload too large", "The object exceeded the maximum allowed size")
}
func errInvalidKey(k string) *apierr.Error {
	return newErr(400, codeInvalidKey, codeInvalidKey, "Invalid key: "+k)
}
func errInvalidBucket() *apierr.Error {
	return newErr(400, codeInvalidBucket, "Invalid Input", "Bucket name invalid")
}
func errNoContent() *apierr.Error {
	return newErr(400, codeInvalidRequest, codeInvalidRequest, "No content provided")
}
func errBadRequest(msg string) *apierr.Error {
	return newErr(400, codeInvalidRequest, codeInvalidRequest, msg)
}
func errInternal(cause error) *apierr.Error {
	return newErr(500, codeInternal, "Internal", "Internal Server Error").WithInternal(cause)
}

// errBackend marks a failure of the object store, which db.Unreachable
// cannot tell from the database's (both fail with network errors).
var errBackend = errors.New("storage: object store")

// errStore is the 500 of an object store that failed.
func errStore(cause error) *apierr.Error { return errInternal(fmt.Errorf("%w: %w", errBackend, cause)) }

// retryAfter is the Retry-After, in seconds, of an answer given while the
// database cannot be reached.
const retryAfter = "1"

// errUnavailable is the 503 of a request the database could not serve
// because it could not be reached: a client retries after Retry-After
// instead of reading the outage as its own mistake.
func errUnavailable(cause error) *apierr.Error {
	e := newErr(503, codeDatabase, "Service Unavailable", "The database cannot be reached; try again shortly").WithInternal(cause)
	e.Headers = map[string]string{"Retry-After": retryAfter}
	return e
}

// dbError maps a PostgreSQL error from a write to the storage error a client
// expects; conflictKey is the 409 a unique violation gives.
func dbError(err error, conflict *apierr.Error) error {
	var se *apierr.Error
	if errors.As(err, &se) {
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "42501":
			return errRLS()
		case "23505":
			if conflict != nil {
				return conflict
			}
			return newErr(409, codeResourceExists, "Duplicate", "The resource already exists")
		case "23503":
			return newErr(409, codeReferenced, codeReferenced, "The resource is referenced by another resource")
		}
	}
	return err
}

// errorsMiddleware renders every error of the /storage/v1 group in storage's
// shape: storage's own errors as they are, other *apierr.Error with their
// status, anything else as a generic 500 whose cause is logged with the
// request id.
func errorsMiddleware(log *slog.Logger) fiber.Handler {
	return apierr.Surface{
		ToError:    func(_ *fiber.Ctx, err error) *apierr.Error { return toError(err) },
		Render:     render,
		LogMessage: "storage request failed",
		Level: func(e *apierr.Error) slog.Level {
			if e.Status >= 500 && e.Status != 499 {
				return slog.LevelError
			}
			return slog.LevelWarn
		},
	}.Middleware(log)
}

// toError maps any error a handler returned to a storage error, one that
// carries storage's extra. A failure caused by an unreachable database is a
// 503 with Retry-After, whatever the handler wrapped it in.
func toError(err error) *apierr.Error {
	e := storageError(err)
	if e.Status >= 500 && e.Status != 499 && db.Unreachable(err) && !errors.Is(err, errBackend) {
		return errUnavailable(err)
	}
	return e
}

func storageError(err error) *apierr.Error {
	var ae *apierr.Error
	var fe *fiber.Error
	switch {
	case errors.As(err, &ae):
		if _, ok := ae.Extra.(errExtra); ok {
			return ae
		}
		se := newErr(ae.Status, codeInvalidRequest, ae.Code, ae.Message)
		se.Internal = ae.Internal
		if ae.Status >= 500 {
			se.Code = codeInternal
		}
		return se
	case errors.As(err, &fe):
		if fe.Code == fiber.StatusNotFound {
			return newErrAsIs(404, codeInvalidRequest, "Not Found", "Route not found")
		}
		return newErr(fe.Code, codeInvalidRequest, codeInvalidRequest, fe.Message)
	case errors.Is(err, context.Canceled):
		return newErrAsIs(499, codeInvalidRequest, "Client Closed Request", "The request was cancelled").WithInternal(err)
	}
	return errInternal(err)
}

var _ apierr.Renderer = render

// render writes e in storage's shape {statusCode, code, error, message}
// after reading away what is left of the request body; HEAD answers get no
// body.
func render(c *fiber.Ctx, e *apierr.Error) error {
	x, _ := e.Extra.(errExtra)
	if x.HTTP == 0 {
		x.HTTP = 400
	}
	drainBody(c)
	c.Context().Response.ResetBody()
	c.Context().Response.Header.Del(fiber.HeaderContentDisposition)
	for k, v := range e.Headers {
		c.Set(k, v)
	}
	c.Status(x.HTTP)
	if c.Method() == fiber.MethodHead {
		return nil
	}
	if x.Gateway {
		return c.JSON(gatewayBody{Message: e.Message, Hint: e.Hint})
	}
	label := x.Label
	if label == "" {
		label = e.Code
	}
	return c.JSON(errorBody{StatusCode: strconv.Itoa(e.Status), Code: e.Code, Error: label, Message: e.Message})
}

// maxDrain is how much of an unread request body an error reply reads away
// so the connection can serve the next request (as net/http does).
const maxDrain = 256 << 10

// drainBody reads what is left of a refused request's body, up to
// maxDrain; beyond that the connection is closed after the reply, so a
// client never sends its next request into the rest of this body.
func drainBody(c *fiber.Ctx) {
	s := c.Context().RequestBodyStream()
	if s == nil {
		return
	}
	n, err := io.CopyN(io.Discard, s, maxDrain+1)
	if n > maxDrain || (err != nil && !errors.Is(err, io.EOF)) {
		c.Context().SetConnectionClose()
	}
}
