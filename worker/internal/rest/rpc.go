package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"
	"github.com/madbase/madbase/shared/apierr"
)

var reservedParams = map[string]bool{"select": true, "order": true, "limit": true, "offset": true, "or": true, "and": true,
	"columns": true, "on_conflict": true, "apikey": true}

// singleJSONArg reports a function taking one unnamed json/jsonb
// parameter, which receives the whole body.
func singleJSONArg(f *Function) bool {
	return len(f.Args) == 1 && f.Args[0].Name == "" && (f.Args[0].BaseType == "json" || f.Args[0].BaseType == "jsonb")
}

// chooseFunction picks the overload the given argument names call (spec
// §8): the one that takes them all, or among several the one that takes
// exactly them; none is (nil, nil, nil), several is PGRST203.
func chooseFunction(fns []*Function, keys []string, post bool) (*Function, []string, error) {
	var matches []overloadMatch
	for _, f := range fns {
		if m, ok := matchOverload(f, keys, post); ok {
			matches = append(matches, m)
		}
	}
	if len(matches) > 1 {
		var exact []overloadMatch
		for _, m := range matches {
			if m.exact {
				exact = append(exact, m)
			}
		}
		if len(exact) == 1 {
			matches = exact
		}
	}
	switch len(matches) {
	case 1:
		return matches[0].f, matches[0].used, nil
	case 0:
		return nil, nil, nil
	}
	var sigs []string
	for _, m := range matches {
		sigs = append(sigs, signature(m.f))
	}
	return nil, nil, newErr(300, codeAmbiguousFunc, "Could not choose the best candidate function between: "+strings.Join(sigs, ", ")).
		WithHint("Try renaming the parameters or the function itself in the database so function overloading can be resolved")
}

// overloadMatch is an overload the arguments can call.
type overloadMatch struct {
	f     *Function
	used  []string // the argument names it takes
	exact bool     // it takes exactly the arguments given, all of its own
}

// matchOverload reports whether f can be called with the argument names
// keys: every argument without a default is given, and (POST) every key
// names an argument; a GET's other keys are filters. A single unnamed json
// parameter takes any POST body.
func matchOverload(f *Function, keys []string, post bool) (overloadMatch, bool) {
	if post && singleJSONArg(f) {
		return overloadMatch{f: f, exact: true}, true
	}
	names := map[string]bool{}
	for _, a := range f.Args {
		if a.Name == "" {
			return overloadMatch{}, false
		}
		names[a.Name] = true
	}
	var used []string
	for _, k := range keys {
		if names[k] {
			used = append(used, k)
		} else if post {
			return overloadMatch{}, false
		}
	}
	for _, a := range f.Args {
		if !a.HasDefault && !contains(used, a.Name) {
			return overloadMatch{}, false
		}
	}
	return overloadMatch{f: f, used: used, exact: len(used) == len(f.Args)}, true
}

func signature(f *Function) string {
	var args []string
	for _, a := range f.Args {
		args = append(args, strings.TrimSpace(a.Name+" => "+a.Type))
	}
	return fmt.Sprintf("%s.%s(%s)", f.Schema, f.Name, strings.Join(args, ", "))
}

func noFunction(schema, name string, keys []string) *apierr.Error {
	sort.Strings(keys)
	what := "without parameters"
	if len(keys) > 0 {
		what = "with parameters " + strings.Join(keys, ", ")
	}
	return newErr(404, codeNoFunction, fmt.Sprintf("Could not find the function %s.%s(%s) in the schema cache", schema, name, strings.Join(keys, ", "))).
		WithHint(fmt.Sprintf("Perhaps you meant to call the function %s.%s %s", schema, name, what)).
		WithDetails(fmt.Sprintf("Searched for the function %s.%s %s, but no matches were found in the schema cache.", schema, name, what))
}

// rpc serves /rest/v1/rpc/{fn}: read the arguments → choose the function
// → plan the statement → run it → answer.
func (h *Handler) rpc(c *fiber.Ctx) error {
	rc, err := h.resolve(c)
	if err != nil {
		return err
	}
	args, err := h.rpcArgs(rc)
	if err != nil {
		return err
	}
	call, err := chooseCall(rc, pathName(c, "fn"), &args)
	if err != nil {
		return err
	}
	plan, err := h.planCall(rc, &call, &args)
	if err != nil {
		return err
	}
	if call.f.RetVoid {
		return h.runVoidCall(rc, &plan)
	}
	res, err := h.runCall(rc, &call, &plan)
	if err != nil {
		return err
	}
	return h.respondCall(rc, &call, &plan, res)
}

