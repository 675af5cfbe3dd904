package typegen

import (
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/madbase/madbase/worker/internal/rest"
)

// PostgrestVersion is the PostgREST version the generated Database tells
// supabase-js to expect: /rest/v1 behaves as PostgREST 13 (see the REST
// spec), which turns on the client's maxAffected and spread-on-many types.
const PostgrestVersion = "13"

// builtin maps PostgreSQL types, by pg_type name and by the name
// format_type gives, to the TypeScript type of their JSON form.
var builtin = map[string]string{}

func init() {
	for ts, names := range map[string][]string{
		"boolean": {"bool", "boolean"},
		"number": {"int2", "smallint", "int4", "integer", "int8", "bigint", "float4", "real", "float8",
			"double precision", "numeric", "oid"},
		"string": {"text", "varchar", "character varying", "bpchar", "character", "char", `"char"`, "name", "citext",
			"uuid", "date", "time", "time without time zone", "timetz", "time with time zone", "timestamp",
			"timestamp without time zone", "timestamptz", "timestamp with time zone", "interval", "bytea", "inet",
			"cidr", "macaddr", "macaddr8", "money", "bit", "varbit", "bit varying", "tsvector", "tsquery", "xml",
			"vector", "halfvec", "ltree", "int4range", "int8range", "numrange", "daterange", "tsrange", "tstzrange"},
		"Json":                    {"json", "jsonb"},
		"undefined":               {"void"},
		"Record<string, unknown>": {"record"},
	} {
		for _, n := range names {
			builtin[n] = ts
		}
	}
}

// Render writes the TypeScript module: the Json type, the Database type
// with one entry per schema, and the helper types (Tables, TablesInsert,
// TablesUpdate, Enums, CompositeTypes) and Constants the Supabase CLI
// emits beside it.
func Render(w io.Writer, c *Catalog) error {
	r := &renderer{c: c, s: c.Schema}
	r.line(0, "export type Json =")
	for _, alt := range []string{"string", "number", "boolean", "null", "{ [key: string]: Json | undefined }", "Json[]"} {
		r.line(1, "| "+alt)
	}
	r.line(0, "")
	r.line(0, "export type Database = {")
	r.line(1, "// Tells supabase-js which PostgREST features the API has.")
	r.line(1, "__InternalSupabase: {")
	r.line(2, "PostgrestVersion: "+quote(PostgrestVersion))
	r.line(1, "}")
	for _, schema := range r.schemas() {
		r.schema(schema)
	}
	r.line(0, "}")
	r.line(0, "")
	r.helpers()
	_, err := io.WriteString(w, r.b.String())
	return err
}

type renderer struct {
	c *Catalog
	s *rest.Schema
	b strings.Builder
}

func (r *renderer) line(depth int, s string) {
	if s != "" {
		r.b.WriteString(strings.Repeat("  ", depth))
		r.b.WriteString(s)
	}
	r.b.WriteByte('\n')
}

// schemas are the generated schemas, sorted, as the CLI orders them.
func (r *renderer) schemas() []string {
	out := slices.Clone(r.s.Schemas)
	sort.Strings(out)
	return slices.Compact(out)
}

func (r *renderer) generated(schema string) bool { return slices.Contains(r.s.Schemas, schema) }

func (r *renderer) schema(schema string) {
	r.line(1, key(schema)+": {")
	var tables, views []*rest.Table
	for _, t := range r.s.Tables(schema) {
		if t.IsView() {
			views = append(views, t)
		} else {
			tables = append(tables, t)
		}
	}
	r.line(2, "Tables: {")
	r.none(3, len(tables))
	for _, t := range tables {
		r.table(t)
	}
	r.line(2, "}")
	r.line(2, "Views: {")
	r.none(3, len(views))
	for _, v := range views {
		r.view(v)
	}
	r.line(2, "}")
	r.functions(schema)
	r.enums(schema)
	r.compositeTypes(schema)
	r.line(1, "}")
}

// none writes the body of an empty record: a mapped type over never, so
// that keyof it is never rather than string.
func (r *renderer) none(depth, n int) {
	if n == 0 {
		r.line(depth, "[_ in never]: never")
	}
}

