package apierr

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAPIErrorJSONFormat(t *testing.T) {
	assert.Equal(t, `{"error":"x","code":400}`, string(BadRequest("x").JSON("rid")))
	assert.Equal(t, `{"error":"no such thing","code":404}`, string(NotFound("no such thing").JSON("")))
	assert.Equal(t, `{"error":"internal server error","code":500,"request_id":"rid-1"}`,
		string(Internal(errors.New("boom")).JSON("rid-1")))
}

func render(t *testing.T, handler fiber.Handler) (int, string, string) {
	t.Helper()
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	app := fiber.New(fiber.Config{ErrorHandler: FiberHandler(log, nil), DisableStartupMessage: true})
	app.Get("/x", func(c *fiber.Ctx) error {
		c.Locals(RequestIDLocal, "req-42")
		return handler(c)
	})
	resp, err := app.Test(httptest.NewRequest("GET", "/x", nil))
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	assert.Equal(t, "application/json; charset=utf-8", resp.Header.Get("Content-Type"))
	return resp.StatusCode, string(body), logs.String()
}

func TestAPIErrorHidesDBDetail(t *testing.T) {
	pgErr := &pgconn.PgError{Code: "42P01", Message: `relation "secret_table" does not exist`,
		InternalQuery: "select password from secret_table"}
	for name, h := range map[string]fiber.Handler{
		"internal":   func(*fiber.Ctx) error { return Internal(pgErr) },
		"plain":      func(*fiber.Ctx) error { return pgErr },
		"wrapped":    func(*fiber.Ctx) error { return errors.Join(errors.New("query failed"), pgErr) },
		"with cause": func(*fiber.Ctx) error { return Unavailable("try again").WithInternal(pgErr) },
	} {
		t.Run(name, func(t *testing.T) {
			status, body, logs := render(t, h)
			assert.GreaterOrEqual(t, status, 500)
			assert.NotContains(t, body, "secret_table")
			assert.NotContains(t, body, "42P01")
			assert.Contains(t, body, `"request_id":"req-42"`)
			// The cause is in the logs, with the request id, for operators.
			assert.Contains(t, logs, "secret_table")
			assert.Contains(t, logs, `"request_id":"req-42"`)
		})
	}
}

func TestFiberErrorsUseDefaultShape(t *testing.T) {
	status, body, _ := render(t, func(*fiber.Ctx) error { return fiber.ErrMethodNotAllowed })
	assert.Equal(t, 405, status)
	assert.JSONEq(t, `{"error":"Method Not Allowed","code":405}`, body)
	status, body, _ = render(t, func(*fiber.Ctx) error { return Conflict("taken") })
	assert.Equal(t, 409, status)
	assert.JSONEq(t, `{"error":"taken","code":409}`, body)
}

func TestSurfaceFields(t *testing.T) {
	base := New(400, "PGRST100", "bad")
	e := base.WithDetails([]string{"a", "b"}).WithHint("try c")
	assert.Nil(t, base.Details, "With* copy")
	assert.Equal(t, []string{"a", "b"}, e.Details)
	assert.Equal(t, "try c", e.Hint)
	assert.False(t, e.Shared(), "a surface's own code")
	assert.True(t, NotFound("x").Shared())
	assert.Equal(t, "", e.Cause())
	assert.Equal(t, "boom", Internal(errors.New("boom")).Cause())
}

func TestDefaultShapeSendsHeadersNotSurfaceFields(t *testing.T) {
	app := fiber.New(fiber.Config{ErrorHandler: FiberHandler(slog.New(slog.DiscardHandler), nil), DisableStartupMessage: true})
	app.Get("/x", func(c *fiber.Ctx) error {
		e := Unavailable("busy").WithDetails("d").WithHint("h")
		e.Headers = map[string]string{"Retry-After": "1"}
		e.Extra = struct{ X int }{1}
		return e
	})
	resp, err := app.Test(httptest.NewRequest("GET", "/x", nil))
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	assert.Equal(t, 503, resp.StatusCode)
	assert.Equal(t, "1", resp.Header.Get("Retry-After"))
	assert.JSONEq(t, `{"error":"busy","code":503}`, string(body))
}

func TestSurfaceMiddlewareRendersAndLogs(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	s := Surface{
		ToError: func(c *fiber.Ctx, err error) *Error {
			e := From(err)
			e.Code = "S-" + c.Get("X-Flavour") + "-" + e.Code
			return e
		},
		Render: func(c *fiber.Ctx, e *Error) error {
			return c.Status(e.Status).JSON(fiber.Map{"surface": e.Code})
		},
		LogMessage: "surface request failed",
		Level: func(e *Error) slog.Level {
			if e.Status == 503 {
				return slog.LevelWarn
			}
			return slog.LevelError
		},
	}
	// The app-level handler would answer 418: it must never be reached.
	app := fiber.New(fiber.Config{DisableStartupMessage: true,
		ErrorHandler: func(c *fiber.Ctx, err error) error { return c.SendStatus(418) }})
	g := app.Group("/s", func(c *fiber.Ctx) error {
		c.Locals(RequestIDLocal, "req-7")
		return c.Next()
	}, s.Middleware(log))
	g.Get("/ok", func(c *fiber.Ctx) error { return c.SendString("fine") })
	g.Get("/conflict", func(*fiber.Ctx) error { return Conflict("taken") })
	g.Get("/boom", func(*fiber.Ctx) error { return errors.New("disk on fire") })
	g.Get("/busy", func(*fiber.Ctx) error { return Unavailable("busy") })

	get := func(path string) (int, string) {
		t.Helper()
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("X-Flavour", "mint")
		resp, err := app.Test(req)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}

	status, body := get("/s/ok")
	assert.Equal(t, 200, status)
	assert.Equal(t, "fine", body)
	assert.Empty(t, logs.String())

	status, body = get("/s/conflict")
	assert.Equal(t, 409, status)
	assert.JSONEq(t, `{"surface":"S-mint-conflict"}`, body)
	assert.Empty(t, logs.String(), "a 4xx without a cause is not logged")

	status, body = get("/s/boom")
	assert.Equal(t, 500, status)
	assert.JSONEq(t, `{"surface":"S-mint-internal_error"}`, body)
	assert.Contains(t, logs.String(), `"level":"ERROR","msg":"surface request failed","request_id":"req-7"`)
	assert.Contains(t, logs.String(), `"cause":"disk on fire"`)
	assert.Contains(t, logs.String(), `"path":"/s/boom"`)

	logs.Reset()
	status, _ = get("/s/busy")
	assert.Equal(t, 503, status)
	assert.Contains(t, logs.String(), `"level":"WARN","msg":"surface request failed"`)
}
