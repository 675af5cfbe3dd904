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

// chooseFunction picks the overload the given argument names call (spec §8).
func chooseFunction(fns []*Function, keys []string, post bool) (*Function, []string, error) {
	type match struct {
		f     *Function
		used  []string
		exact bool
	}
	var matches []match
	for _, f := range fns {
		if post && singleJSONArg(f) {
			matches = append(matches, match{f: f, exact: true})
			continue
		}
		names := map[string]bool{}
		named := true
		for _, a := range f.Args {
			if a.Name == "" {
				named = false
			}
			names[a.Name] = true
		}
		if !named {
			continue
		}
		var used []string
		ok := true
		for _, k := range keys {
			if names[k] {
				used = append(used, k)
			} else if post {
				ok = false
			}
		}
		if !ok {
			continue
		}
		for _, a := range f.Args {
			if !a.HasDefault && !contains(used, a.Name) {
				ok = false
			}
		}
		if ok {
			matches = append(matches, match{f: f, used: used, exact: len(used) == len(f.Args)})
		}
	}
	if len(matches) > 1 {
		var exact []match
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

func (h *Handler) rpc(c *fiber.Ctx) error {
	rc, err := h.resolve(c)
	if err != nil {
		return err
	}
	name := pathName(c, "fn")
	post := false
	switch rc.method {
	case fiber.MethodGet, fiber.MethodHead:
	case fiber.MethodPost:
		post = true
	default:
		return newErr(405, codeRPCMethod, "Cannot use the "+rc.method+" method on RPC")
	}
	fns := rc.schema.Functions(rc.profile, name)

	// The arguments: the body's keys (POST) or the plain query keys (GET).
	var keys []string
	var bodyArgs map[string]json.RawMessage
	var rawBody []byte
	var queryArgs = map[string]string{}
	params := rc.params
	if post {
		body, err := h.readBody(c)
		if err != nil {
			return err
		}
		rawBody = bytes.TrimSpace(body)
		if len(rawBody) == 0 {
			rawBody = []byte("{}")
		}
		if rawBody[0] == '{' {
			if err := json.Unmarshal(rawBody, &bodyArgs); err != nil {
				return bodyErr("Empty or invalid json").WithDetails(jsonErrDetail(err))
			}
			for k := range bodyArgs {
				keys = append(keys, k)
			}
		} else if !json.Valid(rawBody) {
			return bodyErr("Empty or invalid json")
		}
		sort.Strings(keys)
	} else {
		for _, p := range params {
			if !reservedParams[p.Key] && !strings.Contains(p.Key, ".") {
				if _, dup := queryArgs[p.Key]; !dup {
					keys = append(keys, p.Key)
				}
				queryArgs[p.Key] = p.Value
			}
		}
	}
	f, used, err := chooseFunction(fns, keys, post)
	if err != nil {
		return err
	}
	if f == nil {
		if post && rawBody[0] != '{' && len(fns) > 0 {
			return bodyErr("Empty or invalid json").WithDetails("RPC arguments must be a JSON object")
		}
		return noFunction(rc.profile, name, keys)
	}
	if !post {
		var rest []kv
		for _, p := range params {
			if !contains(used, p.Key) {
				rest = append(rest, p)
			}
		}
		params = rest
	}
	rc.params = params
	q, err := parseQuery(params)
	if err != nil {
		return err
	}
	m, err := negotiate(c.Get(fiber.HeaderAccept), false)
	if err != nil {
		return err
	}
	if rc.prefs.MaxAffected != nil && rc.prefs.Handling == "strict" && !f.RetSet {
		return newErr(400, codeMaxAffectedRPC, "Function must return SETOF or TABLE when max-affected preference is used with handling=strict")
	}

	p := newPlanner(rc.schema, q, h.cfg.DBAggregatesEnabled)
	// The call, with arguments converted by json_to_record to their types.
	var argsFrom, call string
	switch {
	case singleJSONArg(f) && post:
		call = fmt.Sprintf("%s(%s)", f.QName(), p.b.param(string(rawBody), f.Args[0].Type))
	case len(used) == 0:
		call = f.QName() + "()"
	default:
		obj := map[string]any{}
		var defs, named []string
		for _, a := range f.Args {
			if !contains(used, a.Name) {
				continue
			}
			if post {
				obj[a.Name] = bodyArgs[a.Name]
			} else {
				obj[a.Name] = queryArgs[a.Name]
			}
			defs = append(defs, quoteIdent(a.Name)+" "+a.Type)
			v := ""
			if a.Variadic {
				v = "VARIADIC "
			}
			named = append(named, v+quoteIdent(a.Name)+" := "+col("pgrst_args", a.Name))
		}
		raw, err := json.Marshal(obj)
		if err != nil {
			return bodyErr("Empty or invalid json")
		}
		argsFrom = fmt.Sprintf("json_to_record(%s) AS \"pgrst_args\"(%s)", p.b.param(string(raw), "json"), strings.Join(defs, ", "))
		call = fmt.Sprintf("%s(%s)", f.QName(), strings.Join(named, ", "))
	}
	readOnly := !post
	var gucs *responseGUCs
	if f.RetVoid {
		sql := "SELECT " + call + "::text" + responseGUCsCols
		if argsFrom != "" {
			sql += " FROM " + argsFrom
		}
		err := h.run(rc, h.txFor(rc, readOnly), func(ctx context.Context, tx pgx.Tx) error {
			var v, hs, st *string
			if err := tx.QueryRow(ctx, sql, p.b.args...).Scan(&v, &hs, &st); err != nil {
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
		c.Status(gucs.apply(rc, 204))
		return nil
	}

	var src string
	var offset int64
	top := q.Nodes[""]
	switch {
	case f.RetTable != nil:
		alias := p.b.alias("t")
		from := call + " AS " + quoteIdent(alias)
		if argsFrom != "" {
			from = argsFrom + " CROSS JOIN LATERAL " + from
		}
		rowType := ""
		if f.RetTable.Kind != 'c' || rc.schema.tables[qname{f.RetTable.Schema, f.RetTable.Name}] == f.RetTable {
			rowType = f.RetTable.QName()
		}
		items := q.Select
		if !q.HasSelect {
			items = []*selectItem{{Kind: itemStar}}
		}
		n, err := p.root(f.RetTable, from, alias, rowType, items)
		if err != nil {
			return err
		}
		src = p.nodeSQL(n, true)
	default:
		for path, np := range q.Nodes {
			if path != "" || len(np.Filters) > 0 || len(np.Trees) > 0 || len(np.Order) > 0 {
				return parseErr("failed to parse filter", "filters, order and embedding need a function returning rows")
			}
		}
		if f.RetSet {
			src = "SELECT \"pgrst_scalar\" FROM "
			if argsFrom != "" {
				src += argsFrom + " CROSS JOIN LATERAL "
			}
			src += call + " AS \"pgrst_scalar\""
		} else {
			src = "SELECT " + call + " AS \"pgrst_scalar\""
			if argsFrom != "" {
				src += " FROM " + argsFrom
			}
		}
	}
	base := src
	if f.RetSet {
		var limit *int64
		offset, limit, err = h.pageBounds(rc, top, !post)
		if err != nil {
			return err
		}
		src += limitSQL(limit, offset)
	}
	total := "NULL::int8"
	if rc.prefs.Count != "" && f.RetSet {
		rc.prefs.apply("count=" + rc.prefs.Count)
		total = "(SELECT pg_catalog.count(*) FROM (" + base + ") AS pgrst_count)"
	}
	var body string
	head := rc.method == fiber.MethodHead
	switch {
	case head:
		body = "NULL::text"
	case f.RetTable == nil && f.RetSet:
		body = "coalesce(json_agg(_postgrest_t.\"pgrst_scalar\"), '[]')::text"
	case f.RetTable == nil:
		body = "coalesce(json_agg(_postgrest_t.\"pgrst_scalar\")->0, 'null')::text"
	case !f.RetSet:
		body = bodyExpr(media{Kind: mediaObject, StripNulls: m.StripNulls}, false)
	default:
		body = bodyExpr(m, false)
	}
	sql := "WITH pgrst_source AS (" + src + ") SELECT " + total + ", pg_catalog.count(*), " + body + responseGUCsCols + " FROM pgrst_source AS _postgrest_t"
	var tot *int64
	var pageTotal int64
	var out []byte
	strictMax := rc.prefs.Handling == "strict" && rc.prefs.MaxAffected != nil
	scan := func(row pgx.Row) error {
		var hs, st *string
		if err := row.Scan(&tot, &pageTotal, &out, &hs, &st); err != nil {
			return err
		}
		var err error
		if gucs, err = parseResponseGUCs(hs, st); err != nil {
			return err
		}
		if m.Kind == mediaObject && f.RetSet && pageTotal != 1 {
			return singularErr(pageTotal)
		}
		if strictMax && pageTotal > *rc.prefs.MaxAffected {
			return newErr(400, codeMaxAffected, "Query result exceeds max-affected preference constraint").
				WithDetails(fmt.Sprintf("The query affects %d rows", pageTotal))
		}
		return nil
	}
	if readOnly {
		// GET and HEAD: a read-only transaction, nothing to undo, so one
		// round trip like a table read.
		b := &pgx.Batch{}
		b.Queue(sql, p.b.args...)
		err = h.runRead(rc, b, func(br pgx.BatchResults) error { return scan(br.QueryRow()) })
	} else {
		err = h.run(rc, h.txFor(rc, readOnly), func(ctx context.Context, tx pgx.Tx) error {
			return scan(tx.QueryRow(ctx, sql, p.b.args...))
		})
	}
	if err != nil {
		return err
	}
	if !f.RetSet {
		finish(rc)
		mm := m
		if mm.Kind == mediaCSV {
			mm = media{Kind: mediaJSON}
		}
		return send(rc, mm, gucs.apply(rc, 200), out)
	}
	return h.respondRead(rc, m, gucs.apply(rc, 200), offset, pageTotal, tot, out)
}
