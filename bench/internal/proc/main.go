package proc

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Main runs a benchmark's run function until it returns, Ctrl-C or SIGTERM
// arrives, or timeout passes, and exits: 0 on success, 130 when
// interrupted, else exitCode(err) (nil: 1). A closed stdout (| head) makes
// writes fail instead of killing the benchmark before it has stopped its
// children and removed its temporary files.
func Main(name string, timeout time.Duration, run func(ctx context.Context) error, exitCode func(error) int) {
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	err := run(ctx)
	interrupted := ctx.Err() != nil
	cancel()
	stop()
	if err == nil {
		os.Exit(0)
	}
	fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
	switch {
	case exitCode != nil && exitCode(err) != 0:
		os.Exit(exitCode(err))
	case interrupted:
		os.Exit(130)
	}
	os.Exit(1)
}
