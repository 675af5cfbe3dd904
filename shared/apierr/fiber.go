package apierr

import (
	"errors"
	"log/slog"

	"github.com/gofiber/fiber/v2"
)

// RequestIDLocal is the fiber Locals key holding the request id.
const RequestIDLocal = "request_id"

// Renderer writes an *Error in the shape of one API surface.
type Renderer func(c *fiber.Ctx, e *Error) error

// RenderDefault writes the default {"error","code"} shape, with e's headers.
func RenderDefault(c *fiber.Ctx, e *Error) error {
	rid, _ := c.Locals(RequestIDLocal).(string)
	for k, v := range e.Headers {
		c.Set(k, v)
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	return c.Status(e.Status).Send(e.JSON(rid))
}

// FiberHandler is a fiber ErrorHandler: it maps fiber's own errors (404 for
// an unknown route, 405, 413 ...) and *Error, logs internal causes with the
// request id, and renders with render (RenderDefault when nil).
func FiberHandler(log *slog.Logger, render Renderer) fiber.ErrorHandler {
	if render == nil {
		render = RenderDefault
	}
	return func(c *fiber.Ctx, err error) error {
		var fe *fiber.Error
		var e *Error
		switch {
		case errors.As(err, &e):
		case errors.As(err, &fe):
			e = New(fe.Code, codeForStatus(fe.Code), fe.Message)
		default:
			e = Internal(err)
		}
		logFailure(c, log, slog.LevelError, "request failed", e)
		return render(c, e)
	}
}

// Surface is how one API surface answers with errors: ToError maps whatever
// a handler returned to the surface's *Error, Render writes it in the shape
// the surface's client reads.
type Surface struct {
	ToError func(c *fiber.Ctx, err error) *Error
	Render  Renderer
	// LogMessage is the log line of a failed request; "request failed" when
	// empty.
	LogMessage string
	// Level is the level a logged error is logged at; slog.LevelError when
	// nil.
	Level func(e *Error) slog.Level
}

// Middleware returns a handler for the surface's route group: it runs the
// rest of the chain and renders any error it returns, so fiber's app-level
// handler never sees it. Errors with an internal cause or a 5xx status are
// logged with the request id.
func (s Surface) Middleware(log *slog.Logger) fiber.Handler {
	msg := s.LogMessage
	if msg == "" {
		msg = "request failed"
	}
	return func(c *fiber.Ctx) error {
		err := c.Next()
		if err == nil {
			return nil
		}
		e := s.ToError(c, err)
		lvl := slog.LevelError
		if s.Level != nil {
			lvl = s.Level(e)
		}
		logFailure(c, log, lvl, msg, e)
		return s.Render(c, e)
	}
}

// logFailure logs e when it has an internal cause or a 5xx status, with the
// request id, and says nothing otherwise: a 4xx is the client's business.
func logFailure(c *fiber.Ctx, log *slog.Logger, lvl slog.Level, msg string, e *Error) {
	if e.Internal == nil && e.Status < 500 {
		return
	}
	rid, _ := c.Locals(RequestIDLocal).(string)
	log.Log(c.UserContext(), lvl, msg, "request_id", rid, "status", e.Status, "code", e.Code,
		"method", c.Method(), "path", c.Path(), "cause", e.Cause())
}

func codeForStatus(status int) string {
	switch status {
	case 400:
		return CodeBadRequest
	case 401:
		return CodeUnauthorized
	case 403:
		return CodeForbidden
	case 404:
		return CodeNotFound
	case 409:
		return CodeConflict
	case 413:
		return CodeTooLarge
	case 429:
		return CodeTooManyRequests
	case 502:
		return CodeBadGateway
	case 503:
		return CodeUnavailable
	case 504:
		return CodeGatewayTimeout
	}
	if status >= 500 {
		return CodeInternal
	}
	return CodeBadRequest
}
