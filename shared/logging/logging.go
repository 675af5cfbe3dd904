// Package logging builds the slog loggers every tier uses: JSON (or text) on
// stderr, and every record also published to NATS on bus.Logs(tier,
// instance) without ever blocking the caller.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/madbase/madbase/bus"
	"github.com/nats-io/nats.go"
)

// Options configure New.
type Options struct {
	Level    string // debug, info, warn, error
	Format   string // json (default) or text, for stderr
	Tier     string
	Instance string
	Out      io.Writer // default os.Stderr
}

// ParseLevel maps LOG_LEVEL values to slog levels.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "", "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("unknown log level %q", s)
}

// New returns a logger whose records carry tier and instance, and the
// Shipper that publishes them to NATS once Attach is called. Records logged
// before Attach wait in the shipper's buffer.
func New(opts Options) (*slog.Logger, *Shipper) {
	lvl, err := ParseLevel(opts.Level)
	if err != nil {
		lvl = slog.LevelInfo
	}
	out := opts.Out
	if out == nil {
		out = os.Stderr
	}
	sh := NewShipper(bus.Logs(opts.Tier, opts.Instance), 4096)
	hopts := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler
	if opts.Format == "text" {
		h = slog.NewMultiHandler(slog.NewTextHandler(out, hopts), slog.NewJSONHandler(sh, hopts))
	} else {
		h = slog.NewJSONHandler(&teeWriter{out: out, sh: sh}, hopts)
	}
	return slog.New(h).With("tier", opts.Tier, "instance", opts.Instance), sh
}

// Discard is a logger that drops everything, for tests that don't look.
func Discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// teeWriter sends each encoded record (slog writes one per call) to stderr
// and to the shipper, so the record is encoded once.
type teeWriter struct {
	mu  sync.Mutex
	out io.Writer
	sh  *Shipper
}

func (t *teeWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	_, err := t.out.Write(p)
	t.mu.Unlock()
	t.sh.Write(p)
	return len(p), err
}

// Shipper publishes log records to NATS from a bounded buffer. Write never
// blocks: when the buffer is full the record is dropped and counted.
type Shipper struct {
	subject string
	ch      chan []byte
	conn    atomic.Pointer[nats.Conn]
	dropped atomic.Int64
	ready   chan struct{}
	once    sync.Once
}

// NewShipper makes a shipper for one subject with room for size records.
func NewShipper(subject string, size int) *Shipper {
	return &Shipper{subject: subject, ch: make(chan []byte, size), ready: make(chan struct{})}
}

// Write queues one encoded record (a copy of p).
func (s *Shipper) Write(p []byte) (int, error) {
	rec := make([]byte, len(p))
	copy(rec, p)
	if n := len(rec); n > 0 && rec[n-1] == '\n' {
		rec = rec[:n-1]
	}
	select {
	case s.ch <- rec:
	default:
		s.dropped.Add(1)
	}
	return len(p), nil
}

// Dropped is how many records were dropped because the buffer was full.
func (s *Shipper) Dropped() int64 { return s.dropped.Load() }

// Attach starts publishing on nc. Records wait in the buffer until then.
func (s *Shipper) Attach(nc *nats.Conn) {
	s.conn.Store(nc)
	s.once.Do(func() { close(s.ready) })
}

// Run publishes queued records until ctx is done, then flushes what is left
// (best effort). Publishing only appends to the NATS client's own buffer.
func (s *Shipper) Run(ctx context.Context) error {
	select {
	case <-s.ready:
	case <-ctx.Done():
		return nil
	}
	nc := s.conn.Load()
	for {
		select {
		case rec := <-s.ch:
			if nc.Publish(s.subject, rec) != nil {
				s.dropped.Add(1)
			}
		case <-ctx.Done():
			for {
				select {
				case rec := <-s.ch:
					_ = nc.Publish(s.subject, rec)
				default:
					return nil
				}
			}
		}
	}
}