func (r *renderer) table(t *rest.Table) {
	cols := sortedColumns(t)
	r.line(3, key(t.Name)+": {")
	r.row(t, cols)
	r.line(4, "Insert: {")
	for _, c := range cols {
		switch {
		case r.c.ReadOnly[[3]string{t.Schema, t.Name, c.Name}]:
			r.line(5, key(c.Name)+"?: never")
		case !c.NotNull || c.Default != "" || c.Identity:
			r.line(5, key(c.Name)+"?: "+nullable(r.columnType(c), !c.NotNull))
		default:
			r.line(5, key(c.Name)+": "+r.columnType(c))
		}
	}
	r.line(4, "}")
	r.line(4, "Update: {")
	for _, c := range cols {
		if r.c.ReadOnly[[3]string{t.Schema, t.Name, c.Name}] {
			r.line(5, key(c.Name)+"?: never")
		} else {
			r.line(5, key(c.Name)+"?: "+nullable(r.columnType(c), !c.NotNull))
		}
	}
	r.line(4, "}")
	r.relationships(t)
	r.line(3, "}")
}

func (r *renderer) view(v *rest.Table) {
	cols := sortedColumns(v)
	r.line(3, key(v.Name)+": {")
	r.row(v, cols)
	if writable := r.c.Updatable[[2]string{v.Schema, v.Name}]; writable != nil {
		for _, part := range []string{"Insert", "Update"} {
			r.line(4, part+": {")
			for _, c := range cols {
				if writable[c.Name] {
					r.line(5, key(c.Name)+"?: "+nullable(r.columnType(c), true))
				} else {
					r.line(5, key(c.Name)+"?: never")
				}
			}
			r.line(4, "}")
		}
	}
	r.relationships(v)
	r.line(3, "}")
}

// row writes a relation's Row: its columns, and its computed fields
// (functions taking the row and returning one value), which a select
// names like columns; ComputedFields tells supabase-js to leave those out
// of select('*'), as PostgREST does.
func (r *renderer) row(t *rest.Table, cols []*rest.Column) {
	type field struct{ name, ts string }
	var fields []field
	for _, c := range cols {
		fields = append(fields, field{c.Name, nullable(r.columnType(c), !c.NotNull)})
	}
	var computed []string
	for _, f := range t.Computed {
		if f.RetScalar && !f.RetSet && t.Column(f.Name) == nil && !slices.Contains(computed, quote(f.Name)) {
			fields = append(fields, field{f.Name, nullable(r.tsType(f.RetType, "", nil), true)})
			computed = append(computed, quote(f.Name))
		}
	}
	sort.SliceStable(fields, func(i, j int) bool { return fields[i].name < fields[j].name })
	r.line(4, "Row: {")
	for _, f := range fields {
		r.line(5, key(f.name)+": "+f.ts)
	}
	r.line(4, "}")
	if len(computed) > 0 {
		r.line(4, "ComputedFields: "+strings.Join(computed, " | "))
	}
}

// relationships lists the foreign keys held by a relation (and, for a
// view, those of its tables whose columns it exposes), as
// Relationships; the reverse directions are the other side's.
func (r *renderer) relationships(t *rest.Table) {
	var rels []*rest.Relationship
	for _, rel := range t.Rels {
		if r.holdsKey(rel) && rel.To.Schema == t.Schema {
			rels = append(rels, rel)
		}
	}
	if len(rels) == 0 {
		r.line(4, "Relationships: []")
		return
	}
	sort.SliceStable(rels, func(i, j int) bool {
		a, b := rels[i], rels[j]
		if a.Constraint != b.Constraint {
			return a.Constraint < b.Constraint
		}
		if a.To.Name != b.To.Name {
			return a.To.Name < b.To.Name
		}
		return strings.Join(a.ToCols, ",") < strings.Join(b.ToCols, ",")
	})
	r.line(4, "Relationships: [")
	for _, rel := range rels {
		r.line(5, "{")
		r.line(6, "foreignKeyName: "+quote(rel.Constraint))
		r.line(6, "columns: "+quoteList(rel.FromCols))
		r.line(6, fmt.Sprintf("isOneToOne: %t", rel.Kind == rest.OneToOne))
		r.line(6, "referencedRelation: "+quote(rel.To.Name))
		r.line(6, "referencedColumns: "+quoteList(rel.ToCols))
		r.line(5, "},")
	}
	r.line(4, "]")
}

