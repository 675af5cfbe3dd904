package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/madbase/madbase/bench/internal/stack"
	"github.com/madbase/madbase/bench/internal/stats"
	"github.com/valyala/fasthttp"
)

// Goals of the projects issue.
const (
	goalPropagationP99 = time.Second
	goalManyVsOne      = 0.8
)

var httpc = &fasthttp.Client{
	MaxConnsPerHost: 512, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second,
	MaxIdleConnDuration: time.Minute,
}

// do sends one request and returns the body when the status is want.
func do(method, url string, headers map[string]string, body []byte, want int) ([]byte, error) {
	return stack.HTTP{Client: httpc, Timeout: 60 * time.Second}.Do(method, url, headers, body, want)
}

func get(url string, h map[string]string, want int) ([]byte, error) {
	return do("GET", url, h, nil, want)
}

func getJSON(url string, h map[string]string, v any) error {
	b, err := get(url, h, 200)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// project is one created project and its anon key.
type project struct {
	Ref  string `json:"ref"`
	Keys struct {
		Anon string `json:"anon"`
	} `json:"keys"`
}

func (s *benchStack) admin(method, path string, body any, want int, v any) error {
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			return err
		}
	}
	out, err := do(method, s.controlURL+"/admin/v1"+path, map[string]string{"Authorization": "Bearer " + s.adminPass}, b, want)
	if err != nil {
		return err
	}
	if v != nil {
		return json.Unmarshal(out, v)
	}
	return nil
}

// creation is one project's creation: the admin request's time, and the
// time from its start to the first 200 through the edge with the new key.
type creation struct{ post, first time.Duration }

func createProjects(ctx context.Context, s *benchStack, o options) ([]project, []creation, error) {
	ps := make([]project, 0, o.projects)
	cs := make([]creation, 0, o.projects)
	run := stack.RandHex(3)
	setup := fmt.Sprintf(`create table items (id int primary key, name text not null);
insert into items select i, 'item ' || i from generate_series(1, %d) i;
grant select on items to anon;
analyze items;`, o.rows)
	for i := range o.projects {
		var p project
		t0 := time.Now()
		if err := s.admin("POST", "/projects", map[string]string{"ref": fmt.Sprintf("pb%s-%03d", run, i)}, 201, &p); err != nil {
			return nil, nil, fmt.Errorf("create project %d: %w", i, err)
		}
		c := creation{post: time.Since(t0)}
		h := map[string]string{"apikey": p.Keys.Anon, "Authorization": "Bearer " + p.Keys.Anon}
		if err := waitFor(ctx, s, 30*time.Second, p.Ref+" served through the edge", func() bool {
			_, err := get(s.edgeURL+"/rest/v1/", h, 200)
			return err == nil
		}); err != nil {
			return nil, nil, err
		}
		c.first = time.Since(t0)
		if err := s.admin("POST", "/projects/"+p.Ref+"/sql", map[string]string{"query": setup}, 200, nil); err != nil {
			return nil, nil, fmt.Errorf("%s: fixtures: %w", p.Ref, err)
		}
		ps, cs = append(ps, p), append(cs, c)
		if (i+1)%10 == 0 {
			logf("%d projects created", i+1)
		}
	}
	return ps, cs, nil
}

// workerURLs lists the workers as control knows them.
func workerURLs(s *benchStack, want int) ([]string, error) {
	var ws struct {
		Workers []struct {
			URL string `json:"url"`
		} `json:"workers"`
	}
	if err := s.admin("GET", "/workers", nil, 200, &ws); err != nil {
		return nil, err
	}
	var urls []string
	for _, w := range ws.Workers {
		urls = append(urls, w.URL)
	}
	if len(urls) != want {
		return nil, fmt.Errorf("control lists %d workers, want %d", len(urls), want)
	}
	return urls, nil
}

