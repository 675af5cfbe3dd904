package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/madbase/madbase/bench/internal/stats"
)

// Goals from the issue.
const (
	goalThroughputVsNginx = 1.15 // edge req/s ÷ nginx req/s, at least
	goalCPUVsNginx        = 0.7  // edge CPU per small request ÷ nginx's, at most
	goalP99VsNginx        = 1.0  // edge p99 ÷ nginx's, below
	goalUploadVsDirect    = 0.9
	goalDownloadVsDirect  = 0.7
	goalPeakRSSMiB        = 64.0 // during the memory-test upload, below
)

type report struct {
	Started      string            `json:"started"`
	GoVersion    string            `json:"go_version"`
	CPUs         int               `json:"cpus"`
	NginxVersion string            `json:"nginx_version,omitempty"`
	WrkVersion   string            `json:"wrk_version"`
	LoadAvgStart string            `json:"loadavg_start"`
	LoadAvgEnd   string            `json:"loadavg_end"`
	Settings     settings          `json:"settings"`
	Setups       []*setupResult    `json:"setups"`
	Memory       []memResult       `json:"memory,omitempty"`
	Ratios       map[string]*ratio `json:"ratios"`
	Goals        []goal            `json:"goals"`
	Warnings     []string          `json:"warnings,omitempty"`
}

type settings struct {
	Rounds         int      `json:"rounds"`
	WrkSeconds     int      `json:"wrk_seconds"`
	WrkConnections int      `json:"wrk_connections"`
	BodyMiB        int64    `json:"body_mib"`
	MemMiB         int64    `json:"mem_mib"`
	EdgeEnv        []string `json:"edge_env,omitempty"`
	// NginxForward says nginx set the forwarding headers the edge sets.
	NginxForward bool `json:"nginx_forward_headers"`
}

type sample struct {
	Round              int      `json:"round"`
	ReqPerSec          float64  `json:"req_per_sec"`
	Requests           int64    `json:"requests"`
	P50us              float64  `json:"p50_us"`
	P99us              float64  `json:"p99_us"`
	ProxyCPUusPerReq   *float64 `json:"proxy_cpu_us_per_req"` // null for direct
	BackendCPUusPerReq float64  `json:"backend_cpu_us_per_req"`
	Non2xx             int64    `json:"non_2xx"`
	SocketErrors       int64    `json:"socket_errors"`
	UploadMBps         float64  `json:"upload_mb_per_s"`
	DownloadMBps       float64  `json:"download_mb_per_s"`
	// The proxy's CPU time per GiB moved (ms), median of the round's transfers: what
	// a body costs it, whatever else the machine was doing meanwhile.
	UploadProxyCPUms   *float64 `json:"upload_proxy_cpu_ms_per_gib"`
	DownloadProxyCPUms *float64 `json:"download_proxy_cpu_ms_per_gib"`
	// OtherLoadPct is the CPU the machine spent on other processes during
	// the wrk run, in % of one core (100 = a whole core busy elsewhere).
	OtherLoadPct float64 `json:"other_load_pct"`
	// IdlePct is how much of the machine's CPU time stayed idle during the
	// wrk run, in % of all CPUs: what the setup left unused.
	IdlePct float64 `json:"idle_pct"`
	// The proxy's busiest thread during the wrk run (null for direct), in %
	// of the run: running, and runnable but waiting for a CPU.
	ProxyThreadRunPct  *float64 `json:"proxy_thread_run_pct"`
	ProxyThreadWaitPct *float64 `json:"proxy_thread_wait_pct"`
}

type setupResult struct {
	Name    string   `json:"name"`
	URL     string   `json:"url"`
	Samples []sample `json:"samples"`
	Median  sample   `json:"median"` // per metric; errors are totals
}

