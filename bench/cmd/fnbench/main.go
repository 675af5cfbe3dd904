// Command fnbench measures edge functions (issue 22) end to end: the real
// madbase binary as control, one worker and the edge, on a throwaway
// PostgreSQL and an embedded NATS, all on 127.0.0.1, in one run.
//
//	go run ./bench/cmd/fnbench            # 5 s loads, 50 cold starts
//	go run ./bench/cmd/fnbench -quick     # smoke run
//
// It reports:
//   - requests/s of a hello-world function through the edge, next to the
//     same answer written in Go on the same route in the same run (the
//     worker's own JSON answer for an unknown function, which takes the
//     same path through edge, dispatch and router, minus JavaScript): the
//     ratio is the cost of running JavaScript (goal ≥ 0.3);
//   - the cold start of a newly deployed function: the latency of its first
//     invocation through the edge, which fetches the bundle from JetStream,
//     compiles it and makes an instance (goal p99 < 50 ms);
//   - memory per warm instance: the worker's RSS growth when a function
//     holds N instances warm, divided by N.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/madbase/madbase/bench/internal/proc"
	"github.com/madbase/madbase/bench/internal/stack"
	"github.com/madbase/madbase/shared/jwtauth"
	"github.com/madbase/madbase/shared/secretbox"
)

type options struct {
	duration  time.Duration
	conns     int
	colds     int
	instances int
	bin       string
}

func main() {
	var o options
	quick := flag.Bool("quick", false, "smoke run: 1s loads, 10 cold starts, 20 instances")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "length of each load run")
	flag.IntVar(&o.conns, "c", 16, "concurrent keep-alive clients")
	flag.IntVar(&o.colds, "cold", 50, "cold starts measured (one new function each)")
	flag.IntVar(&o.instances, "instances", 100, "warm instances held for the memory figure")
	flag.StringVar(&o.bin, "bin", "", "a madbase binary to run instead of building one")
	flag.Parse()
	if *quick {
		o.duration, o.colds, o.instances = time.Second, 10, 20
	}
	proc.Main("fnbench", 15*time.Minute, func(ctx context.Context) error { return run(ctx, o) }, nil)
}

func logf(format string, args ...any) { fmt.Fprintf(os.Stderr, "fnbench: "+format+"\n", args...) }

type benchStack struct {
	*stack.Base
	worker             *proc.Child
	controlURL, apiURL string
	adminPass, key     string
}