// rpcArgs are a call's arguments as the request gave them: a POST's body,
// or the plain query parameters of a GET or HEAD.
type rpcArgs struct {
	post  bool
	names []string                   // the arguments' names (sorted for POST)
	body  map[string]json.RawMessage // a POST's object body
	raw   []byte                     // a POST's whole body, "{}" when empty
	query map[string]string          // GET, HEAD: each name's last value
}

// rpcArgs reads the arguments of a call; only GET, HEAD and POST call.
func (h *Handler) rpcArgs(rc *reqCtx) (rpcArgs, error) {
	switch rc.method {
	case fiber.MethodGet, fiber.MethodHead:
		return queryArgs(rc.params), nil
	case fiber.MethodPost:
		body, err := h.readBody(rc.c)
		if err != nil {
			return rpcArgs{}, err
		}
		return bodyArgs(body)
	}
	return rpcArgs{}, newErr(405, codeRPCMethod, "Cannot use the "+rc.method+" method on RPC")
}

// queryArgs takes the parameters that are neither reserved nor aimed at an
// embed as arguments.
func queryArgs(params []kv) rpcArgs {
	a := rpcArgs{query: map[string]string{}}
	for _, p := range params {
		if reservedParams[p.Key] || strings.Contains(p.Key, ".") {
			continue
		}
		if _, dup := a.query[p.Key]; !dup {
			a.names = append(a.names, p.Key)
		}
		a.query[p.Key] = p.Value
	}
	return a
}

// bodyArgs takes a JSON object's keys as arguments; any other JSON value
// can only go whole to a function of one unnamed json parameter.
func bodyArgs(body []byte) (rpcArgs, error) {
	a := rpcArgs{post: true, raw: bytes.TrimSpace(body)}
	if len(a.raw) == 0 {
		a.raw = []byte("{}")
	}
	if a.raw[0] != '{' {
		if !json.Valid(a.raw) {
			return rpcArgs{}, bodyErr("Empty or invalid json")
		}
		return a, nil
	}
	var args map[string]json.RawMessage
	if err := json.Unmarshal(a.raw, &args); err != nil {
		return rpcArgs{}, bodyErr("Empty or invalid json").WithDetails(jsonErrDetail(err))
	}
	a.body = args
	for k := range a.body {
		a.names = append(a.names, k)
	}
	sort.Strings(a.names)
	return a, nil
}

// rpcCall is the chosen function and what shapes its result.
type rpcCall struct {
	f    *Function
	used []string // the arguments passed by name
	q    *query   // the other parameters: select, filters, order, page
	m    media
}

// chooseCall picks the overload the arguments call and reads the
// parameters and Accept that shape its result.
func chooseCall(rc *reqCtx, name string, a *rpcArgs) (rpcCall, error) {
	fns := rc.schema.Functions(rc.profile, name)
	f, used, err := chooseFunction(fns, a.names, a.post)
	if err != nil {
		return rpcCall{}, err
	}
	if f == nil {
		if a.post && a.raw[0] != '{' && len(fns) > 0 {
			return rpcCall{}, bodyErr("Empty or invalid json").WithDetails("RPC arguments must be a JSON object")
		}
		return rpcCall{}, noFunction(rc.profile, name, a.names)
	}
	if !a.post {
		var rest []kv
		for _, p := range rc.params {
			if !contains(used, p.Key) {
				rest = append(rest, p)
			}
		}
		rc.params = rest
	}
	q, err := parseQuery(rc.params)
	if err != nil {
		return rpcCall{}, err
	}
	m, err := negotiate(rc.c.Get(fiber.HeaderAccept), false)
	if err != nil {
		return rpcCall{}, err
	}
	if rc.prefs.MaxAffected != nil && rc.prefs.Handling == "strict" && !f.RetSet {
		return rpcCall{}, newErr(400, codeMaxAffectedRPC, "Function must return SETOF or TABLE when max-affected preference is used with handling=strict")
	}
	return rpcCall{f: f, used: used, q: q, m: m}, nil
}

// callPlan is the statement of a call and what running and answering it
// need.
type callPlan struct {
	sql      string
	args     []any
	readOnly bool  // GET, HEAD
	offset   int64 // the page's first row, for set results
}

