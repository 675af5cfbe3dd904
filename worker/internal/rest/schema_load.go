package rest

import (
	"context"
	"fmt"
	"sort"

	"github.com/jackc/pgx/v5"
)

// fingerprintSQL sums up the catalogs a schema is loaded from: each one's
// row count and the sum of its rows' xmin. DDL writes catalog rows under a
// transaction id newer than every row already there, so any change between
// two readings changes the result, and reading it costs a fraction of a
// load. It is read before a load, so a change during the load shows as a
// difference next time. Of the shared role settings only this database's
// and every database's count: creating another database does not change
// this one's fingerprint.
const fingerprintSQL = `select concat_ws('/'` +
	`, (select count(*) || ':' || coalesce(sum(xmin::text::int8), 0) from pg_catalog.pg_class)` +
	`, (select count(*) || ':' || coalesce(sum(xmin::text::int8), 0) from pg_catalog.pg_attribute)` +
	`, (select count(*) || ':' || coalesce(sum(xmin::text::int8), 0) from pg_catalog.pg_attrdef)` +
	`, (select count(*) || ':' || coalesce(sum(xmin::text::int8), 0) from pg_catalog.pg_proc)` +
	`, (select count(*) || ':' || coalesce(sum(xmin::text::int8), 0) from pg_catalog.pg_constraint)` +
	`, (select count(*) || ':' || coalesce(sum(xmin::text::int8), 0) from pg_catalog.pg_namespace)` +
	`, (select count(*) || ':' || coalesce(sum(xmin::text::int8), 0) from pg_catalog.pg_type)` +
	`, (select count(*) || ':' || coalesce(sum(xmin::text::int8), 0) from pg_catalog.pg_enum)` +
	`, (select count(*) || ':' || coalesce(sum(xmin::text::int8), 0) from pg_catalog.pg_description)` +
	`, (select count(*) || ':' || coalesce(sum(xmin::text::int8), 0) from pg_catalog.pg_rewrite)` +
	`, (select count(*) || ':' || coalesce(sum(xmin::text::int8), 0) from pg_catalog.pg_index)` +
	`, (select count(*) || ':' || coalesce(sum(xmin::text::int8), 0) from pg_catalog.pg_inherits)` +
	`, (select count(*) || ':' || coalesce(sum(xmin::text::int8), 0) from pg_catalog.pg_trigger)` +
	`, (select count(*) || ':' || coalesce(sum(xmin::text::int8), 0) from pg_catalog.pg_db_role_setting` +
	` where setdatabase in (0, (select oid from pg_catalog.pg_database where datname = current_database())))` +
	`, current_database())`

// Fingerprint reads the catalog's fingerprint (see fingerprintSQL).
func Fingerprint(ctx context.Context, db interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) (string, error) {
	var fp string
	err := db.QueryRow(ctx, fingerprintSQL).Scan(&fp)
	return fp, err
}

