package cli

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/madbase/madbase/cmd/internal/devmode"
	"github.com/madbase/madbase/shared/config"
)

func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var dcfg config.Dev
	if err := config.Load(&dcfg, config.Env); err != nil {
		return err
	}
	fs := flagSet("dev", "Usage: madbase dev [flags]\n\nRuns everything in one process: NATS, PostgreSQL, control, the edge and workers,\n"+
		"after applying the app's migrations (supabase/migrations) and, on a new database, supabase/seed.sql.\n\nFlags:", stderr)
	workers := fs.Int("workers", dcfg.Workers, "how many workers to run (MADBASE_WORKERS)")
	dataDir := fs.String("data-dir", dcfg.DataDir, "folder for PostgreSQL data, objects and generated secrets (MADBASE_DATA_DIR)")
	dbPort := fs.Int("db-port", dcfg.DBPort, "port of dev's PostgreSQL on 127.0.0.1; 0 picks a free one (DEV_DB_PORT)")
	migrationsDir := fs.String("migrations-dir", dcfg.MigrationsDir, "the app's migrations, applied in order; seed.sql beside it seeds a new database (MADBASE_MIGRATIONS_DIR)")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if *dbPort < 0 || *dbPort > 65535 {
		return fmt.Errorf("%w: DEV_DB_PORT (--db-port) must be a port number or 0, not %d", errUsage, *dbPort)
	}
	return devmode.Run(ctx, devmode.Options{
		DataDir:       *dataDir,
		Workers:       *workers,
		Env:           config.Env,
		Stdout:        stdout,
		Stderr:        stderr,
		Version:       Version,
		Migrations:    Migrations(),
		DBPort:        *dbPort,
		MigrationsDir: *migrationsDir,
	})
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
