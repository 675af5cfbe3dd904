// Package migrate applies embedded SQL migrations. Each tier that owns tables ships its
// files in a `migrations` package (the platform roles and auth helpers in shared/db/platform, the worker's
// auth and storage schemas) and hands them over as a Source; Run applies what a database
// lacks, whichever process gets there first.
package migrate

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Source is one named set of migrations. Files are named NNNN_name.up.sql (at least four
// digits, then lower-case words) at the root of FS; other files are ignored so that an
// os.DirFS of a package directory works as well as an embed.FS. The name keys the tracking
// table, so versions only have to be unique within a source.
type Source struct {
	Name string
	FS   fs.FS
}

// Migration is one parsed file.
type Migration struct {
	Source  string
	Version int
	Name    string
	File    string
	SQL     string
}

// ErrBadMigration is wrapped by every error about the migration files themselves (as
// opposed to the database), so that a caller can tell a packaging bug from an outage.
var ErrBadMigration = errors.New("migrate: bad migration files")

// lockKey is the pg_advisory_lock key every MadBase migrator takes ("madbase!" in ASCII).
// Advisory locks are per database, so migrating different databases never waits.
const lockKey int64 = 0x6d61646261736521

var fileRE = regexp.MustCompile(`^(\d{4,})_([a-z0-9][a-z0-9_]*)\.up\.sql$`)

// Load parses and orders a source's files without touching any database, so bad files are
// reported before anything is applied.
func Load(src Source) ([]Migration, error) {
	if src.Name == "" || src.FS == nil {
		return nil, fmt.Errorf("%w: a source needs a Name and an FS", ErrBadMigration)
	}
	entries, err := fs.ReadDir(src.FS, ".")
	if err != nil {
		return nil, fmt.Errorf("%w: source %q: %w", ErrBadMigration, src.Name, err)
	}
	var ms []Migration
	seen := map[int]string{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		m := fileRE.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("%w: source %q: file %q is not named NNNN_name.up.sql "+
				"(four or more digits, an underscore, lower-case letters, digits and underscores; down migrations are not supported)",
				ErrBadMigration, src.Name, e.Name())
		}
		v, err := strconv.Atoi(m[1])
		if err != nil || v == 0 {
			return nil, fmt.Errorf("%w: source %q: file %q: the version must be a positive number", ErrBadMigration, src.Name, e.Name())
		}
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("%w: source %q: files %q and %q have the same version %d", ErrBadMigration, src.Name, other, e.Name(), v)
		}
		seen[v] = e.Name()
		b, err := fs.ReadFile(src.FS, path.Clean(e.Name()))
		if err != nil {
			return nil, fmt.Errorf("%w: source %q: %w", ErrBadMigration, src.Name, err)
		}
		ms = append(ms, Migration{Source: src.Name, Version: v, Name: m[2], File: e.Name(), SQL: string(b)})
	}
	slices.SortFunc(ms, func(a, b Migration) int { return a.Version - b.Version })
	return ms, nil
}

// Run applies the sources' pending migrations on a connection of its own from pool, which
// it holds for the session-level advisory lock. See RunConn.
func Run(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger, sources ...Source) (applied int, err error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	defer func() {
		// A connection whose unlock failed may still hold the lock; closing it is what
		// releases it, and the pool then discards it rather than lend it out.
		if err != nil && !conn.Conn().IsClosed() {
			closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_ = conn.Conn().Close(closeCtx)
			cancel()
		}
		conn.Release()
	}()
	return RunConn(ctx, conn.Conn(), log, sources...)
}

// RunConn applies the sources' pending migrations, sources in the order given and each
// source's files in version order, one transaction per file, recording each in
// madbase_migrations.applied. It holds a session-level advisory lock throughout, so when
// several processes start at once one migrates and the others wait, then find nothing to
// do. It returns how many files it applied; a failing file is rolled back alone, after the
// ones before it were committed.
//
// Statements that cannot run in a transaction (CREATE INDEX CONCURRENTLY) cannot be used.
func RunConn(ctx context.Context, conn *pgx.Conn, log *slog.Logger, sources ...Source) (applied int, err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var all []Migration
	names := map[string]bool{}
	for _, src := range sources {
		if names[src.Name] {
			return 0, fmt.Errorf("%w: source %q given twice", ErrBadMigration, src.Name)
		}
		names[src.Name] = true
		ms, err := Load(src)
		if err != nil {
			return 0, err
		}
		all = append(all, ms...)
	}
	if len(all) == 0 {
		return 0, nil
	}

	if _, err := conn.Exec(ctx, "select pg_advisory_lock($1)", lockKey); err != nil {
		return 0, fmt.Errorf("migrate: taking the migration lock: %w", err)
	}
	defer func() {
		unlockCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, uerr := conn.Exec(unlockCtx, "select pg_advisory_unlock($1)", lockKey); uerr != nil && err == nil {
			err = fmt.Errorf("migrate: releasing the migration lock: %w", uerr)
		}
	}()

	if _, err := conn.Exec(ctx, `
		create schema if not exists madbase_migrations;
		create table if not exists madbase_migrations.applied (
			source     text        not null,
			version    int         not null,
			name       text        not null,
			applied_at timestamptz not null default now(),
			primary key (source, version)
		)`); err != nil {
		return 0, fmt.Errorf("migrate: creating the tracking table: %w", err)
	}

	done, err := appliedVersions(ctx, conn)
	if err != nil {
		return 0, err
	}
	for _, m := range all {
		key := m.Source + "/" + strconv.Itoa(m.Version)
		if name, ok := done[key]; ok {
			if name != m.Name {
				log.Warn("applied migration was renamed since; not re-applying it",
					"source", m.Source, "version", m.Version, "applied_name", name, "file", m.File)
			}
			continue
		}
		start := time.Now()
		if err := apply(ctx, conn, m); err != nil {
			return applied, err
		}
		applied++
		log.Info("applied migration", "source", m.Source, "version", m.Version, "name", m.Name,
			"duration", time.Since(start))
	}
	return applied, nil
}

func appliedVersions(ctx context.Context, conn *pgx.Conn) (map[string]string, error) {
	rows, err := conn.Query(ctx, "select source, version, name from madbase_migrations.applied")
	if err != nil {
		return nil, fmt.Errorf("migrate: reading applied migrations: %w", err)
	}
	done := map[string]string{}
	var source, name string
	var version int
	_, err = pgx.ForEachRow(rows, []any{&source, &version, &name}, func() error {
		done[source+"/"+strconv.Itoa(version)] = name
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("migrate: reading applied migrations: %w", err)
	}
	return done, nil
}

func apply(ctx context.Context, conn *pgx.Conn, m Migration) error {
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		// No arguments: pgx sends the file with the simple protocol, so it may hold many statements.
		if _, err := tx.Exec(ctx, m.SQL); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "insert into madbase_migrations.applied (source, version, name) values ($1, $2, $3)",
			m.Source, m.Version, m.Name)
		return err
	})
	if err != nil {
		return fmt.Errorf("migrate: %s/%s: %w", m.Source, m.File, err)
	}
	return nil
}