// holdsKey reports whether a relationship goes from the side holding the
// foreign key: many-to-one always; one-to-one when its columns are the
// key's own (on the table itself, or a view exposing them).
func (r *renderer) holdsKey(rel *rest.Relationship) bool {
	switch rel.Kind {
	case rest.ManyToOne:
		return true
	case rest.OneToOne:
		owner, ok := r.c.FKOwners[[2]string{rel.From.Schema, rel.Constraint}]
		if !ok {
			return false
		}
		if !rel.From.IsView() {
			return rel.From.Name == owner.table && slices.Equal(rel.FromCols, owner.cols) &&
				(rel.To.Name != owner.table || !slices.Equal(rel.ToCols, owner.cols) || rel.To.IsView())
		}
		return slices.Equal(rel.FromCols, owner.cols) && !(rel.To.Name == owner.table && slices.Equal(rel.ToCols, owner.cols))
	}
	return false
}

// functions writes the callable functions, overloads as a union; like
// the CLI, a function with an unnamed argument is left out unless it is
// the only one (PostgREST passes a single unnamed argument the body).
func (r *renderer) functions(schema string) {
	byName := map[string][]*rest.Function{}
	var names []string
	for _, f := range r.s.AllFunctions(schema) {
		if !callableByName(f) {
			continue
		}
		if byName[f.Name] == nil {
			names = append(names, f.Name)
		}
		byName[f.Name] = append(byName[f.Name], f)
	}
	r.line(2, "Functions: {")
	r.none(3, len(names))
	for _, name := range names {
		fs := byName[name]
		if len(fs) == 1 {
			r.line(3, key(name)+": {")
			r.signature(4, fs[0])
			r.line(3, "}")
			continue
		}
		r.line(3, key(name)+":")
		for _, f := range fs {
			r.line(4, "| {")
			r.signature(6, f)
			r.line(5, "}")
		}
	}
	r.line(2, "}")
}

func callableByName(f *rest.Function) bool {
	if len(f.Args) == 1 {
		return true
	}
	for _, a := range f.Args {
		if a.Name == "" {
			return false
		}
	}
	return true
}

func (r *renderer) signature(depth int, f *rest.Function) {
	if len(f.Args) == 0 {
		r.line(depth, "Args: never")
	} else {
		parts := make([]string, len(f.Args))
		for i, a := range f.Args {
			opt := ""
			if a.HasDefault {
				opt = "?"
			}
			parts[i] = key(a.Name) + opt + ": " + r.tsType(a.Type, a.BaseType, nil)
		}
		r.line(depth, "Args: { "+strings.Join(parts, "; ")+" }")
	}
	set := ""
	if f.RetSet {
		set = "[]"
	}
	switch {
	case f.RetVoid:
		r.line(depth, "Returns: undefined")
	case f.RetTable != nil && r.isRelation(f.RetTable):
		r.line(depth, "Returns: {")
		for _, c := range sortedColumns(f.RetTable) {
			r.line(depth+1, key(c.Name)+": "+nullable(r.columnType(c), !c.NotNull))
		}
		r.line(depth, "}"+set)
	case f.RetTable != nil && f.RetTable.Kind == 'c' && r.s.Table(f.RetTable.Schema, f.RetTable.Name) == nil &&
		!r.isCompositeType(f.RetTable):
		// OUT or TABLE columns: their values are what the function says.
		r.line(depth, "Returns: {")
		for _, c := range f.RetTable.Columns {
			r.line(depth+1, key(c.Name)+": "+r.columnType(c))
		}
		r.line(depth, "}"+set)
	default:
		ts := r.tsType(f.RetType, "", nil)
		if set != "" && strings.ContainsAny(ts, " |") {
			ts = "(" + ts + ")"
		}
		r.line(depth, "Returns: "+ts+set)
	}
}

// isRelation reports whether t is a loaded table or view (not a composite
// type or a function's OUT columns).
func (r *renderer) isRelation(t *rest.Table) bool {
	return t.Kind != 'c' && r.s.Table(t.Schema, t.Name) == t
}

func (r *renderer) isCompositeType(t *rest.Table) bool {
	return slices.Contains(r.s.CompositeTypes(t.Schema), t)
}

