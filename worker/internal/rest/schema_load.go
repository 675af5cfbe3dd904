package rest

import (
	"context"
	"fmt"
	"sort"

	"github.com/jackc/pgx/v5"
)

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
  ` + typeName("p.prorettype") + `, p.prorettype::int8, rt.typtype::text, rt.typrelid::int8, rn.nspname::text, rt.typname::text
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

// Load reads the catalog of the exposed schemas and builds a Schema.
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
	s := &Schema{Schemas: append([]string(nil), schemas...), tables: map[qname]*Table{}, funcs: map[qname][]*Function{},
		roleSettings: map[string][][2]string{}}
	rows, _ := tx.Query(ctx, roleSettingsSQL)
	var role, key, val string
	_, err = pgx.ForEachRow(rows, []any{&role, &key, &val}, func() error {
		list := s.roleSettings[role]
		for i := range list {
			if list[i][0] == key { // the database-specific value comes last and wins
				list[i][1] = val
				return nil
			}
		}
		s.roleSettings[role] = append(list, [2]string{key, val})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("rest schema: role settings: %w", err)
	}
	byOID := map[int64]*Table{}

	rows, _ = tx.Query(ctx, relationsSQL, schemas)
	var oid, typeOID int64
	var sch, name, kind, comment string
	_, err = pgx.ForEachRow(rows, []any{&oid, &sch, &name, &kind, &comment, &typeOID}, func() error {
		t := &Table{Schema: sch, Name: name, Kind: kind[0], Comment: comment, colIndex: map[string]*Column{}, typeOID: typeOID,
			qname: qualifiedName(sch, name)}
		byOID[oid] = t
		if _, dup := s.tables[qname{sch, name}]; !dup || t.Kind != 'c' {
			s.tables[qname{sch, name}] = t
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("rest schema: relations: %w", err)
	}

	rows, _ = tx.Query(ctx, columnsSQL, schemas)
	var col Column
	var cat string
	_, err = pgx.ForEachRow(rows, []any{&oid, &col.Name, &col.Num, &col.Type, &col.BaseType, &cat, &col.NotNull, &col.Default, &col.Identity, &col.Comment, &col.Enum},
		func() error {
			t := byOID[oid]
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
	if err != nil {
		return nil, fmt.Errorf("rest schema: columns: %w", err)
	}

	type fk struct {
		name           string
		from, to       *Table
		fromCols, cols []string
	}
	var fks []fk
	rows, _ = tx.Query(ctx, keysSQL, schemas)
	var conname, contype string
	var cols, fcols []string
	var foid int64
	_, err = pgx.ForEachRow(rows, []any{&oid, &conname, &contype, &cols, &foid, &fcols}, func() error {
		t := byOID[oid]
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
			if to := byOID[foid]; to != nil && len(fcols) == len(cols) {
				fks = append(fks, fk{name: conname, from: t, to: to, fromCols: cols, cols: fcols})
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("rest schema: keys: %w", err)
	}

	rows, _ = tx.Query(ctx, functionsSQL, schemas)
	var (
		retset                                   bool
		volatile, rtyptype, rschema, rname, rtyp string
		nargs, ndefaults                         int
		argnames, argmodes, argtypes, argbases   []string
		argoids                                  []int64
		rettypeID, retrelID                      int64
	)
	_, err = pgx.ForEachRow(rows, []any{&oid, &sch, &name, &comment, &retset, &volatile, &nargs, &ndefaults,
		&argnames, &argmodes, &argoids, &argtypes, &argbases, &rtyp, &rettypeID, &rtyptype, &retrelID, &rschema, &rname}, func() error {
		f := &Function{Schema: sch, Name: name, Comment: comment, RetSet: retset, Volatile: volatile[0], RetType: rtyp,
			retTypeID: uint32(rettypeID), retRelID: uint32(retrelID), retSchema: rschema, retName: rname}
		var outCols []*Column
		inIdx := 0
		for i := range argtypes {
			mode := "i"
			if i < len(argmodes) {
				mode = argmodes[i]
			}
			an := ""
			if i < len(argnames) {
				an = argnames[i]
			}
			switch mode {
			case "i", "b", "v":
				f.Args = append(f.Args, Arg{Name: an, Type: argtypes[i], BaseType: argbases[i], Variadic: mode == "v", typeOID: argoids[i],
					HasDefault: inIdx >= nargs-ndefaults})
				inIdx++
			}
			switch mode {
			case "o", "b", "t":
				outCols = append(outCols, &Column{Name: an, Num: len(outCols) + 1, Type: argtypes[i], BaseType: argbases[i]})
			}
		}
		switch {
		case rtyp == "void":
			f.RetVoid = true
		case len(outCols) > 1 || (len(outCols) == 1 && rtyp == "record"):
			t := &Table{Schema: sch, Name: name, Kind: 'c', colIndex: map[string]*Column{}, qname: qualifiedName(sch, name)}
			for _, c := range outCols {
				t.Columns = append(t.Columns, c)
				t.colIndex[c.Name] = c
			}
			f.RetTable = t
		case rtyptype == "c":
			f.RetTable = byOID[retrelID] // nil for row types outside the exposed schemas
		case rtyp == "record":
			// SETOF record without OUT parameters needs a column definition
			// list: not callable through the API.
			return nil
		default:
			f.RetScalar = true
		}
		if f.RetTable == nil && !f.RetVoid && !f.RetScalar {
			return nil
		}
		s.funcs[qname{sch, name}] = append(s.funcs[qname{sch, name}], f)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("rest schema: functions: %w", err)
	}

	// Views: which of their columns come from which table columns.
	type viewCols struct {
		view *Table
		src  map[int]colSource
	}
	var views []viewCols
	rows, _ = tx.Query(ctx, viewsSQL, schemas)
	var tree string
	_, err = pgx.ForEachRow(rows, []any{&oid, &tree}, func() error {
		if v := byOID[oid]; v != nil {
			views = append(views, viewCols{view: v, src: viewColumnSources(tree)})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("rest schema: views: %w", err)
	}
	tableOID := map[*Table]int64{}
	for o, t := range byOID {
		tableOID[t] = o
	}
	// aliasesOf lists t itself and every view exposing all of cols of t,
	// with the names those columns have there.
	type alias struct {
		rel  *Table
		cols []string
	}
	aliasesOf := func(t *Table, cols []string) []alias {
		out := []alias{{rel: t, cols: cols}}
		for _, v := range views {
			var named []string
			for _, c := range cols {
				base := t.Column(c)
				found := ""
				for _, vc := range v.view.Columns {
					if s, ok := v.src[vc.Num]; ok && s.table == tableOID[t] && base != nil && s.column == base.Num {
						found = vc.Name
						break
					}
				}
				if found == "" {
					break
				}
				named = append(named, found)
			}
			if len(named) == len(cols) {
				out = append(out, alias{rel: v.view, cols: named})
			}
		}
		return out
	}

	// Relationships from foreign keys, also between views over the tables.
	for _, k := range fks {
		for _, from := range aliasesOf(k.from, k.fromCols) {
			for _, to := range aliasesOf(k.to, k.cols) {
				if from.rel == k.from && to.rel == k.to {
					continue
				}
				kind, back := ManyToOne, OneToMany
				if isUniqueSet(k.from, k.fromCols) {
					kind, back = OneToOne, OneToOne
				}
				from.rel.Rels = append(from.rel.Rels, &Relationship{Kind: kind, From: from.rel, To: to.rel, Constraint: k.name, FromCols: from.cols, ToCols: to.cols})
				to.rel.Rels = append(to.rel.Rels, &Relationship{Kind: back, From: to.rel, To: from.rel, Constraint: k.name, FromCols: to.cols, ToCols: from.cols})
			}
		}
	}
	for _, k := range fks {
		o2o := isUniqueSet(k.from, k.fromCols)
		m2o := &Relationship{Kind: ManyToOne, From: k.from, To: k.to, Constraint: k.name, FromCols: k.fromCols, ToCols: k.cols}
		o2m := &Relationship{Kind: OneToMany, From: k.to, To: k.from, Constraint: k.name, FromCols: k.cols, ToCols: k.fromCols}
		if o2o {
			m2o.Kind, o2m.Kind = OneToOne, OneToOne
		}
		k.from.Rels = append(k.from.Rels, m2o)
		k.to.Rels = append(k.to.Rels, o2m)
	}
	// Many-to-many through junction tables: two foreign keys of one table
	// whose columns are all part of its primary key or of one unique key.
	byTable := map[*Table][]fk{}
	for _, k := range fks {
		byTable[k.from] = append(byTable[k.from], k)
	}
	for j, ks := range byTable {
		for a := range ks {
			for b := range ks {
				if a == b {
					continue
				}
				k1, k2 := ks[a], ks[b]
				if !junctionKey(j, k1.fromCols, k2.fromCols) {
					continue
				}
				k1.to.Rels = append(k1.to.Rels, &Relationship{Kind: ManyToMany, From: k1.to, To: k2.to, Constraint: k1.name,
					FromCols: k1.cols, ToCols: k2.cols, Junction: j, JFromCols: k1.fromCols, JToCols: k2.fromCols, JConstraint: k2.name})
			}
		}
	}
	// Computed fields and relationships: functions whose first argument is a
	// table's row type (any other arguments have defaults).
	for _, fs := range s.funcs {
		for _, f := range fs {
			if len(f.Args) == 0 {
				continue
			}
			ok := true
			for _, a := range f.Args[1:] {
				ok = ok && a.HasDefault
			}
			if !ok {
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
	return s, nil
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
