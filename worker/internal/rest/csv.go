package rest

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
)

// jsonToCSV turns the JSON array PostgreSQL built into CSV: a header line
// with the first row's keys (in column order), then one line per row.
// Strings are written as they are, null as an empty field, anything else
// as its JSON text.
func jsonToCSV(body []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	w := csv.NewWriter(&out)
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		// a single object (object Accept never reaches here) or a scalar
		return body, nil
	}
	first := true
	for dec.More() {
		var keys []string
		var vals []string
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		if d, ok := t.(json.Delim); !ok || d != '{' {
			return nil, fmt.Errorf("rest csv: expected an object")
		}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, err
			}
			k, _ := kt.(string)
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return nil, err
			}
			keys = append(keys, k)
			vals = append(vals, csvValue(raw))
		}
		if _, err := dec.Token(); err != nil { // '}'
			return nil, err
		}
		if first {
			if err := w.Write(keys); err != nil {
				return nil, err
			}
			first = false
		}
		if err := w.Write(vals); err != nil {
			return nil, err
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return nil, err
	}
	b := out.Bytes()
	// PostgREST ends the last line without a newline.
	return bytes.TrimSuffix(b, []byte("\n")), nil
}

func csvValue(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return ""
	case raw[0] == '"':
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	}
	return string(raw)
}
