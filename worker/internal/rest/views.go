package rest

import (
	"strconv"
	"strings"
)

// Views take part in embedding through the foreign keys of the tables
// their columns come from, as in PostgREST. Which view column comes from
// which table column is read from the view's rewrite rule: each top-level
// target entry of the stored query tree carries resorigtbl/resorigcol, the
// table and column a plain column reference originates from.

// viewsSQL lists the views (and materialized views) of the exposed
// schemas with their query trees.
const viewsSQL = `
select c.oid::int8, r.ev_action::text
from pg_class c join pg_namespace n on n.oid = c.relnamespace
join pg_rewrite r on r.ev_class = c.oid and r.rulename = '_RETURN'
where n.nspname = any($1) and c.relkind in ('v', 'm')`

// colSource is where a view column comes from.
type colSource struct {
	table  int64
	column int // attnum
}

// viewColumnSources parses a rule's query tree text and returns, by
// view column number, the table column each plain column comes from.
func viewColumnSources(tree string) map[int]colSource {
	out := map[int]colSource{}
	q := strings.Index(tree, "{QUERY")
	if q < 0 {
		return out
	}
	// Find ":targetList" at the top level of the first QUERY node.
	depth := 0
	tl := -1
	for i := q; i < len(tree); i++ {
		switch tree[i] {
		case '\\':
			i++
		case '{', '(':
			depth++
		case '}', ')':
			depth--
			if depth == 0 {
				i = len(tree)
			}
		case ':':
			if depth == 1 && strings.HasPrefix(tree[i:], ":targetList ") {
				tl = i + len(":targetList ")
				i = len(tree)
			}
		}
	}
	if tl < 0 || tl >= len(tree) || tree[tl] != '(' {
		return out
	}
	// Walk the list: each element is a {TARGETENTRY ...} at depth 1.
	depth = 0
	start := -1
	for i := tl; i < len(tree); i++ {
		switch tree[i] {
		case '\\':
			i++
		case '{', '(':
			depth++
			if depth == 2 && tree[i] == '{' {
				start = i
			}
		case '}', ')':
			if depth == 2 && tree[i] == '}' && start >= 0 {
				te := tree[start : i+1]
				if strings.HasPrefix(te, "{TARGETENTRY") && field(te, ":resjunk") != "true" {
					resno, _ := strconv.Atoi(field(te, ":resno"))
					tbl, _ := strconv.ParseInt(field(te, ":resorigtbl"), 10, 64)
					col, _ := strconv.Atoi(field(te, ":resorigcol"))
					if resno > 0 && tbl > 0 && col > 0 {
						out[resno] = colSource{table: tbl, column: col}
					}
				}
				start = -1
			}
			depth--
			if depth == 0 {
				return out
			}
		}
	}
	return out
}

// field reads the token after a top-level key of a node's text. Nested
// nodes come before :resno in a TARGETENTRY, so the last occurrence is the
// entry's own.
func field(node, key string) string {
	i := strings.LastIndex(node, key+" ")
	if i < 0 {
		return ""
	}
	rest := node[i+len(key)+1:]
	if j := strings.IndexAny(rest, " }"); j >= 0 {
		rest = rest[:j]
	}
	return rest
}
