// Package proc reads CPU time and memory of processes from /proc and runs
// child processes that the benchmarks measure and stop again.
package proc

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is one unit of utime/stime in /proc/<pid>/stat: sysconf(CLK_TCK)
// is 100 on every Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// statFields returns the fields of /proc/<pid>/stat after the command name
// (which may hold spaces), so index 0 is field 3 (state).
func statFields(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	return strings.Fields(string(b[i+1:])), nil
}

// CPUTime is the user plus system CPU time a process has used so far.
func CPUTime(pid int) (time.Duration, error) {
	f, err := statFields(pid)
	if err != nil {
		return 0, err
	}
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	st, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad utime/stime", pid)
	}
	return time.Duration(ut+st) * clockTick, nil
}

// CPUTimeSum adds up CPUTime over pids.
func CPUTimeSum(pids []int) (time.Duration, error) {
	var sum time.Duration
	for _, p := range pids {
		t, err := CPUTime(p)
		if err != nil {
			return 0, err
		}
		sum += t
	}
	return sum, nil
}

// ChildrenOf lists the processes whose parent is pid.
func ChildrenOf(pid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		f, err := statFields(p)
		if err != nil || len(f) < 2 {
			continue
		}
		if pp, _ := strconv.Atoi(f[1]); pp == pid {
			out = append(out, p)
		}
	}
	return out
}

// MemInfo is a process's memory from /proc/<pid>/status, in bytes.
type MemInfo struct {
	RSS, HWM         int64 // VmRSS, VmHWM (peak RSS)
	RSSAnon, RSSFile int64 // RssAnon (heap, stacks), RssFile (mapped binary)
}

// MemStatus reads VmRSS, VmHWM, RssAnon and RssFile of pid.
func MemStatus(pid int) (MemInfo, error) {
	var m MemInfo
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return m, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		var dst *int64
		switch k {
		case "VmRSS":
			dst = &m.RSS
		case "VmHWM":
			dst = &m.HWM
		case "RssAnon":
			dst = &m.RSSAnon
		case "RssFile":
			dst = &m.RSSFile
		default:
			continue
		}
		if fs := strings.Fields(v); len(fs) > 0 { // "1234 kB"
			n, _ := strconv.ParseInt(fs[0], 10, 64)
			*dst = n << 10
		}
	}
	return m, nil
}

// ResetPeakRSS sets VmHWM back to the current RSS (Linux 4.0+), so a later
// reading shows the peak of what happened in between.
func ResetPeakRSS(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// MachineBusy is the CPU time all CPUs spent on anything but idling (user,
// nice, system, irq, softirq, steal) since boot, from /proc/stat.
func MachineBusy() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	if len(f) < 9 || f[0] != "cpu" {
		return 0, fmt.Errorf("/proc/stat: unexpected format")
	}
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		n, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * clockTick, nil
}
