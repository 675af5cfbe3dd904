// Command socketbench measures what idle realtime WebSockets cost: the real
// madbase binary as workers and an edge (separate processes) on a throwaway
// PostgreSQL and an embedded NATS, all on 127.0.0.1; N clients connect
// through the edge to /realtime/v1/websocket and join a channel, then sit
// idle, and the resident memory the edges and the workers gained is
// divided by N (goal: ≤ 20 KiB per socket across edge and workers). An edge
// holds two descriptors per socket: where the file limit cannot be raised
// (no CAP_SYS_RESOURCE) the sockets are spread over enough edges.
//
//	go run ./bench/cmd/socketbench                 # 10,000 sockets, 2 workers
//	go run ./bench/cmd/socketbench -sockets 1000   # a quicker look
//
// Memory is the processes' VmRSS from /proc, read before the first socket
// and once every socket has joined (after a pause for the runtime to settle),
// so it counts what the kernel gives them, heap, stacks and buffers alike,
// not the kernel's socket buffers.
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
	sockets  int
	workers  int
	edges    int
	dialers  int
	channels int
	settle   time.Duration
	timeout  time.Duration
	bin      string
}

// goalPerSocket is the bound on the memory of one idle socket,
// across the edge and the workers.
const goalPerSocket = 20 << 10

func main() {
	var o options
	flag.IntVar(&o.sockets, "sockets", 10000, "idle WebSockets opened")
	flag.IntVar(&o.workers, "workers", 2, "worker processes")
	flag.IntVar(&o.edges, "edges", 0, "edge processes (0: enough for the sockets within the file limit, 2 descriptors a socket)")
	flag.IntVar(&o.dialers, "dialers", 32, "sockets opened at once")
	flag.IntVar(&o.channels, "channels", 100, "channels the sockets join, round robin")
	flag.DurationVar(&o.settle, "settle", 3*time.Second, "pause before memory is read")
	flag.DurationVar(&o.timeout, "timeout", 15*time.Minute, "give up after this long")
	flag.StringVar(&o.bin, "bin", "", "run this madbase binary instead of building one from the working tree")
	flag.Parse()
	if o.bin != "" {
		abs, err := filepath.Abs(o.bin)
		if err != nil {
			fmt.Fprintln(os.Stderr, "socketbench:", err)
			os.Exit(2)
		}
		o.bin = abs
	}
	if o.sockets < 100 || o.workers < 1 || o.edges < 0 || o.dialers < 1 || o.channels < 1 {
		fmt.Fprintln(os.Stderr, "socketbench: -sockets at least 100; -workers, -dialers and -channels positive; -edges not negative")
		os.Exit(2)
	}
	proc.Main("socketbench", o.timeout, func(ctx context.Context) error { return run(ctx, o) }, nil)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s socketbench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}