func (r *renderer) schemaEnums(schema string) []Enum {
	var out []Enum
	for _, e := range r.c.Enums {
		if e.Schema == schema {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (r *renderer) enums(schema string) {
	es := r.schemaEnums(schema)
	r.line(2, "Enums: {")
	r.none(3, len(es))
	for _, e := range es {
		r.line(3, key(e.Name)+": "+union(e.Labels))
	}
	r.line(2, "}")
}

func (r *renderer) compositeTypes(schema string) {
	ts := r.s.CompositeTypes(schema)
	r.line(2, "CompositeTypes: {")
	r.none(3, len(ts))
	for _, t := range ts {
		r.line(3, key(t.Name)+": {")
		for _, c := range t.Columns {
			r.line(4, key(c.Name)+": "+nullable(r.columnType(c), true))
		}
		r.line(3, "}")
	}
	r.line(2, "}")
}

func (r *renderer) columnType(c *rest.Column) string { return r.tsType(c.Type, c.BaseType, c.Enum) }

// tsType is the TypeScript type of a value of a PostgreSQL type, given its
// SQL name (format_type, schema-qualified outside pg_catalog), its pg_type
// name (or that of a domain's base type) when known, and the labels of an
// enum (or a domain over one).
func (r *renderer) tsType(sqlType, base string, labels []string) string {
	if elem, ok := strings.CutSuffix(sqlType, "[]"); ok {
		return arrayOf(r.tsType(elem, strings.TrimPrefix(base, "_"), nil))
	}
	if e, ok := r.c.Enums[sqlType]; ok {
		if r.generated(e.Schema) {
			return "Database[" + quote(e.Schema) + `]["Enums"][` + quote(e.Name) + "]"
		}
		return union(e.Labels)
	}
	if schema, name, ok := splitQualified(sqlType); ok {
		for _, t := range r.s.CompositeTypes(schema) {
			if t.Name == name {
				return "Database[" + quote(schema) + `]["CompositeTypes"][` + quote(name) + "]"
			}
		}
		if t := r.s.Table(schema, name); t != nil {
			part := "Tables"
			if t.IsView() {
				part = "Views"
			}
			return "Database[" + quote(schema) + "][" + quote(part) + "][" + quote(name) + `]["Row"]`
		}
	}
	if ts, ok := builtin[base]; ok {
		return ts
	}
	if ts, ok := builtin[sqlType]; ok {
		return ts
	}
	if _, name, ok := splitQualified(sqlType); ok {
		if ts, ok := builtin[name]; ok {
			return ts
		}
	}
	if len(labels) > 0 {
		return union(labels)
	}
	if b, ok := strings.CutPrefix(base, "_"); ok && b != "" {
		// A domain over an array.
		return arrayOf(r.tsType("", b, nil))
	}
	return "unknown"
}

var plainName = regexp.MustCompile(`^[a-z_][a-z0-9_$]*$`)

// splitQualified splits "schema"."name" as format_type writes it.
func splitQualified(sqlType string) (schema, name string, ok bool) {
	parts, ok := splitIdents(sqlType)
	if !ok || len(parts) != 2 {
		return "", "", false
	}
	return parts[0], parts[1], true
}

// splitIdents splits a dotted list of SQL identifiers, each plain or
// double-quoted.
func splitIdents(s string) ([]string, bool) {
	var out []string
	for s != "" {
		var id string
		if s[0] == '"' {
			var b strings.Builder
			i := 1
			for ; i < len(s); i++ {
				if s[i] == '"' {
					if i+1 < len(s) && s[i+1] == '"' {
						b.WriteByte('"')
						i++
						continue
					}
					break
				}
				b.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, false
			}
			id, s = b.String(), s[i+1:]
		} else {
			end := strings.IndexByte(s, '.')
			if end < 0 {
				end = len(s)
			}
			id, s = s[:end], s[end:]
			if !plainName.MatchString(id) {
				return nil, false
			}
		}
		out = append(out, id)
		if s == "" {
			break
		}
		if s[0] != '.' {
			return nil, false
		}
		s = s[1:]
	}
	return out, len(out) > 0
}

func sortedColumns(t *rest.Table) []*rest.Column {
	cols := slices.Clone(t.Columns)
	sort.SliceStable(cols, func(i, j int) bool { return cols[i].Name < cols[j].Name })
	return cols
}

func nullable(ts string, null bool) string {
	if null && ts != "unknown" {
		return ts + " | null"
	}
	return ts
}

func arrayOf(ts string) string {
	if strings.ContainsAny(ts, " |") {
		return "(" + ts + ")[]"
	}
	return ts + "[]"
}

func union(labels []string) string {
	if len(labels) == 0 {
		return "never"
	}
	q := make([]string, len(labels))
	for i, l := range labels {
		q[i] = quote(l)
	}
	return strings.Join(q, " | ")
}

var tsIdent = regexp.MustCompile(`^[A-Za-z_$][A-Za-z0-9_$]*$`)

// key is a property name: bare when it is an identifier, else a string.
func key(name string) string {
	if tsIdent.MatchString(name) {
		return name
	}
	return quote(name)
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func quoteList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