// Queries of the catalog. They run in one read-only transaction with
// search_path = pg_catalog, so format_type qualifies every non-catalog type.
var (
	relationsSQL = `
select c.oid::int8, n.nspname::text, c.relname::text, c.relkind::text, coalesce(obj_description(c.oid, 'pg_class'), ''), c.reltype::int8
from pg_class c join pg_namespace n on n.oid = c.relnamespace
where n.nspname = any($1) and c.relkind in ('r', 'v', 'm', 'f', 'p')
union all
select c.oid::int8, n.nspname::text, c.relname::text, 'c', '', t.oid::int8
from pg_type t join pg_class c on c.oid = t.typrelid join pg_namespace n on n.oid = t.typnamespace
where n.nspname = any($1) and c.relkind = 'c'`

	columnsSQL = `
select a.attrelid::int8, a.attname::text, a.attnum::int, ` + typeName("a.atttypid") + `,
  coalesce(bt.typname, t.typname)::text, coalesce(bt.typcategory, t.typcategory)::text,
  a.attnotnull, coalesce(pg_get_expr(d.adbin, d.adrelid), ''), a.attidentity <> '', coalesce(col_description(a.attrelid, a.attnum), ''),
  coalesce((select array_agg(e.enumlabel::text order by e.enumsortorder) from pg_enum e where e.enumtypid = coalesce(bt.oid, t.oid)), '{}')
from pg_attribute a
join pg_class c on c.oid = a.attrelid
join pg_namespace n on n.oid = c.relnamespace
join pg_type t on t.oid = a.atttypid
left join pg_type bt on t.typtype = 'd' and bt.oid = t.typbasetype
left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
where n.nspname = any($1) and c.relkind in ('r', 'v', 'm', 'f', 'p', 'c') and a.attnum > 0 and not a.attisdropped
order by a.attrelid, a.attnum`

	keysSQL = `
select con.conrelid::int8, con.conname::text, con.contype::text,
  array(select a.attname::text from unnest(con.conkey) with ordinality k(n, i) join pg_attribute a on a.attrelid = con.conrelid and a.attnum = k.n order by k.i),
  con.confrelid::int8,
  array(select a.attname::text from unnest(coalesce(con.confkey, '{}')) with ordinality k(n, i) join pg_attribute a on a.attrelid = con.confrelid and a.attnum = k.n order by k.i)
from pg_constraint con
join pg_class c on c.oid = con.conrelid join pg_namespace n on n.oid = c.relnamespace
where n.nspname = any($1) and con.contype in ('p', 'u', 'f')
union all
select i.indrelid::int8, ic.relname::text, 'i',
  array(select a.attname::text from unnest(i.indkey::int2[]) with ordinality k(n, o) join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.n order by k.o),
  0, '{}'
from pg_index i join pg_class ic on ic.oid = i.indexrelid
join pg_class c on c.oid = i.indrelid join pg_namespace n on n.oid = c.relnamespace
where n.nspname = any($1) and i.indisunique and i.indpred is null and i.indexprs is null
  and not exists (select 1 from pg_constraint x where x.conindid = i.indexrelid)
order by 1, 2`

	functionsSQL = `
select p.oid::int8, n.nspname::text, p.proname::text, coalesce(obj_description(p.oid, 'pg_proc'), ''),
  p.proretset, p.provolatile::text, p.pronargs::int, p.pronargdefaults::int,
  coalesce(p.proargnames, '{}')::text[],
  coalesce(p.proargmodes, '{}')::text[],
  coalesce(p.proallargtypes, p.proargtypes::oid[])::int8[],
  array(select ` + typeName("x") + ` from unnest(coalesce(p.proallargtypes, p.proargtypes::oid[])) with ordinality u(x, o) order by o),
  array(select coalesce(bt.typname, t.typname)::text from unnest(coalesce(p.proallargtypes, p.proargtypes::oid[])) with ordinality u(x, o)
        join pg_type t on t.oid = u.x left join pg_type bt on t.typtype = 'd' and bt.oid = t.typbasetype order by o),
  ` + typeName("p.prorettype") + `, p.prorettype::int8, rt.typtype::text, rt.typrelid::int8, rn.nspname::text, rt.typname::text, p.prorows::float8
from pg_proc p
join pg_namespace n on n.oid = p.pronamespace
join pg_type rt on rt.oid = p.prorettype
join pg_namespace rn on rn.oid = rt.typnamespace
where n.nspname = any($1) and p.prokind = 'f' and (rt.typtype <> 'p' or rt.typname in ('void', 'record'))
order by n.nspname, p.proname, p.oid`
)

// typeName renders a type OID as SQL without a type modifier: format_type
// with a NULL typmod, except for character, whose bare name means char(1)
// (a cast to it would truncate a filter value).
func typeName(oid string) string {
	return "(case " + oid + " when 1042 then 'bpchar' when 1014 then 'bpchar[]' else format_type(" + oid + ", null) end)"
}

