package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/madbase/madbase/bench/internal/proc"
	"github.com/madbase/madbase/bench/internal/rtclient"
	"github.com/madbase/madbase/bench/internal/stack"
)

// raiseFileLimit lets this process and its children hold as many sockets
// as it can: up to need where allowed (CAP_SYS_RESOURCE), else the hard
// limit. It returns the limit in force.
func raiseFileLimit(need uint64) uint64 {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) != nil {
		return 1024
	}
	if l.Max < need {
		want := syscall.Rlimit{Cur: need, Max: need}
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want) == nil {
			return need
		}
	}
	l.Cur = l.Max
	_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	return l.Max
}

// edgesFor is how many edges hold sockets: an edge takes two descriptors
// per socket (client and worker side), so where the file limit cannot be
// raised the sockets are spread over enough edges, as a deployment would
// spread them.
func edgesFor(sockets int, limit uint64) int {
	per := int(limit) - 1000
	if per < 1000 {
		per = 1000
	}
	return max(1, (2*sockets+per-1)/per)
}

// rssKiB reads a process's resident memory.
func rssKiB(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, errors.New("no VmRSS")
}

type tier struct {
	name   string
	child  *proc.Child
	before int64
	after  int64
}

func run(ctx context.Context, o options) error {
	limit := raiseFileLimit(uint64(4*o.sockets + 10000))
	edges := o.edges
	if edges == 0 {
		edges = edgesFor(o.sockets, limit)
	}
	base, err := stack.Start(ctx, stack.Options{Name: "socketbench", Bin: o.bin, Logf: logf, MaxConns: 100})
	if err != nil {
		return err
	}
	defer base.Close()

	secret := stack.RandHex(32)
	env := base.TierEnv(secret, "SHUTDOWN_GRACE=1s",
		// Every client is 127.0.0.1.
		"EDGE_MAX_CONNS_PER_IP=0",
	)
	start := func(name, role string, extra ...string) (*proc.Child, error) {
		cmd := exec.Command(base.Exec, role)
		cmd.Env = append(append(env, "INSTANCE_ID=socketbench-"+name), extra...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		return base.StartChild(name, cmd)
	}
	var tiers []*tier
	for i := range o.workers {
		port, err := stack.FreePort()
		if err != nil {
			return err
		}
		w, err := start(fmt.Sprintf("worker-%d", i+1), "worker", "WORKER_PORT="+strconv.Itoa(port))
		if err != nil {
			return err
		}
		tiers = append(tiers, &tier{name: fmt.Sprintf("worker-%d", i+1), child: w})
	}
	var edgeURLs []string
	for i := range edges {
		port, err := stack.FreePort()
		if err != nil {
			return err
		}
		name := "edge"
		if edges > 1 {
			name = fmt.Sprintf("edge-%d", i+1)
		}
		e, err := start(name, "edge", "EDGE_PORT="+strconv.Itoa(port))
		if err != nil {
			return err
		}
		tiers = append(tiers, &tier{name: name, child: e})
		edgeURLs = append(edgeURLs, fmt.Sprintf("127.0.0.1:%d", port))
	}
	logf("%d workers and %d edge(s) (file limit %d per process); waiting for the workers", o.workers, edges, limit)
	children := make([]*proc.Child, len(tiers))
	for i, t := range tiers {
		children[i] = t.child
	}
	for _, u := range edgeURLs {
		if err := stack.WaitWorkersAtEdge(ctx, "http://"+u, o.workers, 60*time.Second, children...); err != nil {
			return err
		}
	}

	wsURLs := make([]string, len(edgeURLs))
	for i, u := range edgeURLs {
		if wsURLs[i], err = rtclient.URL(u, "1.0.0", secret); err != nil {
			return err
		}
	}

	// A few sockets first, so that the pools and code paths a socket
	// needs exist before the baseline.
	warm, err := openSockets(ctx, wsURLs, 0, warmSockets, o)
	if err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	closeAll(warm)
	time.Sleep(o.settle)
	for _, t := range tiers {
		if t.before, err = rssKiB(t.child.Pid()); err != nil {
			return err
		}
	}
	load0, _ := os.ReadFile("/proc/loadavg")
	began := time.Now()
	conns, err := openSockets(ctx, wsURLs, warmSockets, warmSockets+o.sockets, o)
	defer closeAll(conns)
	if err != nil {
		return err
	}
	opened := time.Since(began)
	logf("%d sockets joined in %s; letting the processes settle", len(conns), opened.Round(time.Millisecond))
	time.Sleep(o.settle)
	for _, t := range tiers {
		if t.child.Exited() {
			return fmt.Errorf("%s exited: %v", t.name, t.child.Err())
		}
		if t.after, err = rssKiB(t.child.Pid()); err != nil {
			return err
		}
	}
	// The sockets are still alive: a broadcast reaches a member.
	if err := probe(ctx, wsURLs[0], conns[0], fmt.Sprintf("idle-%d", warmSockets%o.channels)); err != nil {
		return fmt.Errorf("after the measure: %w", err)
	}

	w := os.Stdout
	fmt.Fprintf(w, "\nsocketbench  %s  %s, %d CPUs, %d workers, load avg at start %s\n",
		time.Now().UTC().Format(time.RFC3339), runtime.Version(), runtime.NumCPU(), o.workers, strings.Join(strings.Fields(string(load0))[:3], " "))
	fmt.Fprintf(w, "%d WebSockets through %d edge(s) (file limit %d per process) to /realtime/v1/websocket, each joined to one of %d channels, then idle; opened in %s (%d at once)\n\n",
		len(conns), edges, limit, o.channels, opened.Round(time.Millisecond), o.dialers)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "process\tRSS before\tRSS after\tper socket\t")
	var total int64
	for _, t := range tiers {
		gained := t.after - t.before
		total += gained
		fmt.Fprintf(tw, "%s\t%d MiB\t%d MiB\t%.1f KiB\t\n", t.name, t.before>>10, t.after>>10, float64(gained)/float64(len(conns)))
	}
	per := float64(total) / float64(len(conns))
	fmt.Fprintf(tw, "all\t\t\t%.1f KiB\t\n", per)
	_ = tw.Flush()
	verdict := "met"
	if per*1024 > goalPerSocket {
		verdict = "NOT MET"
	}
	fmt.Fprintf(w, "\ngoal: ≤ %d KiB per idle socket across edge and workers: %.1f KiB, %s\n", goalPerSocket>>10, per, verdict)
	return nil
}

