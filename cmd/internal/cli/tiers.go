package cli

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/madbase/madbase/control"
	"github.com/madbase/madbase/edge"
	"github.com/madbase/madbase/shared/config"
	"github.com/madbase/madbase/shared/db/migrate"
	"github.com/madbase/madbase/shared/db/platform"
	"github.com/madbase/madbase/worker"
	workermigrations "github.com/madbase/madbase/worker/migrations"
)

func noFlags(name string, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %v", errUsage, fs.Args())
	}
	return nil
}

func runEdge(ctx context.Context, args []string, _, stderr io.Writer) error {
	if err := noFlags("edge", args, stderr); err != nil {
		return err
	}
	var cfg config.Edge
	if err := config.Load(&cfg, config.Env); err != nil {
		return fmt.Errorf("edge configuration:\n%w", err)
	}
	return edge.Run(ctx, cfg, edge.Options{Version: Version})
}

func runWorker(ctx context.Context, args []string, _, stderr io.Writer) error {
	if err := noFlags("worker", args, stderr); err != nil {
		return err
	}
	var cfg config.Worker
	if err := config.Load(&cfg, config.Env); err != nil {
		return fmt.Errorf("worker configuration:\n%w", err)
	}
	return worker.Run(ctx, cfg, worker.Options{Version: Version})
}

func runControl(ctx context.Context, args []string, _, stderr io.Writer) error {
	if err := noFlags("control", args, stderr); err != nil {
		return err
	}
	var cfg config.Control
	if err := config.Load(&cfg, config.Env); err != nil {
		return fmt.Errorf("control configuration:\n%w", err)
	}
	return control.Run(ctx, cfg, control.Options{Migrations: Migrations()})
}

// controlMigrations applies MadBase's own migrations, as control does.
func controlMigrations(ctx context.Context, dbURL string) (int, error) {
	return control.RunMigrations(ctx, dbURL, nil, Migrations()...)
}

// Migrations lists every migration source in the order they apply: the
// platform's own first, then each capability's.
func Migrations() []migrate.Source {
	return append([]migrate.Source{platform.Source}, workermigrations.All()...)
}
