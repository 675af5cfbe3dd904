package logsink

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/madbase/madbase/bus"
	"github.com/madbase/madbase/bus/bustest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func line(tier, level, rid string, at time.Time, msg string) []byte {
	return fmt.Appendf(nil, `{"time":%q,"level":%q,"msg":%q,"tier":%q,"instance":"i1","request_id":%q}`,
		at.Format(time.RFC3339Nano), level, msg, tier, rid)
}

func msgs(rs []Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		_, all, _ := bus.ParseLogRecord(r.Raw)
		out[i], _ = all["msg"].(string)
	}
	return out
}

func get(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestSinkQueryFilters(t *testing.T) {
	t.Parallel()
	s := New(slog.New(slog.DiscardHandler), prometheus.NewRegistry(), 100)
	require.NoError(t, s.Add(line("edge", "DEBUG", "", t0, "a")))
	require.NoError(t, s.Add(line("worker", "INFO", "r1", t0.Add(time.Minute), "b")))
	require.NoError(t, s.Add(line("worker", "WARN", "r2", t0.Add(2*time.Minute), "c")))
	require.NoError(t, s.Add(line("control", "ERROR", "r1", t0.Add(3*time.Minute), "d")))
	require.NoError(t, s.Add(line("edge", "INFO+2", "", t0.Add(4*time.Minute), "e")))
	require.ErrorIs(t, s.Add([]byte(`"just a string"`)), ErrNotObject)
	require.ErrorIs(t, s.Add([]byte(`null`)), ErrNotObject)
	require.Error(t, s.Add([]byte(`{"time":`)))
	assert.Equal(t, 5, s.Len())

	now := t0.Add(5 * time.Minute)
	for _, tc := range []struct {
		name  string
		query map[string]string
		want  []string
	}{
		{"all", nil, []string{"a", "b", "c", "d", "e"}},
		{"tier", map[string]string{"tier": "worker"}, []string{"b", "c"}},
		{"level is a minimum", map[string]string{"level": "warn"}, []string{"c", "d"}},
		{"level any case", map[string]string{"level": "INFO"}, []string{"b", "c", "d", "e"}},
		{"request id", map[string]string{"request_id": "r1"}, []string{"b", "d"}},
		{"since time", map[string]string{"since": t0.Add(3 * time.Minute).Format(time.RFC3339)}, []string{"d", "e"}},
		{"since duration", map[string]string{"since": "150s"}, []string{"d", "e"}},
		{"limit keeps newest", map[string]string{"limit": "2"}, []string{"d", "e"}},
		{"combined", map[string]string{"tier": "worker", "level": "info", "request_id": "r2"}, []string{"c"}},
	} {
		f, err := ParseFilter(get(tc.query), now)
		require.NoError(t, err, tc.name)
		assert.Equal(t, tc.want, msgs(s.Query(f)), tc.name)
	}
}

func TestParseFilterErrors(t *testing.T) {
	t.Parallel()
	for _, q := range []map[string]string{
		{"level": "loud"},
		{"since": "yesterday"},
		{"since": "-5m"},
		{"limit": "0"},
		{"limit": "x"},
	} {
		_, err := ParseFilter(get(q), t0)
		assert.Error(t, err, "%v", q)
	}
	f, err := ParseFilter(get(map[string]string{"limit": "5000"}), t0)
	require.NoError(t, err)
	assert.Equal(t, MaxLimit, f.Limit)
	f, err = ParseFilter(get(nil), t0)
	require.NoError(t, err)
	assert.Equal(t, DefaultLimit, f.Limit)
	assert.Equal(t, AnyLevel, f.Level)
}

func TestSinkKeepsRawCompact(t *testing.T) {
	t.Parallel()
	s := New(slog.New(slog.DiscardHandler), nil, 10)
	require.NoError(t, s.Add([]byte("{\n  \"level\": \"INFO\",\n  \"msg\": \"x\", \"extra\": {\"k\": 1}\n}\n")))
	got := s.Query(Filter{Level: AnyLevel})
	require.Len(t, got, 1)
	assert.JSONEq(t, `{"level":"INFO","msg":"x","extra":{"k":1}}`, string(got[0].Raw))
	assert.NotContains(t, string(got[0].Raw), "\n")
	assert.False(t, got[0].Time.IsZero(), "arrival time stands in for a missing time")
}

func TestSinkWatch(t *testing.T) {
	t.Parallel()
	s := New(slog.New(slog.DiscardHandler), nil, 10)
	ch, stop := s.Watch(Filter{Tier: "edge", Level: AnyLevel}, 2)
	require.NoError(t, s.Add(line("worker", "INFO", "", t0, "no")))
	require.NoError(t, s.Add(line("edge", "INFO", "", t0, "yes1")))
	require.NoError(t, s.Add(line("edge", "INFO", "", t0, "yes2")))
	require.NoError(t, s.Add(line("edge", "INFO", "", t0, "dropped: reader is behind")))
	assert.Equal(t, []string{"yes1"}, msgs([]Record{<-ch}))
	assert.Equal(t, []string{"yes2"}, msgs([]Record{<-ch}))
	select {
	case r := <-ch:
		t.Fatalf("unexpected record %s", r.Raw)
	default:
	}
	assert.Equal(t, 1, s.Watchers())
	stop()
	stop() // twice is fine
	_, open := <-ch
	assert.False(t, open)
	assert.Equal(t, 0, s.Watchers())

	ch2, _ := s.Watch(Filter{Level: AnyLevel}, 0)
	require.NoError(t, s.Close())
	_, open = <-ch2
	assert.False(t, open, "closing the sink ends watchers")
	ch3, _ := s.Watch(Filter{Level: AnyLevel}, 0)
	_, open = <-ch3
	assert.False(t, open, "watching a closed sink ends at once")
}

func TestSinkOverNATS(t *testing.T) {
	t.Parallel()
	srv := bustest.RunServer(t)
	nc := bustest.Connect(t, srv)
	s := New(slog.New(slog.DiscardHandler), nil, 3)
	require.NoError(t, s.Subscribe(nc))
	require.NoError(t, nc.Flush())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()

	pub := bustest.Connect(t, srv)
	for i := range 5 {
		require.NoError(t, pub.Publish(bus.Logs("worker", "w1"), line("worker", "INFO", "", t0, fmt.Sprint(i))))
	}
	require.NoError(t, pub.Flush())
	bustest.Eventually(t, 5*time.Second, func() bool {
		return assert.ObjectsAreEqual([]string{"2", "3", "4"}, msgs(s.Query(Filter{Level: AnyLevel, Limit: 10})))
	}, "the sink keeps the last 3 records")
	cancel()
	require.NoError(t, <-done)
}
