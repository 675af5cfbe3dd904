// Package wrk runs the wrk load generator and reads its report.
package wrk

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Result is what the benchmarks read from wrk's report.
type Result struct {
	Requests     int64         // completed requests
	ReqPerSec    float64       // Requests/sec
	P50, P99     time.Duration // from --latency
	Non2xx       int64         // "Non-2xx or 3xx responses"
	SocketErrors int64         // connect + read + write + timeout
	CPU          time.Duration // wrk's own user+system time
}

var (
	reRequests = regexp.MustCompile(`^\s*(\d+) requests in `)
	reRPS      = regexp.MustCompile(`^Requests/sec:\s*([\d.]+)`)
	rePct      = regexp.MustCompile(`^\s*(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$`)
	reNon2xx   = regexp.MustCompile(`^\s*Non-2xx or 3xx responses:\s*(\d+)`)
	reSockErr  = regexp.MustCompile(`^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

// Run runs `wrk -t1 -c<conns> -d<dur> --latency [extra...] url` and returns
// its report read and raw.
func Run(ctx context.Context, bin, url string, conns int, dur time.Duration, extra ...string) (Result, string, error) {
	secs := max(1, int(dur.Round(time.Second)/time.Second))
	args := append([]string{"-t1", fmt.Sprintf("-c%d", conns), fmt.Sprintf("-d%ds", secs), "--latency"}, extra...)
	cmd := exec.CommandContext(ctx, bin, append(args, url)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 2 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return Result{}, string(out), fmt.Errorf("wrk %s: %w: %s", url, err, strings.TrimSpace(string(out)))
	}
	r, err := parseWrk(string(out))
	r.CPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	if err != nil {
		return r, string(out), fmt.Errorf("wrk %s: %w:\n%s", url, err, out)
	}
	return r, string(out), nil
}

func parseWrk(out string) (Result, error) {
	var r Result
	var haveReq, haveRPS, have50, have99 bool
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if m := reRequests.FindStringSubmatch(line); m != nil {
			r.Requests, _ = strconv.ParseInt(m[1], 10, 64)
			haveReq = true
		} else if m := reRPS.FindStringSubmatch(line); m != nil {
			r.ReqPerSec, _ = strconv.ParseFloat(m[1], 64)
			haveRPS = true
		} else if m := rePct.FindStringSubmatch(line); m != nil {
			d, err := wrkDuration(m[2], m[3])
			if err != nil {
				return r, err
			}
			if m[1] == "50" {
				r.P50, have50 = d, true
			} else {
				r.P99, have99 = d, true
			}
		} else if m := reNon2xx.FindStringSubmatch(line); m != nil {
			r.Non2xx, _ = strconv.ParseInt(m[1], 10, 64)
		} else if m := reSockErr.FindStringSubmatch(line); m != nil {
			for _, s := range m[1:] {
				n, _ := strconv.ParseInt(s, 10, 64)
				r.SocketErrors += n
			}
		}
	}
	if !haveReq || !haveRPS || !have50 || !have99 {
		return r, fmt.Errorf("could not find requests, Requests/sec and the 50%%/99%% latency in the output")
	}
	return r, nil
}

func wrkDuration(num, unit string) (time.Duration, error) {
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, err
	}
	mult := map[string]float64{"us": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9}[unit]
	return time.Duration(f * mult), nil
}
