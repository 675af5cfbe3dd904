package realtime

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/madbase/madbase/shared/config"
	"github.com/stretchr/testify/require"
	"github.com/valyala/fastjson"
)

var benchConfig = config.Realtime{RealtimeMaxEventsPerSecond: 1 << 30}

// latencies collects send-to-receipt durations.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) { l.mu.Lock(); l.d = append(l.d, d); l.mu.Unlock() }

func (l *latencies) report(b *testing.B, elapsed time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return
	}
	sort.Slice(l.d, func(i, j int) bool { return l.d[i] < l.d[j] })
	b.ReportMetric(float64(len(l.d))/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(float64(l.d[len(l.d)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(l.d[len(l.d)*99/100].Microseconds()), "p99-µs")
}

// tally counts deliveries across the subscribers and wakes the publisher
// once the count it waits for is reached, not at every delivery.
type tally struct {
	n, target atomic.Int64
	reached   chan struct{}
}

func newTally() *tally { return &tally{reached: make(chan struct{}, 1)} }

func (t *tally) add() {
	if t.n.Add(1) == t.target.Load() {
		select {
		case t.reached <- struct{}{}:
		default:
		}
	}
}

// await waits until n deliveries more than those counted at the call
// arrived; it must be called before the messages are sent.
func (t *tally) await(n int64) func() error {
	want := t.n.Load() + n
	t.target.Store(want)
	return func() error {
		timeout := time.NewTimer(30 * time.Second)
		defer timeout.Stop()
		for t.n.Load() < want {
			select {
			case <-t.reached:
			case <-timeout.C:
				return fmt.Errorf("%d of %d deliveries", t.n.Load(), want)
			}
		}
		return nil
	}
}

// benchSubscriber joins topic and records the latency of every broadcast
// whose payload carries the send time. It parses every frame whole, as
// supabase-js does with JSON.parse, with a parser of comparable cost
// (fastjson, one validating pass); encoding/json took four passes and a
// quarter of the benchmark's CPU, which the workers then did not get. The
// latencies are its own, so that subscribers do not contend for a lock.
type benchSubscriber struct {
	lat []time.Duration
}

func newBenchSubscriber(b *testing.B, w *testWorker, key, topic string, tl *tally) *benchSubscriber {
	conn, resp, err := websocket.DefaultDialer.Dial("ws://"+w.addr+"/realtime/v1/websocket?vsn=2.0.0&apikey="+key, nil)
	require.NoError(b, err)
	resp.Body.Close()
	b.Cleanup(func() { conn.Close() })
	join, _ := json.Marshal([]any{"1", "1", topic, "phx_join", map[string]any{}})
	require.NoError(b, conn.WriteMessage(websocket.TextMessage, join))
	sub := &benchSubscriber{}
	joined := make(chan struct{})
	go func() {
		var buf bytes.Buffer
		var p fastjson.Parser
		for {
			_, r, err := conn.NextReader()
			if err != nil {
				return
			}
			buf.Reset()
			if _, err := buf.ReadFrom(r); err != nil {
				return
			}
			f, err := p.ParseBytes(buf.Bytes())
			if err != nil {
				continue
			}
			switch string(f.GetStringBytes("3")) {
			case "phx_reply":
				close(joined)
			case "broadcast":
				if t := f.GetInt64("4", "payload", "t"); t != 0 {
					sub.lat = append(sub.lat, time.Since(time.Unix(0, t)))
				}
				tl.add()
			}
		}
	}()
	<-joined
	return sub
}

// reportFanout reports deliveries/s and the latencies of subs.
func reportFanout(b *testing.B, subs []*benchSubscriber, elapsed time.Duration) {
	var all []time.Duration
	for _, s := range subs {
		all = append(all, s.lat...)
	}
	l := &latencies{d: all}
	l.report(b, elapsed)
}

// BenchmarkFanout: K subscribers spread over two workers on one topic,
// one publisher on the first worker.
func BenchmarkFanout(b *testing.B) {
	for _, k := range []int{10, 100} {
		for _, m := range []fanoutMode{burst, oneAtATime, {rate: 100000 / k}} {
			b.Run("subscribers="+strconv.Itoa(k)+"/"+m.String(), func(b *testing.B) { benchFanout(b, k, m) })
		}
	}
}

// fanoutMode is how the publisher sends: all at once (burst), each message
// once every delivery of the previous one arrived (paced), or rate
// messages a second, on a fixed schedule whatever the deliveries do.
type fanoutMode struct {
	paced bool
	rate  int
}

// burstWindow is how many messages a burst sends before it waits for their
// deliveries.
const burstWindow = 1000

var (
	burst      = fanoutMode{}
	oneAtATime = fanoutMode{paced: true}
)

func (m fanoutMode) String() string {
	switch {
	case m.paced:
		return "one-at-a-time"
	case m.rate > 0:
		return "rate=" + strconv.Itoa(m.rate) + "msg/s"
	}
	return "burst"
}

// benchFanout publishes b.N messages as m says. Burst measures throughput
// (its latency is mostly queueing), one at a time latency without
// queueing, and a fixed rate whether the fan-out keeps up with that rate
// and at what latency, measured from each message's scheduled time.
func benchFanout(b *testing.B, k int, m fanoutMode) {
	cl := newBenchCluster(b)
	wa, wb := cl.benchWorker(b, "a", benchConfig), cl.benchWorker(b, "b", benchConfig)
	key := benchKey(b)
	tl := newTally()
	subs := make([]*benchSubscriber, k)
	for i := range subs {
		w := wa
		if i%2 == 1 {
			w = wb
		}
		subs[i] = newBenchSubscriber(b, w, key, "realtime:bench", tl)
	}
	pub, resp, err := websocket.DefaultDialer.Dial("ws://"+wa.addr+"/realtime/v1/websocket?vsn=2.0.0&apikey="+key, nil)
	require.NoError(b, err)
	resp.Body.Close()
	defer pub.Close()
	join, _ := json.Marshal([]any{"p", "p", "realtime:bench", "phx_join", map[string]any{}})
	require.NoError(b, pub.WriteMessage(websocket.TextMessage, join))
	go func() {
		for {
			if _, _, err := pub.ReadMessage(); err != nil {
				return
			}
		}
	}()
	time.Sleep(100 * time.Millisecond)
	var rusage0, rusage1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &rusage0)
	b.ResetTimer()
	start := time.Now()
	var all func() error
	if m.rate > 0 {
		all = tl.await(int64(b.N * k))
	}
	for i := 0; i < b.N; i++ {
		if m == burst && i%burstWindow == 0 {
			// A burst goes out a window at a time: the publisher's socket
			// is closed when it runs 1,024 frames ahead of the server.
			if all != nil {
				if err := all(); err != nil {
					b.Fatalf("message %d: %v", i, err)
				}
			}
			all = tl.await(int64(min(burstWindow, b.N-i) * k))
		}
		at := time.Now()
		if m.rate > 0 {
			at = start.Add(time.Duration(i) * time.Second / time.Duration(m.rate))
			if d := time.Until(at); d > 0 {
				time.Sleep(d)
			}
		}
		var these func() error
		if m.paced {
			these = tl.await(int64(k))
		}
		payload := []byte(`{"t":` + strconv.FormatInt(at.UnixNano(), 10) + `}`)
		require.NoError(b, pub.WriteMessage(websocket.BinaryMessage, kind3("p", "", "realtime:bench", "m", "", 1, payload)))
		if m.paced {
			if err := these(); err != nil {
				b.Fatalf("message %d: %v", i, err)
			}
		}
	}
	if !m.paced {
		if err := all(); err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &rusage1)
	cpu := time.Duration(rusage1.Utime.Nano() + rusage1.Stime.Nano() - rusage0.Utime.Nano() - rusage0.Stime.Nano())
	b.ReportMetric(float64(cpu.Nanoseconds())/1000/float64(b.N*k), "cpu-µs/delivery")
	reportFanout(b, subs, elapsed)
}

// BenchmarkChangesLatency: commit of an INSERT to its postgres_changes
// frame, one subscriber on the worker that is not the WAL reader.
func BenchmarkChangesLatency(b *testing.B) {
	cl := newBenchCluster(b)
	cl.benchDB(b)
	wa, wb := cl.benchWorker(b, "a", benchConfig), cl.benchWorker(b, "b", benchConfig)
	for !wa.svc.leading.Load() && !wb.svc.leading.Load() {
		time.Sleep(20 * time.Millisecond)
	}
	ctx := context.Background()
	_, err := cl.pool.Exec(ctx, `create table bench (id bigserial primary key, t bigint); alter publication supabase_realtime add table bench`)
	require.NoError(b, err)
	target := wa
	if wa.svc.leading.Load() {
		target = wb
	}
	lat := &latencies{}
	got := make(chan struct{}, 1<<16)
	conn, resp, err := websocket.DefaultDialer.Dial("ws://"+target.addr+"/realtime/v1/websocket?vsn=2.0.0&apikey="+benchKey(b), nil)
	require.NoError(b, err)
	resp.Body.Close()
	defer conn.Close()
	join, _ := json.Marshal([]any{"1", "1", "realtime:c", "phx_join", map[string]any{"config": map[string]any{
		"postgres_changes": []any{map[string]any{"event": "INSERT", "schema": "public", "table": "bench"}}}}})
	require.NoError(b, conn.WriteMessage(websocket.TextMessage, join))
	go func() {
		for {
			_, data, err := conn.ReadMessage()
			if err != nil {
				return
			}
			var f []json.RawMessage
			if json.Unmarshal(data, &f) != nil || len(f) != 5 || string(f[3]) != `"postgres_changes"` {
				if testing.Verbose() {
					b.Logf("frame %s", data)
				}
				continue
			}
			var p struct {
				Data struct {
					Record struct {
						T int64 `json:"t"`
					} `json:"record"`
				} `json:"data"`
			}
			_ = json.Unmarshal(f[4], &p)
			lat.add(time.Since(time.Unix(0, p.Data.Record.T)))
			got <- struct{}{}
		}
	}()
	time.Sleep(200 * time.Millisecond)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		now := time.Now().UnixNano()
		// The test server runs with synchronous_commit=off; a real commit
		// flushes its WAL, which is what the WAL sender waits for.
		tx, err := cl.pool.Begin(ctx)
		require.NoError(b, err)
		_, err = tx.Exec(ctx, `set local synchronous_commit = on`)
		require.NoError(b, err)
		_, err = tx.Exec(ctx, `insert into bench (t) values ($1)`, now)
		require.NoError(b, err)
		require.NoError(b, tx.Commit(ctx))
		select {
		case <-got:
		case <-time.After(30 * time.Second):
			b.Fatal("change not delivered")
		}
	}
	lat.report(b, time.Since(start))
}
