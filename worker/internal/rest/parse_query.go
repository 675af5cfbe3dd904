package rest

import (
	"fmt"
	"strconv"
	"strings"
)

// kv is one query-string parameter, in request order.
type kv struct{ Key, Value string }

// nodeParams are the parameters aimed at one level of the request: the
// top-level relation (path "") or an embed ("rel", "rel.sub", …).
type nodeParams struct {
	Filters []filter
	Trees   []*logicTree
	Order   []orderTerm
	Limit   *int64
	Offset  *int64
}

// query is a parsed query string.
type query struct {
	Select     []*selectItem
	HasSelect  bool
	Columns    []string
	HasColumns bool
	OnConflict []string
	// Nodes maps an embed path (aliases or names joined by ".") to its
	// parameters; "" is the top level.
	Nodes map[string]*nodeParams
	// paths keeps the order in which embed paths appeared, for stable SQL.
	paths []string
	// filterOps are the operators of the filters given as parameters of
	// their own (not inside or/and), in the query string's order, and shape
	// is the query string with their values left out: a plan made for one
	// query string serves another of the same shape with its values
	// (plancache.go).
	filterOps []opExpr
	shape     []byte
}

func (q *query) node(path string) *nodeParams {
	n := q.Nodes[path]
	if n == nil {
		n = &nodeParams{}
		q.Nodes[path] = n
		q.paths = append(q.paths, path)
	}
	return n
}

// ignoredParams are never filters: the apikey a client may put in the URL.
var ignoredParams = map[string]bool{"apikey": true}

// parseQuery parses the parameters of a request (RPC arguments already
// removed).
func parseQuery(params []kv) (*query, error) {
	q := &query{Nodes: map[string]*nodeParams{}}
	q.node("")
	for _, p := range params {
		if err := q.add(p.Key, p.Value); err != nil {
			return nil, err
		}
	}
	return q, nil
}

// add reads one parameter: select, columns or on_conflict; order, limit,
// offset, or and and, of the top level or of an embed ("rel.limit");
// anything else is a filter ("rel.col=op.value").
func (q *query) add(k, v string) error {
	filters := len(q.filterOps)
	if err := q.addParam(k, v); err != nil {
		return err
	}
	switch {
	case len(q.filterOps) > filters: // a filter: its shape leaves the value out
		q.shape = appendOpShape(appendShapePart(q.shape, k), &q.filterOps[filters])
	case !ignoredParams[k]:
		q.shape = appendShapePart(appendShapePart(q.shape, k), v)
	}
	return nil
}

// addParam reads one parameter for add.
func (q *query) addParam(k, v string) error {
	switch k {
	case "select":
		items, err := parseSelect(v)
		if err != nil {
			return err
		}
		q.Select, q.HasSelect = items, true
		return nil
	case "columns":
		cols, err := parseColumnList(v)
		if err != nil {
			return parseErr("failed to parse columns parameter ("+v+")", err.Error())
		}
		q.Columns, q.HasColumns = cols, true
		return nil
	case "on_conflict":
		cols, err := parseColumnList(v)
		if err != nil {
			return parseErr("failed to parse on_conflict parameter ("+v+")", err.Error())
		}
		q.OnConflict = cols
		return nil
	}
	if ignoredParams[k] {
		return nil
	}
	var path []string // the embed the parameter is aimed at, none for the top level
	last := k
	if strings.IndexByte(k, '.') >= 0 {
		segs := strings.Split(k, ".")
		path, last = segs[:len(segs)-1], segs[len(segs)-1]
	}
	switch last {
	case "order", "limit", "offset", "or", "and":
		return q.addModifier(path, last, k, v)
	}
	if err := validPath(path, k); err != nil {
		return err
	}
	f, err := parseField(last)
	if err != nil {
		return parseErr("failed to parse filter field ("+k+")", err.Error())
	}
	op, err := parseOpExpr(v, false)
	if err != nil {
		return parseErr("failed to parse filter ("+v+")", err.Error())
	}
	n := q.node(strings.Join(path, "."))
	q.filterOps = append(q.filterOps, op)
	op.src = len(q.filterOps)
	n.Filters = append(n.Filters, filter{Field: f, Op: op})
	return nil
}

// addModifier reads the order, limit, offset or logic tree (or, and,
// not.or, not.and) named by what, of the level at path.
func (q *query) addModifier(path []string, what, k, v string) error {
	not := false
	if (what == "or" || what == "and") && len(path) > 0 && path[len(path)-1] == "not" {
		not, path = true, path[:len(path)-1]
	}
	if err := validPath(path, k); err != nil {
		return err
	}
	n := q.node(strings.Join(path, "."))
	switch what {
	case "order":
		terms, err := parseOrder(v)
		if err != nil {
			return parseErr("failed to parse order ("+v+")", err.Error())
		}
		n.Order = append(n.Order, terms...)
		return nil
	case "limit", "offset":
		return n.setPage(what, v)
	}
	t, err := parseLogic(v, what == "and", not, 0)
	if err != nil {
		return parseErr("failed to parse logic tree ("+v+")", err.Error())
	}
	n.Trees = append(n.Trees, t)
	return nil
}

// setPage reads limit or offset (which): a non-negative integer; a
// negative limit is 416, as in PostgREST.
func (n *nodeParams) setPage(which, v string) error {
	x, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return parseErr("failed to parse "+which+" parameter ("+v+")", "expecting an integer")
	}
	if which == "limit" {
		if x < 0 {
			return newErr(416, codeRange, "Requested range not satisfiable").
				WithDetails("Limit should be greater than or equal to zero.")
		}
		n.Limit = &x
		return nil
	}
	if x < 0 {
		return parseErr("failed to parse offset parameter ("+v+")", "expecting a non-negative integer")
	}
	n.Offset = &x
	return nil
}

func validPath(path []string, key string) error {
	for _, s := range path {
		if s == "" {
			return parseErr("failed to parse parameter ("+key+")", "empty embedded resource name")
		}
	}
	return nil
}

// parseColumnList reads columns= and on_conflict=: names, optionally
// "quoted", separated by commas.
func parseColumnList(v string) ([]string, error) {
	parts, err := splitTop(v)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if len(p) >= 2 && p[0] == '"' && p[len(p)-1] == '"' {
			p = unquoteTreeValue(p)
		}
		if p == "" {
			return nil, fmt.Errorf("empty column name")
		}
		out = append(out, p)
	}
	return out, nil
}
