package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"
	"github.com/madbase/madbase/shared/apierr"
	"github.com/madbase/madbase/shared/db"
)

var reservedParams = map[string]bool{"select": true, "order": true, "limit": true, "offset": true, "or": true, "and": true,
	"columns": true, "on_conflict": true, "apikey": true}

// bodyKind is what a POST body to a function holds, by its Content-Type:
// JSON arguments, or a raw value for a function of one unnamed parameter
// of the matching type.
type bodyKind int

const (
	bodyJSON  bodyKind = iota // application/json, and when absent
	bodyText                  // text/plain → text
	bodyXML                   // text/xml → xml
	bodyBytes                 // application/octet-stream → bytea
)

// bodyKindOf reads a Content-Type.
func bodyKindOf(contentType string) bodyKind {
	mt, _, _ := strings.Cut(contentType, ";")
	switch strings.ToLower(strings.TrimSpace(mt)) {
	case "text/plain":
		return bodyText
	case "text/xml":
		return bodyXML
	case "application/octet-stream":
		return bodyBytes
	}
	return bodyJSON
}

// rawParamType is the type of the one unnamed parameter a raw body of
// this kind can go to.
func (k bodyKind) rawParamType() []string {
	switch k {
	case bodyText:
		return []string{"text"}
	case bodyXML:
		return []string{"xml"}
	case bodyBytes:
		return []string{"bytea"}
	}
	return []string{"json", "jsonb"}
}

// rawBodyArg reports a function called with the whole POST body: its one
// parameter is unnamed and of the body's type (json or jsonb for JSON,
// text, xml, bytea for text/plain, text/xml, application/octet-stream).
func rawBodyArg(f *Function, a *rpcArgs) bool {
	if !a.post || len(f.Args) != 1 || f.Args[0].Name != "" {
		return false
	}
	return contains(a.kind.rawParamType(), f.Args[0].BaseType)
}

// chooseFunction picks the overload the given argument names call, as
// PostgREST does (docs/api/rest.md §8): the overloads whose required parameters are
// all given and whose parameters take every key; failing those, a function
// of one unnamed parameter that takes the raw body. None is (nil, nil),
// several is PGRST203.
func chooseFunction(fns []*Function, a *rpcArgs) (*Function, error) {
	var named, raw []*Function
	for _, f := range fns {
		switch {
		case matchesArgs(f, a):
			named = append(named, f)
		case rawBodyArg(f, a):
			raw = append(raw, f)
		}
	}
	if len(named) == 0 {
		named = raw
	}
	switch len(named) {
	case 0:
		return nil, nil
	case 1:
		return named[0], nil
	}
	sort.SliceStable(named, func(i, j int) bool { return overloadLess(named[i], named[j]) })
	var sigs []string
	for _, f := range named {
		sigs = append(sigs, signature(f))
	}
	return nil, newErr(300, codeAmbiguousFunc, "Could not choose the best candidate function between: "+strings.Join(sigs, ", ")).
		WithHint("Try renaming the parameters or the function itself in the database so function overloading can be resolved")
}

// matchesArgs reports whether f's parameters fit the argument names: every
// required parameter given, every name a parameter. A function without
// parameters takes no arguments and no raw body.
func matchesArgs(f *Function, a *rpcArgs) bool {
	if len(f.Args) == 0 {
		return len(a.names) == 0 && a.kind == bodyJSON
	}
	given := 0
	for _, arg := range f.Args {
		if contains(a.names, arg.Name) {
			given++
		} else if !arg.HasDefault {
			return false
		}
	}
	return given == len(a.names)
}

// usedArgs are the argument names f takes, in the order given.
func usedArgs(f *Function, names []string) []string {
	var used []string
	for _, k := range names {
		for _, arg := range f.Args {
			if arg.Name == k {
				used = append(used, k)
				break
			}
		}
	}
	return used
}

// overloadLess orders overloads as PostgREST's schema cache does, which
// is the order PGRST203 lists them in: fewer parameters first, then
// without a comment before with one (then by comment), then by the
// parameters' names, types and whether they are required.
func overloadLess(a, b *Function) bool {
	if len(a.Args) != len(b.Args) {
		return len(a.Args) < len(b.Args)
	}
	if a.Comment != b.Comment {
		return a.Comment < b.Comment
	}
	for i := range a.Args {
		x, y := a.Args[i], b.Args[i]
		switch {
		case x.Name != y.Name:
			return x.Name < y.Name
		case x.Type != y.Type:
			return x.Type < y.Type
		case x.HasDefault != y.HasDefault:
			return x.HasDefault // required (true) sorts after optional (false)
		}
	}
	return false
}

