// Command projbench measures MadBase's projects end to end: the real madbase
// binary as control, N workers and an edge (separate processes) on a
// throwaway PostgreSQL and an embedded NATS, all on 127.0.0.1, in one run.
//
//	go run ./bench/cmd/projbench            # 100 projects, 2 workers
//	go run ./bench/cmd/projbench -quick     # smoke run: 4 projects
//
// It prints:
//
//   - creation: the time from POST /admin/v1/projects to the first 200 of
//     the new project's anon key through the edge;
//   - propagation: after PATCH .../config {"DB_MAX_ROWS": k}, the time until
//     each worker, asked directly (its URL from GET /admin/v1/workers),
//     answers a read with k rows; p50/p99 over every change and worker
//     (goal: p99 < 1 s);
//   - load: requests/s of GET /rest/v1/items?id=eq.N through the edge spread
//     over every project against the same load on one project, alternating
//     round by round (goal: ≥ 0.8×);
//   - the PostgreSQL connections held at the end, per database, against the
//     bound the pool settings give.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/madbase/madbase/bench/internal/proc"
)

type options struct {
	projects   int
	workers    int
	conns      int
	duration   time.Duration
	rounds     int
	changes    int
	rows       int
	poolConns  int
	totalConns int
	timeout    time.Duration
	bin        string
	quick      bool
}

func main() {
	var o options
	flag.IntVar(&o.projects, "projects", 100, "projects created and loaded")
	flag.IntVar(&o.workers, "workers", 2, "worker processes")
	flag.IntVar(&o.conns, "c", 32, "concurrent keep-alive clients of the load")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "length of each load run")
	flag.IntVar(&o.rounds, "rounds", 3, "load rounds (one project, then all, alternating); the ratio is the median of the rounds'")
	flag.IntVar(&o.changes, "changes", 50, "settings changes timed for propagation")
	flag.IntVar(&o.rows, "rows", 1000, "rows in each project's table")
	flag.IntVar(&o.poolConns, "pool", 2, "PROJECT_DB_MAX_CONNS of the workers")
	flag.IntVar(&o.totalConns, "total", 60, "PROJECT_DB_TOTAL_CONNS of the workers (0: no bound)")
	flag.DurationVar(&o.timeout, "timeout", 30*time.Minute, "give up after this long")
	flag.StringVar(&o.bin, "bin", "", "run this madbase binary instead of building one from the working tree")
	flag.BoolVar(&o.quick, "quick", false, "smoke run: 4 projects, 10 changes, one round of 2 s loads")
	flag.Parse()
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.quick {
		for name, apply := range map[string]func(){
			"projects": func() { o.projects = 4 }, "changes": func() { o.changes = 10 },
			"rounds": func() { o.rounds = 1 }, "duration": func() { o.duration = 2 * time.Second },
		} {
			if !set[name] {
				apply()
			}
		}
	}
	if o.bin != "" {
		abs, err := filepath.Abs(o.bin)
		if err != nil {
			fmt.Fprintln(os.Stderr, "projbench:", err)
			os.Exit(2)
		}
		o.bin = abs
	}
	if o.projects < 2 || o.workers < 1 || o.conns < 1 || o.rounds < 1 || o.changes < 1 || o.rows < 10 || o.poolConns < 1 || o.duration < time.Second {
		fmt.Fprintln(os.Stderr, "projbench: -projects at least 2, -rows at least 10, -duration at least 1s; -workers, -c, -rounds, -changes and -pool positive")
		os.Exit(2)
	}
	proc.Main("projbench", o.timeout, func(ctx context.Context) error { return run(ctx, o) }, nil)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s projbench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}
