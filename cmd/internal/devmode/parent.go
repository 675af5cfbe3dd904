package devmode

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// parentWatch returns an actor that stops dev when the `go run` that started it is gone:
// `go run` dies of a SIGTERM without passing it on, which would leave the platform
// running, reparented, with its ports and data folder held. Only a parent that is the go
// command is watched, so that `madbase dev &` or nohup outlive their shell as asked.
func parentWatch(log *slog.Logger) func(context.Context) error {
	ppid := os.Getppid()
	comm, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(ppid), "comm"))
	if err != nil || strings.TrimSpace(string(comm)) != "go" {
		return nil
	}
	return watchParent(ppid, os.Getppid, 500*time.Millisecond, log)
}

// watchParent returns when getppid no longer answers ppid (the parent died and the
// process was reparented) or ctx ends.
func watchParent(ppid int, getppid func() int, every time.Duration, log *slog.Logger) func(context.Context) error {
	return func(ctx context.Context) error {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
				if getppid() != ppid {
					log.Warn("the go run that started madbase dev is gone; stopping", "component", "dev", "parent_pid", ppid)
					return nil
				}
			}
		}
	}
}
