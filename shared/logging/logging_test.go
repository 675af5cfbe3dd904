package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/madbase/madbase/bus"
	"github.com/madbase/madbase/bus/bustest"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLogsOverNATS(t *testing.T) {
	ns := bustest.RunServer(t)
	nc := bustest.Connect(t, ns)
	got := make(chan *nats.Msg, 16)
	sub, err := nc.ChanSubscribe(bus.AllLogs, got)
	require.NoError(t, err)
	defer sub.Unsubscribe()
	require.NoError(t, nc.Flush())

	var out bytes.Buffer
	log, sh := New(Options{Level: "info", Tier: "edge", Instance: "edge-1", Out: &out})
	log.Info("before attach", "request_id", "r1") // waits in the buffer
	pub := bustest.Connect(t, ns)
	sh.Attach(pub)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sh.Run(ctx) }()
	log.Warn("after attach", "component", "proxy")
	log.Debug("not at info level")

	var msgs []*nats.Msg
	timeout := time.After(5 * time.Second)
	for len(msgs) < 2 {
		select {
		case m := <-got:
			msgs = append(msgs, m)
		case <-timeout:
			t.Fatalf("got %d records over NATS, want 2", len(msgs))
		}
	}
	cancel()
	require.NoError(t, <-done)

	assert.Equal(t, bus.Logs("edge", "edge-1"), msgs[0].Subject)
	rec, all, err := bus.ParseLogRecord(msgs[0].Data)
	require.NoError(t, err)
	assert.Equal(t, "before attach", rec.Msg)
	assert.Equal(t, "INFO", rec.Level)
	assert.Equal(t, "edge", rec.Tier)
	assert.Equal(t, "edge-1", rec.Instance)
	assert.Equal(t, "r1", rec.RequestID)
	rec, all, err = bus.ParseLogRecord(msgs[1].Data)
	require.NoError(t, err)
	assert.Equal(t, "WARN", rec.Level)
	assert.Equal(t, "proxy", all["component"])
	// stderr got the same records, one JSON object per line.
	assert.Equal(t, 2, strings.Count(out.String(), "\n"))
	assert.NotContains(t, out.String(), "not at info level")
}

func TestLogLevelDebug(t *testing.T) {
	var out bytes.Buffer
	log, _ := New(Options{Level: "debug", Tier: "worker", Instance: "w", Out: &out})
	log.Debug("visible")
	assert.Contains(t, out.String(), `"level":"DEBUG","msg":"visible"`)
	out.Reset()
	log, _ = New(Options{Level: "warn", Tier: "worker", Instance: "w", Out: &out})
	log.Info("hidden")
	assert.Empty(t, out.String())
}

func TestShipperNeverBlocks(t *testing.T) {
	sh := NewShipper("madbase.logs.x.y", 4)
	done := make(chan struct{})
	go func() {
		for i := 0; i < 1000; i++ {
			_, _ = sh.Write([]byte("{}\n")) // nobody publishes: the buffer fills
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Write blocked with a full buffer")
	}
	assert.Equal(t, int64(996), sh.Dropped())
}

func TestTextFormat(t *testing.T) {
	var out bytes.Buffer
	log, sh := New(Options{Level: "info", Format: "text", Tier: "worker", Instance: "worker-1", Out: &out, RepeatInterval: -1})
	log.Info("hello", "k", "v")
	log.Debug("too quiet")
	log.With("component", "bus").Warn("cannot reach NATS; retrying", "nats", "nats://127.0.0.1:4222",
		"error", errors.New("connection refused"), "empty", "", "n", 3, "took", 1500*time.Millisecond)
	log.WithGroup("req").Error("failed", "status", 502, slog.Group("db", "pool", "main"))
	ctl, _ := New(Options{Level: "info", Format: "text", Tier: "control", Instance: "control", Out: &out, RepeatInterval: -1})
	ctl.Info("started", "component", "control", "url", "http://127.0.0.1:8001")
	ctl.Info("projects: project added", "component", "projects")

	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	require.Len(t, lines, 5, out.String())
	clock := `\d\d:\d\d:\d\d\.\d{3} `
	assert.Regexp(t, `^`+clock+`INFO  worker/worker-1 hello  k=v$`, lines[0])
	assert.Regexp(t, `^`+clock+`WARN  worker/worker-1 bus: cannot reach NATS; retrying  nats=nats://127.0.0.1:4222 `+
		`error="connection refused" empty="" n=3 took=1.5s$`, lines[1])
	assert.Regexp(t, `^`+clock+`ERROR worker/worker-1 failed  req.status=502 req.db.pool=main$`, lines[2])
	assert.Regexp(t, `^`+clock+`INFO  control started  url=http://127.0.0.1:8001$`, lines[3], "tier and instance said once")
	assert.Regexp(t, `^`+clock+`INFO  control projects: project added$`, lines[4], "the component said once")

	// What is shipped to NATS stays JSON.
	var rec map[string]any
	require.NoError(t, json.Unmarshal(<-sh.ch, &rec))
	assert.Equal(t, "hello", rec["msg"])
	assert.Equal(t, "worker", rec["tier"])
}
