// Command apibench measures the MadBase API tiers end to end: the real
// madbase binary as one worker process and one edge process, on a throwaway
// PostgreSQL and an embedded NATS, all on 127.0.0.1, in one run.
//
//	go run ./bench/cmd/apibench                      # REST, auth, storage (1 GiB)
//	go run ./bench/cmd/apibench -quick -only rest    # smoke run of one part
//
// REST (issue 6) is compared with its ceiling, the same SQL run by pgbench
// in the transaction PostgREST would use; auth sign-in (issue 5) with the
// bcrypt cost-10 bound measured in the same run; storage (issue 7) with a
// plain local-disk copy. CPU per request comes from /proc/<pid>/stat of the
// edge and the worker process, peak memory from VmHWM.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/madbase/madbase/bench/internal/proc"
)

const mib = 1 << 20

type options struct {
	duration time.Duration
	rounds   int
	conns    int
	quick    bool
	only     map[string]bool
	fileSize int64
	// transfers is how many rounds of storage transfers run (ceiling,
	// uploads, downloads); medians are reported.
	transfers int
	timeout   time.Duration
	// profileDir, when set, receives worker.pprof and edge.pprof: CPU
	// profiles of the whole run of each process.
	profileDir string
	// bin, when set, is a madbase binary to run instead of one built from
	// the working tree (to compare two builds).
	bin string
	// restClient is the REST load's HTTP client: "wrk" (when installed) or
	// "go" (this process's client).
	restClient string
}

func (o options) want(part string) bool { return len(o.only) == 0 || o.only[part] }

func main() {
	var o options
	var only string
	var fileMiB int64
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "length of each load run")
	flag.IntVar(&o.rounds, "rounds", 5, "REST rounds (edge, worker direct, pgbench alternating); medians are reported")
	flag.IntVar(&o.conns, "c", 32, "concurrent keep-alive clients (and pgbench clients)")
	flag.BoolVar(&o.quick, "quick", false, "smoke run: 2s loads, 128 MiB storage file")
	flag.StringVar(&only, "only", "", "comma-separated parts to run: rest,auth,storage (default all); user runs auth's GET /auth/v1/user against its ceiling alone")
	flag.Int64Var(&fileMiB, "file-mib", 1024, "storage upload/download size in MiB")
	flag.IntVar(&o.transfers, "transfers", 3, "storage rounds (the cp ceiling, then each upload and download once); medians are reported")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Minute, "give up after this long")
	flag.StringVar(&o.profileDir, "cpuprofile-dir", "", "write CPU profiles of the worker and the edge (worker.pprof, edge.pprof) to this folder")
	flag.StringVar(&o.bin, "bin", "", "run this madbase binary instead of building one from the working tree")
	flag.StringVar(&o.restClient, "rest-client", "wrk", "REST load client: wrk (when installed; a C client, as pgbench is for the ceiling) or go (this process's client)")
	flag.Parse()
	if o.bin != "" {
		abs, err := filepath.Abs(o.bin)
		if err != nil {
			fmt.Fprintln(os.Stderr, "apibench:", err)
			os.Exit(2)
		}
		o.bin = abs
	}
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.quick {
		if !set["duration"] {
			o.duration = 2 * time.Second
		}
		if !set["file-mib"] {
			fileMiB = 128
		}
		if !set["rounds"] {
			o.rounds = 1
		}
		if !set["transfers"] {
			o.transfers = 1
		}
	}
	o.fileSize = fileMiB * mib
	if only != "" {
		o.only = map[string]bool{}
		for _, p := range strings.Split(only, ",") {
			switch p = strings.TrimSpace(p); p {
			case "rest", "auth", "user", "storage":
				o.only[p] = true
			default:
				fmt.Fprintf(os.Stderr, "apibench: -only: unknown part %q (rest, auth, user, storage)\n", p)
				os.Exit(2)
			}
		}
	}
	if o.conns < 1 || o.rounds < 1 || o.transfers < 1 || o.duration < time.Second || o.fileSize <= 0 || (o.restClient != "wrk" && o.restClient != "go") {
		fmt.Fprintln(os.Stderr, "apibench: -c, -rounds, -transfers and -file-mib must be positive, -duration at least 1s, -rest-client wrk or go")
		os.Exit(2)
	}

	proc.Main("apibench", o.timeout, func(ctx context.Context) error { return run(ctx, o) }, nil)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s apibench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}
