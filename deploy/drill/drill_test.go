package drill_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/madbase/madbase/deploy/drill"
	"github.com/stretchr/testify/require"
)

// The drill's bound: everything (builds included) must end within it, well
// inside go test's own -timeout, so a stuck drill fails with its logs and
// cleans up its namespaces rather than being killed.
const drillLimit = 8 * time.Minute

// notAsserted names the goals that are printed but do not fail the test,
// and why; MADBASE_DRILL_STRICT=1 asserts every goal regardless.
var notAsserted = map[string]string{
	"cut-off worker stops getting requests": "holds today by ~0.8 s (a 2 s connect timeout takes it out); " +
		"a wall-clock margin a busy machine could eat",
}

// check prints goals and fails the test on the asserted ones missed.
func check(t *testing.T, title string, goals []drill.Goal, strict bool) {
	for i := range goals {
		goals[i].NotAsserted = notAsserted[goals[i].Name]
	}
	for _, g := range drill.Goals(os.Stdout, title, goals, strict) {
		t.Errorf("goal missed: %s: want %s, seen %s", g.Name, g.Want, g.Seen)
	}
}

// stepLimit bounds each wait for a recovery event.
const stepLimit = 20 * time.Second

// TestDrill runs the platform as a real multi-host cluster (network
// namespaces on a bridge) and as one host, injects failures under a steady
// load, prints a table per topology and a table of goals, and fails on the
// goals marked as asserted (see goals below and MADBASE_DRILL_STRICT).
func TestDrill(t *testing.T) {
	if raceEnabled {
		t.Skip("the drill runs without the race detector, in its own step of scripts/test.sh: " +
			"go test ./deploy/drill/ -run TestDrill -v -count=1")
	}
	ipBin, err := drill.LookIP()
	if err != nil {
		msg := "\n!!!!!!!! THE RELIABILITY DRILL DID NOT RUN: " + err.Error() + " !!!!!!!!\n"
		fmt.Fprint(os.Stderr, msg)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + "CI runs as root with iproute2 installed, and must run the drill")
		}
		t.Skip(msg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), drillLimit)
	defer cancel()
	dir := t.TempDir()
	root, err := filepath.Abs("../..")
	require.NoError(t, err)

	start := time.Now()
	bins, err := drill.Build(ctx, root, dir)
	require.NoError(t, err)
	t.Logf("built madbase and nats-server in %s", time.Since(start).Round(time.Millisecond))

	network, err := drill.NewNetwork(ctx, ipBin)
	require.NoError(t, err)
	t.Cleanup(network.Close)
	db, err := drill.StartPostgres(ctx, dir, []string{network.RootIP()}, network.RootIP()+"/24")
	require.NoError(t, err)
	t.Cleanup(db.Stop)

	strict := os.Getenv("MADBASE_DRILL_STRICT") == "1"
	t.Run("cluster", func(t *testing.T) {
		p := newPlatform(t, ctx, dir, "cluster", bins, network, db)
		runCluster(t, p, strict)
	})
	t.Run("onehost", func(t *testing.T) {
		p := newPlatform(t, ctx, dir, "onehost", bins, nil, db)
		runOneHost(t, p, strict)
	})
}

// platform is one MadBase deployment of the drill.
type platform struct {
	t       *testing.T
	ctx     context.Context
	dir     string
	name    string
	bins    drill.Binaries
	net     *drill.Network // nil: everything on loopback
	db      *drill.Database
	dbName  string
	keys    drill.Keys
	base    drill.Env
	procs   []*drill.Proc
	natsURL string
}

func newPlatform(t *testing.T, ctx context.Context, dir, name string, bins drill.Binaries, n *drill.Network, db *drill.Database) *platform {
	keys, err := drill.NewKeys()
	require.NoError(t, err)
	p := &platform{t: t, ctx: ctx, dir: filepath.Join(dir, name), name: name, bins: bins, net: n, db: db,
		dbName: "drill_" + name, keys: keys}
	require.NoError(t, os.MkdirAll(filepath.Join(p.dir, "home"), 0o755))
	p.base = drill.Env{"PATH": os.Getenv("PATH"), "HOME": filepath.Join(p.dir, "home"), "LOG_LEVEL": "info",
		"LOG_FORMAT": "json", "SHUTDOWN_GRACE": "20s"}
	require.NoError(t, db.Exec(ctx, "postgres", "create database "+p.dbName))
	t.Cleanup(func() {
		if t.Failed() {
			for _, pr := range p.procs {
				t.Logf("----- %s (%s), last lines:\n%s", pr.Name, pr.Log.Path, pr.Log.Tail(2500))
			}
		}
	})
	return p
}

