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
	"github.com/madbase/madbase/shared/httpserver"
)

// Error is a storage error in supabase/storage's shape. Status is the
// semantic status written as the body's statusCode; HTTP is the status line
// (upstream answers 400 for most 4xx, spec §2). Internal is logged, never sent.
type Error struct {
	Status   int
	HTTP     int
	Code     string
	Label    string
	Message  string
	Internal error
}

func (e *Error) Error() string {
	if e.Internal != nil {
		return fmt.Sprintf("%d %s: %s: %v", e.Status, e.Code, e.Message, e.Internal)
	}
	return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Internal }

// errorBody is the wire shape storage-js reads; statusCode is a string. It
// is a contract with storage-js.
type errorBody struct {
	StatusCode string `json:"statusCode"`
	Code       string `json:"code"`
	Error      string `json:"error"`
	Message    string `json:"message"`
}

// Storage error codes (spec §2).
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
)

func newErr(status int, code, label, msg string) *Error {
	httpStatus := 400
	if status >= 500 {
		httpStatus = status
	}
	return &Error{Status: status, HTTP: httpStatus, Code: code, Label: label, Message: msg}
}

func errNoSuchKey() *Error { return newErr(404, codeNoSuchKey, "not_found", "Object not found") }
func errNoSuchBucket() *Error {
	return newErr(404, codeNoSuchBucket, "Bucket not found", "Bucket not found")
}
func errRLS() *Error {
	return newErr(403, codeAccessDenied, "Unauthorized", "new row violates row-level security policy")
}
func errKeyExists() *Error {
	return newErr(409, codeKeyExists, "Duplicate", "The resource already exists")
}
func errTooLarge() *Error {
	return newErr(413, codeTooLarge, "Payload too large", "The object exceeded the maximum allowed size")
}
func errInvalidKey(k string) *Error {
	return newErr(400, codeInvalidKey, codeInvalidKey, "Invalid key: "+k)
}
func errInvalidBucket() *Error {
	return newErr(400, codeInvalidBucket, "Invalid Input", "Bucket name invalid")
}
func errNoContent() *Error {
	return newErr(400, codeInvalidRequest, codeInvalidRequest, "No content provided")
}
func errBadRequest(msg string) *Error {
	return newErr(400, codeInvalidRequest, codeInvalidRequest, msg)
}
func errInternal(cause error) *Error {
	e := newErr(500, codeInternal, "Internal", "Internal Server Error")
	e.Internal = cause
	return e
}

// dbError maps a PostgreSQL error from a write to the storage error a client
// expects; conflictKey is the 409 a unique violation gives.
func dbError(err error, conflict *Error) error {
	var se *Error
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
// shape: *Error as is, *apierr.Error with its status, anything else as a
// generic 500 whose cause is logged with the request id.
func errorsMiddleware(log *slog.Logger) fiber.Handler {
	return func(c *fiber.Ctx) error {
		err := c.Next()
		if err == nil {
			return nil
		}
		var se *Error
		var ae *apierr.Error
		var fe *fiber.Error
		switch {
		case errors.As(err, &se):
		case errors.As(err, &ae):
			se = newErr(ae.Status, codeInvalidRequest, ae.Code, ae.Message)
			se.Internal = ae.Internal
			if ae.Status >= 500 {
				se.Code = codeInternal
			}
		case errors.As(err, &fe):
			if fe.Code == fiber.StatusNotFound {
				se = newErr(404, codeInvalidRequest, "Not Found", "Route not found")
				se.HTTP = 404
			} else {
				se = newErr(fe.Code, codeInvalidRequest, codeInvalidRequest, fe.Message)
			}
		case errors.Is(err, context.Canceled):
			se = newErr(499, codeInvalidRequest, "Client Closed Request", "The request was cancelled")
			se.HTTP = 499
			se.Internal = err
		default:
			se = errInternal(err)
		}
		if se.Internal != nil || se.Status >= 500 {
			lvl := slog.LevelWarn
			if se.Status >= 500 && se.Status != 499 {
				lvl = slog.LevelError
			}
			cause := ""
			if se.Internal != nil {
				cause = se.Internal.Error()
			}
			log.Log(c.UserContext(), lvl, "storage request failed", "request_id", httpserver.RequestID(c),
				"status", se.Status, "code", se.Code, "error", cause)
		}
		if se.HTTP == 0 {
			se.HTTP = 400
		}
		drainBody(c)
		c.Context().Response.ResetBody()
		c.Context().Response.Header.Del(fiber.HeaderContentDisposition)
		c.Status(se.HTTP)
		if c.Method() == fiber.MethodHead {
			return nil
		}
		label := se.Label
		if label == "" {
			label = se.Code
		}
		return c.JSON(errorBody{StatusCode: strconv.Itoa(se.Status), Code: se.Code, Error: label, Message: se.Message})
	}
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
