package rest

import (
	"fmt"
	"strconv"
	"strings"
)

// sqlb accumulates bind parameters and hands out aliases while a request
// is translated. Every value from the request becomes a parameter; every
// identifier comes from the schema cache and is quoted.
type sqlb struct {
	args []any
	// srcs says, for each argument, which filter's value it is (see
	// argSrc), so that a remembered plan can take another request's.
	srcs []argSrc
	seq  int
}

// param adds a value the request's shape fixes (a JSON key, a text search
// configuration) and returns its placeholder cast to typ, a type name from
// the catalog (or a fixed one of ours).
func (b *sqlb) param(v any, typ string) string {
	return b.paramOf(v, typ, argSrc{})
}

// paramOf is param for a value that comes from src.
func (b *sqlb) paramOf(v any, typ string, src argSrc) string {
	b.args = append(b.args, v)
	b.srcs = append(b.srcs, src)
	return "$" + strconv.Itoa(len(b.args)) + "::" + typ
}

// alias returns a fresh relation alias.
func (b *sqlb) alias(prefix string) string {
	b.seq++
	return prefix + strconv.Itoa(b.seq)
}

// col renders alias.column.
func col(alias, name string) string { return qualifiedName(alias, name) }

// jsonExpr applies a JSON path to expr.
func (b *sqlb) jsonExpr(expr string, steps []jsonStep) string {
	if len(steps) == 0 {
		return expr
	}
	var sb strings.Builder
	sb.WriteString("(")
	sb.WriteString(expr)
	for _, st := range steps {
		if st.Text {
			sb.WriteString("->>")
		} else {
			sb.WriteString("->")
		}
		if isIndex(st.Key) {
			n, _ := strconv.Atoi(st.Key)
			sb.WriteString(b.param(int32(n), "int4"))
		} else {
			sb.WriteString(b.param(st.Key, "text"))
		}
	}
	sb.WriteString(")")
	return sb.String()
}

