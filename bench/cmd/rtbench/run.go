package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/madbase/madbase/bench/internal/proc"
	"github.com/madbase/madbase/bench/internal/rtclient"
	"github.com/madbase/madbase/bench/internal/stack"
	"github.com/madbase/madbase/bench/internal/stats"
)

const topic = "realtime:bench"

// tier is a process whose CPU time a round counts.
type tier struct {
	name string
	pid  int
}

func run(ctx context.Context, o options) error {
	base, err := stack.Start(ctx, stack.Options{Name: "rtbench", Bin: o.bin, Logf: logf, MaxConns: 100})
	if err != nil {
		return err
	}
	defer base.Close()
	secret := stack.RandHex(32)
	env := base.TierEnv(secret, "SHUTDOWN_GRACE=1s",
		"EDGE_MAX_CONNS_PER_IP=0",
		// One publisher sends every message.
		"REALTIME_MAX_EVENTS_PER_SECOND=100000000",
	)
	if o.profileDir != "" {
		if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
			return err
		}
	}
	var tiers []tier
	var children []*proc.Child
	start := func(name, role string, extra ...string) error {
		cmd := exec.Command(base.Exec, role)
		cmd.Env = append(append(env, "INSTANCE_ID=rtbench-"+name), extra...)
		if o.profileDir != "" {
			cmd.Env = append(cmd.Env, "MADBASE_CPUPROFILE="+filepath.Join(o.profileDir, name+".pprof"))
		}
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		c, err := base.StartChild(name, cmd)
		if err != nil {
			return err
		}
		tiers = append(tiers, tier{name, c.Pid()})
		children = append(children, c)
		return nil
	}
	for i := range 2 {
		port, err := stack.FreePort()
		if err != nil {
			return err
		}
		if err := start(fmt.Sprintf("worker-%d", i+1), "worker", "WORKER_PORT="+strconv.Itoa(port)); err != nil {
			return err
		}
	}
	port, err := stack.FreePort()
	if err != nil {
		return err
	}
	if err := start("edge", "edge", "EDGE_PORT="+strconv.Itoa(port)); err != nil {
		return err
	}
	edge := fmt.Sprintf("127.0.0.1:%d", port)
	logf("2 workers and the edge on %s; waiting for the workers", edge)
	if err := stack.WaitWorkersAtEdge(ctx, "http://"+edge, 2, 60*time.Second, children...); err != nil {
		return err
	}
	wsURL, err := rtclient.URL(edge, o.vsn, secret)
	if err != nil {
		return err
	}
	dialer := &websocket.Dialer{HandshakeTimeout: 30 * time.Second, EnableCompression: o.deflate}

	got := make(chan struct{}, 1<<20)
	subs := make([]*subscriber, o.subscribers)
	for i := range subs {
		c, err := rtclient.Join(ctx, dialer, wsURL, o.vsn, topic, strconv.Itoa(i))
		if err != nil {
			return fmt.Errorf("subscriber %d: %w", i, err)
		}
		defer c.Close()
		subs[i] = &subscriber{conn: c, vsn: o.vsn, got: got}
		go subs[i].read()
	}
	pub, err := rtclient.Join(ctx, dialer, wsURL, o.vsn, topic, "p")
	if err != nil {
		return fmt.Errorf("publisher: %w", err)
	}
	defer pub.Close()
	go func() {
		for {
			if _, _, err := pub.ReadMessage(); err != nil {
				return
			}
		}
	}()
	p := &publisher{conn: pub, vsn: o.vsn, pad: strings.Repeat("x", max(0, o.payload-40))}
	// Warm up: every subscriber receives.
	if err := p.round(ctx, subs, got, 50, 0); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	collect(subs)

	load0, _ := os.ReadFile("/proc/loadavg")
	modes := []mode{{name: "one at a time"}, {name: fmt.Sprintf("rate %d/s", o.rate), rate: o.rate / o.subscribers}}
	results := make([][]result, len(modes))
	for r := range o.rounds {
		for i, m := range modes {
			res, err := measure(ctx, p, subs, got, o.messages, m.rate, tiers)
			if err != nil {
				return fmt.Errorf("%s, round %d: %w", m.name, r+1, err)
			}
			logf("%s, round %d: %.0f deliveries/s, p50 %.2f ms, p99 %.2f ms", m.name, r+1, res.rate, res.p50, res.p99)
			results[i] = append(results[i], res)
		}
	}
	load1, _ := os.ReadFile("/proc/loadavg")
	for _, c := range children {
		if c.Exited() {
			return fmt.Errorf("%s exited: %v", c.Name, c.Err())
		}
	}

	w := os.Stdout
	fmt.Fprintf(w, "\nrtbench  %s  %s, %d CPUs, load avg %s at start, %s at end\n",
		time.Now().UTC().Format(time.RFC3339), runtime.Version(), runtime.NumCPU(), loadavg(load0), loadavg(load1))
	comp := "no compression"
	if o.deflate {
		comp = "clients offer permessage-deflate"
	}
	fmt.Fprintf(w, "%d subscribers and a publisher through the edge to 2 workers, protocol %s, %s, %d messages a round, medians of %d rounds (min–max)\n\n",
		o.subscribers, o.vsn, comp, o.messages, o.rounds)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "mode\tdeliveries/s\tp50 ms\tp99 ms\t")
	for _, t := range tiers {
		fmt.Fprintf(tw, "%s µs\t", t.name)
	}
	fmt.Fprintln(tw, "clients µs\tothers µs\t")
	for i, m := range modes {
		rs := results[i]
		pick := func(f func(result) float64) []float64 {
			out := make([]float64, len(rs))
			for j, r := range rs {
				out[j] = f(r)
			}
			return out
		}
		rates := pick(func(r result) float64 { return r.rate })
		fmt.Fprintf(tw, "%s\t%.0f (%.0f–%.0f)\t%.2f\t%.2f\t", m.name, stats.Median(rates), minOf(rates), maxOf(rates),
			stats.Median(pick(func(r result) float64 { return r.p50 })), stats.Median(pick(func(r result) float64 { return r.p99 })))
		for j := range tiers {
			fmt.Fprintf(tw, "%.1f\t", stats.Median(pick(func(r result) float64 { return r.cpu[j] })))
		}
		fmt.Fprintf(tw, "%.1f\t%.1f\t\n", stats.Median(pick(func(r result) float64 { return r.clients })),
			stats.Median(pick(func(r result) float64 { return r.others })))
	}
	_ = tw.Flush()
	fmt.Fprintln(w, "\nµs: CPU time per delivery of each process (user+system, /proc); clients: this process (subscribers and publisher); others: the rest of the machine")
	return nil
}

