package drill

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/madbase/madbase/shared/lifecycle"
)

// Proc is a process the drill started, its output kept in a file and
// counted (lines and bytes), so log volume can be measured over a window.
type Proc struct {
	Name string
	Host *Host // nil: the root namespace
	Log  *LogCounter

	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Start runs cmd with its output going to a LogCounter writing to logPath.
// The process gets SIGKILL if the drill dies; the starting thread is held
// until the process exits, because the kernel sends that signal when the
// thread that forked the child ends (go.dev/issue/27505).
func Start(name string, host *Host, cmd *exec.Cmd, logPath string) (*Proc, error) {
	lc, err := NewLogCounter(logPath)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = lc, lc
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	p := &Proc{Name: name, Host: host, Log: lc, cmd: cmd, done: make(chan struct{})}
	err = lifecycle.StartHeld(cmd, func(waitErr error) {
		p.err = waitErr
		lc.Close()
		close(p.done)
	})
	if err != nil {
		lc.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return p, nil
}

// Signal sends sig to the process.
func (p *Proc) Signal(sig syscall.Signal) error { return p.cmd.Process.Signal(sig) }

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ExitErr is the process's exit status, once Done is closed.
func (p *Proc) ExitErr() error { return p.err }

// Stop sends SIGTERM and, after grace, SIGKILL; it returns once the process
// is gone.
func (p *Proc) Stop(grace time.Duration) {
	if p.Exited() {
		return
	}
	_ = p.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.Signal(syscall.SIGKILL)
		<-p.done
	}
}

// LogCounter writes a process's output to a file and counts what went
// through it.
type LogCounter struct {
	Path string

	mu    sync.Mutex
	f     *os.File
	lines int64
	bytes int64
}

// NewLogCounter creates (or appends to) the file at path.
func NewLogCounter(path string) (*LogCounter, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return &LogCounter{Path: path, f: f}, nil
}

func (l *LogCounter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines += int64(bytes.Count(b, []byte{'\n'}))
	l.bytes += int64(len(b))
	if l.f == nil {
		return len(b), nil
	}
	return l.f.Write(b)
}

// Counts returns the lines and bytes written so far.
func (l *LogCounter) Counts() (lines, size int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lines, l.bytes
}

// Close closes the file; later writes are only counted.
func (l *LogCounter) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		_ = l.f.Close()
		l.f = nil
	}
}

// Tail returns the whole lines among the last n bytes of the log file.
func (l *LogCounter) Tail(n int64) string {
	b, err := os.ReadFile(l.Path)
	if err != nil {
		return err.Error()
	}
	if int64(len(b)) > n {
		b = b[int64(len(b))-n:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(b)
}

// Grep returns the lines of the log file holding s.
func (l *LogCounter) Grep(s string) []string {
	b, err := os.ReadFile(l.Path)
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, s) {
			out = append(out, line)
		}
	}
	return out
}
