package announce

import (
	"strings"

	"github.com/madbase/madbase/bus"
	"github.com/prometheus/client_golang/prometheus"
)

// APIGroups are the APIs whose counters a heartbeat carries.
var APIGroups = []string{"auth", "rest", "storage", "realtime", "functions"}

// APIsFrom reads a heartbeat's per-API counters (bus.Heartbeat.APIs) from
// the histogram family (madbase_worker_http_request_duration_seconds, with
// labels group and status) that g gathers: the worker's own metrics, so the
// beat and /metrics always agree. A gather that fails gives nil (the beat
// then carries none, and control skips the worker for that interval).
func APIsFrom(g prometheus.Gatherer, family string) func() map[string]bus.APIStats {
	return func() map[string]bus.APIStats {
		mfs, err := g.Gather()
		if err != nil {
			return nil
		}
		out := make(map[string]bus.APIStats, len(APIGroups))
		for _, grp := range APIGroups {
			out[grp] = bus.APIStats{Buckets: make([]int64, len(bus.APILatencyBounds))}
		}
		for _, mf := range mfs {
			if mf.GetName() != family {
				continue
			}
			for _, m := range mf.GetMetric() {
				var grp, status string
				for _, l := range m.GetLabel() {
					switch l.GetName() {
					case "group":
						grp = l.GetValue()
					case "status":
						status = l.GetValue()
					}
				}
				st, ok := out[grp]
				h := m.GetHistogram()
				if !ok || h == nil {
					continue
				}
				n := int64(h.GetSampleCount())
				st.Requests += n
				if strings.HasPrefix(status, "5") {
					st.Errors += n
				}
				st.LatencySum += h.GetSampleSum()
				for _, b := range h.GetBucket() {
					for i, bound := range bus.APILatencyBounds {
						if b.GetUpperBound() == bound {
							st.Buckets[i] += int64(b.GetCumulativeCount())
						}
					}
				}
				out[grp] = st
			}
		}
		return out
	}
}