func signature(f *Function) string {
	var args []string
	for _, a := range f.Args {
		args = append(args, a.Name+" => "+a.Type) // " => json" for an unnamed one, as PostgREST writes it
	}
	return fmt.Sprintf("%s.%s(%s)", f.Schema, f.Name, strings.Join(args, ", "))
}

// noFunction is PGRST202 worded as PostgREST words it: the names searched
// for, and a hint naming the closest overload's parameters (or, when the
// name is unknown, the closest function name), null when none is close.
func noFunction(s *Schema, schema, name string, a *rpcArgs) *apierr.Error {
	keys := append([]string(nil), a.names...)
	sort.Strings(keys)
	fn := schema + "." + name
	with := " without parameters"
	switch len(keys) {
	case 0:
	case 1:
		with = " with parameter " + keys[0]
	default:
		with = " with parameters " + strings.Join(keys, ", ")
	}
	rawOnly := a.post && a.kind != bodyJSON
	msg := "Could not find the function " + fn
	if !rawOnly {
		if len(keys) == 0 {
			msg += " without parameters"
		} else {
			msg += "(" + strings.Join(keys, ", ") + ")"
		}
	}
	msg += " in the schema cache"
	searched := with
	switch {
	case a.post && a.kind == bodyText:
		searched = " with a single unnamed text parameter"
	case a.post && a.kind == bodyXML:
		searched = " with a single unnamed xml parameter"
	case a.post && a.kind == bodyBytes:
		searched = " with a single unnamed bytea parameter"
	case a.post:
		searched = with + " or with a single unnamed json/jsonb parameter"
	}
	e := newErr(404, codeNoFunction, msg).
		WithDetails("Searched for the function " + fn + searched + ", but no matches were found in the schema cache.")
	if !rawOnly {
		if hint := noFunctionHint(s, schema, name, keys); hint != "" {
			e = e.WithHint("Perhaps you meant to call the function " + schema + "." + hint)
		}
	}
	return e
}

// noFunctionHint is the closest function name (only a close one: names
// of functions the caller did not ask for stay private), or the name with
// the parameter list of the overload closest to the given keys.
func noFunctionHint(s *Schema, schema, name string, keys []string) string {
	overloads := s.Functions(schema, name)
	if len(overloads) == 0 {
		var names []string
		for _, f := range s.AllFunctions(schema) {
			if len(names) == 0 || names[len(names)-1] != f.Name {
				names = append(names, f.Name)
			}
		}
		return closest(name, names, 0.75)
	}
	lists := make([]string, 0, len(overloads))
	for _, f := range overloads {
		var ps []string
		for _, arg := range f.Args {
			ps = append(ps, arg.Name)
		}
		lists = append(lists, paramList(ps))
	}
	if best := closest(paramList(keys), lists, 0.33); best != "" {
		return name + best
	}
	return ""
}

// paramList renders parameter names sorted, as "(a, b)".
func paramList(names []string) string {
	names = append([]string(nil), names...)
	sort.Strings(names)
	return "(" + strings.Join(names, ", ") + ")"
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
	if err := h.checkPlan(rc, call.m); err != nil {
		return err
	}
	plan, err := h.planCall(rc, &call, &args)
	if err != nil {
		return err
	}
	if call.m.Kind == mediaPlan {
		return h.explain(rc, call.m, plan.sql, plan.args, plan.readOnly)
	}
	if call.f.RetVoid {
		return h.runVoidCall(rc, &plan, call.set)
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
	kind  bodyKind                   // what a POST body holds
	names []string                   // the arguments' names (sorted for POST)
	body  map[string]json.RawMessage // a POST's object body
	// multi: the body is an array of objects, all with the same keys; the
	// function is called once for each, in order.
	multi bool
	raw   []byte            // a POST's whole body, "{}" when empty JSON
	query map[string]string // GET, HEAD: each name's last value
}

// bulk reports an array body of objects.
func (a *rpcArgs) bulk() bool { return a.multi }

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
		ct := rc.c.Get(fiber.HeaderContentType)
		if json, converted, err := bodyAsJSON(ct, body); err != nil {
			return rpcArgs{}, err
		} else if converted {
			return bodyArgs(json)
		}
		if kind := bodyKindOf(ct); kind != bodyJSON {
			if body == nil {
				body = []byte{} // an empty body is an empty value, not NULL
			}
			return rpcArgs{post: true, kind: kind, raw: body}, nil
		}
		return bodyArgs(body)
	}
	return rpcArgs{}, newErr(405, codeRPCMethod, "Cannot use the "+rc.method+" method on RPC")
}

