package rest

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"
)

// The OpenAPI root (docs/api/rest.md §14): a Swagger 2.0 document of the tables, views
// and functions of the request's schema that its role may use. It is a
// contract with getOpenApiSpec(), Studio and type generators: keep it valid.

type swaggerDoc struct {
	Swagger     string                    `json:"swagger"`
	Info        map[string]string         `json:"info"`
	Host        string                    `json:"host"`
	BasePath    string                    `json:"basePath"`
	Schemes     []string                  `json:"schemes"`
	Consumes    []string                  `json:"consumes"`
	Produces    []string                  `json:"produces"`
	Paths       map[string]map[string]any `json:"paths"`
	Definitions map[string]any            `json:"definitions"`
	Parameters  map[string]any            `json:"parameters"`
}

func (h *Handler) root(c *fiber.Ctx) error {
	rc, err := h.resolve(c)
	if err != nil {
		return err
	}
	if rc.method != fiber.MethodGet && rc.method != fiber.MethodHead {
		return newErr(405, codeMethod, "Unsupported HTTP method: "+rc.method)
	}
	if h.cfg.RestOpenAPIMode == "disabled" {
		return newErr(404, codeOpenAPIOff, "Root endpoint metadata is disabled")
	}
	m, err := negotiate(c.Get(fiber.HeaderAccept), true)
	if err != nil {
		return err
	}
	tables, fns := rc.schema.Tables(rc.profile), rc.schema.AllFunctions(rc.profile)
	if h.cfg.RestOpenAPIMode == "follow-privileges" {
		if tables, fns, err = h.usable(rc, tables, fns); err != nil {
			return err
		}
	}
	doc := buildSwagger(c.Hostname(), tables, fns)
	body, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	return send(rc, m, 200, body)
}

// usable keeps the tables and functions the request's role may use.
func (h *Handler) usable(rc *reqCtx, tables []*Table, fns []*Function) ([]*Table, []*Function, error) {
	var tnames, fsigs []string
	for _, t := range tables {
		tnames = append(tnames, t.QName())
	}
	for _, f := range fns {
		fsigs = append(fsigs, fnSignature(f))
	}
	var okT, okF []string
	err := h.run(rc, h.txFor(rc, true), func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `select coalesce((select array_agg(x) from unnest($1::text[]) x where has_table_privilege(x, 'SELECT,INSERT,UPDATE,DELETE')), '{}'),
				coalesce((select array_agg(x) from unnest($2::text[]) x where has_function_privilege(x, 'EXECUTE')), '{}')`, tnames, fsigs).Scan(&okT, &okF)
	})
	if err != nil {
		return nil, nil, err
	}
	return filterTables(tables, okT), filterFuncs(fns, okF), nil
}

func fnSignature(f *Function) string {
	var types []string
	for _, a := range f.Args {
		types = append(types, a.Type)
	}
	return f.QName() + "(" + strings.Join(types, ", ") + ")"
}

func filterTables(ts []*Table, ok []string) []*Table {
	var out []*Table
	for _, t := range ts {
		if contains(ok, t.QName()) {
			out = append(out, t)
		}
	}
	return out
}

func filterFuncs(fs []*Function, ok []string) []*Function {
	var out []*Function
	for _, f := range fs {
		if contains(ok, fnSignature(f)) {
			out = append(out, f)
		}
	}
	return out
}

// swaggerType maps a column type to a Swagger type and format.
func swaggerType(c *Column) map[string]any {
	p := map[string]any{"format": c.Type}
	switch {
	case c.Category == 'A':
		p["type"] = "array"
		p["items"] = map[string]any{"type": "string"}
	case c.BaseType == "int2" || c.BaseType == "int4" || c.BaseType == "int8":
		p["type"] = "integer"
	case c.BaseType == "numeric" || c.BaseType == "float4" || c.BaseType == "float8":
		p["type"] = "number"
	case c.BaseType == "bool":
		p["type"] = "boolean"
	case c.BaseType == "json" || c.BaseType == "jsonb":
	default:
		p["type"] = "string"
	}
	if len(c.Enum) > 0 {
		p["enum"] = c.Enum
	}
	if c.Comment != "" {
		p["description"] = c.Comment
	}
	return p
}

// buildSwagger describes the tables and functions as Swagger 2.0.
func buildSwagger(host string, tables []*Table, fns []*Function) swaggerDoc {
	doc := newSwaggerDoc(host)
	for _, t := range tables {
		doc.addTable(t)
	}
	for _, f := range fns {
		doc.addFunction(f)
	}
	return doc
}