func isIndex(k string) bool {
	d := strings.TrimPrefix(k, "-")
	if d == "" || len(d) > 9 {
		return false
	}
	for _, c := range d {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// pgArrayLiteral renders a list as a PostgreSQL array literal with every
// element quoted, so that commas, braces and quotes in values stay values.
func pgArrayLiteral(items []string) string {
	var sb strings.Builder
	sb.WriteByte('{')
	for i, it := range items {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteByte('"')
		for _, c := range []byte(it) {
			if c == '"' || c == '\\' {
				sb.WriteByte('\\')
			}
			sb.WriteByte(c)
		}
		sb.WriteByte('"')
	}
	sb.WriteByte('}')
	return sb.String()
}

// exprType is the SQL type of a field expression: text after ->>, the
// column's JSON type after ->, the column's type otherwise.
func exprType(c *Column, steps []jsonStep) string {
	if len(steps) == 0 {
		return c.Type
	}
	if steps[len(steps)-1].Text {
		return "text"
	}
	if c.BaseType == "json" {
		return "json"
	}
	return "jsonb"
}

// condition renders one filter on expr (a column expression of type typ,
// the column c with JSON path steps).
func (b *sqlb) condition(expr string, c *Column, steps []jsonStep, o opExpr) (string, error) {
	typ := exprType(c, steps)
	var cond string
	value, like, list := argSrc{o.src, argValue}, argSrc{o.src, argLike}, argSrc{o.src, argList}
	switch o.Op {
	case "eq", "neq", "gt", "gte", "lt", "lte":
		if o.Quant != "" {
			cond = fmt.Sprintf("%s %s %s(%s)", expr, operators[o.Op], strings.ToUpper(o.Quant), b.paramOf(o.Value, arrayOf(typ), value))
		} else {
			cond = fmt.Sprintf("%s %s %s", expr, operators[o.Op], b.paramOf(o.Value, typ, value))
		}
	case "like", "ilike":
		v := like.kind.of(o)
		if o.Quant != "" {
			cond = fmt.Sprintf("%s::text %s %s(%s)", expr, operators[o.Op], strings.ToUpper(o.Quant), b.paramOf(v, "text[]", like))
		} else {
			cond = fmt.Sprintf("%s::text %s %s", expr, operators[o.Op], b.paramOf(v, "text", like))
		}
	case "match", "imatch":
		if o.Quant != "" {
			cond = fmt.Sprintf("%s::text %s %s(%s)", expr, operators[o.Op], strings.ToUpper(o.Quant), b.paramOf(o.Value, "text[]", value))
		} else {
			cond = fmt.Sprintf("%s::text %s %s", expr, operators[o.Op], b.paramOf(o.Value, "text", value))
		}
	case "in":
		if len(o.List) == 0 {
			cond = "false"
		} else {
			cond = fmt.Sprintf("%s = ANY(%s)", expr, b.paramOf(list.kind.of(o), arrayOf(typ), list))
		}
	case "is":
		cond = expr + " IS " + isValues[o.Value]
	case "isdistinct":
		cond = fmt.Sprintf("%s IS DISTINCT FROM %s", expr, b.paramOf(o.Value, typ, value))
	case "cs", "cd", "ov", "sl", "sr", "nxr", "nxl", "adj":
		cond = fmt.Sprintf("%s %s %s", expr, operators[o.Op], b.paramOf(o.Value, typ, value))
	case "fts", "plfts", "phfts", "wfts":
		fn := map[string]string{"fts": "to_tsquery", "plfts": "plainto_tsquery", "phfts": "phraseto_tsquery", "wfts": "websearch_to_tsquery"}[o.Op]
		cfg := ""
		if o.Config != "" {
			cfg = b.param(o.Config, "regconfig") + ", "
		}
		vec := expr
		if len(steps) > 0 || c.BaseType != "tsvector" {
			vec = fmt.Sprintf("pg_catalog.to_tsvector(%s%s::text)", cfg, expr)
		}
		cond = fmt.Sprintf("%s @@ pg_catalog.%s(%s%s)", vec, fn, cfg, b.paramOf(o.Value, "text", value))
	default:
		return "", parseErr("failed to parse filter ("+o.Op+")", "unknown operator")
	}
	if o.Not {
		cond = "NOT (" + cond + ")"
	}
	return cond, nil
}

func arrayOf(typ string) string {
	if strings.HasSuffix(typ, "[]") {
		return typ
	}
	return typ + "[]"
}

func dedupe(items []string) []string {
	seen := make(map[string]bool, len(items))
	out := items[:0:0]
	for _, it := range items {
		if !seen[it] {
			seen[it] = true
			out = append(out, it)
		}
	}
	return out
}

// compactParams renumbers the $n placeholders of sql (outside quoted
// identifiers and literals) in order of first use and returns only the
// arguments it uses: a statement cut out of a larger one (the count of a
// read) must not carry parameters it does not reference.
func compactParams(sql string, args []any) (string, []any) {
	var sb strings.Builder
	var out []any
	renum := map[int]int{}
	for i := 0; i < len(sql); i++ {
		c := sql[i]
		switch {
		case c == '"' || c == '\'':
			j := i + 1
			for j < len(sql) {
				if sql[j] == c {
					if j+1 < len(sql) && sql[j+1] == c {
						j += 2
						continue
					}
					break
				}
				j++
			}
			if j >= len(sql) {
				j = len(sql) - 1
			}
			sb.WriteString(sql[i : j+1])
			i = j
		case c == '$' && i+1 < len(sql) && sql[i+1] >= '0' && sql[i+1] <= '9':
			j := i + 1
			for j < len(sql) && sql[j] >= '0' && sql[j] <= '9' {
				j++
			}
			n, _ := strconv.Atoi(sql[i+1 : j])
			m, ok := renum[n]
			if !ok && n >= 1 && n <= len(args) {
				out = append(out, args[n-1])
				m = len(out)
				renum[n] = m
			}
			sb.WriteString("$" + strconv.Itoa(m))
			i = j - 1
		default:
			sb.WriteByte(c)
		}
	}
	return sb.String(), out
}
