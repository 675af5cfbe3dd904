package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/madbase/madbase/bench/internal/proc"
	"github.com/madbase/madbase/bench/internal/stack"
	"github.com/madbase/madbase/shared/secretbox"
)

// benchStack is everything projbench starts: a throwaway PostgreSQL and
// embedded NATS in this process, and control, the workers and the edge as
// madbase processes. Close undoes it in reverse order.
type benchStack struct {
	*stack.Base
	control    *proc.Child
	workers    []*proc.Child
	edge       *proc.Child
	controlURL string
	edgeURL    string
	adminPass  string
}

// children are the madbase processes, for the died-during-the-run check.
func (s *benchStack) children() []*proc.Child {
	return append([]*proc.Child{s.control, s.edge}, s.workers...)
}

func (s *benchStack) check(ctx context.Context) error {
	for _, c := range s.children() {
		if c != nil && c.Exited() {
			return fmt.Errorf("%s exited during the run: %v", c.Name, c.Err())
		}
	}
	return ctx.Err()
}

func startStack(ctx context.Context, o options) (s *benchStack, err error) {
	s = &benchStack{}
	// Every worker may hold PROJECT_DB_MAX_CONNS connections per project
	// it serves, beside the platform's pools: room for all of them, so
	// that the count at the end is what MadBase holds, not a refusal.
	s.Base, err = stack.Start(ctx, stack.Options{
		Name: "projbench", Bin: o.bin, Logf: logf,
		MaxConns: 100 + o.workers*o.projects*(o.poolConns+1),
	})
	if err != nil {
		return s, err
	}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()

	s.adminPass = stack.RandHex(16)
	ports, err := stack.FreePorts(2)
	if err != nil {
		return s, err
	}
	cport, eport := ports[0], ports[1]
	s.controlURL = fmt.Sprintf("http://127.0.0.1:%d", cport)
	s.edgeURL = fmt.Sprintf("http://127.0.0.1:%d", eport)
	env := s.TierEnv(stack.RandHex(32),
		"ADMIN_PASSWORD="+s.adminPass, "MADBASE_ENCRYPTION_KEY="+secretbox.EncodeKey(secretbox.NewKey()),
		"CONTROL_HOST=127.0.0.1", "CONTROL_PORT="+strconv.Itoa(cport), "CONTROL_UPSTREAM_URL="+s.controlURL,
		"EDGE_PORT="+strconv.Itoa(eport),
		"PROJECT_DB_MAX_CONNS="+strconv.Itoa(o.poolConns), "PROJECT_DB_TOTAL_CONNS="+strconv.Itoa(o.totalConns),
		"SHUTDOWN_GRACE=2s",
	)
	start := func(name, tier string, extra ...string) (*proc.Child, error) {
		cmd := exec.Command(s.Exec, tier)
		cmd.Env = append(append(env, "INSTANCE_ID=projbench-"+name), extra...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		return s.StartChild(name, cmd)
	}
	if s.control, err = start("control", "control"); err != nil {
		return s, err
	}
	if err = waitFor(ctx, s, 60*time.Second, "control healthy", func() bool {
		_, err := get(s.controlURL+"/health", nil, 200)
		return err == nil
	}); err != nil {
		return s, err
	}
	for i := range o.workers {
		wport, err := stack.FreePort()
		if err != nil {
			return s, err
		}
		w, err := start(fmt.Sprintf("worker-%d", i+1), "worker", "WORKER_PORT="+strconv.Itoa(wport))
		if err != nil {
			return s, err
		}
		s.workers = append(s.workers, w)
	}
	if s.edge, err = start("edge", "edge"); err != nil {
		return s, err
	}
	logf("control on %s, %d workers, edge on %s; waiting for the workers", s.controlURL, o.workers, s.edgeURL)
	err = waitFor(ctx, s, 60*time.Second, fmt.Sprintf("%d healthy workers at the edge", o.workers), func() bool {
		var h struct {
			Healthy int `json:"workers_healthy"`
		}
		return getJSON(s.edgeURL+"/health", nil, &h) == nil && h.Healthy >= o.workers
	})
	return s, err
}

// waitFor polls ok every 20 ms until it holds, a process died, or timeout.
func waitFor(ctx context.Context, s *benchStack, timeout time.Duration, what string, ok func() bool) error {
	deadline := time.Now().Add(timeout)
	for !ok() {
		if err := s.check(ctx); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}