// newSwaggerDoc is the document without tables and functions: the root
// path and the parameters every table shares.
func newSwaggerDoc(host string) swaggerDoc {
	return swaggerDoc{
		Swagger:  "2.0",
		Info:     map[string]string{"title": "MadBase REST API", "description": "PostgREST-compatible API of the exposed schema", "version": "12"},
		Host:     host,
		BasePath: "/rest/v1",
		Schemes:  []string{"http", "https"},
		Consumes: []string{"application/json", "application/vnd.pgrst.object+json", "text/csv"},
		Produces: []string{"application/json", "application/vnd.pgrst.object+json", "text/csv"},
		Paths: map[string]map[string]any{
			"/": {"get": map[string]any{"summary": "OpenAPI description (this document)", "produces": []string{"application/openapi+json", "application/json"},
				"responses": map[string]any{"200": map[string]any{"description": "OK"}}}},
		},
		Definitions: map[string]any{},
		Parameters: map[string]any{
			"select":      queryParam("select", "Filtering Columns"),
			"order":       queryParam("order", "Ordering"),
			"offset":      queryParam("offset", "Limiting and Pagination"),
			"limit":       queryParam("limit", "Limiting and Pagination"),
			"on_conflict": queryParam("on_conflict", "On Conflict"),
			"columns":     queryParam("columns", "Columns to insert"),
			"range":       map[string]any{"name": "Range", "in": "header", "type": "string", "description": "Limiting and Pagination"},
			"rangeUnit":   map[string]any{"name": "Range-Unit", "in": "header", "type": "string", "default": "items", "description": "Limiting and Pagination"},
			"preferCount": map[string]any{"name": "Prefer", "in": "header", "type": "string", "description": "Preference",
				"enum": []string{"count=none"}},
			"preferReturn": map[string]any{"name": "Prefer", "in": "header", "type": "string", "description": "Preference",
				"enum": []string{"return=representation", "return=minimal", "return=none"}},
			"preferParams": map[string]any{"name": "Prefer", "in": "header", "type": "string", "description": "Preference",
				"enum": []string{"params=single-object"}},
		},
	}
}

// addTable adds a table's definition, its body and filter parameters, and
// its path with GET, POST, PATCH and DELETE.
func (doc *swaggerDoc) addTable(t *Table) {
	props := map[string]any{}
	var required []string
	var filters []any
	for _, c := range t.Columns {
		props[c.Name] = swaggerType(c)
		if c.NotNull && c.Default == "" && !c.Identity {
			required = append(required, c.Name)
		}
		pname := "rowFilter." + t.Name + "." + c.Name
		doc.Parameters[pname] = map[string]any{"name": c.Name, "in": "query", "required": false, "type": "string", "format": c.Type}
		filters = append(filters, ref("#/parameters/"+pname))
	}
	def := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		def["required"] = required
	}
	if t.Comment != "" {
		def["description"] = t.Comment
	}
	doc.Definitions[t.Name] = def
	body := "body." + t.Name
	doc.Parameters[body] = map[string]any{"name": t.Name, "in": "body", "required": false, "description": t.Name,
		"schema": ref("#/definitions/" + t.Name)}
	tags := []string{t.Name}
	get := append([]any{ref("#/parameters/select"), ref("#/parameters/order"), ref("#/parameters/range"),
		ref("#/parameters/rangeUnit"), ref("#/parameters/offset"), ref("#/parameters/limit"), ref("#/parameters/preferCount")}, filters...)
	doc.Paths["/"+t.Name] = summarized(t.Comment, map[string]any{
		"get": map[string]any{"tags": tags, "parameters": get, "responses": map[string]any{
			"200": map[string]any{"description": "OK", "schema": map[string]any{"type": "array", "items": ref("#/definitions/" + t.Name)}},
			"206": map[string]any{"description": "Partial Content"}}},
		"post": map[string]any{"tags": tags, "parameters": []any{ref("#/parameters/" + body), ref("#/parameters/select"),
			ref("#/parameters/preferReturn")}, "responses": map[string]any{"201": map[string]any{"description": "Created"}}},
		"patch": map[string]any{"tags": tags, "parameters": append([]any{ref("#/parameters/" + body), ref("#/parameters/preferReturn")}, filters...),
			"responses": map[string]any{"204": map[string]any{"description": "No Content"}}},
		"delete": map[string]any{"tags": tags, "parameters": append([]any{ref("#/parameters/preferReturn")}, filters...),
			"responses": map[string]any{"204": map[string]any{"description": "No Content"}}},
	})
}

// addFunction adds a function's path: POST with its named arguments as the
// body, and GET with them as query parameters unless it is volatile.
func (doc *swaggerDoc) addFunction(f *Function) {
	props := map[string]any{}
	var required []string
	var params []any
	for _, a := range f.Args {
		if a.Name == "" {
			continue
		}
		props[a.Name] = swaggerType(&Column{Name: a.Name, Type: a.Type, BaseType: a.BaseType})
		if !a.HasDefault {
			required = append(required, a.Name)
		}
		params = append(params, map[string]any{"name": a.Name, "in": "query", "required": !a.HasDefault, "type": "string", "format": a.Type})
	}
	schema := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		schema["required"] = required
	}
	ok := map[string]any{"200": map[string]any{"description": "OK"}, "206": map[string]any{"description": "Partial Content"}}
	tags := []string{"(rpc) " + f.Name}
	ops := map[string]any{
		"post": map[string]any{"tags": tags, "produces": []string{"application/json", "application/vnd.pgrst.object+json"},
			"parameters": []any{map[string]any{"name": "args", "in": "body", "required": true, "schema": schema}, ref("#/parameters/preferParams")},
			"responses":  ok},
	}
	if f.Volatile != 'v' {
		ops["get"] = map[string]any{"tags": tags, "parameters": params, "responses": ok}
	}
	doc.Paths["/rpc/"+f.Name] = summarized(f.Comment, ops)
}

// summarized gives every operation of ops the summary, when there is one.
func summarized(summary string, ops map[string]any) map[string]any {
	if summary != "" {
		for _, op := range ops {
			op.(map[string]any)["summary"] = summary
		}
	}
	return ops
}

func queryParam(name, desc string) map[string]any {
	return map[string]any{"name": name, "in": "query", "required": false, "type": "string", "description": desc}
}

func ref(to string) map[string]any { return map[string]any{"$ref": to} }
