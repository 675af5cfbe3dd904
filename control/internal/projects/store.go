// Package projects is control's side of projects: the store of every
// project in the platform database (secrets sealed with the platform key),
// their databases (created on the platform's server or given), their keys,
// the validation of their settings, and the publisher that keeps the
// projects' configuration in NATS's key-value bucket for edges and workers.
package projects

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/madbase/madbase/bus"
	"github.com/madbase/madbase/shared/config"
	"github.com/madbase/madbase/shared/db/migrate"
	"github.com/madbase/madbase/shared/secretbox"
)

// Defaults of Options.
const (
	// DefaultRotationGrace is how long a rotated-out JWT secret (and the keys
	// it signed) keeps verifying: long enough to roll the new keys out to
	// every app server, short enough that a leaked key dies the next day.
	DefaultRotationGrace = 24 * time.Hour
	// MaxRotationGrace bounds the grace a rotation may ask for.
	MaxRotationGrace = 30 * 24 * time.Hour
	// DefaultSQLTimeout is the statement timeout of the admin SQL endpoint.
	DefaultSQLTimeout = 30 * time.Second
	// MaxNameLen bounds a project's display name.
	MaxNameLen = 200
)

// Options configure a Store.
type Options struct {
	// Migrations are applied to every project database at creation: the
	// platform's and the worker's sources (never control's own).
	Migrations []migrate.Source
	// Env is the platform's environment, which a project's settings override
	// when they are validated; nil reads the process environment.
	Env config.Lookup
	// Dev validates settings as `madbase dev` does.
	Dev bool
	// DefaultRef is the default project's ref (the environment's project);
	// no stored project may take it.
	DefaultRef string
	// RotationGrace overrides DefaultRotationGrace.
	RotationGrace time.Duration
	// SQLTimeout overrides DefaultSQLTimeout.
	SQLTimeout time.Duration
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// notifier learns of every change, after it is committed (the Publisher).
type notifier interface {
	changed(ctx context.Context, cfg bus.ProjectConfig)
	removed(ctx context.Context, ref string)
}

// Store keeps the projects in the platform database's madbase_control
// schema (control/migrations).
type Store struct {
	pool   *pgxpool.Pool
	box    *secretbox.Box
	log    *slog.Logger
	opts   Options
	notify notifier
}

// NewStore returns a store on the platform database's pool. box seals and
// opens every secret.
func NewStore(pool *pgxpool.Pool, box *secretbox.Box, log *slog.Logger, opts Options) *Store {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.RotationGrace <= 0 {
		opts.RotationGrace = DefaultRotationGrace
	}
	if opts.SQLTimeout <= 0 {
		opts.SQLTimeout = DefaultSQLTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Store{pool: pool, box: box, log: log.With("component", "projects"), opts: opts, notify: nopNotifier{}}
}

type nopNotifier struct{}

func (nopNotifier) changed(context.Context, bus.ProjectConfig) {}
func (nopNotifier) removed(context.Context, string)            {}

// Project is one stored project. Its secrets stay sealed; Store's methods
// open them for the admin who asks.
type Project struct {
	ID           string
	Ref          string
	Name         string
	DBMode       string // DBCreated or DBExternal
	DatabaseName string
	// Settings are the project's non-secret settings; SecretSettings names
	// the secret ones it has (their values are never shown).
	Settings       map[string]string
	SecretSettings []string
	Revision       int64
	KeysIssuedAt   time.Time
	// PreviousRetiresAt is set while a rotated-out secret still verifies.
	PreviousRetiresAt *time.Time
	CreatedAt         time.Time
	UpdatedAt         time.Time

	databaseURL      string // sealed
	jwtSecret        string // sealed
	previousSecret   string // sealed, or empty
	previousIssuedAt time.Time
	sealedSettings   map[string]string
}

// Database modes.
const (
	DBCreated  = "created"
	DBExternal = "external"
)

// NewProject is what creating a project takes.
type NewProject struct {
	Ref  string
	Name string // default: the ref
	// DatabaseURL is an existing database to use; empty creates
	// "madbase_<ref>" on the platform's server.
	DatabaseURL string
	Settings    map[string]string
}

const columns = `id, ref, name, db_mode, database_name, database_url, jwt_secret, keys_issued_at,
	coalesce(previous_jwt_secret, ''), previous_issued_at, previous_retires_at,
	settings, secret_settings, revision, created_at, updated_at`

func scanProject(row pgx.Row) (*Project, error) {
	var p Project
	var prevIssued *time.Time
	var settings, secrets []byte
	err := row.Scan(&p.ID, &p.Ref, &p.Name, &p.DBMode, &p.DatabaseName, &p.databaseURL, &p.jwtSecret, &p.KeysIssuedAt,
		&p.previousSecret, &prevIssued, &p.PreviousRetiresAt, &settings, &secrets, &p.Revision, &p.CreatedAt, &p.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if prevIssued != nil {
		p.previousIssuedAt = *prevIssued
	}
	if err := json.Unmarshal(settings, &p.Settings); err != nil {
		return nil, fmt.Errorf("project %s: settings: %w", p.Ref, err)
	}
	if err := json.Unmarshal(secrets, &p.sealedSettings); err != nil {
		return nil, fmt.Errorf("project %s: secret settings: %w", p.Ref, err)
	}
	if p.Settings == nil {
		p.Settings = map[string]string{}
	}
	if p.sealedSettings == nil {
		p.sealedSettings = map[string]string{}
	}
	p.SecretSettings = sortedKeys(p.sealedSettings)
	return &p, nil
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// List returns every project, by ref.
func (s *Store) List(ctx context.Context) ([]*Project, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+columns+" FROM madbase_control.projects ORDER BY ref")
	if err != nil {
		return nil, fmt.Errorf("projects: list: %w", err)
	}
	defer rows.Close()
	out := []*Project{}
	for rows.Next() {
		p, err := scanProject(rows)
		if err != nil {
			return nil, fmt.Errorf("projects: list: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("projects: list: %w", err)
	}
	return out, nil
}

// Get returns one project, or ErrNotFound.
func (s *Store) Get(ctx context.Context, ref string) (*Project, error) {
	if CheckRef(ref) != nil {
		return nil, ErrNotFound
	}
	p, err := scanProject(s.pool.QueryRow(ctx, "SELECT "+columns+" FROM madbase_control.projects WHERE ref = $1", ref))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("projects: get %s: %w", ref, err)
	}
	return p, err
}

// Create makes a project: checks everything first (every problem at once),
// then prepares its database (creating it unless one was given) with the
// migrations, stores it, and publishes it. A failure after the database was
// created drops it again.
func (s *Store) Create(ctx context.Context, np NewProject) (*Project, error) {
	if np.Name == "" {
		np.Name = np.Ref
	}
	settings := maps.Clone(np.Settings)
	if settings == nil {
		settings = map[string]string{}
	}
	var problems []string
	if err := CheckRef(np.Ref); err != nil {
		problems = append(problems, err.Error())
	}
	if len(np.Name) > MaxNameLen || strings.ContainsFunc(np.Name, isControl) {
		problems = append(problems, fmt.Sprintf("name: at most %d characters, no control characters", MaxNameLen))
	}
	if np.DatabaseURL != "" {
		if _, err := pgx.ParseConfig(np.DatabaseURL); err != nil {
			problems = append(problems, "database_url: not a PostgreSQL URL (postgres://user:password@host:5432/db)")
		}
	}
	problems = append(problems, checkNames(sortedKeys(settings))...)
	if len(problems) == 0 {
		problems = validateSettings(s.opts.Env, settings, s.opts.Dev)
	}
	if err := invalid(problems); err != nil {
		return nil, err
	}
	if s.opts.DefaultRef != "" && np.Ref == s.opts.DefaultRef {
		return nil, &ConflictError{Message: fmt.Sprintf("%q is the default project's ref (DEFAULT_PROJECT_REF): choose another", np.Ref)}
	}
	if _, err := s.Get(ctx, np.Ref); err == nil {
		return nil, ErrExists
	} else if !errors.Is(err, ErrNotFound) {
		return nil, err
	}

	mode, dbName, dbURL := DBExternal, "", np.DatabaseURL
	if dbURL == "" {
		mode, dbName = DBCreated, databaseName(np.Ref)
		u, err := s.createDatabase(ctx, dbName)
		if err != nil {
			return nil, err
		}
		dbURL = u
	} else {
		cc, _ := pgx.ParseConfig(dbURL)
		dbName = cc.Database
	}
	created := mode == DBCreated
	undo := func() {
		if created {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			if err := s.dropDatabase(dctx, dbName); err != nil {
				s.log.Error("dropping the database of a project that failed to be created", "ref", np.Ref, "database", dbName, "error", err.Error())
			}
		}
	}
	if err := s.migrate(ctx, dbURL); err != nil {
		undo()
		var de *DatabaseError
		if !created && errors.As(err, &de) {
			// The given URL is the caller's to fix; the cause (no password in
			// it) is for the operator's logs.
			s.log.Warn("project database given at creation refused", "ref", np.Ref, "error", de.Cause.Error())
			return nil, invalid([]string{"database_url: " + de.Message})
		}
		return nil, err
	}

	now := s.opts.Now().UTC().Truncate(time.Second)
	id, err := newID()
	if err != nil {
		undo()
		return nil, err
	}
	ref := np.Ref
	plain, sealed := s.splitSettings(ref, settings)
	plainJSON, _ := json.Marshal(plain)
	sealedJSON, _ := json.Marshal(sealed)
	p, err := scanProject(s.pool.QueryRow(ctx, `INSERT INTO madbase_control.projects
		(id, ref, name, db_mode, database_name, database_url, jwt_secret, keys_issued_at, settings, secret_settings,
		 revision, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 1, $8, $8)
		RETURNING `+columns,
		id, ref, np.Name, mode, dbName,
		s.box.SealString(dbURL, bus.SecretContext(ref, bus.SecretDatabaseURL)),
		s.box.SealString(newJWTSecret(), bus.SecretContext(ref, bus.SecretJWT)),
		now, plainJSON, sealedJSON))
	if err != nil {
		undo()
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23505" {
			return nil, ErrExists
		}
		return nil, fmt.Errorf("projects: create %s: %w", ref, err)
	}
	s.log.Info("project created", "ref", ref, "db_mode", mode, "database", dbName, "revision", p.Revision)
	s.publish(ctx, p)
	return p, nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// newID is a random UUID (version 4), the incarnation of a project.
func newID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}

// splitSettings parts settings into plain ones and sealed secret ones.
func (s *Store) splitSettings(ref string, settings map[string]string) (plain, sealed map[string]string) {
	plain, sealed = map[string]string{}, map[string]string{}
	for k, v := range settings {
		if IsSecretSetting(k) {
			sealed[k] = s.box.SealString(v, bus.SecretContext(ref, k))
		} else {
			plain[k] = v
		}
	}
	return plain, sealed
}

// PatchConfig applies changes to a project's settings: a value sets a
// variable, nil removes it (the environment's value applies again). The
// result is validated as a whole; on any problem nothing changes. An
// accepted change bumps the revision and is published.
func (s *Store) PatchConfig(ctx context.Context, ref string, changes map[string]*string) (*Project, error) {
	names := make([]string, 0, len(changes))
	for k := range changes {
		names = append(names, k)
	}
	sort.Strings(names)
	if err := invalid(checkNames(names)); err != nil {
		return nil, err
	}
	var out *Project
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		p, err := s.lock(ctx, tx, ref)
		if err != nil {
			return err
		}
		merged, err := s.settings(p)
		if err != nil {
			return err
		}
		for k, v := range changes {
			if v == nil {
				delete(merged, k)
			} else {
				merged[k] = *v
			}
		}
		if err := invalid(validateSettings(s.opts.Env, merged, s.opts.Dev)); err != nil {
			return err
		}
		plain, sealed := s.splitSettings(ref, merged)
		// Unchanged secrets keep their sealed text, so a patch of another
		// setting does not re-encrypt them.
		for k := range sealed {
			if _, touched := changes[k]; !touched {
				sealed[k] = p.sealedSettings[k]
			}
		}
		plainJSON, _ := json.Marshal(plain)
		sealedJSON, _ := json.Marshal(sealed)
		out, err = scanProject(tx.QueryRow(ctx, `UPDATE madbase_control.projects
			SET settings = $2, secret_settings = $3, revision = revision + 1, updated_at = $4
			WHERE ref = $1 RETURNING `+columns, ref, plainJSON, sealedJSON, s.opts.Now().UTC()))
		return err
	})
	if err != nil {
		return nil, s.wrap("patch config", ref, err)
	}
	s.log.Info("project configuration changed", "ref", ref, "settings", names, "revision", out.Revision)
	s.publish(ctx, out)
	return out, nil
}

// RotateKeys gives a project a new JWT secret, hence new keys. The old
// secret keeps verifying for grace (0: the store's RotationGrace; negative:
// retired at once), then is forgotten; a secret still retiring from an
// earlier rotation is dropped now.
func (s *Store) RotateKeys(ctx context.Context, ref string, grace time.Duration) (*Project, error) {
	switch {
	case grace == 0:
		grace = s.opts.RotationGrace
	case grace < 0:
		grace = 0
	case grace > MaxRotationGrace:
		return nil, invalid([]string{fmt.Sprintf("grace: at most %s", MaxRotationGrace)})
	}
	var out *Project
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		p, err := s.lock(ctx, tx, ref)
		if err != nil {
			return err
		}
		now := s.opts.Now().UTC().Truncate(time.Second)
		var prev, prevIssued, retires any // NULL when retired at once
		if grace > 0 {
			prev, prevIssued, retires = p.jwtSecret, p.KeysIssuedAt, now.Add(grace)
		}
		out, err = scanProject(tx.QueryRow(ctx, `UPDATE madbase_control.projects
			SET jwt_secret = $2, keys_issued_at = $3, previous_jwt_secret = $4, previous_issued_at = $5,
			    previous_retires_at = $6, revision = revision + 1, updated_at = $3
			WHERE ref = $1 RETURNING `+columns,
			ref, s.box.SealString(newJWTSecret(), bus.SecretContext(ref, bus.SecretJWT)), now, prev, prevIssued, retires))
		return err
	})
	if err != nil {
		return nil, s.wrap("rotate keys", ref, err)
	}
	s.log.Info("project keys rotated", "ref", ref, "grace", grace.String(), "revision", out.Revision)
	s.publish(ctx, out)
	return out, nil
}

