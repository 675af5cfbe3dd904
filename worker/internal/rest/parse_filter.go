package rest

import (
	"fmt"
	"strings"
)

// fieldRef is a column, possibly with a JSON path, as filters and order
// terms name it.
type fieldRef struct {
	Name string
	JSON []jsonStep
}

// opExpr is "[not.]op[(modifier)].value".
type opExpr struct {
	Not    bool
	Op     string
	Quant  string // any or all, for quantified operators
	Config string // text search configuration
	Value  string
	List   []string // in.(…) elements
	// ListSet is true for in, even when the list is empty.
	ListSet bool
	// src is 1 + the index of this filter in query.filterOps, 0 inside a
	// logic tree: where a remembered plan takes its values (plancache.go).
	src int
}

// filter is one condition on a field.
type filter struct {
	Field fieldRef
	Op    opExpr
}

// logicTree is or(…)/and(…), possibly negated, of filters and subtrees.
type logicTree struct {
	Not   bool
	And   bool
	Items []logicItem
}

type logicItem struct {
	Filter *filter
	Tree   *logicTree
}

// orderTerm is one element of order=.
type orderTerm struct {
	Field fieldRef
	// Rel names a to-one embed whose column orders the rows: rel(col).
	Rel        string
	Desc       bool
	NullsFirst *bool
}

var operators = map[string]string{
	"eq": "=", "neq": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<=",
	"like": "LIKE", "ilike": "ILIKE", "match": "~", "imatch": "~*",
	"in": "", "is": "", "isdistinct": "",
	"cs": "@>", "cd": "<@", "ov": "&&",
	"sl": "<<", "sr": ">>", "nxr": "&<", "nxl": "&>", "adj": "-|-",
	"fts": "", "plfts": "", "phfts": "", "wfts": "",
}

var quantifiable = map[string]bool{"eq": true, "gt": true, "gte": true, "lt": true, "lte": true,
	"like": true, "ilike": true, "match": true, "imatch": true}

var ftsOps = map[string]bool{"fts": true, "plfts": true, "phfts": true, "wfts": true}

var isValues = map[string]string{"null": "NULL", "not_null": "NOT NULL", "true": "TRUE", "false": "FALSE", "unknown": "UNKNOWN"}

// parseOpExpr parses the value of a filter parameter. inTree says the value
// comes from a logic tree, where "quoted" values are unquoted.
func parseOpExpr(s string, inTree bool) (opExpr, error) {
	var o opExpr
	rest := s
	if strings.HasPrefix(rest, "not.") {
		o.Not = true
		rest = rest[4:]
	}
	end := strings.IndexAny(rest, ".(")
	if end < 0 {
		return o, fmt.Errorf("expecting an operator followed by \".\" and a value")
	}
	o.Op = rest[:end]
	if _, ok := operators[o.Op]; !ok {
		return o, fmt.Errorf("unknown operator %q", o.Op)
	}
	rest = rest[end:]
	if strings.HasPrefix(rest, "(") {
		close := strings.IndexByte(rest, ')')
		if close < 0 {
			return o, fmt.Errorf("missing \")\" after %q", o.Op+"(")
		}
		mod := rest[1:close]
		rest = rest[close+1:]
		switch {
		case ftsOps[o.Op]:
			if mod == "" {
				return o, fmt.Errorf("empty text search configuration")
			}
			o.Config = mod
		case quantifiable[o.Op] && (mod == "any" || mod == "all"):
			o.Quant = mod
		default:
			return o, fmt.Errorf("unexpected modifier %q for operator %q", mod, o.Op)
		}
	}
	if !strings.HasPrefix(rest, ".") {
		return o, fmt.Errorf("expecting \".\" and a value after the operator %q", o.Op)
	}
	v := rest[1:]
	if inTree {
		v = unquoteTreeValue(v)
	}
	o.Value = v
	switch {
	case o.Op == "in":
		list, err := parseList(v)
		if err != nil {
			return o, err
		}
		o.List, o.ListSet = list, true
	case o.Op == "is":
		if _, ok := isValues[strings.ToLower(v)]; !ok {
			return o, fmt.Errorf("unknown value for is: %q (expecting null, not_null, true, false or unknown)", v)
		}
		o.Value = strings.ToLower(v)
	case o.Quant != "":
		if !strings.HasPrefix(v, "{") || !strings.HasSuffix(v, "}") {
			return o, fmt.Errorf("expecting a {…} list after %s(%s)", o.Op, o.Quant)
		}
	}
	return o, nil
}

// unquoteTreeValue strips "…" around a logic-tree value, undoing \ escapes.
func unquoteTreeValue(v string) string {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		var b strings.Builder
		inner := v[1 : len(v)-1]
		for i := 0; i < len(inner); i++ {
			if inner[i] == '\\' && i+1 < len(inner) {
				i++
			}
			b.WriteByte(inner[i])
		}
		return b.String()
	}
	return v
}

// parseList reads "(a,b,"c,d")": elements split by commas, "quoted" ones
// may hold commas and parentheses, with \ escaping inside quotes.
func parseList(v string) ([]string, error) {
	if len(v) < 2 || v[0] != '(' || v[len(v)-1] != ')' {
		return nil, fmt.Errorf("expecting a (…) list, got %q", v)
	}
	inner := v[1 : len(v)-1]
	if inner == "" {
		return []string{}, nil
	}
	var out []string
	var cur strings.Builder
	quoted, wasQuoted := false, false
	for i := 0; i < len(inner); i++ {
		c := inner[i]
		switch {
		case quoted && c == '\\' && i+1 < len(inner):
			i++
			cur.WriteByte(inner[i])
		case c == '"':
			quoted = !quoted
			wasQuoted = true
		case c == ',' && !quoted:
			out = append(out, trimUnquoted(cur.String(), wasQuoted))
			cur.Reset()
			wasQuoted = false
		default:
			cur.WriteByte(c)
		}
	}
	if quoted {
		return nil, fmt.Errorf("unterminated quote in %q", v)
	}
	out = append(out, trimUnquoted(cur.String(), wasQuoted))
	return out, nil
}

