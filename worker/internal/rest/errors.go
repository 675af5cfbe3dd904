package rest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/madbase/madbase/shared/apierr"
	"github.com/madbase/madbase/shared/db"
	"github.com/madbase/madbase/shared/httpserver"
)

// errorBody is the wire shape supabase-js reads: all four keys, nulls
// allowed. It is a contract with postgrest-js.
type errorBody struct {
	Code    string `json:"code"`
	Details any    `json:"details"`
	Hint    any    `json:"hint"`
	Message string `json:"message"`
}

// PostgREST error codes (see docs/api/rest.md §11).
const (
	codeConnection      = "PGRST000"
	codeInternal        = "PGRST001"
	codeSchemaNotLoaded = "PGRST002"
	codePoolTimeout     = "PGRST003"
	codeParse           = "PGRST100"
	codeRPCMethod       = "PGRST101"
	codeBody            = "PGRST102"
	codeRange           = "PGRST103"
	codePutFilters      = "PGRST105"
	codeSchema          = "PGRST106"
	codeMediaType       = "PGRST107"
	codeNotEmbedded     = "PGRST108"
	codeResponseHeaders = "PGRST111"
	codeResponseStatus  = "PGRST112"
	codePutPayload      = "PGRST115"
	codeSingular        = "PGRST116"
	codeMethod          = "PGRST117"
	codeRelatedOrder    = "PGRST118"
	codeEmbedOperator   = "PGRST120"
	codeRaise           = "PGRST121"
	codePrefs           = "PGRST122"
	codeAggregates      = "PGRST123"
	codeMaxAffected     = "PGRST124"
	codeInvalidPath     = "PGRST125"
	codeOpenAPIOff      = "PGRST126"
	codeNotImplemented  = "PGRST127"
	codeMaxAffectedRPC  = "PGRST128"
	codeNoRelationship  = "PGRST200"
	codeAmbiguousRel    = "PGRST201"
	codeNoFunction      = "PGRST202"
	codeAmbiguousFunc   = "PGRST203"
	codeNoColumn        = "PGRST204"
	codeNoTable         = "PGRST205"
	codeJWT             = "PGRST301"
	codeNoAnon          = "PGRST302"
	codeJWTClaims       = "PGRST303"
	// codeRaised is the SQLSTATE of `RAISE SQLSTATE 'PGRST'`, whose JSON
	// message and detail give the whole error.
	codeRaised = "PGRST"
)

// SQLSTATEs MadBase answers with itself, where PostgreSQL would have
// (PostgREST checks these before sending the statement, too).
const (
	sqlstateUndefinedColumn = "42703"
	sqlstateNoConflictIndex = "42P10"
	sqlstateNoWhere         = "21000"
)

// newErr makes a REST error. Details and Hint (WithDetails, WithHint) are
// strings, nil, or (PGRST201) a list of candidates; Headers are sent as they
// are; Internal is logged, never sent.
func newErr(status int, code, msg string) *apierr.Error {
	return apierr.New(status, code, msg)
}

// parseErr is a 400 PGRST100 for a query string the grammar rejects.
func parseErr(msg, details string) *apierr.Error {
	e := newErr(400, codeParse, msg)
	if details != "" {
		e.Details = details
	}
	return e
}

func bodyErr(msg string) *apierr.Error { return newErr(400, codeBody, msg) }

func undefinedColumn(table, col string) *apierr.Error {
	return newErr(400, sqlstateUndefinedColumn, fmt.Sprintf("column %s.%s does not exist", table, col))
}

func unknownPayloadColumn(table, col string) *apierr.Error {
	return newErr(400, codeNoColumn, fmt.Sprintf("Could not find the '%s' column of '%s' in the schema cache", col, table))
}

func unknownTable(schema, name string) *apierr.Error {
	return newErr(404, codeNoTable, fmt.Sprintf("Could not find the table '%s.%s' in the schema cache", schema, name))
}

func singularErr(n int64) *apierr.Error {
	return newErr(406, codeSingular, "Cannot coerce the result to a single JSON object").
		WithDetails(fmt.Sprintf("The result contains %d rows", n))
}