// propagation changes DB_MAX_ROWS of p o.changes times and returns, for
// every change and worker, the time from the PATCH's start and from its
// answer until the worker answers a read of 5 rows with the new limit.
func propagation(ctx context.Context, s *benchStack, o options, p project, workers []string) (fromPatch, fromAnswer []time.Duration, err error) {
	h := map[string]string{"apikey": p.Keys.Anon, "Authorization": "Bearer " + p.Keys.Anon}
	for i := range o.changes {
		limit := 2 + i%2
		t0 := time.Now()
		var answered atomic.Int64
		var wg sync.WaitGroup
		took := make([]time.Duration, len(workers))
		errs := make([]error, len(workers))
		for j, w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[j] = waitFor(ctx, s, 30*time.Second, fmt.Sprintf("DB_MAX_ROWS %d on %s", limit, w), func() bool {
					b, err := get(w+"/rest/v1/items?select=id&id=lte.5", h, 200)
					var rows []struct{}
					return err == nil && json.Unmarshal(b, &rows) == nil && len(rows) == limit
				})
				took[j] = time.Since(t0)
			}()
		}
		if err := s.admin("PATCH", "/projects/"+p.Ref+"/config", map[string]any{"DB_MAX_ROWS": limit}, 200, nil); err != nil {
			return nil, nil, err
		}
		answered.Store(int64(time.Since(t0)))
		wg.Wait()
		for j := range workers {
			if errs[j] != nil {
				return nil, nil, errs[j]
			}
			fromPatch = append(fromPatch, took[j])
			fromAnswer = append(fromAnswer, max(0, took[j]-time.Duration(answered.Load())))
		}
	}
	// Back to the default, so the loads read whole answers.
	return fromPatch, fromAnswer, s.admin("PATCH", "/projects/"+p.Ref+"/config", map[string]any{"DB_MAX_ROWS": nil}, 200, nil)
}

// result is one load's figures.
type result struct {
	name               string
	reqs, errs         int
	rps                float64
	p50, p99           time.Duration
	firstErr           string
	projectsHit        int
	wall               time.Duration
	latencies          []time.Duration
	projectsHitCounter map[int]bool
}

// load sends GET /rest/v1/items?id=eq.N through the edge from o.conns
// clients for o.duration, each request to a random project of ps.
func load(ctx context.Context, s *benchStack, o options, name string, ps []project) result {
	var wg sync.WaitGroup
	var mu sync.Mutex
	r := result{name: name, projectsHitCounter: map[int]bool{}}
	end := time.Now().Add(o.duration)
	t0 := time.Now()
	for range o.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, res := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(res)
			var lat []time.Duration
			hit := map[int]bool{}
			errs, first := 0, ""
			for time.Now().Before(end) && ctx.Err() == nil {
				k := rand.IntN(len(ps))
				n := 1 + rand.IntN(o.rows)
				req.Reset()
				req.SetRequestURI(fmt.Sprintf("%s/rest/v1/items?id=eq.%d", s.edgeURL, n))
				req.Header.Set("apikey", ps[k].Keys.Anon)
				req.Header.Set("Authorization", "Bearer "+ps[k].Keys.Anon)
				st := time.Now()
				err := httpc.DoTimeout(req, res, 10*time.Second)
				lat = append(lat, time.Since(st))
				switch {
				case err != nil:
					errs++
					if first == "" {
						first = err.Error()
					}
				case res.StatusCode() != 200 || !bytes.Contains(res.Body(), fmt.Appendf(nil, `"id":%d,`, n)):
					errs++
					if first == "" {
						first = fmt.Sprintf("status %d: %.200s", res.StatusCode(), res.Body())
					}
				default:
					hit[k] = true
				}
			}
			mu.Lock()
			r.latencies = append(r.latencies, lat...)
			r.errs += errs
			if r.firstErr == "" {
				r.firstErr = first
			}
			for k := range hit {
				r.projectsHitCounter[k] = true
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	r.wall = time.Since(t0)
	r.reqs = len(r.latencies)
	r.rps = float64(r.reqs-r.errs) / r.wall.Seconds()
	r.p50, r.p99 = percentile(r.latencies, 0.5), percentile(r.latencies, 0.99)
	r.projectsHit = len(r.projectsHitCounter)
	r.latencies, r.projectsHitCounter = nil, nil
	return r
}

func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(q*float64(len(s)-1) + 0.5)
	return s[i]
}

// connections counts PostgreSQL's client connections per database, and
// describes each database's by state and the start of their last query
// (the pools' idle connections against a LISTEN, say).
func connections(ctx context.Context, url string) (map[string]int, map[string][]string, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, nil, err
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `select coalesce(datname, ''), coalesce(state, ''), left(regexp_replace(query, '\s+', ' ', 'g'), 40), count(*)
		from pg_stat_activity where backend_type = 'client backend' and pid <> pg_backend_pid()
		group by 1, 2, 3 order by 1, 4 desc`)
	if err != nil {
		return nil, nil, err
	}
	counts, kinds := map[string]int{}, map[string][]string{}
	for rows.Next() {
		var db, state, query string
		var n int
		if err := rows.Scan(&db, &state, &query, &n); err != nil {
			return nil, nil, err
		}
		counts[db] += n
		kinds[db] = append(kinds[db], fmt.Sprintf("%d %s %q", n, state, query))
	}
	return counts, kinds, rows.Err()
}