// planCall writes the statement: for a void function the call alone;
// otherwise the rows it returns, shaped like a table read (select, filters,
// order, page, count), aggregated into the body.
func (h *Handler) planCall(rc *reqCtx, call *rpcCall, a *rpcArgs) (callPlan, error) {
	p := newPlanner(rc.schema, call.q, h.cfg.DBAggregatesEnabled)
	expr, argsFrom, err := callExpr(p, call, a)
	if err != nil {
		return callPlan{}, err
	}
	cp := callPlan{readOnly: !a.post}
	if call.f.RetVoid {
		cp.sql = "SELECT " + expr + "::text" + responseGUCsCols
		if argsFrom != "" {
			cp.sql += " FROM " + argsFrom
		}
		cp.args = p.b.args
		return cp, nil
	}
	src, err := callSource(rc.schema, p, call, expr, argsFrom)
	if err != nil {
		return callPlan{}, err
	}
	page := src
	total := "NULL::int8"
	if call.f.RetSet {
		var limit *int64
		cp.offset, limit, err = h.pageBounds(rc, call.q.Nodes[""], cp.readOnly)
		if err != nil {
			return callPlan{}, err
		}
		page += limitSQL(limit, cp.offset)
		if rc.prefs.Count != "" {
			rc.prefs.apply("count=" + rc.prefs.Count)
			total = "(SELECT pg_catalog.count(*) FROM (" + src + ") AS pgrst_count)"
		}
	}
	cp.sql = "WITH pgrst_source AS (" + page + ") SELECT " + total + ", pg_catalog.count(*), " + callBody(rc, call) +
		responseGUCsCols + " FROM pgrst_source AS _postgrest_t"
	cp.args = p.b.args
	return cp, nil
}

// callExpr is the function call with its arguments, which
// json_to_record (argsFrom) converts to their types.
func callExpr(p *planner, call *rpcCall, a *rpcArgs) (expr, argsFrom string, err error) {
	f := call.f
	switch {
	case singleJSONArg(f) && a.post:
		return fmt.Sprintf("%s(%s)", f.QName(), p.b.param(string(a.raw), f.Args[0].Type)), "", nil
	case len(call.used) == 0:
		return f.QName() + "()", "", nil
	}
	obj := map[string]any{}
	var defs, named []string
	for _, arg := range f.Args {
		if !contains(call.used, arg.Name) {
			continue
		}
		if a.post {
			obj[arg.Name] = a.body[arg.Name]
		} else {
			obj[arg.Name] = a.query[arg.Name]
		}
		defs = append(defs, quoteIdent(arg.Name)+" "+arg.Type)
		v := ""
		if arg.Variadic {
			v = "VARIADIC "
		}
		named = append(named, v+quoteIdent(arg.Name)+" := "+col("pgrst_args", arg.Name))
	}
	raw, err := json.Marshal(obj)
	if err != nil {
		return "", "", bodyErr("Empty or invalid json")
	}
	argsFrom = fmt.Sprintf("json_to_record(%s) AS \"pgrst_args\"(%s)", p.b.param(string(raw), "json"), strings.Join(defs, ", "))
	return fmt.Sprintf("%s(%s)", f.QName(), strings.Join(named, ", ")), argsFrom, nil
}

// callSource selects the rows a call returns: through the select tree
// when they are a table's, else as one column "pgrst_scalar", which takes
// no filters, order or embeds.
func callSource(s *Schema, p *planner, call *rpcCall, expr, argsFrom string) (string, error) {
	f, q := call.f, call.q
	if f.RetTable == nil {
		for path, np := range q.Nodes {
			if path != "" || len(np.Filters) > 0 || len(np.Trees) > 0 || len(np.Order) > 0 {
				return "", parseErr("failed to parse filter", "filters, order and embedding need a function returning rows")
			}
		}
		return scalarSource(f, expr, argsFrom), nil
	}
	alias := p.b.alias("t")
	from := expr + " AS " + quoteIdent(alias)
	if argsFrom != "" {
		from = argsFrom + " CROSS JOIN LATERAL " + from
	}
	rowType := ""
	if f.RetTable.Kind != 'c' || s.tables[qname{f.RetTable.Schema, f.RetTable.Name}] == f.RetTable {
		rowType = f.RetTable.QName()
	}
	items := q.Select
	if !q.HasSelect {
		items = []*selectItem{{Kind: itemStar}}
	}
	n, err := p.root(f.RetTable, from, alias, rowType, items)
	if err != nil {
		return "", err
	}
	return p.nodeSQL(n, true), nil
}