// Delete removes a project. Its database stays unless dropDatabase is set,
// which control honours only for a database it created; the database is
// dropped before the project is forgotten, so a failed drop changes nothing.
func (s *Store) Delete(ctx context.Context, ref string, dropDatabase bool) (*Project, error) {
	p, err := s.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	if dropDatabase {
		if p.DBMode != DBCreated {
			return nil, &ConflictError{Message: "drop_database: the project's database was given at creation, not created by MadBase; it is never dropped (delete without drop_database to detach it)"}
		}
		if err := s.dropDatabase(ctx, p.DatabaseName); err != nil {
			return nil, err
		}
	}
	tag, err := s.pool.Exec(ctx, "DELETE FROM madbase_control.projects WHERE ref = $1 AND id = $2", ref, p.ID)
	if err != nil {
		return nil, fmt.Errorf("projects: delete %s: %w", ref, err)
	}
	if tag.RowsAffected() == 0 {
		return nil, ErrNotFound
	}
	s.log.Info("project deleted", "ref", ref, "database_dropped", dropDatabase, "database", p.DatabaseName)
	s.notify.removed(ctx, ref)
	return p, nil
}

// ForgetRetired clears the rotated-out secrets whose grace has passed, as a
// change of each project (its revision grows), so the old secret leaves the
// store and the published configuration. The publisher's resync calls it.
func (s *Store) ForgetRetired(ctx context.Context) (int, error) {
	rows, err := s.pool.Query(ctx, `UPDATE madbase_control.projects
		SET previous_jwt_secret = NULL, previous_issued_at = NULL, previous_retires_at = NULL,
		    revision = revision + 1, updated_at = $1
		WHERE previous_retires_at <= $1 RETURNING `+columns, s.opts.Now().UTC())
	if err != nil {
		return 0, fmt.Errorf("projects: forgetting retired secrets: %w", err)
	}
	var changed []*Project
	for rows.Next() {
		p, err := scanProject(rows)
		if err != nil {
			rows.Close()
			return 0, fmt.Errorf("projects: forgetting retired secrets: %w", err)
		}
		changed = append(changed, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("projects: forgetting retired secrets: %w", err)
	}
	for _, p := range changed {
		s.log.Info("project's rotated-out JWT secret retired", "ref", p.Ref, "revision", p.Revision)
	}
	return len(changed), nil
}

// lock reads a project for update within tx.
func (s *Store) lock(ctx context.Context, tx pgx.Tx, ref string) (*Project, error) {
	if CheckRef(ref) != nil {
		return nil, ErrNotFound
	}
	return scanProject(tx.QueryRow(ctx, "SELECT "+columns+" FROM madbase_control.projects WHERE ref = $1 FOR UPDATE", ref))
}

// wrap keeps the store's own errors as they are and names the operation on
// the others.
func (s *Store) wrap(op, ref string, err error) error {
	var inv *InvalidError
	var conflict *ConflictError
	if errors.Is(err, ErrNotFound) || errors.As(err, &inv) || errors.As(err, &conflict) {
		return err
	}
	return fmt.Errorf("projects: %s %s: %w", op, ref, err)
}

// settings returns all of a project's settings with the secret ones opened.
func (s *Store) settings(p *Project) (map[string]string, error) {
	out := maps.Clone(p.Settings)
	for k, v := range p.sealedSettings {
		plain, err := s.box.OpenString(v, bus.SecretContext(p.Ref, k))
		if err != nil {
			return nil, fmt.Errorf("opening %s of project %s (is MADBASE_ENCRYPTION_KEY the key it was sealed with?): %w", k, p.Ref, err)
		}
		out[k] = plain
	}
	return out, nil
}

// JWTSecret opens the project's current JWT secret.
func (s *Store) JWTSecret(p *Project) (string, error) {
	return s.open(p.Ref, bus.SecretJWT, p.jwtSecret)
}

// Keys returns the project's current API keys.
func (s *Store) Keys(p *Project) (Keys, error) {
	secret, err := s.JWTSecret(p)
	if err != nil {
		return Keys{}, err
	}
	return makeKeys([]byte(secret), p.Ref, p.KeysIssuedAt)
}

// PreviousKeys returns the keys of the secret being retired, or nil when
// none is (or its grace has passed).
func (s *Store) PreviousKeys(p *Project) (*Keys, error) {
	if p.previousSecret == "" || p.PreviousRetiresAt == nil || !p.PreviousRetiresAt.After(s.opts.Now()) {
		return nil, nil
	}
	secret, err := s.open(p.Ref, bus.SecretJWT, p.previousSecret)
	if err != nil {
		return nil, err
	}
	k, err := makeKeys([]byte(secret), p.Ref, p.previousIssuedAt)
	return &k, err
}

func (s *Store) open(ref, field, sealed string) (string, error) {
	v, err := s.box.OpenString(sealed, bus.SecretContext(ref, field))
	if err != nil {
		return "", fmt.Errorf("opening %s of project %s (is MADBASE_ENCRYPTION_KEY the key it was sealed with?): %w", field, ref, err)
	}
	return v, nil
}

// databaseURL opens the project's database URL.
func (s *Store) databaseURL(p *Project) (string, error) {
	return s.open(p.Ref, bus.SecretDatabaseURL, p.databaseURL)
}

// Published is the project's configuration as edges and workers receive it:
// secrets stay sealed, a retired previous secret is left out.
func (s *Store) Published(p *Project) bus.ProjectConfig {
	cfg := bus.ProjectConfig{
		ID: p.ID, Ref: p.Ref, Name: p.Name, Revision: p.Revision,
		Settings:    maps.Clone(p.Settings),
		Secrets:     maps.Clone(p.sealedSettings),
		DatabaseURL: p.databaseURL,
		JWTSecrets:  []bus.ProjectJWTSecret{{Secret: p.jwtSecret}},
		UpdatedAt:   p.UpdatedAt.UTC(),
	}
	if p.previousSecret != "" && p.PreviousRetiresAt != nil && p.PreviousRetiresAt.After(s.opts.Now()) {
		r := p.PreviousRetiresAt.UTC()
		cfg.JWTSecrets = append(cfg.JWTSecrets, bus.ProjectJWTSecret{Secret: p.previousSecret, RetiresAt: &r})
	}
	return cfg
}

// publish hands a committed change to the notifier.
func (s *Store) publish(ctx context.Context, p *Project) {
	s.notify.changed(ctx, s.Published(p))
}
