package main

import (
	"github.com/madbase/madbase/bench/internal/proc"
	"github.com/madbase/madbase/bench/internal/stats"
	"github.com/madbase/madbase/bench/internal/wrk"

	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/madbase/madbase/bus/embedded"
)

// missingToolError says which package to install.
type missingToolError struct{ tool, hint string }

func (e *missingToolError) Error() string {
	return fmt.Sprintf("%s not found; install it with `apt-get install %s` (Debian/Ubuntu)%s", e.tool, e.tool, e.hint)
}

func findTool(flagValue, name, fallback, hint string) (string, error) {
	if flagValue != "" {
		if _, err := exec.LookPath(flagValue); err != nil {
			return "", &missingToolError{tool: name, hint: fmt.Sprintf(" (-%s %s: %v)%s", name, flagValue, err, hint)}
		}
		return flagValue, nil
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	if _, err := os.Stat(fallback); err == nil {
		return fallback, nil
	}
	return "", &missingToolError{tool: name, hint: hint}
}

// setup is one way of reaching the backend.
type setup struct {
	name string
	url  string
	pids func() []int // the proxy's processes; nil for direct
	bc   bodyClient
	res  *setupResult
	// all lists every process of the bench (proxies of every setup), to
	// tell the machine's other load apart.
	all func() []int
}

// proxyPids lists the proxy's processes, none for direct.
func (s *setup) proxyPids() []int {
	if s.pids == nil {
		return nil
	}
	return s.pids()
}

func run(ctx context.Context, o options) (err error) {
	wrkBin, err := findTool(o.wrkBin, "wrk", "/usr/bin/wrk", "")
	if err != nil {
		return err
	}
	// Bodies move with curl when it is there (as in the measurements the
	// goals come from), else with net/http from this process.
	bodies := func() bodyClient { return goBodyClient{newBodyClient()} }
	if curlBin, err := findTool("", "curl", "/usr/bin/curl", ""); err == nil && o.bodyClient != "go" {
		dir, err := os.MkdirTemp("", "edgebench-bodies-*")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		cc := newCurlBodyClient(curlBin, dir)
		bodies = func() bodyClient { return cc }
		logf("bodies: curl (%s), %d per round and direction, median kept", curlBin, o.transfers)
	} else {
		logf("bodies: net/http from this process, %d per round and direction, median kept", o.transfers)
	}
	nginxBin := ""
	if !o.noNginx {
		if nginxBin, err = findTool(o.nginxBin, "nginx", "/usr/sbin/nginx", ", or pass -no-nginx to skip the nginx column"); err != nil {
			return err
		}
	}

	perf, err := newPerfRecorder(o.perfDir)
	if err != nil {
		return err
	}

	tmp, err := os.MkdirTemp("", "edgebench-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	rep := &report{
		Started: time.Now().UTC().Format(time.RFC3339), GoVersion: runtime.Version(), CPUs: runtime.NumCPU(),
		WrkVersion: toolVersion(wrkBin, "-v"), LoadAvgStart: loadAvg(),
		Settings: settings{Rounds: o.rounds, WrkSeconds: int(o.duration.Round(time.Second) / time.Second), WrkConnections: o.conns,
			BodyMiB: o.bodySize / mib, MemMiB: o.memSize / mib, EdgeEnv: o.edgeEnv, NginxForward: !o.noNginx && !o.nginxBare},
	}
	if nginxBin != "" {
		rep.NginxVersion = toolVersion(nginxBin, "-v")
	}

	be, err := startBackend()
	if err != nil {
		return fmt.Errorf("backend: %w", err)
	}
	defer be.stop()
	logf("backend (the worker) on %s", strings.Join(be.addrs, " and "))

	ns, err := embedded.Start(embedded.Options{StoreDir: filepath.Join(tmp, "nats")})
	if err != nil {
		return err
	}
	defer ns.Stop()

	edgeProc, edgeURL, err := startEdge(ctx, o, "", ns.URL(), be.urls())
	if err != nil {
		return err
	}
	defer edgeProc.Stop(syscall.SIGTERM, 5*time.Second)
	logf("edge (pid %d) on %s", edgeProc.Pid(), edgeURL)

	setups := []*setup{
		{name: "direct", url: be.urls()[0]},
		{name: "edge", url: edgeURL, pids: func() []int { return []int{edgeProc.Pid()} }},
	}
	if cpus := runtime.NumCPU(); !o.noEdgeCPUs && cpus > 1 {
		// The edge's default is one event loop per CPU, of which as many
		// serve as the load needs; edge-cpus has them all serving always,
		// as nginx here runs a worker process per CPU.
		co := o
		co.cpuProfile, co.memProfile = "", ""
		co.edgeEnv = append(append(multiFlag(nil), o.edgeEnv...), fmt.Sprintf("EDGE_EVENT_LOOPS=%d", cpus))
		c, cURL, err := startEdge(ctx, co, "", ns.URL(), be.urls())
		if err != nil {
			return fmt.Errorf("edge-cpus: %w", err)
		}
		defer c.Stop(syscall.SIGTERM, 5*time.Second)
		logf("edge-cpus (pid %d, EDGE_EVENT_LOOPS=%d) on %s", c.Pid(), cpus, cURL)
		setups = append(setups, &setup{name: "edge-cpus", url: cURL, pids: func() []int { return []int{c.Pid()} }})
	}
	if o.edgeBExe != "" {
		// A second edge from another build, e.g. with a change under test.
		bo := o
		bo.cpuProfile, bo.memProfile = "", ""
		b, bURL, err := startEdge(ctx, bo, o.edgeBExe, ns.URL(), be.urls())
		if err != nil {
			return fmt.Errorf("edge-b: %w", err)
		}
		defer b.Stop(syscall.SIGTERM, 5*time.Second)
		logf("edge-b (pid %d, %s) on %s", b.Pid(), o.edgeBExe, bURL)
		setups = append(setups, &setup{name: "edge-b", url: bURL, pids: func() []int { return []int{b.Pid()} }})
	}
	var ngx *nginxProc
	if nginxBin != "" {
		ngx, err = startNginx(ctx, nginxBin, tmp, be.urls(), !o.nginxBare)
		if err != nil {
			return err
		}
		defer ngx.Stop(syscall.SIGTERM, 5*time.Second)
		logf("nginx (master pid %d, workers %v) on %s", ngx.Pid(), proc.ChildrenOf(ngx.Pid()), ngx.url)
		setups = append(setups, &setup{name: "nginx", url: ngx.url, pids: ngx.pids})
	}
	allPids := func() []int {
		var out []int
		for _, s := range setups {
			if s.pids != nil {
				out = append(out, s.pids()...)
			}
		}
		return out
	}
	for _, s := range setups {
		s.all = allPids
		s.bc = bodies()
		defer s.bc.close()
		s.res = &setupResult{Name: s.name, URL: s.url}
		rep.Setups = append(rep.Setups, s.res)
	}

	// Warm-up: connection pools, page cache, Go's heap sizes; not counted.
	if o.warmup > 0 {
		for _, s := range setups {
			w, _, err := wrk.Run(ctx, wrkBin, s.url+"/rest/v1/bench", o.conns, o.warmup)
			if err != nil {
				return fmt.Errorf("warm-up %s: %w", s.name, err)
			}
			if w.Non2xx > 0 || w.SocketErrors > 0 {
				rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s warm-up:%s", s.name, errNote(w.Non2xx, w.SocketErrors)))
				logf("WARNING: %s", rep.Warnings[len(rep.Warnings)-1])
			}
			if _, err := s.bc.upload(ctx, s.url, 8*mib); err != nil {
				return fmt.Errorf("warm-up %s: %w", s.name, err)
			}
			if _, err := s.bc.download(ctx, s.url, 8*mib); err != nil {
				return fmt.Errorf("warm-up %s: %w", s.name, err)
			}
		}
	}

	for r := 1; r <= o.rounds; r++ {
		samples := make([]sample, len(setups))
		for i, s := range setups {
			stop := func() {}
			if r == 1 {
				stop = perf.start(s.name, "get", s.proxyPids())
			}
			err := smallRequests(ctx, wrkBin, o, s, &samples[i])
			stop()
			if err != nil {
				return err
			}
			samples[i].Round = r
			logf("round %d/%d %-6s %8.0f req/s  p50 %-8s p99 %-8s proxy CPU %s µs/req  backend CPU %.1f µs/req  other load %.0f%%  idle %.0f%%  proxy thread run, wait %s%s",
				r, o.rounds, s.name, samples[i].ReqPerSec, fmtUS(samples[i].P50us), fmtUS(samples[i].P99us),
				fmtOpt(samples[i].ProxyCPUusPerReq), samples[i].BackendCPUusPerReq, samples[i].OtherLoadPct,
				samples[i].IdlePct, fmtThread(samples[i]), errNote(samples[i].Non2xx, samples[i].SocketErrors))
		}
		// Each round moves o.transfers bodies each way per setup, setups
		// interleaved, and keeps each setup's median rate.
		ups, downs := make([][]float64, len(setups)), make([][]float64, len(setups))
		upCPU, downCPU := make([][]float64, len(setups)), make([][]float64, len(setups))
		for t := range o.transfers {
			var rec *perfRecorder
			if r == 1 && t == 0 {
				rec = perf
			}
			for i, s := range setups {
				rate, cpu, err := transfer(ctx, o, s, "upload", s.bc.upload, rec)
				if err != nil {
					return err
				}
				ups[i], upCPU[i] = append(ups[i], rate), append(upCPU[i], cpu)
			}
			for i, s := range setups {
				rate, cpu, err := transfer(ctx, o, s, "download", s.bc.download, rec)
				if err != nil {
					return err
				}
				downs[i], downCPU[i] = append(downs[i], rate), append(downCPU[i], cpu)
			}
		}
		for i, s := range setups {
			samples[i].UploadMBps, samples[i].DownloadMBps = stats.Median(ups[i]), stats.Median(downs[i])
			cpuNote := ""
			if s.pids != nil {
				up, down := stats.Median(upCPU[i]), stats.Median(downCPU[i])
				samples[i].UploadProxyCPUms, samples[i].DownloadProxyCPUms = &up, &down
				cpuNote = fmt.Sprintf("  proxy CPU %.0f / %.0f ms/GiB", up, down)
			}
			logf("round %d/%d %-6s upload %7.0f MB/s  download %7.0f MB/s (%d MiB)%s",
				r, o.rounds, s.name, samples[i].UploadMBps, samples[i].DownloadMBps, o.bodySize/mib, cpuNote)
		}
		for i, s := range setups {
			s.res.Samples = append(s.res.Samples, samples[i])
		}
	}
	for _, s := range setups {
		s.res.Median = summarize(s.res.Samples)
	}

	if o.memSize > 0 {
		for _, s := range setups[1:] {
			m, err := memoryTest(ctx, s, o.memSize)
			if err != nil {
				return err
			}
			rep.Memory = append(rep.Memory, m)
			logf("memory %-6s idle RSS %.1f MiB, peak during %d MiB upload %.1f MiB, download %.1f MiB, whole run %.1f MiB",
				s.name, m.IdleRSSMiB, o.memSize/mib, m.UploadPeakMiB, m.DownloadPeakMiB, m.RunPeakMiB)
		}
	}
	if edgeProc.Exited() {
		return fmt.Errorf("the edge process died during the run: %v", edgeProc.Err())
	}

	rep.LoadAvgEnd = loadAvg()
	rep.finish()
	rep.print(os.Stdout)
	if o.jsonPath != "" {
		if err := rep.writeJSON(o.jsonPath); err != nil {
			return err
		}
		logf("wrote %s", o.jsonPath)
	}
	return nil
}

// transfer moves one body of o.bodySize with move and returns its rate
// (MB/s) and the proxy's CPU time per GiB (ms). With rec, it is profiled,
// and the CPU every party used is logged: curl, the backend (this
// process), the proxy, and the whole machine.
func transfer(ctx context.Context, o options, s *setup, load string, move func(context.Context, string, int64) (time.Duration, error), rec *perfRecorder) (rate, proxyCPU float64, err error) {
	perGiB := func(c time.Duration) float64 { return us(c) / 1000 * float64(1<<30) / float64(o.bodySize) }
	stop := rec.start(s.name, load, s.proxyPids())
	self := []int{os.Getpid()}
	proxy0, self0 := threadsCPU(s.proxyPids()), threadsCPU(self)
	busy0, _ := proc.MachineBusy()
	d, err := move(ctx, s.url, o.bodySize)
	busy1, _ := proc.MachineBusy()
	proxy1, self1 := threadsCPU(s.proxyPids()), threadsCPU(self)
	stop()
	if err != nil {
		return 0, 0, err
	}
	if rec != nil {
		client := "-"
		if cc, ok := s.bc.(*curlBodyClient); ok {
			client = fmt.Sprintf("%.0f", perGiB(cc.lastCPU))
		}
		logf("perf: %s %s: %.0f MB/s, machine busy %.0f%% of %d CPUs; CPU ms/GiB: curl %s, backend %.0f, proxy %.0f",
			s.name, load, mbps(o.bodySize, d), 100*float64(busy1-busy0)/float64(d)/float64(runtime.NumCPU()),
			runtime.NumCPU(), client, perGiB(self1-self0), perGiB(proxy1-proxy0))
	}
	return mbps(o.bodySize, d), perGiB(proxy1 - proxy0), nil
}

// smallRequests runs wrk against /rest/v1/bench and charges the CPU time the
// proxy (and this process, i.e. the backend) used meanwhile to its requests.
func smallRequests(ctx context.Context, wrkBin string, o options, s *setup, out *sample) error {
	self := os.Getpid()
	var proxy0, proxy1 time.Duration
	var err error
	if s.pids != nil {
		if proxy0, err = proc.CPUTimeSum(s.pids()); err != nil {
			return fmt.Errorf("%s CPU: %w", s.name, err)
		}
	}
	self0, err := proc.CPUTime(self)
	if err != nil {
		return err
	}
	all0, _ := proc.CPUTimeSum(s.all())
	var sched0 map[string]threadSched
	if s.pids != nil {
		sched0 = threadsSched(s.pids())
	}
	busy0, _ := proc.MachineBusy()
	start := time.Now()
	w, _, err := wrk.Run(ctx, wrkBin, s.url+"/rest/v1/bench", o.conns, o.duration)
	if err != nil {
		return fmt.Errorf("%s: %w", s.name, err)
	}
	wall := time.Since(start)
	busy1, _ := proc.MachineBusy()
	if s.pids != nil {
		run, wait := busiestThread(sched0, threadsSched(s.pids()), wall)
		out.ProxyThreadRunPct, out.ProxyThreadWaitPct = &run, &wait
	}
	out.IdlePct = max(0, 100-100*(busy1-busy0).Seconds()/wall.Seconds()/float64(runtime.NumCPU()))
	all1, _ := proc.CPUTimeSum(s.all())
	self1, err := proc.CPUTime(self)
	if err != nil {
		return err
	}
	// CPU the machine spent outside this benchmark meanwhile, in % of one
	// core: noise that makes this sample less trustworthy.
	other := (busy1 - busy0) - (self1 - self0) - (all1 - all0) - w.CPU
	out.OtherLoadPct = max(0, 100*other.Seconds()/wall.Seconds())
	if s.pids != nil {
		if proxy1, err = proc.CPUTimeSum(s.pids()); err != nil {
			return fmt.Errorf("%s CPU: %w", s.name, err)
		}
	}
	out.ReqPerSec, out.Requests = w.ReqPerSec, w.Requests
	out.P50us, out.P99us = us(w.P50), us(w.P99)
	out.Non2xx, out.SocketErrors = w.Non2xx, w.SocketErrors
	if w.Requests > 0 {
		out.BackendCPUusPerReq = us(self1-self0) / float64(w.Requests)
		if s.pids != nil {
			v := us(proxy1-proxy0) / float64(w.Requests)
			out.ProxyCPUusPerReq = &v
		}
	}
	return nil
}

// memoryTest reads the proxy's peak RSS (VmHWM, largest process) after one
// upload and one download of size bytes, resetting the peak before each.
func memoryTest(ctx context.Context, s *setup, size int64) (memResult, error) {
	m := memResult{Setup: s.name, PeakReset: true}
	pids := s.pids()
	m.Processes = len(pids)
	peak := func() (proc.MemInfo, error) {
		var top proc.MemInfo
		for _, p := range pids {
			m, err := proc.MemStatus(p)
			if err != nil {
				return top, err
			}
			if m.HWM > top.HWM {
				top.HWM = m.HWM
			}
			if m.RSS > top.RSS {
				top.RSS, top.RSSAnon, top.RSSFile = m.RSS, m.RSSAnon, m.RSSFile
			}
		}
		return top, nil
	}
	reset := func() {
		for _, p := range pids {
			if proc.ResetPeakRSS(p) != nil {
				m.PeakReset = false
			}
		}
	}
	mi, err := peak()
	if err != nil {
		return m, err
	}
	m.IdleRSSMiB, m.RunPeakMiB = toMiB(mi.RSS), toMiB(mi.HWM)
	// measure resets the peak, runs one transfer and records the peak it
	// reached in peakMiB.
	measure := func(transfer func(context.Context, string, int64) (time.Duration, error), peakMiB *float64) error {
		reset()
		if _, err := transfer(ctx, s.url, size); err != nil {
			return fmt.Errorf("memory test: %w", err)
		}
		if mi, err = peak(); err != nil {
			return err
		}
		*peakMiB = toMiB(mi.HWM)
		m.RunPeakMiB = max(m.RunPeakMiB, *peakMiB)
		return nil
	}
	if err := measure(s.bc.upload, &m.UploadPeakMiB); err != nil {
		return m, err
	}
	if err := measure(s.bc.download, &m.DownloadPeakMiB); err != nil {
		return m, err
	}
	m.EndAnonMiB, m.EndFileMiB = toMiB(mi.RSSAnon), toMiB(mi.RSSFile)
	return m, nil
}

func toMiB(b int64) float64        { return float64(b) / mib }
func us(d time.Duration) float64   { return float64(d) / float64(time.Microsecond) }
func logf(format string, a ...any) { fmt.Fprintf(os.Stderr, "edgebench: "+format+"\n", a...) }

func errNote(non2xx, sock int64) string {
	if non2xx == 0 && sock == 0 {
		return ""
	}
	return fmt.Sprintf("  ERRORS: %d non-2xx, %d socket", non2xx, sock)
}

func toolVersion(bin, flag string) string {
	out, _ := exec.Command(bin, flag).CombinedOutput()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	line, _, _ = strings.Cut(line, " [") // wrk: "wrk 4.1.0 [epoll] Copyright ..."
	return strings.TrimSpace(line)
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