// Load reads the catalog of the exposed schemas and builds a Schema: one
// loader per catalog query, in one read-only transaction, then the
// relationships linked from what they read.
func Load(ctx context.Context, db interface {
	Begin(context.Context) (pgx.Tx, error)
}, schemas []string) (*Schema, error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, "set transaction read only; set local search_path = pg_catalog"); err != nil {
		return nil, err
	}
	l := &catalogLoader{tx: tx, schemas: schemas, byOID: map[int64]*Table{},
		s: &Schema{Schemas: append([]string(nil), schemas...), tables: map[qname]*Table{}, funcs: map[qname][]*Function{},
			roleSettings: map[string][][2]string{}}}
	if l.s.fingerprint, err = Fingerprint(ctx, tx); err != nil {
		return nil, fmt.Errorf("rest schema: fingerprint: %w", err)
	}
	for _, step := range []struct {
		what string
		load func(context.Context) error
	}{
		{"role settings", l.loadRoleSettings},
		{"relations", l.loadRelations},
		{"columns", l.loadColumns},
		{"keys", l.loadKeys},
		{"functions", l.loadFunctions},
		{"views", l.loadViews},
	} {
		if err := step.load(ctx); err != nil {
			return nil, fmt.Errorf("rest schema: %s: %w", step.what, err)
		}
	}
	l.linkForeignKeys()
	l.linkJunctions()
	l.linkComputed()
	sortRelationships(l.s)
	return l.s, nil
}

// catalogLoader holds what the catalog queries read, on the way to a
// Schema.
type catalogLoader struct {
	tx      pgx.Tx
	schemas []string
	s       *Schema
	byOID   map[int64]*Table // relations and composite types by pg_class oid
	fks     []foreignKey
	views   []viewColumns
}

// foreignKey is a foreign key between two loaded relations.
type foreignKey struct {
	name           string
	from, to       *Table
	fromCols, cols []string
}

// viewColumns says which table column each column of a view comes from.
type viewColumns struct {
	view *Table
	src  map[int]colSource
}

func (l *catalogLoader) loadRoleSettings(ctx context.Context) error {
	rows, _ := l.tx.Query(ctx, roleSettingsSQL)
	var role, key, val string
	_, err := pgx.ForEachRow(rows, []any{&role, &key, &val}, func() error {
		list := l.s.roleSettings[role]
		for i := range list {
			if list[i][0] == key { // the database-specific value comes last and wins
				list[i][1] = val
				return nil
			}
		}
		l.s.roleSettings[role] = append(list, [2]string{key, val})
		return nil
	})
	return err
}

func (l *catalogLoader) loadRelations(ctx context.Context) error {
	rows, _ := l.tx.Query(ctx, relationsSQL, l.schemas)
	var oid, typeOID int64
	var sch, name, kind, comment string
	_, err := pgx.ForEachRow(rows, []any{&oid, &sch, &name, &kind, &comment, &typeOID}, func() error {
		t := &Table{Schema: sch, Name: name, Kind: kind[0], Comment: comment, colIndex: map[string]*Column{}, typeOID: typeOID,
			qname: qualifiedName(sch, name)}
		l.byOID[oid] = t
		if _, dup := l.s.tables[qname{sch, name}]; !dup || t.Kind != 'c' {
			l.s.tables[qname{sch, name}] = t
		}
		return nil
	})
	return err
}

func (l *catalogLoader) loadColumns(ctx context.Context) error {
	rows, _ := l.tx.Query(ctx, columnsSQL, l.schemas)
	var oid int64
	var col Column
	var cat string
	_, err := pgx.ForEachRow(rows, []any{&oid, &col.Name, &col.Num, &col.Type, &col.BaseType, &cat, &col.NotNull, &col.Default,
		&col.Identity, &col.Comment, &col.Enum}, func() error {
		t := l.byOID[oid]
		if t == nil {
			return nil
		}
		c := col
		if cat != "" {
			c.Category = cat[0]
		}
		t.Columns = append(t.Columns, &c)
		t.colIndex[c.Name] = &c
		return nil
	})
	return err
}