// openSockets opens sockets from..to-1, each joined to channel i mod
// channels, o.dialers at a time.
func openSockets(ctx context.Context, wsURLs []string, from, to int, o options) ([]*websocket.Conn, error) {
	conns := make([]*websocket.Conn, to-from)
	var next atomic.Int64
	next.Store(int64(from))
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	dialer := &websocket.Dialer{HandshakeTimeout: 30 * time.Second, ReadBufferSize: 1024, WriteBufferSize: 1024}
	for range o.dialers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= to || ctx.Err() != nil {
					return
				}
				c, err := rtclient.Join(ctx, dialer, wsURLs[i%len(wsURLs)], "1.0.0", fmt.Sprintf("realtime:idle-%d", i%o.channels), "1")
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("socket %d: %w", i, err)
					}
					mu.Unlock()
					return
				}
				conns[i-from] = c
			}
		}()
	}
	wg.Wait()
	out := conns[:0]
	for _, c := range conns {
		if c != nil {
			out = append(out, c)
		}
	}
	return out, firstErr
}

// warmSockets are opened and closed before the baseline.
const warmSockets = 50

// probe sends a broadcast on topic from a new socket and waits for member
// (joined to topic) to receive it.
func probe(ctx context.Context, wsURL string, member *websocket.Conn, topic string) error {
	d := &websocket.Dialer{HandshakeTimeout: 30 * time.Second}
	sender, err := rtclient.Join(ctx, d, wsURL, "1.0.0", "realtime:"+topic, "1")
	if err != nil {
		return err
	}
	defer sender.Close()
	msg, _ := json.Marshal(map[string]any{"topic": "realtime:" + topic, "event": "broadcast", "ref": "2", "join_ref": "1",
		"payload": map[string]any{"type": "broadcast", "event": "probe", "payload": map[string]any{"n": 1}}})
	if err := sender.WriteMessage(websocket.TextMessage, msg); err != nil {
		return err
	}
	_ = member.SetReadDeadline(time.Now().Add(30 * time.Second))
	defer func() { _ = member.SetReadDeadline(time.Time{}) }()
	for {
		_, b, err := member.ReadMessage()
		if err != nil {
			return fmt.Errorf("the probe broadcast did not arrive: %w", err)
		}
		if strings.Contains(string(b), `"probe"`) {
			return nil
		}
	}
}

func closeAll(conns []*websocket.Conn) {
	for _, c := range conns {
		_ = c.Close()
	}
}