// queryArgs takes the parameters that are neither reserved, nor aimed at
// an embed, nor filters (a value with an operator) as arguments.
func queryArgs(params []kv) rpcArgs {
	a := rpcArgs{query: map[string]string{}}
	for _, p := range params {
		if reservedParams[p.Key] || strings.Contains(p.Key, ".") || filterValue(p.Value) {
			continue
		}
		if _, dup := a.query[p.Key]; !dup {
			a.names = append(a.names, p.Key)
		}
		a.query[p.Key] = p.Value
	}
	return a
}

// filterValue reports a query value that filters a call's result rather
// than giving an argument, told apart as PostgREST does: "not." or an
// operator (possibly quantified, or a full-text one with its
// configuration) before the first '.'.
func filterValue(v string) bool {
	head, _, dotted := strings.Cut(v, ".")
	if head == "not" {
		return dotted
	}
	if op, _, ok := strings.Cut(head, "("); ok {
		return quantifiable[op] || ftsOps[op]
	}
	_, ok := operators[head]
	return ok
}

// bodyArgs takes a JSON object's keys as arguments, or those of an array
// of objects that all have the same keys (a call for each); any other
// JSON value can only go whole to a function of one unnamed json
// parameter.
func bodyArgs(body []byte) (rpcArgs, error) {
	a := rpcArgs{post: true, raw: bytes.TrimSpace(body)}
	if len(a.raw) == 0 {
		a.raw = []byte("{}")
	}
	switch a.raw[0] {
	case '{':
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
	case '[':
		var elems []json.RawMessage
		if err := json.Unmarshal(a.raw, &elems); err != nil {
			return rpcArgs{}, bodyErr("Empty or invalid json").WithDetails(jsonErrDetail(err))
		}
		return a, a.bulkRows(elems)
	}
	if !json.Valid(a.raw) {
		return rpcArgs{}, bodyErr("Empty or invalid json")
	}
	return a, nil
}

