// Package logsink collects the log records every tier publishes on NATS and
// keeps the most recent ones in memory for the admin API, which queries them
// and streams new ones to operators.
//
// Control's own records come back through NATS too. Nothing here logs per
// received record, so that loop never feeds itself.
package logsink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/madbase/madbase/bus"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
)

// Record is one log record: its raw JSON object, as the tier published it,
// and the fields filters look at.
type Record struct {
	Raw       json.RawMessage
	Time      time.Time // the record's own time, or when it arrived if it had none
	Level     slog.Level
	Tier      string
	Instance  string
	RequestID string
}

// DefaultWatchBuffer is how many records a live watcher may fall behind
// before records are dropped for it.
const DefaultWatchBuffer = 256

// ErrNotObject is returned by Add for data that is not a JSON object.
var ErrNotObject = errors.New("log record is not a JSON object")

// Sink holds the recent records and the live watchers.
type Sink struct {
	log *slog.Logger
	now func() time.Time

	received prometheus.Counter
	invalid  prometheus.Counter
	dropped  prometheus.Counter

	mu       sync.Mutex
	ring     *Ring
	watchers map[*watcher]struct{}
	closed   bool
	subs     []*nats.Subscription
}

type watcher struct {
	f  Filter
	ch chan Record
}

// New makes a sink keeping the last size records and registers its metrics
// on reg (when reg is not nil).
func New(log *slog.Logger, reg prometheus.Registerer, size int) *Sink {
	s := &Sink{
		log: log.With("component", "logsink"),
		now: time.Now,
		received: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "madbase_control_log_records_total",
			Help: "Log records received from NATS.",
		}),
		invalid: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "madbase_control_log_records_invalid_total",
			Help: "Messages on the log subjects that were not JSON log records.",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "madbase_control_log_stream_dropped_total",
			Help: "Log records not sent to a live stream because its reader fell behind.",
		}),
		ring:     NewRing(size),
		watchers: map[*watcher]struct{}{},
	}
	if reg != nil {
		reg.MustRegister(s.received, s.invalid, s.dropped)
	}
	return s
}

// Subscribe starts collecting every tier's records from nc. It is a plain
// fan-out subscription, not a queue group: every control instance keeps the
// whole log.
func (s *Sink) Subscribe(nc *nats.Conn) error {
	sub, err := nc.Subscribe(bus.AllLogs, func(m *nats.Msg) {
		// Not logged, whatever happens: control's own records arrive here.
		_ = s.Add(m.Data)
	})
	if err != nil {
		return err
	}
	// A burst of records must not make NATS drop them as a slow consumer
	// before Add keeps up.
	_ = sub.SetPendingLimits(65536, 64<<20)
	s.mu.Lock()
	s.subs = append(s.subs, sub)
	s.mu.Unlock()
	return nil
}

// Run waits until ctx is done, then ends the subscription and every live
// watcher (their channels are closed).
func (s *Sink) Run(ctx context.Context) error {
	<-ctx.Done()
	return s.Close()
}

// Close ends the subscription and closes every watcher's channel.
func (s *Sink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, sub := range s.subs {
		if err := sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) && !errors.Is(err, nats.ErrBadSubscription) {
			errs = append(errs, err)
		}
	}
	s.subs = nil
	s.closed = true
	for w := range s.watchers {
		close(w.ch)
		delete(s.watchers, w)
	}
	return errors.Join(errs...)
}

// Add parses one published record, keeps it and hands it to the matching
// watchers without waiting for them.
func (s *Sink) Add(data []byte) error {
	rec, err := parse(data, s.now())
	if err != nil {
		s.invalid.Inc()
		return err
	}
	s.received.Inc()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ring.Push(rec)
	for w := range s.watchers {
		if !w.f.Match(rec) {
			continue
		}
		select {
		case w.ch <- rec:
		default:
			s.dropped.Inc()
		}
	}
	return nil
}

// parse keeps a compact private copy of data with the fields filters need.
func parse(data []byte, now time.Time) (Record, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return Record{}, ErrNotObject
	}
	lr, _, err := bus.ParseLogRecord(trimmed)
	if err != nil {
		return Record{}, err
	}
	var raw []byte
	if bytes.ContainsAny(trimmed, "\r\n") {
		// One record must stay on one line (an SSE data line).
		var buf bytes.Buffer
		if err := json.Compact(&buf, trimmed); err != nil {
			return Record{}, err
		}
		raw = buf.Bytes()
	} else {
		raw = bytes.Clone(trimmed)
	}
	rec := Record{
		Raw:       raw,
		Time:      lr.Time,
		Tier:      lr.Tier,
		Instance:  lr.Instance,
		RequestID: lr.RequestID,
	}
	if rec.Time.IsZero() {
		rec.Time = now
	}
	if lvl, err := ParseLevel(lr.Level); err == nil {
		rec.Level = lvl
	} else {
		rec.Level = slog.LevelInfo
	}
	return rec, nil
}

// Query returns, oldest first, the newest f.Limit records that match f.
func (s *Sink) Query(f Filter) []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ring.Last(f.Limit, f.Match)
}

// Len is how many records the sink holds.
func (s *Sink) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ring.Len()
}

// Watch returns a channel receiving every record added from now on that
// matches f, and a function to stop watching. The channel holds up to buffer
// records (DefaultWatchBuffer when buffer <= 0); a watcher that falls further
// behind loses records rather than slow the sink. The channel is closed by
// stop and when the sink closes.
func (s *Sink) Watch(f Filter, buffer int) (<-chan Record, func()) {
	if buffer <= 0 {
		buffer = DefaultWatchBuffer
	}
	w := &watcher{f: f, ch: make(chan Record, buffer)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		close(w.ch)
		return w.ch, func() {}
	}
	s.watchers[w] = struct{}{}
	return w.ch, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, ok := s.watchers[w]; ok {
			delete(s.watchers, w)
			close(w.ch)
		}
	}
}

// Watchers is how many live watchers there are.
func (s *Sink) Watchers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.watchers)
}