// explain logs what every process logged about the first failed requests.
func (p *platform) explain(recs []drill.Record) {
	n := 0
	for _, r := range recs {
		if !r.Failed() || r.RequestID == "" || n == 10 {
			continue
		}
		n++
		p.t.Logf("failed request %s %s (sent %s): %s", r.RequestID, r.Path, r.Sent.Format("15:04:05.000"), r.Err)
		for _, pr := range p.procs {
			for _, line := range pr.Log.Grep(r.RequestID) {
				p.t.Logf("  %s: %s", pr.Name, line)
			}
		}
	}
}

// start runs bin on host (nil: the root namespace) with env.
func (p *platform) start(name string, host *drill.Host, bin string, args []string, env drill.Env) *drill.Proc {
	var cmd *exec.Cmd
	if host != nil {
		cmd = p.net.Command(host, bin, args...)
	} else {
		cmd = exec.Command(bin, args...)
	}
	cmd.Env = env.List()
	cmd.Dir = filepath.Join(p.dir, name)
	require.NoError(p.t, os.MkdirAll(cmd.Dir, 0o755))
	pr, err := drill.Start(name, host, cmd, filepath.Join(p.dir, name+".log"))
	require.NoError(p.t, err)
	p.procs = append(p.procs, pr)
	p.t.Cleanup(func() { pr.Stop(5 * time.Second) })
	return pr
}

// healthy waits until url answers 200, for at most a minute.
func (p *platform) healthy(pr *drill.Proc, url string) {
	ctx, cancel := context.WithTimeout(p.ctx, time.Minute)
	defer cancel()
	require.NoError(p.t, drill.WaitHealthy(ctx, pr, url))
}

func (p *platform) control(host *drill.Host, ip string, port int) (*drill.Proc, string) {
	env := p.base.With("NATS_URL", p.natsURL, "DATABASE_URL", p.db.URL(p.dbHost(), p.dbName),
		"ADMIN_PASSWORD", p.keys.AdminPassword, "CONTROL_HOST", ip, "CONTROL_PORT", strconv.Itoa(port), "INSTANCE_ID", "control")
	pr := p.start("control", host, p.bins.Madbase, []string{"control"}, env)
	base := "http://" + net.JoinHostPort(ip, strconv.Itoa(port))
	p.healthy(pr, base+"/health")
	return pr, base
}

func (p *platform) worker(name string, host *drill.Host, ip string, port int) (*drill.Proc, string) {
	base := "http://" + net.JoinHostPort(ip, strconv.Itoa(port))
	env := p.base.With("NATS_URL", p.natsURL, "DATABASE_URL", p.db.URL(p.dbHost(), p.dbName),
		"JWT_SECRET", p.keys.JWTSecret, "WORKER_HOST", ip, "WORKER_PORT", strconv.Itoa(port),
		"WORKER_ADVERTISE_URL", base, "INSTANCE_ID", name, "STORAGE_DIR", filepath.Join(p.dir, name, "storage"))
	pr := p.start(name, host, p.bins.Madbase, []string{"worker"}, env)
	p.healthy(pr, base+"/health")
	return pr, base
}

func (p *platform) edge(name string, host *drill.Host, ip string, port int, controlURL string) (*drill.Proc, string) {
	env := p.base.With("NATS_URL", p.natsURL, "EDGE_HOST", ip, "EDGE_PORT", strconv.Itoa(port),
		"CONTROL_UPSTREAM_URL", controlURL, "INSTANCE_ID", name)
	pr := p.start(name, host, p.bins.Madbase, []string{"edge"}, env)
	base := "http://" + net.JoinHostPort(ip, strconv.Itoa(port))
	p.healthy(pr, base+"/health")
	return pr, base
}

func (p *platform) dbHost() string {
	if p.net != nil {
		return p.net.RootIP()
	}
	return "127.0.0.1"
}

