// Package cli implements the madbase subcommands. Each one loads its
// configuration, sets up signal handling and calls a tier's Run.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Version is set at build time with -ldflags "-X .../cli.Version=...".
var Version = "dev"

type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"dev", "run everything in one process: NATS, PostgreSQL, control, edge and workers", runDev},
		{"edge", "run the edge proxy (EDGE_PORT, default 8000)", runEdge},
		{"worker", "run an API worker (WORKER_PORT, default 8002)", runWorker},
		{"control", "run the control plane (CONTROL_PORT, default 8001)", runControl},
		{"migrate", "apply the database migrations to DATABASE_URL and exit (--dir DIR: and the app's)", runMigrate},
		{"migration", "migration new NAME: create supabase/migrations/<timestamp>_NAME.sql", runMigration},
		{"db", "db reset: recreate the dev database and replay the migrations and seed", runDB},
		{"gen", "gen types typescript: print the Database type for supabase-js's createClient<Database>()", runGen},
		{"sql", "run a query (or -f file.sql, or psql) on the dev database or DATABASE_URL", runSQL},
		{"logs", "show recent log records, or follow them live with -f", runLogs},
		{"projects", "create, list, show, config, rotate-keys and delete projects (control's admin API)", runProjects},
		{"functions", "new, deploy, list, delete and tail the logs of edge functions (supabase/functions/)", runFunctions},
		{"secrets", "set, list and unset the secrets edge functions read with Deno.env.get", runSecrets},
		{"keys", "print the anon and service-role API keys for JWT_SECRET", runKeys},
		{"version", "print the version", func(_ context.Context, _ []string, out, _ io.Writer) error {
			fmt.Fprintln(out, "madbase", Version)
			return nil
		}},
	}
}

// errUsage marks errors that are the caller's mistake: exit code 2.
var errUsage = errors.New("usage")

// Main runs the subcommand named by args[0] and returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 1 && (args[0] == "--version" || args[0] == "-version") {
		fmt.Fprintln(stdout, "madbase", Version)
		return 0
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		stopProfile, err := startCPUProfile(os.Getenv(CPUProfileEnv))
		if err != nil {
			fmt.Fprintf(stderr, "madbase %s: %v\n", c.name, err)
			return 1
		}
		err = c.run(ctx, args[1:], stdout, stderr)
		stopProfile()
		switch {
		case err == nil, errors.Is(err, context.Canceled), errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			fmt.Fprintf(stderr, "madbase %s: %v\n", c.name, err)
			return 2
		default:
			fmt.Fprintf(stderr, "madbase %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "madbase: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "MadBase: a self-hostable backend that speaks Supabase's APIs.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: madbase <command> [flags]")
	fmt.Fprintln(w)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Configuration comes from environment variables; see docs/configuration.md.")
}

// flagSet is a subcommand's flags: errors go to stderr, and -h prints
// usage (which ends in "Flags:"), then the flags.
func flagSet(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, usage)
		fs.PrintDefaults()
	}
	return fs
}

// parseNoArgs parses args into fs and refuses arguments left after the
// flags.
func parseNoArgs(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %v", errUsage, fs.Args())
	}
	return nil
}