func run(ctx context.Context, o options) error {
	load0, _ := os.ReadFile("/proc/loadavg")
	s, err := startStack(ctx, o)
	defer s.Close()
	if err != nil {
		return err
	}
	workers, err := workerURLs(s, o.workers)
	if err != nil {
		return err
	}
	logf("creating %d projects", o.projects)
	ps, cs, err := createProjects(ctx, s, o)
	if err != nil {
		return err
	}
	logf("propagation: %d changes", o.changes)
	fromPatch, fromAnswer, err := propagation(ctx, s, o, ps[0], workers)
	if err != nil {
		return fmt.Errorf("propagation: %w", err)
	}
	if err := s.check(ctx); err != nil {
		return err
	}

	// Every project opened on every worker before the loads, as a
	// running platform's would be.
	for _, p := range ps {
		for _, w := range workers {
			h := map[string]string{"apikey": p.Keys.Anon, "Authorization": "Bearer " + p.Keys.Anon}
			if _, err := get(w+"/rest/v1/items?id=eq.1", h, 200); err != nil {
				return fmt.Errorf("warm-up: %w", err)
			}
		}
	}
	logf("loads: %d round(s) of %s, %d clients", o.rounds, o.duration, o.conns)
	_ = load(ctx, s, o, "warm-up", ps)
	var ones, manys []result
	var ratios []float64
	for i := range o.rounds {
		var one, many result
		if i%2 == 0 {
			one = load(ctx, s, o, "one project", ps[:1])
			many = load(ctx, s, o, fmt.Sprintf("%d projects", len(ps)), ps)
		} else {
			many = load(ctx, s, o, fmt.Sprintf("%d projects", len(ps)), ps)
			one = load(ctx, s, o, "one project", ps[:1])
		}
		ones, manys = append(ones, one), append(manys, many)
		ratios = append(ratios, many.rps/one.rps)
		if err := s.check(ctx); err != nil {
			return err
		}
	}
	conns, kinds, err := connections(ctx, s.DBURL)
	if err != nil {
		return fmt.Errorf("pg_stat_activity: %w", err)
	}

	// ---- report ----
	w := os.Stdout
	fmt.Fprintf(w, "\nprojbench  %s  %s, %d CPUs, %d workers, %d projects, load avg at start %s\n",
		time.Now().UTC().Format(time.RFC3339), runtime.Version(), runtime.NumCPU(), o.workers, o.projects, strings.Join(strings.Fields(string(load0))[:3], " "))

	var post, first, after []time.Duration
	for _, c := range cs {
		post, first, after = append(post, c.post), append(first, c.first), append(after, c.first-c.post)
	}
	fmt.Fprintf(w, "\ncreation (%d projects, one at a time): POST /admin/v1/projects answered in p50 %s, max %s;\n", len(cs), fmtDur(percentile(post, 0.5)), fmtDur(percentile(post, 1)))
	fmt.Fprintf(w, "  first 200 through the edge with the new anon key: p50 %s, max %s after the POST was sent (p50 %s, max %s after its answer)\n",
		fmtDur(percentile(first, 0.5)), fmtDur(percentile(first, 1)), fmtDur(percentile(after, 0.5)), fmtDur(percentile(after, 1)))

	p99 := percentile(fromPatch, 0.99)
	fmt.Fprintf(w, "\npropagation (%d DB_MAX_ROWS changes × %d workers, each worker polled directly): from the PATCH sent p50 %s, p99 %s, max %s; from its answer p50 %s, p99 %s\n",
		o.changes, len(workers), fmtDur(percentile(fromPatch, 0.5)), fmtDur(p99), fmtDur(percentile(fromPatch, 1)), fmtDur(percentile(fromAnswer, 0.5)), fmtDur(percentile(fromAnswer, 0.99)))

	fmt.Fprintf(w, "\nload: GET /rest/v1/items?id=eq.N (N random in 1..%d) through the edge, anon key of a random project each request, %d clients (this process's fasthttp client), %s each, %d round(s)\n",
		o.rows, o.conns, o.duration, o.rounds)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "round\tload\treq/s\tp50\tp99\tprojects answered\terrors\t")
	for i := range ones {
		for _, r := range []result{ones[i], manys[i]} {
			fmt.Fprintf(tw, "%d\t%s\t%.0f\t%s\t%s\t%d\t%d\t\n", i+1, r.name, r.rps, fmtDur(r.p50), fmtDur(r.p99), r.projectsHit, r.errs)
		}
	}
	_ = tw.Flush()
	errs := 0
	for i := range ones {
		errs += ones[i].errs + manys[i].errs
		for _, r := range []result{ones[i], manys[i]} {
			if r.firstErr != "" {
				fmt.Fprintf(w, "  %s, round %d, first error: %s\n", r.name, i+1, r.firstErr)
			}
		}
	}
	ratio := stats.Median(ratios)
	rs := make([]string, len(ratios))
	for i, x := range ratios {
		rs[i] = fmt.Sprintf("%.2f", x)
	}
	fmt.Fprintf(w, "  %d projects / one project req/s: %.2f (median of the rounds: %s)\n", len(ps), ratio, strings.Join(rs, " "))

	var projConns, maxPerProject, other int
	maxDB := ""
	dbs := map[string]bool{}
	for _, p := range ps {
		dbs["madbase_"+p.Ref] = true
	}
	for db, n := range conns {
		if dbs[db] {
			projConns += n
			if n > maxPerProject {
				maxPerProject, maxDB = n, db
			}
		} else {
			other += n
		}
	}
	// Each worker holds, for each project it serves, its pool and the
	// REST schema listener's connection (LISTEN "pgrst"), and all of them
	// together within PROJECT_DB_TOTAL_CONNS.
	perProject := o.workers * (o.poolConns + 1)
	bound := perProject * len(ps)
	if o.totalConns > 0 {
		bound = min(bound, o.workers*o.totalConns)
	}
	fmt.Fprintf(w, "\nPostgreSQL client connections at the end: %d in the %d project databases (at most %d in one; (PROJECT_DB_MAX_CONNS %d + 1 schema listener) × %d workers = %d per project; PROJECT_DB_TOTAL_CONNS %d × %d workers: %d for all), %d elsewhere (platform, control)\n",
		projConns, len(ps), maxPerProject, o.poolConns, o.workers, perProject, o.totalConns, o.workers, bound, other)
	if maxDB != "" {
		fmt.Fprintf(w, "  in %s (the project of the propagation changes: %v): %s\n", maxDB, maxDB == "madbase_"+ps[0].Ref, strings.Join(kinds[maxDB], "; "))
	}
	if d := "madbase_" + ps[len(ps)-1].Ref; d != maxDB {
		fmt.Fprintf(w, "  in %s (the last project): %s\n", d, strings.Join(kinds[d], "; "))
	}

	load1, _ := os.ReadFile("/proc/loadavg")
	fmt.Fprintf(w, "\ngoals (load avg at end %s; the machine is shared, figures are noisy)\n", strings.Join(strings.Fields(string(load1))[:3], " "))
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT MET"
	}
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  config propagation p99 < %s on %d workers\t%s\t%s\n", goalPropagationP99, len(workers), fmtDur(p99), verdict(p99 < goalPropagationP99))
	fmt.Fprintf(tw, "  %d projects ≥ %.1f× one project's req/s\t%.2f×\t%s\n", len(ps), goalManyVsOne, ratio, verdict(ratio >= goalManyVsOne && errs == 0))
	fmt.Fprintf(tw, "  connections of a project ≤ (pool + listener) × workers = %d\tmax %d\t%s\n", perProject, maxPerProject, verdict(maxPerProject <= perProject))
	// The goal: the total bounded by the pool settings, not by the
	// number of projects: PROJECT_DB_TOTAL_CONNS per worker.
	fmt.Fprintf(tw, "  connections ≤ PROJECT_DB_TOTAL_CONNS × workers, whatever the number of projects\t%d for %d projects (bound %d)\t%s\n",
		projConns, len(ps), bound, verdict(o.totalConns > 0 && projConns <= bound))
	return tw.Flush()
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d)/1e6)
	}
	return fmt.Sprintf("%dµs", d.Microseconds())
}
