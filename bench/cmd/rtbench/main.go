// Command rtbench measures realtime broadcast fan-out through real
// processes: the madbase binary as two workers and an edge on a throwaway
// PostgreSQL and an embedded NATS, all on 127.0.0.1. K subscribers join one
// channel through the edge (which spreads them over the workers), one more
// socket publishes, and every subscriber decodes each frame as supabase-js
// does (JSON.parse of the whole frame); each delivery's latency runs from
// the message's send time to its receipt.
//
//	go run ./bench/cmd/rtbench                    # 100 subscribers, 3 rounds of each mode
//	go run ./bench/cmd/rtbench -quick             # one short round of each
//	go run ./bench/cmd/rtbench -bin /tmp/madbase-old
//
// Two modes: one at a time (the next message is sent once every
// subscriber received the previous one: latency without queueing, and the
// rate the round trips allow), and a fixed rate (messages sent on a
// schedule whatever the deliveries do, latency from each message's
// scheduled time, so a fan-out that falls behind shows it). Each round
// prints deliveries/s, p50 and p99, and the CPU time each process spent per
// delivery (from /proc), the clients' (this process) apart.
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
	subscribers int
	rounds      int
	messages    int
	rate        int
	vsn         string
	deflate     bool
	payload     int
	bin         string
	profileDir  string
	timeout     time.Duration
}

func main() {
	var o options
	quick := flag.Bool("quick", false, "one short round of each mode")
	flag.IntVar(&o.subscribers, "subscribers", 100, "sockets joined to the channel")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds of each mode")
	flag.IntVar(&o.messages, "messages", 2000, "messages a round")
	flag.IntVar(&o.rate, "rate", 100000, "deliveries a second of the fixed-rate mode (messages a second times subscribers)")
	flag.StringVar(&o.vsn, "vsn", "2.0.0", "protocol version of the sockets (1.0.0: JSON objects, 2.0.0: arrays and binary broadcasts)")
	flag.BoolVar(&o.deflate, "deflate", false, "the clients offer permessage-deflate, as browsers and the ws package do")
	flag.IntVar(&o.payload, "payload", 0, "pad each broadcast's payload to about this many bytes")
	flag.StringVar(&o.bin, "bin", "", "run this madbase binary instead of building one from the working tree")
	flag.StringVar(&o.profileDir, "cpuprofile-dir", "", "write CPU profiles of the workers and the edge (whole run) to this folder")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Minute, "give up after this long")
	flag.Parse()
	if *quick {
		o.rounds, o.messages = 1, 500
	}
	for _, p := range []*string{&o.bin, &o.profileDir} {
		if *p == "" {
			continue
		}
		abs, err := filepath.Abs(*p)
		if err != nil {
			fmt.Fprintln(os.Stderr, "rtbench:", err)
			os.Exit(2)
		}
		*p = abs
	}
	if o.subscribers < 1 || o.rounds < 1 || o.messages < 1 || o.rate < o.subscribers || (o.vsn != "1.0.0" && o.vsn != "2.0.0") {
		fmt.Fprintln(os.Stderr, "rtbench: -subscribers, -rounds and -messages positive, -rate at least -subscribers, -vsn 1.0.0 or 2.0.0")
		os.Exit(2)
	}
	proc.Main("rtbench", o.timeout, func(ctx context.Context) error { return run(ctx, o) }, nil)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s rtbench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}