// scalarSource selects a scalar (or set of scalars) result as "pgrst_scalar".
func scalarSource(f *Function, expr, argsFrom string) string {
	if f.RetSet {
		src := "SELECT \"pgrst_scalar\" FROM "
		if argsFrom != "" {
			src += argsFrom + " CROSS JOIN LATERAL "
		}
		return src + expr + " AS \"pgrst_scalar\""
	}
	src := "SELECT " + expr + " AS \"pgrst_scalar\""
	if argsFrom != "" {
		src += " FROM " + argsFrom
	}
	return src
}

// callBody aggregates a call's rows into the response body: scalars as
// JSON values, a single row as an object, a set as an array.
func callBody(rc *reqCtx, call *rpcCall) string {
	f := call.f
	switch {
	case rc.method == fiber.MethodHead:
		return "NULL::text"
	case f.RetTable == nil && f.RetSet:
		return "coalesce(json_agg(_postgrest_t.\"pgrst_scalar\"), '[]')::text"
	case f.RetTable == nil:
		return "coalesce(json_agg(_postgrest_t.\"pgrst_scalar\")->0, 'null')::text"
	case !f.RetSet:
		return bodyExpr(media{Kind: mediaObject, StripNulls: call.m.StripNulls}, false)
	}
	return bodyExpr(call.m, false)
}

// runVoidCall runs a void function's call and answers 204.
func (h *Handler) runVoidCall(rc *reqCtx, cp *callPlan) error {
	var gucs *responseGUCs
	err := h.run(rc, h.txFor(rc, cp.readOnly), func(ctx context.Context, tx pgx.Tx) error {
		var v, hs, st *string
		if err := tx.QueryRow(ctx, cp.sql, cp.args...).Scan(&v, &hs, &st); err != nil {
			return err
		}
		var err error
		gucs, err = parseResponseGUCs(hs, st)
		return err
	})
	if err != nil {
		return err
	}
	finish(rc)
	rc.c.Status(gucs.apply(rc, 204))
	return nil
}

// callResult is what a call's statement returned.
type callResult struct {
	total     *int64 // with Prefer: count
	pageTotal int64
	body      []byte
	gucs      *responseGUCs
}

// runCall runs the statement: GET and HEAD in a read-only transaction,
// with nothing to undo, in one round trip like a table read.
func (h *Handler) runCall(rc *reqCtx, call *rpcCall, cp *callPlan) (*callResult, error) {
	res := &callResult{}
	var err error
	if cp.readOnly {
		b := &pgx.Batch{}
		b.Queue(cp.sql, cp.args...)
		err = h.runRead(rc, b, func(br pgx.BatchResults) error { return res.scan(br.QueryRow(), rc, call) })
	} else {
		err = h.run(rc, h.txFor(rc, false), func(ctx context.Context, tx pgx.Tx) error {
			return res.scan(tx.QueryRow(ctx, cp.sql, cp.args...), rc, call)
		})
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}

// scan reads the statement's row, refusing (and so rolling back) a result
// that breaks .single() or a strict max-affected.
func (res *callResult) scan(row pgx.Row, rc *reqCtx, call *rpcCall) error {
	var hs, st *string
	if err := row.Scan(&res.total, &res.pageTotal, &res.body, &hs, &st); err != nil {
		return err
	}
	var err error
	if res.gucs, err = parseResponseGUCs(hs, st); err != nil {
		return err
	}
	if call.m.Kind == mediaObject && call.f.RetSet && res.pageTotal != 1 {
		return singularErr(res.pageTotal)
	}
	if rc.prefs.Handling == "strict" && rc.prefs.MaxAffected != nil && res.pageTotal > *rc.prefs.MaxAffected {
		return newErr(400, codeMaxAffected, "Query result exceeds max-affected preference constraint").
			WithDetails(fmt.Sprintf("The query affects %d rows", res.pageTotal))
	}
	return nil
}

// respondCall answers a single result as a JSON value (CSV has no single
// value) and a set like a table read.
func (h *Handler) respondCall(rc *reqCtx, call *rpcCall, cp *callPlan, res *callResult) error {
	if call.f.RetSet {
		return h.respondRead(rc, call.m, res.gucs.apply(rc, 200), cp.offset, res.pageTotal, res.total, res.body)
	}
	finish(rc)
	m := call.m
	if m.Kind == mediaCSV {
		m = media{Kind: mediaJSON}
	}
	return send(rc, m, res.gucs.apply(rc, 200), res.body)
}
