package projects

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/madbase/madbase/shared/db/migrate"
)

// connectTimeout bounds connecting to a project's database.
const connectTimeout = 10 * time.Second

// createDatabase creates name on the platform's server and returns its URL:
// the platform's URL with the database replaced. name comes from a checked
// ref and is quoted as an identifier anyway.
func (s *Store) createDatabase(ctx context.Context, name string) (string, error) {
	_, err := s.pool.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pe *pgconn.PgError
	// duplicate_database; or, when another CREATE DATABASE of the same name
	// runs at the same moment, a unique violation in the catalog.
	if errors.As(err, &pe) && (pe.Code == "42P04" || pe.Code == "23505") {
		return "", fmt.Errorf("%w: database %s already exists on the platform's server (a detached project's?): drop it, or give it as database_url", ErrExists, name)
	}
	if err != nil {
		return "", &DatabaseError{Message: "creating the project's database failed", Cause: err}
	}
	return withDatabase(s.pool.Config().ConnString(), name), nil
}

// dropDatabase drops a database control created, ending its sessions.
// FORCE ends ordinary sessions, but a WAL sender streaming the database's
// logical replication slot (realtime's reader) makes DROP DATABASE refuse,
// and a worker's reader comes back within a second when ended: so each
// attempt ends the WAL senders of the database and drops its slots first,
// and an attempt that loses the race to a returning reader is repeated.
func (s *Store) dropDatabase(ctx context.Context, name string) error {
	var err error
	for attempt := 0; attempt < dropAttempts; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return &DatabaseError{Message: "dropping the project's database failed", Cause: ctx.Err()}
			case <-time.After(dropRetryPause):
			}
		}
		if err = s.endReplication(ctx, name); err != nil {
			continue
		}
		_, err = s.pool.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
		if err == nil {
			return nil
		}
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != objectInUse {
			break
		}
	}
	return &DatabaseError{Message: "dropping the project's database failed", Cause: err}
}

// Attempts of dropDatabase against a replication reader that comes back.
const (
	// objectInUse is SQLSTATE 55006, DROP DATABASE's answer while a slot is
	// being read.
	objectInUse    = "55006"
	dropAttempts   = 10
	dropRetryPause = 100 * time.Millisecond
)

// endReplication ends the WAL senders streaming the database's replication
// slots and drops the slots.
func (s *Store) endReplication(ctx context.Context, name string) error {
	const slots = `from pg_catalog.pg_replication_slots where database = $1`
	if _, err := s.pool.Exec(ctx, `select pg_catalog.pg_terminate_backend(active_pid, 5000) `+slots+` and active_pid is not null`, name); err != nil {
		return err
	}
	_, err := s.pool.Exec(ctx, `select pg_catalog.pg_drop_replication_slot(slot_name) `+slots+` and not active`, name)
	return err
}

// migrate applies the store's migrations to a project's database.
func (s *Store) migrate(ctx context.Context, dbURL string) error {
	if len(s.opts.Migrations) == 0 {
		return nil
	}
	pool, err := openProjectPool(ctx, dbURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	if _, err := migrate.Run(ctx, pool, slog.New(slog.DiscardHandler), s.opts.Migrations...); err != nil {
		return &DatabaseError{Message: "applying MadBase's migrations to the project's database failed", Cause: err}
	}
	return nil
}

// openProjectPool opens a small pool on a project's database and checks
// that it answers.
func openProjectPool(ctx context.Context, dbURL string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return nil, &DatabaseError{Message: "the project's database URL is not valid", Cause: errors.New("unparsable URL")}
	}
	cfg.MaxConns = 2
	if cfg.ConnConfig.ConnectTimeout == 0 || cfg.ConnConfig.ConnectTimeout > connectTimeout {
		cfg.ConnConfig.ConnectTimeout = connectTimeout
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err == nil {
		err = pool.Ping(ctx)
		if err != nil {
			pool.Close()
		}
	}
	if err != nil {
		return nil, &DatabaseError{Message: "cannot connect to the project's database", Cause: err}
	}
	return pool, nil
}

// withDatabase returns a connection string like conn naming database name.
// A URL keeps its user, password, host and parameters; a keyword/value string
// gets a dbname that overrides any earlier one. The platform pool's own
// parameters (pool_max_conns and the other pool_* ones) are dropped: they
// size control's pool, and a project's pool is sized by PROJECT_DB_MAX_CONNS
// unless the project's own URL says otherwise.
func withDatabase(conn, name string) string {
	if u, err := url.Parse(conn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		u.Path = "/" + name
		u.RawPath = ""
		q := u.Query()
		for k := range q {
			if isPoolParam(k) {
				q.Del(k)
			}
		}
		u.RawQuery = q.Encode()
		return u.String()
	}
	return withoutPoolParams(conn) + " dbname='" + name + "'"
}

// isPoolParam reports whether a connection parameter configures pgxpool
// rather than the connection.
func isPoolParam(key string) bool { return strings.HasPrefix(key, "pool_") }

// withoutPoolParams drops the pool_* pairs of a keyword/value connection
// string; the others are kept as written (quoted values included).
func withoutPoolParams(conn string) string {
	var kept []string
	s := strings.TrimSpace(conn)
	for s != "" {
		// One pair: key, optional spaces around '=', then a value that is
		// either quoted (with backslash escapes) or runs to the next space.
		end := strings.IndexByte(s, '=')
		if end < 0 {
			kept = append(kept, s)
			break
		}
		key := strings.TrimSpace(s[:end])
		i := end + 1
		for i < len(s) && s[i] == ' ' {
			i++
		}
		if i < len(s) && s[i] == '\'' {
			for i++; i < len(s) && s[i] != '\''; i++ {
				if s[i] == '\\' {
					i++
				}
			}
			i = min(i+1, len(s))
		} else {
			for i < len(s) && s[i] != ' ' && s[i] != '\t' && s[i] != '\n' {
				i++
			}
		}
		if !isPoolParam(key) {
			kept = append(kept, strings.TrimSpace(s[:i]))
		}
		s = strings.TrimSpace(s[i:])
	}
	return strings.Join(kept, " ")
}
