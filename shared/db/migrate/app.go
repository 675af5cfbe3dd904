package migrate

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// An app's own migrations follow the Supabase CLI's layout, so that the repository of an
// existing Supabase project works as it is: supabase/migrations/<version>_<name>.sql, the
// version a UTC timestamp YYYYMMDDHHMMSS, applied in version order and recorded in
// supabase_migrations.schema_migrations, the table the Supabase CLI keeps (a database it
// migrated is recognised); supabase/seed.sql seeds a database the first time.

// AppMigration is one file of an app's migrations folder.
type AppMigration struct {
	Version string
	Name    string
	Path    string
	SQL     string
}

// AppResult says what RunApp did.
type AppResult struct {
	Applied []AppMigration // in the order they ran
	Seeded  bool           // seed.sql ran: the database had never been migrated this way
}

// FileError is a SQL file that PostgreSQL rejected, placed at the line of the statement at
// fault when PostgreSQL says where that is.
type FileError struct {
	Path string
	Line int // 0 when unknown
	Err  error
}

func (e *FileError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.Path, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Path, e.Err)
}

func (e *FileError) Unwrap() error { return e.Err }

// appFileRE is the Supabase CLI's pattern: digits, an underscore, any name.
var appFileRE = regexp.MustCompile(`^([0-9]+)_(.*)\.sql$`)

// LoadDir reads dir's migrations in version order. A missing folder holds none; files that
// are not named <version>_<name>.sql are returned in skipped, as the Supabase CLI skips them.
func LoadDir(dir string) (ms []AppMigration, skipped []string, err error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	} else if err != nil {
		return nil, nil, fmt.Errorf("migrate: %w", err)
	}
	seen := map[string]string{}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		m := appFileRE.FindStringSubmatch(e.Name())
		if m == nil {
			skipped = append(skipped, e.Name())
			continue
		}
		if other, dup := seen[m[1]]; dup {
			return nil, nil, fmt.Errorf("%w: %s and %s have the same version %s", ErrBadMigration, other, e.Name(), m[1])
		}
		seen[m[1]] = e.Name()
		path := filepath.Join(dir, e.Name())
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, nil, fmt.Errorf("migrate: %w", err)
		}
		ms = append(ms, AppMigration{Version: m[1], Name: m[2], Path: path, SQL: string(b)})
	}
	slices.SortFunc(ms, func(a, b AppMigration) int {
		return cmp.Or(cmp.Compare(len(a.Version), len(b.Version)), strings.Compare(a.Version, b.Version))
	})
	return ms, skipped, nil
}

// NewAppMigration creates an empty migration named name in dir, versioned with now in UTC
// as the Supabase CLI does, and returns its path.
func NewAppMigration(dir, name string, now time.Time) (string, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	name = regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(name, "_")
	name = strings.Trim(name, "_")
	if name == "" {
		return "", fmt.Errorf("%w: a migration needs a name of letters or digits", ErrBadMigration)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("migrate: %w", err)
	}
	path := filepath.Join(dir, now.UTC().Format("20060102150405")+"_"+name+".sql")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return "", fmt.Errorf("migrate: %w", err)
	}
	return path, f.Close()
}

// RunApp applies dir's pending migrations on conn, one transaction per file, and then, if
// the database had no migration history yet, the seed file (when seed names one that
// exists). It holds the migration lock like RunConn. The first failing file stops the run
// with a *FileError; the files before it stay applied.
func RunApp(ctx context.Context, conn *pgx.Conn, dir, seed string, log *slog.Logger) (res AppResult, err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ms, skipped, err := LoadDir(dir)
	if err != nil {
		return res, err
	}
	for _, name := range skipped {
		log.Warn("skipping a file of the migrations folder that is not named <timestamp>_name.sql", "file", filepath.Join(dir, name))
	}
	var seedSQL []byte
	if seed != "" {
		if seedSQL, err = os.ReadFile(seed); err != nil && !errors.Is(err, os.ErrNotExist) {
			return res, fmt.Errorf("migrate: %w", err)
		}
	}
	if len(ms) == 0 && seedSQL == nil {
		return res, nil
	}

	if _, err := conn.Exec(ctx, "select pg_advisory_lock($1)", lockKey); err != nil {
		return res, fmt.Errorf("migrate: taking the migration lock: %w", err)
	}
	defer func() {
		unlockCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, uerr := conn.Exec(unlockCtx, "select pg_advisory_unlock($1)", lockKey); uerr != nil && err == nil {
			err = fmt.Errorf("migrate: releasing the migration lock: %w", uerr)
		}
	}()

	var existed bool
	if err := conn.QueryRow(ctx, "select to_regclass('supabase_migrations.schema_migrations') is not null").Scan(&existed); err != nil {
		return res, fmt.Errorf("migrate: %w", err)
	}
	if _, err := conn.Exec(ctx, `
		create schema if not exists supabase_migrations;
		create table if not exists supabase_migrations.schema_migrations (version text not null primary key);
		alter table supabase_migrations.schema_migrations add column if not exists statements text[];
		alter table supabase_migrations.schema_migrations add column if not exists name text`); err != nil {
		return res, fmt.Errorf("migrate: creating supabase_migrations.schema_migrations: %w", err)
	}
	rows, err := conn.Query(ctx, "select version from supabase_migrations.schema_migrations")
	if err != nil {
		return res, fmt.Errorf("migrate: reading applied migrations: %w", err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return res, fmt.Errorf("migrate: reading applied migrations: %w", err)
	}
	done := map[string]bool{}
	for _, v := range versions {
		done[v] = true
	}

	for _, m := range ms {
		if done[m.Version] {
			continue
		}
		start := time.Now()
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return &FileError{Path: m.Path, Line: ErrorLine(m.SQL, err), Err: err}
			}
			_, err := tx.Exec(ctx, "insert into supabase_migrations.schema_migrations (version, name, statements) values ($1, $2, $3)",
				m.Version, m.Name, []string{m.SQL})
			return err
		})
		if err != nil {
			return res, err
		}
		res.Applied = append(res.Applied, m)
		log.Info("applied migration", "file", m.Path, "duration", time.Since(start))
	}

	if !existed && seedSQL != nil {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, string(seedSQL)); err != nil {
				return &FileError{Path: seed, Line: ErrorLine(string(seedSQL), err), Err: err}
			}
			return nil
		})
		if err != nil {
			return res, err
		}
		res.Seeded = true
		log.Info("seeded the database", "file", seed)
	}
	return res, nil
}

// ErrorLine turns PostgreSQL's error position (1-based, in characters of the statement
// text sent) into a line number; 0 when PostgreSQL gave none.
func ErrorLine(sql string, err error) int {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Position <= 0 {
		return 0
	}
	line, n := 1, int(pgErr.Position)-1
	for _, r := range sql {
		if n == 0 {
			break
		}
		if r == '\n' {
			line++
		}
		n--
	}
	return line
}
