package drill_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/madbase/madbase/deploy/drill"
	"github.com/stretchr/testify/require"
)

// natsOutage is how long NATS stays down under load on one host.
const natsOutage = 15 * time.Second

// logLinesBound is the most log lines one process may write while NATS is
// down for natsOutage: a repeated failure is summarised, not logged per
// occurrence.
const logLinesBound = 50

// trickleLimit is how long a connection trickling header bytes is watched
// for the server to close it.
const trickleLimit = 40 * time.Second

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func runOneHost(t *testing.T, p *platform, strict bool) {
	ctx := p.ctx
	natsPort, natsHTTP := freePort(t), freePort(t)
	natsProc, natsMon := p.nats("nats", nil, "127.0.0.1", natsPort, natsHTTP, 0, nil)
	p.natsURL = "nats://127.0.0.1:" + strconv.Itoa(natsPort)

	controlProc, controlURL := p.control(nil, "127.0.0.1", freePort(t))
	require.NoError(t, p.db.Exec(ctx, p.dbName, drill.DrillSchemaSQL("drill_items", 100)))
	w1, w1URL := p.worker("worker-1", nil, "127.0.0.1", freePort(t))
	w2, _ := p.worker("worker-2", nil, "127.0.0.1", freePort(t))
	edgeProc, edgeURL := p.edge("edge", nil, "127.0.0.1", freePort(t), controlURL)
	edges := []string{edgeURL}
	_, ok := waitFor(ctx, stepLimit, edgesReport(ctx, edges, 2))
	require.True(t, ok, "the edge routes to both workers")
	userToken, err := drill.SignIn(ctx, edgeURL, p.keys, "drill@example.com", "drill-password-123")
	require.NoError(t, err)

	load := &drill.Load{Edges: edges, Rate: loadRate(), Table: "drill_items", Rows: 100, Slow: drill.SlowPath, AnonKey: p.keys.Anon, UserToken: userToken}
	load.Start()
	defer load.Stop()
	s := &steps{t: t, ctx: ctx, load: load, next: time.Now()}

	s.run("steady load", time.Now, nil)

	// Trickled headers, watched while the rest goes on.
	type trickled struct {
		name   string
		closed time.Duration
		err    error
	}
	trickles := make(chan trickled, 3)
	for _, target := range []struct{ name, base string }{{"edge", edgeURL}, {"worker", w1URL}, {"control", controlURL}} {
		go func() {
			d, err := trickle(ctx, strings.TrimPrefix(target.base, "http://"))
			trickles <- trickled{target.name, d, err}
		}()
	}

	// NATS down under load, with the log volume of every process measured.
	procs := []*drill.Proc{controlProc, w1, w2, edgeProc}
	before := map[string]int64{}
	beforeBytes := map[string]int64{}
	var outageLines = map[string]int64{}
	var outageBytes = map[string]int64{}
	minHealthy := 2
	down := s.run(fmt.Sprintf("NATS down %s", natsOutage), func() time.Time {
		for _, pr := range procs {
			before[pr.Name], beforeBytes[pr.Name] = pr.Log.Counts()
		}
		natsProc.Stop(10 * time.Second)
		at := time.Now()
		// The outage lasts natsOutage; the edge's pool is read meanwhile.
		waitFor(ctx, natsOutage, func() bool {
			if h, err := drill.ReadEdgeHealth(ctx, edgeURL); err == nil && h.Healthy < minHealthy {
				minHealthy = h.Healthy
			}
			return false
		})
		for _, pr := range procs {
			l, b := pr.Log.Counts()
			outageLines[pr.Name], outageBytes[pr.Name] = l-before[pr.Name], b-beforeBytes[pr.Name]
		}
		return at
	}, nil)
	down.Note = fmt.Sprintf("fewest workers the edge routed to meanwhile: %d of 2", minHealthy)

	s.run("NATS back", func() time.Time {
		natsProc, natsMon = p.nats("nats", nil, "127.0.0.1", natsPort, natsHTTP, 0, nil)
		return time.Now()
	}, func(at time.Time) (time.Time, string, bool) {
		ev, ok := waitFor(ctx, stepLimit, func() bool {
			return len(drill.NATSClients(ctx, natsMon)) >= 4 && edgesReport(ctx, edges, 2)()
		})
		return ev, "every tier reconnected, the edge routes to both workers", ok
	})

	load.Stop()
	s.list[len(s.list)-1].To = time.Now()
	recs := load.Records()
	p.explain(recs)
	drill.Fill(s.list, recs, drill.SlowPath)
	drill.Table(os.Stdout, fmt.Sprintf("MadBase drill, one host: NATS, control, 2 workers, 1 edge, PostgreSQL on loopback; "+
		"load %d req/s (%d not sent: too many waiting)", load.Rate, load.Skipped()), s.list)

	var logSeen []string
	logHolds := true
	for _, pr := range procs {
		logSeen = append(logSeen, fmt.Sprintf("%s %d lines/%d B", pr.Name, outageLines[pr.Name], outageBytes[pr.Name]))
		if outageLines[pr.Name] > logLinesBound {
			logHolds = false
		}
	}

	admin := adminThrottling(ctx, edgeURL, p.keys.AdminPassword)

	trickleSeen := map[string]string{}
	trickleHolds := false
	for range 3 {
		tr := <-trickles
		switch {
		case tr.err != nil:
			trickleSeen[tr.name] = tr.err.Error()
		case tr.closed == 0:
			trickleSeen[tr.name] = "still open after " + trickleLimit.String()
		default:
			trickleSeen[tr.name] = "closed after " + tr.closed.Round(100*time.Millisecond).String()
			if tr.name == "edge" {
				trickleHolds = true
			}
		}
	}
	fmt.Printf("\ntrickled headers (one byte every 500 ms): edge %s; worker %s; control %s\n",
		trickleSeen["edge"], trickleSeen["worker"], trickleSeen["control"])

	goals := append(failureGoals(s.list),
		drill.Goal{Name: "log volume while NATS is down", Want: fmt.Sprintf("≤ %d lines per process", logLinesBound),
			Seen: strings.Join(logSeen, ", "), Holds: logHolds},
		drill.Goal{Name: "admin throttling", Want: "429 JSON + Retry-After per client address", Seen: admin.seen, Holds: admin.holds},
		drill.Goal{Name: "header timeout (edge)", Want: "trickling connection closed", Seen: trickleSeen["edge"], Holds: trickleHolds},
	)
	check(t, "goals, one host", goals, strict)
}