func trimUnquoted(s string, quoted bool) string {
	if quoted {
		return s
	}
	return strings.TrimSpace(s)
}

// parseField parses a filter or order field: name with an optional JSON path.
func parseField(s string) (fieldRef, error) {
	p := &scanner{s: s}
	n, ok := p.name()
	if !ok {
		return fieldRef{}, fmt.Errorf("%s", p.unexpected("a field name"))
	}
	steps, err := p.jsonPath()
	if err != nil {
		return fieldRef{}, err
	}
	if !p.eof() {
		return fieldRef{}, fmt.Errorf("%s", p.unexpected("end of the field name"))
	}
	return fieldRef{Name: n, JSON: steps}, nil
}

// splitTop splits s on commas that are outside parentheses, braces and
// double quotes.
func splitTop(s string) ([]string, error) {
	var out []string
	depth, brace, quoted, start := 0, 0, false, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quoted:
			if c == '\\' {
				i++
			} else if c == '"' {
				quoted = false
			}
		case c == '"':
			quoted = true
		case c == '(':
			depth++
		case c == ')':
			depth--
			if depth < 0 {
				return nil, fmt.Errorf("unbalanced \")\" at position %d", i+1)
			}
		case c == '{':
			brace++
		case c == '}':
			if brace > 0 {
				brace--
			}
		case c == ',' && depth == 0 && brace == 0:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	if quoted {
		return nil, fmt.Errorf("unterminated quote")
	}
	if depth != 0 {
		return nil, fmt.Errorf("unbalanced \"(\"")
	}
	return append(out, s[start:]), nil
}

// parseLogic parses the value of or=/and= (v is "(…)").
func parseLogic(v string, and, not bool, depth int) (*logicTree, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("logic trees nested more than %d levels", maxDepth)
	}
	v = strings.TrimSpace(v)
	if len(v) < 2 || v[0] != '(' || v[len(v)-1] != ')' {
		return nil, fmt.Errorf("expecting \"(\" … \")\" around the conditions")
	}
	parts, err := splitTop(v[1 : len(v)-1])
	if err != nil {
		return nil, err
	}
	t := &logicTree{And: and, Not: not}
	for _, part := range parts {
		part = strings.TrimSpace(part)
		if part == "" {
			return nil, fmt.Errorf("empty condition in %q", v)
		}
		negated := false
		rest := part
		if strings.HasPrefix(rest, "not.") {
			negated, rest = true, rest[4:]
		}
		switch {
		case strings.HasPrefix(rest, "and("), strings.HasPrefix(rest, "or("):
			isAnd := strings.HasPrefix(rest, "and(")
			inner := rest[strings.IndexByte(rest, '('):]
			sub, err := parseLogic(inner, isAnd, negated, depth+1)
			if err != nil {
				return nil, err
			}
			t.Items = append(t.Items, logicItem{Tree: sub})
			continue
		}
		dot := strings.IndexByte(part, '.')
		if dot <= 0 {
			return nil, fmt.Errorf("expecting field.operator.value in %q", part)
		}
		f, err := parseField(part[:dot])
		if err != nil {
			return nil, err
		}
		op, err := parseOpExpr(part[dot+1:], true)
		if err != nil {
			return nil, err
		}
		t.Items = append(t.Items, logicItem{Filter: &filter{Field: f, Op: op}})
	}
	return t, nil
}

// parseOrder parses order=.
func parseOrder(v string) ([]orderTerm, error) {
	parts, err := splitTop(v)
	if err != nil {
		return nil, err
	}
	var out []orderTerm
	for _, part := range parts {
		part = strings.TrimSpace(part)
		if part == "" {
			return nil, fmt.Errorf("empty order term")
		}
		var t orderTerm
		fieldPart := part
		mods := ""
		if open := strings.IndexByte(part, '('); open > 0 && !strings.HasPrefix(part, "\"") {
			close := strings.IndexByte(part, ')')
			if close < open {
				return nil, fmt.Errorf("missing \")\" in %q", part)
			}
			t.Rel = part[:open]
			fieldPart = part[open+1 : close]
			mods = part[close+1:]
		} else {
			// the field ends at the first "." outside quotes
			i := 0
			if strings.HasPrefix(part, "\"") {
				if q := strings.IndexByte(part[1:], '"'); q >= 0 {
					i = q + 2
				}
			}
			if dot := strings.IndexByte(part[i:], '.'); dot >= 0 {
				fieldPart, mods = part[:i+dot], part[i+dot:]
			}
		}
		f, err := parseField(fieldPart)
		if err != nil {
			return nil, err
		}
		t.Field = f
		if mods != "" {
			if !strings.HasPrefix(mods, ".") {
				return nil, fmt.Errorf("unexpected %q in order term %q", mods, part)
			}
			seenDir, seenNulls := false, false
			for _, m := range strings.Split(mods[1:], ".") {
				switch {
				case (m == "asc" || m == "desc") && !seenDir && !seenNulls:
					t.Desc, seenDir = m == "desc", true
				case (m == "nullsfirst" || m == "nullslast") && !seenNulls:
					nf := m == "nullsfirst"
					t.NullsFirst, seenNulls = &nf, true
				default:
					return nil, fmt.Errorf("unexpected %q in order term %q (expecting asc, desc, nullsfirst or nullslast)", m, part)
				}
			}
		}
		out = append(out, t)
	}
	return out, nil
}
