package realtime

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/madbase/madbase/shared/apierr"
	"github.com/madbase/madbase/shared/db"
)

// Realtime's HTTP error codes. They name the case in the logs; the wire
// carries only the message (see errorBody).
const (
	codeUpgradeRequired = "UpgradeRequired"
	codeInvalidJWT      = "InvalidJWTToken"
	codeUnauthorized    = "Unauthorized"
	codeInvalidBody     = "UnprocessableEntity"
	codeTooLarge        = "PayloadTooLarge"
	codeMediaType       = "UnsupportedMediaType"
	codeBroadcast       = "UnableToBroadcast"
	codeDatabase        = "DatabaseUnavailable"
	codeNotFound        = "NotFound"
	codeInternal        = "InternalError"
)

// websocketPath is the socket's route, whose refusals use the handshake's
// shape.
const websocketPath = "/realtime/v1/websocket"

// retryAfter is the Retry-After, in seconds, of an answer given while the
// database cannot be reached.
const retryAfter = "1"

// errorBody is realtime's HTTP error shape, a contract with realtime-js
// (docs/api/realtime.md §1, §5): the socket handshake's errors are read from "error", the
// broadcast API's from "message"; its validation errors (422) fill both, as
// the client reads either.
type errorBody struct {
	Error   string `json:"error,omitempty"`
	Message string `json:"message,omitempty"`
}

func errUpgradeRequired() *apierr.Error {
	return apierr.New(http.StatusUpgradeRequired, codeUpgradeRequired, "WebSocket upgrade required")
}

// errHandshake refuses a socket whose key does not resolve (docs/api/realtime.md §1).
func errHandshake(cause error) *apierr.Error {
	return apierr.New(http.StatusUnauthorized, codeInvalidJWT, tokenError(cause))
}

func errUnauthorized() *apierr.Error {
	return apierr.New(http.StatusUnauthorized, codeUnauthorized, "Unauthorized")
}

func errInvalidBody(msg string) *apierr.Error {
	return apierr.New(http.StatusUnprocessableEntity, codeInvalidBody, msg)
}

func errTooLarge() *apierr.Error {
	return apierr.New(http.StatusRequestEntityTooLarge, codeTooLarge, "Payload too large")
}

func errMediaType() *apierr.Error {
	return apierr.New(http.StatusUnsupportedMediaType, codeMediaType, "Content-Type must be application/json or application/octet-stream")
}

func errBroadcast(cause error) *apierr.Error {
	return apierr.New(http.StatusInternalServerError, codeBroadcast, "Unable to broadcast").WithInternal(cause)
}

// errUnavailable is the 503 of a request the database could not serve
// because it could not be reached; the client retries after Retry-After.
func errUnavailable(cause error) *apierr.Error {
	e := apierr.New(http.StatusServiceUnavailable, codeDatabase, "Database unavailable, try again shortly").WithInternal(cause)
	e.Headers = map[string]string{"Retry-After": retryAfter}
	return e
}

// errorsMiddleware renders every error of the /realtime/v1 group in
// realtime's shape; fiber's app-level handler never sees them.
func errorsMiddleware(log *slog.Logger) fiber.Handler {
	return apierr.Surface{
		ToError:    func(_ *fiber.Ctx, err error) *apierr.Error { return toError(err) },
		Render:     render,
		LogMessage: "realtime request failed",
	}.Middleware(log)
}

// toError maps any error a handler returned to realtime's: an unreachable
// database is a 503 whatever wrapped it, fiber's errors keep their status,
// anything else is a generic 500.
func toError(err error) *apierr.Error {
	var ae *apierr.Error
	var fe *fiber.Error
	isAPI := errors.As(err, &ae)
	switch {
	case isAPI && ae.Status < 500:
		return ae
	case db.Unreachable(err) && !errors.Is(err, context.Canceled):
		return errUnavailable(err)
	case isAPI:
		return ae
	case errors.As(err, &fe):
		code := codeInvalidBody
		if fe.Code == fiber.StatusNotFound {
			code = codeNotFound
		}
		return apierr.New(fe.Code, code, fe.Message)
	}
	return apierr.New(http.StatusInternalServerError, codeInternal, "Internal Server Error").WithInternal(err)
}

var _ apierr.Renderer = render

// render writes e as errorBody: "error" on the socket handshake, "message"
// on the broadcast API (and "error" too on a 422), with e's headers.
func render(c *fiber.Ctx, e *apierr.Error) error {
	for k, v := range e.Headers {
		c.Set(k, v)
	}
	var b errorBody
	switch {
	case strings.HasSuffix(c.Path(), websocketPath):
		b.Error = e.Message
	case e.Status == http.StatusUnprocessableEntity:
		b.Error, b.Message = e.Message, e.Message
	default:
		b.Message = e.Message
	}
	return c.Status(e.Status).JSON(b)
}
