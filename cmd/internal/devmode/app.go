package devmode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"

	"github.com/jackc/pgx/v5"
	"github.com/madbase/madbase/control"
	"github.com/madbase/madbase/shared/config"
	"github.com/madbase/madbase/shared/db/migrate"
	"github.com/madbase/madbase/shared/db/pgcluster"
)

// SeedFile is the seed of an app whose migrations are in dir: seed.sql
// beside the folder, as in the Supabase CLI's supabase/ folder.
func SeedFile(dir string) string { return filepath.Join(filepath.Dir(dir), "seed.sql") }

// ApplyApp applies the app's migrations in dir to dbURL, and its seed on a
// new database, saying on out what it did. An empty dir does nothing.
func ApplyApp(ctx context.Context, dbURL, dir string, out io.Writer, log *slog.Logger) error {
	if dir == "" {
		return nil
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("app migrations: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	res, err := migrate.RunApp(ctx, conn, dir, SeedFile(dir), log)
	for _, m := range res.Applied {
		fmt.Fprintln(out, "Applied migration", m.Path)
	}
	if err != nil {
		return fmt.Errorf("app migration failed: %w", err)
	}
	if res.Seeded {
		fmt.Fprintln(out, "Seeded the new database from", SeedFile(dir))
	}
	return nil
}

// ResetOptions configure Reset.
type ResetOptions struct {
	DataDir       string
	Env           config.Lookup
	Out           io.Writer
	Log           *slog.Logger
	Migrations    []migrate.Source
	MigrationsDir string
	PGSearch      *pgcluster.Search
}

// Reset recreates the dev database of a data folder: it drops it (and the
// replication slots realtime keeps on it, which would block the drop),
// creates it anew, and applies the platform's migrations, the app's and the
// seed. It refuses while `madbase dev` runs on the folder rather than pull
// the database from under it, and starts and stops PostgreSQL itself.
func Reset(ctx context.Context, o ResetOptions) error {
	if o.Env == nil {
		o.Env = config.Env
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if v, ok := o.Env("DATABASE_URL"); ok && v != "" {
		return errors.New("db reset recreates the database of madbase dev's own PostgreSQL; DATABASE_URL is set, and " +
			"MadBase does not drop a database it did not create (unset DATABASE_URL to reset the dev database)")
	}
	dataDir, err := filepath.Abs(o.DataDir)
	if err != nil {
		return err
	}
	lf, err := lock(dataDir)
	if running := (*AlreadyRunningError)(nil); errors.As(err, &running) {
		return fmt.Errorf("%w; db reset needs it stopped, and starts PostgreSQL itself", err)
	} else if err != nil {
		return err
	}
	defer lf.Close()
	secrets, err := loadSecrets(dataDir)
	if err != nil {
		return err
	}
	pg, _, err := startCluster(ctx, clusterOptions{DataDir: dataDir, Password: secrets.PGPassword, Env: o.Env,
		Search: o.PGSearch, Log: o.Log, Out: o.Out})
	if err != nil {
		return err
	}
	defer func() {
		if err := pg.Stop(context.WithoutCancel(ctx)); err != nil {
			o.Log.Error("stop PostgreSQL", "error", err.Error())
		}
	}()
	const dbName = "postgres"
	conn, err := pgx.Connect(ctx, pg.URL("template1"))
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "select pg_drop_replication_slot(slot_name) from pg_replication_slots where database = $1", dbName); err != nil {
		return fmt.Errorf("dropping the replication slots of the dev database: %w", err)
	}
	if _, err := conn.Exec(ctx, "drop database if exists "+dbName+" with (force)"); err != nil {
		return fmt.Errorf("dropping the dev database: %w", err)
	}
	if _, err := conn.Exec(ctx, "create database "+dbName); err != nil {
		return fmt.Errorf("creating the dev database: %w", err)
	}
	fmt.Fprintln(o.Out, "Recreated the dev database; applying migrations ...")
	if _, err := control.RunMigrations(ctx, pg.URL(dbName), o.Log, o.Migrations...); err != nil {
		return fmt.Errorf("database migrations: %w", err)
	}
	return ApplyApp(ctx, pg.URL(dbName), o.MigrationsDir, o.Out, o.Log)
}