type memResult struct {
	Setup           string  `json:"setup"`
	Processes       int     `json:"processes"`
	IdleRSSMiB      float64 `json:"idle_rss_mib"`
	UploadPeakMiB   float64 `json:"upload_peak_rss_mib"`
	DownloadPeakMiB float64 `json:"download_peak_rss_mib"`
	RunPeakMiB      float64 `json:"run_peak_rss_mib"`
	// EndAnonMiB and EndFileMiB split the RSS at the end: heap and stacks
	// versus pages of the mapped binary.
	EndAnonMiB float64 `json:"end_rss_anon_mib"`
	EndFileMiB float64 `json:"end_rss_file_mib"`
	// PeakReset is false when VmHWM could not be reset, so the peaks are
	// those of the whole run up to that point.
	PeakReset bool `json:"peak_reset"`
}

// ratio is edge ÷ another setup, per metric; nil where not measured.
type ratio struct {
	ReqPerSec    *float64 `json:"req_per_sec"`
	P50          *float64 `json:"p50"`
	P99          *float64 `json:"p99"`
	CPUPerReq    *float64 `json:"cpu_us_per_req"`
	UploadMBps   *float64 `json:"upload_mb_per_s"`
	DownloadMBps *float64 `json:"download_mb_per_s"`
	// RoundsReqPerSec is each round's req/s ratio; ReqPerSec is their median.
	RoundsReqPerSec []float64 `json:"rounds_req_per_sec"`
}

type goal struct {
	Goal     string `json:"goal"`
	Measured string `json:"measured"`
	Met      *bool  `json:"met"` // null when not measured
}

func summarize(ss []sample) sample {
	pick := func(f func(sample) float64) float64 {
		xs := make([]float64, len(ss))
		for i, s := range ss {
			xs[i] = f(s)
		}
		return stats.Median(xs)
	}
	m := sample{
		ReqPerSec:          pick(func(s sample) float64 { return s.ReqPerSec }),
		Requests:           int64(pick(func(s sample) float64 { return float64(s.Requests) })),
		P50us:              pick(func(s sample) float64 { return s.P50us }),
		P99us:              pick(func(s sample) float64 { return s.P99us }),
		BackendCPUusPerReq: pick(func(s sample) float64 { return s.BackendCPUusPerReq }),
		UploadMBps:         pick(func(s sample) float64 { return s.UploadMBps }),
		DownloadMBps:       pick(func(s sample) float64 { return s.DownloadMBps }),
		OtherLoadPct:       pick(func(s sample) float64 { return s.OtherLoadPct }),
		IdlePct:            pick(func(s sample) float64 { return s.IdlePct }),
	}
	if len(ss) > 0 && ss[0].ProxyThreadRunPct != nil {
		run := pick(func(s sample) float64 { return *s.ProxyThreadRunPct })
		wait := pick(func(s sample) float64 { return *s.ProxyThreadWaitPct })
		m.ProxyThreadRunPct, m.ProxyThreadWaitPct = &run, &wait
	}
	if len(ss) > 0 && ss[0].ProxyCPUusPerReq != nil {
		v := pick(func(s sample) float64 { return *s.ProxyCPUusPerReq })
		m.ProxyCPUusPerReq = &v
	}
	if len(ss) > 0 && ss[0].UploadProxyCPUms != nil && ss[0].DownloadProxyCPUms != nil {
		up := pick(func(s sample) float64 { return *s.UploadProxyCPUms })
		down := pick(func(s sample) float64 { return *s.DownloadProxyCPUms })
		m.UploadProxyCPUms, m.DownloadProxyCPUms = &up, &down
	}
	for _, s := range ss {
		m.Non2xx += s.Non2xx
		m.SocketErrors += s.SocketErrors
	}
	return m
}

func (r *report) setup(name string) *setupResult {
	for _, s := range r.Setups {
		if s.Name == name {
			return s
		}
	}
	return nil
}

func (r *report) mem(name string) *memResult {
	for i := range r.Memory {
		if r.Memory[i].Setup == name {
			return &r.Memory[i]
		}
	}
	return nil
}

func div(a, b float64) *float64 {
	if b == 0 {
		return nil
	}
	v := a / b
	return &v
}

