package rest

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/url"
	"strings"
)

// csvBody aggregates the rows of _postgrest_t into CSV, as PostgREST does:
// a header of the first row's column names (quoted when they hold a quote,
// a comma, a space or a line break), then each row's text form
// without its parentheses. A row's text form is PostgreSQL's record output,
// which writes NULL as an empty field and quotes (doubling inner quotes) a
// value that is empty or holds a space, a quote, a comma, a backslash, a
// parenthesis or a line break: arrays, JSON and tsvectors come out in their
// text forms. Lines are joined by "\n", with none after the last.
const csvBody = `array_to_string(ARRAY(SELECT CASE WHEN k ~ '[", \r\n]' THEN '"' || replace(k, '"', '""') || '"' ELSE k END ` +
	`FROM pg_catalog.json_object_keys(pg_catalog.row_to_json((pg_catalog.array_agg(_postgrest_t.*))[1])) AS k), ',') || E'\n' || ` +
	`coalesce(pg_catalog.string_agg(substring(_postgrest_t::text, 2, length(_postgrest_t::text) - 2), E'\n'), '')`

// csvScalarBody is csvBody for the values of a set-returning function of a
// scalar type, under a header naming the function.
func csvScalarBody(name string) string {
	return quoteLiteral(csvHeaderField(name)) + ` || E'\n' || coalesce(pg_catalog.string_agg(substring(ROW(_postgrest_t."pgrst_scalar")::text, 2, ` +
		`length(ROW(_postgrest_t."pgrst_scalar")::text) - 2), E'\n'), '')`
}

// csvHeaderField quotes a header name as a CSV field when it needs it.
func csvHeaderField(s string) string {
	if strings.ContainsAny(s, "\",\r\n ") {
		return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
	}
	return s
}

// quoteLiteral is s as an SQL string literal.
func quoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// mediaTypeOf is a Content-Type's media type, lower-cased, without its
// parameters.
func mediaTypeOf(contentType string) string {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt, _, _ = strings.Cut(contentType, ";")
	}
	return strings.ToLower(strings.TrimSpace(mt))
}

// bodyAsJSON turns a request body sent as text/csv or
// application/x-www-form-urlencoded into the JSON it stands for, as
// PostgREST reads them: CSV is an array of objects keyed by its header
// line, each field a string, NULL standing for null; a form is one object
// of strings (a repeated name keeps its last value). converted is false
// for any other Content-Type, whose body is left as it is.
func bodyAsJSON(contentType string, body []byte) (out []byte, converted bool, err error) {
	switch mediaTypeOf(contentType) {
	case "text/csv":
		out, err = csvToJSON(body)
		return out, true, err
	case "application/x-www-form-urlencoded":
		out, err = formToJSON(body)
		return out, true, err
	}
	return body, false, nil
}

func csvToJSON(body []byte) ([]byte, error) {
	r := csv.NewReader(bytes.NewReader(body))
	r.ReuseRecord = false
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return []byte("[]"), nil
	}
	if err != nil {
		return nil, csvErr(err)
	}
	var out bytes.Buffer
	out.WriteByte('[')
	for n := 0; ; n++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, csvErr(err)
		}
		if n > 0 {
			out.WriteByte(',')
		}
		out.WriteByte('{')
		for i, v := range rec {
			if i > 0 {
				out.WriteByte(',')
			}
			k, _ := json.Marshal(header[i])
			out.Write(k)
			out.WriteByte(':')
			if v == "NULL" {
				out.WriteString("null")
				continue
			}
			s, _ := json.Marshal(v)
			out.Write(s)
		}
		out.WriteByte('}')
	}
	out.WriteByte(']')
	return out.Bytes(), nil
}

func csvErr(err error) error {
	return bodyErr("Invalid CSV body").WithDetails(err.Error())
}

func formToJSON(body []byte) ([]byte, error) {
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, bodyErr("Invalid form body").WithDetails(err.Error())
	}
	obj := make(map[string]string, len(vals))
	for k, v := range vals {
		obj[k] = v[len(v)-1]
	}
	return json.Marshal(obj)
}

// patchBody is bodyAsJSON for a PATCH, whose CSV body must hold one row:
// that row's object.
func patchBody(contentType string, body []byte) ([]byte, error) {
	out, converted, err := bodyAsJSON(contentType, body)
	if err != nil || !converted || mediaTypeOf(contentType) != "text/csv" {
		return out, err
	}
	var rows []json.RawMessage
	if err := json.Unmarshal(out, &rows); err != nil || len(rows) != 1 {
		return nil, bodyErr("Invalid CSV body").WithDetails("A PATCH body must hold exactly one row")
	}
	return rows[0], nil
}