// pgStatus maps a SQLSTATE to the HTTP status PostgREST answers with
// (docs/api/rest.md §11); anon is whether the request ran as the anon role.
func pgStatus(code string, anon bool, msg string) int {
	switch code {
	case "42501":
		if anon {
			return 401
		}
		return 403
	case "23503", "23505":
		return 409
	case "25006":
		return 405
	case "21000":
		if strings.Contains(msg, "more than one row") {
			return 500
		}
		return 400
	case "22023":
		if strings.HasPrefix(msg, "role") && strings.HasSuffix(msg, "does not exist") {
			return 401
		}
		return 400
	case "42883", "42P01":
		return 404
	case "42P17":
		return 500
	case "53400":
		return 500
	case "57P01":
		return 503
	case "P0001":
		return 400
	}
	if len(code) == 5 && strings.HasPrefix(code, "PT") {
		if n, err := strconv.Atoi(code[2:]); err == nil && n >= 100 && n <= 599 {
			return n
		}
	}
	switch {
	case strings.HasPrefix(code, "08"), strings.HasPrefix(code, "53"):
		return 503
	case strings.HasPrefix(code, "09"):
		return 500
	case strings.HasPrefix(code, "0L"), strings.HasPrefix(code, "0P"), strings.HasPrefix(code, "28"):
		return 403
	}
	for _, p := range []string{"25", "2D", "38", "39", "3B", "40", "54", "55", "57", "58", "F0", "HV", "P0", "XX"} {
		if strings.HasPrefix(code, p) {
			return 500
		}
	}
	return 400
}

// hiddenClass reports SQLSTATEs whose message is about the server rather
// than the request: their text is logged, and the client gets a generic one.
func hiddenClass(code string) bool {
	switch code {
	case "42P08", "42P18":
		return true // parameter typing: would be our SQL's fault
	case "57014":
		return false // statement timeout or cancel: the client should know
	}
	for _, p := range []string{"08", "53", "54", "57", "58", "F0", "HV", "XX"} {
		if strings.HasPrefix(code, p) {
			return true
		}
	}
	return false
}

// fromPg converts a PostgreSQL error into the REST shape.
func fromPg(pe *pgconn.PgError, anon bool) *apierr.Error {
	if pe.Code == codeRaised {
		return fromRaise(pe)
	}
	status := pgStatus(pe.Code, anon, pe.Message)
	e := &apierr.Error{Status: status, Code: pe.Code, Message: pe.Message}
	if pe.Detail != "" {
		e.Details = pe.Detail
	}
	if pe.Hint != "" {
		e.Hint = pe.Hint
	}
	if hiddenClass(pe.Code) || pe.Code == "42601" && strings.HasPrefix(pe.Message, "syntax error at ") {
		// a syntax error of the statement itself would quote our SQL
		e.Message, e.Details, e.Hint = "internal server error", nil, nil
		if status < 500 {
			e.Status = 500
		}
		e.Internal = pe
	}
	if status == 401 {
		e.Headers = map[string]string{"WWW-Authenticate": "Bearer"}
	}
	return e
}

// fromRaise reads `RAISE SQLSTATE 'PGRST' USING message = '{json}', detail =
// '{json}'`: the message is the error body, the detail its status and headers.
func fromRaise(pe *pgconn.PgError) *apierr.Error {
	var body struct {
		Code    *string `json:"code"`
		Message *string `json:"message"`
		Details any     `json:"details"`
		Hint    any     `json:"hint"`
	}
	var meta struct {
		Status     *int              `json:"status"`
		StatusText string            `json:"status_text"`
		Headers    map[string]string `json:"headers"`
	}
	if json.Unmarshal([]byte(pe.Message), &body) != nil || json.Unmarshal([]byte(pe.Detail), &meta) != nil ||
		body.Code == nil || body.Message == nil || meta.Status == nil || *meta.Status < 100 || *meta.Status > 599 {
		return newErr(500, codeRaise, "Invalid custom error raised with SQLSTATE 'PGRST'").
			WithHint("The message and detail of the exception must be JSON objects (code and message, and status) as documented")
	}
	e := &apierr.Error{Status: *meta.Status, Code: *body.Code, Message: *body.Message, Details: body.Details, Hint: body.Hint}
	if len(meta.Headers) > 0 {
		e.Headers = map[string]string{}
		for k, v := range meta.Headers {
			if validHeader(k, v) {
				e.Headers[k] = v
			}
		}
	}
	return e
}