// startNATS starts a nats-server and returns it with its monitoring URL.
func (p *platform) startNATS(name string, host *drill.Host, ip string, port, httpPort, clusterPort int, routes []string) (*drill.Proc, string) {
	conf := filepath.Join(p.dir, name+".conf")
	require.NoError(p.t, os.WriteFile(conf, []byte(drill.NATSConfig(name, ip, port, httpPort,
		filepath.Join(p.dir, name, "jetstream"), clusterPort, routes)), 0o644))
	pr := p.start(name, host, p.bins.NATS, []string{"-c", conf}, p.base)
	return pr, "http://" + net.JoinHostPort(ip, strconv.Itoa(httpPort))
}

// nats starts a nats-server and waits until JetStream is up.
func (p *platform) nats(name string, host *drill.Host, ip string, port, httpPort, clusterPort int, routes []string) (*drill.Proc, string) {
	pr, mon := p.startNATS(name, host, ip, port, httpPort, clusterPort, routes)
	p.healthy(pr, mon+"/healthz")
	return pr, mon
}

// waitFor polls cond every 25 ms until it holds or limit passes, and
// returns when it first held.
func waitFor(ctx context.Context, limit time.Duration, cond func() bool) (time.Time, bool) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		if cond() {
			return time.Now(), true
		}
		select {
		case <-ctx.Done():
			return time.Time{}, false
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// hold lets a scenario's state last until the given time.
func hold(ctx context.Context, until time.Time) {
	t := time.NewTimer(time.Until(until))
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// edgesReport is a condition: every edge's /health reports healthy workers.
func edgesReport(ctx context.Context, edges []string, healthy int) func() bool {
	return func() bool {
		for _, e := range edges {
			h, err := drill.ReadEdgeHealth(ctx, e)
			if err != nil || h.Healthy != healthy {
				return false
			}
		}
		return true
	}
}

// steps runs the drill's steps back to back under one load: every request
// belongs to exactly one step (see drill.Fill).
type steps struct {
	t    *testing.T
	ctx  context.Context
	load *drill.Load
	list []*drill.Step
	next time.Time // where the next step's window starts
}

// run performs one step: act injects the change and returns when it did;
// recover waits for the step's recovery event (nil: none). Then the step
// lasts until a second's worth of requests sent after the recovery ended,
// so the failures it causes late are its own.
func (s *steps) run(name string, act func() time.Time, recover func(at time.Time) (time.Time, string, bool)) *drill.Step {
	st := &drill.Step{Name: name, From: s.next}
	at := act()
	st.At = at
	end := time.Now()
	if recover != nil {
		ev, when, ok := recover(at)
		st.RecoveredWhen = when
		if ok {
			st.Recovered = ev.Sub(at)
			end = ev
		} else {
			st.NotRecovered = true
			end = time.Now()
		}
	}
	if err := s.load.WaitEnded(s.ctx, end, s.load.Rate); err != nil {
		s.t.Logf("step %q: %v", name, err)
	}
	st.To = time.Now()
	s.next = st.To
	s.list = append(s.list, st)
	s.t.Logf("step %q done in %s", name, st.To.Sub(st.From).Round(time.Millisecond))
	return st
}

func loadRate() int {
	if r, err := strconv.Atoi(os.Getenv("MADBASE_DRILL_RATE")); err == nil && r > 0 {
		return r
	}
	return 160
}

func runCluster(t *testing.T, p *platform, strict bool) {
	ctx := p.ctx
	n := p.net
	type hostSpec struct {
		name  string
		octet int
	}
	hosts := map[string]*drill.Host{}
	for _, h := range []hostSpec{{"nats-1", 11}, {"nats-2", 12}, {"nats-3", 13}, {"control", 5},
		{"worker-1", 21}, {"worker-2", 22}, {"worker-3", 23}, {"worker-4", 24}, {"edge-1", 31}, {"edge-2", 32}} {
		host, err := n.AddHost(ctx, h.name, h.octet)
		require.NoError(t, err)
		hosts[h.name] = host
	}

	// A three-node NATS cluster with JetStream, one node per host.
	var routes, urls []string
	for _, name := range []string{"nats-1", "nats-2", "nats-3"} {
		routes = append(routes, "nats://"+hosts[name].IP+":6222")
		urls = append(urls, "nats://"+hosts[name].IP+":4222")
	}
	p.natsURL = strings.Join(urls, ",")
	natsProcs := map[string]*drill.Proc{}
	natsMon := map[string]string{}
	// The nodes wait for each other before JetStream is healthy: start all
	// three, then wait.
	for _, name := range []string{"nats-1", "nats-2", "nats-3"} {
		natsProcs[name], natsMon[name] = p.startNATS(name, hosts[name], hosts[name].IP, 4222, 8222, 6222, routes)
	}
	for _, name := range []string{"nats-1", "nats-2", "nats-3"} {
		p.healthy(natsProcs[name], natsMon[name]+"/healthz")
	}

	_, controlURL := p.control(hosts["control"], hosts["control"].IP, 8001)
	require.NoError(t, p.db.Exec(ctx, p.dbName, drill.DrillSchemaSQL("drill_items", 100)))

	workers := map[string]*drill.Proc{}
	startedAt := map[string]time.Duration{} // how long its /health took to answer
	startWorker := func(name string) time.Time {
		t0 := time.Now()
		workers[name], _ = p.worker(name, hosts[name], hosts[name].IP, 8002)
		startedAt[name] = time.Since(t0)
		return time.Now()
	}
	readyNote := func(name string) string {
		return fmt.Sprintf("its /health answered %s after start; counted from then", startedAt[name].Round(time.Millisecond))
	}
	for _, name := range []string{"worker-1", "worker-2", "worker-3"} {
		startWorker(name)
	}
	var edges []string
	for _, name := range []string{"edge-1", "edge-2"} {
		_, base := p.edge(name, hosts[name], hosts[name].IP, 8000, controlURL)
		edges = append(edges, base)
	}
	_, ok := waitFor(ctx, stepLimit, edgesReport(ctx, edges, 3))
	require.True(t, ok, "both edges route to the three workers")
	userToken, err := drill.SignIn(ctx, edges[0], p.keys, "drill@example.com", "drill-password-123")
	require.NoError(t, err)

	load := &drill.Load{Edges: edges, Rate: loadRate(), Table: "drill_items", Rows: 100, Slow: drill.SlowPath, AnonKey: p.keys.Anon, UserToken: userToken}
	load.Start()
	defer load.Stop()
	s := &steps{t: t, ctx: ctx, load: load, next: time.Now()}
	routesTo := func(healthy int, what string) func(time.Time) (time.Time, string, bool) {
		return func(time.Time) (time.Time, string, bool) {
			ev, ok := waitFor(ctx, stepLimit, edgesReport(ctx, edges, healthy))
			return ev, what, ok
		}
	}
	answers := func(worker string) func(time.Time) (time.Time, string, bool) {
		return func(at time.Time) (time.Time, string, bool) {
			wctx, cancel := context.WithTimeout(ctx, stepLimit)
			defer cancel()
			seen, err := load.FirstAnswers(wctx, worker, at)
			var last time.Time
			for _, tm := range seen {
				if tm.After(last) {
					last = tm
				}
			}
			return last, worker + " answered through both edges", err == nil
		}
	}

	s.run("steady load", time.Now, nil)

	s.run("kill -9 worker-3", func() time.Time {
		require.NoError(t, workers["worker-3"].Signal(syscall.SIGKILL))
		return time.Now()
	}, routesTo(2, "both edges route to the 2 live workers"))

	s.run("restart worker-3", func() time.Time { return startWorker("worker-3") }, answers("worker-3")).Note = readyNote("worker-3")

	term := s.run("SIGTERM worker-2", func() time.Time {
		require.NoError(t, workers["worker-2"].Signal(syscall.SIGTERM))
		return time.Now()
	}, routesTo(2, "both edges route to the 2 other workers"))
	select {
	case <-workers["worker-2"].Done():
		term.Note = "worker-2 exited: " + exitText(workers["worker-2"].ExitErr())
	case <-time.After(stepLimit):
		term.Note = "worker-2 still running"
	}

	s.run("restart worker-2", func() time.Time { return startWorker("worker-2") }, answers("worker-2")).Note = readyNote("worker-2")

	// The NATS node most of the platform is connected to.
	victim, clients := "", -1
	for _, name := range []string{"nats-1", "nats-2", "nats-3"} {
		if c := drill.NATSClients(ctx, natsMon[name]); len(c) > clients {
			victim, clients = name, len(c)
		}
	}
	natsStop := s.run("stop "+victim, func() time.Time {
		at := time.Now()
		natsProcs[victim].Stop(10 * time.Second)
		return at
	}, func(at time.Time) (time.Time, string, bool) {
		ev, ok := waitFor(ctx, stepLimit, func() bool {
			total := 0
			for _, name := range []string{"nats-1", "nats-2", "nats-3"} {
				if name != victim {
					total += len(drill.NATSClients(ctx, natsMon[name]))
				}
			}
			return total >= 6 // three workers, two edges, control
		})
		return ev, "all 6 tier connections back on the other nodes", ok
	})
	natsStop.Note = fmt.Sprintf("%d client connections were on %s", clients, victim)

	s.run("restart "+victim, func() time.Time {
		natsProcs[victim], natsMon[victim] = p.startNATS(victim, hosts[victim], hosts[victim].IP, 4222, 8222, 6222, routes)
		return time.Now()
	}, func(time.Time) (time.Time, string, bool) {
		wctx, cancel := context.WithTimeout(ctx, stepLimit)
		defer cancel()
		err := drill.WaitHealthy(wctx, natsProcs[victim], natsMon[victim]+"/healthz")
		return time.Now(), victim + " healthy, JetStream current with the cluster", err == nil
	})

	var cutAt, restoreAt time.Time
	cut := s.run("cut worker-1's network", func() time.Time {
		require.NoError(t, n.SetLink(ctx, hosts["worker-1"], false))
		cutAt = time.Now()
		return cutAt
	}, routesTo(2, "both edges took worker-1 out"))
	// The cut lasts at least 4 s (the scenario, not a wait for an event), so
	// a worker still getting requests at the 3 s goal would show.
	hold(ctx, cutAt.Add(4*time.Second))
	s.run("restore worker-1's network", func() time.Time {
		require.NoError(t, n.SetLink(ctx, hosts["worker-1"], true))
		restoreAt = time.Now()
		return restoreAt
	}, answers("worker-1"))

	add := s.run("add worker-4", func() time.Time { return startWorker("worker-4") }, answers("worker-4"))
	add.Note = readyNote("worker-4")

	var rt realtimeResult
	rtStep := s.run("realtime across edges", func() time.Time {
		rt = realtimeCheck(t, ctx, p, edges, userToken)
		return time.Now()
	}, nil)
	rtStep.Note = rt.note

	load.Stop()
	s.list[len(s.list)-1].To = time.Now()
	recs := load.Records()
	p.explain(recs)
	drill.Fill(s.list, recs, drill.SlowPath)
	// When did the edges stop giving worker-1 requests? Those sent on
	// connections it already had are answered once the link is back (its
	// X-Madbase-Worker tells); those that needed a new connection failed to
	// connect and went to another worker, until the edges took it out.
	cutTook := stepLimit
	if !cut.NotRecovered {
		cutTook = cut.Recovered
	}
	cutSeen := fmt.Sprintf("edges took it out after %s", cutTook.Round(time.Millisecond))
	if last, ok := drill.LastSentTo(recs, "worker-1", cutAt, restoreAt); ok {
		cutTook = max(cutTook, last.Sub(cutAt))
		cutSeen += fmt.Sprintf("; last request it answered was sent %s after the cut", last.Sub(cutAt).Round(time.Millisecond))
	}
	stuck, longest := 0, time.Duration(0)
	for _, r := range recs {
		if r.Worker == "worker-1" && !r.Sent.Before(cutAt) && r.Sent.Before(restoreAt) {
			stuck++
			longest = max(longest, r.Done.Sub(r.Sent))
		}
	}
	cut.Note = fmt.Sprintf("%d requests sent to worker-1 meanwhile waited for the link (longest %s)", stuck, longest.Round(time.Millisecond))

	drill.Table(os.Stdout, fmt.Sprintf("MadBase drill, cluster: 3 NATS nodes, 2 edges, 3+1 workers, PostgreSQL, "+
		"each on its own network namespace; load %d req/s through both edges (%d not sent: too many waiting)",
		load.Rate, load.Skipped()), s.list)

	goals := append(failureGoals(s.list),
		drill.Goal{Name: "cut-off worker stops getting requests", Want: "within 3s", Seen: cutSeen, Holds: cutTook <= 3*time.Second},
		drill.Goal{Name: "new worker gets traffic", Want: "within 2s (both edges)", Seen: durationSeen(add),
			Holds: !add.NotRecovered && add.Recovered <= 2*time.Second},
		drill.Goal{Name: "broadcast across edges and workers", Want: "delivered", Seen: rt.broadcastSeen, Holds: rt.broadcast},
		drill.Goal{Name: "database change to both clients", Want: "delivered to 2 of 2", Seen: rt.changesSeen, Holds: rt.changes},
	)
	check(t, "goals, cluster", goals, strict)
}

func exitText(err error) string {
	if err == nil {
		return "status 0"
	}
	return err.Error()
}

func durationSeen(st *drill.Step) string {
	if st.NotRecovered {
		return "not within " + stepLimit.String()
	}
	return st.Recovered.Round(time.Millisecond).String()
}

// failureGoals makes one goal per step: no failed idempotent request (every
// request of the load is one).
func failureGoals(list []*drill.Step) []drill.Goal {
	var goals []drill.Goal
	for _, st := range list {
		goals = append(goals, drill.Goal{Name: "no failed request: " + st.Name, Want: "0",
			Seen:  fmt.Sprintf("%d of %d", st.Window.Failed, st.Window.Requests),
			Holds: st.Window.Failed == 0 && st.Window.Requests > 0})
	}
	return goals
}

type realtimeResult struct {
	broadcast, changes         bool
	broadcastSeen, changesSeen string
	note                       string
}

// realtimeCheck connects one client through each edge, on two different
// workers, and checks a broadcast from the first reaches the second and an
// INSERT reaches both.
func realtimeCheck(t *testing.T, ctx context.Context, p *platform, edges []string, userToken string) realtimeResult {
	res := realtimeResult{broadcastSeen: "not tried", changesSeen: "not tried"}
	fail := func(err error) realtimeResult {
		res.note = err.Error()
		t.Logf("realtime: %v", err)
		return res
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	a, err := drill.DialPhoenix(rctx, edges[0], p.keys.Anon)
	if err != nil {
		return fail(err)
	}
	defer a.Close()
	var b *drill.Phoenix
	for i := 0; i < 20; i++ {
		if b, err = drill.DialPhoenix(rctx, edges[1], p.keys.Anon); err != nil {
			return fail(err)
		}
		if b.Worker != a.Worker {
			break
		}
		b.Close()
		b = nil
	}
	if b == nil {
		return fail(fmt.Errorf("20 sockets through edge-2 all landed on %s, the worker of edge-1's socket", a.Worker))
	}
	defer b.Close()
	topic := "realtime:drill-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	join := map[string]any{
		"config": map[string]any{
			"broadcast":        map[string]any{"self": false, "ack": false},
			"presence":         map[string]any{"key": ""},
			"postgres_changes": []any{map[string]any{"event": "INSERT", "schema": "public", "table": "drill_items"}},
			"private":          false,
		},
		"access_token": userToken,
	}
	var refs [2]string
	for i, c := range []*drill.Phoenix{a, b} {
		if refs[i], err = c.Join(rctx, topic, join); err != nil {
			return fail(err)
		}
		if _, err := c.Wait(rctx, "postgres_changes subscribed", drill.Contains("Subscribed to PostgreSQL")); err != nil {
			return fail(err)
		}
	}
	marker := "drill-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	sent := time.Now()
	if _, err := a.Send(refs[0], topic, "broadcast", map[string]any{"type": "broadcast", "event": "ping", "payload": map[string]any{"marker": marker}}); err != nil {
		return fail(err)
	}
	if _, err := b.Wait(rctx, "the broadcast", drill.Contains(marker)); err != nil {
		res.broadcastSeen = err.Error()
	} else {
		res.broadcast = true
		res.broadcastSeen = fmt.Sprintf("%s via edge-1 → %s via edge-2 in %s", a.Worker, b.Worker, time.Since(sent).Round(time.Millisecond))
	}
	row := "insert-" + marker
	inserted := time.Now()
	if err := p.db.Exec(rctx, p.dbName, "insert into drill_items values (1000000, '"+row+"')"); err != nil {
		return fail(err)
	}
	got := 0
	var took time.Duration
	for _, c := range []*drill.Phoenix{a, b} {
		if _, err := c.Wait(rctx, "the INSERT", drill.Contains(row)); err == nil {
			got++
			took = time.Since(inserted)
		}
	}
	res.changes = got == 2
	res.changesSeen = fmt.Sprintf("%d of 2 sockets", got)
	if got > 0 {
		res.changesSeen += fmt.Sprintf(", the last after %s", took.Round(time.Millisecond))
	}
	res.note = "sockets on " + a.Worker + " (edge-1) and " + b.Worker + " (edge-2)"
	return res
}
