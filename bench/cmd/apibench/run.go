package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/madbase/madbase/bench/internal/stats"
)

// Goals from issues 5, 6, 7 and 23.
const (
	goalRESTVsCeiling = 0.75
	// goalRESTByKeyVsCeiling and goalRESTByKeyWorkerCPU are issue 23's, for
	// one row by key: one round trip should beat the ceiling's four.
	goalRESTByKeyVsCeiling = 0.95
	goalRESTByKeyWorkerCPU = 60.0 // µs per read
	goalSignInVsBcrypt     = 0.9
	goalUserBurstVsAlone   = 0.5
	goalUserReqPerSec      = 5000
	// goalUserVsSelect is issue 23's: GET /auth/v1/user through the edge
	// against a prepared primary-key select of the same users by pgbench.
	goalUserVsSelect     = 0.45
	goalRefreshReqPerSec = 1000
	goalStorageVsCeiling = 0.8
	goalStorageRSSMiB    = 64
)

func run(ctx context.Context, o options) error {
	load0, _ := os.ReadFile("/proc/loadavg")
	s, err := startStack(ctx, o)
	defer s.Close()
	if err != nil {
		return err
	}
	w := os.Stdout
	fmt.Fprintf(w, "\napibench  %s  %s, %d CPUs, %d clients, %s per load, load avg at start %s\n",
		time.Now().UTC().Format(time.RFC3339), runtime.Version(), runtime.NumCPU(), o.conns, o.duration, strings.Join(strings.Fields(string(load0))[:3], " "))
	var goals [][3]string
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT MET"
	}
	check := func() error {
		for _, c := range []struct {
			name string
			done bool
			err  error
		}{{"worker", s.worker.Exited(), s.worker.Err()}, {"edge", s.edge.Exited(), s.edge.Err()}} {
			if c.done {
				return fmt.Errorf("the %s process died during the run: %v", c.name, c.err)
			}
		}
		return ctx.Err()
	}

	if o.want("rest") {
		logf("REST")
		rows, err := benchREST(ctx, s, o)
		if err != nil {
			return fmt.Errorf("rest: %w", err)
		}
		if s.schemaWait {
			fmt.Fprintln(w, "\nnote: right after start REST answered 503 PGRST002 (schema cache not loaded) while the edge already counted the worker healthy")
		}
		fmt.Fprintf(w, "\nREST (issue 6): GET /rest/v1/bench_items, anon key, %s as the client; ceiling = same SQL in PostgREST's transaction via pgbench -M prepared; median of %d alternating round(s)\n", s.restClient, o.rounds)
		tw := table(w)
		for _, r := range rows {
			printResult(tw, r.edge)
			printResult(tw, r.direct)
			printResult(tw, r.ceiling)
		}
		_ = tw.Flush()
		for _, r := range rows {
			// Each round's edge load and pgbench run back to back, so their
			// ratio is the least touched by the machine's changing speed;
			// the goal reads the median of those ratios.
			ratio := stats.Median(r.ratios)
			rounds := make([]string, len(r.ratios))
			for i, x := range r.ratios {
				rounds[i] = fmt.Sprintf("%.2f", x)
			}
			fmt.Fprintf(w, "  %s: edge/ceiling req/s %.2f (median of the rounds: %s; of the medians %.2f), worker-direct/ceiling %.2f, p99 edge %s vs ceiling %s\n", strings.Fields(r.edge.Name)[0],
				ratio, strings.Join(rounds, " "), r.edge.ReqPerSec/r.ceiling.ReqPerSec, r.direct.ReqPerSec/r.ceiling.ReqPerSec, fmtDur(r.edge.P99), fmtDur(r.ceiling.P99))
			name, goal := strings.Fields(r.edge.Name)[0], goalRESTVsCeiling
			if name == "row_by_key" {
				goal = goalRESTByKeyVsCeiling
			}
			goals = append(goals, [3]string{fmt.Sprintf("REST %s edge ≥ %.2f× ceiling (%s)", name, goal, s.restClient),
				stats.Ratio(ratio, goal), verdict(ratio >= goal && r.edge.Errors == 0)})
			if name == "row_by_key" {
				goals = append(goals, [3]string{fmt.Sprintf("REST %s worker CPU ≤ %.0f µs per read", name, goalRESTByKeyWorkerCPU),
					fmt.Sprintf("%.1f µs", r.edge.WorkerCPU), verdict(r.edge.WorkerCPU <= goalRESTByKeyWorkerCPU)})
			}
		}
		if err := check(); err != nil {
			return err
		}
	}

	var authAll authOut
	if o.want("auth") || o.want("user") {
		logf("auth")
		a, err := benchAuth(ctx, s, o)
		if err != nil {
			return fmt.Errorf("auth: %w", err)
		}
		authAll = a
		if o.want("auth") {
			fmt.Fprintln(w, "\nauth (issue 5): through the edge; bound = bcrypt.CompareHashAndPassword cost 10 on all cores in the bench process")
		} else {
			fmt.Fprintln(w, "\nGET /auth/v1/user through the edge")
		}
		fmt.Fprintf(w, "GET /auth/v1/user's ceiling (issue 23): pgbench -M prepared, %d clients, one script per bench user (%d of them), one picked at random per transaction, each the prepared statement\n  SELECT <the 23 columns GET /user shows> FROM auth.users WHERE id = '<the user's id>'\nalternating with GET /user round by round (%d round(s)); the ratio is the median of the rounds'\n",
			o.conns, min(o.conns, 128), len(a.userRatios))
		tw := table(w)
		for _, r := range []result{a.user, a.userWrk, a.userCeiling, a.refresh, a.signin, a.bound, a.user4, a.userBurst} {
			if r.Name != "" {
				printResult(tw, r)
			}
		}
		_ = tw.Flush()
		userRatio := stats.Median(a.userRatios)
		rounds := make([]string, len(a.userRatios))
		for i, x := range a.userRatios {
			rounds[i] = fmt.Sprintf("%.2f", x)
		}
		fmt.Fprintf(w, "  GET /user/ceiling req/s %.2f (median of the rounds: %s)\n", userRatio, strings.Join(rounds, " "))
		// The goals are read from wrk's loads when there is wrk, so that the
		// load generator takes less of the machine.
		user, client := a.user, "this process's client"
		if a.userWrk.Name != "" {
			user, client = a.userWrk, "wrk"
		}
		goals = append(goals,
			[3]string{fmt.Sprintf("GET /auth/v1/user ≥ %.2f× primary-key select by pgbench (%s)", goalUserVsSelect, client), stats.Ratio(userRatio, goalUserVsSelect), verdict(userRatio >= goalUserVsSelect && user.Errors == 0)},
			[3]string{fmt.Sprintf("GET /auth/v1/user ≥ %d req/s (%s)", goalUserReqPerSec, client), fmt.Sprintf("%.0f req/s", user.ReqPerSec), verdict(user.ReqPerSec >= goalUserReqPerSec && user.Errors == 0)})
		if err := check(); err != nil {
			return err
		}
	}
	if o.want("auth") {
		a := authAll
		ratio := a.signin.ReqPerSec / a.bound.ReqPerSec
		burst := a.userBurst.ReqPerSec / a.user4.ReqPerSec
		fmt.Fprintf(w, "  sign-in/bcrypt bound %.2f; GET /user with 4 clients: %.0f req/s alone, %.0f during the sign-in burst (%.2f×), p99 %s alone, %s during the burst (errors %d)\n",
			ratio, a.user4.ReqPerSec, a.userBurst.ReqPerSec, burst, fmtDur(a.user4.P99), fmtDur(a.userBurst.P99), a.userBurst.Errors)
		goals = append(goals,
			[3]string{fmt.Sprintf("token refresh ≥ %d req/s", goalRefreshReqPerSec), fmt.Sprintf("%.0f req/s", a.refresh.ReqPerSec), verdict(a.refresh.ReqPerSec >= goalRefreshReqPerSec && a.refresh.Errors == 0)},
			[3]string{fmt.Sprintf("sign-in ≥ %.1f× bcrypt bound", goalSignInVsBcrypt), stats.Ratio(ratio, goalSignInVsBcrypt), verdict(ratio >= goalSignInVsBcrypt && a.signin.Errors == 0)},
			[3]string{fmt.Sprintf("GET /user during a sign-in burst ≥ %.1f× alone", goalUserBurstVsAlone), stats.Ratio(burst, goalUserBurstVsAlone), verdict(burst >= goalUserBurstVsAlone && a.userBurst.Errors == 0)})
		if err := check(); err != nil {
			return err
		}
	}

	if o.want("storage") {
		logf("storage (%d MiB)", o.fileSize/mib)
		ts, err := benchStorage(ctx, s, o)
		if err != nil {
			return fmt.Errorf("storage: %w", err)
		}
		fmt.Fprintf(w, "\nstorage (issue 7): one %d MiB object, service-role key; medians of %d round(s), each ratio the median of the rounds' ratios to their own ceiling; peaks are VmHWM, the largest of the rounds\n", o.fileSize/mib, o.transfers)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "transfer\tMB/s\tvs ceiling\tedge peak MiB\tworker peak MiB\terror\t")
		for _, t := range ts {
			if t.mbps == 0 && t.err == "" {
				fmt.Fprintf(tw, "%s\t-\t-\t%s\t%s\t\t\n", t.name, mibOrDash(t.edgeHWM), mibOrDash(t.workHWM))
				continue
			}
			fmt.Fprintf(tw, "%s\t%.0f\t%.2f\t%s\t%s\t%s\t\n", t.name, t.mbps, t.ratio, mibOrDash(t.edgeHWM), mibOrDash(t.workHWM), t.err)
			if strings.HasSuffix(t.name, "via edge") {
				r := t.ratio
				goals = append(goals,
					[3]string{fmt.Sprintf("%s ≥ %.1f× local copy", t.name, goalStorageVsCeiling), stats.Ratio(r, goalStorageVsCeiling), verdict(r >= goalStorageVsCeiling && t.err == "")},
					[3]string{fmt.Sprintf("%s: edge and worker peak RSS < %d MiB", t.name, goalStorageRSSMiB), fmt.Sprintf("%.1f / %.1f MiB", t.edgeHWM, t.workHWM),
						verdict(t.edgeHWM < goalStorageRSSMiB && t.workHWM < goalStorageRSSMiB)})
			}
		}
		_ = tw.Flush()
		if o.fileSize != 1024*mib {
			fmt.Fprintf(w, "  (goals are stated for 1 GiB; this run used %d MiB)\n", o.fileSize/mib)
		}
		if err := check(); err != nil {
			return err
		}
	}

	load1, _ := os.ReadFile("/proc/loadavg")
	fmt.Fprintf(w, "\ngoals (load avg at end %s; the machine is shared, figures are noisy)\n", strings.Join(strings.Fields(string(load1))[:3], " "))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, g := range goals {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", g[0], g[1], g[2])
	}
	return tw.Flush()
}

func table(w io.Writer) *tabwriter.Writer {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "load\treq/s\tp50\tp99\tedge CPU µs/req\tworker CPU µs/req\tclient CPU µs/req\tpostgres CPU µs/req\terrors\t")
	return tw
}

func printResult(tw io.Writer, r result) {
	cpu := func(v float64) string {
		if v < 0 {
			return "-"
		}
		return fmt.Sprintf("%.1f", v)
	}
	fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t\n", r.Name, r.ReqPerSec, fmtDur(r.P50), fmtDur(r.P99), cpu(r.EdgeCPU), cpu(r.WorkerCPU), cpu(r.ClientCPU), cpu(r.PGCPU), r.Errors)
	if r.FirstError != "" {
		fmt.Fprintf(tw, "  first error: %s\t\t\t\t\t\t\t\t\t\n", r.FirstError)
	}
}

func fmtDur(d time.Duration) string {
	if d >= time.Millisecond {
		return fmt.Sprintf("%.2fms", float64(d)/1e6)
	}
	return fmt.Sprintf("%dµs", d.Microseconds())
}

func mibOrDash(v float64) string {
	if v < 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", v)
}