// bulkRows takes an array body's elements as the rows of a bulk call when
// they are all objects; their keys must then be the same.
func (a *rpcArgs) bulkRows(elems []json.RawMessage) error {
	var first []string
	for i, el := range elems {
		el = bytes.TrimSpace(el)
		if len(el) == 0 || el[0] != '{' {
			return nil // not objects: the body can only go whole to a json parameter
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(el, &obj); err != nil {
			return bodyErr("Empty or invalid json").WithDetails(jsonErrDetail(err))
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if i == 0 {
			first = keys
		} else if !slices.Equal(keys, first) {
			return bodyErr("All object keys must match")
		}
	}
	a.multi, a.names = true, first
	return nil
}

// rpcCall is the chosen function and what shapes its result.
type rpcCall struct {
	f    *Function
	used []string // the arguments passed by name
	q    *query   // the other parameters: select, filters, order, page
	m    media
	// set: the result is an array of rows or values (a set-returning
	// function, or a bulk call of any function).
	set bool
}

// chooseCall picks the overload the arguments call and reads the
// parameters and Accept that shape its result.
func chooseCall(rc *reqCtx, name string, a *rpcArgs) (rpcCall, error) {
	fns := rc.schema.Functions(rc.profile, name)
	f, err := chooseFunction(fns, a)
	if err != nil {
		return rpcCall{}, err
	}
	if f == nil {
		if a.post && a.kind == bodyJSON && a.raw[0] != '{' && !a.bulk() && len(fns) > 0 {
			return rpcCall{}, bodyErr("Empty or invalid json").WithDetails("RPC arguments must be a JSON object")
		}
		return rpcCall{}, noFunction(rc.schema, rc.profile, name, a)
	}
	var used []string
	if !rawBodyArg(f, a) {
		used = usedArgs(f, a.names)
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
	call := rpcCall{f: f, used: used, q: q, m: m, set: f.RetSet || (a.bulk() && len(used) > 0)}
	if rc.prefs.MaxAffected != nil && rc.prefs.Handling == "strict" && !call.set {
		return rpcCall{}, newErr(400, codeMaxAffectedRPC, "Function must return SETOF or TABLE when max-affected preference is used with handling=strict")
	}
	return call, nil
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
// order, page, count), aggregated into the body. With a count the rows are
// materialized once, so the function runs once for the page and the total.
func (h *Handler) planCall(rc *reqCtx, call *rpcCall, a *rpcArgs) (callPlan, error) {
	p := newPlanner(rc.schema, call.q, h.cfg.DBAggregatesEnabled)
	expr, argsFrom, err := callExpr(p, call, a)
	if err != nil {
		return callPlan{}, err
	}
	cp := callPlan{readOnly: !a.post}
	if rc.prefs.Params != "" && a.bulk() {
		rc.prefs.apply("params=" + rc.prefs.Params)
	}
	if rc.prefs.Count != "" {
		rc.prefs.apply("count=" + rc.prefs.Count)
	}
	if call.f.RetVoid {
		cp.sql = "SELECT " + expr + "::text" + responseGUCsCols
		if call.set {
			// one call per row of the body; the count makes every one run
			cp.sql = "SELECT pg_catalog.count(coalesce(" + expr + "::text, ''))::text" + responseGUCsCols
		}
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
	page := ""
	if call.set {
		var limit *int64
		cp.offset, limit, err = h.pageBounds(rc, call.q.Nodes[""], cp.readOnly)
		if err != nil {
			return callPlan{}, err
		}
		page = limitSQL(limit, cp.offset)
	}
	body := callBody(rc, call) + responseGUCsCols
	if rc.prefs.Count == "" {
		cp.sql = "WITH pgrst_source AS (" + src + page + ") SELECT NULL::int8, pg_catalog.count(*), " + body +
			" FROM pgrst_source AS _postgrest_t"
	} else {
		// PostgREST counts exactly for exact and estimated; planned counts
		// the same way here, as a function's plan estimate is only its
		// declared ROWS.
		cp.sql = "WITH pgrst_source AS MATERIALIZED (" + src + ") SELECT (SELECT pg_catalog.count(*) FROM pgrst_source), pg_catalog.count(*), " +
			body + " FROM (SELECT * FROM pgrst_source" + page + ") AS _postgrest_t"
	}
	cp.args = p.b.args
	return cp, nil
}

// callExpr is the function call with its arguments, which
// json_to_record (json_to_recordset for a bulk call) in argsFrom converts
// to their types; a raw body goes whole to the one unnamed parameter.
func callExpr(p *planner, call *rpcCall, a *rpcArgs) (expr, argsFrom string, err error) {
	f := call.f
	switch {
	case rawBodyArg(f, a):
		var v any = string(a.raw)
		if a.kind == bodyBytes {
			v = a.raw
		}
		return fmt.Sprintf("%s(%s)", f.QName(), p.b.param(v, f.Args[0].Type)), "", nil
	case len(call.used) == 0:
		return f.QName() + "()", "", nil
	}
	obj := map[string]any{}
	var defs, named []string
	for _, arg := range f.Args {
		if !contains(call.used, arg.Name) {
			continue
		}
		switch {
		case a.bulk():
		case a.post:
			obj[arg.Name] = a.body[arg.Name]
		default:
			obj[arg.Name] = a.query[arg.Name]
		}
		defs = append(defs, quoteIdent(arg.Name)+" "+arg.Type)
		v := ""
		if arg.Variadic {
			v = "VARIADIC "
		}
		named = append(named, v+quoteIdent(arg.Name)+" := "+col("pgrst_args", arg.Name))
	}
	if a.bulk() {
		argsFrom = fmt.Sprintf("json_to_recordset(%s) AS \"pgrst_args\"(%s)", p.b.param(string(a.raw), "json"), strings.Join(defs, ", "))
		return fmt.Sprintf("%s(%s)", f.QName(), strings.Join(named, ", ")), argsFrom, nil
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
	f, m := call.f, call.m.inner()
	switch {
	case rc.method == fiber.MethodHead:
		return "NULL::text"
	case f.RetTable == nil && call.set && m.Kind == mediaCSV:
		return csvScalarBody(f.Name)
	case f.RetTable == nil && call.set:
		return "coalesce(json_agg(_postgrest_t.\"pgrst_scalar\"), '[]')::text"
	case f.RetTable == nil:
		return "coalesce(json_agg(_postgrest_t.\"pgrst_scalar\")->0, 'null')::text"
	case !call.set:
		return bodyExpr(media{Kind: mediaObject, StripNulls: m.StripNulls}, false)
	}
	return bodyExpr(m, false)
}

// runVoidCall runs a void function's call and answers 204.
func (h *Handler) runVoidCall(rc *reqCtx, cp *callPlan, bulk bool) error {
	var gucs *responseGUCs
	calls := int64(1)
	err := h.run(rc, h.txFor(rc, cp.readOnly), func(ctx context.Context, tx pgx.Tx) error {
		var v, hs, st *string
		if err := tx.QueryRow(ctx, cp.sql, cp.args...).Scan(&v, &hs, &st); err != nil {
			return err
		}
		if bulk {
			calls, _ = strconv.ParseInt(*v, 10, 64)
		}
		var err error
		gucs, err = parseResponseGUCs(hs, st)
		return err
	})
	if err != nil {
		return err
	}
	rc.c.Set("Content-Range", contentRange(0, calls, countOf(rc, calls)))
	finish(rc)
	rc.c.Status(gucs.apply(rc, 204))
	return nil
}

// countOf is the total a count preference asks for, of a result whose
// rows were all returned.
func countOf(rc *reqCtx, n int64) *int64 {
	if rc.prefs.Count == "" {
		return nil
	}
	return &n
}

// callResult is what a call's statement returned.
type callResult struct {
	readResult
}

// runCall runs the statement: GET and HEAD in a read-only transaction,
// with nothing to undo, in one round trip like a table read.
func (h *Handler) runCall(rc *reqCtx, call *rpcCall, cp *callPlan) (*callResult, error) {
	res := &callResult{}
	var err error
	if cp.readOnly {
		err = h.readText(rc, db.Query{SQL: cp.sql, Args: cp.args}, func(values [][]byte) error {
			if err := res.scanText(rc.c, values); err != nil {
				return err
			}
			return res.check(rc, call)
		})
	} else {
		err = h.run(rc, h.txFor(rc, false), func(ctx context.Context, tx pgx.Tx) error {
			return res.scan(tx.QueryRow(ctx, cp.sql, cp.args...), rc, call)
		})
	}
	if err != nil {
		return nil, noPostGIS(call.m, err)
	}
	return res, nil
}

// scan reads the statement's row, refusing (and so rolling back) a result
// that breaks .single() or a strict max-affected.
func (res *callResult) scan(row pgx.Row, rc *reqCtx, call *rpcCall) error {
	if err := res.scanRow(row); err != nil {
		return err
	}
	return res.check(rc, call)
}

// check refuses a result that breaks .single() or a strict max-affected.
func (res *callResult) check(rc *reqCtx, call *rpcCall) error {
	if call.m.Kind == mediaObject && call.set && res.pageTotal != 1 {
		return singularErr(res.pageTotal)
	}
	if rc.prefs.Handling == "strict" && rc.prefs.MaxAffected != nil && res.pageTotal > *rc.prefs.MaxAffected {
		return newErr(400, codeMaxAffected, "Query result exceeds max-affected preference constraint").
			WithDetails(fmt.Sprintf("The query affects %d rows", res.pageTotal))
	}
	return nil
}

// respondCall answers a set like a table read, and a single result as a
// JSON value (CSV has no single value) with the same Content-Range.
func (h *Handler) respondCall(rc *reqCtx, call *rpcCall, cp *callPlan, res *callResult) error {
	m := call.m
	if !call.set && m.Kind == mediaCSV {
		m = media{Kind: mediaJSON}
	}
	return h.respondRead(rc, m, res.gucs.apply(rc, 200), cp.offset, res.pageTotal, res.total, res.body)
}