// loadKeys reads primary keys, unique keys and indexes onto their tables,
// and keeps the foreign keys for linkForeignKeys.
func (l *catalogLoader) loadKeys(ctx context.Context) error {
	rows, _ := l.tx.Query(ctx, keysSQL, l.schemas)
	var oid, foid int64
	var conname, contype string
	var cols, fcols []string
	_, err := pgx.ForEachRow(rows, []any{&oid, &conname, &contype, &cols, &foid, &fcols}, func() error {
		t := l.byOID[oid]
		if t == nil || len(cols) == 0 {
			return nil
		}
		switch contype {
		case "p":
			t.PK = cols
			t.Uniques = append(t.Uniques, cols)
		case "u", "i":
			t.Uniques = append(t.Uniques, cols)
		case "f":
			if to := l.byOID[foid]; to != nil && len(fcols) == len(cols) {
				l.fks = append(l.fks, foreignKey{name: conname, from: t, to: to, fromCols: cols, cols: fcols})
			}
		}
		return nil
	})
	return err
}

// procRow is one row of functionsSQL.
type procRow struct {
	oid                                      int64
	schema, name, comment                    string
	retset                                   bool
	volatile, rtyptype, rschema, rname, rtyp string
	nargs, ndefaults                         int
	argnames, argmodes, argtypes, argbases   []string
	argoids                                  []int64
	rettypeID, retrelID                      int64
	rows                                     float64
}

func (l *catalogLoader) loadFunctions(ctx context.Context) error {
	rows, _ := l.tx.Query(ctx, functionsSQL, l.schemas)
	var r procRow
	_, err := pgx.ForEachRow(rows, []any{&r.oid, &r.schema, &r.name, &r.comment, &r.retset, &r.volatile, &r.nargs, &r.ndefaults,
		&r.argnames, &r.argmodes, &r.argoids, &r.argtypes, &r.argbases, &r.rtyp, &r.rettypeID, &r.rtyptype, &r.retrelID,
		&r.rschema, &r.rname, &r.rows}, func() error {
		if f := r.function(l.byOID); f != nil {
			l.s.funcs[qname{r.schema, r.name}] = append(l.s.funcs[qname{r.schema, r.name}], f)
		}
		return nil
	})
	return err
}

// function builds the Function of a row, or nil when the API cannot call
// it (SETOF record without OUT parameters needs a column definition list;
// a row type outside the exposed schemas has no table to shape it).
func (r *procRow) function(byOID map[int64]*Table) *Function {
	f := &Function{Schema: r.schema, Name: r.name, Comment: r.comment, RetSet: r.retset, Rows: r.rows, Volatile: r.volatile[0], RetType: r.rtyp,
		retTypeID: uint32(r.rettypeID), retRelID: uint32(r.retrelID), retSchema: r.rschema, retName: r.rname}
	var outCols []*Column
	f.Args, outCols = r.args()
	switch {
	case r.rtyp == "void":
		f.RetVoid = true
	case len(outCols) > 1 || (len(outCols) == 1 && r.rtyp == "record"):
		t := &Table{Schema: r.schema, Name: r.name, Kind: 'c', colIndex: map[string]*Column{}, qname: qualifiedName(r.schema, r.name)}
		for _, c := range outCols {
			t.Columns = append(t.Columns, c)
			t.colIndex[c.Name] = c
		}
		f.RetTable = t
	case r.rtyptype == "c":
		f.RetTable = byOID[r.retrelID]
	case r.rtyp == "record":
		return nil
	default:
		f.RetScalar = true
	}
	if f.RetTable == nil && !f.RetVoid && !f.RetScalar {
		return nil
	}
	return f
}