// roundRatio is the median over the rounds of edge's f ÷ o's f in the same
// round: setups run back to back within a round, so a change in the
// machine's speed between rounds (a shared host) cancels out.
func roundRatio(edge, o *setupResult, f func(sample) float64) *float64 {
	var xs []float64
	for i := range min(len(edge.Samples), len(o.Samples)) {
		if v := div(f(edge.Samples[i]), f(o.Samples[i])); v != nil {
			xs = append(xs, *v)
		}
	}
	if len(xs) == 0 {
		return nil
	}
	m := stats.Median(xs)
	return &m
}

// cpuOfSample is cpuOf for one round.
func cpuOfSample(s sample) float64 {
	if s.ProxyCPUusPerReq != nil {
		return *s.ProxyCPUusPerReq
	}
	return s.BackendCPUusPerReq
}

// cpuOf is the CPU per request that edge's is compared with: the proxy's
// for nginx, the backend's own for direct (there is no proxy).
func cpuOf(s *setupResult) float64 {
	if s.Median.ProxyCPUusPerReq != nil {
		return *s.Median.ProxyCPUusPerReq
	}
	return s.Median.BackendCPUusPerReq
}

// ratioPairs are the setups compared, "a/b": each edge build with the
// direct connection and nginx, and the second build with the first.
var ratioPairs = [][2]string{{"edge", "direct"}, {"edge", "nginx"}, {"edge-cpus", "nginx"}, {"edge-cpus", "edge"},
	{"edge-b", "direct"}, {"edge-b", "nginx"}, {"edge-b", "edge"}}

// finish computes ratios and goals.
func (r *report) finish() {
	r.Ratios = map[string]*ratio{}
	for _, pair := range ratioPairs {
		a, o := r.setup(pair[0]), r.setup(pair[1])
		if a == nil || o == nil {
			continue
		}
		rr := func(f func(sample) float64) *float64 { return roundRatio(a, o, f) }
		x := &ratio{
			ReqPerSec:    rr(func(s sample) float64 { return s.ReqPerSec }),
			P50:          rr(func(s sample) float64 { return s.P50us }),
			P99:          rr(func(s sample) float64 { return s.P99us }),
			CPUPerReq:    rr(cpuOfSample),
			UploadMBps:   rr(func(s sample) float64 { return s.UploadMBps }),
			DownloadMBps: rr(func(s sample) float64 { return s.DownloadMBps }),
		}
		for i := range min(len(a.Samples), len(o.Samples)) {
			if v := div(a.Samples[i].ReqPerSec, o.Samples[i].ReqPerSec); v != nil {
				x.RoundsReqPerSec = append(x.RoundsReqPerSec, *v)
			}
		}
		r.Ratios[pair[0]+"/"+pair[1]] = x
	}

	r.Goals = append(r.Goals, r.smallGoal("edge", "small requests: edge"))
	if r.setup("edge-cpus") != nil {
		r.Goals = append(r.Goals, r.smallGoal("edge-cpus", "the same, edge-cpus (a loop per CPU, all serving always, as nginx's workers)"))
	}

	if rd := r.Ratios["edge/direct"]; rd != nil && rd.UploadMBps != nil && rd.DownloadMBps != nil {
		r.Goals = append(r.Goals,
			goal{Goal: fmt.Sprintf("uploads ≥ %.1f× direct", goalUploadVsDirect), Measured: stats.Ratio(*rd.UploadMBps, goalUploadVsDirect),
				Met: yes(*rd.UploadMBps >= goalUploadVsDirect)},
			goal{Goal: fmt.Sprintf("downloads ≥ %.1f× direct", goalDownloadVsDirect), Measured: stats.Ratio(*rd.DownloadMBps, goalDownloadVsDirect),
				Met: yes(*rd.DownloadMBps >= goalDownloadVsDirect)})
	}
	g := goal{Goal: fmt.Sprintf("edge peak RSS < %.0f MiB during the 1 GiB upload", goalPeakRSSMiB)}
	if m := r.mem("edge"); m != nil {
		g.Measured = fmt.Sprintf("%.1f MiB", m.UploadPeakMiB)
		if r.Settings.MemMiB != 1024 {
			g.Measured += fmt.Sprintf(" (with a %d MiB upload)", r.Settings.MemMiB)
		}
		g.Met = yes(m.UploadPeakMiB < goalPeakRSSMiB)
	} else {
		g.Measured = "not measured (-mem-mib 0)"
	}
	r.Goals = append(r.Goals, g)
}

