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
	"time"

	"github.com/madbase/madbase/bus"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
)

// Options configure New.
type Options struct {
	Level    string // debug, info, warn, error
	Format   string // json (default) or text, for stderr
	Tier     string
	Instance string
	Out      io.Writer // default os.Stderr
	// Registerer takes madbase_<tier>_log_records_dropped_total; nil:
	// the drops are counted (Shipper.Dropped) but not exported.
	Registerer prometheus.Registerer
	// RepeatInterval is the Summarizer's window: default
	// DefaultRepeatInterval; negative writes every record.
	RepeatInterval time.Duration
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
// before Attach wait in the shipper's buffer. Repeated records are
// summarised (see Summarizer) before they reach stderr or NATS; the
// shipper's Run writes the summaries.
func New(opts Options) (*slog.Logger, *Shipper) {
	lvl, err := ParseLevel(opts.Level)
	if err != nil {
		lvl = slog.LevelInfo
	}
	out := opts.Out
	if out == nil {
		out = os.Stderr
	}
	sh := NewShipper(bus.Logs(opts.Tier, opts.Instance), DefaultShipRecords)
	if opts.Registerer != nil {
		sh.Register(opts.Registerer, opts.Tier)
	}
	hopts := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler
	if opts.Format == "text" {
		h = slog.NewMultiHandler(newTextHandler(out, lvl), slog.NewJSONHandler(sh, hopts))
	} else {
		h = slog.NewJSONHandler(&teeWriter{out: out, sh: sh}, hopts)
	}
	if opts.RepeatInterval >= 0 {
		sum := NewSummarizer(h, SummaryOptions{Interval: opts.RepeatInterval})
		sh.summary = sum
		h = sum
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

// Bounds of a Shipper's buffer.
const (
	DefaultShipRecords = 4096
	DefaultShipBytes   = 1 << 20
)

// Shipper publishes log records to NATS from a buffer bounded in records
// and in bytes. Write never blocks: a record that does not fit is dropped
// and counted. While the NATS connection is away, records wait in the
// buffer (the first of an outage reach NATS when it is back) and the rest
// are dropped; none goes to the NATS client's reconnect buffer, which the
// heartbeats need.
type Shipper struct {
	subject  string
	ch       chan []byte
	maxBytes int64
	queued   atomic.Int64 // bytes in ch
	conn     atomic.Pointer[nats.Conn]
	dropped  atomic.Int64
	ready    chan struct{}
	once     sync.Once
	// summary, when set, is flushed by Run every interval.
	summary *Summarizer
}

// NewShipper makes a shipper for one subject with room for size records
// and DefaultShipBytes bytes.
func NewShipper(subject string, size int) *Shipper {
	return &Shipper{subject: subject, ch: make(chan []byte, size), maxBytes: DefaultShipBytes, ready: make(chan struct{})}
}

// Register exports the drop count as madbase_<tier>_log_records_dropped_total
// on reg. A registry that already has it (two tiers sharing one) keeps the
// first.
func (s *Shipper) Register(reg prometheus.Registerer, tier string) {
	_ = reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "madbase_" + tier + "_log_records_dropped_total",
		Help: "Log records not published on NATS: the buffer was full or NATS refused them.",
	}, func() float64 { return float64(s.dropped.Load()) }))
}

// Write queues one encoded record (a copy of p).
func (s *Shipper) Write(p []byte) (int, error) {
	line := p
	if k := len(line); k > 0 && line[k-1] == '\n' {
		line = line[:k-1]
	}
	n := int64(len(line))
	if s.queued.Add(n) > s.maxBytes {
		s.queued.Add(-n)
		s.dropped.Add(1)
		return len(p), nil
	}
	rec := make([]byte, len(line))
	copy(rec, line)
	select {
	case s.ch <- rec:
	default:
		s.queued.Add(-n)
		s.dropped.Add(1)
	}
	return len(p), nil
}

// Dropped is how many records were dropped because the buffer was full or
// NATS refused them.
func (s *Shipper) Dropped() int64 { return s.dropped.Load() }

// Queued is how many bytes of records wait to be published.
func (s *Shipper) Queued() int64 { return s.queued.Load() }

// Attach starts publishing on nc. Records wait in the buffer until then.
func (s *Shipper) Attach(nc *nats.Conn) {
	s.conn.Store(nc)
	s.once.Do(func() { close(s.ready) })
}

// reconnectPoll is how often Run looks whether a lost connection is back.
const reconnectPoll = 100 * time.Millisecond

// Run publishes queued records until ctx is done, and writes the summaries
// of repeated records every interval. When ctx is done it writes what is
// still summarised and publishes what is left if NATS is there (best
// effort). Publishing only appends to the NATS client's own buffer.
func (s *Shipper) Run(ctx context.Context) error {
	var tick <-chan time.Time
	if s.summary != nil {
		t := time.NewTicker(s.summary.Interval())
		defer t.Stop()
		tick = t.C
	}
	defer s.finish()
	ready := s.ready
	var records chan []byte
	var poll <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick:
			s.summary.Flush(ctx, false)
			continue
		case <-ready:
			ready = nil
		case <-poll:
			poll = nil
		case rec := <-records:
			s.queued.Add(-int64(len(rec)))
			if s.conn.Load().Publish(s.subject, rec) != nil {
				s.dropped.Add(1)
			}
		}
		// Take records only while the connection is up: they wait in the
		// bounded buffer meanwhile.
		records = nil
		if ready == nil {
			if s.conn.Load().IsConnected() {
				records = s.ch
			} else if poll == nil {
				poll = time.After(reconnectPoll)
			}
		}
	}
}

// finish writes the summaries still counted, then publishes what is left
// when NATS is there.
func (s *Shipper) finish() {
	if s.summary != nil {
		s.summary.Flush(context.Background(), true)
	}
	nc := s.conn.Load()
	if nc == nil || !nc.IsConnected() {
		return
	}
	for {
		select {
		case rec := <-s.ch:
			s.queued.Add(-int64(len(rec)))
			if nc.Publish(s.subject, rec) != nil {
				s.dropped.Add(1)
			}
		default:
			return
		}
	}
}