// args splits a function's arguments by mode: the inputs a call passes
// (in, inout, variadic) and the columns of its result (out, inout, table).
func (r *procRow) args() (in []Arg, out []*Column) {
	for i := range r.argtypes {
		mode := "i"
		if i < len(r.argmodes) {
			mode = r.argmodes[i]
		}
		name := ""
		if i < len(r.argnames) {
			name = r.argnames[i]
		}
		switch mode {
		case "i", "b", "v":
			in = append(in, Arg{Name: name, Type: r.argtypes[i], BaseType: r.argbases[i], Variadic: mode == "v", typeOID: r.argoids[i],
				HasDefault: len(in) >= r.nargs-r.ndefaults})
		}
		switch mode {
		case "o", "b", "t":
			out = append(out, &Column{Name: name, Num: len(out) + 1, Type: r.argtypes[i], BaseType: r.argbases[i]})
		}
	}
	return in, out
}

// loadViews reads, for each view, which table column each of its columns
// comes from.
func (l *catalogLoader) loadViews(ctx context.Context) error {
	rows, _ := l.tx.Query(ctx, viewsSQL, l.schemas)
	var oid int64
	var tree string
	_, err := pgx.ForEachRow(rows, []any{&oid, &tree}, func() error {
		if v := l.byOID[oid]; v != nil {
			l.views = append(l.views, viewColumns{view: v, src: viewColumnSources(tree)})
		}
		return nil
	})
	return err
}

// relAlias is a relation exposing a key's columns, under the names they
// have there.
type relAlias struct {
	rel  *Table
	cols []string
}

// aliasesOf lists t itself and every view exposing all of cols of t,
// with the names those columns have there.
func (l *catalogLoader) aliasesOf(t *Table, tOID int64, cols []string) []relAlias {
	out := []relAlias{{rel: t, cols: cols}}
	for _, v := range l.views {
		var named []string
		for _, c := range cols {
			found := v.columnFrom(tOID, t.Column(c))
			if found == "" {
				break
			}
			named = append(named, found)
		}
		if len(named) == len(cols) {
			out = append(out, relAlias{rel: v.view, cols: named})
		}
	}
	return out
}

// columnFrom names the view's column that is base, a column of the table
// with oid table, or "".
func (v viewColumns) columnFrom(table int64, base *Column) string {
	if base == nil {
		return ""
	}
	for _, vc := range v.view.Columns {
		if s, ok := v.src[vc.Num]; ok && s.table == table && s.column == base.Num {
			return vc.Name
		}
	}
	return ""
}

// linkForeignKeys adds the relationships of each foreign key: between
// views over its tables first, then between the tables themselves.
func (l *catalogLoader) linkForeignKeys() {
	oidOf := make(map[*Table]int64, len(l.byOID))
	for o, t := range l.byOID {
		oidOf[t] = o
	}
	for _, k := range l.fks {
		kind, back := ManyToOne, OneToMany
		if isUniqueSet(k.from, k.fromCols) {
			kind, back = OneToOne, OneToOne
		}
		for _, from := range l.aliasesOf(k.from, oidOf[k.from], k.fromCols) {
			for _, to := range l.aliasesOf(k.to, oidOf[k.to], k.cols) {
				if from.rel == k.from && to.rel == k.to {
					continue
				}
				from.rel.Rels = append(from.rel.Rels, &Relationship{Kind: kind, From: from.rel, To: to.rel, Constraint: k.name,
					FromCols: from.cols, ToCols: to.cols})
				to.rel.Rels = append(to.rel.Rels, &Relationship{Kind: back, From: to.rel, To: from.rel, Constraint: k.name,
					FromCols: to.cols, ToCols: from.cols})
			}
		}
	}
	for _, k := range l.fks {
		kind, back := ManyToOne, OneToMany
		if isUniqueSet(k.from, k.fromCols) {
			kind, back = OneToOne, OneToOne
		}
		k.from.Rels = append(k.from.Rels, &Relationship{Kind: kind, From: k.from, To: k.to, Constraint: k.name, FromCols: k.fromCols, ToCols: k.cols})
		k.to.Rels = append(k.to.Rels, &Relationship{Kind: back, From: k.to, To: k.from, Constraint: k.name, FromCols: k.cols, ToCols: k.fromCols})
	}
}