// smallGoal is the small requests' goal for setup name against nginx.
func (r *report) smallGoal(name, label string) goal {
	g := goal{Goal: fmt.Sprintf("%s ≥ %.2f× nginx req/s, CPU/req ≤ %.1f× nginx's, p99 < nginx's", label, goalThroughputVsNginx, goalCPUVsNginx)}
	cpu := cpuOf(r.setup(name))
	if rn := r.Ratios[name+"/nginx"]; rn != nil && rn.ReqPerSec != nil && rn.CPUPerReq != nil && rn.P99 != nil {
		g.Measured = fmt.Sprintf("%s req/s, %s CPU (%.1f µs/req), %s p99", stats.Ratio(*rn.ReqPerSec, goalThroughputVsNginx),
			stats.Ratio(*rn.CPUPerReq, goalCPUVsNginx), cpu, stats.Ratio(*rn.P99, goalP99VsNginx))
		g.Met = yes(*rn.ReqPerSec >= goalThroughputVsNginx && *rn.CPUPerReq <= goalCPUVsNginx && *rn.P99 < goalP99VsNginx)
	} else {
		g.Measured = fmt.Sprintf("no nginx column, %.1f µs/req", cpu)
	}
	return g
}

func yes(b bool) *bool { return &b }

func fmtUS(v float64) string {
	if v >= 1000 {
		return fmt.Sprintf("%.2fms", v/1000)
	}
	return fmt.Sprintf("%.0fµs", v)
}

func fmtOpt(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.1f", *v)
}

// fmtThread shows the proxy's busiest thread as "run%, wait%" ("-" for
// direct).
func fmtThread(m sample) string {
	if m.ProxyThreadRunPct == nil {
		return "-"
	}
	return fmt.Sprintf("%.0f%%, %.0f%%", *m.ProxyThreadRunPct, *m.ProxyThreadWaitPct)
}

func fmtOpt0(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.0f", *v)
}

func fmtRatio(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.2f", *v)
}

