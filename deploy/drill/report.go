package drill

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Step is one row of the drill's table: something done to the platform
// under load, the requests sent meanwhile and how long it took to recover.
type Step struct {
	Name      string
	From, To  time.Time // the load window: requests sent in it count for the step (but see Fill)
	At        time.Time // when the change was made
	Recovered time.Duration
	// RecoveredWhen says which event ended the recovery; empty with
	// Recovered 0 means the step has no recovery to wait for.
	RecoveredWhen string
	NotRecovered  bool
	Note          string

	Window Window // filled by Fill
}

// Fill computes the steps' request figures from recs. A request counts for
// the step it was sent in, except a failed one, which is blamed on the last
// change made while it was in flight: a slow request sent just before a
// worker is killed, and failed by it, counts for the kill. Requests to slow
// (a path) are left out of the latencies.
func Fill(steps []*Step, recs []Record, slow string) {
	for _, st := range steps {
		st.Window = Window{}
	}
	for _, r := range recs {
		idx := -1
		for i, st := range steps {
			if !r.Sent.Before(st.From) && r.Sent.Before(st.To) {
				idx = i
			}
		}
		if idx < 0 {
			continue
		}
		if r.Failed() {
			for j := idx + 1; j < len(steps); j++ {
				if !steps[j].At.IsZero() && !steps[j].At.After(r.Done) {
					idx = j
				}
			}
		}
		steps[idx].Window.add(r, slow)
	}
	for _, st := range steps {
		st.Window.finish()
	}
}

// Table prints the steps.
func Table(w io.Writer, title string, steps []*Step) {
	fmt.Fprintf(w, "\n%s\n", title)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "step\trequests\tfailed\tp99\tmax\ttime to recover\trecovered when / notes")
	for _, s := range steps {
		rec := "-"
		switch {
		case s.NotRecovered:
			rec = "not recovered"
		case s.RecoveredWhen != "":
			rec = s.Recovered.Round(time.Millisecond).String()
		}
		notes := s.RecoveredWhen
		if s.Note != "" {
			notes = strings.TrimPrefix(notes+"; "+s.Note, "; ")
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\n", s.Name, s.Window.Requests, s.Window.Failed,
			s.Window.P99.Round(time.Millisecond), s.Window.Max.Round(time.Millisecond), rec, notes)
	}
	_ = tw.Flush()
	fmt.Fprintln(w, "(p99, max: latency of the requests other than the slow one; time to recover: from the change to the event named)")
	for _, s := range steps {
		if len(s.Window.Errors) == 0 {
			continue
		}
		fmt.Fprintf(w, "  failures in %q:\n", s.Name)
		for _, k := range slices.Sorted(maps.Keys(s.Window.Errors)) {
			fmt.Fprintf(w, "    %5d  %s\n", s.Window.Errors[k], k)
		}
	}
}

// Goal is one target of the drill. A goal is asserted (missing it fails
// the test) unless NotAsserted gives the reason it is only printed: goals
// that miss today because of known bugs not yet fixed, each a one-line
// change to assert once its fix lands (MADBASE_DRILL_STRICT=1 asserts every
// goal).
type Goal struct {
	Name        string
	Want        string
	Seen        string
	Holds       bool
	NotAsserted string
}

// Goals prints the goals and returns those that are asserted and missed.
func Goals(w io.Writer, title string, goals []Goal, strict bool) []Goal {
	fmt.Fprintf(w, "\n%s\n", title)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "goal\twant\tseen\tholds\tasserted")
	var missed []Goal
	for _, g := range goals {
		asserted := strict || g.NotAsserted == ""
		a := "yes"
		if !asserted {
			a = "no: " + g.NotAsserted
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", g.Name, g.Want, g.Seen, yesNo(g.Holds), a)
		if asserted && !g.Holds {
			missed = append(missed, g)
		}
	}
	_ = tw.Flush()
	return missed
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "NO"
}