// linkJunctions adds many-to-many relationships through junction tables:
// two foreign keys of one table whose columns are all part of its primary
// key or of one unique key.
func (l *catalogLoader) linkJunctions() {
	byTable := map[*Table][]foreignKey{}
	for _, k := range l.fks {
		byTable[k.from] = append(byTable[k.from], k)
	}
	for j, ks := range byTable {
		for a := range ks {
			for b := range ks {
				k1, k2 := ks[a], ks[b]
				if a == b || !junctionKey(j, k1.fromCols, k2.fromCols) {
					continue
				}
				k1.to.Rels = append(k1.to.Rels, &Relationship{Kind: ManyToMany, From: k1.to, To: k2.to, Constraint: k1.name,
					FromCols: k1.cols, ToCols: k2.cols, Junction: j, JFromCols: k1.fromCols, JToCols: k2.fromCols, JConstraint: k2.name})
			}
		}
	}
}

// linkComputed adds computed fields and relationships: functions whose
// first argument is a table's row type (any other arguments have
// defaults); those returning an exposed table's rows are relationships.
func (l *catalogLoader) linkComputed() {
	s := l.s
	for _, fs := range s.funcs {
		for _, f := range fs {
			if !computedOn(f) {
				continue
			}
			for _, t := range s.tables {
				if t.Kind != 'c' && f.Args[0].typeOID == t.typeOID {
					t.Computed = append(t.Computed, f)
				}
			}
		}
	}
	for _, t := range s.tables {
		for _, f := range t.Computed {
			if f.RetTable != nil && s.tables[qname{f.RetTable.Schema, f.RetTable.Name}] == f.RetTable && f.RetTable.Kind != 'c' {
				t.Rels = append(t.Rels, &Relationship{Kind: ComputedRel, From: t, To: f.RetTable, Constraint: f.Name, Func: f})
			}
		}
	}
}

// computedOn reports a function callable with a row alone: one argument,
// or more whose others all have defaults.
func computedOn(f *Function) bool {
	if len(f.Args) == 0 {
		return false
	}
	for _, a := range f.Args[1:] {
		if !a.HasDefault {
			return false
		}
	}
	return true
}

// sortRelationships orders each table's relationships and computed
// fields, so that hints, errors and OpenAPI read the same on every load.
func sortRelationships(s *Schema) {
	for _, t := range s.tables {
		sort.SliceStable(t.Rels, func(i, j int) bool {
			a, b := t.Rels[i], t.Rels[j]
			if a.To.Name != b.To.Name {
				return a.To.Name < b.To.Name
			}
			if a.Kind != b.Kind {
				return a.Kind < b.Kind
			}
			return a.Constraint < b.Constraint
		})
		sort.SliceStable(t.Computed, func(i, j int) bool { return t.Computed[i].Name < t.Computed[j].Name })
	}
}

func isUniqueSet(t *Table, cols []string) bool {
	for _, u := range t.Uniques {
		if sameSet(u, cols) {
			return true
		}
	}
	return false
}

func junctionKey(j *Table, a, b []string) bool {
	for _, u := range j.Uniques {
		if subset(a, u) && subset(b, u) {
			return true
		}
	}
	return false
}

func subset(a, b []string) bool {
	for _, x := range a {
		found := false
		for _, y := range b {
			found = found || x == y
		}
		if !found {
			return false
		}
	}
	return true
}

func sameSet(a, b []string) bool { return len(a) == len(b) && subset(a, b) && subset(b, a) }