func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "\nedgebench  %s  %s, %d CPUs, %s, %s  load %s → %s\n", r.Started, r.GoVersion, r.CPUs,
		orDash(r.NginxVersion), r.WrkVersion, r.LoadAvgStart, r.LoadAvgEnd)
	s := r.Settings
	fmt.Fprintf(w, "small: wrk -t1 -c%d -d%ds GET /rest/v1/bench (64 B); bodies: %d MiB; median of %d round(s)\n",
		s.WrkConnections, s.WrkSeconds, s.BodyMiB, s.Rounds)
	if s.NginxForward {
		fmt.Fprintf(w, "nginx sets X-Request-Id and X-Forwarded-For/-Proto/-Host as the edge does (-nginx-bare: it does not)\n\n")
	} else {
		fmt.Fprintf(w, "nginx sets no forwarding headers (-nginx-bare); the edge sets X-Request-Id and X-Forwarded-For/-Proto/-Host\n\n")
	}

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "setup\treq/s\tp50\tp99\tproxy CPU µs/req\tbackend CPU µs/req\tupload MB/s\tdownload MB/s\tproxy CPU ms/GiB up, down\terrors\tother load\tidle\tproxy's busiest thread: run, wait\t")
	for _, sr := range r.Setups {
		m := sr.Median
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%s\t%.1f\t%.0f\t%.0f\t%s, %s\t%d\t%.0f%%\t%.0f%%\t%s\t\n", sr.Name, m.ReqPerSec, fmtUS(m.P50us), fmtUS(m.P99us),
			fmtOpt(m.ProxyCPUusPerReq), m.BackendCPUusPerReq, m.UploadMBps, m.DownloadMBps, fmtOpt0(m.UploadProxyCPUms), fmtOpt0(m.DownloadProxyCPUms),
			m.Non2xx+m.SocketErrors, m.OtherLoadPct, m.IdlePct, fmtThread(m))
	}
	_ = tw.Flush()

	if len(r.Memory) > 0 {
		fmt.Fprintf(w, "\nmemory (MiB, largest process; peaks are VmHWM)\n")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "setup\tprocesses\tidle RSS\tpeak %d MiB upload\tpeak %d MiB download\tpeak whole run\tRSS at end: anon + file\t\n", s.MemMiB, s.MemMiB)
		for _, m := range r.Memory {
			note := ""
			if !m.PeakReset {
				note = " (peak not resettable: cumulative)"
			}
			fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f + %.1f\t%s\n", m.Setup, m.Processes, m.IdleRSSMiB, m.UploadPeakMiB,
				m.DownloadPeakMiB, m.RunPeakMiB, m.EndAnonMiB, m.EndFileMiB, note)
		}
		_ = tw.Flush()
	}

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, pair := range ratioPairs {
		k := pair[0] + "/" + pair[1]
		x := r.Ratios[k]
		if x == nil {
			continue
		}
		fmt.Fprintf(tw, "%s\treq/s %s\tp50 %s\tp99 %s\tCPU µs/req %s\tupload MB/s %s\tdownload MB/s %s\n", k,
			fmtRatio(x.ReqPerSec), fmtRatio(x.P50), fmtRatio(x.P99), fmtRatio(x.CPUPerReq), fmtRatio(x.UploadMBps), fmtRatio(x.DownloadMBps))
	}
	_ = tw.Flush()
	for _, k := range []string{"edge/nginx", "edge-cpus/nginx", "edge-b/nginx", "edge-b/edge"} {
		if x := r.Ratios[k]; x != nil && len(x.RoundsReqPerSec) > 1 {
			rounds := make([]string, len(x.RoundsReqPerSec))
			for i, v := range x.RoundsReqPerSec {
				rounds[i] = fmt.Sprintf("%.2f", v)
			}
			fmt.Fprintf(w, "%s req/s round by round: %s\n", k, strings.Join(rounds, " "))
		}
	}
	if m := r.mem("edge"); m != nil {
		fmt.Fprintf(w, "edge peak RSS MiB  %.1f (%d MiB upload), %.1f (%d MiB download), %.1f (whole run)\n",
			m.UploadPeakMiB, s.MemMiB, m.DownloadPeakMiB, s.MemMiB, m.RunPeakMiB)
	}
	fmt.Fprintln(w, "(ratios are medians of the rounds' ratios, each round measuring the setups back to back;")
	fmt.Fprintln(w, " edge/direct CPU compares the edge's CPU per request with the backend's own; other load = CPU used by")
	fmt.Fprintln(w, " processes outside the benchmark during the wrk runs, in % of one core: above ~10% the numbers are noisy)")

	fmt.Fprintln(w, "\ngoals")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, g := range r.Goals {
		verdict := "n/a"
		if g.Met != nil {
			verdict = map[bool]string{true: "met", false: "NOT MET"}[*g.Met]
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", g.Goal, g.Measured, verdict)
	}
	_ = tw.Flush()
	for _, msg := range r.Warnings {
		fmt.Fprintln(w, "WARNING:", msg)
	}
	for _, sr := range r.Setups {
		if e := sr.Median.Non2xx + sr.Median.SocketErrors; e > 0 {
			fmt.Fprintf(w, "WARNING: %s had %d non-2xx responses and %d socket errors under wrk\n", sr.Name, sr.Median.Non2xx, sr.Median.SocketErrors)
		}
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (r *report) writeJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