func validHeader(k, v string) bool {
	if k == "" || strings.ContainsAny(k, " \r\n:\x00") || strings.ContainsAny(v, "\r\n\x00") {
		return false
	}
	return true
}

// statusClientClosed is what a request whose context ended before the
// database answered is counted as (nginx's 499): nobody reads the body.
const statusClientClosed = 499

// toError converts anything a handler returned into a REST error.
func toError(err error, anon bool) *apierr.Error {
	var ae *apierr.Error
	var pe *pgconn.PgError
	var fe *fiber.Error
	switch {
	case errors.As(err, &ae):
		if ae.Shared() {
			// made by shared code: said in PostgREST's vocabulary
			return &apierr.Error{Status: ae.Status, Code: codeForStatus(ae.Status), Message: ae.Message,
				Details: ae.Details, Hint: ae.Hint, Headers: ae.Headers, Internal: ae.Internal}
		}
		return ae
	case errors.Is(err, context.Canceled):
		return newErr(statusClientClosed, codeInternal, "The request ended before the database answered")
	case errors.Is(err, context.DeadlineExceeded):
		// checked before db.Unreachable, to which a deadline is a net.Error
		return &apierr.Error{Status: 504, Code: codePoolTimeout, Message: "Timed out acquiring connection from connection pool.", Internal: err,
			Headers: map[string]string{"Retry-After": "0"}}
	case db.Unreachable(err):
		return &apierr.Error{Status: 503, Code: codeConnection, Message: "Database connection error. Retrying the connection.", Internal: err,
			Headers: map[string]string{"Retry-After": "1"}}
	case errors.As(err, &pe):
		return fromPg(pe, anon)
	case errors.As(err, &fe):
		return newErr(fe.Code, codeForStatus(fe.Code), fe.Message)
	}
	return &apierr.Error{Status: 500, Code: codeInternal, Message: "internal server error", Internal: err}
}

// codeForStatus is the PostgREST code of an error that came with a status
// only (fiber's own, shared code's).
func codeForStatus(status int) string {
	switch status {
	case 404:
		return codeInvalidPath
	case 405:
		return codeMethod
	case 413:
		return codeBody
	case 503:
		return codeConnection
	case 504:
		return codePoolTimeout
	}
	return codeInternal
}

// errorsMiddleware renders every error of the /rest/v1 group in PostgREST's
// shape; fiber's app-level handler never sees them.
func errorsMiddleware(log *slog.Logger) fiber.Handler {
	return apierr.Surface{
		ToError: func(c *fiber.Ctx, err error) *apierr.Error {
			anon, _ := c.Locals(localAnon).(bool)
			return toError(err, anon)
		},
		Render: renderError,
	}.Middleware(log)
}

var _ apierr.Renderer = renderError

// renderError writes e in PostgREST's shape {code, details, hint, message}
// with a Proxy-Status header naming the code; HEAD answers get no body.
func renderError(c *fiber.Ctx, e *apierr.Error) error {
	c.Response().ResetBody()
	for k, v := range e.Headers {
		c.Set(k, v)
	}
	c.Set("Proxy-Status", "PostgREST; error="+e.Code)
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	msg := e.Message
	if e.Status >= 500 && e.Code == codeInternal {
		msg = "internal server error (request id " + httpserver.RequestID(c) + ")"
	}
	b, err := json.Marshal(errorBody{Code: e.Code, Message: msg, Details: e.Details, Hint: e.Hint})
	if err != nil {
		b = []byte(`{"code":"PGRST001","details":null,"hint":null,"message":"internal server error"}`)
	}
	c.Status(e.Status)
	if c.Method() == fiber.MethodHead {
		return nil
	}
	return c.Send(b)
}
