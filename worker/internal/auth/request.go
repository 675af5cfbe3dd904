package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"
)

var errTooLarge = newError(http.StatusRequestEntityTooLarge, CodeRequestTooLarge, "Request body too large")

// readBody reads at most maxBodyBytes of the request body (the worker
// streams bodies, so the limit is enforced here).
func readBody(c *fiber.Ctx) ([]byte, error) {
	if n := c.Request().Header.ContentLength(); n > maxBodyBytes {
		return nil, errTooLarge
	}
	if stream := c.Context().RequestBodyStream(); stream != nil {
		b, err := io.ReadAll(io.LimitReader(stream, maxBodyBytes+1))
		if err != nil {
			return nil, badRequest(CodeBadJSON, "Could not read the request body").WithInternal(err)
		}
		if len(b) > maxBodyBytes {
			return nil, errTooLarge
		}
		return b, nil
	}
	b := c.Body()
	if len(b) > maxBodyBytes {
		return nil, errTooLarge
	}
	return b, nil
}

// readJSON decodes the JSON body into dst. An empty body is an empty object;
// malformed JSON, a wrong type or trailing data is 400 bad_json. Numbers in
// free-form objects (metadata) keep their exact text.
func readJSON(c *fiber.Ctx, dst any) error {
	b, err := readBody(c)
	if err != nil {
		return err
	}
	return decodeJSON(b, dst)
}

func decodeJSON(b []byte, dst any) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(dst); err != nil {
		return badRequest(CodeBadJSON, "Could not parse request body as JSON: %s", jsonProblem(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badRequest(CodeBadJSON, "Could not parse request body as JSON: unexpected data after the object")
	}
	return nil
}

// jsonProblem describes a decoding error without echoing the input.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field == "" {
			return "the body must be a JSON object"
		}
		return "field " + strings.ReplaceAll(field, "\"", "") + " must be " + jsonKind(te.Type.Kind().String())
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return "invalid JSON"
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end of JSON input"
	}
	return "invalid JSON"
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "map", "struct":
		return "an object"
	case "slice", "array":
		return "an array"
	case "ptr", "interface":
		return "a value of the right type"
	}
	return "a number"
}