// trickle opens a connection to addr and sends a request head one byte
// every 500 ms, never ending it, and returns how long until the server
// closed the connection (0: still open after trickleLimit).
func trickle(ctx context.Context, addr string) (time.Duration, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	start := time.Now()
	closed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, conn)
		close(closed)
	}()
	head := "GET /rest/v1/drill_items HTTP/1.1\r\nHost: drill\r\nX-Trickle: " + strings.Repeat("a", 200)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	limit := time.NewTimer(trickleLimit)
	defer limit.Stop()
	for i := 0; ; i++ {
		select {
		case <-closed:
			return time.Since(start), nil
		case <-limit.C:
			return 0, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-tick.C:
		}
		_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
		if _, err := conn.Write([]byte{head[i%len(head)]}); err != nil {
			return time.Since(start), nil
		}
	}
}

type adminResult struct {
	holds bool
	seen  string
}

// adminThrottling sends wrong admin passwords from 127.0.0.1 through the
// edge until one is answered 429, then checks the answer's shape and that
// the right password from another address (127.0.0.2) still works.
func adminThrottling(ctx context.Context, edgeURL, password string) adminResult {
	from := func(ip string) *http.Client {
		d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
	}
	get := func(c *http.Client, pw string) (*http.Response, []byte, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, edgeURL+"/admin/v1/workers", nil)
		req.Header.Set("Authorization", "Bearer "+pw)
		resp, err := c.Do(req)
		if err != nil {
			return nil, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp, b, err
	}
	const attempts = 30
	bad := from("127.0.0.1")
	statuses := map[int]int{}
	for i := 1; i <= attempts; i++ {
		resp, body, err := get(bad, "wrong-"+strconv.Itoa(i))
		if err != nil {
			return adminResult{seen: err.Error()}
		}
		statuses[resp.StatusCode]++
		if resp.StatusCode != http.StatusTooManyRequests {
			continue
		}
		var e struct {
			Error string `json:"error"`
		}
		ra, raErr := strconv.Atoi(resp.Header.Get("Retry-After"))
		switch {
		case !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || json.Unmarshal(body, &e) != nil || e.Error == "":
			return adminResult{seen: fmt.Sprintf("429 after %d attempts, but not the JSON error shape: %q", i, body)}
		case raErr != nil || ra <= 0:
			return adminResult{seen: fmt.Sprintf("429 after %d attempts without a Retry-After in seconds (%q)", i, resp.Header.Get("Retry-After"))}
		}
		other, _, err := get(from("127.0.0.2"), password)
		if err != nil {
			return adminResult{seen: fmt.Sprintf("429 after %d attempts; from 127.0.0.2: %v", i, err)}
		}
		if other.StatusCode != http.StatusOK {
			return adminResult{seen: fmt.Sprintf("429 after %d attempts, but the right password from 127.0.0.2 got %s", i, other.Status)}
		}
		return adminResult{holds: true, seen: fmt.Sprintf("429 after %d wrong passwords (Retry-After %ds); another address still let in", i, ra)}
	}
	return adminResult{seen: fmt.Sprintf("%d wrong passwords from one address, statuses %v: never 429", attempts, statuses)}
}
