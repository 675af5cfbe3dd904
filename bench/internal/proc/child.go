package proc

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Child is a process a benchmark started; Stop ends it and its process group.
type Child struct {
	Name string
	Cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited
	err  error         // Wait's result, valid after done
}

// Start starts cmd in its own process group, so Ctrl-C reaches only the
// benchmark, which then stops its children in order; deathSig (Pdeathsig)
// covers a benchmark killed outright.
func Start(name string, cmd *exec.Cmd, deathSig syscall.Signal) (*Child, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = deathSig
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &Child{Name: name, Cmd: cmd, done: make(chan struct{})}
	go func() { c.err = cmd.Wait(); close(c.done) }()
	return c, nil
}

// Pid is the process id.
func (c *Child) Pid() int { return c.Cmd.Process.Pid }

// Done is closed once the process has exited.
func (c *Child) Done() <-chan struct{} { return c.done }

// Exited reports whether the process has exited.
func (c *Child) Exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// Err is Wait's result; nil while the process runs.
func (c *Child) Err() error {
	if !c.Exited() {
		return nil
	}
	return c.err
}

// Stop sends sig, waits up to grace, then kills the whole process group.
// It is a no-op on a nil Child.
func (c *Child) Stop(sig syscall.Signal, grace time.Duration) {
	if c == nil {
		return
	}
	_ = syscall.Kill(c.Pid(), sig)
	select {
	case <-c.done:
	case <-time.After(grace):
		fmt.Fprintf(os.Stderr, "%s did not stop within %s, killing it\n", c.Name, grace)
	}
	// Leftovers (e.g. nginx workers) share the group id, which is the leader's pid.
	_ = syscall.Kill(-c.Pid(), syscall.SIGKILL)
	<-c.done
}
