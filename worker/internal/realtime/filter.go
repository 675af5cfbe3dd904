package realtime

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// filter is one parsed postgres_changes filter: col=[not.]op.value.
type filter struct {
	column string
	op     string
	not    bool
	values []string // one value, or the list of in
}

var filterOps = map[string]bool{"eq": true, "neq": true, "lt": true, "lte": true, "gt": true, "gte": true, "in": true}

// parseFilter reads the filter string of a subscription ("" = none).
func parseFilter(s string) (*filter, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	col, rest, ok := strings.Cut(s, "=")
	if !ok || col == "" {
		return nil, fmt.Errorf("expected column=operator.value, got %q", s)
	}
	f := &filter{column: strings.TrimSpace(col)}
	if r, ok := strings.CutPrefix(rest, "not."); ok {
		f.not, rest = true, r
	}
	op, val, ok := strings.Cut(rest, ".")
	if !ok || !filterOps[op] {
		return nil, fmt.Errorf("unsupported operator in %q (supported: eq, neq, lt, lte, gt, gte, in)", s)
	}
	f.op = op
	if op == "in" {
		if !strings.HasPrefix(val, "(") || !strings.HasSuffix(val, ")") {
			return nil, fmt.Errorf("in expects a list like in.(a,b), got %q", val)
		}
		list, err := splitList(val[1 : len(val)-1])
		if err != nil {
			return nil, err
		}
		f.values = list
	} else {
		f.values = []string{unquote(val)}
	}
	return f, nil
}

// splitList splits a,b,"c,d" honouring double quotes and backslash escapes.
func splitList(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	quoted, esc, wasQuoted := false, false, false
	for _, r := range s {
		switch {
		case esc:
			cur.WriteRune(r)
			esc = false
		case r == '\\' && quoted:
			esc = true
		case r == '"':
			quoted = !quoted
			wasQuoted = true
		case r == ',' && !quoted:
			out = append(out, finish(cur.String(), wasQuoted))
			cur.Reset()
			wasQuoted = false
		default:
			cur.WriteRune(r)
		}
	}
	if quoted {
		return nil, fmt.Errorf("unterminated quote in list %q", s)
	}
	return append(out, finish(cur.String(), wasQuoted)), nil
}

func finish(s string, quoted bool) string {
	if quoted {
		return s
	}
	return strings.TrimSpace(s)
}

func unquote(v string) string {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		var b strings.Builder
		esc := false
		for _, r := range v[1 : len(v)-1] {
			if r == '\\' && !esc {
				esc = true
				continue
			}
			esc = false
			b.WriteRune(r)
		}
		return b.String()
	}
	return v
}

// valueText renders a JSON value as PostgreSQL text would show it; ok is
// false for null or absent.
func valueText(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", false
	}
	var s string
	if raw[0] == '"' && json.Unmarshal(raw, &s) == nil {
		return s, true
	}
	return string(raw), true
}

// match reports whether a row satisfies the filter.
func (f *filter) match(row map[string]json.RawMessage) bool {
	if f == nil {
		return true
	}
	v, ok := valueText(row[f.column])
	if !ok {
		return false // comparisons with null are never true
	}
	var res bool
	switch f.op {
	case "eq":
		res = compare(v, f.values[0]) == 0
	case "neq":
		res = compare(v, f.values[0]) != 0
	case "lt":
		res = compare(v, f.values[0]) < 0
	case "lte":
		res = compare(v, f.values[0]) <= 0
	case "gt":
		res = compare(v, f.values[0]) > 0
	case "gte":
		res = compare(v, f.values[0]) >= 0
	case "in":
		for _, x := range f.values {
			if compare(v, x) == 0 {
				res = true
				break
			}
		}
	}
	return res != f.not
}

// compare orders numbers numerically and everything else as text.
func compare(a, b string) int {
	fa, ea := strconv.ParseFloat(a, 64)
	fb, eb := strconv.ParseFloat(b, 64)
	if ea == nil && eb == nil {
		switch {
		case fa < fb:
			return -1
		case fa > fb:
			return 1
		}
		return 0
	}
	return strings.Compare(a, b)
}
