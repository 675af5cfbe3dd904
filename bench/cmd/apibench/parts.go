package main

import (
	"bufio"
	"context"
	crand "crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/madbase/madbase/bench/internal/proc"
	"github.com/madbase/madbase/bench/internal/stats"
	"golang.org/x/crypto/bcrypt"
)

// ---- REST (issue 6) ----

const pgbenchBin = "/usr/lib/postgresql/15/bin/pgbench"

// The SQL PostgREST runs for each request, in its transaction.
const pgrstPrelude = `\set n random(1, 9990)
BEGIN;
SELECT set_config('search_path', 'public', true), set_config('role', 'anon', true), set_config('request.jwt.claims', '{"role":"anon"}', true), set_config('request.method', 'GET', true);
`

var restCases = []struct {
	name string
	path func(n int) string
	sql  string
}{
	{"row_by_key", func(n int) string { return fmt.Sprintf("/rest/v1/bench_items?id=eq.%d", n) },
		`WITH pgrst_source AS (SELECT "public"."bench_items".* FROM "public"."bench_items" WHERE "public"."bench_items"."id" = :n) SELECT null::bigint AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total, coalesce(pg_catalog.json_agg(_postgrest_t), '[]')::text AS body, nullif(current_setting('response.headers', true), '') AS response_headers, nullif(current_setting('response.status', true), '') AS response_status FROM (SELECT * FROM pgrst_source) _postgrest_t;`},
	{"page_with_embed", func(n int) string {
		return fmt.Sprintf("/rest/v1/bench_items?select=id,name,author:bench_authors(name)&id=gt.%d&order=id&limit=10", n)
	},
		`WITH pgrst_source AS (SELECT "public"."bench_items"."id", "public"."bench_items"."name", row_to_json("bench_items_author_1".*)::json AS "author" FROM "public"."bench_items" LEFT JOIN LATERAL (SELECT "bench_authors_1"."name" FROM "public"."bench_authors" AS "bench_authors_1" WHERE "bench_authors_1"."id" = "public"."bench_items"."author_id") AS "bench_items_author_1" ON TRUE WHERE "public"."bench_items"."id" > :n ORDER BY "public"."bench_items"."id" ASC LIMIT 10 OFFSET 0) SELECT null::bigint AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total, coalesce(pg_catalog.json_agg(_postgrest_t), '[]')::text AS body, nullif(current_setting('response.headers', true), '') AS response_headers, nullif(current_setting('response.status', true), '') AS response_status FROM (SELECT * FROM pgrst_source) _postgrest_t;`},
}

// restRow holds, for one load, the round whose req/s was the median of
// each setup, and the edge/ceiling ratio of every round.
type restRow struct {
	edge, direct, ceiling result
	ratios                []float64
}

// median returns the result with the median req/s.
func median(rs []result) result {
	s := append([]result(nil), rs...)
	sort.Slice(s, func(i, j int) bool { return s[i].ReqPerSec < s[j].ReqPerSec })
	return s[len(s)/2]
}

