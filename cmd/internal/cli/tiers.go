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

// tierConfig refuses flags and arguments, as a tier takes its whole
// configuration from the environment, and loads that configuration.
func tierConfig[T any](name string, args []string, stderr io.Writer) (T, error) {
	var cfg T
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := parseNoArgs(fs, args); err != nil {
		return cfg, err
	}
	if err := config.Load(&cfg, config.Env); err != nil {
		return cfg, fmt.Errorf("%s configuration:\n%w", name, err)
	}
	return cfg, nil
}

func runEdge(ctx context.Context, args []string, _, stderr io.Writer) error {
	cfg, err := tierConfig[config.Edge]("edge", args, stderr)
	if err != nil {
		return err
	}
	return edge.Run(ctx, cfg, edge.Options{Version: Version})
}

func runWorker(ctx context.Context, args []string, _, stderr io.Writer) error {
	cfg, err := tierConfig[config.Worker]("worker", args, stderr)
	if err != nil {
		return err
	}
	return worker.Run(ctx, cfg, worker.Options{Version: Version})
}

func runControl(ctx context.Context, args []string, _, stderr io.Writer) error {
	cfg, err := tierConfig[config.Control]("control", args, stderr)
	if err != nil {
		return err
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