func loadavg(b []byte) string {
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func minOf(xs []float64) float64 {
	m := xs[0]
	for _, x := range xs {
		m = min(m, x)
	}
	return m
}

func maxOf(xs []float64) float64 {
	m := xs[0]
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}

// mode is how the publisher sends: rate messages a second, or 0 for one
// at a time.
type mode struct {
	name string
	rate int
}

// result is one round's.
type result struct {
	rate     float64   // deliveries a second
	p50, p99 float64   // ms
	cpu      []float64 // µs per delivery, by tier
	clients  float64   // this process, µs per delivery
	others   float64   // the machine's busy time beyond the above, µs per delivery
}

// measure runs one round of n messages and reads the processes' CPU time
// around it.
func measure(ctx context.Context, p *publisher, subs []*subscriber, got chan struct{}, n, rate int, tiers []tier) (result, error) {
	pids := []int{os.Getpid()}
	for _, t := range tiers {
		pids = append(pids, t.pid)
	}
	cpu := func() ([]time.Duration, time.Duration, error) {
		out := make([]time.Duration, len(pids))
		for i, pid := range pids {
			d, err := proc.CPUTime(pid)
			if err != nil {
				return nil, 0, err
			}
			out[i] = d
		}
		busy, err := proc.MachineBusy()
		return out, busy, err
	}
	before, busy0, err := cpu()
	if err != nil {
		return result{}, err
	}
	began := time.Now()
	if err := p.round(ctx, subs, got, n, rate); err != nil {
		return result{}, err
	}
	elapsed := time.Since(began)
	after, busy1, err := cpu()
	if err != nil {
		return result{}, err
	}
	lat := collect(subs)
	deliveries := float64(n * len(subs))
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / deliveries }
	res := result{rate: deliveries / elapsed.Seconds(), clients: per(after[0] - before[0])}
	rest := (busy1 - busy0) - (after[0] - before[0])
	for i := range tiers {
		res.cpu = append(res.cpu, per(after[i+1]-before[i+1]))
		rest -= after[i+1] - before[i+1]
	}
	res.others = per(max(rest, 0))
	if len(lat) > 0 {
		res.p50 = float64(lat[len(lat)/2].Microseconds()) / 1000
		res.p99 = float64(lat[len(lat)*99/100].Microseconds()) / 1000
	}
	return res, nil
}

