package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// perfRecorder takes system-wide CPU profiles with Linux perf (every
// process of the run: wrk or curl, the proxy, the backend, and the kernel's
// work for each), one file per setup and load, so that where the time goes
// is seen for all of them in the same run: `perf report -i FILE --sort
// comm,dso,sym`. Only the first round is recorded.
type perfRecorder struct {
	bin string
	dir string
}

func newPerfRecorder(dir string) (*perfRecorder, error) {
	if dir == "" {
		return nil, nil
	}
	bin, err := findTool("", "perf", "/usr/bin/perf", " (Debian: linux-perf)")
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return &perfRecorder{bin: bin, dir: dir}, nil
}

// start begins recording into DIR/<setup>-<load>.perf.data and counting the
// system calls and context switches of the proxy's processes (pids, none
// for direct) into DIR/<setup>-<load>.stat; the returned function stops
// both and logs the counts.
func (p *perfRecorder) start(setup, load string, pids []int) (stop func()) {
	if p == nil {
		return func() {}
	}
	base := filepath.Join(p.dir, setup+"-"+load)
	rec := exec.Command(p.bin, "record", "-q", "-a", "-g", "-F", "999", "-o", base+".perf.data")
	rec.Stderr = os.Stderr
	if err := rec.Start(); err != nil {
		logf("perf: %v", err)
		return func() {}
	}
	var stat *exec.Cmd
	if len(pids) > 0 {
		list := make([]string, len(pids))
		for i, pid := range pids {
			list[i] = strconv.Itoa(pid)
		}
		stat = exec.Command(p.bin, "stat", "-x", ",", "-e", "raw_syscalls:sys_enter,sched:sched_switch",
			"-p", strings.Join(list, ","), "-o", base+".stat")
		stat.Stderr = os.Stderr
		if err := stat.Start(); err != nil {
			logf("perf stat: %v", err)
			stat = nil
		}
	}
	time.Sleep(200 * time.Millisecond) // perf opens its events before the load starts
	return func() {
		for _, c := range []*exec.Cmd{rec, stat} {
			if c != nil {
				_ = c.Process.Signal(syscall.SIGINT)
				_ = c.Wait()
			}
		}
		if stat != nil {
			logf("perf: %s %s: %s", setup, load, statCounts(base+".stat"))
		}
	}
}

// statCounts reads perf stat's CSV lines: "count,,event,...".
func statCounts(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, ",")
		if len(f) >= 3 && f[0] != "" && !strings.HasPrefix(line, "#") {
			out = append(out, f[2]+" "+f[0])
		}
	}
	return strings.Join(out, ", ")
}

// threadSched is what the scheduler says of one thread: the CPU time it has
// had and the time it has spent runnable but waiting for a CPU, both in
// nanoseconds (the first two fields of /proc/PID/task/TID/schedstat).
type threadSched struct{ run, wait int64 }

// threadsSched reads threadSched for every thread of pids, by
// "/proc/PID/task/TID".
func threadsSched(pids []int) map[string]threadSched {
	out := map[string]threadSched{}
	for _, pid := range pids {
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
		for _, t := range tasks {
			b, err := os.ReadFile(t)
			if err != nil {
				continue
			}
			f := strings.Fields(string(b))
			if len(f) < 2 {
				continue
			}
			run, err1 := strconv.ParseInt(f[0], 10, 64)
			wait, err2 := strconv.ParseInt(f[1], 10, 64)
			if err1 == nil && err2 == nil {
				out[filepath.Dir(t)] = threadSched{run, wait}
			}
		}
	}
	return out
}

// busiestThread is, of the threads read in both before and after, the one
// that ran the most in between: its share of wall spent running and spent
// waiting for a CPU, in %. A proxy whose busiest thread is runnable nearly
// all the time (running + waiting near 100 %) is bound by that thread.
func busiestThread(before, after map[string]threadSched, wall time.Duration) (runPct, waitPct float64) {
	var best threadSched
	for t, a := range after {
		b, ok := before[t]
		if !ok {
			continue
		}
		if d := (threadSched{a.run - b.run, a.wait - b.wait}); d.run > best.run {
			best = d
		}
	}
	return 100 * float64(best.run) / float64(wall), 100 * float64(best.wait) / float64(wall)
}

// threadsCPU is the CPU time the threads of pids have had, in nanoseconds
// (/proc/PID/task/*/schedstat): fine enough for one transfer, where the
// clock ticks of /proc/PID/stat (10 ms) are not. Threads that have exited
// are not counted; the processes measured keep theirs.
func threadsCPU(pids []int) time.Duration {
	var sum time.Duration
	for _, t := range threadsSched(pids) {
		sum += time.Duration(t.run)
	}
	return sum
}
