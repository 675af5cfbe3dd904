package main

import (
	"github.com/madbase/madbase/bench/internal/proc"
	"github.com/madbase/madbase/bench/internal/stack"

	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/madbase/madbase/edge"
	"github.com/madbase/madbase/shared/config"
)

const (
	envCPUProfile = "EDGEBENCH_CPUPROFILE"
	envMemProfile = "EDGEBENCH_MEMPROFILE"
)

// startEdge runs the edge in a re-executed copy of this binary (or of exe,
// another edgebench build), on a listener made here and passed down as fd 3.
func startEdge(ctx context.Context, o options, exe, natsURL string, upstreams []string) (*proc.Child, string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	f, err := ln.(*net.TCPListener).File()
	_ = ln.Close() // the duplicate in f keeps the socket listening
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	url := "http://" + ln.Addr().String()

	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return nil, "", err
		}
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(),
		childEnv+"=edge",
		"NATS_URL="+natsURL,
		"WORKER_UPSTREAM_URLS="+strings.Join(upstreams, ","),
		"LOG_LEVEL=warn",
		"LOG_FORMAT=text",
		"INSTANCE_ID=edgebench-edge",
		"SHUTDOWN_GRACE=2s",
	)
	for _, kv := range []struct{ env, path string }{{envCPUProfile, o.cpuProfile}, {envMemProfile, o.memProfile}} {
		if kv.path != "" {
			p, err := filepath.Abs(kv.path)
			if err != nil {
				return nil, "", err
			}
			cmd.Env = append(cmd.Env, kv.env+"="+p)
		}
	}
	cmd.Env = append(cmd.Env, o.edgeEnv...)
	cmd.ExtraFiles = []*os.File{f}
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	c, err := proc.Start("edge", cmd, syscall.SIGKILL)
	if err != nil {
		return nil, "", err
	}

	// Ready once /health counts both backend ports as healthy workers.
	if err := stack.WaitWorkersAtEdge(ctx, url, len(upstreams), 20*time.Second, c); err != nil {
		c.Stop(syscall.SIGTERM, 5*time.Second)
		return nil, "", err
	}
	return c, url, nil
}

// runEdgeChild is main of the re-executed binary: edge.Run on fd 3 until
// SIGTERM, with optional CPU and heap profiles for investigations.
func runEdgeChild() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "edgebench edge:", err); return 1 }

	var cfg config.Edge
	if err := config.Load(&cfg, config.Env); err != nil {
		return fail(err)
	}
	ln, err := net.FileListener(os.NewFile(3, "edge-listener"))
	if err != nil {
		return fail(err)
	}
	if path := os.Getenv(envCPUProfile); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return fail(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return fail(err)
		}
		defer func() { pprof.StopCPUProfile(); _ = f.Close() }()
	}
	err = edge.Run(ctx, cfg, edge.Options{Listener: ln, LogOut: os.Stderr, Version: "edgebench"})
	if path := os.Getenv(envMemProfile); path != "" {
		if f, ferr := os.Create(path); ferr == nil {
			runtime.GC()
			_ = pprof.Lookup("allocs").WriteTo(f, 0)
			_ = f.Close()
		}
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return fail(err)
	}
	return 0
}
