package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/madbase/madbase/bench/internal/proc"
	"github.com/madbase/madbase/bench/internal/stack"
	"github.com/madbase/madbase/bench/internal/wrk"
	"github.com/valyala/fasthttp"
)

// result is one load run.
type result struct {
	Name       string
	Requests   int64
	ReqPerSec  float64
	P50, P99   time.Duration
	Errors     int64
	FirstError string
	EdgeCPU    float64 // µs per request; -1 when not through the edge
	WorkerCPU  float64 // µs per request
	ClientCPU  float64 // µs per request of the load generator (this process, or pgbench)
	PGCPU      float64 // µs per request of the PostgreSQL server processes
}

// op does one request for client c (0..conns-1); it returns an error for a
// failed request (transport error or unexpected status).
type op func(c int) error

// runLoad runs op from conns goroutines for d and measures the CPU time the
// edge and worker processes used meanwhile.
func runLoad(ctx context.Context, name string, conns int, d time.Duration, edgePid, workerPid int, f op) (result, error) {
	var done, errs atomic.Int64
	var firstErr atomic.Value
	var mu sync.Mutex
	var lats []time.Duration
	e0, _ := proc.CPUTime(edgePid)
	c0, _ := proc.CPUTime(os.Getpid())
	pgs := startPGSampler()
	w0, err := proc.CPUTime(workerPid)
	if err != nil {
		return result{}, err
	}
	start := time.Now()
	stop := start.Add(d)
	var wg sync.WaitGroup
	for g := 0; g < conns; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, 8192)
			for ctx.Err() == nil && time.Now().Before(stop) {
				t0 := time.Now()
				if err := f(g); err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				local = append(local, time.Since(t0))
				done.Add(1)
			}
			mu.Lock()
			lats = append(lats, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	el := time.Since(start)
	e1, _ := proc.CPUTime(edgePid)
	w1, _ := proc.CPUTime(workerPid)
	c1, _ := proc.CPUTime(os.Getpid())
	pgd := pgs.stop()
	if err := ctx.Err(); err != nil {
		return result{}, err
	}
	r := result{Name: name, Requests: done.Load(), Errors: errs.Load(), EdgeCPU: -1}
	r.ReqPerSec = float64(r.Requests) / el.Seconds()
	r.P50, r.P99 = pct(lats, 50), pct(lats, 99)
	if s, ok := firstErr.Load().(string); ok {
		r.FirstError = s
	}
	if n := float64(r.Requests + r.Errors); n > 0 {
		if edgePid > 0 {
			r.EdgeCPU = float64((e1 - e0).Microseconds()) / n
		}
		r.WorkerCPU = float64((w1 - w0).Microseconds()) / n
		r.ClientCPU = float64((c1 - c0).Microseconds()) / n
		r.PGCPU = float64(pgd.Microseconds()) / n
	}
	return r, nil
}

func pct(l []time.Duration, p int) time.Duration {
	if len(l) == 0 {
		return 0
	}
	sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	return l[min(len(l)-1, len(l)*p/100)]
}

// httpc is the keep-alive client the load goroutines share.
var httpc = &fasthttp.Client{
	MaxConnsPerHost:     1024,
	ReadTimeout:         30 * time.Second,
	WriteTimeout:        30 * time.Second,
	MaxIdleConnDuration: time.Minute,
}

// do sends one request and returns the response body (a copy) when the
// status is want.
func do(method, url string, headers map[string]string, body []byte, want int) ([]byte, error) {
	return stack.HTTP{Client: httpc, ShortURLs: true}.Do(method, url, headers, body, want)
}

// pgPostmaster is the PostgreSQL server's pid; 0 when unknown.
var pgPostmaster int

// pgCPU is the CPU time so far of the postmaster and each of its children
// (backends, background processes).
func pgCPU() map[int]time.Duration {
	m := map[int]time.Duration{}
	if pgPostmaster == 0 {
		return m
	}
	for _, p := range append([]int{pgPostmaster}, proc.ChildrenOf(pgPostmaster)...) {
		if t, err := proc.CPUTime(p); err == nil {
			m[p] = t
		}
	}
	return m
}

// pgSampler follows the server processes' CPU time every 100 ms from
// start until stop, so backends that exit during the run (pgbench's, at its
// end) still count, up to their last sample.
type pgSampler struct {
	before, last map[int]time.Duration
	stopc, done  chan struct{}
}

func startPGSampler() *pgSampler {
	s := &pgSampler{before: pgCPU(), last: map[int]time.Duration{}, stopc: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			for p, c := range pgCPU() {
				s.last[p] = c
			}
			select {
			case <-s.stopc:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// stop ends sampling and returns the CPU used since start; backends started
// meanwhile count from zero.
func (s *pgSampler) stop() time.Duration {
	close(s.stopc)
	<-s.done
	for p, c := range pgCPU() {
		s.last[p] = c
	}
	var d time.Duration
	for p, t := range s.last {
		d += t - s.before[p]
	}
	return d
}

// runWrkLoad is runLoad with wrk as the load generator: a lean C client
// (about a quarter of the CPU per request of this process's Go client) for
// the loads whose goal is an absolute rate, so that less of the machine goes
// to making the load. requests are raw HTTP requests, sent in turn, one per
// request; ClientCPU is wrk's.
func runWrkLoad(ctx context.Context, name, wrkBin, base string, conns int, d time.Duration, edgePid, workerPid int, requests []string) (result, error) {
	dir, err := os.MkdirTemp("", "apibench-wrk-*")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(dir)
	var lua strings.Builder
	lua.WriteString("local reqs = {\n")
	for _, r := range requests {
		fmt.Fprintf(&lua, "  %q,\n", r)
	}
	lua.WriteString("}\nlocal i = 0\nrequest = function()\n  i = i % #reqs + 1\n  return reqs[i]\nend\n")
	script := filepath.Join(dir, "requests.lua")
	if err := os.WriteFile(script, []byte(lua.String()), 0o600); err != nil {
		return result{}, err
	}
	e0, _ := proc.CPUTime(edgePid)
	pgs := startPGSampler()
	w0, err := proc.CPUTime(workerPid)
	if err != nil {
		return result{}, err
	}
	w, out, err := wrk.Run(ctx, wrkBin, base, conns, d, "-s", script)
	e1, _ := proc.CPUTime(edgePid)
	w1, _ := proc.CPUTime(workerPid)
	pgd := pgs.stop()
	if err != nil {
		return result{}, err
	}
	r := result{Name: name, Requests: w.Requests, ReqPerSec: w.ReqPerSec, P50: w.P50, P99: w.P99, Errors: w.Non2xx + w.SocketErrors, EdgeCPU: -1}
	if r.Errors > 0 {
		r.FirstError = "wrk: " + strings.Join(strings.Fields(out), " ")
	}
	if n := float64(r.Requests); n > 0 {
		if edgePid > 0 {
			r.EdgeCPU = float64((e1 - e0).Microseconds()) / n
		}
		r.WorkerCPU = float64((w1 - w0).Microseconds()) / n
		r.ClientCPU = float64(w.CPU.Microseconds()) / n
		r.PGCPU = float64(pgd.Microseconds()) / n
	}
	return r, nil
}
