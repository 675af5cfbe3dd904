package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/madbase/madbase/cmd/internal/devmode"
	"github.com/madbase/madbase/shared/config"
	"github.com/madbase/madbase/shared/db/migrate"
)

// runDB holds the commands about the dev database: `madbase db reset`.
func runDB(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "reset" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(stderr, "Usage: madbase db reset [--data-dir DIR] [--migrations-dir DIR]")
			return flag.ErrHelp
		}
		return fmt.Errorf("%w: usage: madbase db reset [--data-dir DIR] [--migrations-dir DIR]", errUsage)
	}
	var dcfg config.Dev
	if err := config.Load(&dcfg, config.Env); err != nil {
		return err
	}
	fs := flagSet("db reset", "Usage: madbase db reset [flags]\n\nRecreates the dev database of the data folder and applies the platform's migrations, "+
		"the app's and its seed.\nmadbase dev must be stopped first.\n\nFlags:", stderr)
	dataDir := fs.String("data-dir", dcfg.DataDir, "madbase dev's data folder (MADBASE_DATA_DIR)")
	dir := fs.String("migrations-dir", dcfg.MigrationsDir, "the app's migrations; seed.sql beside it seeds (MADBASE_MIGRATIONS_DIR)")
	if err := parseNoArgs(fs, args[1:]); err != nil {
		return err
	}
	if err := devmode.Reset(ctx, devmode.ResetOptions{DataDir: *dataDir, Out: stdout, Migrations: Migrations(), MigrationsDir: *dir}); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "The dev database is reset.")
	return nil
}

// runMigration holds `madbase migration new NAME`.
func runMigration(_ context.Context, args []string, stdout, stderr io.Writer) error {
	var dcfg config.Dev
	if err := config.Load(&dcfg, config.Env); err != nil {
		return err
	}
	fs := flagSet("migration new", "Usage: madbase migration new [--dir DIR] NAME\n\nCreates DIR/<UTC timestamp>_NAME.sql, empty, for madbase dev and madbase migrate --dir to apply.\n\nFlags:", stderr)
	dir := fs.String("dir", dcfg.MigrationsDir, "the app's migrations folder (MADBASE_MIGRATIONS_DIR)")
	if len(args) == 0 || args[0] != "new" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fs.Usage()
			return flag.ErrHelp
		}
		return fmt.Errorf("%w: usage: madbase migration new NAME", errUsage)
	}
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: usage: madbase migration new NAME", errUsage)
	}
	path, err := migrate.NewAppMigration(*dir, fs.Arg(0), time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "Created", path)
	return nil
}

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flagSet("migrate", "Usage: madbase migrate [--dir DIR [--seed FILE]]\n\nApplies MadBase's migrations to DATABASE_URL, then with --dir the app's "+
		"<timestamp>_name.sql files in order\n(and the seed on a database never migrated so before).\n\nFlags:", stderr)
	dir := fs.String("dir", "", "also apply the app's migrations in this folder (for example supabase/migrations)")
	seed := fs.String("seed", "", "seed file for a new database (default: seed.sql beside --dir)")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if *seed != "" && *dir == "" {
		return fmt.Errorf("%w: --seed goes with --dir", errUsage)
	}
	dbURL := os.Getenv("DATABASE_URL")
	if dbURL == "" {
		return fmt.Errorf("%w: DATABASE_URL is not set", errUsage)
	}
	n, err := controlMigrations(ctx, dbURL)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "applied %d migration(s)\n", n)
	if *dir == "" {
		return nil
	}
	if _, err := os.Stat(*dir); err != nil {
		return fmt.Errorf("%w: --dir: %w", errUsage, err)
	}
	if *seed == "" {
		*seed = devmode.SeedFile(*dir)
	}
	return applyApp(ctx, dbURL, *dir, *seed, stdout)
}

// applyApp applies an app's migrations and, on a new database, its seed.
func applyApp(ctx context.Context, dbURL, dir, seed string, stdout io.Writer) error {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	res, err := migrate.RunApp(ctx, conn, dir, seed, nil)
	for _, m := range res.Applied {
		fmt.Fprintln(stdout, "applied", m.Path)
	}
	if err != nil {
		return err
	}
	if res.Seeded {
		fmt.Fprintln(stdout, "seeded the new database from", seed)
	}
	fmt.Fprintf(stdout, "applied %d app migration(s) from %s\n", len(res.Applied), dir)
	return nil
}
