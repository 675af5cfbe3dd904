package rest

import (
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Schema is one immutable snapshot of the catalog for the exposed schemas:
// what the translator may name in SQL. It is built completely and then
// swapped in (see Cache); requests never see a half-built one.
type Schema struct {
	// Schemas are the exposed schemas, in configuration order.
	Schemas []string
	tables  map[qname]*Table
	funcs   map[qname][]*Function
	// roleSettings are the ALTER ROLE … SET values of the request roles
	// (statement_timeout …) that a request applies after SET ROLE, as
	// PostgREST does; only settings a user may change are kept.
	roleSettings map[string][][2]string
	// fingerprint is the catalog's fingerprint read before the load (see
	// fingerprintSQL).
	fingerprint string
}

// RoleSettings returns the settings applied to requests of a role.
func (s *Schema) RoleSettings(role string) [][2]string { return s.roleSettings[role] }

// roleSettingsSQL reads the per-role (and per-role-and-database) settings
// of the request roles; the database-specific value wins.
const roleSettingsSQL = `
select r.rolname::text, split_part(c.cfg, '=', 1), substr(c.cfg, strpos(c.cfg, '=') + 1)
from pg_db_role_setting s
join pg_roles r on r.oid = s.setrole
cross join lateral unnest(s.setconfig) c(cfg)
join pg_settings ps on ps.name = split_part(c.cfg, '=', 1) and ps.context = 'user'
where r.rolname in ('anon', 'authenticated', 'service_role')
  and s.setdatabase in (0, (select oid from pg_database where datname = current_database()))
order by r.rolname, s.setdatabase, 2`

type qname struct{ schema, name string }

// Table is a table, view, materialized view, foreign table, or a composite
// type (only reachable as a function's result).
type Table struct {
	Schema, Name string
	// Kind is pg_class.relkind: r, p (partitioned), v, m, f, or c (composite).
	Kind     byte
	Comment  string
	Columns  []*Column
	colIndex map[string]*Column
	PK       []string
	// Uniques are the column sets of unique constraints and unique indexes.
	Uniques [][]string
	// Rels are the relationships usable to embed from this table.
	Rels []*Relationship
	// Computed are functions taking this table's row type: computed fields
	// (scalar result) and computed relationships (table result).
	Computed []*Function
	typeOID  int64
	qname    string // QName, computed when loaded
}

// Column is one column; Type is its type as SQL (format_type, qualified).
type Column struct {
	Name     string
	Num      int
	Type     string
	BaseType string // the (domain's base) type name without schema, e.g. int4, jsonb, _text
	Category byte   // pg_type.typcategory of the base type: A array, R range, S string ...
	NotNull  bool
	Default  string
	Identity bool
	Comment  string
	Enum     []string
}

// Column finds a column by name.
func (t *Table) Column(name string) *Column { return t.colIndex[name] }

// QName is the table's name as SQL: "schema"."name".
func (t *Table) QName() string {
	if t.qname != "" {
		return t.qname
	}
	return qualifiedName(t.Schema, t.Name)
}

// qualifiedName is "schema"."name", in one allocation when neither needs
// escaping.
func qualifiedName(schema, name string) string {
	if plainIdent(schema) && plainIdent(name) {
		return `"` + schema + `"."` + name + `"`
	}
	return quoteIdent(schema) + "." + quoteIdent(name)
}

// IsView reports whether the relation is a view of any kind.
func (t *Table) IsView() bool { return t.Kind == 'v' || t.Kind == 'm' }

// RelKind says how many rows an embedded relationship gives per parent.
type RelKind int

const (
	ManyToOne RelKind = iota
	OneToMany
	OneToOne
	ManyToMany
	ComputedRel
)

func (k RelKind) String() string {
	return [...]string{"many-to-one", "one-to-many", "one-to-one", "many-to-many", "computed"}[k]
}

// Relationship links From to To. For direct foreign keys, FromCols[i] =
// ToCols[i]. For many-to-many, Junction's JFromCols reference From's
// FromCols and its JToCols reference To's ToCols.
type Relationship struct {
	Kind       RelKind
	From, To   *Table
	Constraint string
	FromCols   []string
	ToCols     []string

	Junction    *Table
	JFromCols   []string
	JToCols     []string
	JConstraint string // the constraint from the junction to To
	// Func is the function of a computed relationship.
	Func *Function
}

// ToOne reports whether the relationship yields at most one row.
func (r *Relationship) ToOne() bool {
	switch r.Kind {
	case ManyToOne, OneToOne:
		return true
	case ComputedRel:
		// SETOF t ROWS 1 declares at most one row, as PostgREST reads it.
		return !r.Func.RetSet || r.Func.Rows == 1
	}
	return false
}

// Function is a callable function of an exposed schema.
type Function struct {
	Schema, Name string
	Comment      string
	Args         []Arg
	RetSet       bool
	// Rows is pg_proc.prorows, the rows a set-returning function is
	// declared to return (ROWS n).
	Rows float64
	// RetType is the result type as SQL; RetTable is set when the result is
	// a row type (a table's, a composite type's, or OUT/TABLE columns).
	RetType   string
	RetTable  *Table
	RetVoid   bool
	RetScalar bool
	Volatile  byte // pg_proc.provolatile: i, s, v
	retTypeID uint32
	retRelID  uint32
	retSchema string
	retName   string
}

// Arg is one input argument.
type Arg struct {
	Name       string
	Type       string
	BaseType   string
	HasDefault bool
	Variadic   bool
	typeOID    int64
}

// QName is the function's name as SQL.
func (f *Function) QName() string { return quoteIdent(f.Schema) + "." + quoteIdent(f.Name) }

// Table finds a table or view of an exposed schema.
func (s *Schema) Table(schema, name string) *Table {
	t := s.tables[qname{schema, name}]
	if t == nil || t.Kind == 'c' {
		return nil
	}
	return t
}

// Functions lists the overloads of a function.
func (s *Schema) Functions(schema, name string) []*Function { return s.funcs[qname{schema, name}] }

// Tables lists the tables and views of one schema, sorted by name.
func (s *Schema) Tables(schema string) []*Table {
	var out []*Table
	for k, t := range s.tables {
		if k.schema == schema && t.Kind != 'c' {
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// AllFunctions lists the functions of one schema, sorted by name.
func (s *Schema) AllFunctions(schema string) []*Function {
	var out []*Function
	for k, fs := range s.funcs {
		if k.schema == schema {
			out = append(out, fs...)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Exposed reports whether a schema is exposed.
func (s *Schema) Exposed(schema string) bool {
	for _, x := range s.Schemas {
		if x == schema {
			return true
		}
	}
	return false
}

// quoteIdent quotes an identifier for SQL; names come from the catalog.
func quoteIdent(s string) string {
	if plainIdent(s) {
		return `"` + s + `"` // what Sanitize makes of it, in one allocation
	}
	return pgx.Identifier{s}.Sanitize()
}

// plainIdent reports whether s quotes as itself between double quotes (no
// double quote to double, no NUL to drop).
func plainIdent(s string) bool {
	return strings.IndexByte(s, '"') < 0 && strings.IndexByte(s, 0) < 0
}

// describeRel renders a relationship for PGRST201's details.
func describeRel(r *Relationship) map[string]string {
	rel := ""
	switch r.Kind {
	case ManyToMany:
		rel = fmt.Sprintf("%s using %s(%s) and %s(%s)", r.Junction.Name, r.Constraint, strings.Join(r.JFromCols, ", "),
			r.JConstraint, strings.Join(r.JToCols, ", "))
	case ComputedRel:
		rel = r.Func.Name
	default:
		rel = fmt.Sprintf("%s using %s(%s) and %s(%s)", r.Constraint, r.From.Name, strings.Join(r.FromCols, ", "),
			r.To.Name, strings.Join(r.ToCols, ", "))
	}
	return map[string]string{
		"cardinality":  r.Kind.String(),
		"embedding":    r.From.Name + " with " + r.To.Name,
		"relationship": rel,
	}
}