func start(ctx context.Context, o options) (s *benchStack, err error) {
	s = &benchStack{}
	s.Base, err = stack.Start(ctx, stack.Options{Name: "fnbench", Bin: o.bin, Logf: logf, MaxConns: 100})
	if err != nil {
		return s, err
	}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	ports, err := stack.FreePorts(3)
	if err != nil {
		return s, err
	}
	secret := stack.RandHex(32)
	s.key, _ = jwtauth.OpaqueKeys([]byte(secret))
	s.adminPass = stack.RandHex(16)
	s.controlURL = fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	s.apiURL = fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	env := s.TierEnv(secret,
		"ADMIN_PASSWORD="+s.adminPass, "MADBASE_ENCRYPTION_KEY="+secretbox.EncodeKey(secretbox.NewKey()),
		"CONTROL_HOST=127.0.0.1", "CONTROL_PORT="+strconv.Itoa(ports[0]), "CONTROL_UPSTREAM_URL="+s.controlURL,
		"EDGE_PORT="+strconv.Itoa(ports[1]), "WORKER_PORT="+strconv.Itoa(ports[2]),
		"SHUTDOWN_GRACE=1s",
		"FUNCTIONS_POOL_SIZE="+strconv.Itoa(max(o.instances, o.conns)+8),
	)
	run := func(tier string) (*proc.Child, error) {
		cmd := exec.Command(s.Exec, tier)
		cmd.Env = append(env, "INSTANCE_ID=fnbench-"+tier)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		return s.StartChild(tier, cmd)
	}
	if _, err = run("control"); err != nil {
		return s, err
	}
	if s.worker, err = run("worker"); err != nil {
		return s, err
	}
	if _, err = run("edge"); err != nil {
		return s, err
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, _, _ := s.call(http.MethodGet, s.apiURL+"/functions/v1/none", nil)
		if st == http.StatusNotFound {
			if st, _, _ = s.call(http.MethodGet, s.controlURL+"/health", nil); st == 200 {
				return s, nil
			}
		}
		if time.Now().After(deadline) {
			return s, fmt.Errorf("the stack did not come up in 60s")
		}
		if err := ctx.Err(); err != nil {
			return s, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}

// call sends one request (with the project's key for the API, the admin
// password for control) and returns the status and body.
func (s *benchStack) call(method, url string, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("apikey", s.key)
	req.Header.Set("Authorization", "Bearer "+s.adminPass)
	if len(url) > len(s.apiURL) && url[:len(s.apiURL)] == s.apiURL {
		req.Header.Set("Authorization", "Bearer "+s.key)
	}
	res, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, b, err
}

func (s *benchStack) deploy(name, src string) error {
	st, b, err := s.call(http.MethodPut, s.controlURL+"/admin/v1/functions/"+name+"?verify_jwt=false", []byte(src))
	if err != nil {
		return err
	}
	if st/100 != 2 {
		return fmt.Errorf("deploy %s: %d %s", name, st, b)
	}
	return nil
}

// load sends GET url from conns clients for d and returns requests/s.
func load(ctx context.Context, s *benchStack, url string, conns int, d time.Duration) (float64, error) {
	var n, bad atomic.Int64
	var wg sync.WaitGroup
	end := time.Now().Add(d)
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) && ctx.Err() == nil {
				st, _, err := s.call(http.MethodGet, url, nil)
				if err != nil || (st != 200 && st != 404) {
					bad.Add(1)
					continue
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	if bad.Load() > 0 {
		return 0, fmt.Errorf("%s: %d failed requests", url, bad.Load())
	}
	return float64(n.Load()) / d.Seconds(), nil
}

func percentile(xs []time.Duration, p float64) time.Duration {
	sort.Slice(xs, func(i, j int) bool { return xs[i] < xs[j] })
	i := int(float64(len(xs)-1) * p)
	return xs[i]
}

const hello = `Deno.serve(() => new Response("Hello, world!"))`

func run(ctx context.Context, o options) error {
	s, err := start(ctx, o)
	if err != nil {
		return err
	}
	defer s.Close()

	// 1. Requests/s: the function against the Go answer on the same route,
	// alternating, three rounds each; medians.
	if err := s.deploy("hello", hello); err != nil {
		return err
	}
	for {
		if st, _, _ := s.call(http.MethodGet, s.apiURL+"/functions/v1/hello", nil); st == 200 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	var fn, goRPS []float64
	for range 3 {
		r, err := load(ctx, s, s.apiURL+"/functions/v1/hello", o.conns, o.duration)
		if err != nil {
			return err
		}
		fn = append(fn, r)
		if r, err = load(ctx, s, s.apiURL+"/functions/v1/not-deployed", o.conns, o.duration); err != nil {
			return err
		}
		goRPS = append(goRPS, r)
	}
	sort.Float64s(fn)
	sort.Float64s(goRPS)
	fmt.Printf("hello-world through the edge (%d clients, %s x3, medians):\n", o.conns, o.duration)
	fmt.Printf("  function  %8.0f req/s\n  Go answer %8.0f req/s\n  ratio     %8.2f (goal >= 0.3)\n", fn[1], goRPS[1], fn[1]/goRPS[1])

	// 2. Cold starts: each a new function, its first successful invocation.
	var colds []time.Duration
	for i := range o.colds {
		name := fmt.Sprintf("cold-%d", i)
		if err := s.deploy(name, hello); err != nil {
			return err
		}
		for {
			t0 := time.Now()
			st, _, err := s.call(http.MethodGet, s.apiURL+"/functions/v1/"+name, nil)
			d := time.Since(t0)
			if err != nil {
				return err
			}
			if st == 200 {
				colds = append(colds, d)
				break
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}
	fmt.Printf("cold start, first invocation of a new function through the edge (%d):\n  p50 %s  p99 %s  max %s (goal p99 < 50ms)\n",
		len(colds), percentile(colds, 0.5).Round(10*time.Microsecond), percentile(colds, 0.99).Round(10*time.Microsecond), percentile(colds, 1).Round(10*time.Microsecond))

	// 3. Memory per warm instance: o.instances concurrent invocations of
	// a function that waits, so each needs its own instance; all stay in
	// the pool afterwards.
	if err := s.deploy("held", `Deno.serve(async () => { await new Promise(r => setTimeout(r, 500)); return new Response("ok") })`); err != nil {
		return err
	}
	for {
		if st, _, _ := s.call(http.MethodGet, s.apiURL+"/functions/v1/held", nil); st == 200 {
			break
		}
	}
	before, err := proc.MemStatus(s.worker.Pid())
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	for range o.instances {
		wg.Add(1)
		go func() { defer wg.Done(); _, _, _ = s.call(http.MethodGet, s.apiURL+"/functions/v1/held", nil) }()
	}
	wg.Wait()
	after, err := proc.MemStatus(s.worker.Pid())
	if err != nil {
		return err
	}
	fmt.Printf("memory: worker RSS %d MiB -> %d MiB with %d more warm instances: %.0f KiB per instance\n",
		before.RSS>>20, after.RSS>>20, o.instances, float64(after.RSS-before.RSS)/float64(o.instances)/1024)
	return nil
}
