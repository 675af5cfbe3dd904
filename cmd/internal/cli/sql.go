package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/madbase/madbase/cmd/internal/devmode"
	"github.com/madbase/madbase/shared/config"
	"github.com/madbase/madbase/shared/db/migrate"
	"github.com/madbase/madbase/shared/db/pgcluster"
)

// runSQL runs SQL on the database of the running `madbase dev` (or
// DATABASE_URL): a query given as arguments, a file with -f, SQL piped on
// stdin, or else an interactive psql.
func runSQL(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flagSet("sql", "Usage: madbase sql [flags] ['query']\n\nRuns SQL on the database of the running madbase dev (or DATABASE_URL):\n"+
		"a query, a file with -f, SQL on stdin, or else an interactive psql.\n\nFlags:", stderr)
	file := fs.String("f", "", "run the SQL statements of this file")
	asJSON := fs.Bool("json", false, "print rows as JSON arrays of objects, one line per result")
	dbURL := fs.String("db-url", "", "database URL (default: DATABASE_URL, else the running madbase dev's)")
	project := fs.String("project", "", "run it on this project's database, through control's admin API")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if *project != "" && *dbURL != "" {
		return fmt.Errorf("%w: give --project or --db-url, not both", errUsage)
	}
	var sql, where string
	switch {
	case *file != "" && fs.NArg() > 0:
		return fmt.Errorf("%w: give a query or -f, not both", errUsage)
	case *file != "":
		b, err := os.ReadFile(*file)
		if err != nil {
			return err
		}
		sql, where = string(b), *file
	case fs.NArg() > 0:
		sql = strings.Join(fs.Args(), " ")
	case !isTerminal(os.Stdin):
		b, err := io.ReadAll(os.Stdin)
		if err != nil {
			return err
		}
		sql, where = string(b), "stdin"
	case *project != "":
		return fmt.Errorf("%w: --project runs a query given as arguments, with -f or on stdin; it opens no psql", errUsage)
	default:
		url, err := databaseURL(*dbURL)
		if err != nil {
			return err
		}
		return interactivePSQL(ctx, url, stdout, stderr)
	}
	if *project != "" {
		return projectSQL(ctx, *project, sql, where, *asJSON, stdout, stderr)
	}
	url, err := databaseURL(*dbURL)
	if err != nil {
		return err
	}
	conn, err := pgconn.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("connect to the database: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	results, err := conn.Exec(ctx, sql).ReadAll()
	for _, r := range results {
		if r.Err == nil {
			printResult(stdout, r, *asJSON)
		}
	}
	if err != nil {
		if where != "" {
			return &migrate.FileError{Path: where, Line: migrate.ErrorLine(sql, err), Err: err}
		}
		return err
	}
	return nil
}

// databaseURL is flag's URL, else DATABASE_URL, else the running dev's.
func databaseURL(flagURL string) (string, error) {
	if flagURL != "" {
		return flagURL, nil
	}
	if v := os.Getenv("DATABASE_URL"); v != "" {
		return v, nil
	}
	_, st, err := findDev()
	if err != nil {
		return "", fmt.Errorf("%w; or set DATABASE_URL", err)
	}
	if st.DatabaseURL == "" {
		return "", errors.New("the running madbase dev did not record its database URL")
	}
	return st.DatabaseURL, nil
}

// findDev finds the running `madbase dev`: the one of MADBASE_DATA_DIR when
// set, else of ./.madbase, else the only one registered.
func findDev() (string, devmode.State, error) {
	dir, explicit := os.LookupEnv("MADBASE_DATA_DIR")
	if !explicit || dir == "" {
		var dcfg config.Dev
		_ = config.Load(&dcfg, config.Map(nil))
		dir, explicit = dcfg.DataDir, false
	}
	return devmode.Find(dir, explicit)
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// interactivePSQL hands the terminal to psql, from PATH or beside the
// PostgreSQL binaries madbase dev uses.
func interactivePSQL(ctx context.Context, dbURL string, stdout, stderr io.Writer) error {
	psql, err := exec.LookPath("psql")
	if err != nil {
		if dir, ferr := pgcluster.DefaultSearch.Find(); ferr == nil {
			if p := filepath.Join(dir, "psql"); fileExists(p) {
				psql, err = p, nil
			}
		}
	}
	if err != nil {
		return fmt.Errorf("%w: psql is not installed (apt-get install postgresql-client); pass a query "+
			"(madbase sql 'select 1'), a file (-f file.sql) or SQL on stdin instead", errUsage)
	}
	// The password goes in the environment, not on a command line that
	// every user of the machine can read.
	env := os.Environ()
	if u, err := neturl.Parse(dbURL); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok {
			env = append(env, "PGPASSWORD="+pw)
			u.User = neturl.User(u.User.Username())
			dbURL = u.String()
		}
	}
	cmd := exec.CommandContext(ctx, psql, dbURL)
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, stdout, stderr
	cmd.Cancel = func() error { return nil } // Ctrl-C reaches psql itself, which decides
	return cmd.Run()
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// printResult prints one statement's result: its rows as an aligned table
// (or JSON), or its command tag when it returns none.
func printResult(w io.Writer, r *pgconn.Result, asJSON bool) {
	if len(r.FieldDescriptions) == 0 {
		if !asJSON {
			fmt.Fprintln(w, r.CommandTag.String())
		}
		return
	}
	if asJSON {
		rows := make([]json.RawMessage, 0, len(r.Rows))
		for _, row := range r.Rows {
			var b strings.Builder
			b.WriteByte('{')
			for i, f := range r.FieldDescriptions {
				if i > 0 {
					b.WriteByte(',')
				}
				k, _ := json.Marshal(f.Name)
				b.Write(k)
				b.WriteByte(':')
				b.WriteString(jsonValue(f.DataTypeOID, row[i]))
			}
			b.WriteByte('}')
			rows = append(rows, json.RawMessage(b.String()))
		}
		out, _ := json.Marshal(rows)
		fmt.Fprintln(w, string(out))
		return
	}
	cols := len(r.FieldDescriptions)
	width := make([]int, cols)
	right := make([]bool, cols)
	for i, f := range r.FieldDescriptions {
		width[i] = utf8.RuneCountInString(f.Name)
		right[i] = numericOID(f.DataTypeOID)
	}
	for _, row := range r.Rows {
		for i, v := range row {
			width[i] = max(width[i], utf8.RuneCount(v))
		}
	}
	line := func(cells []string, align func(i int) bool) {
		var b strings.Builder
		for i, c := range cells {
			if i > 0 {
				b.WriteString(" | ")
			}
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			if align(i) {
				b.WriteString(pad + c)
			} else {
				b.WriteString(c + pad)
			}
		}
		fmt.Fprintln(w, " "+strings.TrimRight(b.String(), " "))
	}
	names := make([]string, cols)
	rule := make([]string, cols)
	for i, f := range r.FieldDescriptions {
		names[i] = f.Name
		rule[i] = strings.Repeat("-", width[i])
	}
	line(names, func(int) bool { return false })
	fmt.Fprintln(w, "-"+strings.Join(rule, "-+-")+"-")
	for _, row := range r.Rows {
		cells := make([]string, cols)
		for i, v := range row {
			cells[i] = string(v)
		}
		line(cells, func(i int) bool { return right[i] })
	}
	if len(r.Rows) == 1 {
		fmt.Fprintln(w, "(1 row)")
	} else {
		fmt.Fprintf(w, "(%d rows)\n", len(r.Rows))
	}
}

const (
	oidBool    = 16
	oidInt8    = 20
	oidInt2    = 21
	oidInt4    = 23
	oidJSON    = 114
	oidText    = 25
	oidFloat4  = 700
	oidFloat8  = 701
	oidNumeric = 1700
	oidJSONB   = 3802
)

func numericOID(oid uint32) bool {
	switch oid {
	case oidInt2, oidInt4, oidInt8, oidFloat4, oidFloat8, oidNumeric:
		return true
	}
	return false
}

// jsonValue renders a value PostgreSQL sent as text as JSON of its type.
func jsonValue(oid uint32, v []byte) string {
	if v == nil {
		return "null"
	}
	switch {
	case oid == oidBool:
		return fmt.Sprint(string(v) == "t")
	case oid == oidJSON || oid == oidJSONB:
		return string(v)
	case numericOID(oid) && json.Valid(v):
		return string(v)
	}
	s, _ := json.Marshal(string(v))
	return string(s)
}