// rawGET is a GET request to base's host as wrk sends it, with headers h.
func rawGET(base, path string, h map[string]string) string {
	var b strings.Builder
	b.WriteString("GET " + path + " HTTP/1.1\r\nHost: " + strings.TrimPrefix(base, "http://") + "\r\n")
	for k, v := range h {
		b.WriteString(k + ": " + v + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

// restRequests is the raw requests wrk sends in turn for one REST load: the
// path with 4096 random ids, each with the headers h.
func restRequests(base string, path func(n int) string, h map[string]string) []string {
	reqs := make([]string, 4096)
	for i := range reqs {
		reqs[i] = rawGET(base, path(1+rand.IntN(9990)), h)
	}
	return reqs
}

// benchREST loads the REST cases with wrk when it is installed (and
// o.restClient is "wrk"): a C client, as pgbench is for the ceiling, so
// that the load generator takes as little of the shared cores on either
// side; else with this process's Go client.
func benchREST(ctx context.Context, s *benchStack, o options) ([]restRow, error) {
	var rows []restRow
	h := map[string]string{"apikey": s.anon, "Authorization": "Bearer " + s.anon}
	wrkBin := ""
	if o.restClient == "wrk" {
		wrkBin, _ = exec.LookPath("wrk")
	}
	s.restClient = "this process's Go client"
	switch {
	case wrkBin != "":
		s.restClient = "wrk"
	case o.restClient == "wrk":
		logf("wrk not found: REST is loaded by this process's Go client, which takes more than twice wrk's share of the cores; the goals were set with wrk (apt-get install wrk)")
	}
	for _, c := range restCases {
		// Sanity check: the page has 10 rows with the embedded author.
		// The worker reports healthy before its schema cache has loaded
		// (503 PGRST002 meanwhile), so wait for the first 200, at most 20 s.
		var b []byte
		var err error
		for deadline := time.Now().Add(20 * time.Second); ; {
			if b, err = do("GET", s.edgeURL+c.path(5), h, nil, 200); err == nil {
				break
			}
			if !strings.Contains(err.Error(), "PGRST002") || time.Now().After(deadline) || ctx.Err() != nil {
				return nil, err
			}
			if !s.schemaWait {
				s.schemaWait = true
				logf("REST answers 503 PGRST002 (schema cache not loaded) although the edge counts the worker healthy; waiting")
			}
			time.Sleep(50 * time.Millisecond)
		}
		var check []map[string]any
		if err := json.Unmarshal(b, &check); err != nil || len(check) == 0 {
			return nil, fmt.Errorf("%s: unexpected body %.200s", c.name, b)
		}
		// Rounds alternate edge, worker direct and pgbench, so that a
		// change in the machine's speed during the run (a shared host) hits
		// the three alike; each setup's median round is reported.
		targets := []struct {
			name string
			base string
			edge int
		}{{"edge", s.edgeURL, s.edge.Pid()}, {"worker direct", s.workerURL, 0}}
		load := func(name, base string, edgePid int, d time.Duration) (result, error) {
			if wrkBin != "" {
				return runWrkLoad(ctx, name, wrkBin, base, o.conns, d, edgePid, s.worker.Pid(), restRequests(base, c.path, h))
			}
			f := func(int) error { _, err := do("GET", base+c.path(1+rand.IntN(9990)), h, nil, 200); return err }
			return runLoad(ctx, name, o.conns, d, edgePid, s.worker.Pid(), f)
		}
		for _, target := range targets {
			_, _ = load("warmup", target.base, target.edge, time.Second)
		}
		var edges, directs, ceilings []result
		var row restRow
		for range o.rounds {
			for i, target := range targets {
				r, err := load(c.name+" "+target.name, target.base, target.edge, o.duration)
				if err != nil {
					return nil, err
				}
				if i == 0 {
					edges = append(edges, r)
				} else {
					directs = append(directs, r)
				}
			}
			r, err := pgbench(ctx, s, o, c.name, pgrstPrelude+c.sql+"\nCOMMIT;\n")
			if err != nil {
				return nil, err
			}
			ceilings = append(ceilings, r)
			row.ratios = append(row.ratios, edges[len(edges)-1].ReqPerSec/r.ReqPerSec)
		}
		row.edge, row.direct, row.ceiling = median(edges), median(directs), median(ceilings)
		rows = append(rows, row)
	}
	return rows, nil
}

var reTPS = regexp.MustCompile(`tps = ([\d.]+) \(without initial connection time\)`)

// pgbench runs scripts with o.conns clients (-M prepared) and reads the
// latencies from its per-transaction log. With several scripts, each
// transaction runs one of them, picked at random.
func pgbench(ctx context.Context, s *benchStack, o options, name string, scripts ...string) (result, error) {
	dir := filepath.Join(s.Tmp, "pgbench-"+name)
	_ = os.RemoveAll(dir) // the latency logs of an earlier round
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return result{}, err
	}
	args := []string{"-n", "-M", "prepared", "-c", strconv.Itoa(o.conns), "-j", strconv.Itoa(min(o.conns, max(1, runtime.NumCPU()/2))),
		"-T", strconv.Itoa(int(o.duration.Seconds())), "-l", "--log-prefix", filepath.Join(dir, "log"),
		"-h", "127.0.0.1", "-p", strconv.Itoa(s.PG.Port()), "-U", "postgres"}
	for i, script := range scripts {
		sf := filepath.Join(dir, fmt.Sprintf("script-%d.sql", i))
		if err := os.WriteFile(sf, []byte(script), 0o644); err != nil {
			return result{}, err
		}
		args = append(args, "-f", sf)
	}
	args = append(args, "postgres")
	cmd := exec.CommandContext(ctx, pgbenchBin, args...)
	cmd.Dir = dir
	cmd.WaitDelay = 2 * time.Second
	pgs := startPGSampler()
	out, err := cmd.CombinedOutput()
	pgd := pgs.stop()
	if err != nil {
		return result{}, fmt.Errorf("pgbench %s: %w: %s", name, err, out)
	}
	m := reTPS.FindSubmatch(out)
	if m == nil {
		return result{}, fmt.Errorf("pgbench %s: no tps in output: %s", name, out)
	}
	r := result{Name: name + " pgbench ceiling", EdgeCPU: -1, WorkerCPU: -1}
	r.ReqPerSec, _ = strconv.ParseFloat(string(m[1]), 64)
	logs, _ := filepath.Glob(filepath.Join(dir, "log.*"))
	var lats []time.Duration
	for _, l := range logs {
		f, err := os.Open(l)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			if len(fs) >= 3 {
				us, _ := strconv.ParseInt(fs[2], 10, 64)
				lats = append(lats, time.Duration(us)*time.Microsecond)
			}
		}
		f.Close()
	}
	r.Requests = int64(len(lats))
	if r.Requests > 0 {
		cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		r.ClientCPU = float64(cpu.Microseconds()) / float64(r.Requests)
		r.PGCPU = float64(pgd.Microseconds()) / float64(r.Requests)
	}
	r.P50, r.P99 = pct(lats, 50), pct(lats, 99)
	return r, nil
}

// ---- auth (issue 5) ----

type authOut struct {
	user, refresh, signin, bound result
	user4, userBurst             result
	// userWrk is GET /user with wrk as the client (Name empty when wrk is
	// not installed): the round with the median req/s.
	userWrk result
	// userCeiling is the primary-key select of the same users by pgbench,
	// the round with the median tps; userRatios are the rounds' GET /user
	// (wrk, else the Go client) over that select.
	userCeiling result
	userRatios  []float64
}

type session struct {
	Access  string `json:"access_token"`
	Refresh string `json:"refresh_token"`
	User    struct {
		ID string `json:"id"`
	} `json:"user"`
}

// userSelect is the ceiling of GET /auth/v1/user: the user's own row read
// by primary key, the columns GET /user shows from auth.users, as one
// prepared statement with nothing around it (no role, no claims, no
// session or identities).
const userSelect = `SELECT id, aud, role, email, phone, email_confirmed_at, phone_confirmed_at, invited_at, confirmation_sent_at, recovery_sent_at, email_change_sent_at, phone_change_sent_at, reauthentication_sent_at, last_sign_in_at, banned_until, deleted_at, email_change, phone_change, raw_app_meta_data, raw_user_meta_data, is_anonymous, created_at, updated_at FROM auth.users WHERE id = '%s';
`

// userSelectScripts are pgbench scripts of userSelect, one per user id:
// pgbench runs one of them, picked at random, per transaction.
func userSelectScripts(ids []string) []string {
	scripts := make([]string, len(ids))
	for i, id := range ids {
		scripts[i] = fmt.Sprintf(userSelect, id)
	}
	return scripts
}

const benchPassword = "bench-password-123"

func benchAuth(ctx context.Context, s *benchStack, o options) (authOut, error) {
	var out authOut
	h := map[string]string{"apikey": s.anon}
	sess := make([]session, o.conns)
	emails := make([]string, o.conns)
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for i := range sess {
		wg.Add(1)
		go func() {
			defer wg.Done()
			emails[i] = fmt.Sprintf("bench-%d-%d@example.com", i, rand.N(1<<30))
			body, _ := json.Marshal(map[string]string{"email": emails[i], "password": benchPassword})
			b, err := do("POST", s.edgeURL+"/auth/v1/signup", h, body, 200)
			if err == nil {
				err = json.Unmarshal(b, &sess[i])
			}
			if err == nil && (sess[i].Access == "" || sess[i].Refresh == "" || sess[i].User.ID == "") {
				err = fmt.Errorf("signup returned no session (autoconfirm off?): %.200s", b)
			}
			if err != nil {
				firstErr.CompareAndSwap(nil, err)
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return out, fmt.Errorf("signup: %w", err)
	}
	ep, wp := s.edge.Pid(), s.worker.Pid()

	userHdr := make([]map[string]string, o.conns)
	for i := range userHdr {
		userHdr[i] = map[string]string{"apikey": s.anon, "Authorization": "Bearer " + sess[i].Access}
	}
	fUser := func(c int) error { _, err := do("GET", s.edgeURL+"/auth/v1/user", userHdr[c], nil, 200); return err }
	_, _ = runLoad(ctx, "warmup", o.conns, time.Second, ep, wp, fUser)
	var err error
	if out.user, err = runLoad(ctx, "GET /auth/v1/user", o.conns, o.duration, ep, wp, fUser); err != nil {
		return out, err
	}
	if out, err = benchUserVsSelect(ctx, s, o, out, sess, userHdr); err != nil {
		return out, err
	}
	if !o.want("auth") {
		return out, nil // -only user
	}

	fRefresh := func(c int) error {
		body, _ := json.Marshal(map[string]string{"refresh_token": sess[c].Refresh})
		b, err := do("POST", s.edgeURL+"/auth/v1/token?grant_type=refresh_token", h, body, 200)
		if err != nil {
			return err
		}
		var ns session
		if err := json.Unmarshal(b, &ns); err != nil || ns.Refresh == "" {
			return fmt.Errorf("refresh: no refresh token in %.200s", b)
		}
		sess[c] = ns
		return nil
	}
	if out.refresh, err = runLoad(ctx, "refresh_token (own chain per client)", o.conns, o.duration, ep, wp, fRefresh); err != nil {
		return out, err
	}

	fSignin := func(c int) error {
		body, _ := json.Marshal(map[string]string{"email": emails[c], "password": benchPassword})
		_, err := do("POST", s.edgeURL+"/auth/v1/token?grant_type=password", h, body, 200)
		return err
	}
	if out.signin, err = runLoad(ctx, "password sign-in", o.conns, o.duration, ep, wp, fSignin); err != nil {
		return out, err
	}

	// Does a sign-in burst starve other requests? GET /user from 4 clients
	// while o.conns clients sign in, next to GET /user from 4 clients alone;
	// the goal is the first at least goalUserBurstVsAlone of the second.
	fUser4 := func(c int) error { _, err := do("GET", s.edgeURL+"/auth/v1/user", userHdr[c], nil, 200); return err }
	if out.user4, err = runLoad(ctx, "GET /auth/v1/user, 4 clients alone", 4, o.duration, ep, wp, fUser4); err != nil {
		return out, err
	}
	bctx, bcancel := context.WithCancel(ctx)
	burstDone := make(chan struct{})
	go func() {
		defer close(burstDone)
		_, _ = runLoad(bctx, "burst", o.conns, o.duration+2*time.Second, ep, wp, fSignin)
	}()
	time.Sleep(500 * time.Millisecond)
	out.userBurst, err = runLoad(ctx, fmt.Sprintf("GET /auth/v1/user, 4 clients during a %d-client sign-in burst", o.conns), 4, o.duration, ep, wp, fUser4)
	bcancel()
	<-burstDone
	if err != nil {
		return out, err
	}
	out.userBurst.EdgeCPU, out.userBurst.WorkerCPU, out.userBurst.ClientCPU, out.userBurst.PGCPU = -1, -1, -1, -1 // shared with the burst

	// The bound: bcrypt cost 10 comparisons on all cores, in this process.
	hash, err := bcrypt.GenerateFromPassword([]byte(benchPassword), 10)
	if err != nil {
		return out, err
	}
	fBound := func(int) error { return bcrypt.CompareHashAndPassword(hash, []byte(benchPassword)) }
	if out.bound, err = runLoad(ctx, fmt.Sprintf("bcrypt cost 10 bound (%d goroutines)", runtime.NumCPU()), runtime.NumCPU(), o.duration, 0, os.Getpid(), fBound); err != nil {
		return out, err
	}
	out.bound.WorkerCPU, out.bound.ClientCPU, out.bound.PGCPU = -1, -1, -1
	return out, nil
}

// benchUserVsSelect measures GET /auth/v1/user through the edge against
// its ceiling, userSelect by pgbench over the same users, in o.rounds
// rounds alternating the two (as REST does), so that each round's ratio is
// of two loads run back to back. GET /user is loaded by wrk when it is
// installed, else by this process's client (then out.userWrk stays empty).
func benchUserVsSelect(ctx context.Context, s *benchStack, o options, out authOut, sess []session, userHdr []map[string]string) (authOut, error) {
	ep, wp := s.edge.Pid(), s.worker.Pid()
	wrkBin, _ := exec.LookPath("wrk")
	reqs := make([]string, len(userHdr))
	for i, h := range userHdr {
		reqs[i] = rawGET(s.edgeURL, "/auth/v1/user", h)
	}
	load := func() (result, error) {
		if wrkBin != "" {
			return runWrkLoad(ctx, "GET /auth/v1/user (wrk as the client)", wrkBin, s.edgeURL, o.conns, o.duration, ep, wp, reqs)
		}
		return runLoad(ctx, "GET /auth/v1/user", o.conns, o.duration, ep, wp, func(c int) error {
			_, err := do("GET", s.edgeURL+"/auth/v1/user", userHdr[c], nil, 200)
			return err
		})
	}
	// pgbench takes at most 128 scripts.
	ids := make([]string, min(len(sess), 128))
	for i := range ids {
		ids[i] = sess[i].User.ID
	}
	scripts := userSelectScripts(ids)
	var users, ceilings []result
	for range o.rounds {
		u, err := load()
		if err != nil {
			return out, err
		}
		c, err := pgbench(ctx, s, o, "user_by_key", scripts...)
		if err != nil {
			return out, err
		}
		users, ceilings = append(users, u), append(ceilings, c)
		out.userRatios = append(out.userRatios, u.ReqPerSec/c.ReqPerSec)
	}
	if wrkBin != "" {
		out.userWrk = median(users)
	} else {
		out.user = median(users)
	}
	out.userCeiling = median(ceilings)
	out.userCeiling.Name = "auth.users by primary key, pgbench ceiling"
	return out, nil
}

// ---- storage (issue 7) ----

type transfer struct {
	name             string
	mbps             float64 // median of the rounds
	ratio            float64 // to the ceiling: median of the rounds' ratios
	edgeHWM, workHWM float64 // MiB, VmHWM during the transfer
	err              string
}

// pattern is an endless reader of pseudo-random bytes from a 1 MiB buffer.
type pattern struct {
	buf []byte
	off int
}

func newPattern() *pattern {
	p := &pattern{buf: make([]byte, mib)}
	_, _ = crand.Read(p.buf)
	return p
}

func (p *pattern) Read(b []byte) (int, error) {
	n := copy(b, p.buf[p.off:])
	p.off = (p.off + n) % len(p.buf)
	return n, nil
}

// transferObject sends one storage request of an object of size bytes:
// an upload when body is not nil (answered 200), else a download, whose
// body must be size bytes.
func transferObject(ctx context.Context, hc *http.Client, method, url string, h map[string]string, body io.Reader, size int64) error {
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return err
	}
	if body != nil {
		req.ContentLength = size
	}
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1000))
		return fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	if err == nil && body == nil && n != size {
		err = fmt.Errorf("got %d bytes, want %d", n, size)
	}
	return err
}

