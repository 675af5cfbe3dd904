package logging

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/madbase/madbase/bus"
	"github.com/madbase/madbase/bus/bustest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// clock is a settable time for summary windows.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// lines decodes JSON log lines.
func lines(t *testing.T, b []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m), sc.Text())
		out = append(out, m)
	}
	return out
}

// 100k identical warnings, spread over windows, make a few lines: the first
// of each window, then one summary per window whose counts add up exactly.
func TestSummarizerRepeatedWarnings(t *testing.T) {
	var out bytes.Buffer
	clk := &clock{now: time.Unix(1000, 0)}
	sum := NewSummarizer(slog.NewJSONHandler(&out, nil), SummaryOptions{Interval: time.Second, Burst: 3, Now: clk.Now})
	log := slog.New(sum).With("tier", "edge")
	const n = 100_000
	for i := range n {
		log.Warn("upstream failed", "component", "proxy", "request_id", i)
		if i%25_000 == 24_999 {
			clk.Add(time.Second) // four windows
		}
	}
	log.Info("another kind", "component", "proxy")
	sum.Flush(context.Background(), true)

	recs := lines(t, out.Bytes())
	assert.LessOrEqual(t, len(recs), 4*(3+1)+1, "a bounded number of lines")
	written, repeated, summaries := 0, 0, 0
	for _, r := range recs {
		switch {
		case r["msg"] == "upstream failed":
			written++
		case strings.HasPrefix(r["msg"].(string), "upstream failed (repeated "):
			summaries++
			k := int(r["repeated"].(float64))
			assert.Equal(t, "upstream failed (repeated "+itoa(k)+" times)", r["msg"])
			assert.Equal(t, "WARN", r["level"])
			assert.Equal(t, "proxy", r["component"])
			assert.Equal(t, "edge", r["tier"])
			repeated += k
		}
	}
	assert.Equal(t, 4, summaries, "one summary per window")
	assert.Equal(t, 12, written, "the first three of each window")
	assert.Equal(t, n, written+repeated, "every warning is written or counted")
	assert.Equal(t, "another kind", recs[len(recs)-2]["msg"], "other records pass; the last window's summary comes at the flush")
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// Records of different components, levels or messages are different kinds.
func TestSummarizerKinds(t *testing.T) {
	var out bytes.Buffer
	clk := &clock{now: time.Unix(1000, 0)}
	log := slog.New(NewSummarizer(slog.NewJSONHandler(&out, nil), SummaryOptions{Interval: time.Second, Burst: 1, Now: clk.Now}))
	pool := log.With("component", "pool")
	for range 3 {
		log.Warn("m", "component", "proxy")
		pool.Warn("m")
		log.Error("m", "component", "proxy")
		log.Warn("other", "component", "proxy")
	}
	assert.Len(t, lines(t, out.Bytes()), 4)
}

// With NATS away, the shipper keeps what fits its bound and counts the
// rest, in its metric too; nothing piles up anywhere else.
func TestShipperWithoutNATSDropsAndCounts(t *testing.T) {
	ns := bustest.RunRestartable(t)
	ns.Stop()
	nc, err := bus.Connect(ns.URL(), "test", Discard())
	require.NoError(t, err)
	t.Cleanup(nc.Close)

	reg := prometheus.NewRegistry()
	log, sh := New(Options{Level: "info", Tier: "edge", Instance: "e", Out: &bytes.Buffer{}, Registerer: reg, RepeatInterval: -1})
	sh.Attach(nc)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sh.Run(ctx) }()

	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const n = 100_000
	detail := strings.Repeat("x", 1000)
	for i := range n {
		log.Warn("upstream failed", "request_id", i, "detail", detail)
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)

	assert.LessOrEqual(t, sh.Queued(), int64(DefaultShipBytes))
	kept := int64(len(sh.ch))
	assert.Positive(t, kept, "the first records wait for NATS")
	assert.Equal(t, int64(n)-kept, sh.Dropped(), "every record is kept or counted")
	assert.Equal(t, float64(sh.Dropped()), testutil.ToFloat64(metricOf(t, reg)))
	assert.Less(t, int64(after.HeapAlloc)-int64(before.HeapAlloc), int64(16<<20), "the log path holds its bound")

	// When NATS is back, what waited is published.
	ns.Start()
	bustest.Eventually(t, 10*time.Second, func() bool { return len(sh.ch) == 0 }, "the waiting records published")
	cancel()
	require.NoError(t, <-done)
}

func metricOf(t *testing.T, reg *prometheus.Registry) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	require.Len(t, mfs, 1)
	assert.Equal(t, "madbase_edge_log_records_dropped_total", mfs[0].GetName())
	return gathered{reg}
}

// gathered adapts a registry holding one counter to testutil.ToFloat64.
type gathered struct{ reg *prometheus.Registry }

func (g gathered) Describe(ch chan<- *prometheus.Desc) { g.reg.Describe(ch) }
func (g gathered) Collect(ch chan<- prometheus.Metric) { g.reg.Collect(ch) }

// Info records are never folded: a migration run or one line per request
// must read in full.
func TestSummarizerLeavesInfoAlone(t *testing.T) {
	var out bytes.Buffer
	clk := &clock{now: time.Unix(1000, 0)}
	sum := NewSummarizer(slog.NewJSONHandler(&out, nil), SummaryOptions{Interval: time.Second, Burst: 2, Now: clk.Now})
	log := slog.New(sum)
	for i := range 10 {
		log.Info("applied migration", "version", i)
	}
	clk.Add(2 * time.Second)
	sum.Flush(context.Background(), true)
	got := lines(t, out.Bytes())
	require.Len(t, got, 10)
	for _, l := range got {
		assert.Equal(t, "applied migration", l["msg"])
	}
}
