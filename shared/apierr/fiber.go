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
		if e.Internal != nil || e.Status >= 500 {
			rid, _ := c.Locals(RequestIDLocal).(string)
			log.Error("request failed", "request_id", rid, "status", e.Status, "code", e.Code,
				"method", c.Method(), "path", c.Path(), "cause", e.Cause())
		}
		return render(c, e)
	}
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
