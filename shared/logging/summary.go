package logging

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Defaults of a Summarizer.
const (
	DefaultRepeatInterval = 10 * time.Second
	DefaultRepeatBurst    = 5
	// maxRepeatKeys bounds the records a Summarizer tracks at once; records
	// of further kinds pass through unsummarised until older kinds expire.
	maxRepeatKeys = 1024
)

// SummaryOptions configure a Summarizer.
type SummaryOptions struct {
	// Interval is the window in which records of one kind are counted;
	// default DefaultRepeatInterval.
	Interval time.Duration
	// Burst is how many records of one kind are written in each window
	// before the rest are only counted; default DefaultRepeatBurst.
	Burst int
	// Now is the clock; default time.Now (tests pass their own).
	Now func() time.Time
	// MinLevel is the least level summarised; records below it pass
	// untouched (default: warnings and errors only, so info records such as
	// the migrations applied or one line per request are never folded).
	MinLevel *slog.Level
}

// Summarizer is a slog.Handler that keeps a flood of one record from
// swamping the log: of the warnings and errors (SummaryOptions.MinLevel)
// with the same level, message and component, the first Burst of each Interval are passed on, and the rest
// are counted and reported as one record, "<message> (repeated N times)"
// with the attribute repeated=N, when the window ends. A failing upstream
// that makes every request log a warning so costs a few lines per window
// instead of one line per request.
//
// Summaries of windows that ended are written by Flush: on the next record
// of the same kind, and by whoever runs the log path (Shipper.Run calls it
// every Interval, and once more when it stops).
type Summarizer struct {
	next      slog.Handler
	st        *summaryState
	component string
}

var _ slog.Handler = (*Summarizer)(nil)

type summaryKey struct {
	level     slog.Level
	msg       string
	component string
}

// repeat is one kind of record in its current window.
type repeat struct {
	start      time.Time
	seen       int
	suppressed int
	// via is the handler the last suppressed record would have gone
	// through: its summary carries the same attributes (tier, instance,
	// component).
	via slog.Handler
	// addComponent: the component came with the record, not from via.
	addComponent bool
}

type summaryState struct {
	opts SummaryOptions
	mu   sync.Mutex
	keys map[summaryKey]*repeat
}

// NewSummarizer wraps next.
func NewSummarizer(next slog.Handler, opts SummaryOptions) *Summarizer {
	if opts.Interval <= 0 {
		opts.Interval = DefaultRepeatInterval
	}
	if opts.Burst <= 0 {
		opts.Burst = DefaultRepeatBurst
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MinLevel == nil {
		warn := slog.LevelWarn
		opts.MinLevel = &warn
	}
	return &Summarizer{next: next, st: &summaryState{opts: opts, keys: map[summaryKey]*repeat{}}}
}

// Interval is the summary window.
func (h *Summarizer) Interval() time.Duration { return h.st.opts.Interval }

// Enabled reports whether next handles records at level.
func (h *Summarizer) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

// Handle passes r on, or counts it when its kind has used its burst.
func (h *Summarizer) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < *h.st.opts.MinLevel {
		return h.next.Handle(ctx, r)
	}
	key := summaryKey{level: r.Level, msg: r.Message, component: h.component}
	fromRecord := false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "component" {
			key.component, fromRecord = a.Value.String(), true
			return false
		}
		return true
	})
	st := h.st
	now := st.opts.Now()
	st.mu.Lock()
	rp := st.keys[key]
	var ended *summary
	if rp != nil && now.Sub(rp.start) >= st.opts.Interval {
		ended = rp.take(key)
		rp.start, rp.seen = now, 0
	}
	if rp == nil {
		if len(st.keys) >= maxRepeatKeys {
			st.mu.Unlock()
			return h.next.Handle(ctx, r)
		}
		rp = &repeat{start: now}
		st.keys[key] = rp
	}
	rp.seen++
	pass := rp.seen <= st.opts.Burst
	if !pass {
		rp.suppressed++
		rp.via, rp.addComponent = h.next, fromRecord
	}
	st.mu.Unlock()
	ended.write(ctx, now)
	if !pass {
		return nil
	}
	return h.next.Handle(ctx, r)
}

// WithAttrs keeps the component, which names the kind of records.
func (h *Summarizer) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.next = h.next.WithAttrs(as)
	for _, a := range as {
		if a.Key == "component" {
			c.component = a.Value.String()
		}
	}
	return &c
}

// WithGroup groups the attributes that follow.
func (h *Summarizer) WithGroup(name string) slog.Handler {
	c := *h
	c.next = h.next.WithGroup(name)
	return &c
}

// Flush writes the summary of every window that has ended, and with all
// set, of every window: what is still counted is reported now (at
// shutdown). Kinds whose window ended are forgotten, which bounds the
// memory the Summarizer holds.
func (h *Summarizer) Flush(ctx context.Context, all bool) {
	st := h.st
	now := st.opts.Now()
	var out []*summary
	st.mu.Lock()
	for k, rp := range st.keys {
		if !all && now.Sub(rp.start) < st.opts.Interval {
			continue
		}
		if s := rp.take(k); s != nil {
			out = append(out, s)
		}
		delete(st.keys, k)
	}
	st.mu.Unlock()
	for _, s := range out {
		s.write(ctx, now)
	}
}

// summary is one "repeated N times" record to write.
type summary struct {
	key   summaryKey
	count int
	since time.Time
	via   slog.Handler
	// addComponent: the summary carries the component itself.
	addComponent bool
}

// take returns the summary of rp's window (nil when nothing was
// suppressed) and resets its count; the caller holds the lock.
func (rp *repeat) take(k summaryKey) *summary {
	if rp.suppressed == 0 {
		return nil
	}
	s := &summary{key: k, count: rp.suppressed, since: rp.start, via: rp.via, addComponent: rp.addComponent}
	rp.suppressed, rp.via = 0, nil
	return s
}

func (s *summary) write(ctx context.Context, now time.Time) {
	if s == nil {
		return
	}
	r := slog.NewRecord(now, s.key.level, fmt.Sprintf("%s (repeated %d times)", s.key.msg, s.count), 0)
	if s.addComponent {
		r.AddAttrs(slog.String("component", s.key.component))
	}
	r.AddAttrs(slog.Int("repeated", s.count), slog.Time("since", s.since))
	_ = s.via.Handle(ctx, r)
}
