// Command edgebench measures the edge proxy against a direct connection to
// the worker and against nginx, in one run, on loopback.
//
// The "worker" is a fasthttp server inside this process on two ports. The
// edge runs as a child process (this binary re-executed), so its CPU time and
// memory can be read from /proc; nginx runs as a child with a generated
// configuration. Setups alternate round by round (direct, edge, edge-cpus,
// nginx, direct, ...) so machine noise hits them alike. edge-cpus is the
// same edge with one event loop per CPU, all serving always
// (EDGE_EVENT_LOOPS), as nginx runs one worker process per CPU; the edge's
// default starts one loop per CPU too, but only as many serve as the load
// needs.
//
//	go run ./bench/cmd/edgebench            # full run, about 3 minutes
//	go run ./bench/cmd/edgebench -quick     # smoke run
//	go run ./bench/cmd/edgebench -json out.json -edge-cpuprofile edge.pprof
//	go run ./bench/cmd/edgebench -edge-b /tmp/edgebench-main   # this build's edge next to another's
//	go run ./bench/cmd/edgebench -quick -perf-dir /tmp/perf   # perf profiles of every process
//
// It needs wrk and nginx (Debian: apt-get install nginx wrk); -no-nginx skips
// the nginx column.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/madbase/madbase/bench/internal/proc"
)

const (
	// childEnv makes the re-executed binary run the edge instead of the bench.
	childEnv = "MADBASE_EDGEBENCH_CHILD"
	mib      = 1 << 20
)

type options struct {
	duration   time.Duration
	rounds     int
	bodySize   int64
	memSize    int64
	warmup     time.Duration
	conns      int
	quick      bool
	noNginx    bool
	nginxBare  bool // nginx without the forwarding headers the edge sets
	jsonPath   string
	timeout    time.Duration
	wrkBin     string
	nginxBin   string
	cpuProfile string
	memProfile string
	edgeEnv    multiFlag
	edgeBExe   string
	noEdgeCPUs bool   // skip the edge-cpus setup
	bodyClient string // "curl" (default, when installed) or "go"
	transfers  int    // bodies per round and direction
	perfDir    string // system-wide perf profiles of round 1, per setup and load
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	if os.Getenv(childEnv) == "edge" {
		os.Exit(runEdgeChild())
	}

	var o options
	var bodyMiB, memMiB int64
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "length of each wrk run (whole seconds)")
	flag.IntVar(&o.rounds, "rounds", 5, "rounds; each runs wrk and one upload and download per setup")
	flag.Int64Var(&bodyMiB, "body-mib", 100, "upload/download body size in MiB")
	flag.Int64Var(&memMiB, "mem-mib", 1024, "body size in MiB of the memory test (one upload, one download)")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "wrk warm-up per setup before the first round (0 to skip)")
	flag.IntVar(&o.conns, "c", 32, "wrk connections")
	flag.BoolVar(&o.quick, "quick", false, "smoke run: 1 round of 2s, 16 MiB bodies, 128 MiB memory test")
	flag.BoolVar(&o.noNginx, "no-nginx", false, "skip the nginx column (e.g. when nginx is not installed)")
	flag.BoolVar(&o.nginxBare, "nginx-bare", false, "nginx without the X-Request-Id and X-Forwarded-* headers the edge sets (a bare reverse-proxy configuration)")
	flag.StringVar(&o.jsonPath, "json", "", "also write the results as JSON to this file")
	flag.DurationVar(&o.timeout, "timeout", 15*time.Minute, "give up after this long")
	flag.StringVar(&o.wrkBin, "wrk", "", "wrk binary (default: wrk on PATH or /usr/bin/wrk)")
	flag.StringVar(&o.nginxBin, "nginx", "", "nginx binary (default: nginx on PATH or /usr/sbin/nginx)")
	flag.StringVar(&o.cpuProfile, "edge-cpuprofile", "", "write a CPU profile of the edge process (whole run) to this file")
	flag.StringVar(&o.memProfile, "edge-memprofile", "", "write a heap profile of the edge process at exit to this file")
	flag.BoolVar(&o.noEdgeCPUs, "no-edge-cpus", false, "skip setup edge-cpus: the edge with one event loop per CPU (EDGE_EVENT_LOOPS), as nginx runs one worker process per CPU")
	flag.StringVar(&o.edgeBExe, "edge-b", "", "also measure the edge of another edgebench build (e.g. with a change under test) as setup edge-b")
	flag.StringVar(&o.bodyClient, "body-client", "curl", "what moves the upload/download bodies: curl (when installed) or go (net/http in this process)")
	flag.IntVar(&o.transfers, "transfers", 3, "uploads and downloads per round and setup; the round keeps the median")
	flag.StringVar(&o.perfDir, "perf-dir", "", "record system-wide CPU profiles (Linux perf, every process) of round 1 into this folder, per setup: the small requests, one upload, one download")
	flag.Var(&o.edgeEnv, "edge-env", "KEY=VALUE added to the edge process's environment (repeatable), e.g. GOMAXPROCS=1")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: go run ./bench/cmd/edgebench [flags]\n\n"+
			"Compares the edge proxy with a direct connection and with nginx (small requests\n"+
			"with wrk, 100 MiB uploads and downloads, edge memory during 1 GiB transfers).\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.quick {
		if !set["rounds"] {
			o.rounds = 1
		}
		if !set["duration"] {
			o.duration = 2 * time.Second
		}
		if !set["body-mib"] {
			bodyMiB = 16
		}
		if !set["mem-mib"] {
			memMiB = 128
		}
	}
	o.bodySize, o.memSize = bodyMiB*mib, memMiB*mib
	if o.rounds < 1 || o.duration < time.Second || o.bodySize <= 0 || o.memSize < 0 || o.conns < 1 || o.transfers < 1 ||
		(o.bodyClient != "curl" && o.bodyClient != "go") {
		fmt.Fprintln(os.Stderr, "edgebench: -rounds, -c, -transfers and -body-mib must be positive, -duration at least 1s, -body-client curl or go")
		os.Exit(2)
	}

	proc.Main("edgebench", o.timeout, func(ctx context.Context) error { return run(ctx, o) }, func(err error) int {
		var me *missingToolError
		if errors.As(err, &me) {
			return 3
		}
		return 0
	})
}