// collect takes the latencies the subscribers recorded, sorted.
func collect(subs []*subscriber) []time.Duration {
	var all []time.Duration
	for _, s := range subs {
		s.mu.Lock()
		all = append(all, s.lat...)
		s.lat = s.lat[:0]
		s.mu.Unlock()
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	return all
}

// publisher sends the broadcasts as supabase-js does: a binary user
// broadcast (kind 3, JSON payload) on protocol 2.0.0, the JSON event on
// 1.0.0.
type publisher struct {
	conn *websocket.Conn
	vsn  string
	pad  string
}

func (p *publisher) send(at time.Time) error {
	payload := `{"t":` + strconv.FormatInt(at.UnixNano(), 10)
	if p.pad != "" {
		payload += `,"pad":"` + p.pad + `"`
	}
	payload += "}"
	if p.vsn == "1.0.0" {
		msg := `{"topic":"` + topic + `","event":"broadcast","ref":null,"join_ref":"p","payload":{"type":"broadcast","event":"m","payload":` + payload + `}}`
		return p.conn.WriteMessage(websocket.TextMessage, []byte(msg))
	}
	const joinRef, event = "p", "m"
	msg := []byte{3, byte(len(joinRef)), 0, byte(len(topic)), byte(len(event)), 0, 1}
	msg = append(msg, joinRef+topic+event...)
	return p.conn.WriteMessage(websocket.BinaryMessage, append(msg, payload...))
}

// round sends n messages, rate a second (0: each once every subscriber
// received the one before), and waits for every delivery.
func (p *publisher) round(ctx context.Context, subs []*subscriber, got chan struct{}, n, rate int) error {
	k := len(subs)
	wait := func(count int) error {
		timeout := time.NewTimer(30 * time.Second)
		defer timeout.Stop()
		for i := range count {
			select {
			case <-got:
			case <-timeout.C:
				return fmt.Errorf("only %d of %d deliveries arrived", i, count)
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}
	start := time.Now()
	for i := range n {
		at := time.Now()
		if rate > 0 {
			at = start.Add(time.Duration(i) * time.Second / time.Duration(rate))
			if d := time.Until(at); d > 0 {
				time.Sleep(d)
			}
		}
		if err := p.send(at); err != nil {
			return err
		}
		if rate == 0 {
			if err := wait(k); err != nil {
				return err
			}
		}
	}
	if rate > 0 {
		return wait(n * k)
	}
	return nil
}

// subscriber reads its socket and records each broadcast's latency.
type subscriber struct {
	conn *websocket.Conn
	vsn  string
	got  chan<- struct{}
	mu   sync.Mutex
	lat  []time.Duration
}

func (s *subscriber) read() {
	var p rtclient.Parser
	for {
		_, data, err := s.conn.ReadMessage()
		if err != nil {
			return
		}
		event, payload, err := p.Parse(s.vsn, data)
		if err != nil || event != "broadcast" {
			continue
		}
		t := payload.GetInt64("payload", "t")
		if t == 0 {
			continue
		}
		d := time.Since(time.Unix(0, t))
		s.mu.Lock()
		s.lat = append(s.lat, d)
		s.mu.Unlock()
		s.got <- struct{}{}
	}
}
