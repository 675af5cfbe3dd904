package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/madbase/madbase/worker/typegen"
)

// runGen runs `madbase gen types typescript`: the Database type for
// supabase-js's createClient<Database>(), from the schema cache the REST
// API uses, on stdout.
func runGen(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "types" {
		fmt.Fprintln(stderr, "Usage: madbase gen types typescript [--schema NAME]... [--db-url URL] > database.types.ts")
		return fmt.Errorf("%w: the one generator is: gen types typescript", errUsage)
	}
	fs := flagSet("gen types", "Usage: madbase gen types typescript [flags] > database.types.ts\n\n"+
		"Writes the TypeScript Database type that createClient<Database>() takes, for the given schemas of the\n"+
		"database of the running madbase dev (or DATABASE_URL).\n\nFlags:", stderr)
	var schemas schemaList
	fs.Var(&schemas, "schema", "a schema to generate (repeatable, or comma-separated; default public)")
	lang := fs.String("lang", "typescript", "output language (only typescript)")
	dbURL := fs.String("db-url", "", "database URL (default: DATABASE_URL, else the running madbase dev's)")
	fs.Bool("local", false, "the running madbase dev's database (the default; accepted as the Supabase CLI spells it)")
	rest := args[1:]
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		*lang, rest = rest[0], rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if *lang != "typescript" {
		return fmt.Errorf("%w: unknown language %q: only typescript", errUsage, *lang)
	}
	if len(schemas) == 0 {
		schemas = schemaList{"public"}
	}
	url, err := databaseURL(*dbURL)
	if err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("connect to the database: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if missing, err := missingSchemas(ctx, conn, schemas); err != nil {
		return err
	} else if len(missing) > 0 {
		return fmt.Errorf("%w: no schema named %s in the database", errUsage, strings.Join(missing, ", "))
	}
	c, err := typegen.Load(ctx, conn, schemas)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(stdout)
	if err := typegen.Render(w, c); err != nil {
		return err
	}
	return w.Flush()
}

// missingSchemas lists the names that are not schemas of the database, so
// that a typo is an error rather than an empty type.
func missingSchemas(ctx context.Context, conn *pgx.Conn, schemas []string) ([]string, error) {
	rows, _ := conn.Query(ctx, "select s from unnest($1::text[]) s where not exists (select 1 from pg_namespace where nspname = s)", schemas)
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// schemaList is a repeatable --schema flag that also takes a comma list.
type schemaList []string

func (l *schemaList) String() string { return strings.Join(*l, ",") }

func (l *schemaList) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" && !slices.Contains(*l, s) {
			*l = append(*l, s)
		}
	}
	return nil
}
