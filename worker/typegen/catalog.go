// Package typegen writes the TypeScript Database type that supabase-js's
// createClient<Database>() takes, in the shape the Supabase CLI generates,
// from the schema cache the REST API itself uses: the types say what
// /rest/v1 will accept and return.
package typegen

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/madbase/madbase/worker/internal/rest"
)

// Catalog is what the types are rendered from: the REST schema cache of
// the generated schemas, and the few facts the cache does not keep.
type Catalog struct {
	Schema *rest.Schema
	// Enums are every enum type of the database by its SQL name (as the
	// cache writes column types: schema-qualified outside pg_catalog), so
	// that a column of an enum from a schema not generated still gets its
	// labels.
	Enums map[string]Enum
	// Updatable are the views that take INSERT or UPDATE, with the columns
	// that can be written.
	Updatable map[[2]string]map[string]bool
	// ReadOnly are the columns a write must not name: GENERATED ALWAYS
	// identities and generated columns, by schema, table and column.
	ReadOnly map[[3]string]bool
	// FKOwners names, by schema and constraint, the table that holds each
	// foreign key and its columns, to tell which side of a one-to-one
	// relationship the key belongs to.
	FKOwners map[[2]string]fkOwner
}

// Enum is an enum type and its labels in order.
type Enum struct {
	Schema, Name string
	Labels       []string
}

type fkOwner struct {
	table string
	cols  []string
}

const (
	enumsSQL = `
select n.nspname::text, t.typname::text, format_type(t.oid, null),
  array(select e.enumlabel::text from pg_enum e where e.enumtypid = t.oid order by e.enumsortorder)
from pg_type t join pg_namespace n on n.oid = t.typnamespace
where t.typtype = 'e'`

	updatableSQL = `
select n.nspname::text, c.relname::text, a.attname::text, pg_column_is_updatable(c.oid, a.attnum, false)
from pg_class c join pg_namespace n on n.oid = c.relnamespace
join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
where n.nspname = any($1) and c.relkind = 'v' and pg_relation_is_updatable(c.oid, false) & 12 <> 0`

	readOnlySQL = `
select n.nspname::text, c.relname::text, a.attname::text
from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
where n.nspname = any($1) and c.relkind in ('r', 'p', 'f') and a.attnum > 0 and not a.attisdropped
  and (a.attidentity = 'a' or a.attgenerated <> '')`

	fkOwnersSQL = `
select n.nspname::text, con.conname::text, c.relname::text,
  array(select a.attname::text from unnest(con.conkey) with ordinality k(n, i) join pg_attribute a on a.attrelid = con.conrelid and a.attnum = k.n order by k.i)
from pg_constraint con join pg_class c on c.oid = con.conrelid join pg_namespace n on n.oid = c.relnamespace
where n.nspname = any($1) and con.contype = 'f'`
)

// Load reads the catalog of the given schemas through the REST schema
// loader, then the facts only type generation needs, in one read-only
// transaction with the loader's search_path, so that type names match.
func Load(ctx context.Context, conn *pgx.Conn, schemas []string) (*Catalog, error) {
	s, err := rest.Load(ctx, conn, schemas)
	if err != nil {
		return nil, err
	}
	c := &Catalog{Schema: s, Enums: map[string]Enum{}, Updatable: map[[2]string]map[string]bool{},
		ReadOnly: map[[3]string]bool{}, FKOwners: map[[2]string]fkOwner{}}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, "set transaction read only; set local search_path = pg_catalog"); err != nil {
		return nil, err
	}
	var sch, name, col, sqlName string
	var labels, cols []string
	var ok bool
	for _, q := range []struct {
		what string
		sql  string
		args []any
		dest []any
		row  func()
	}{
		{"enums", enumsSQL, nil, []any{&sch, &name, &sqlName, &labels}, func() {
			c.Enums[sqlName] = Enum{Schema: sch, Name: name, Labels: slices.Clone(labels)}
		}},
		{"updatable views", updatableSQL, []any{schemas}, []any{&sch, &name, &col, &ok}, func() {
			k := [2]string{sch, name}
			if c.Updatable[k] == nil {
				c.Updatable[k] = map[string]bool{}
			}
			c.Updatable[k][col] = ok
		}},
		{"generated columns", readOnlySQL, []any{schemas}, []any{&sch, &name, &col}, func() {
			c.ReadOnly[[3]string{sch, name, col}] = true
		}},
		{"foreign keys", fkOwnersSQL, []any{schemas}, []any{&sch, &name, &col, &cols}, func() {
			c.FKOwners[[2]string{sch, name}] = fkOwner{table: col, cols: slices.Clone(cols)}
		}},
	} {
		rows, _ := tx.Query(ctx, q.sql, q.args...)
		if _, err := pgx.ForEachRow(rows, q.dest, func() error { q.row(); return nil }); err != nil {
			return nil, fmt.Errorf("typegen: %s: %w", q.what, err)
		}
	}
	return c, nil
}