func benchStorage(ctx context.Context, s *benchStack, o options) ([]transfer, error) {
	hdr := map[string]string{"apikey": s.svc, "Authorization": "Bearer " + s.svc}
	upsert := maps.Clone(hdr)
	upsert["x-upsert"] = "true"
	upsert["Content-Type"] = "application/octet-stream"
	if _, err := do("POST", s.edgeURL+"/storage/v1/bucket", hdr, []byte(`{"id":"bench","name":"bench","public":false}`), 200); err != nil {
		return nil, fmt.Errorf("create bucket: %w", err)
	}
	hc := &http.Client{Transport: &http.Transport{Proxy: nil, DisableCompression: true}, Timeout: 10 * time.Minute}
	defer hc.CloseIdleConnections()
	// Ceiling: a plain local-disk copy of the same size (cp, then fsync).
	src := filepath.Join(s.Tmp, "ceiling-src.bin")
	f, err := os.Create(src)
	if err != nil {
		return nil, err
	}
	_, err = io.Copy(f, io.LimitReader(newPattern(), o.fileSize))
	if err == nil {
		err = f.Sync()
	}
	f.Close()
	if err != nil {
		return nil, err
	}
	defer os.Remove(src)
	ceiling := func() (transfer, error) {
		dst := filepath.Join(s.Tmp, "ceiling-dst.bin")
		defer os.Remove(dst)
		t0 := time.Now()
		if b, err := exec.CommandContext(ctx, "cp", src, dst).CombinedOutput(); err != nil {
			return transfer{}, fmt.Errorf("cp: %v: %s", err, b)
		}
		if b, err := exec.CommandContext(ctx, "sync", dst).CombinedOutput(); err != nil {
			return transfer{}, fmt.Errorf("sync: %v: %s", err, b)
		}
		return transfer{name: "ceiling: cp + fsync", mbps: float64(o.fileSize) / 1e6 / time.Since(t0).Seconds(), edgeHWM: -1, workHWM: -1}, nil
	}

	var round []transfer
	measure := func(name string, fn func() error) {
		_ = proc.ResetPeakRSS(s.edge.Pid())
		_ = proc.ResetPeakRSS(s.worker.Pid())
		t0 := time.Now()
		err := fn()
		el := time.Since(t0)
		em, _ := proc.MemStatus(s.edge.Pid())
		wm, _ := proc.MemStatus(s.worker.Pid())
		t := transfer{name: name, mbps: float64(o.fileSize) / 1e6 / el.Seconds(), edgeHWM: float64(em.HWM) / mib, workHWM: float64(wm.HWM) / mib}
		if err != nil {
			t.err = err.Error()
			t.mbps = 0
		}
		round = append(round, t)
	}
	em, _ := proc.MemStatus(s.edge.Pid())
	wm, _ := proc.MemStatus(s.worker.Pid())
	before := transfer{name: "(RSS before the transfers)", edgeHWM: float64(em.RSS) / mib, workHWM: float64(wm.RSS) / mib}
	// Rounds: the ceiling, then each transfer once; every transfer's
	// median rate is reported, and its ratio to the ceiling is the median of
	// the rounds' ratios (each against the ceiling of its own round).
	var rounds [][]transfer
	for range o.transfers {
		c, err := ceiling()
		if err != nil {
			return nil, err
		}
		round = []transfer{c}
		for _, target := range []struct{ name, base string }{{"edge", s.edgeURL}, {"worker direct", s.workerURL}} {
			obj := target.base + "/storage/v1/object/bench/" + strings.ReplaceAll(target.name, " ", "-") + ".bin"
			measure("upload via "+target.name, func() error {
				body := io.LimitReader(newPattern(), o.fileSize)
				return transferObject(ctx, hc, "POST", obj, upsert, body, o.fileSize)
			})
			measure("download via "+target.name, func() error {
				return transferObject(ctx, hc, "GET", obj, hdr, nil, o.fileSize)
			})
		}
		rounds = append(rounds, round)
	}
	out := []transfer{rounds[0][0], before}
	for i := range rounds[0] {
		t := transfer{name: rounds[0][i].name, edgeHWM: -1, workHWM: -1}
		var rates, ratios []float64
		for _, r := range rounds {
			x := r[i]
			rates = append(rates, x.mbps)
			if r[0].mbps > 0 {
				ratios = append(ratios, x.mbps/r[0].mbps)
			}
			t.edgeHWM, t.workHWM = max(t.edgeHWM, x.edgeHWM), max(t.workHWM, x.workHWM)
			if x.err != "" && t.err == "" {
				t.err = x.err
			}
		}
		t.mbps, t.ratio = stats.Median(rates), stats.Median(ratios)
		if t.err != "" {
			t.mbps, t.ratio = 0, 0
		}
		if i == 0 {
			out[0] = t
		} else {
			out = append(out, t)
		}
	}
	return out, nil
}
